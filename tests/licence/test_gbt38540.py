"""GB/T 38540 SESeal and SES_Signature in DER: read back by OpenSSL, round trips, tampering."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from licence import ca, gbt38540, seals
from licence.signers import SM2_SM3, EcdsaP256Signer
from storage.keys import EncryptedFileKeyStore

DOCUMENT = b"<ofd:Signature>the signed file</ofd:Signature>"
PROPERTY = "/Doc_0/Signs/Sign_0/Signature.xml"
START = dt.datetime(2026, 1, 5, 8, 0, tzinfo=dt.UTC)
SIGNED_AT = dt.datetime(2026, 3, 1, 9, 30, 15, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Material:
    made: seals.CreatedSeal
    seal_ca: x509.Certificate
    root: x509.Certificate
    seal: bytes
    signature: bytes


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


@pytest.fixture(scope="module")
def material(tmp_path_factory: pytest.TempPathFactory) -> Material:
    keys = EncryptedFileKeyStore(tmp_path_factory.mktemp("keys"), "pass phrase")
    platform = ca.create_platform_ca(keys, START - dt.timedelta(days=1))
    maker_key = keys.load(ca.SEAL_CA_KEY)
    made = seals.build_seal(
        "SEAL-430000-1",
        "114300000000000001",
        "湖南省市场监督管理局",
        "电子证照专用章",
        "licence",
        platform.seal_ca,
        maker_key,
        keys,
        START,
        START + dt.timedelta(days=730),
        SM2_SM3,
    )
    seal = gbt38540.build_seal(
        seal_id="SEAL-430000-1",
        name="电子证照专用章",
        certs=[_der(made.certificate)],
        create_date=START,
        valid_start=START,
        valid_end=START + dt.timedelta(days=730),
        picture=made.png,
        picture_type="PNG",
        width_mm=42,
        height_mm=42,
        maker_cert=_der(platform.seal_ca),
        maker=EcdsaP256Signer(maker_key),
    )
    assert isinstance(made.key, seals.Sm2Signer)
    signature = gbt38540.sign_document(
        seal_der=seal,
        data=DOCUMENT,
        when=SIGNED_AT,
        property_info=PROPERTY,
        cert=_der(made.certificate),
        signer=made.key,
    )
    return Material(made, platform.seal_ca, platform.root, seal, signature)


def _openssl() -> str:
    path = shutil.which("openssl")
    assert path, "openssl (scripts/apt-packages.txt) is needed for the independent reading"
    return path


def _asn1parse(der: bytes, tmp: Path) -> list[tuple[int, int, int, int, str, str]]:
    """(offset, depth, header length, length, kind, text) of every item, as OpenSSL reads it."""
    path = tmp / "x.der"
    path.write_bytes(der)
    out = subprocess.run(
        [_openssl(), "asn1parse", "-inform", "DER", "-in", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    items = []
    pattern = r"\s*(\d+):d=(\d+)\s+hl=(\d+)\s+l=\s*(\d+)\s+(prim|cons):\s*(.*)"
    for line in out.splitlines():
        m = re.match(pattern, line)
        assert m, line
        off, depth, hl, length = (int(m.group(i)) for i in range(1, 5))
        items.append((off, depth, hl, length, m.group(5), m.group(6).strip()))
    return items


def _kind(text: str) -> str:
    return text.split(":")[0].replace("[HEX DUMP]", "").strip()


def _verify_all(der: bytes) -> None:
    sig = gbt38540.read_signature(der)
    gbt38540.verify_maker(sig.seal)
    gbt38540.verify_signer(sig)
    gbt38540.verify_data(sig, DOCUMENT)


def test_openssl_reads_the_seal_as_the_standard_lays_it_out(
    material: Material, tmp_path: Path
) -> None:
    """The SESeal, read by OpenSSL: the standard's field order, types and values."""
    items = _asn1parse(material.seal, tmp_path)
    kinds = [(d, _kind(text)) for _o, d, _h, _l, _k, text in items]
    # SESeal { SES_SealInfo { SES_Header {id, version, vid}, esID, property {...}, picture {...} },
    #          cert, signAlgID, signedValue }
    assert kinds == [
        (0, "SEQUENCE"),  # SESeal
        (1, "SEQUENCE"),  # SES_SealInfo
        (2, "SEQUENCE"),  # SES_Header
        (3, "IA5STRING"),  # id "ES"
        (3, "INTEGER"),  # version 4
        (3, "IA5STRING"),  # vid
        (2, "IA5STRING"),  # esID
        (2, "SEQUENCE"),  # SES_ESPropertyInfo
        (3, "INTEGER"),  # type
        (3, "UTF8STRING"),  # name
        (3, "INTEGER"),  # certListType
        (3, "SEQUENCE"),  # certList: CertInfoList
        (4, "OCTET STRING"),  # the signer certificate
        (3, "GENERALIZEDTIME"),  # createDate
        (3, "GENERALIZEDTIME"),  # validStart
        (3, "GENERALIZEDTIME"),  # validEnd
        (2, "SEQUENCE"),  # SES_ESPictrueInfo
        (3, "IA5STRING"),  # type
        (3, "OCTET STRING"),  # data
        (3, "INTEGER"),  # width
        (3, "INTEGER"),  # height
        (1, "OCTET STRING"),  # maker certificate
        (1, "OBJECT"),  # signAlgID
        (1, "BIT STRING"),  # signedValue
    ]
    texts = [text for *_rest, text in items]
    assert texts[3].endswith(":ES") and texts[4].endswith(":04")
    assert texts[6].endswith(":SEAL-430000-1")
    assert texts[9].endswith(":电子证照专用章")
    assert texts[14].endswith(":20260105080000Z")
    assert texts[17].endswith(":PNG") and texts[19].endswith(":2A")  # 42 mm
    assert texts[22].endswith(":ecdsa-with-SHA256")  # the platform seal maker's P-256 key


def test_openssl_reads_the_signature_with_the_national_algorithm(
    material: Material, tmp_path: Path
) -> None:
    items = _asn1parse(material.signature, tmp_path)
    top = [(_kind(text), text) for _o, d, _h, _l, _k, text in items if d == 1]
    assert [kind for kind, _ in top] == ["SEQUENCE", "OCTET STRING", "OBJECT", "BIT STRING"]
    assert top[2][1].endswith(":SM2-with-SM3")  # 1.2.156.10197.1.501
    tbs = [text for _o, d, _h, _l, _k, text in items if d == 2]
    assert tbs[0].endswith(":04")  # version
    assert tbs[1].startswith("SEQUENCE")  # the seal
    assert tbs[2].endswith(":20260301093015Z")  # timeInfo
    assert tbs[3].startswith("BIT STRING")  # dataHash
    assert tbs[4].endswith(":" + PROPERTY)


def test_openssl_verifies_the_sm2_signature(material: Material, tmp_path: Path) -> None:
    """OpenSSL checks the signer's SM2-with-SM3 signature over SEQUENCE{toSign, cert, alg}
    with the standard's default signer ID: an implementation that is not ours agrees."""
    sig = gbt38540.read_signature(material.signature)
    (tmp_path / "cert.der").write_bytes(sig.cert)
    (tmp_path / "data.der").write_bytes(sig.signed_data)
    (tmp_path / "sig.der").write_bytes(sig.signature)
    pub = subprocess.run(
        [_openssl(), "x509", "-inform", "DER", "-in", str(tmp_path / "cert.der"), "-pubkey"],
        capture_output=True,
        check=True,
    ).stdout
    (tmp_path / "pub.pem").write_bytes(pub.split(b"-----BEGIN CERTIFICATE")[0])
    common = [_openssl(), "pkeyutl", "-verify", "-pubin", "-inkey", str(tmp_path / "pub.pem")]
    common += ["-rawin", "-digest", "sm3", "-pkeyopt", "distid:1234567812345678"]
    ok = subprocess.run(
        [*common, "-in", str(tmp_path / "data.der"), "-sigfile", str(tmp_path / "sig.der")],
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0 and "Success" in ok.stdout, ok.stdout + ok.stderr
    (tmp_path / "data.der").write_bytes(sig.signed_data[:-1] + b"\x00")
    bad = subprocess.run(
        [*common, "-in", str(tmp_path / "data.der"), "-sigfile", str(tmp_path / "sig.der")],
        capture_output=True,
        text=True,
    )
    assert bad.returncode != 0


def test_round_trip(material: Material) -> None:
    seal = gbt38540.read_seal(material.seal)
    assert (seal.seal_id, seal.name, seal.vendor, seal.seal_type) == (
        "SEAL-430000-1",
        "电子证照专用章",
        "egov-hub",
        gbt38540.SEAL_TYPE_ORGANISATION,
    )
    assert seal.certs == (_der(material.made.certificate),)
    assert (seal.valid_start, seal.valid_end) == (START, START + dt.timedelta(days=730))
    assert (seal.picture, seal.picture_type, seal.width_mm) == (material.made.png, "PNG", 42)
    assert seal.maker_cert == _der(material.seal_ca)
    sig = gbt38540.read_signature(material.signature)
    assert sig.seal.der == material.seal
    assert (sig.time, sig.property_info, sig.algorithm) == (SIGNED_AT, PROPERTY, SM2_SM3)
    assert sig.data_hash == gbt38540.digest(SM2_SM3, DOCUMENT) and len(sig.data_hash) == 32
    assert sig.timestamp is None
    _verify_all(material.signature)


def test_every_field_tampered_is_caught(material: Material, tmp_path: Path) -> None:
    """Change one byte in each primitive field OpenSSL finds (header, ids, names, dates,
    certificates, picture, algorithms, hashes, both signatures): reading or verifying fails."""
    items = _asn1parse(material.signature, tmp_path)
    prims = [(off + hl, length) for off, _d, hl, length, kind, _t in items if kind == "prim"]
    assert len(prims) == 25  # 18 in the seal, 7 around it
    for start, length in prims:
        assert length > 0
        for pos in (start, start + length - 1):
            data = bytearray(material.signature)
            data[pos] ^= 0x01
            with pytest.raises(gbt38540.SesError):
                _verify_all(bytes(data))
    with pytest.raises(gbt38540.SesError, match="document was changed"):
        gbt38540.verify_data(gbt38540.read_signature(material.signature), DOCUMENT + b" ")


def test_non_der_and_trailing_bytes_are_refused(material: Material) -> None:
    with pytest.raises(gbt38540.SesError, match="not a DER SES_Signature"):
        gbt38540.read_signature(material.signature + b"\x00")
    # the same structure with a long-form length where DER needs the short one
    header = material.signature[:4]
    assert header[1] == 0x82
    body = material.signature[4:]
    longer = b"\x30\x83\x00" + header[2:] + body
    with pytest.raises(gbt38540.SesError, match="not a DER SES_Signature"):
        gbt38540.read_signature(longer)
    with pytest.raises(gbt38540.SesError, match="not a DER SESeal"):
        gbt38540.read_seal(b"\x30\x03\x02\x01\x04")
    assert not gbt38540.looks_like_signature(b"%PDF-1.7")
    assert gbt38540.looks_like_signature(material.signature)


def test_signer_outside_the_seal_is_refused(material: Material) -> None:
    """Only a certificate the seal lists may sign with it."""
    other = gbt38540.build_seal(
        seal_id="SEAL-OTHER",
        name="其他章",
        certs=[_der(material.seal_ca)],
        create_date=START,
        valid_start=START,
        valid_end=START + dt.timedelta(days=1),
        picture=b"<svg/>",
        picture_type="SVG",
        width_mm=40,
        height_mm=40,
        maker_cert=_der(material.seal_ca),
        maker=EcdsaP256Signer(ec.generate_private_key(ec.SECP256R1())),
    )
    assert isinstance(material.made.key, seals.Sm2Signer)
    with pytest.raises(gbt38540.SesError, match="not one of the seal's certificates"):
        gbt38540.sign_document(
            seal_der=other,
            data=DOCUMENT,
            when=SIGNED_AT,
            property_info=PROPERTY,
            cert=_der(material.made.certificate),
            signer=material.made.key,
        )
    # a maker signature by a key that is not the maker certificate's does not verify
    with pytest.raises(gbt38540.SesError, match="maker signature does not verify"):
        gbt38540.verify_maker(gbt38540.read_seal(other))
