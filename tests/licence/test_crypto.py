"""Standard vectors for the licence crypto, and what seals and certificates must bind."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID
from licence_fixtures import PROVINCE_MR

from licence import ca, document
from licence.seals import SealError, verify_seal_document
from licence.service import LicenceService
from licence.signers import SM2_SM3, SignatureError, Sm2Signer, verify
from schemas import licence_types

# GB/T 32918.5-2017 Annex A (standards.md §6)
SM2_D = "3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8"
SM2_K = "59276E27D506861A16680F3AD9C02DCCEF3CC1FA3CDBE4CE6D54B80DEAC1BC21"
SM2_R = "F5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3"
SM2_S = "B1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA"


def test_sm2_gbt32918_vector() -> None:
    signer = Sm2Signer(SM2_D)
    sig = signer.sign(b"message digest", k_hex=SM2_K)
    assert sig.hex().upper() == SM2_R + SM2_S
    verify(SM2_SM3, signer.public_key_bytes(), sig, b"message digest")
    with pytest.raises(SignatureError):
        verify(SM2_SM3, signer.public_key_bytes(), sig, b"message digesT")


def test_sm2_random_keys_round_trip() -> None:
    signer = Sm2Signer.generate()
    verify(SM2_SM3, signer.public_key_bytes(), signer.sign(b"licence"), b"licence")


def test_sm3_and_merkle_vectors() -> None:
    assert document.sm3(b"abc").hex() == (
        "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
    )
    # RFC 9162 / standards.md §8: empty tree and one empty leaf
    assert document.merkle_root([]).hex().startswith("e3b0c44298fc1c14")
    assert document.merkle_root([b""]).hex() == (
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    )


def test_hidden_field_keeps_root() -> None:
    fields = document.commit_fields({"a": "1", "b": "2", "c": "3"})
    root = document.document_digest(fields)
    red = document.disclose({"fields": fields}, ["b"])
    document.check_integrity(red["fields"], root, "sha256")
    assert red["disclosed"] == ["a", "c"]


def test_seal_certificate_binds_uscc_name_and_picture(service: LicenceService) -> None:
    row = service.create_seal(PROVINCE_MR)
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(row["cert_pem"].encode())
    subject = cert.subject
    assert subject.get_attributes_for_oid(NameOID.ORGANIZATION_IDENTIFIER)[0].value == (
        f"USCC-{PROVINCE_MR}"
    )
    assert subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == row["name"]
    png = service.objects.get(f"seals/{row['seal_id']}/picture.png")
    assert ca.seal_picture_hash(cert) == hashlib.sha256(png).digest()
    pca = service.platform_ca()
    cert.verify_directly_issued_by(pca.seal_ca)
    pca.seal_ca.verify_directly_issued_by(pca.root)
    import json

    seal_doc = json.loads(service.objects.get(f"seals/{row['seal_id']}/seal.json"))
    verify_seal_document(seal_doc, pca.seal_ca)
    seal_doc["sealInfo"]["property"]["name"] = "伪造印章"
    with pytest.raises(SealError):
        verify_seal_document(seal_doc, pca.seal_ca)


def test_seal_key_encrypted_at_rest(service: LicenceService) -> None:
    row = service.create_seal(PROVINCE_MR)
    path = service.keys.folder / f"{row['key_name']}.key.pem"  # type: ignore[attr-defined]
    pem = path.read_bytes()
    assert b"ENCRYPTED PRIVATE KEY" in pem
    with pytest.raises(TypeError):
        serialization.load_pem_private_key(pem, None)
    assert path.stat().st_mode & 0o077 == 0


def test_seal_status_transitions(service: LicenceService) -> None:
    row = service.create_seal(PROVINCE_MR)
    service.set_seal_status(row["seal_id"], "revoked", "key compromise")
    with pytest.raises(SealError):
        service.set_seal_status(row["seal_id"], "active")


def test_catalogue_types_and_field_checks() -> None:
    lt = licence_types.get("营业执照")
    assert lt.holder_kind == "entity"
    assert licence_types.get("professional_qualification").holder_kind == "person"
    with pytest.raises(licence_types.FieldError) as info:
        lt.check_fields({"established": "yesterday"})
    assert "address" in info.value.problems and "established" in info.value.problems


def test_canonical_matches_rfc8785_reference() -> None:
    import rfc8785

    tricky = {
        "中文": '证照\u2028\u0000\x1f\x7f"\\/é😀',
        "b": [1, -(2**53) + 1, True, None, {"z": "", "a": "\ufeff"}],
        "\ue000": "private use sorts after CJK in UTF-16",
        "big": 2**60,  # outside I-JSON: must go to the reference encoder (which refuses it)
    }
    small = {k: v for k, v in tricky.items() if k != "big"}
    assert document.canonical(small) == rfc8785.dumps(small)
    assert document.canonical({"x": 1.5}) == rfc8785.dumps({"x": 1.5})
    with pytest.raises(rfc8785.IntegerDomainError):
        document.canonical(tricky)
