"""Write the tamper vectors under ``tests/vectors/``: a small platform, its trust bundle and
anchors, and one file per forgery, alteration or malformation, named by what was done.

Run ``.venv/bin/python tests/vectors/make_vectors.py`` from the repository root; it replaces
the folder's content (``platform/``, ``trust/``, ``licence/``, ``receipt/``, ``checkpoint/``,
``bundle/``, ``qr/``, ``pdf/`` and ``expected.json``). ``test_vectors.py`` then verifies every
file online (against ``platform/``) and offline (against ``trust/bundle.json`` with the anchor
in ``trust/anchors.json``) and asserts the verdict and the first failing check and reason
written here by hand in ``RECIPES`` (never computed from what the verifier says).
"""

from __future__ import annotations

import base64
import copy
import json
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests" / "verify")]

PASSPHRASE = "vectors-passphrase"  # a test platform's key store (never a real one)
PASS = "TOTAL_PASSED"
KINDS = ("licence", "receipt", "checkpoint", "bundle", "qr", "pdf")

Expect = str | tuple[str, str, str]  # PASS, or (check, status, reason) of the first non-pass


def _dump(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, indent=1).encode() + b"\n"


class Maker:
    """The platform the vectors are made on, and the genuine files they start from."""

    def __init__(self, home: Path) -> None:
        from verify_world import World, make_service

        from hub.settings import Settings
        from licence.trust import export_bundle, licence_with_receipt
        from licence.trust_anchors import TrustAnchors, own_anchor

        self.settings = Settings(home=home, key_passphrase=PASSPHRASE)
        self.settings.ensure_dirs()
        self.world = World(make_service(self.settings), self.settings)
        self.svc = self.world.svc
        self._seals_and_versions()
        self.pair = {
            name: licence_with_receipt(self.svc, lid)
            for name, lid in (
                ("valid", self.world.valid),
                ("revoked", self.world.revoked),
                ("suspended", self.world.suspended),
                ("spare", self.world.spare),
                ("superseded", self.superseded),
                ("qualification", self.qualification),
            )
        }
        self.bundle = json.loads(json.dumps(export_bundle(self.svc)))
        self.anchors = TrustAnchors((own_anchor(self.svc),))
        # revoked after the bundle was exported: offline passes "as of" the bundle only
        self.svc.revoke(self.world.spare, "FRAUD", "以欺骗手段取得")
        self.svc.ledger.sequence()

    def _seals_and_versions(self) -> None:
        """Seals revoked, suspended and expired, and a superseded licence: before the bundle
        is exported, so it carries them."""
        import datetime as dt

        from verify_fixtures import BUSINESS_FIELDS, ENTITY_NAME, ENTITY_USCC, PROVINCE_HR
        from verify_fixtures import PROVINCE_MR as MR

        from licence.issuance import Holder
        from licence.receipts import ledger_receipts

        svc = self.svc
        past = dt.datetime.now(dt.UTC) - dt.timedelta(days=800)
        self.expired_seal = svc.create_seal(PROVINCE_HR, name="旧章", years=1, now=past)
        self.revoked_seal = svc.create_seal(MR, name="作废章")
        svc.set_seal_status(self.revoked_seal["seal_id"], "revoked", "key compromised")
        self.suspended_seal = svc.create_seal(MR, name="暂停章")
        svc.set_seal_status(self.suspended_seal["seal_id"], "suspended", "audit")
        old = svc.issue("business_licence", MR, Holder(ENTITY_USCC, ENTITY_NAME), BUSINESS_FIELDS)
        self.superseded = old["header"]["licence_id"]
        self.qualification = svc.issue(
            "professional_qualification",
            PROVINCE_HR,
            Holder(self.world.person_id, "张三"),
            self.world.qualification_fields,
            dt.date.today() + dt.timedelta(days=30),
        )["header"]["licence_id"]
        svc.ledger.sequence()
        svc.attach_receipts(ledger_receipts(svc.ledger))
        svc.change(self.superseded, {"address": "湖南省长沙市天心区"}, "迁址")
        svc.ledger.sequence()

    def valid(self) -> dict[str, Any]:
        return copy.deepcopy(self.pair["valid"])


def _bytes(obj: Any) -> bytes:
    return obj if isinstance(obj, bytes) else _dump(obj)


# ---- recipes: file name -> (make, expected online, expected offline) ------------------------
Recipe = tuple[Callable[[Maker], Any], Expect, Expect]


def _set(path: list[str], value: Any) -> Callable[[Maker], Any]:
    def make(m: Maker) -> Any:
        b = m.valid()
        node = b
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
        return b

    return make


def _receipt_text(field: str, literal: str) -> Callable[[Maker], bytes]:
    """The valid pair with one receipt member written as ``literal`` (JSON text)."""

    def make(m: Maker) -> bytes:
        b = m.valid()
        b["receipt"][field] = "@@HERE@@"
        return _dump(b).replace(b'"@@HERE@@"', literal.encode())

    return make


def _bom(m: Maker) -> bytes:
    return b"\xef\xbb\xbf" + _dump(m.valid())


def _disclosed(m: Maker) -> Any:
    from licence import document

    b = m.valid()
    b["licence"] = document.disclose(b["licence"], ["address", "legal_representative"])
    return b


def _field_value(m: Maker) -> Any:
    b = m.valid()
    b["licence"]["fields"]["legal_representative"]["value"] = "李四"
    return b


def _hidden_digest(m: Maker) -> Any:
    b = _disclosed(m)
    b["licence"]["fields"]["address"]["digest"] = "00" * 32
    return b


def _field_added(m: Maker) -> Any:
    from licence import document

    b = m.valid()
    b["licence"]["fields"].update(document.commit_fields({"备注": "无违法记录"}))
    return b


def _field_removed(m: Maker) -> Any:
    b = m.valid()
    del b["licence"]["fields"]["business_scope"]
    return b


def _signature_value(m: Maker) -> Any:
    b = m.valid()
    raw = bytearray(base64.b64decode(b["licence"]["signature"]["value"]))
    raw[-1] ^= 1
    b["licence"]["signature"]["value"] = base64.b64encode(bytes(raw)).decode()
    return b


def _swapped_certificate(m: Maker) -> Any:
    b = m.valid()
    b["licence"]["signature"]["certificate"] = m.world.hr_seal["cert_pem"]
    return b


def _other_authority(m: Maker) -> Any:
    from verify_fixtures import resign

    b = m.valid()
    seal = m.world.hr_seal
    b["licence"] = resign(m.svc, b["licence"], seal, seal_id=seal["seal_id"])
    return b


def _rogue_ca(m: Maker) -> Any:
    """A complete forgery: a platform CA of the forger's, a seal certificate from it for the
    issuing authority, a fresh licence sealed with it (no receipt: nothing logged it)."""
    import datetime as dt

    from cryptography.hazmat.primitives.asymmetric import ec
    from verify_fixtures import BUSINESS_FIELDS

    from licence import document
    from licence.signers import EcdsaP256Signer

    genuine = m.valid()["licence"]
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _self_made_seal_cert(key, genuine)
    values = {n: e["value"] for n, e in genuine["fields"].items()}
    values.update(BUSINESS_FIELDS)
    fields = document.commit_fields(values)
    header = {
        **genuine["header"],
        "document_digest": document.document_digest(fields),
        "signed_at": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
    }
    sig = EcdsaP256Signer(key).sign(document.canonical(header))
    return {
        "header": header,
        "signature": {
            "algorithm": "ecdsa-p256-sha256",
            "value": base64.b64encode(sig).decode(),
            "certificate": cert,
        },
        "fields": fields,
    }


def _self_made_seal_cert(key: Any, genuine: dict[str, Any]) -> str:
    """A seal certificate with the genuine one's subject, issued by a CA the forger made."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    real = x509.load_pem_x509_certificate(genuine["signature"]["certificate"].encode())
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "平台根证书")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(real.subject)
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _bad_certificate_version(m: Maker) -> Any:
    """The seal certificate's version field says 15 (found by the fuzz target: cryptography
    raises InvalidVersion, which is no ValueError)."""
    b = m.valid()
    pem = b["licence"]["signature"]["certificate"]
    lines = pem.strip().splitlines()
    der = bytearray(base64.b64decode("".join(lines[1:-1])))
    at = der.find(bytes.fromhex("a003020102"))
    der[at + 4] = 0x0E
    body = base64.b64encode(bytes(der)).decode()
    chunks = [body[i : i + 64] for i in range(0, len(body), 64)]
    b["licence"]["signature"]["certificate"] = "\n".join([lines[0], *chunks, lines[-1]]) + "\n"
    return b


def _as_shown(m: Maker) -> Any:
    b = m.valid()
    return {"document": b["licence"], "receipt": b["receipt"]}


def _resealed(seal: str, **header: str) -> Callable[[Maker], Any]:
    """The valid licence re-sealed with one of the platform's seals (its key, as a forger who
    holds it could), the header changed by ``header``; signed a few seconds from now."""

    def make(m: Maker) -> Any:
        import datetime as dt

        from verify_fixtures import resign

        row = getattr(m, seal) if hasattr(m, seal) else getattr(m.world, seal)
        later = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
        values = {"signed_at": later, **header}
        for key, value in values.items():
            if value == "@seal":
                values[key] = row["seal_id"]
        b = m.valid()
        b["licence"] = resign(m.svc, b["licence"], row, **values)
        return b

    return make


def _expired_seal_cert(m: Maker) -> Any:
    import datetime as dt

    from verify_fixtures import resign

    seal = m.expired_seal
    doc = m.svc.document(m.world.valid)
    signed_at = (dt.datetime.now(dt.UTC) - dt.timedelta(days=400)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"licence": resign(m.svc, doc, seal, seal_id=seal["seal_id"], signed_at=signed_at)}


def _forged_elsewhere(
    issuer: str, seal: str, serial: str = "20269999999"
) -> Callable[[Maker], Any]:
    """A licence that was never issued, sealed with a real seal (no receipt: never logged)."""

    def make(m: Maker) -> Any:
        import datetime as dt

        from verify_fixtures import forge

        from licence import document
        from schemas import licence_id

        values = document.values(m.svc.document(m.world.valid))
        issuer_code = getattr(m.world, issuer)["authority"] if issuer.endswith("seal") else issuer
        lid = licence_id.build(values["证照类型代码"], issuer_code, serial, 1)
        values["证照颁发机构代码"] = issuer_code
        now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {"licence": forge(m.svc, values, getattr(m.world, seal), lid, now)}

    return make


def _wrong_check_character(m: Maker) -> Any:
    b = m.valid()
    lid = b["licence"]["header"]["licence_id"]
    b["licence"]["header"]["licence_id"] = lid[:-1] + ("A" if lid[-1] != "A" else "B")
    return b


def _anchor(value: Any) -> Callable[[Maker], Any]:
    def make(m: Maker) -> Any:
        b = m.valid()
        if value == "next":
            b["receipt"]["anchor"]["reference"] = str(int(b["receipt"]["anchor"]["reference"]) + 1)
        else:
            b["receipt"]["anchor"] = value
        return b

    return make


def _duplicate_header_key(m: Maker) -> bytes:
    """The signed header names ``seal_id`` twice: one parser reads the first, one the last."""
    b = m.valid()
    text = _dump(b).decode()
    seal = b["licence"]["header"]["seal_id"]
    line = f'"seal_id": "{seal}"'
    assert line in text
    return text.replace(line, f'"seal_id": "{seal[:-1]}X",\n  {line}', 1).encode()


def _duplicate_field_value(m: Maker) -> bytes:
    b = m.valid()
    text = _dump(b).decode()
    value = b["licence"]["fields"]["legal_representative"]["value"]
    line = f'"value": "{value}"'
    assert line in text
    return text.replace(line, f'"value": "李四",\n     {line}', 1).encode()


def _licence_and_document(m: Maker) -> Any:
    b = m.valid()
    forged = _field_value(m)["licence"]
    return {"licence": b["licence"], "document": forged, "receipt": b["receipt"]}


def _wrapper_and_bare(m: Maker) -> Any:
    b = m.valid()
    forged = _field_value(m)["licence"]
    return {**forged, "licence": b["licence"], "receipt": b["receipt"]}


def _truncated(m: Maker) -> bytes:
    data = _dump(m.valid())
    return data[: len(data) // 2]


def _nan_value(m: Maker) -> bytes:
    b = m.valid()
    b["licence"]["fields"]["registered_capital"]["value"] = "@@HERE@@"
    return _dump(b).replace(b'"@@HERE@@"', b"NaN")


def _receipt_of(name: str) -> Callable[[Maker], Any]:
    return lambda m: copy.deepcopy(m.pair[name])


def _receipt_of_another(m: Maker) -> Any:
    b = m.valid()
    b["receipt"] = copy.deepcopy(m.pair["suspended"]["receipt"])
    return b


def _path_forged(m: Maker) -> Any:
    b = m.valid()
    b["receipt"]["path"][0] = "11" * 32
    return b


def _entry_forged(m: Maker) -> Any:
    from licence import document

    b = m.valid()
    entry = json.loads(bytes.fromhex(b["receipt"]["data"]))
    entry["time"] = "2000-01-01T00:00:00Z"
    b["receipt"]["data"] = document.canonical(entry).hex()
    return b


def _duplicate_receipt_key(m: Maker) -> bytes:
    b = m.valid()
    text = _dump(b).decode()
    line = f'"index": {b["receipt"]["index"]}'
    assert line in text
    return text.replace(line, f'"index": 0,\n  {line}', 1).encode()


def _note_lines(note: str) -> tuple[str, list[str]]:
    body, _, sigs = note.rpartition("\n\n")
    return body + "\n", sigs.splitlines()


def _extra_signature(m: Maker) -> Any:
    """A genuine checkpoint cosigned by a key nobody here knows (a witness): ignored."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from ledger.note import SIG_PREFIX, Signer

    b = m.valid()
    note = b["receipt"]["checkpoint"]
    body, _lines = _note_lines(note)
    witness = Signer("witness.example.org", Ed25519PrivateKey.from_private_bytes(bytes(32)))
    sig = base64.b64encode(witness.key_id + witness.sign(body.encode())).decode()
    b["receipt"]["checkpoint"] = note + f"{SIG_PREFIX}{witness.name} {sig}\n"
    return b


def _rogue_checkpoint(m: Maker) -> Any:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from ledger.note import Checkpoint, Signer, parse_note, sign_checkpoint

    b = m.valid()
    note = b["receipt"]["checkpoint"].encode()
    body, sigs = parse_note(note)
    rogue = Signer(sigs[0].name, Ed25519PrivateKey.from_private_bytes(b"\x07" * 32))
    b["receipt"]["checkpoint"] = sign_checkpoint(Checkpoint.from_note_body(body), rogue).decode()
    return b


def _forked_checkpoint(m: Maker) -> Any:
    from ledger.merkle import root_from_inclusion_proof
    from ledger.note import Checkpoint, Signer, parse_note, sign_checkpoint
    from ledger.service import LOG_KEY_NAME

    b = m.valid()
    r = b["receipt"]
    path = [bytes.fromhex(h) for h in r["path"]]
    path[-1] = b"\x42" * 32  # another history for the rest of the tree
    body, sigs = parse_note(r["checkpoint"].encode())
    cp = Checkpoint.from_note_body(body)
    root = root_from_inclusion_proof(r["index"], cp.size, bytes.fromhex(r["leaf_hash"]), path)
    signer = Signer(sigs[0].name, m.svc.keys.load(LOG_KEY_NAME))
    r["checkpoint"] = sign_checkpoint(Checkpoint(cp.origin, cp.size, root), signer).decode()
    r["path"] = [h.hex() for h in path]
    r.pop("anchor", None)
    return b


def _checkpoint_size(literal: str) -> Callable[[Maker], Any]:
    def make(m: Maker) -> Any:
        b = m.valid()
        body, lines = _note_lines(b["receipt"]["checkpoint"])
        origin, _size, root, *rest = body.split("\n")
        b["receipt"]["checkpoint"] = (
            "\n".join([origin, literal, root, *rest]) + "\n" + ("\n".join(lines) + "\n")
        )
        return b

    return make


# bundles: (bundle, licence vector it is used with)
def _bundle_resigned(m: Maker, drop_revocation: bool) -> dict[str, Any]:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from ledger.note import Signer, sign_note
    from licence.trust import SIGNATURE_KEY, _bundle_body

    b = copy.deepcopy(m.bundle)
    if drop_revocation:
        b["status"]["licences"].pop(m.world.revoked)
    rogue = Signer(b["origin"], Ed25519PrivateKey.from_private_bytes(b"\x09" * 32))
    b["log_keys"] = [rogue.vkey()]
    b[SIGNATURE_KEY] = sign_note(_bundle_body(b), [rogue]).decode()
    return b


def _bundle_revocation_deleted(m: Maker) -> Any:
    b = copy.deepcopy(m.bundle)
    b["status"]["licences"].pop(m.world.revoked)
    return b


def _bundle_unsigned(m: Maker) -> Any:
    from licence.trust import SIGNATURE_KEY

    b = copy.deepcopy(m.bundle)
    del b[SIGNATURE_KEY]
    return b


def _bundle_duplicate_key(m: Maker) -> bytes:
    text = _dump(m.bundle).decode()
    return text.replace(
        '"status": {', '"status": {"size": 0, "licences": {}},\n "status": {', 1
    ).encode()


def _bundle_status_size(m: Maker) -> bytes:
    b = copy.deepcopy(m.bundle)
    b["status"]["size"] = "@@HERE@@"
    return _dump(b).replace(b'"@@HERE@@"', b"1e400")


def _qr(kind: str) -> Callable[[Maker], bytes]:
    def make(m: Maker) -> bytes:
        from licence.pdf import qr_payload

        url = m.svc.verification_url
        doc = m.svc.document(m.world.valid)
        if kind == "valid":
            return qr_payload(doc, url).encode() + b"\n"
        if kind == "revoked":
            return qr_payload(m.svc.document(m.world.revoked), url).encode() + b"\n"
        if kind == "digest-mismatch":
            return f"{url}?id={m.world.valid}&d=sha256:{'ab' * 32}\n".encode()
        if kind == "unknown-licence":
            parts = m.world.valid.split(".")
            parts[7] = "20269999999"
            lid = ".".join(parts)
            return f"{url}?id={lid}&d=sha256:{'ab' * 32}\n".encode()
        if kind == "foreign-host":
            return qr_payload(doc, "https://hub-example.gov.cn.verify.example.com/verify").encode()
        raise ValueError(kind)

    return make


def _pdf(kind: str) -> Callable[[Maker], bytes]:
    def make(m: Maker) -> bytes:
        import io

        from pyhanko.pdf_utils import generic
        from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

        from licence.pdf import render_pdf

        lid = m.world.revoked if kind == "revoked" else m.world.valid
        pdf = render_pdf(m.svc, lid, REPO / ".cache" / "fonts")
        if kind in ("valid", "revoked"):
            return pdf
        if kind == "changed-inside-signature":
            return pdf.replace(b"pyHanko", b"PYHANKO", 1)
        if kind == "truncated":
            return pdf[: len(pdf) // 2]
        w = IncrementalPdfFileWriter(io.BytesIO(pdf))
        page = w.root["/Pages"]["/Kids"][0].get_object()
        page["/Contents"] = w.add_object(
            generic.StreamObject(stream_data=b"BT /F1 40 Tf 100 100 Td (FAKE) Tj ET")
        )
        w.update_container(page)
        out = io.BytesIO()
        w.write(out)
        return out.getvalue()

    return make


F, IND = "FAILED", "INDETERMINATE"
PROVINCE_HR_CODE = (
    "114300000061427127"  # 湖南省人力资源和社会保障厅 (may not issue business licences)
)
ENTITY_CODE = "91430100MA4L12346D"  # a company (verify_fixtures.ENTITY_USCC), not an authority
MALFORMED = ("format", F, "MALFORMED_INPUT")
NO_QR_OFFLINE = ("qr_lookup", IND, "QR_LOOKUP_UNAVAILABLE")

RECIPES: dict[str, Recipe] = {
    # ---- licences (with their receipt, as `hub trust receipt` writes them) ----
    "licence/valid.json": (lambda m: m.valid(), PASS, PASS),
    "licence/valid-with-utf8-bom.json": (_bom, PASS, PASS),
    "licence/disclosed-with-receipt.json": (_disclosed, PASS, PASS),
    "licence/bare-without-receipt.json": (
        lambda m: m.valid()["licence"],
        PASS,
        ("ledger_inclusion", IND, "NO_RECEIPT"),
    ),
    "licence/as-hub-licence-show-prints-it.json": (_as_shown, PASS, PASS),
    "licence/certificate-version-invalid.json": (
        _bad_certificate_version,
        ("seal_signature", F, "SIG_MALFORMED"),
        ("seal_signature", F, "SIG_MALFORMED"),
    ),
    "licence/field-value-changed.json": (
        _field_value,
        ("integrity", F, "FIELD_ALTERED"),
        ("integrity", F, "FIELD_ALTERED"),
    ),
    "licence/hidden-field-digest-changed.json": (
        _hidden_digest,
        ("integrity", F, "DIGEST_MISMATCH"),
        ("integrity", F, "DIGEST_MISMATCH"),
    ),
    "licence/field-added.json": (
        _field_added,
        ("integrity", F, "DIGEST_MISMATCH"),
        ("integrity", F, "DIGEST_MISMATCH"),
    ),
    "licence/field-removed.json": (
        _field_removed,
        ("integrity", F, "DIGEST_MISMATCH"),
        ("integrity", F, "DIGEST_MISMATCH"),
    ),
    "licence/signed-header-changed.json": (
        _set(["licence", "header", "signed_at"], "2020-01-01T00:00:00Z"),
        ("seal_signature", F, "SIG_CRYPTO_FAILURE"),
        ("seal_signature", F, "SIG_CRYPTO_FAILURE"),
    ),
    "licence/signature-bit-flipped.json": (
        _signature_value,
        ("seal_signature", F, "SIG_CRYPTO_FAILURE"),
        ("seal_signature", F, "SIG_CRYPTO_FAILURE"),
    ),
    "licence/seal-certificate-swapped.json": (
        _swapped_certificate,
        ("seal_signature", F, "SIG_CRYPTO_FAILURE"),
        ("seal_signature", F, "SIG_CRYPTO_FAILURE"),
    ),
    "licence/resealed-by-another-authority.json": (
        _other_authority,
        ("authority", F, "SEAL_AUTHORITY_MISMATCH"),
        ("authority", F, "SEAL_AUTHORITY_MISMATCH"),
    ),
    "licence/forged-with-own-ca.json": (
        _rogue_ca,
        ("seal_certificate", F, "CHAIN_UNTRUSTED"),
        ("seal_certificate", F, "CHAIN_UNTRUSTED"),
    ),
    "licence/duplicate-key-in-signed-header.json": (
        _duplicate_header_key,
        ("format", F, "DUPLICATE_KEY"),
        ("format", F, "DUPLICATE_KEY"),
    ),
    "licence/duplicate-key-in-field.json": (
        _duplicate_field_value,
        ("format", F, "DUPLICATE_KEY"),
        ("format", F, "DUPLICATE_KEY"),
    ),
    "licence/licence-and-document-wrappers.json": (
        _licence_and_document,
        ("format", F, "AMBIGUOUS_INPUT"),
        ("format", F, "AMBIGUOUS_INPUT"),
    ),
    "licence/wrapper-beside-bare-licence.json": (
        _wrapper_and_bare,
        ("format", F, "AMBIGUOUS_INPUT"),
        ("format", F, "AMBIGUOUS_INPUT"),
    ),
    "licence/truncated.json": (_truncated, MALFORMED, MALFORMED),
    "licence/identifier-check-character-wrong.json": (
        _wrong_check_character,
        ("identifier", F, "ID_CHECKSUM"),
        ("identifier", F, "ID_CHECKSUM"),
    ),
    "licence/signature-not-base64.json": (
        _set(["licence", "signature", "value"], "!!not base64!!"),
        ("seal_signature", F, "SIG_MALFORMED"),
        ("seal_signature", F, "SIG_MALFORMED"),
    ),
    "licence/seal-id-names-another-seal.json": (
        _resealed("hr_seal"),
        ("seal_status", F, "SEAL_CERT_MISMATCH"),
        ("seal_status", F, "SEAL_CERT_MISMATCH"),
    ),
    "licence/seal-unregistered.json": (
        _resealed("mr_seal", seal_id="X" * 22),
        ("seal_status", F, "SEAL_UNKNOWN"),
        ("seal_status", F, "SEAL_UNKNOWN"),
    ),
    "licence/sealed-with-revoked-seal.json": (
        _resealed("revoked_seal", seal_id="@seal"),
        ("seal_status", F, "SEAL_REVOKED"),
        ("seal_status", F, "SEAL_REVOKED"),
    ),
    "licence/sealed-with-suspended-seal.json": (
        _resealed("suspended_seal", seal_id="@seal"),
        ("seal_status", F, "SEAL_SUSPENDED"),
        ("seal_status", F, "SEAL_SUSPENDED"),
    ),
    "licence/seal-certificate-expired-at-signing.json": (
        _expired_seal_cert,
        ("seal_certificate", F, "CERT_EXPIRED"),
        ("seal_certificate", F, "CERT_EXPIRED"),
    ),
    "licence/type-the-authority-may-not-issue.json": (
        _forged_elsewhere(PROVINCE_HR_CODE, "hr_seal"),
        ("authority", F, "TYPE_NOT_ALLOWED"),
        ("authority", F, "TYPE_NOT_ALLOWED"),
    ),
    "licence/issuer-unregistered.json": (
        _forged_elsewhere(ENTITY_CODE, "mr_seal"),
        ("authority", F, "AUTHORITY_UNREGISTERED"),
        ("authority", F, "AUTHORITY_UNREGISTERED"),
    ),
    "licence/never-issued.json": (
        _forged_elsewhere("mr_seal", "mr_seal", "20261234567"),
        ("status", F, "UNKNOWN_LICENCE"),
        ("ledger_inclusion", IND, "NO_RECEIPT"),
    ),
    "licence/superseded.json": (
        _receipt_of("superseded"),
        ("status", F, "SUPERSEDED"),
        ("status", F, "SUPERSEDED"),
    ),
    "licence/expired-by-2099.json": (
        _receipt_of("qualification"),
        ("validity_period", F, "EXPIRED"),
        ("validity_period", F, "EXPIRED"),
    ),
    "licence/not-a-licence.json": (lambda m: {"hello": "world"}, MALFORMED, MALFORMED),
    "licence/nan-field-value.json": (_nan_value, MALFORMED, MALFORMED),
    "licence/revoked.json": (
        _receipt_of("revoked"),
        ("status", F, "REVOKED"),
        ("status", F, "REVOKED"),
    ),
    "licence/suspended.json": (
        _receipt_of("suspended"),
        ("status", F, "SUSPENDED"),
        ("status", F, "SUSPENDED"),
    ),
    "licence/revoked-after-bundle-export.json": (
        _receipt_of("spare"),
        ("status", F, "REVOKED"),
        PASS,  # as of the bundle's checkpoint, and said so; stale bundles turn INDETERMINATE
    ),
    # ---- receipts: hostile numbers and forged proofs ----
    "receipt/index-1e400.json": (_receipt_text("index", "1e400"), MALFORMED, MALFORMED),
    "receipt/index-infinity.json": (_receipt_text("index", "Infinity"), MALFORMED, MALFORMED),
    "receipt/index-nan.json": (_receipt_text("index", "NaN"), MALFORMED, MALFORMED),
    "receipt/index-fraction.json": (_receipt_text("index", "2.7"), MALFORMED, MALFORMED),
    "receipt/index-whole-float.json": (_receipt_text("index", "2.0"), MALFORMED, MALFORMED),
    "receipt/index-string.json": (_receipt_text("index", '"2"'), MALFORMED, MALFORMED),
    "receipt/index-boolean.json": (_receipt_text("index", "true"), MALFORMED, MALFORMED),
    "receipt/index-negative.json": (_receipt_text("index", "-1"), MALFORMED, MALFORMED),
    "receipt/index-huge.json": (
        _receipt_text("index", "123456789012345678901234567890"),
        MALFORMED,
        MALFORMED,
    ),
    "receipt/anchor-size-infinity.json": (
        lambda m: _receipt_text(
            "anchor", '{"backend": "embedded", "reference": "1", "size": Infinity}'
        )(m),
        MALFORMED,
        MALFORMED,
    ),
    "receipt/path-not-a-list.json": (_set(["receipt", "path"], "11" * 32), MALFORMED, MALFORMED),
    "receipt/checkpoint-not-text.json": (
        _set(["receipt", "checkpoint"], {"size": 3}),
        MALFORMED,
        MALFORMED,
    ),
    "receipt/duplicate-key.json": (
        _duplicate_receipt_key,
        ("format", F, "DUPLICATE_KEY"),
        ("format", F, "DUPLICATE_KEY"),
    ),
    "receipt/anchor-of-another-checkpoint.json": (
        _anchor("next"),
        ("anchor", F, "ANCHOR_MISMATCH"),
        ("anchor", F, "ANCHOR_MISMATCH"),
    ),
    "receipt/anchor-on-unreachable-fabric.json": (
        _anchor({"backend": "fabric", "reference": "tx1", "size": 3, "block": 1}),
        ("anchor", IND, "ANCHOR_BACKEND_UNAVAILABLE"),
        ("anchor", IND, "ANCHOR_BACKEND_UNAVAILABLE"),
    ),
    "receipt/path-forged.json": (
        _path_forged,
        ("ledger_inclusion", F, "PROOF_INVALID"),
        ("ledger_inclusion", F, "PROOF_INVALID"),
    ),
    "receipt/entry-data-forged.json": (
        _entry_forged,
        ("ledger_inclusion", F, "PROOF_INVALID"),
        ("ledger_inclusion", F, "PROOF_INVALID"),
    ),
    "receipt/of-another-licence.json": (
        _receipt_of_another,
        ("ledger_inclusion", F, "ENTRY_MISMATCH"),
        ("ledger_inclusion", F, "ENTRY_MISMATCH"),
    ),
    # ---- checkpoints inside receipts ----
    "checkpoint/extra-signature-by-unknown-key.json": (_extra_signature, PASS, PASS),
    "checkpoint/signed-by-unknown-key.json": (
        _rogue_checkpoint,
        ("checkpoint", F, "CHECKPOINT_UNTRUSTED_KEY"),
        ("checkpoint", F, "CHECKPOINT_UNTRUSTED_KEY"),
    ),
    "checkpoint/forked.json": (
        _forked_checkpoint,
        ("checkpoint", F, "CHECKPOINT_FORK"),
        ("checkpoint", F, "CHECKPOINT_FORK"),
    ),
    "checkpoint/size-1e400.json": (
        _checkpoint_size("1e400"),
        ("ledger_inclusion", F, "PROOF_INVALID"),
        ("ledger_inclusion", F, "PROOF_INVALID"),
    ),
    "checkpoint/size-negative.json": (
        _checkpoint_size("-3"),
        ("ledger_inclusion", F, "PROOF_INVALID"),
        ("ledger_inclusion", F, "PROOF_INVALID"),
    ),
    # ---- trust bundles (offline only; verified with licence/valid.json unless named) ----
    "bundle/re-signed-by-forger.json": (
        lambda m: _bundle_resigned(m, False),
        "",
        ("trust_bundle", F, "BUNDLE_UNTRUSTED"),
    ),
    "bundle/revocation-deleted-and-re-signed.json": (
        lambda m: _bundle_resigned(m, True),
        "",
        ("trust_bundle", F, "BUNDLE_UNTRUSTED"),
    ),
    "bundle/revocation-deleted.json": (
        _bundle_revocation_deleted,
        "",
        ("trust_bundle", F, "BUNDLE_ALTERED"),
    ),
    "bundle/unsigned.json": (_bundle_unsigned, "", ("trust_bundle", F, "BUNDLE_UNSIGNED")),
    "bundle/duplicate-key.json": (
        _bundle_duplicate_key,
        "",
        ("trust_bundle", F, "BUNDLE_MALFORMED"),
    ),
    "bundle/status-size-1e400.json": (
        _bundle_status_size,
        "",
        ("trust_bundle", F, "BUNDLE_MALFORMED"),
    ),
    # ---- QR payloads (online look-ups; offline there is nothing to look up) ----
    "qr/valid.txt": (_qr("valid"), PASS, NO_QR_OFFLINE),
    "qr/revoked.txt": (_qr("revoked"), ("status", F, "REVOKED"), NO_QR_OFFLINE),
    "qr/digest-mismatch.txt": (
        _qr("digest-mismatch"),
        ("qr_lookup", F, "QR_NO_MATCH"),
        NO_QR_OFFLINE,
    ),
    "qr/unknown-licence.txt": (
        _qr("unknown-licence"),
        ("qr_lookup", F, "QR_NO_MATCH"),
        NO_QR_OFFLINE,
    ),
    "qr/foreign-host.txt": (
        _qr("foreign-host"),
        ("qr_host", F, "QR_FOREIGN_HOST"),
        ("qr_host", F, "QR_FOREIGN_HOST"),
    ),
    # ---- PDFs ----
    "pdf/valid.pdf": (_pdf("valid"), PASS, ("pdf_licence", IND, "PDF_LICENCE_UNAVAILABLE")),
    "pdf/edited-after-signing.pdf": (
        _pdf("edited"),
        ("pdf_signature", F, "PDF_MODIFIED"),
        ("pdf_signature", F, "PDF_MODIFIED"),
    ),
    "pdf/truncated.pdf": (_pdf("truncated"), MALFORMED, MALFORMED),
    "pdf/changed-inside-signature.pdf": (
        _pdf("changed-inside-signature"),
        ("pdf_signature", F, "PDF_SIGNATURE_INVALID"),
        ("pdf_signature", F, "PDF_SIGNATURE_INVALID"),
    ),
    "pdf/revoked.pdf": (_pdf("revoked"), ("status", F, "REVOKED"), ("status", F, "REVOKED")),
}
TODAY = {"licence/expired-by-2099.json": "2099-01-01"}  # verified as of that day
COMPANION = {  # a PDF verified offline with its licence file (`hub verify --licence`)
    "pdf/revoked.pdf": "licence/revoked.json",
}
WITH_LICENCE = {  # bundle vectors verified with another licence than licence/valid.json
    "bundle/revocation-deleted-and-re-signed.json": "licence/revoked.json",
    "bundle/revocation-deleted.json": "licence/revoked.json",
}


def _copy_database(source: Path, target: Path) -> None:
    """A consistent, compact copy of the platform's SQLite database (one file, no WAL)."""
    import sqlite3

    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    try:
        src.backup(dst)
        dst.execute("PRAGMA journal_mode=DELETE")
        dst.execute("PRAGMA page_size=4096")
        dst.execute("VACUUM")
    finally:
        src.close()
        dst.close()


def _expected(value: Expect) -> Any:
    return value if isinstance(value, str) else list(value)


def main() -> None:
    from licence.trust_anchors import save_anchors

    for kind in (*KINDS, "platform", "trust"):
        shutil.rmtree(HERE / kind, ignore_errors=True)
    with tempfile.TemporaryDirectory() as tmp:
        m = Maker(Path(tmp) / "hub")
        expected: dict[str, Any] = {}
        for name, (make, online, offline) in RECIPES.items():
            path = HERE / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(_bytes(make(m)))
            expected[name] = {
                "online": _expected(online) if online else None,
                "offline": _expected(offline),
                "with": WITH_LICENCE.get(name, "licence/valid.json")
                if name.startswith("bundle/")
                else None,
                "today": TODAY.get(name),
                "companion": COMPANION.get(name),
            }
        (HERE / "trust").mkdir()
        (HERE / "trust" / "bundle.json").write_bytes(_dump(m.bundle))
        save_anchors(HERE / "trust", m.anchors)
        platform = HERE / "platform"
        shutil.copytree(
            m.settings.home, platform, ignore=shutil.ignore_patterns("airflow", "hub.db*")
        )
        _copy_database(m.settings.sqlite_path, platform / "hub.db")
        (HERE / "expected.json").write_bytes(_dump(expected))
    print(f"wrote {len(RECIPES)} vectors under {HERE.relative_to(REPO)}")


if __name__ == "__main__":
    main()
