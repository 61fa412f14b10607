"""The sealed PDF: PAdES signature by the seal chaining to the platform root, Chinese text, QR."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

from licence_fixtures import BUSINESS_FIELDS, ENTITY_USCC, PROVINCE_MR
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from licence.issuance import Holder
from licence.pdf import render_pdf
from licence.service import LicenceService


def test_pdf_is_pades_signed_by_the_seal(service: LicenceService, tmp_path: Path) -> None:
    from asn1crypto import x509 as asn1_x509
    from cryptography.hazmat.primitives import serialization

    service.create_seal(PROVINCE_MR)
    doc = service.issue(
        "business_licence",
        PROVINCE_MR,
        Holder(ENTITY_USCC, "长沙星辰餐饮有限公司"),
        BUSINESS_FIELDS,
    )
    lid = doc["header"]["licence_id"]
    data = render_pdf(service, lid, Path(".cache/fonts"))
    reader = PdfFileReader(io.BytesIO(data))
    sig = reader.embedded_signatures[0]
    assert sig.sig_object["/SubFilter"] == "/ETSI.CAdES.detached"
    root = service.platform_ca().root.public_bytes(serialization.Encoding.DER)
    status = validate_pdf_signature(
        sig, ValidationContext(trust_roots=[asn1_x509.Certificate.load(root)])
    )
    assert status.intact and status.valid and status.trusted
    assert "USCC-" + PROVINCE_MR in status.signing_cert.subject.human_friendly
    # tampering with the signed bytes breaks the signature
    bad = bytearray(data)
    at = bad.index(b"/MediaBox")
    bad[at + 12] = ord("9") if bad[at + 12] != ord("9") else ord("8")
    bad_sig = PdfFileReader(io.BytesIO(bytes(bad))).embedded_signatures[0]
    assert not validate_pdf_signature(bad_sig).intact
    if shutil.which("pdftotext"):
        out = tmp_path / "l.pdf"
        out.write_bytes(data)
        text = subprocess.run(
            ["pdftotext", str(out), "-"], capture_output=True, check=True, text=True
        ).stdout
        assert "营" in text and "长沙星辰餐饮有限公司" in text and lid in text.replace("\n", "")
