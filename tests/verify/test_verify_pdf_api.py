"""Sealed PDFs (PAdES via pyHanko, tied to their licence) and POST /v1/licences/verify."""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from verify_fixtures import anchors, result
from verify_world import World, make_service

from hub.settings import Settings
from licence.pdf import render_pdf
from licence.trust import export_bundle, offline_context, online_context
from licence.verify import FAILED, INDETERMINATE, TOTAL_FAILED, TOTAL_PASSED, verify_input

FONTS = Path(".cache/fonts")  # the subset font is shared with the licence tests


@pytest.fixture(scope="module")
def pdf_world(tmp_path_factory: pytest.TempPathFactory) -> World:
    home = tmp_path_factory.mktemp("pdfworld") / "hub"
    settings = Settings(home=home, key_passphrase="test-passphrase")
    settings.ensure_dirs()
    return World(make_service(settings), settings)


@pytest.fixture(scope="module")
def pdfs(pdf_world: World) -> dict[str, bytes]:
    svc = pdf_world.svc
    return {
        "valid": render_pdf(svc, pdf_world.valid, FONTS),
        "revoked": render_pdf(svc, pdf_world.revoked, FONTS),
    }


def _edited(pdf: bytes) -> bytes:
    """An incremental update after signing that replaces the page's text."""
    w = IncrementalPdfFileWriter(io.BytesIO(pdf))
    page = w.root["/Pages"]["/Kids"][0].get_object()
    page["/Contents"] = w.add_object(
        generic.StreamObject(stream_data=b"BT /F1 40 Tf 100 100 Td (FAKE) Tj ET")
    )
    w.update_container(page)
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


def test_valid_pdf_passes_and_is_tied_to_its_licence(pdf_world, pdfs) -> None:
    report = verify_input(pdfs["valid"], online_context(pdf_world.svc))
    assert report.verdict == TOTAL_PASSED, report.to_text()
    assert report.kind == "pdf" and report.licence_id == pdf_world.valid
    assert result(report, "pdf_licence").status == "PASSED"


def test_pdf_edited_after_signing(pdf_world, pdfs) -> None:
    report = verify_input(_edited(pdfs["valid"]), online_context(pdf_world.svc))
    r = result(report, "pdf_signature")
    assert (r.status, r.reason) == (FAILED, "PDF_MODIFIED"), report.to_text()


def test_pdf_bytes_changed_inside_signature(pdf_world, pdfs) -> None:
    pdf = pdfs["valid"]
    at = pdf.find(b"pyHanko")
    assert 0 < at < pdf.find(b"/ByteRange") + 2000
    flipped = pdf[:at] + b"PYHANKO" + pdf[at + 7 :]
    report = verify_input(flipped, online_context(pdf_world.svc))
    r = result(report, "pdf_signature")
    assert (r.status, r.reason) == (FAILED, "PDF_SIGNATURE_INVALID"), report.to_text()


def test_truncated_pdf(pdf_world, pdfs) -> None:
    report = verify_input(pdfs["valid"][:5000], online_context(pdf_world.svc))
    assert report.verdict == TOTAL_FAILED and report.checks[0].reason == "MALFORMED_INPUT"


def test_pdf_of_revoked_licence(pdf_world, pdfs) -> None:
    report = verify_input(pdfs["revoked"], online_context(pdf_world.svc))
    assert result(report, "pdf_signature").status == "PASSED"
    assert result(report, "status").reason == "REVOKED", report.to_text()


def test_pdf_tied_to_the_wrong_licence_fails(pdf_world, pdfs) -> None:
    """A genuine PDF presented as another licence: the QR code does not encode its digest."""
    ctx = online_context(pdf_world.svc)
    other = pdf_world.svc.document(pdf_world.spare)
    ctx = dataclasses.replace(
        ctx,
        document_of=lambda lid: {
            **other,
            "header": {**other["header"], "licence_id": lid},
            "signature": other["signature"],
        },
    )
    report = verify_input(pdfs["valid"], ctx)
    assert result(report, "pdf_licence").reason == "PDF_QR_MISMATCH", report.to_text()


def test_pdf_offline_needs_its_licence(pdf_world, pdfs) -> None:
    bundle = export_bundle(pdf_world.svc)
    ctx = offline_context(bundle, anchors(pdf_world.svc))
    alone = verify_input(pdfs["valid"], ctx)
    r = result(alone, "pdf_licence")
    assert (r.status, r.reason) == (INDETERMINATE, "PDF_LICENCE_UNAVAILABLE")
    assert result(alone, "pdf_signature").status == "PASSED"
    doc = pdf_world.svc.document(pdf_world.valid)
    with_doc = dataclasses.replace(
        ctx, document_of=lambda lid: doc if lid == pdf_world.valid else None
    )
    report = verify_input(pdfs["valid"], with_doc)
    assert result(report, "pdf_licence").status == "PASSED"
    assert not report.failed(), report.to_text()


# ---- HTTP ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def http(pdf_world: World):
    from hub.wiring import api_app

    app = api_app(pdf_world.svc_settings, background=False)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def test_api_verify_upload_json_qr_and_pdf(pdf_world, pdfs, http) -> None:
    from licence.pdf import qr_payload
    from licence.trust import licence_with_receipt

    bundle = licence_with_receipt(pdf_world.svc, pdf_world.valid)
    raw = json.dumps(bundle, ensure_ascii=False).encode()
    up = http.post("/v1/licences/verify", files={"file": ("licence.json", raw)})
    assert up.status_code == 200 and up.json()["verdict"] == TOTAL_PASSED, up.text
    body = http.post("/v1/licences/verify", json=bundle)
    assert body.json()["verdict"] == TOTAL_PASSED
    bundle["licence"]["fields"]["address"]["value"] = "北京市"
    bad = http.post("/v1/licences/verify", json=bundle).json()
    assert bad["verdict"] == TOTAL_FAILED and bad["sub_indication"] == "FIELD_ALTERED"
    qr = qr_payload(pdf_world.svc.document(pdf_world.revoked), pdf_world.svc.verification_url)
    rev = http.post("/v1/licences/verify", json={"qr": qr}).json()
    assert rev["sub_indication"] == "REVOKED"
    pdf = http.post(
        "/v1/licences/verify",
        content=pdfs["valid"],
        headers={"Content-Type": "application/pdf"},
    ).json()
    assert pdf["verdict"] == TOTAL_PASSED and pdf["kind"] == "pdf"
    trunc = http.post("/v1/licences/verify", files={"file": ("l.json", raw[:100])}).json()
    assert trunc["verdict"] == TOTAL_FAILED and trunc["checks"][0]["check"] == "format"
    empty = http.post("/v1/licences/verify", content=b"", headers={"Content-Type": "text/plain"})
    assert empty.status_code == 400
    assert empty.headers["content-type"].startswith("application/problem+json")


def test_pdf_sealed_after_seal_revocation(world) -> None:
    import time

    world.svc.set_seal_status(world.mr_seal["seal_id"], "revoked", "key lost")
    time.sleep(1.1)  # event times have one-second resolution
    pdf = render_pdf(world.svc, world.valid, FONTS)
    report = verify_input(pdf, online_context(world.svc))
    r = result(report, "pdf_seal")
    assert (r.status, r.reason) == (FAILED, "SEAL_REVOKED"), report.to_text()


def test_valid_pdf_names_its_seal(pdf_world, pdfs) -> None:
    report = verify_input(pdfs["valid"], online_context(pdf_world.svc))
    assert result(report, "pdf_seal").status == "PASSED"
    offline = verify_input(
        pdfs["valid"], offline_context(export_bundle(pdf_world.svc), anchors(pdf_world.svc))
    )
    assert result(offline, "pdf_seal").status == "PASSED"


def test_cli_offline_pdf_with_its_licence_file(pdf_world, pdfs, tmp_path, monkeypatch) -> None:
    from click.testing import CliRunner

    import hub.settings
    from hub.cli import main
    from licence.trust import licence_with_receipt

    monkeypatch.setattr(hub.settings, "_settings", pdf_world.svc_settings)
    bundle = tmp_path / "bundle.json"
    bundle.write_text(json.dumps(export_bundle(pdf_world.svc), ensure_ascii=False))
    companion = tmp_path / "licence.json"
    pair = json.dumps(licence_with_receipt(pdf_world.svc, pdf_world.valid), ensure_ascii=False)
    companion.write_bytes(b"\xef\xbb\xbf" + pair.encode())  # a BOM: read as `hub verify` reads
    doubled = tmp_path / "doubled.json"
    doubled.write_text(pair.replace('"licence": {', '"licence": {}, "licence": {', 1))
    pdf = tmp_path / "licence.pdf"
    pdf.write_bytes(pdfs["valid"])
    runner = CliRunner()
    assert runner.invoke(main, ["trust", "install"]).exit_code == 0
    base = ["verify", str(pdf), "--offline", "--trust", str(bundle)]
    alone = runner.invoke(main, base)
    assert alone.exit_code == 2 and "PDF_LICENCE_UNAVAILABLE" in alone.output, alone.output
    refused = runner.invoke(main, [*base, "--licence", str(doubled)])
    assert refused.exit_code == 2 and "duplicate key 'licence'" in refused.output
    both = runner.invoke(main, [*base, "--licence", str(companion)])
    assert both.exit_code == 0 and "TOTAL_PASSED" in both.output, both.output


def test_modified_pdf_report_without_library_noise(pdf_world, pdfs, capfd, monkeypatch) -> None:
    """pyHanko logs a traceback for a PDF modified after signing; the report says it all."""
    import logging

    # as on the command line: no handler configured, so Python's last resort prints to stderr
    monkeypatch.setattr(logging.getLogger(), "handlers", [])
    edited, flipped = _edited(pdfs["valid"]), pdfs["valid"].replace(b"pyHanko", b"PYHANKO", 1)
    for pdf in (edited, flipped):
        report = verify_input(pdf, online_context(pdf_world.svc))
        assert result(report, "pdf_signature").status == FAILED
    err = capfd.readouterr().err
    assert "Traceback" not in err and "pyhanko" not in err.lower(), err
