"""Signing PDFs remotely: CSC clients (in-process or HTTP) and a pyHanko signer that calls them.

pyHanko computes the PAdES signed attributes (which carry the document digest); their SHA-256 is
the one hash the holder authorises (PIN + OTP → SAD) and the service signs (signHash). The private
key never reaches the client. :func:`verify_pdf` checks the embedded signatures with pyHanko
against the platform root and finds each signature's audit entry.
"""

from __future__ import annotations

import base64
import hashlib
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from asn1crypto import algos
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore

from ledger.merkle import leaf_hash
from ledger.receipt import Receipt, ReceiptError, verify_receipt
from licence.cloudsign.errors import CloudSignError, KeyAlgorithmNotSupportedError
from licence.cloudsign.oids import SM2_KEY_OID
from licence.cloudsign.service import CloudSignService

# asks the holder for (PIN, OTP), shown the hash they are about to authorise
Activation = Callable[[bytes], tuple[str, str]]


class CscClient(Protocol):
    """The CSC calls a remote signer needs."""

    def certificates(self, credential_id: str) -> list[bytes]:
        """DER certificates: the signer's first, then its chain."""
        ...

    def authorize(self, credential_id: str, pin: str, otp: str, digests: Sequence[bytes]) -> str:
        """credentials/authorize → SAD."""
        ...

    def sign_hash(self, credential_id: str, sad: str, digests: Sequence[bytes]) -> list[bytes]:
        """signatures/signHash → DER signatures."""
        ...


class LocalCsc:
    """The CSC calls made in-process on a :class:`CloudSignService` (CLI, tests, bench)."""

    def __init__(self, service: CloudSignService) -> None:
        self.service = service

    def certificates(self, credential_id: str) -> list[bytes]:
        info = self.service.info(credential_id)
        return [base64.b64decode(c) for c in info["cert"]["certificates"]]

    def authorize(self, credential_id: str, pin: str, otp: str, digests: Sequence[bytes]) -> str:
        return self.service.authorize(credential_id, pin, otp, digests).sad

    def sign_hash(self, credential_id: str, sad: str, digests: Sequence[bytes]) -> list[bytes]:
        return self.service.sign_hash(credential_id, sad, digests)


class CscHttpError(CloudSignError):
    """The remote service refused; ``code`` is its CSC error code."""

    def __init__(self, status: int, code: str, description: str) -> None:
        super().__init__(f"{code}: {description}")
        self.status = status
        self.code = code


class HttpCsc:
    """The CSC calls over HTTP (``client`` is an ``httpx.Client`` with the service base URL)."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.client.post(f"/csc/v2/{path}", json=body)
        data: dict[str, Any] = response.json()
        if response.status_code != 200:
            raise CscHttpError(
                response.status_code,
                str(data.get("error", "error")),
                str(data.get("error_description", data)),
            )
        return data

    def certificates(self, credential_id: str) -> list[bytes]:
        info = self._post(
            "credentials/info", {"credentialID": credential_id, "certificates": "chain"}
        )
        return [base64.b64decode(c) for c in info["cert"]["certificates"]]

    def authorize(self, credential_id: str, pin: str, otp: str, digests: Sequence[bytes]) -> str:
        body = {
            "credentialID": credential_id,
            "numSignatures": len(digests),
            "hashes": [base64.b64encode(d).decode() for d in digests],
            "authData": [{"id": "PIN", "value": pin}, {"id": "OTP", "value": otp}],
        }
        return str(self._post("credentials/authorize", body)["SAD"])

    def sign_hash(self, credential_id: str, sad: str, digests: Sequence[bytes]) -> list[bytes]:
        body = {
            "credentialID": credential_id,
            "SAD": sad,
            "hashes": [base64.b64encode(d).decode() for d in digests],
        }
        return [base64.b64decode(s) for s in self._post("signatures/signHash", body)["signatures"]]


class CscSigner(signers.Signer):
    """A pyHanko signer whose raw signature is authorised and made by a CSC service."""

    def __init__(self, client: CscClient, credential_id: str, activation: Activation) -> None:
        certs = [asn1_x509.Certificate.load(c) for c in client.certificates(credential_id)]
        spki = certs[0]["tbs_certificate"]["subject_public_key_info"]["algorithm"]
        if spki["algorithm"].native == "ec" and spki["parameters"].chosen.dotted == SM2_KEY_OID:
            # refused before any PIN prompt or authorisation: nothing is signed
            raise KeyAlgorithmNotSupportedError(
                f"credential {credential_id} holds an SM2 key: PDF signing (PAdES through "
                "pyHanko) has no SM2-with-SM3 signatures; sign PDFs with a standard-profile "
                "(ECDSA P-256) credential, or sign SM3 hashes through signatures/signHash"
            )
        super().__init__(
            signing_cert=certs[0],
            cert_registry=SimpleCertificateStore.from_certs(certs[1:]),  # type: ignore[no-untyped-call]
            signature_mechanism=algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"}),
        )
        self.client = client
        self.credential_id = credential_id
        self.activation = activation
        self.signed_digests: list[bytes] = []

    async def async_sign_raw(
        self, data: bytes, digest_algorithm: str, dry_run: bool = False
    ) -> bytes:
        if dry_run:
            return bytes(72)  # the longest DER ECDSA P-256 signature: reserves the space
        if digest_algorithm != "sha256":
            raise CloudSignError(f"digest {digest_algorithm} not supported; SHA-256 only")
        digest = hashlib.sha256(data).digest()
        pin, otp = self.activation(digest)
        sad = self.client.authorize(self.credential_id, pin, otp, [digest])
        signature = self.client.sign_hash(self.credential_id, sad, [digest])[0]
        self.signed_digests.append(digest)
        return signature


def sign_pdf(
    pdf: bytes,
    signer: CscSigner,
    field_name: str = "Signature1",
    reason: str = "本人签署 Signed by the holder",
    *,
    tsa_url: str | None = None,
    trust_roots: Sequence[x509.Certificate] = (),
) -> bytes:
    """PAdES B-B signature of ``pdf`` made remotely; the certificate chain is embedded. With
    ``tsa_url`` (the platform TSA, ``licence.ltv``) B-LTA: a signature time stamp, the
    validation data up to ``trust_roots`` in the document security store (fetched from the
    locations the certificates name, revocation required where they name one) and a document
    time stamp; the holder still authorises exactly one hash."""
    if tsa_url is not None:
        from licence.ltv import sign_pdf_ltv

        return sign_pdf_ltv(
            pdf, signer, trust_roots, tsa_url, None, archive=True, field_name=field_name,
            reason=reason,
        )  # fmt: skip
    meta = signers.PdfSignatureMetadata(
        field_name=field_name,
        md_algorithm="sha256",
        subfilter=fields.SigSeedSubFilter.PADES,
        reason=reason,
    )
    out = signers.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(pdf)), meta, signer=signer)
    return bytes(out.getvalue())


@dataclass(frozen=True)
class SignatureReport:
    field: str
    signer: str
    cloud_signature: bool  # signer certified by the platform's personal signing CA
    intact: bool
    valid: bool
    trusted: bool
    covers_whole_document: bool  # False for earlier revisions (e.g. the licence seal)
    changes_allowed: bool  # later revisions only add what the signature permits (pyHanko DocMDP)
    signed_digest: str  # SHA-256 of the signed attributes: the hash the holder authorised
    audit_entries: list[int]  # ledger entry ids of the authorisation and signature events
    # the audit records proven in the signed log: "proven", "pending" (not yet under a
    # checkpoint: run `hub ledger checkpoint`), "failed" (record and log disagree), "unchecked"
    ledger: str = "unchecked"

    @property
    def ok(self) -> bool:
        """Cryptographically sound, trusted, no disallowed later change, and — for a cloud
        signature — authorised and made through the audited service, whose records the log
        does not contradict."""
        sound = self.intact and self.valid and self.trusted and self.changes_allowed
        audited = bool(self.audit_entries) and self.ledger != "failed"
        return sound and (audited or not self.cloud_signature)


class LedgerProofs(Protocol):
    """The log's read side (ledger.service.LedgerService)."""

    hash_name: str

    def entry_index(self, entry_id: int) -> int | None: ...

    def receipt(self, index: int, size: int | None = None) -> Receipt | None: ...

    def verifier_key(self) -> str: ...


def ledger_status(records: Sequence[tuple[int, str]], ledger: LedgerProofs) -> str:
    """Check each (entry id, canonical record) against the log: inclusion under a checkpoint
    signed by the log key, and a leaf hash equal to the record's."""
    if not records:
        return "unchecked"
    status = "proven"
    for entry_id, record in records:
        index = ledger.entry_index(entry_id)
        receipt = ledger.receipt(index) if index is not None else None
        if receipt is None:
            status = "pending"
            continue
        if receipt.leaf_hash != leaf_hash(record.encode(), ledger.hash_name):
            return "failed"
        try:
            verify_receipt(receipt, [ledger.verifier_key()])
        except ReceiptError:
            return "failed"
    return status


def signed_attributes_digest(embedded: Any) -> bytes:
    """SHA-256 of the DER signed attributes (re-tagged as SET OF, as CMS signs them)."""
    der = embedded.signer_info["signed_attrs"].untag().dump(force=True)
    return hashlib.sha256(der).digest()


def verify_pdf(
    pdf: bytes,
    root: x509.Certificate,
    service: CloudSignService | None = None,
    ledger: LedgerProofs | None = None,
) -> list[SignatureReport]:
    """Validate every signature in ``pdf`` with pyHanko, trusting only ``root``; with the
    service, find each signature's audit records, and with the ledger, prove them in the log.
    Document time stamps (B-LTA) are not signatures: they are left to the AdES validation."""
    trust = asn1_x509.Certificate.load(root.public_bytes(serialization.Encoding.DER))
    signing_ca = (
        asn1_x509.Certificate.load(service.signing_ca().public_bytes(serialization.Encoding.DER))
        if service is not None
        else None
    )
    reader = PdfFileReader(io.BytesIO(pdf))
    reports = []
    for embedded in reader.embedded_signatures:
        if embedded.sig_object.get("/Type") == "/DocTimeStamp":
            continue  # a B-LTA archive time stamp (licence.ltv), no one's signature
        status = validate_pdf_signature(embedded, ValidationContext(trust_roots=[trust]))
        digest = signed_attributes_digest(embedded)
        rows = (
            [r for r in service.audit_for_hash(digest) if r["outcome"] == "ok"]
            if service is not None
            else []
        )
        entries = [int(r["entry_id"]) for r in rows if r["entry_id"] is not None]
        proven = (
            ledger_status([(int(r["entry_id"]), r["record"]) for r in rows], ledger)
            if ledger is not None and rows
            else "unchecked"
        )
        reports.append(
            SignatureReport(
                field=embedded.field_name,
                signer=status.signing_cert.subject.human_friendly,
                cloud_signature=signing_ca is not None
                and status.signing_cert.issuer == signing_ca.subject,
                intact=status.intact,
                valid=status.valid,
                trusted=status.trusted,
                covers_whole_document=status.coverage is not None
                and status.coverage.name == "ENTIRE_FILE",
                changes_allowed=status.docmdp_ok or status.modification_level is None,
                signed_digest=digest.hex(),
                audit_entries=entries,
                ledger=proven,
            )
        )
    return reports
