"""What a verifier trusts offline: the hubs whose log keys and CA it installed, and refusals.

The anchors are installed once with ``hub trust install`` into the verifier's configuration
(``anchors.json``): its own hub and federation peers, one anchor each. A trust bundle or an
anchors file that cannot be trusted is refused with a :class:`TrustBundleError` whose reason
code a report shows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from ledger import strict_json
from ledger.note import Verifier
from licence.verify import (
    FAILED,
    INDETERMINATE,
    TOTAL_FAILED,
    CheckResult,
    Report,
    load_certificate,
)


class TrustBundleError(ValueError):
    """A trust bundle is refused: ``reason`` says why (BUNDLE_MALFORMED, BUNDLE_UNSIGNED,
    BUNDLE_UNTRUSTED, BUNDLE_ALTERED, NO_TRUST_ANCHOR)."""

    ZH: ClassVar[dict[str, str]] = {
        "BUNDLE_MALFORMED": "信任包格式错误或不完整",
        "BUNDLE_UNSIGNED": "信任包未签名",
        "BUNDLE_UNTRUSTED": "信任包非本机信任的平台签署（可能被伪造或替换）",
        "BUNDLE_ALTERED": "信任包签名后被修改",
        "NO_TRUST_ANCHOR": "本机未安装信任锚（先运行 hub trust install）",
        "ANCHORS_MALFORMED": "本机信任锚配置文件损坏",
    }

    def __init__(self, message: str, reason: str = "BUNDLE_MALFORMED") -> None:
        super().__init__(message)
        self.reason = reason

    def report(self) -> Report:
        """The refusal as a verification report: check ``trust_bundle`` FAILED with the reason
        (INDETERMINATE when this verifier simply has no anchor yet)."""
        status = INDETERMINATE if self.reason == "NO_TRUST_ANCHOR" else FAILED
        line = CheckResult(
            "trust_bundle",
            status,
            self.reason,
            f"trust bundle refused: {self}",
            self.ZH.get(self.reason, "信任包不可用"),
        )
        return Report(TOTAL_FAILED if status == FAILED else INDETERMINATE, [line], "unknown")


ANCHORS_FILE = "anchors.json"
ANCHORS_FORMAT = "egov-hub/trust-anchors/v1"


@dataclass(frozen=True)
class TrustAnchor:
    """One hub this verifier trusts: its log's origin, log keys, platform CA certificates (PEM)
    and the address its QR codes point at."""

    origin: str
    log_keys: tuple[str, ...]
    ca_certificates: tuple[str, ...] = ()
    verification_url: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "origin": self.origin,
            "log_keys": list(self.log_keys),
            "ca_certificates": list(self.ca_certificates),
            "verification_url": self.verification_url,
        }


@dataclass(frozen=True)
class TrustAnchors:
    """What a verifier trusts offline: its own hub and federation peers, one anchor each."""

    anchors: tuple[TrustAnchor, ...] = ()
    source: str = field(default="", compare=False)

    def with_anchor(self, anchor: TrustAnchor) -> TrustAnchors:
        """These anchors with ``anchor`` added (replacing one of the same origin)."""
        kept = tuple(a for a in self.anchors if a.origin != anchor.origin)
        return TrustAnchors((*kept, anchor), self.source)

    def hosts(self) -> tuple[str, ...]:
        from licence.verify import qr_host

        found = (qr_host(a.verification_url) for a in self.anchors if a.verification_url)
        return tuple(h for h in found if h)

    def to_json(self) -> str:
        body = {"format": ANCHORS_FORMAT, "anchors": [a.to_dict() for a in self.anchors]}
        return json.dumps(body, ensure_ascii=False, indent=1) + "\n"


def load_anchors(folder: Path) -> TrustAnchors:
    """The anchors installed in ``folder`` (``hub trust install``); none if it has none."""
    path = folder / ANCHORS_FILE
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return TrustAnchors(source=str(path))
    except OSError as exc:
        raise TrustBundleError(f"cannot read {path}: {exc}", "ANCHORS_MALFORMED") from exc
    try:
        obj = strict_json.loads(data)
        if not isinstance(obj, dict) or obj.get("format") != ANCHORS_FORMAT:
            raise ValueError(f"not a trust anchors file (expected format {ANCHORS_FORMAT})")
        anchors = []
        for a in obj["anchors"]:
            keys = tuple(str(k) for k in a["log_keys"])
            for k in keys:
                Verifier.from_vkey(k)
            pems = tuple(str(p) for p in a.get("ca_certificates") or ())
            for p in pems:
                load_certificate(p)
            url = a.get("verification_url")
            anchors.append(
                TrustAnchor(str(a["origin"]), keys, pems, None if url is None else str(url))
            )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise TrustBundleError(f"{path} is damaged: {exc}", "ANCHORS_MALFORMED") from exc
    return TrustAnchors(tuple(anchors), str(path))


def save_anchors(folder: Path, anchors: TrustAnchors) -> Path:
    """Write ``anchors`` to ``folder`` (created if needed); the file path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / ANCHORS_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(anchors.to_json(), encoding="utf-8")
    tmp.replace(path)
    return path


def own_anchor(svc: Any) -> TrustAnchor:
    """This hub's anchor, from its own stores (what `hub trust install` writes by default)."""
    from licence.ca import pem

    pca = svc.platform_ca()
    ledger = svc.ledger
    return TrustAnchor(
        origin=str(ledger.origin),
        log_keys=(ledger.verifier_key(),),
        ca_certificates=(pem(pca.root), pem(pca.seal_ca)),
        verification_url=svc.verification_url,
    )
