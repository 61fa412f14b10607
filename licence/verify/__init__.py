"""Verifying a sealed licence: independent checks composed by a policy, one explained report.

Each check is a small function returning PASSED / FAILED / INDETERMINATE with a reason code and a
plain explanation in Chinese and English (the ETSI / EU DSS vocabulary: the overall verdict is
TOTAL_PASSED, TOTAL_FAILED or INDETERMINATE). A policy names the checks that must hold; an empty
policy is refused, so nothing passes by default. "Cannot check now" (no status service, stale or
missing trust material, anchor backend unreachable) is INDETERMINATE, never FAILED.

Everything here is pure: what a check may consult (trusted CA certificates and log keys, status,
seal and receipt lookups) comes in a :class:`VerifyContext` built by ``licence.trust`` either
online (from the running stores) or offline (from a trust bundle). ``verify_input`` is the entry
point for raw bytes: it recognises a sealed JSON licence, a disclosed (redacted) licence, a
licence with its receipt, a signed PDF and a QR payload, and returns one :class:`Report`.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.x509.oid import NameOID

from ledger import strict_json
from ledger.anchor import AnchorReference
from ledger.merkle import ProofError, leaf_hash, verify_inclusion
from ledger.note import Checkpoint, NoteError, Verifier, open_checkpoint, parse_note
from ledger.receipt import Receipt, ReceiptError
from licence import document, status_list
from licence.signers import ECDSA_P256, SM2_SM3, SignatureError, certificate_key
from licence.signers import verify as verify_signature
from schemas import licence_id

PASSED, FAILED, INDETERMINATE = "PASSED", "FAILED", "INDETERMINATE"
# the same ECDSA-with-SHA-256 check over a digest hashlib computed (a little less per call)
_ECDSA_PREHASHED_SHA256 = ec.ECDSA(Prehashed(hashes.SHA256()))
TOTAL_PASSED, TOTAL_FAILED = "TOTAL_PASSED", "TOTAL_FAILED"
STATUS_ZH = {
    "revoked": "已吊销",
    "suspended": "已暂扣",
    "expired": "已失效",
    "superseded": "已变更",
}
VALIDITY_END = "证照有效期截止日期"
VALIDITY_START = "证照有效期起始日期"
# how old a trust bundle may be before offline verdicts turn INDETERMINATE (a service window
# is online most of the time: a revocation must not stay unseen for days); per verifier
DEFAULT_MAX_AGE_HOURS = 12.0


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check, explained."""

    check: str
    status: str
    reason: str
    en: str
    zh: str

    def to_dict(self) -> dict[str, str]:
        return {
            "check": self.check,
            "status": self.status,
            "reason": self.reason,
            "en": self.en,
            "zh": self.zh,
        }


@dataclass(frozen=True)
class SealState:
    """What the platform knows about a seal: validity, certificates, status history.

    ``events`` are (status, since) pairs in time order (``active`` at creation, then
    ``suspended`` / ``active`` / ``revoked``), so the status at any signing time can be told.
    """

    seal_id: str
    authority: str
    status: str
    valid_from: dt.datetime
    valid_to: dt.datetime
    cert_sha256: tuple[str, ...] = ()
    events: tuple[tuple[str, dt.datetime], ...] = ()

    def status_at(self, when: dt.datetime) -> tuple[str, dt.datetime | None]:
        """The seal's status at ``when`` and since when (None if the history is unknown)."""
        state: tuple[str, dt.datetime | None] = ("active", None)
        if not self.events:
            return (self.status, None)
        for status, since in self.events:
            if since <= when:
                state = (status, since)
        return state


@dataclass
class _Caches:
    """Memoised pure results (a certificate's chain, a checkpoint's signature) per context."""

    certs: dict[str, tuple[x509.Certificate, bytes]] = field(default_factory=dict)
    keys: dict[str, ec.EllipticCurvePublicKey] = field(default_factory=dict)
    notes: dict[bytes, Checkpoint] = field(default_factory=dict)
    chains: dict[tuple[str, str], CheckResult] = field(default_factory=dict)
    checkpoints: dict[bytes, Checkpoint | NoteError] = field(default_factory=dict)
    verifiers: list[Verifier] | None = None


@dataclass(frozen=True)
class VerifyContext:
    """What the checks may consult. Unset lookups make their checks INDETERMINATE.

    - ``log_keys``: trusted C2SP verifier keys of the ledger.
    - ``status_of(licence_id)``: the licence's index row (``status``, ``reason_code``,
      ``reason_text``, ``updated_at``) or None if the platform does not know it.
    - ``trust_roots``: platform CA certificates (root and seal CA) seal certificates chain to.
    - ``seal_of(seal_id)``: the seal's :class:`SealState`, or None if unknown;
      ``seal_for_cert(sha256 of DER)`` the same by certificate (PDF signatures).
    - ``receipt_of(licence_id)``: the ledger receipt when the input carries none.
    - ``document_of(licence_id)``: the sealed licence (QR payload lookup), None if unknown.
    - ``root_at(size)``: the log's root hash at ``size`` (fork check), None if unknown.
    - ``verify_anchor(reference, note)``: raises ``AnchorError``/``LookupError`` on mismatch,
      ``ConnectionError`` if the backend cannot be reached.
    - ``status_list_of(authority)``: the receipt of the authority's latest status list entry
      (committed with every checkpoint), None if none; the ``status_list`` check proves the
      licence's status as of that checkpoint from it, the licence's receipt and the log keys.
    - ``status_size``: the tree size the status answers are as of (offline snapshot); entries
      logged at or after it are too new for the snapshot.
    - ``verification_url``: what the QR codes on PDFs point at (to re-draw and compare them);
      a QR payload naming another host than its, or than one of ``trusted_hosts`` (federation
      peers), fails ``qr_host``.
    - ``as_of`` / ``max_age``: when the (offline) trust material was exported, and how old it
      may be before the freshness check turns INDETERMINATE.
    """

    log_keys: Sequence[str]
    status_of: Callable[[str], Mapping[str, Any] | None] | None = None
    today: dt.date = field(default_factory=dt.date.today)
    trust_roots: Sequence[x509.Certificate] = ()
    seal_of: Callable[[str], SealState | None] | None = None
    seal_for_cert: Callable[[str], SealState | None] | None = None
    receipt_of: Callable[[str], Receipt | None] | None = None
    document_of: Callable[[str], dict[str, Any] | None] | None = None
    root_at: Callable[[int], bytes | None] | None = None
    verify_anchor: Callable[[AnchorReference, bytes], None] | None = None
    status_size: int | None = None
    status_list_of: Callable[[str], Receipt | None] | None = None
    as_of: dt.datetime | None = None
    max_age: dt.timedelta = dt.timedelta(hours=DEFAULT_MAX_AGE_HOURS)
    offline: bool = False
    now: dt.datetime | None = None
    verification_url: str = "https://hub.example.gov.cn/verify"
    trusted_hosts: Sequence[str] = ()
    show_recorded: bool = False  # name registered values of altered fields (entitled staff)
    caches: _Caches = field(default_factory=_Caches, compare=False, repr=False)

    def current_time(self) -> dt.datetime:
        return self.now or dt.datetime.now(dt.UTC)

    def verifiers(self) -> list[Verifier]:
        if self.caches.verifiers is None:
            self.caches.verifiers = [Verifier.from_vkey(k) for k in self.log_keys]
        return self.caches.verifiers


Check = Callable[[dict[str, Any], Receipt | None, VerifyContext], CheckResult]


class MalformedLicenceError(ValueError):
    """The input is not a licence this verifier understands (truncated, wrong shape)."""


def _r(check: str, status: str, reason: str, en: str, zh: str) -> CheckResult:
    return CheckResult(check, status, reason, en, zh)


def _loads(data: bytes | str) -> Any:
    """The one strict I-JSON reader (``ledger.strict_json``): duplicate keys, NaN, Infinity
    and out-of-range numbers are refused with a readable StrictJSONError; a leading UTF-8
    byte-order mark is skipped."""
    return strict_json.loads(data)


def field_title(doc: Mapping[str, Any], name: str) -> str:
    """A field's Chinese title from the licence type's catalogue (``法定代表人`` for
    ``legal_representative``); the GB/T 36903 metadata names are already Chinese."""
    from schemas import licence_types

    try:
        parts = str(doc["header"]["licence_id"]).split(".")
        return licence_types.get(parts[5]).field(name).name if len(parts) == 10 else name
    except (KeyError, TypeError, licence_types.LicenceTypeError):
        return name


def _recorded_value(doc: Mapping[str, Any], name: str, ctx: VerifyContext) -> str | None:
    """The value the platform registered for an altered field, for a caller entitled to see
    it (``ctx.show_recorded``: staff on the command line, never the public page or API), and
    only when the stored licence is the one presented (same identifier and digest)."""
    if not ctx.show_recorded or ctx.document_of is None:
        return None
    header = doc["header"]
    stored = ctx.document_of(str(header["licence_id"]))
    if (
        not isinstance(stored, dict)
        or stored.get("header", {}).get("document_digest") != (header["document_digest"])
    ):
        return None
    entry = stored.get("fields", {}).get(name)
    if not isinstance(entry, dict) or "value" not in entry:
        return None
    return _shown(entry["value"])


def _shown(value: Any, limit: int = 60) -> str:
    """A presented value, quoted and cut short for a report line."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[:limit] + "…"


def _parse_time(text: str) -> dt.datetime:
    """An ISO time as an aware UTC datetime (``Z`` suffix accepted)."""
    t = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


def _utc(t: dt.datetime) -> dt.datetime:
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


def _value(doc: Mapping[str, Any], name: str) -> Any:
    entry = doc["fields"].get(name)
    return None if entry is None else entry.get("value")


# ---- the checks ----------------------------------------------------------------------------


def check_identifier(doc: dict[str, Any], _r_: Receipt | None, _c: VerifyContext) -> CheckResult:
    """The licence identifier is well formed and its check character is right (GB/T 36904)."""
    lid = str(doc["header"]["licence_id"])
    result = licence_id.validate(lid)
    if result.valid:
        return _r("identifier", PASSED, "OK", "identifier is well formed", "证照标识校验通过")
    message = str((result.details or {}).get("message", result.explanation))
    return _r(
        "identifier",
        FAILED,
        f"ID_{result.reason}",
        f"licence identifier is wrong ({result.reason}): {message}",
        "证照标识校验失败（校验位或格式错误）",
    )


def check_integrity(doc: dict[str, Any], _r_: Receipt | None, ctx: VerifyContext) -> CheckResult:
    """Every disclosed field matches its salted digest and the digests add up to the root."""
    header = doc["header"]
    alg = str(header["digest_alg"])
    if alg not in document.HASHES:
        return _r(
            "integrity",
            FAILED,
            "UNKNOWN_DIGEST_ALG",
            f"unknown digest algorithm {alg!r}",
            "未知的摘要算法",
        )
    fields = doc["fields"]
    hidden = _sha256_fields_hold(fields, header["document_digest"]) if alg == "sha256" else None
    if hidden is None:
        # the general path: SM3 licences, and finding and explaining what is wrong
        for name, entry in fields.items():
            if "value" in entry:
                again = _field_digest(name, entry["value"], entry["salt"], alg)
                if again != entry["digest"]:
                    title = field_title(doc, name)
                    label = name if title == name else f"{title} ({name})"
                    shown = _shown(entry["value"])
                    en = (
                        f"field {label} was altered: the value presented, “{shown}”, is not "
                        "the one that was sealed"
                    )
                    zh = f"证照字段“{title}”被篡改（所示内容“{shown}”与签章时不符"
                    recorded = _recorded_value(doc, name, ctx)
                    if recorded is not None:
                        en += f"; the registered value is “{recorded}”"
                        zh += f"，登记内容为“{recorded}”"
                    return _r("integrity", FAILED, "FIELD_ALTERED", en, zh + "）")
        if _document_digest(fields, alg) != header["document_digest"]:
            return _r(
                "integrity",
                FAILED,
                "DIGEST_MISMATCH",
                "field digests do not add up to the signed document digest "
                "(a field, hidden or shown, was changed, added or removed)",
                "字段摘要与签章的文档摘要不符（字段被增删或隐藏字段摘要被改）",
            )
    shown = _value(doc, "证照标识")
    if shown is not None and shown != header["licence_id"]:
        return _r(
            "integrity",
            FAILED,
            "ID_MISMATCH",
            "the identifier in the fields differs from the signed header",
            "字段中的证照标识与签章头不一致",
        )
    if hidden is None:
        hidden = sum(1 for e in fields.values() if "value" not in e)
    if not hidden:
        return _INTEGRITY_OK
    en = "field digests match the signed document digest"
    zh = "证照内容完整"
    if hidden:
        en += f" ({hidden} field(s) hidden by the holder)"
        zh += f"（持证人隐藏了{hidden}个字段）"
    return _r("integrity", PASSED, "OK", en, zh)


# results that never vary are built once (CheckResult is frozen, so sharing them is safe)
_INTEGRITY_OK = CheckResult(
    "integrity", PASSED, "OK", "field digests match the signed document digest", "证照内容完整"
)
_SEAL_SIGNATURE_OK = CheckResult(
    "seal_signature", PASSED, "OK", "seal signature verifies", "电子印章签名有效"
)


def _certificate(doc: Mapping[str, Any], ctx: VerifyContext) -> tuple[x509.Certificate, bytes]:
    """The seal certificate of a licence and its raw public key (memoised per PEM)."""
    pem = str(doc["signature"]["certificate"])
    hit = ctx.caches.certs.get(pem)
    if hit is None:
        cert = load_certificate(pem)
        try:
            public = cert.public_key()
        except UnsupportedAlgorithm:
            # an SM2 seal (national profile): cryptography cannot load the curve, asn1crypto
            # reads the point; a key that is not SM2 raises SignatureError (a ValueError)
            hit = ctx.caches.certs[pem] = (cert, certificate_key(cert)[1])
            return hit
        if not isinstance(public, ec.EllipticCurvePublicKey):
            raise ValueError("seal certificate does not hold an EC public key")
        raw = public.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        hit = ctx.caches.certs[pem] = (cert, raw)
        ctx.caches.keys[pem] = public
    return hit


def load_certificate(pem: str) -> x509.Certificate:
    """A PEM certificate; ValueError (never another exception) for anything unreadable:
    cryptography raises InvalidVersion, which is no ValueError, for a bad version field."""
    try:
        return x509.load_pem_x509_certificate(pem.encode("utf-8"))
    except (ValueError, x509.InvalidVersion, UnicodeEncodeError) as exc:
        raise ValueError(f"the certificate cannot be read: {exc}") from None


_encode_str = json.encoder.encode_basestring  # what json.dumps(ensure_ascii=False) uses


def _field_digest(name: str, value: Any, salt: Any, alg: str) -> str:
    """``document.field_digest`` with a fast path for string values (the usual case).

    ``{"name","salt","value"}`` with string members is JCS-canonical when written in that key
    order with JSON string escapes and no whitespace (the same bytes ``document.canonical``
    produces, which the tests check); anything else takes the general path.
    """
    if alg == "sha256" and type(value) is str and type(salt) is str and type(name) is str:
        text = (
            f'{{"name":{_encode_str(name)},"salt":{_encode_str(salt)},'
            f'"value":{_encode_str(value)}}}'
        )
        try:
            return hashlib.sha256(text.encode("utf-8")).hexdigest()
        except UnicodeEncodeError:
            pass  # lone surrogates: let the general encoder refuse them
    return document.field_digest(name, value, str(salt), alg)


def _document_digest(fields: Mapping[str, Mapping[str, Any]], alg: str) -> str:
    """RFC 9162 Merkle tree hash of the field digests in name order, bottom-up.

    Pairing adjacent nodes level by level and carrying an odd last node up unchanged gives the
    same root as the recursive largest-power-of-two split (``document.document_digest``)."""
    if alg != "sha256":
        return document.document_digest(fields, alg)
    sha = hashlib.sha256
    level = [
        sha(b"\x00" + bytes.fromhex(str(fields[n]["digest"]))).digest() for n in sorted(fields)
    ]
    if not level:
        return sha(b"").hexdigest()
    while len(level) > 1:
        nxt = [sha(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0].hex()


_FIELD_PREFIX: dict[str, str] = {}  # field name -> '{"name":<name>,"salt":' (JSON-escaped)


def _sha256_fields_hold(fields: Any, root: Any) -> int | None:
    """The number of hidden fields if every shown field matches its salted SHA-256 digest and
    the field digests add up to ``root``; None means "look closer".

    One pass in name order computes each shown field's digest once and hashes it straight into
    its Merkle leaf (the same bytes and the same tree as ``_field_digest`` and
    ``_document_digest``). It never decides a failure itself: on None the general code runs,
    finds what is wrong and explains it exactly as before.
    """
    if type(fields) is not dict or type(root) is not str:
        return None
    sha = hashlib.sha256
    enc = _encode_str
    prefixes = _FIELD_PREFIX
    level: list[bytes] = []
    append = level.append
    hidden = 0
    try:
        for name in sorted(fields):
            entry = fields[name]
            if type(entry) is not dict:
                return None
            digest = entry.get("digest")
            if type(digest) is not str:
                return None
            if "value" in entry:
                value, salt = entry["value"], entry["salt"]
                if type(value) is str and type(salt) is str:
                    prefix = prefixes.get(name)
                    if prefix is None:
                        prefix = f'{{"name":{enc(name)},"salt":'
                        if len(prefixes) < 4096:  # field names repeat; a bound keeps it small
                            prefixes[name] = prefix
                    own = sha(f'{prefix}{enc(salt)},"value":{enc(value)}}}'.encode()).digest()
                    if own.hex() != digest:
                        return None
                else:
                    again = document.field_digest(name, value, str(salt), "sha256")
                    if again != digest:
                        return None
                    own = bytes.fromhex(again)
            else:
                hidden += 1
                own = bytes.fromhex(digest)
            append(sha(b"\x00" + own).digest())
    except (KeyError, TypeError, ValueError):
        # a missing salt, an odd value or bad hex: the general path raises or explains it
        return None
    if not level:
        return hidden if sha(b"").hexdigest() == root else None
    while len(level) > 1:
        odd = level[-1] if len(level) & 1 else None
        level = [
            sha(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)
        ]
        if odd is not None:
            level.append(odd)
    return hidden if level[0].hex() == root else None


def _canonical_header(header: Mapping[str, Any]) -> bytes:
    """``document.canonical`` of the signed header, written directly when every key is ASCII
    and every value a string (JCS sorts such keys as Python does and escapes strings as JSON
    does); anything else takes the general encoder."""
    if type(header) is dict and all(
        type(k) is str and k.isascii() and type(v) is str for k, v in header.items()
    ):
        enc = _encode_str
        body = ",".join([f"{enc(k)}:{enc(header[k])}" for k in sorted(header)])
        return f"{{{body}}}".encode()
    return document.canonical(header)


def check_seal_signature(
    doc: dict[str, Any], _r_: Receipt | None, ctx: VerifyContext
) -> CheckResult:
    """The seal signature over the signed header verifies with the certificate's key."""
    sig = doc["signature"]
    algorithm = str(sig["algorithm"])
    if algorithm not in (ECDSA_P256, SM2_SM3):
        return _r(
            "seal_signature",
            FAILED,
            "UNKNOWN_ALGORITHM",
            f"unknown signature algorithm {algorithm!r}",
            "未知的签名算法",
        )
    try:
        _cert, raw = _certificate(doc, ctx)
        value = base64.b64decode(str(sig["value"]), validate=True)
    except (ValueError, binascii.Error, UnsupportedAlgorithm) as exc:
        return _r(
            "seal_signature",
            FAILED,
            "SIG_MALFORMED",
            f"seal signature or certificate cannot be read: {exc}",
            "签章或证书格式错误",
        )
    try:
        signed = _canonical_header(doc["header"])
        key = ctx.caches.keys.get(str(sig["certificate"]))
        if algorithm == ECDSA_P256 and key is not None:
            try:
                key.verify(value, hashlib.sha256(signed).digest(), _ECDSA_PREHASHED_SHA256)
            except InvalidSignature:
                raise SignatureError("ECDSA P-256 seal signature does not verify") from None
        else:
            verify_signature(algorithm, raw, value, signed)
    except (SignatureError, ValueError):
        return _r(
            "seal_signature",
            FAILED,
            "SIG_CRYPTO_FAILURE",
            "the seal signature does not verify: the signed header or signature was changed, "
            "or another key signed it",
            "电子印章签名无效（签章数据被改或非该印章签署）",
        )
    return _SEAL_SIGNATURE_OK


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def check_seal_certificate(
    doc: dict[str, Any], _r_: Receipt | None, ctx: VerifyContext
) -> CheckResult:
    """The seal certificate chains to the platform CA and was valid at the signing time."""
    name = "seal_certificate"
    if not ctx.trust_roots:
        return _r(
            name,
            INDETERMINATE,
            "NO_TRUST_ANCHOR",
            "no platform CA certificate to check the seal certificate against",
            "缺少平台根证书，无法校验印章证书",
        )
    signed_at = str(doc["header"]["signed_at"])
    key = (str(doc["signature"]["certificate"]), signed_at)
    hit = ctx.caches.chains.get(key)
    if hit is not None:
        return hit
    try:
        cert, _raw = _certificate(doc, ctx)
        when = _parse_time(signed_at)
    except (ValueError, UnsupportedAlgorithm) as exc:
        return _r(name, FAILED, "CERT_MALFORMED", f"certificate unreadable: {exc}", "证书格式错误")
    result = _chain(cert, when, ctx.trust_roots)
    ctx.caches.chains[key] = result
    return result


def _chain(
    cert: x509.Certificate,
    when: dt.datetime,
    roots: Sequence[x509.Certificate],
    moment: tuple[str, str] = ("signing time", "签章时"),
) -> CheckResult:
    name = "seal_certificate"
    if _is_ca(cert):
        return _r(
            name,
            FAILED,
            "NOT_A_SEAL_CERTIFICATE",
            "the signing certificate is a CA certificate, not a seal certificate",
            "签章证书不是印章证书",
        )
    path = [cert]
    current = cert
    fingerprints = {c.fingerprint(hashes.SHA256()) for c in roots}
    for _depth in range(4):
        if current.fingerprint(hashes.SHA256()) in fingerprints and current is not cert:
            break
        issuer = next(
            (c for c in roots if c.subject == current.issuer and _issued_by(current, c)), None
        )
        if issuer is None:
            return _r(
                name,
                FAILED,
                "CHAIN_UNTRUSTED",
                "the seal certificate was not issued by the platform CA",
                "印章证书非平台CA签发（不可信）",
            )
        if not _is_ca(issuer):
            return _r(name, FAILED, "CHAIN_UNTRUSTED", "issuer is not a CA", "印章证书签发者不是CA")
        path.append(issuer)
        current = issuer
        if issuer.subject == issuer.issuer:
            break
    for c in path:
        if when < c.not_valid_before_utc:
            return _r(
                name,
                FAILED,
                "CERT_NOT_YET_VALID",
                f"certificate {c.subject.rfc4514_string()} was not yet valid at {moment[0]} "
                f"{when.isoformat()}",
                f"{moment[1]}证书尚未生效",
            )
        if when > c.not_valid_after_utc:
            return _r(
                name,
                FAILED,
                "CERT_EXPIRED",
                f"certificate {c.subject.rfc4514_string()} had expired at {moment[0]} "
                f"{when.isoformat()} (valid to {c.not_valid_after_utc.date()})",
                f"{moment[1]}印章证书已过期",
            )
    return _r(
        name,
        PASSED,
        "OK",
        f"chains to the platform CA, valid at {moment[0]} (until "
        f"{cert.not_valid_after_utc.date()})",
        f"印章证书由平台CA签发，{moment[1]}有效",
    )


def _cert_uscc(cert: x509.Certificate) -> str | None:
    attrs = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_IDENTIFIER)
    if not attrs:
        return None
    value = str(attrs[0].value)
    return value[5:] if value.startswith("USCC-") else value


def check_seal_status(doc: dict[str, Any], _r_: Receipt | None, ctx: VerifyContext) -> CheckResult:
    """The seal was registered, this certificate belongs to it, and it was active at signing."""
    name = "seal_status"
    seal_id = str(doc["header"]["seal_id"])
    if ctx.seal_of is None:
        return _r(
            name,
            INDETERMINATE,
            "SEAL_STATUS_UNAVAILABLE",
            "seal status cannot be checked now",
            "暂无法查询印章状态",
        )
    seal = ctx.seal_of(seal_id)
    if seal is None:
        return _r(
            name,
            FAILED,
            "SEAL_UNKNOWN",
            f"seal {seal_id} is not registered on the platform",
            "印章未在平台登记",
        )
    cert, _raw = _certificate(doc, ctx)
    der_hash = hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()
    if seal.cert_sha256 and der_hash not in seal.cert_sha256:
        return _r(
            name,
            FAILED,
            "SEAL_CERT_MISMATCH",
            f"the signing certificate is not a certificate of seal {seal_id} (swapped seal)",
            "签章证书不属于所声明的印章（印章被替换）",
        )
    when = _parse_time(str(doc["header"]["signed_at"]))
    if not (_utc(seal.valid_from) <= when < _utc(seal.valid_to)):
        return _r(
            name,
            FAILED,
            "SEAL_OUTSIDE_VALIDITY",
            f"seal {seal_id} was not within its validity at signing time {when.isoformat()}",
            "签章时印章不在有效期内",
        )
    status, since = seal.status_at(when)
    if status == "active":
        later = "" if seal.status == "active" else f" (now {seal.status}, after signing)"
        later_zh = "" if seal.status == "active" else f"（签章后{STATUS_ZH.get(seal.status, '')}）"
        return _r(
            name,
            PASSED,
            "OK",
            f"seal {seal_id} was active at signing time{later}",
            f"签章时印章有效{later_zh}",
        )
    day = since.date().isoformat() if since else "unknown date"
    reason = "SEAL_REVOKED" if status == "revoked" else "SEAL_SUSPENDED"
    zh = "签章时印章已吊销" if status == "revoked" else "签章时印章已暂停使用"
    return _r(name, FAILED, reason, f"seal {seal_id} was {status} ({day}) at signing time", zh)


def check_authority(doc: dict[str, Any], _r_: Receipt | None, ctx: VerifyContext) -> CheckResult:
    """The issuer is a registered authority allowed to issue this type, and its seal signed."""
    from licence import authorities
    from schemas import licence_types

    name = "authority"
    parts = str(doc["header"]["licence_id"]).split(".")
    if len(parts) != 10:
        raise MalformedLicenceError("licence identifier does not have its ten parts")
    type_code, issuer_code = parts[5], parts[6]
    try:
        auth = authorities.get(issuer_code)
    except authorities.AuthorityError:
        return _r(
            name,
            FAILED,
            "AUTHORITY_UNREGISTERED",
            f"issuer {issuer_code} is not a registered issuing authority",
            "颁发机构未登记为发证机关",
        )
    try:
        lt = licence_types.get(type_code)
    except licence_types.LicenceTypeError:
        return _r(
            name,
            FAILED,
            "UNKNOWN_TYPE",
            f"licence type {type_code} is not in the catalogue",
            "证照类型不在目录中",
        )
    if not auth.allowed(lt):
        return _r(
            name,
            FAILED,
            "TYPE_NOT_ALLOWED",
            f"{auth.uscc} may not issue {lt.name_en}",
            f"{auth.name}无权颁发{lt.name}",
        )
    shown = _value(doc, "证照颁发机构代码")
    if shown is not None and shown != auth.uscc:
        return _r(
            name,
            FAILED,
            "ISSUER_MISMATCH",
            "the issuer field differs from the issuer in the identifier",
            "颁发机构代码与证照标识不一致",
        )
    cert, _raw = _certificate(doc, ctx)
    if _cert_uscc(cert) != auth.uscc:
        return _r(
            name,
            FAILED,
            "SEAL_AUTHORITY_MISMATCH",
            "the seal belongs to another organisation than the issuing authority",
            "印章不属于颁发机构（他人印章）",
        )
    if not str(doc["header"]["seal_id"]).startswith(auth.uscc):
        return _r(
            name,
            FAILED,
            "SEAL_AUTHORITY_MISMATCH",
            "the seal identifier is not one of the issuing authority's seals",
            "印章编号不属于颁发机构",
        )
    return _r(
        name,
        PASSED,
        "OK",
        f"{auth.uscc} may issue {lt.name_en}; sealed with its own seal",
        f"{auth.name}有权颁发{lt.name}",
    )


def _receipt_checkpoint(receipt: Receipt, ctx: VerifyContext) -> Checkpoint:
    """The (unverified) checkpoint a receipt is proven in; parsed once per note."""
    cp = ctx.caches.notes.get(receipt.checkpoint)
    if cp is None:
        body, _sigs = parse_note(receipt.checkpoint)
        cp = ctx.caches.notes[receipt.checkpoint] = Checkpoint.from_note_body(body)
    return cp


def check_ledger(doc: dict[str, Any], receipt: Receipt | None, ctx: VerifyContext) -> CheckResult:
    """The receipt's entry is this licence's issue event, proven in the receipt's checkpoint."""
    name = "ledger_inclusion"
    if receipt is None:
        return _r(
            name,
            INDETERMINATE,
            "NO_RECEIPT",
            "no ledger receipt yet (not yet sequenced, or not supplied)",
            "尚无上链存证回执",
        )
    try:
        cp = _receipt_checkpoint(receipt, ctx)
        if receipt.data is None:
            raise ReceiptError("receipt carries no entry data")
        if leaf_hash(receipt.data, receipt.hash_name) != receipt.leaf_hash:
            raise ReceiptError("entry data does not match its leaf hash")
        verify_inclusion(
            receipt.index, cp.size, receipt.leaf_hash, receipt.path, cp.root, receipt.hash_name
        )
    except (ReceiptError, ProofError, NoteError, ValueError, KeyError) as exc:
        return _r(
            name,
            FAILED,
            "PROOF_INVALID",
            f"the inclusion proof does not hold: {exc}",
            "存证证明无效（路径被伪造）",
        )
    try:
        entry = _loads(receipt.data)
    except ValueError:
        entry = {}
    header = doc["header"]
    if (
        not isinstance(entry, dict)
        or entry.get("event") != "licence.issue"
        or (entry.get("licence_id"), entry.get("document_digest"))
        != (header["licence_id"], header["document_digest"])
    ):
        return _r(
            name,
            FAILED,
            "ENTRY_MISMATCH",
            "the ledger entry is for another document",
            "存证记录与证照不符",
        )
    return _r(
        name,
        PASSED,
        "OK",
        f"issue recorded at log index {receipt.index} (tree size {cp.size})",
        f"已上链存证（第{receipt.index}条）",
    )


def _open_cached(note: bytes, ctx: VerifyContext) -> Checkpoint:
    hit = ctx.caches.checkpoints.get(note)
    if hit is None:
        try:
            hit = open_checkpoint(note, ctx.verifiers())
        except NoteError as exc:
            hit = exc
        ctx.caches.checkpoints[note] = hit
    if isinstance(hit, NoteError):
        raise hit
    return hit


def check_checkpoint(
    _doc: dict[str, Any], receipt: Receipt | None, ctx: VerifyContext
) -> CheckResult:
    """The receipt's checkpoint is signed by a trusted log key and agrees with the log."""
    name = "checkpoint"
    if receipt is None:
        return _r(name, INDETERMINATE, "NO_RECEIPT", "no checkpoint to check", "无检查点可校验")
    if not ctx.log_keys:
        return _r(name, INDETERMINATE, "NO_LOG_KEYS", "no trusted log keys", "缺少可信的账本公钥")
    try:
        cp = _open_cached(receipt.checkpoint, ctx)
    except NoteError as exc:
        untrusted = "not signed by any trusted key" in str(exc)
        return _r(
            name,
            FAILED,
            "CHECKPOINT_UNTRUSTED_KEY" if untrusted else "CHECKPOINT_SIGNATURE_INVALID",
            f"checkpoint rejected: {exc}",
            "检查点非可信账本密钥签署" if untrusted else "检查点签名无效",
        )
    if ctx.root_at is None:
        return _r(
            name,
            PASSED,
            "OK",
            f"signed by the log (size {cp.size}); consistency not checked",
            "检查点签名有效",
        )
    known = ctx.root_at(cp.size)
    if known is None:
        return _r(
            name,
            INDETERMINATE,
            "CONSISTENCY_UNKNOWN",
            f"the log's root at size {cp.size} is not known here (newer than the trust bundle?)",
            "无法确认检查点与账本一致（信任包过旧）",
        )
    if known != cp.root:
        return _r(
            name,
            FAILED,
            "CHECKPOINT_FORK",
            f"the log's root at size {cp.size} differs: a forked (inconsistent) checkpoint",
            "检查点与账本不一致（分叉）",
        )
    return _r(
        name,
        PASSED,
        "OK",
        f"signed by the log and consistent with it (size {cp.size})",
        "检查点签名有效且与账本一致",
    )


def check_anchor(_doc: dict[str, Any], receipt: Receipt | None, ctx: VerifyContext) -> CheckResult:
    """The receipt's checkpoint was anchored (embedded table or Fabric)."""
    name = "anchor"
    if receipt is None:
        return _r(name, INDETERMINATE, "NO_RECEIPT", "no checkpoint to look up", "无检查点")
    ref = receipt.anchor
    if ref is None:
        return _r(
            name,
            INDETERMINATE,
            "NOT_ANCHORED",
            "the receipt names no anchor for its checkpoint",
            "回执未记录锚定信息",
        )
    if ctx.verify_anchor is None:
        return _r(
            name,
            INDETERMINATE,
            "ANCHOR_BACKEND_UNAVAILABLE",
            f"anchor backend {ref.backend} unavailable",
            "锚定后端不可用，无法核对",
        )
    try:
        ctx.verify_anchor(ref, receipt.checkpoint)
    except ConnectionError as exc:
        return _r(
            name,
            INDETERMINATE,
            "ANCHOR_BACKEND_UNAVAILABLE",
            f"anchor backend {ref.backend} unavailable: {exc}",
            "锚定后端不可用，无法核对",
        )
    except (LookupError, ValueError) as exc:
        return _r(
            name,
            FAILED,
            "ANCHOR_MISMATCH",
            f"the anchored checkpoint differs: {exc}",
            "锚定的检查点与回执不符",
        )
    return _r(
        name,
        PASSED,
        "OK",
        f"checkpoint anchored ({ref.backend} #{ref.reference})",
        "检查点已锚定",
    )


def check_status(doc: dict[str, Any], receipt: Receipt | None, ctx: VerifyContext) -> CheckResult:
    """Not revoked, suspended, expired or superseded: the platform's answer (live online, the
    trust bundle's snapshot offline), backed by the log when a committed status list covers
    the licence (``check_status_list``): the log's word is added to the explanation, a list
    that contradicts a "valid" answer fails (STATUS_LIST_CONFLICT), and a list whose proof
    does not hold fails (STATUS_LIST_INVALID). Without a covering list, the answer is the
    platform's alone, as before."""
    stated = _status_stated(doc, receipt, ctx)
    if stated.status == INDETERMINATE or receipt is None or ctx.status_list_of is None:
        return stated
    proof = check_status_list(doc, receipt, ctx)
    if proof.status == INDETERMINATE:
        return stated
    name = "status"
    if proof.reason == "STATUS_LIST_INVALID":
        return _r(name, FAILED, proof.reason, proof.en, proof.zh)
    if stated.status == PASSED and proof.status == FAILED:
        return _r(
            name,
            FAILED,
            "STATUS_LIST_CONFLICT",
            f"the platform says valid, but the log says {proof.en}",
            f"平台显示有效，但{proof.zh}",
        )
    if stated.status == proof.status:  # the log agrees: say so
        return _r(name, stated.status, stated.reason, f"{stated.en}; {proof.en}", stated.zh)
    return stated  # failed now, valid as of the list's checkpoint: the later answer stands


def _status_stated(doc: dict[str, Any], receipt: Receipt | None, ctx: VerifyContext) -> CheckResult:
    """The status as the platform (or the trust bundle's snapshot) states it."""
    name = "status"
    lid = str(doc["header"]["licence_id"])
    if ctx.status_of is None:
        return _r(name, INDETERMINATE, "STATUS_UNKNOWN", "status not available", "无法获取证照状态")
    row = ctx.status_of(lid)
    as_of, valid_zh = "", "证照状态有效"
    if ctx.as_of is not None:
        as_of = f" as of the trust bundle's checkpoint ({utc_time(ctx.as_of)})"
        valid_zh = f"截至信任包检查点时间（{china_time(ctx.as_of)}）证照状态有效"
    if row is None:
        if ctx.status_size is not None and receipt is None:
            return _r(
                name,
                INDETERMINATE,
                "STATUS_UNKNOWN",
                "without a receipt the licence cannot be placed before the bundle's snapshot",
                "无存证回执，无法依据信任包确认状态",
            )
        if ctx.status_size is not None and receipt is not None and receipt.index >= ctx.status_size:
            return _r(
                name,
                INDETERMINATE,
                "STATUS_NEWER_THAN_BUNDLE",
                "issued after the status snapshot of the trust bundle",
                "证照晚于信任包状态快照，无法确认状态",
            )
        if ctx.status_size is not None:
            # a snapshot lists only licences that are no longer valid
            return _r(name, PASSED, "OK", f"licence is valid{as_of}", valid_zh)
        if ctx.offline:
            return _r(
                name,
                INDETERMINATE,
                "STATUS_UNKNOWN",
                "the trust bundle carries no status for this licence: verify it online",
                "信任包中没有此证照的状态，请联网核验",
            )
        return _r(
            name,
            FAILED,
            "UNKNOWN_LICENCE",
            "the platform has no licence with this identifier",
            "平台无此证照",
        )
    status = str(row["status"])
    if status == "valid":
        return _r(name, PASSED, "OK", f"licence is valid{as_of}", valid_zh)
    when = row.get("updated_at")
    if isinstance(when, str) and when:
        day = when[:10]
    elif isinstance(when, dt.datetime | dt.date):
        day = when.isoformat()[:10]
    else:
        day = ""
    text = str(row.get("reason_text") or "")
    code = str(row.get("reason_code") or "")
    authority = str(row.get("authority") or "")
    zh_label = STATUS_ZH.get(status, status)
    superseded = row.get("superseded_by")
    extra = f"; replaced by {superseded}" if superseded else ""
    return _r(
        name,
        FAILED,
        status.upper(),
        f"{status} on {day} by {authority}: {text} ({code}){extra}",
        f"{zh_label}（{day}，{text}）" + _by_authority_zh(authority),
    )


def check_status_list(
    doc: dict[str, Any], receipt: Receipt | None, ctx: VerifyContext
) -> CheckResult:
    """Not revoked or suspended as of a checkpoint, proven by the log: the licence's issue
    entry binds its status index, and its authority's status list committed with checkpoint N
    has that bit clear; both entries are proven under checkpoints signed by a trusted key."""
    name = "status_list"
    if receipt is None or receipt.data is None:
        return _r(
            name,
            INDETERMINATE,
            "NO_RECEIPT",
            "no ledger receipt: the licence cannot be placed in a status snapshot",
            "无存证回执，无法依据状态列表确认状态",
        )
    if ctx.status_list_of is None or not ctx.log_keys:
        return _r(
            name,
            INDETERMINATE,
            "STATUS_LIST_UNAVAILABLE",
            "no committed status list available here (old trust bundle?)",
            "无法获取已上链的状态列表",
        )
    header = doc["header"]
    lid, digest = str(header["licence_id"]), str(header["document_digest"])
    try:
        authority = status_list.issue_binding(receipt.data)[2]
    except status_list.StatusListError as exc:
        return _r(name, FAILED, "STATUS_LIST_INVALID", str(exc), "状态列表证明无效")
    listed = ctx.status_list_of(authority)
    if listed is None:
        return _r(
            name,
            INDETERMINATE,
            "NO_STATUS_LIST",
            f"no status list of {authority} committed yet (the next checkpoint commits one)",
            "发证机关状态列表尚未上链",
        )
    row = ctx.status_of(lid) if ctx.status_of is not None else None
    fallback = row.get("status_index") if row is not None else None
    try:
        proven = status_list.prove_status(
            lid,
            digest,
            receipt,
            listed,
            ctx.verifiers(),
            fallback if isinstance(fallback, int) else None,
        )
    except (status_list.SnapshotTooOldError, status_list.StatusIndexUnknownError) as exc:
        return _r(name, INDETERMINATE, "STATUS_LIST_NOT_COVERING", str(exc), "状态列表未覆盖此证照")
    except status_list.StatusListError as exc:
        return _r(
            name,
            FAILED,
            "STATUS_LIST_INVALID",
            f"the status list proof does not hold: {exc}",
            "状态列表证明无效",
        )
    n, at = proven.checkpoint_size, proven.list_index
    where = f"as of checkpoint {n} (status list at log index {at}, bit {proven.status_index})"
    if proven.status == "revoked":
        return _r(
            name,
            FAILED,
            "REVOKED_AS_OF_CHECKPOINT",
            f"revoked, expired or superseded {where}",
            f"截至检查点{n}已吊销或失效（上链状态列表）",
        )
    if proven.status == "suspended":
        if row is not None and row.get("status") == "valid":
            # online: suspended at N, reinstated since (that entry is not yet in a checkpoint)
            return _r(
                name,
                PASSED,
                "SUSPENSION_LIFTED",
                f"suspended {where}, reinstated since",
                f"截至检查点{n}处于暂扣状态，其后已恢复",
            )
        return _r(
            name,
            FAILED,
            "SUSPENDED_AS_OF_CHECKPOINT",
            f"suspended {where}",
            f"截至检查点{n}已暂扣（上链状态列表）",
        )
    return _r(
        name,
        PASSED,
        "OK",
        f"not revoked or suspended {where}, proven by the log",
        f"截至检查点{n}未被吊销或暂扣（上链状态列表证明）",
    )


def _by_authority_zh(uscc_code: str) -> str:
    """``，决定机关：<name>`` for a registered authority (empty if unknown)."""
    from licence import authorities

    try:
        return f"，决定机关：{authorities.get(uscc_code).name}" if uscc_code else ""
    except authorities.AuthorityError:
        return f"，决定机关：{uscc_code}"


def _ymd(text: str) -> dt.date:
    return dt.date(int(text[:4]), int(text[4:6]), int(text[6:8]))


def check_validity(doc: dict[str, Any], _r_: Receipt | None, ctx: VerifyContext) -> CheckResult:
    """Today lies within the licence's validity period."""
    name = "validity_period"
    fields = doc["fields"]
    if VALIDITY_END in fields and "value" not in fields[VALIDITY_END]:
        return _r(
            name,
            INDETERMINATE,
            "VALIDITY_HIDDEN",
            "the holder hid the end of validity",
            "持证人隐藏了有效期",
        )
    start = _value(doc, VALIDITY_START)
    if start and _ymd(str(start)) > ctx.today:
        return _r(
            name,
            FAILED,
            "NOT_YET_VALID",
            f"valid only from {_ymd(str(start))}",
            "证照尚未生效",
        )
    end = _value(doc, VALIDITY_END)
    if not end or end == "长期":
        return _r(name, PASSED, "OK", "long-term validity", "长期有效")
    end_date = _ymd(str(end))
    if end_date < ctx.today:
        return _r(name, FAILED, "EXPIRED", f"expired on {end_date}", f"已过有效期（{end_date}）")
    return _r(name, PASSED, "OK", f"valid until {end_date}", f"有效期至{end_date}")


def check_freshness(_doc: dict[str, Any], _r_: Receipt | None, ctx: VerifyContext) -> CheckResult:
    """How old the trust material is (offline): older than ``max_age`` is INDETERMINATE."""
    name = "freshness"
    if ctx.as_of is None:
        if ctx.offline:
            return _r(
                name,
                INDETERMINATE,
                "BUNDLE_TIME_UNKNOWN",
                "the trust bundle does not say when it was made",
                "信任包未注明时间",
            )
        return _r(name, PASSED, "ONLINE", "online: status as of now", "在线核验，状态为实时")
    age = ctx.current_time() - _utc(ctx.as_of)
    hours = age.total_seconds() / 3600
    limit = ctx.max_age.total_seconds() / 3600
    text = f"trust bundle checkpoint is {hours:.1f} h old (exported {utc_time(ctx.as_of)})"
    zh = f"信任包检查点已过{hours:.1f}小时（导出于{china_time(ctx.as_of)}）"
    if age > ctx.max_age:
        return _r(
            name,
            INDETERMINATE,
            "BUNDLE_STALE",
            text + f", older than this verifier's limit of {limit:g} h: refresh it",
            zh + f"，超过本机时效上限{limit:g}小时，请更新信任包",
        )
    return _r(name, PASSED, "OK", text, zh)


SEAL_POLICY: dict[str, Check] = {
    "integrity": check_integrity,
    "seal_signature": check_seal_signature,
}
DEFAULT_POLICY: dict[str, Check] = {
    "identifier": check_identifier,
    "integrity": check_integrity,
    "seal_signature": check_seal_signature,
    "seal_certificate": check_seal_certificate,
    "seal_status": check_seal_status,
    "authority": check_authority,
    "ledger_inclusion": check_ledger,
    "checkpoint": check_checkpoint,
    "anchor": check_anchor,
    "status": check_status,
    "validity_period": check_validity,
}
OFFLINE_POLICY: dict[str, Check] = {**DEFAULT_POLICY, "freshness": check_freshness}
# what the benchmark measures: the cryptographic core (integrity + seal + receipt)
CORE_POLICY: dict[str, Check] = {
    "integrity": check_integrity,
    "seal_signature": check_seal_signature,
    "ledger_inclusion": check_ledger,
    "checkpoint": check_checkpoint,
}
# status_list on its own (``--policy ...,status_list``): only what the log proves, "as of
# checkpoint N"; the default policies use it inside ``status``
CHECKS: dict[str, Check] = {**OFFLINE_POLICY, "status_list": check_status_list}


def policy_of(names: Sequence[str]) -> dict[str, Check]:
    """A policy from check names; unknown names and an empty list are refused."""
    if not names:
        raise ValueError("an empty verification policy would pass anything: name the checks")
    unknown = [n for n in names if n not in CHECKS]
    if unknown:
        raise ValueError(f"unknown checks {', '.join(unknown)}; known: {', '.join(CHECKS)}")
    return {n: CHECKS[n] for n in names}


@dataclass(frozen=True)
class Report:
    """The overall verdict and every check's result."""

    verdict: str
    checks: list[CheckResult]
    kind: str = "sealed"
    licence_id: str | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    as_of: dt.datetime | None = None  # the verdict holds as of this time (bundle checkpoint)
    age: dt.timedelta | None = None  # how old the trust bundle was (offline only)

    def failed(self) -> list[CheckResult]:
        return [c for c in self.checks if c.status == FAILED]

    @property
    def sub_indication(self) -> str | None:
        """The first failing (else indeterminate) reason code, as in ETSI EN 319 102-1."""
        for wanted in (FAILED, INDETERMINATE):
            for c in self.checks:
                if c.status == wanted:
                    return c.reason
        return None

    @property
    def exit_code(self) -> int:
        """0 passed, 1 failed, 2 indeterminate (what ``hub verify`` exits with)."""
        return {TOTAL_PASSED: 0, TOTAL_FAILED: 1}.get(self.verdict, 2)

    def as_of_text(self) -> tuple[str, str] | None:
        """(Chinese, English) of when the verdict holds: "as of" the trust bundle's checkpoint
        offline (with its age), "as of now" online; None when nothing was checked."""
        if self.as_of is None:
            return None
        if self.age is None:
            return (
                f"截至{china_time(self.as_of)}（在线实时）",
                f"as of {utc_time(self.as_of)} (online)",
            )
        hours = self.age.total_seconds() / 3600
        return (
            f"截至{china_time(self.as_of)}（信任包检查点时间，已过{hours:.1f}小时）",
            f"as of {utc_time(self.as_of)} (trust bundle checkpoint, {hours:.1f} h old)",
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "verdict": self.verdict,
            "sub_indication": self.sub_indication,
            "kind": self.kind,
            "licence_id": self.licence_id,
            "summary": self.summary,
            "checks": [c.to_dict() for c in self.checks],
        }
        if self.as_of is not None:
            text = self.as_of_text() or ("", "")
            out["as_of"] = self.as_of.astimezone(dt.UTC).isoformat()
            out["as_of_zh"], out["as_of_en"] = text
            out["age_hours"] = (
                None if self.age is None else round(self.age.total_seconds() / 3600, 2)
            )
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2, default=str)

    def to_text(self) -> str:
        head = {TOTAL_PASSED: "通过", TOTAL_FAILED: "不通过", INDETERMINATE: "无法确定"}
        lines = [f"verdict: {self.verdict} ({head.get(self.verdict, '')})"]
        when = self.as_of_text()
        if when is not None:
            lines[0] += f" {when[0]} / {when[1]}"
        if self.licence_id:
            label = "seal" if self.kind == "seal" else "licence"
            lines.append(f"{label}: {self.licence_id} [{self.kind}]")
        for c in self.checks:
            lines.append(f"  {c.status:<13} {c.check:<17} {c.reason:<24} {c.zh} / {c.en}")
        return "\n".join(lines)


def _verdict(results: Sequence[CheckResult]) -> str:
    if any(r.status == FAILED for r in results):
        return TOTAL_FAILED
    if results and all(r.status == PASSED for r in results):
        return TOTAL_PASSED
    return INDETERMINATE


def _summary(doc: Mapping[str, Any]) -> dict[str, Any]:
    """Non-personal facts a staff member needs next to the verdict."""
    keys = ("证照名称", "证照颁发机构", "证照颁发日期", VALIDITY_END, "证照编号")
    out: dict[str, Any] = {}
    for k in keys:
        v = _value(doc, k)
        if v is not None:
            out[k] = v
    out["seal_id"] = doc["header"].get("seal_id")
    out["signed_at"] = doc["header"].get("signed_at")
    return out


def verify(
    doc: dict[str, Any],
    receipt: Receipt | None,
    ctx: VerifyContext,
    policy: Mapping[str, Check] | None = None,
    kind: str = "sealed",
) -> Report:
    """Run every check of ``policy``; TOTAL_PASSED only when all of them passed."""
    if policy is None:
        policy = OFFLINE_POLICY if ctx.offline else DEFAULT_POLICY
    checks = policy
    if not checks:
        raise ValueError("an empty verification policy would pass anything: name the checks")
    try:
        _require_shape(doc)
    except MalformedLicenceError as exc:
        return _malformed(str(exc))
    if receipt is None and ctx.receipt_of is not None and "ledger_inclusion" in checks:
        receipt = ctx.receipt_of(str(doc["header"]["licence_id"]))
    results = []
    for check_name, check in checks.items():
        try:
            results.append(check(doc, receipt, ctx))
        except (
            KeyError,
            TypeError,
            ValueError,
            AttributeError,
            ArithmeticError,
            licence_id.LicenceIdError,
        ):
            # a malformed part of the document (missing key, wrong type) fails just this check
            results.append(
                _r(
                    check_name,
                    FAILED,
                    "MALFORMED",
                    "cannot read what this check needs: a part of the licence is missing or "
                    "has the wrong form",
                    "证照数据格式错误（缺少内容或格式不对）",
                )
            )
    lid = str(doc["header"].get("licence_id"))
    return Report(_verdict(results), results, kind, lid, _summary(doc), **_as_of(ctx))


def _as_of(ctx: VerifyContext) -> dict[str, Any]:
    """When the verdict holds (``Report`` keywords): the trust bundle's checkpoint time and its
    age offline, now online."""
    if ctx.as_of is None:
        return {"as_of": ctx.current_time(), "age": None}
    as_of = _utc(ctx.as_of)
    return {"as_of": as_of, "age": max(ctx.current_time() - as_of, dt.timedelta(0))}


CHINA_STANDARD_TIME = dt.timezone(dt.timedelta(hours=8), "CST")


def china_time(t: dt.datetime) -> str:
    """``2026-01-05 16:30 北京时间 UTC+8``: how a service window reads a time."""
    return _utc(t).astimezone(CHINA_STANDARD_TIME).strftime("%Y-%m-%d %H:%M 北京时间 UTC+8")


def utc_time(t: dt.datetime) -> str:
    return _utc(t).astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


# ---- inputs --------------------------------------------------------------------------------


def _shape_holds(doc: Any) -> bool:
    """What ``_require_shape`` asks, as one quick test of the usual (plain JSON) case."""
    if type(doc) is not dict:
        return False
    header, sig, fields = doc.get("header"), doc.get("signature"), doc.get("fields")
    if type(header) is not dict or type(sig) is not dict or type(fields) is not dict:
        return False
    get = header.get
    if not (
        type(get("licence_id")) is str
        and type(get("document_digest")) is str
        and type(get("digest_alg")) is str
        and type(get("seal_id")) is str
        and type(get("signed_at")) is str
        and "algorithm" in sig
        and "value" in sig
        and "certificate" in sig
    ):
        return False
    for entry in fields.values():
        if type(entry) is not dict or type(entry.get("digest")) is not str:
            return False
    return True


def _require_shape(doc: Any) -> None:
    if _shape_holds(doc):
        return
    if not isinstance(doc, dict):
        raise MalformedLicenceError("a licence is a JSON object")
    header, sig, fields = doc.get("header"), doc.get("signature"), doc.get("fields")
    if not isinstance(header, dict) or not isinstance(sig, dict) or not isinstance(fields, dict):
        raise MalformedLicenceError("a sealed licence has header, signature and fields objects")
    missing = [
        k
        for k in ("licence_id", "document_digest", "digest_alg", "seal_id", "signed_at")
        if not isinstance(header.get(k), str)
    ]
    missing += [f"signature.{k}" for k in ("algorithm", "value", "certificate") if k not in sig]
    if missing:
        raise MalformedLicenceError(f"sealed licence lacks {', '.join(missing)}")
    for name, entry in fields.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("digest"), str):
            raise MalformedLicenceError(f"field {name!r} has no digest")


_MALFORMED_ZH = {
    "MALFORMED_INPUT": "无法识别的证照文件（格式错误或文件不完整）",
    "DUPLICATE_KEY": "证照文件中同一字段名出现两次（可能夹带另一份内容），拒绝核验",
    "AMBIGUOUS_INPUT": "文件同时包含两份证照内容，无法确定核验哪一份，拒绝核验",
}


def _malformed(
    message: str, reason: str = "MALFORMED_INPUT", kind: str = "unknown", zh: str | None = None
) -> Report:
    result = _r(
        "format",
        FAILED,
        reason,
        f"not a verifiable licence: {message}",
        zh or _MALFORMED_ZH.get(reason, _MALFORMED_ZH["MALFORMED_INPUT"]),
    )
    return Report(TOTAL_FAILED, [result], kind)


def parse_qr(text: str) -> tuple[str, str, str]:
    """(licence id, digest algorithm, document digest) from a QR payload URL."""
    try:
        query = urllib.parse.urlsplit(text.strip()).query
    except ValueError as exc:
        raise MalformedLicenceError("the QR payload is not a link") from exc
    params = urllib.parse.parse_qs(query)
    lid = params.get("id", [""])[0]
    alg, _, digest = params.get("d", [""])[0].partition(":")
    if not lid or not digest:
        raise MalformedLicenceError("QR payload lacks id= and d=alg:digest")
    return lid, alg, digest


def qr_host(text: str) -> str | None:
    """The host a QR payload's link names (lower case), None for a bare ``id=…&d=…``."""
    try:
        host = urllib.parse.urlsplit(text.strip()).hostname
    except ValueError:
        return None
    return host.lower() if host else None


def _host_check(text: str, ctx: VerifyContext) -> CheckResult | None:
    """FAILED when the payload names a host that is neither this platform's verification
    address nor a trusted peer's (a look-alike site); None when it names none or a trusted one."""
    host = qr_host(text)
    if host is None:
        return None
    own = qr_host(ctx.verification_url)
    if host == own or host in {h.lower() for h in ctx.trusted_hosts}:
        return None
    return _r(
        "qr_host",
        FAILED,
        "QR_FOREIGN_HOST",
        f"the QR code points at {host}, which is not this platform ({own}) nor a trusted peer: "
        "do not trust the page it opens",
        f"二维码指向的网站“{host}”不是本平台（{own}）或可信的对等平台，请勿信任",
    )


def verify_qr(text: str, ctx: VerifyContext, policy: Mapping[str, Check] | None = None) -> Report:
    """Look the QR payload's licence up (online) and verify the stored licence.

    A payload whose digest does not match a registered licence says only that: nothing about
    the licence with that identifier (holder, issuer, number) is revealed to whoever typed it.
    """
    try:
        lid, alg, digest = parse_qr(text)
    except MalformedLicenceError as exc:
        return _malformed(str(exc), kind="qr")
    foreign = _host_check(text, ctx)
    if foreign is not None:
        return Report(TOTAL_FAILED, [foreign], "qr", lid, **_as_of(ctx))
    if ctx.document_of is None:
        return Report(
            INDETERMINATE,
            [
                _r(
                    "qr_lookup",
                    INDETERMINATE,
                    "QR_LOOKUP_UNAVAILABLE",
                    "a QR payload is checked online; the licence service is not reachable",
                    "扫码核验需联网查询，当前无法查询",
                )
            ],
            "qr",
            lid,
        )
    doc = ctx.document_of(lid)
    header = doc.get("header") if isinstance(doc, dict) else None
    if (
        doc is None
        or not isinstance(header, dict)
        or (
            header.get("digest_alg"),
            header.get("document_digest"),
        )
        != (alg, digest)
    ):
        # one answer for "no such licence" and "another digest": the id alone reveals nothing
        if ctx.offline:
            en = "the licence file given with it (--licence) is not the licence this QR code names"
            zh = "随附的证照文件与二维码所指证照不符"
        else:
            en = "no licence registered on this platform matches this QR code (wrong or forged)"
            zh = "二维码与平台登记的证照不符（二维码无效或伪造）"
        return Report(TOTAL_FAILED, [_r("qr_lookup", FAILED, "QR_NO_MATCH", en, zh)], "qr")
    lookup = _r("qr_lookup", PASSED, "OK", "licence found by its QR code", "已查到该证照")
    report = verify(doc, None, ctx, policy, kind="qr")
    results = [lookup, *report.checks]
    return Report(_verdict(results), results, "qr", lid, report.summary, report.as_of, report.age)


PdfVerifier = Callable[[bytes, VerifyContext], tuple[list[CheckResult], dict[str, Any] | None]]
BOM = strict_json.BOM
WRAPPERS = ("licence", "document")  # {"licence": …, "receipt": …}; `hub licence show` prints
# {"document": …, "receipt": …}
LICENCE_PARTS = ("header", "signature", "fields")


def read_licence_json(data: bytes) -> tuple[dict[str, Any], Any]:
    """(licence, raw receipt or None) from a JSON licence file, the one reader of every
    caller (``hub verify``, ``--licence``, the API, the page): strict I-JSON (duplicate keys,
    NaN, out-of-range numbers refused; a UTF-8 byte-order mark skipped), then exactly one of a
    bare licence, ``{"licence": …}`` or ``{"document": …}``; a file that is two things at once
    is refused (AmbiguousInputError). Raises StrictJSONError / MalformedLicenceError."""
    obj = strict_json.loads(data)
    if not isinstance(obj, dict):
        raise MalformedLicenceError("a licence is a JSON object")
    wrappers = [k for k in WRAPPERS if k in obj]
    bare = [k for k in LICENCE_PARTS if k in obj]
    if "qr" in obj and (wrappers or bare):
        wrappers.append("qr")
    if len(wrappers) > 1 or (wrappers and bare):
        both = " and ".join(f"“{k}”" for k in [*wrappers, *bare])
        raise AmbiguousInputError(
            f"the file carries both {both}: which one is the licence is ambiguous"
        )
    if wrappers:
        doc = obj[wrappers[0]]
        if not isinstance(doc, dict):
            raise MalformedLicenceError(f"“{wrappers[0]}” is not a licence object")
        return doc, obj.get("receipt")
    return obj, obj.get("receipt")


class AmbiguousInputError(MalformedLicenceError):
    """The file could be read as two different licences (two wrappers, or wrapper and bare)."""


def verify_input(
    data: bytes,
    ctx: VerifyContext,
    policy: Mapping[str, Check] | None = None,
    *,
    pdf_verifier: PdfVerifier | None = None,
) -> Report:
    """Verify raw bytes: a sealed or disclosed JSON licence (optionally wrapped with its
    receipt as ``{"licence": ..., "receipt": ...}``, as ``hub licence show`` prints it
    (``{"document": ..., "receipt": ...}``) or carrying a top-level ``receipt``), a signed PDF,
    or a QR payload. Unreadable input gives TOTAL_FAILED with check ``format``: never an
    exception, whatever the bytes.

    Build ``ctx`` with ``licence.trust.online_context(service)`` (online: every check can
    pass) or ``licence.trust.offline_context(bundle, anchors)``; a bare
    ``VerifyContext(log_keys=...)`` leaves the certificate, seal and anchor checks
    INDETERMINATE.
    """
    stripped = data.strip()
    if stripped.startswith(BOM):
        stripped = stripped[len(BOM) :].lstrip()
    if stripped.startswith(b"%PDF"):
        if pdf_verifier is None:
            from licence.verify.pdf import verify_pdf_bytes

            pdf_verifier = verify_pdf_bytes
        pdf_results, doc = pdf_verifier(data, ctx)
        if doc is None:
            return Report(_verdict(pdf_results), pdf_results, "pdf", **_as_of(ctx))
        report = verify(doc, None, ctx, policy, kind="pdf")
        results = [*pdf_results, *report.checks]
        return Report(
            _verdict(results),
            results,
            "pdf",
            report.licence_id,
            report.summary,
            report.as_of,
            report.age,
        )
    if stripped.startswith(b"{") or stripped.startswith(b"["):
        try:
            doc, raw_receipt = read_licence_json(stripped)
        except strict_json.StrictJSONError as exc:
            code = "DUPLICATE_KEY" if "duplicate key" in str(exc) else "MALFORMED_INPUT"
            return _malformed(f"the JSON cannot be read: {exc}", code, kind="json")
        except AmbiguousInputError as exc:
            return _malformed(str(exc), "AMBIGUOUS_INPUT", kind="json")
        except MalformedLicenceError as exc:
            return _malformed(str(exc), kind="json")
        return _verify_pair(doc, raw_receipt, ctx, policy)
    try:
        text = stripped.decode("utf-8")
    except UnicodeDecodeError:
        return _malformed("neither JSON, PDF nor a QR payload")
    if "id=" in text and "\n" not in text:
        return verify_qr(text, ctx, policy)
    return _malformed("neither JSON, PDF nor a QR payload")


def verify_json(obj: Any, ctx: VerifyContext, policy: Mapping[str, Check] | None = None) -> Report:
    """Verify a parsed JSON licence (sealed, disclosed, or wrapped with its receipt); the same
    wrapper rules as :func:`read_licence_json` (serialised again, so one reader decides)."""
    try:
        data = json.dumps(obj, ensure_ascii=False, allow_nan=False).encode()
    except (TypeError, ValueError) as exc:
        return _malformed(f"not JSON data: {exc}", kind="json")
    return verify_input(data, ctx, policy)


def _verify_pair(
    doc: dict[str, Any], raw_receipt: Any, ctx: VerifyContext, policy: Mapping[str, Check] | None
) -> Report:
    receipt = None
    if raw_receipt is not None:
        try:
            receipt = Receipt.from_dict(raw_receipt)
        except ReceiptError as exc:
            why = str(exc).removeprefix("malformed receipt: ")
            return _malformed(
                f"the ledger receipt cannot be read: {why}",
                kind="json",
                zh="存证回执格式错误（数字须为整数，内容不完整或被改动），无法核验",
            )
    kind = "sealed"
    fields = doc.get("fields")
    if isinstance(fields, dict):
        for e in fields.values():
            if isinstance(e, dict) and "value" not in e:
                kind = "disclosed"
                break
    return verify(doc, receipt, ctx, policy, kind=kind)


# ---- seals ---------------------------------------------------------------------------------


def verify_seal(
    seal_id: str,
    seal: SealState | None,
    certificate_pem: str | None,
    ctx: VerifyContext,
    seal_document: Mapping[str, Any] | None = None,
    picture_png: bytes | None = None,
) -> Report:
    """Verify a seal as of now: registered, certificate chains to the platform CA and is
    listed for the seal, status active, within validity, maker signature and picture intact."""
    from licence import ca, seals

    now = ctx.current_time()
    if seal is None:
        unknown = _r(
            "seal_registered",
            FAILED,
            "SEAL_UNKNOWN",
            f"seal {seal_id} is not registered on the platform",
            "印章未在平台登记",
        )
        return Report(TOTAL_FAILED, [unknown], "seal", seal_id)
    results = [_r("seal_registered", PASSED, "OK", f"seal of {seal.authority}", "印章已在平台登记")]
    cert: x509.Certificate | None = None
    if certificate_pem is None:
        results.append(
            _r(
                "seal_certificate",
                INDETERMINATE,
                "CERT_UNAVAILABLE",
                "no certificate for this seal here",
                "无印章证书",
            )
        )
    else:
        cert = x509.load_pem_x509_certificate(certificate_pem.encode())
        if not ctx.trust_roots:
            results.append(
                _r(
                    "seal_certificate",
                    INDETERMINATE,
                    "NO_TRUST_ANCHOR",
                    "no platform CA certificate to check against",
                    "缺少平台根证书",
                )
            )
        else:
            results.append(_chain(cert, now, ctx.trust_roots, ("the present time", "当前")))
        der_hash = hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()
        if seal.cert_sha256 and der_hash not in seal.cert_sha256:
            results.append(
                _r(
                    "seal_cert_listed",
                    FAILED,
                    "SEAL_CERT_MISMATCH",
                    "the certificate is not listed for this seal",
                    "证书不属于该印章",
                )
            )
    if seal.status == "active":
        results.append(_r("seal_status", PASSED, "OK", "seal is active", "印章状态正常"))
    else:
        _s, since = seal.status_at(now)
        day = since.date().isoformat() if since else "unknown date"
        results.append(
            _r(
                "seal_status",
                FAILED,
                "SEAL_REVOKED" if seal.status == "revoked" else "SEAL_SUSPENDED",
                f"seal is {seal.status} since {day}",
                f"印章{STATUS_ZH.get(seal.status, seal.status)}（{day}）",
            )
        )
    if not (_utc(seal.valid_from) <= now < _utc(seal.valid_to)):
        results.append(
            _r(
                "seal_validity",
                FAILED,
                "SEAL_OUTSIDE_VALIDITY",
                f"seal valid {seal.valid_from.date()} to {seal.valid_to.date()}, not now",
                "印章不在有效期内",
            )
        )
    else:
        results.append(
            _r(
                "seal_validity",
                PASSED,
                "OK",
                f"valid until {seal.valid_to.date()}",
                f"印章有效期至{seal.valid_to.date()}",
            )
        )
    if seal_document is not None and cert is not None:
        maker = next((c for c in ctx.trust_roots if c.subject == cert.issuer), None)
        try:
            if maker is None:
                raise seals.SealError("the seal maker's certificate is not trusted here")
            seals.verify_seal_document(dict(seal_document), maker)
            results.append(
                _r("seal_document", PASSED, "OK", "seal maker signature verifies", "印章数据完整")
            )
        except seals.SealError as exc:
            results.append(
                _r("seal_document", FAILED, "SEAL_DATA_ALTERED", str(exc), "印章数据被篡改")
            )
    if picture_png is not None and cert is not None:
        try:
            certified = ca.seal_picture_hash(cert)
        except x509.ExtensionNotFound:
            certified = b""
        if hashlib.sha256(picture_png).digest() == certified:
            results.append(
                _r("seal_picture", PASSED, "OK", "picture is the certified one", "印章图片一致")
            )
        else:
            results.append(
                _r(
                    "seal_picture",
                    FAILED,
                    "PICTURE_MISMATCH",
                    "the seal picture is not the one its certificate certifies",
                    "印章图片与证书不符",
                )
            )
    return Report(
        _verdict(results),
        results,
        "seal",
        seal_id,
        {"authority": seal.authority, "status": seal.status},
    )
