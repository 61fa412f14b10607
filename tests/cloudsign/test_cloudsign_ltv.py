"""`hub cloudsign sign --ltv`: the citizen's cloud signature at PAdES B-LTA, its validation data
gathered from the platform's TSA/OCSP/CRL service (`hub licence ltv-serve`) that the person's
certificate names."""

from __future__ import annotations

import base64
import io
import socket
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from click.testing import CliRunner
from cloudsign_fixtures import PERSON_ID, PIN, blank_pdf
from cryptography import x509

import hub.settings
from hub.cli import main
from hub.settings import Settings
from licence import ltv
from licence.cloudsign import totp
from storage.library import LibraryStore, engine_for


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_sign_ltv_from_the_command_line(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from asn1crypto import ocsp as asn1_ocsp
    from pyhanko.pdf_utils.reader import PdfFileReader

    from hub.commands.licence import open_service

    monkeypatch.delenv("HUB_TSA_URL", raising=False)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    configured = settings.model_copy(update={"ltv_url": url})  # HUB_LTV_URL
    monkeypatch.setattr(hub.settings, "_settings", configured)
    run = CliRunner()
    assert run.invoke(main, ["init"]).exit_code == 0
    LibraryStore(engine_for(settings.db_url)).merge(
        "population", "r1", "police.residents", datetime.now(UTC), [PERSON_ID], {"name": ["张三"]}
    )
    srv = ltv.server(ltv.authority_of(open_service(configured), url), port=port)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        out = run.invoke(main, ["cloudsign", "enrol", PERSON_ID], input=f"{PIN}\n{PIN}\n")
        assert out.exit_code == 0, out.output
        credential = out.output.split("credential: ")[1].split()[0]
        uri = next(line for line in out.output.splitlines() if line.startswith("otpauth://"))
        secret = parse_qs(urlparse(uri).query)["secret"][0]
        key = base64.b32decode(secret + "=" * (-len(secret) % 8))
        pdf, signed = tmp_path / "letter.pdf", tmp_path / "letter.signed.pdf"
        pdf.write_bytes(blank_pdf())
        sign = ["cloudsign", "sign", str(pdf), "--credential", credential, "-o", str(signed)]
        refused = run.invoke(main, [*sign, "--ltv"])
        assert refused.exit_code != 0 and "--tsa" in refused.output and not signed.exists()
        out = run.invoke(
            main,
            [*sign, "--ltv", "--tsa", f"{url}/tsa"],
            input=f"{PIN}\n{totp.totp(key, time.time())}\n",
        )
        assert out.exit_code == 0, out.output
        reader = PdfFileReader(io.BytesIO(signed.read_bytes()))
        kinds = [s.sig_object.get("/Type") for s in reader.embedded_signatures]
        assert kinds == ["/Sig", "/DocTimeStamp"]
        # the person's status, as the responder the certificate names told it, is in the DSS
        person = x509.load_der_x509_certificate(reader.embedded_signatures[0].signer_cert.dump())
        answers = [
            asn1_ocsp.OCSPResponse.load(o.get_object().data) for o in reader.root["/DSS"]["/OCSPs"]
        ]
        serials = [
            r["cert_id"]["serial_number"].native
            for a in answers
            for r in a.basic_ocsp_response["tbs_response_data"]["responses"]
        ]
        assert person.serial_number in serials
        check = run.invoke(main, ["cloudsign", "verify", str(signed)])
        assert check.exit_code == 0 and '"ok": true' in check.output, check.output
    finally:
        srv.shutdown()
        srv.server_close()


def test_sign_ltv_with_the_service_down_says_so_before_any_authorisation(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The person's certificate names a responder nobody answers at: the command stops with
    the reason, names no one, and never asks for the PIN (nothing is authorised or signed)."""
    url = f"http://127.0.0.1:{_free_port()}"  # nothing listens there
    monkeypatch.setattr(hub.settings, "_settings", settings.model_copy(update={"ltv_url": url}))
    run = CliRunner()
    assert run.invoke(main, ["init"]).exit_code == 0
    LibraryStore(engine_for(settings.db_url)).merge(
        "population", "r1", "police.residents", datetime.now(UTC), [PERSON_ID], {"name": ["张三"]}
    )
    out = run.invoke(main, ["cloudsign", "enrol", PERSON_ID], input=f"{PIN}\n{PIN}\n")
    credential = out.output.split("credential: ")[1].split()[0]
    pdf, signed = tmp_path / "letter.pdf", tmp_path / "letter.signed.pdf"
    pdf.write_bytes(blank_pdf())
    out = run.invoke(
        main,
        ["cloudsign", "sign", str(pdf), "--credential", credential, "-o", str(signed),
         "--ltv", "--tsa", f"{url}/tsa"],
    )  # fmt: skip
    assert out.exit_code == 2 and "HUB_LTV_URL" in out.output, out.output
    assert "authorising" not in out.output and "PIN" not in out.output
    assert "张三" not in out.output and PERSON_ID[-4:] not in out.output
    assert not signed.exists()
