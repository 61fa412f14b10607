"""Federation peers (跨地区互认): other hubs whose licences this hub verifies.

A peer is added once with its log key, obtained from it out of band (``hub trust add-peer URL|FILE
--name NAME --log-key KEY``): its trust bundle must be signed by that key, and becomes its trust
anchor (one per hub, beside this hub's own in ``HUB_TRUST_DIR``). ``hub trust refresh`` fetches
each peer's newer bundle from its ``GET /v1/trust/bundle?since=N`` and accepts it only when the
same key signed it and its checkpoint extends the last one seen (an RFC 9162 consistency proof
from that size, and the same root where the sizes meet); a bundle showing another history is
refused and kept as evidence. A peer's licence is then verified with the peer's latest bundle
(an offline context: the peer's keys, CA, seals, status lists), and the report names the peer;
a bundle older than the verifier's freshness limit makes the verdict INDETERMINATE.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ledger.merkle import ProofError, verify_consistency
from ledger.note import Checkpoint, NoteError, parse_note
from licence.trust import check_bundle_signature, load_bundle
from licence.trust_anchors import (
    TrustAnchor,
    TrustAnchors,
    TrustBundleError,
    load_anchors,
    save_anchors,
)

PEERS_DIR = "peers"
Fetch = Callable[[str], bytes]  # URL -> response body


class PeerError(ValueError):
    """A peer cannot be added or refreshed; the message says why."""


@dataclass(frozen=True)
class Peer:
    name: str
    origin: str
    url: str | None  # where its bundle is fetched (None: added from a file)
    bundle: dict[str, Any]
    fetched_at: str
    size: int  # the checkpoint size of the bundle held
    root: str  # its root (hex)


def _path(folder: Path, origin: str) -> Path:
    return folder / PEERS_DIR / (hashlib.sha256(origin.encode()).hexdigest()[:32] + ".json")


def _checkpoint(bundle: Mapping[str, Any]) -> Checkpoint:
    try:
        return Checkpoint.from_note_body(parse_note(str(bundle["checkpoint"]).encode())[0])
    except (KeyError, NoteError) as exc:
        raise PeerError(f"the peer's bundle has no readable checkpoint: {exc}") from exc


def _save(folder: Path, peer: Peer) -> None:
    path = _path(folder, peer.origin)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    body = {
        "name": peer.name,
        "origin": peer.origin,
        "url": peer.url,
        "fetched_at": peer.fetched_at,
        "size": peer.size,
        "root": peer.root,
        "bundle": peer.bundle,
    }
    tmp.write_text(json.dumps(body, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)


def peers(folder: Path) -> list[Peer]:
    """Every peer added here, by name."""
    out = []
    for path in sorted((folder / PEERS_DIR).glob("*.json")):
        obj = json.loads(path.read_text(encoding="utf-8"))
        out.append(
            Peer(
                str(obj["name"]),
                str(obj["origin"]),
                obj.get("url"),
                dict(obj["bundle"]),
                str(obj["fetched_at"]),
                int(obj["size"]),
                str(obj["root"]),
            )
        )
    return sorted(out, key=lambda p: p.name)


def peer_of(folder: Path, origin: str) -> Peer | None:
    """The peer whose log is ``origin``, None if it is not a peer."""
    return next((p for p in peers(folder) if p.origin == origin), None)


def add_peer(
    folder: Path,
    source: str,
    name: str,
    log_keys: tuple[str, ...],
    fetch: Fetch | None = None,
    now: dt.datetime | None = None,
) -> Peer:
    """Trust the hub whose bundle is at ``source`` (an http(s) URL or a file) and is signed by
    one of ``log_keys``: its anchor and its bundle are kept in ``folder``."""
    if not log_keys:
        raise PeerError("a peer's log key is needed (obtain it from the peer: `hub ledger key`)")
    url = source if source.startswith(("http://", "https://")) else None
    try:
        data = (fetch or _http_get)(source) if url else Path(source).read_bytes()
        bundle = load_bundle(data)
        pinned = TrustAnchors((TrustAnchor(str(bundle.get("origin", name)), log_keys),))
        check_bundle_signature(bundle, pinned)
    except OSError as exc:
        raise PeerError(f"cannot read the peer's bundle: {exc}") from exc
    except TrustBundleError as exc:
        raise PeerError(f"the peer's bundle is refused: {exc}") from exc
    cp = _checkpoint(bundle)
    own = load_anchors(folder)
    anchor = TrustAnchor(
        cp.origin,
        tuple(log_keys),
        tuple(str(p) for p in bundle.get("ca_certificates", [])),
        str(bundle.get("verification_url")) if bundle.get("verification_url") else None,
    )
    save_anchors(folder, own.with_anchor(anchor))
    peer = Peer(
        name,
        cp.origin,
        url,
        bundle,
        (now or dt.datetime.now(dt.UTC)).isoformat(),
        cp.size,
        cp.root.hex(),
    )
    _save(folder, peer)
    return peer


def refresh(
    folder: Path, fetch: Fetch | None = None, now: dt.datetime | None = None
) -> list[tuple[str, str]]:
    """Fetch every URL peer's newer bundle; (peer name, what happened) for each."""
    anchors = load_anchors(folder)
    out = []
    for peer in peers(folder):
        if peer.url is None:
            out.append((peer.name, "added from a file: add it again with a newer bundle"))
            continue
        sep = "&" if "?" in peer.url else "?"
        try:
            bundle = load_bundle((fetch or _http_get)(f"{peer.url}{sep}since={peer.size}"))
            anchor = check_bundle_signature(bundle, anchors)
        except (OSError, TrustBundleError) as exc:
            out.append((peer.name, f"not refreshed: {exc}"))
            continue
        cp = _checkpoint(bundle)
        if anchor.origin != peer.origin or cp.origin != peer.origin:
            out.append((peer.name, "refused: the bundle is another hub's"))
            continue
        try:
            _extends(peer, cp, bundle)
        except PeerError as exc:
            _keep_evidence(folder, peer, bundle, str(exc))
            out.append((peer.name, f"refused and kept as evidence: {exc}"))
            continue
        when = (now or dt.datetime.now(dt.UTC)).isoformat()
        _save(
            folder,
            Peer(peer.name, peer.origin, peer.url, bundle, when, cp.size, cp.root.hex()),
        )
        out.append((peer.name, f"checkpoint {peer.size} -> {cp.size}"))
    return out


def _extends(peer: Peer, cp: Checkpoint, bundle: Mapping[str, Any]) -> None:
    """The new checkpoint extends the one held: PeerError otherwise."""
    old_root = bytes.fromhex(peer.root)
    if cp.size < peer.size:
        raise PeerError(f"its checkpoint shrank from size {peer.size} to {cp.size}")
    if cp.size == peer.size:
        if cp.root != old_root:
            raise PeerError(f"another root for size {cp.size}: the peer's log forked")
        return
    proof = bundle.get("consistency")
    if not isinstance(proof, dict) or proof.get("from") != peer.size:
        raise PeerError(f"the bundle carries no consistency proof from size {peer.size}")
    try:
        path = [bytes.fromhex(str(h)) for h in proof.get("path", [])]
        verify_consistency(peer.size, cp.size, old_root, cp.root, path)
    except (ValueError, ProofError) as exc:
        raise PeerError(f"its new checkpoint does not extend the last one seen: {exc}") from exc


def _keep_evidence(folder: Path, peer: Peer, bundle: Mapping[str, Any], why: str) -> None:
    path = folder / PEERS_DIR / "evidence" / f"{_path(folder, peer.origin).stem}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    row = {"peer": peer.name, "why": why, "held": peer.bundle, "refused": dict(bundle)}
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def _http_get(url: str) -> bytes:
    import httpx

    answer = httpx.get(url, timeout=30)
    if answer.status_code != 200:
        raise OSError(f"{url} answered {answer.status_code}")
    return answer.content


def input_origin(data: bytes) -> str | None:
    """The log origin of the receipt a licence file carries (JSON or SD-JWT VC), None when it
    carries none or cannot be read (the verifier then reports on it as usual)."""
    from licence.sdjwt_vc import SdJwtError, looks_like, read_credential
    from licence.verify.inputs import read_licence_json

    raw: Any = None
    try:
        text = data.strip().decode("utf-8")
        raw = read_credential(text).receipt if looks_like(text) else read_licence_json(data)[1]
    except (ValueError, SdJwtError):
        return None
    if not isinstance(raw, dict) or not isinstance(raw.get("checkpoint"), str):
        return None
    try:
        return _checkpoint({"checkpoint": raw["checkpoint"]}).origin
    except PeerError:
        return None


def peer_context(
    folder: Path,
    data: bytes,
    max_age: dt.timedelta,
    now: dt.datetime | None = None,
) -> tuple[Peer, Any] | None:
    """(peer, offline context over its latest bundle) when ``data`` is a peer's licence."""
    from licence.trust import offline_context

    origin = input_origin(data)
    peer = None if origin is None else peer_of(folder, origin)
    if peer is None:
        return None
    ctx = offline_context(peer.bundle, load_anchors(folder), max_age=max_age, now=now)
    return peer, ctx


def named(report: Any, peer: Peer) -> Any:
    """``report`` with a first check ``issuing_hub`` naming the peer whose bundle decided it
    (and the peer in its summary)."""
    from licence.verify import PASSED, CheckResult, Report
    from licence.verify.results import verdict_of

    line = CheckResult(
        "issuing_hub",
        PASSED,
        "PEER_HUB",
        f"issued under the federation peer {peer.name} ({peer.origin}); checked with its trust "
        f"bundle fetched {peer.fetched_at[:16]}Z",
        f"跨地区互认：由联盟节点“{peer.name}”签发，依其信任包核验",
    )
    checks = [line, *report.checks]
    return Report(
        verdict_of(checks),
        checks,
        report.kind,
        report.licence_id,
        {**report.summary, "issuing_hub": peer.name, "issuing_origin": peer.origin},
        report.as_of,
        report.age,
    )
