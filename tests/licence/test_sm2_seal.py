"""SM2 seals under the national profile: key custody, certificate, issuance and verification."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from asn1crypto import pem
from click.testing import CliRunner
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.x509.oid import NameOID
from licence_fixtures import BUSINESS_FIELDS, ENTITY_USCC, PROVINCE_MR, issue_by_cli

import hub.settings
from hub.cli import main
from hub.settings import Settings
from licence import ca
from licence.pdf import render_pdf
from licence.seals import SealError, load_signer
from licence.service import LicenceService, check_sealed
from licence.signers import SM2_SM3, SignatureError, Sm2Signer, certificate_key, verify
from storage.keys import EncryptedFileKeyStore, KeyStoreError, Sm2KeyFiles

# GB/T 32918.5-2017 Annex A (standards.md §6)
SM2_D = "3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8"
SM2_K = "59276E27D506861A16680F3AD9C02DCCEF3CC1FA3CDBE4CE6D54B80DEAC1BC21"
SM2_RS = (
    "F5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3"
    "B1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA"
)


def test_standard_vector_through_the_key_store(tmp_path: Path) -> None:
    """The Annex A key, stored encrypted and loaded back, still signs the standard r‖s."""
    store = EncryptedFileKeyStore(tmp_path / "keys", "correct horse")
    files = Sm2KeyFiles(store)
    signer = Sm2Signer(SM2_D)
    files.save("seal-vector", signer.private_bytes(), signer.public_key_bytes())
    loaded = Sm2Signer(files.load("seal-vector").hex())
    assert loaded.sign(b"message digest", k_hex=SM2_K).hex().upper() == SM2_RS
    # the file is the same kind as every other key: encrypted PKCS#8, 0600, write-once
    path = tmp_path / "keys" / "seal-vector.key.pem"
    blob = path.read_bytes()
    assert blob.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert path.stat().st_mode & 0o777 == 0o600
    scalar = bytes.fromhex(SM2_D)
    der = pem.unarmor(blob)[2]
    for form in (scalar, SM2_D.encode(), SM2_D.lower().encode(), base64.b64encode(scalar)):
        assert form not in blob and form not in der
    assert store.exists("seal-vector")
    with pytest.raises(KeyStoreError, match="never overwritten"):
        files.save("seal-vector", signer.private_bytes(), signer.public_key_bytes())
    with pytest.raises(KeyStoreError, match="wrong passphrase"):
        Sm2KeyFiles(EncryptedFileKeyStore(tmp_path / "keys", "wrong")).load("seal-vector")
    # an independent implementation reads it: OpenSSL 3 sees an SM2 key with the same point
    openssl = shutil.which("openssl")
    assert openssl, "openssl (scripts/apt-packages.txt) is needed for this cross-check"
    text = subprocess.run(
        [openssl, "pkey", "-in", str(path), "-passin", "pass:correct horse", "-noout", "-text"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "ASN1 OID: SM2" in text
    assert "09:f9:df:31" in text  # Annex A public key x begins 09F9DF31


def test_sm2_seal_certificate_and_key(service: LicenceService, settings: Settings) -> None:
    row = service.create_seal(PROVINCE_MR, algorithm=SM2_SM3)
    assert row["algorithm"] == SM2_SM3
    cert = x509.load_pem_x509_certificate(row["cert_pem"].encode())
    with pytest.raises(UnsupportedAlgorithm):
        cert.public_key()  # why the certificate is built and read with asn1crypto
    algorithm, point = certificate_key(cert)
    assert algorithm == SM2_SM3 and len(point) == 65
    # same bindings as a P-256 seal certificate, issued by the platform seal CA
    subject = cert.subject
    assert subject.get_attributes_for_oid(NameOID.ORGANIZATION_IDENTIFIER)[0].value == (
        f"USCC-{PROVINCE_MR}"
    )
    assert subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == row["name"]
    png = service.objects.get(f"seals/{row['seal_id']}/picture.png")
    assert ca.seal_picture_hash(cert) == hashlib.sha256(png).digest()
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    pca = service.platform_ca()
    cert.verify_directly_issued_by(pca.seal_ca)
    assert cert.not_valid_after_utc.replace(tzinfo=None) == row["valid_to"]
    # the private key is in the key folder, encrypted: no form of the scalar in the file
    key_file = settings.keys_path / f"{row['key_name']}.key.pem"
    blob = key_file.read_bytes()
    assert blob.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert key_file.stat().st_mode & 0o777 == 0o600
    signer = load_signer(service.keys, row["key_name"], SM2_SM3)
    assert signer.public_key_bytes() == point
    assert isinstance(signer, Sm2Signer)
    scalar = signer.private_bytes()
    der = pem.unarmor(blob)[2]
    for form in (scalar, scalar.hex().encode(), scalar.hex().upper().encode()):
        assert form not in blob and form not in der
    # an unknown algorithm in a seal row is a clear error, not a crash
    with pytest.raises(SealError):
        load_signer(service.keys, row["key_name"], "rsa")


def test_sm2_sealed_licence_issued_and_checked(service: LicenceService) -> None:
    from licence.issuance import Holder

    service.create_seal(PROVINCE_MR, algorithm=SM2_SM3)
    doc = service.issue(
        "business_licence",
        PROVINCE_MR,
        Holder(ENTITY_USCC, "长沙星辰餐饮有限公司"),
        BUSINESS_FIELDS,
    )
    assert doc["signature"]["algorithm"] == SM2_SM3
    check_sealed(doc)
    lid = doc["header"]["licence_id"]
    # byte-identical read-back, still verifying
    check_sealed(json.loads(service.raw(lid)))
    forged = json.loads(json.dumps(doc))
    forged["header"]["signed_at"] = "2020-01-01T00:00:00Z"
    with pytest.raises(SignatureError):
        check_sealed(forged)
    # the SM2 verifier refuses out-of-range r, s and points off the curve
    cert = x509.load_pem_x509_certificate(doc["signature"]["certificate"].encode())
    _alg, point = certificate_key(cert)
    with pytest.raises(SignatureError, match="r‖s"):
        verify(SM2_SM3, point, b"\x00" * 64, b"data")
    with pytest.raises(SignatureError, match="curve"):
        verify(SM2_SM3, point[:-1] + bytes([point[-1] ^ 1]), b"\x01" * 64, b"data")
    # a PAdES PDF cannot carry SM2: a clear refusal
    with pytest.raises(SealError, match="SM2"):
        render_pdf(service, lid, Path(".cache/fonts"))


@pytest.fixture
def national(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    s = settings.model_copy(update={"crypto_profile": "national"})
    monkeypatch.setattr(hub.settings, "_settings", s)
    return s


def test_cli_national_profile_issue_and_verify(national: Settings, tmp_path: Path) -> None:
    run = CliRunner()
    out = run.invoke(main, ["init"])
    assert out.exit_code == 0, out.output
    listing = run.invoke(main, ["seal", "list", "--authority", PROVINCE_MR]).output
    assert SM2_SM3 in listing and "active" in listing
    # --profile overrides the setting either way
    out = run.invoke(main, ["seal", "create", "--authority", PROVINCE_MR, "--profile", "national"])
    assert out.exit_code == 0 and SM2_SM3 in out.output, out.output
    lid = issue_by_cli(national.db_url, run)
    assert run.invoke(main, ["ledger", "checkpoint"]).exit_code == 0
    lic = tmp_path / "licence.json"
    out = run.invoke(main, ["trust", "receipt", lid, "-o", str(lic)])
    assert out.exit_code == 0, out.output
    obj = json.loads(lic.read_text())
    assert obj["licence"]["signature"]["algorithm"] == SM2_SM3

    ok = run.invoke(main, ["verify", str(lic)])
    assert ok.exit_code == 0 and "TOTAL_PASSED" in ok.output, ok.output
    assert "seal_signature" in ok.output and "seal_certificate" in ok.output

    # a changed signature: the SM2 check itself fails
    bad_sig = json.loads(lic.read_text())
    sig = bytearray(base64.b64decode(bad_sig["licence"]["signature"]["value"]))
    sig[10] ^= 0x01
    bad_sig["licence"]["signature"]["value"] = base64.b64encode(bytes(sig)).decode()
    (tmp_path / "bad-sig.json").write_text(json.dumps(bad_sig, ensure_ascii=False))
    out = run.invoke(main, ["verify", str(tmp_path / "bad-sig.json"), "--json"])
    assert out.exit_code == 1, out.output
    report = json.loads(out.stdout)
    assert report["verdict"] == "TOTAL_FAILED"
    failed = {r["check"]: r["reason"] for r in report["checks"] if r["status"] == "FAILED"}
    assert failed.get("seal_signature") == "SIG_CRYPTO_FAILURE", failed

    # a changed field value
    tampered = json.loads(lic.read_text())
    tampered["licence"]["fields"]["address"]["value"] = "北京市"
    (tmp_path / "tampered.json").write_text(json.dumps(tampered, ensure_ascii=False))
    out = run.invoke(main, ["verify", str(tmp_path / "tampered.json")])
    assert out.exit_code == 1 and "TOTAL_FAILED" in out.output, out.output

    # offline, from the signed trust bundle: the SM2 certificate chains there too
    bundle = tmp_path / "bundle.json"
    assert run.invoke(main, ["trust", "export", str(bundle)]).exit_code == 0
    assert run.invoke(main, ["trust", "install"]).exit_code == 0
    off = run.invoke(main, ["verify", str(lic), "--offline", "--trust", str(bundle)])
    assert off.exit_code == 0 and "TOTAL_PASSED" in off.output, off.output

    # the seal itself verifies (certificate listed, maker signature, picture)
    seal_id = json.loads(lic.read_text())["licence"]["header"]["seal_id"]
    out = run.invoke(main, ["verify", "--seal", seal_id])
    assert out.exit_code == 0, out.output

    # PAdES with SM2 is refused with the reason, nothing written
    pdf = tmp_path / "l.pdf"
    out = run.invoke(main, ["licence", "pdf", lid, "-o", str(pdf)])
    assert out.exit_code == 2 and "SM2" in out.output and not pdf.exists(), out.output


def test_openssl_and_gmssl_cross_check() -> None:
    """The two SM2 implementations agree: the standard vector, and each verifies the other."""
    from licence import sm2_openssl
    from licence.signers import sm2_backend, sm2_verify

    assert sm2_backend() == "openssl", "libcrypto.so.3 (openssl, scripts/apt-packages.txt)"
    vector = Sm2Signer(SM2_D, use_openssl=False).sign(b"message digest", k_hex=SM2_K)
    assert vector.hex().upper() == SM2_RS
    point = Sm2Signer(SM2_D).public_key_bytes()
    r, s = int(SM2_RS[:64], 16), int(SM2_RS[64:], 16)
    for use_openssl in (True, False):
        assert sm2_verify(point, r, s, vector, b"message digest", use_openssl=use_openssl)
        assert not sm2_verify(point, r, s, vector, b"message digesT", use_openssl=use_openssl)
    assert sm2_openssl.raw_signature(sm2_openssl.der_signature(r, s)) == vector

    fast = Sm2Signer.generate()
    slow = Sm2Signer(fast.private_hex, use_openssl=False)
    for signer, checker in ((fast, False), (slow, True)):  # signed by one, verified by the other
        sig = signer.sign(b"licence header")
        r, s = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
        key = signer.public_key_bytes()
        assert sm2_verify(key, r, s, sig, b"licence header", use_openssl=checker)
        assert not sm2_verify(key, r, s, sig, b"licence headeR", use_openssl=checker)
