"""Claim receipts (核验凭证): the sealed, logged statement of one answer set.

A receipt states who asked (client, purpose), about whom (a keyed hash of the subject's
normalised ID: HMAC-SHA256 under a hub secret, so the receipt names nobody, yet the hub can
tell whether a receipt is about a given person), which claims with which parameters, the
answers, as of which date, when, and the library runs the answers rested on. It has the shape
of a sealed licence (``licence.document``): every statement is a salted field digest, the fields'
Merkle root is in a small header, and the header is signed by the platform's verification seal
(数据核验专用章, a seal of the platform CA like an authority's). So ``licence.verify``'s checks
of integrity, seal signature, certificate chain and seal status apply to it unchanged; its
ledger entry (``claim.receipt``) is appended to the Merkle log and its inclusion proof checked
like a licence's.

:func:`seal_receipt` is pure given its signer; :func:`ensure_verification_seal` creates the
platform's seal once (key in the key store, certificate and row beside the authorities' seals).
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from licence import document
from licence.verify.claim_receipt import RECEIPT_EVENT, RECEIPT_FORMAT
from sharing.claims import Answer
from storage.keys import KeyStore

# the platform operating the hub: the holder of the verification seal
PLATFORM_USCC = "11340000MB0000000M"
PLATFORM_NAME = "省级数据共享交换平台"
SEAL_NAME = "数据核验专用章"
SEAL_ID = f"{PLATFORM_USCC}V001"
SEAL_KEY = f"seal-{SEAL_ID}"
SUBJECT_KEY_NAME = "claims-subject-hmac"
SEAL_YEARS = 5


class Signer(Protocol):
    def sign(self, data: bytes) -> bytes: ...


@dataclass(frozen=True)
class VerificationSeal:
    """What sealing a receipt needs: the seal's id, algorithm, certificate and signer."""

    seal_id: str
    algorithm: str
    certificate_pem: str
    signer: Signer


@dataclass(frozen=True)
class SealedReceipt:
    """A sealed receipt: its id, its JCS bytes (what is stored and served) and its ledger entry."""

    receipt_id: str
    data: bytes
    entry: bytes
    document_digest: str


def subject_key(keys: KeyStore) -> bytes:
    """The HMAC key of receipts' subject hashes, derived from a key-store key (encrypted at
    rest, created once), as the audit derives its own."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    if not keys.exists(SUBJECT_KEY_NAME):
        keys.save(SUBJECT_KEY_NAME, Ed25519PrivateKey.generate())
    key = keys.load(SUBJECT_KEY_NAME)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"key {SUBJECT_KEY_NAME!r} is not an Ed25519 key")
    raw = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    return HKDF(hashes.SHA256(), 32, salt=None, info=b"hub claim receipt subject v1").derive(raw)


@functools.lru_cache(maxsize=8)
def _keyed(key: bytes) -> hmac.HMAC:
    # a keyed HMAC made once and copied per subject: OpenSSL 3 looks the algorithm up again,
    # slowly, for every new HMAC (as the audit's subject hash notes)
    return hmac.new(key, digestmod=hashlib.sha256)


def subject_hash(key: bytes, subject: str) -> str:
    """The keyed hash of a normalised subject a receipt carries."""
    h = _keyed(key).copy()
    h.update(subject.encode())
    return h.hexdigest()


def new_receipt_id(now: dt.datetime) -> str:
    """``CR`` + the UTC day + 20 random hex digits: unguessable, sortable by day."""
    return f"CR{now:%Y%m%d}{secrets.token_hex(10).upper()}"


def iso(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def receipt_fields(
    client: str,
    purpose: str,
    subject_digest: str,
    answers: Sequence[Answer],
    as_of: dt.date,
    answered_at: dt.datetime,
) -> dict[str, Any]:
    """The statements a receipt seals (each becomes a salted field digest)."""
    runs: set[str] = set()
    for a in answers:
        runs |= a.runs
    return {
        "client": client,
        "purpose": purpose,
        "subject_hmac": subject_digest,
        "claims": [a.to_json() for a in answers],
        "as_of": as_of.isoformat(),
        "answered_at": iso(answered_at),
        "library_runs": sorted(runs),
    }


def seal_receipt(
    seal: VerificationSeal,
    fields: dict[str, Any],
    now: dt.datetime,
    receipt_id: str | None = None,
) -> SealedReceipt:
    """Salt and commit ``fields``, sign the header with the verification seal; returns the
    receipt's JCS bytes and its ledger entry."""
    rid = receipt_id or new_receipt_id(now)
    _committed, root, fields_jcs = document.seal_fields(fields)
    header = {
        "format": RECEIPT_FORMAT,
        "receipt_id": rid,
        "digest_alg": "sha256",
        "document_digest": root,
        "seal_id": seal.seal_id,
        "signed_at": iso(now),
    }
    header_jcs = document.canonical(header)
    signature = {
        "algorithm": seal.algorithm,
        "value": base64.b64encode(seal.signer.sign(header_jcs)).decode(),
        "certificate": seal.certificate_pem,
    }
    data = document.sealed_bytes(fields_jcs, header_jcs, signature)
    entry = document.canonical(
        {
            "event": RECEIPT_EVENT,
            "receipt_id": rid,
            "document_digest": root,
            "seal_id": seal.seal_id,
            "time": header["signed_at"],
        }
    )
    return SealedReceipt(rid, data, entry, root)


# ---- the platform's verification seal ------------------------------------------------------
class _Objects(Protocol):
    def put(self, key: str, data: bytes) -> bool: ...


class _SealStore(Protocol):
    def seal(self, seal_id: str) -> dict[str, Any] | None: ...

    def add_seal(self, **row: Any) -> None: ...


class _Log(Protocol):
    def append(self, data: bytes) -> int: ...


class SealHost(Protocol):
    """What creating the seal needs of the licence service (its stores, keys, log, CA)."""

    @property
    def store(self) -> _SealStore: ...

    @property
    def objects(self) -> _Objects: ...

    @property
    def keys(self) -> KeyStore: ...

    @property
    def ledger(self) -> _Log: ...

    def ensure_ca(self) -> Any: ...


def ensure_verification_seal(
    host: SealHost,
    now: dt.datetime | None = None,
    algorithm: str | None = None,
    wait: float = 30.0,
) -> VerificationSeal:
    """The platform's verification seal, created on first use: a key in the key store (ECDSA
    P-256, or SM2 under the national profile: ``algorithm``), a certificate of the platform seal
    CA, its row beside the authorities' seals (so online and offline verification find it) and
    a ``seal.create`` ledger entry. A seal made earlier keeps its own algorithm.

    Several ``hub serve`` processes may ask at once on a fresh hub: the one whose write-once
    key save succeeds creates the seal; the others wait (up to ``wait`` seconds) for its row
    and use that seal. A key without a row after that (a creation that died half-way) is an
    error naming the key, never a seal whose certificate does not match the stored key."""
    import time

    from cryptography.hazmat.primitives.asymmetric import ec

    from licence import ca, ltv, seals
    from licence.signers import ECDSA_P256

    row = host.store.seal(SEAL_ID)
    if row is None:
        pca = host.ensure_ca()
        now = now or dt.datetime.now(dt.UTC)
        ca_key = host.keys.load(ca.SEAL_CA_KEY)
        if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
            raise seals.SealError("the platform seal CA key is not an EC key")
        until = now + dt.timedelta(days=365 * SEAL_YEARS)
        made = seals.build_seal(
            SEAL_ID,
            PLATFORM_USCC,
            PLATFORM_NAME,
            SEAL_NAME,
            "verification",
            pca.seal_ca,
            ca_key,
            host.keys,
            now,
            until,
            algorithm or ECDSA_P256,
            # the OCSP responder and CRL of the configured LTV service (HUB_LTV_URL), if any
            revocation=ltv.seal_revocation_urls(getattr(host, "ltv_url", "")),
        )
        try:  # write-once: of several processes creating the seal, exactly one stores its key
            seals.save_seal_key(host.keys, SEAL_KEY, made)
        except Exception:
            if not host.keys.exists(SEAL_KEY):
                raise
            row = _created_elsewhere(host, time.monotonic() + wait)
        else:
            prefix = f"seals/{SEAL_ID}"
            cert_pem = ca.pem(made.certificate)
            host.objects.put(f"{prefix}/seal.json", document.canonical(made.document))
            host.objects.put(f"{prefix}/picture.png", made.png)
            host.objects.put(f"{prefix}/certificate.pem", cert_pem.encode())
            row = {
                "seal_id": SEAL_ID,
                "authority": PLATFORM_USCC,
                "name": SEAL_NAME,
                "algorithm": made.algorithm,
                "key_name": SEAL_KEY,
                "cert_pem": cert_pem,
                "picture_sha256": made.info.picture_sha256,
                "valid_from": now.replace(tzinfo=None),
                "valid_to": until.replace(tzinfo=None),
                "status": "active",
                "created_at": now.replace(tzinfo=None),
            }
            host.store.add_seal(**row)
            host.ledger.append(
                document.canonical(
                    {
                        "event": "seal.create",
                        "seal_id": SEAL_ID,
                        "authority": PLATFORM_USCC,
                        "certificate_sha256": made.info.cert_list[0],
                        "time": iso(now),
                    }
                )
            )
    signer = seals.load_signer(host.keys, str(row["key_name"]), str(row["algorithm"]))
    return VerificationSeal(SEAL_ID, str(row["algorithm"]), str(row["cert_pem"]), signer)


def _created_elsewhere(host: SealHost, deadline: float) -> dict[str, Any]:
    """The verification seal's row, which another process that stored the key is writing."""
    import time

    from licence import seals

    while True:
        row = host.store.seal(SEAL_ID)
        if row is not None:
            return row
        if time.monotonic() >= deadline:
            raise seals.SealError(
                f"the key {SEAL_KEY!r} of the platform's verification seal exists but the seal "
                f"{SEAL_ID} was never recorded (its creation stopped half-way): remove that key "
                "from the key store to create the seal again"
            )
        time.sleep(0.05)
