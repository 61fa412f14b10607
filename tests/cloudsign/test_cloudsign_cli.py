"""`hub cloudsign enrol / sign / verify / list / unlock / audit` as a resident and the desk use them."""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from click.testing import CliRunner
from cloudsign_fixtures import PERSON_ID, PIN, blank_pdf

import hub.settings
from hub.cli import main
from hub.settings import Settings
from licence.cloudsign import totp
from storage.library import LibraryStore, engine_for


def test_enrol_sign_verify_from_the_command_line(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(hub.settings, "_settings", settings)
    LibraryStore(engine_for(settings.db_url)).merge(
        "population", "r1", "police.residents", datetime.now(UTC), [PERSON_ID], {"name": ["张三"]}
    )
    run = CliRunner()
    out = run.invoke(main, ["cloudsign", "enrol", PERSON_ID], input=f"{PIN}\n{PIN}\n")
    assert out.exit_code == 0, out.output
    assert PERSON_ID not in out.output.replace(PIN, "")  # only the masked number is shown
    credential = out.output.split("credential: ")[1].split()[0]
    uri = next(line for line in out.output.splitlines() if line.startswith("otpauth://"))
    secret = parse_qs(urlparse(uri).query)["secret"][0]
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))

    listing = run.invoke(main, ["cloudsign", "list", PERSON_ID])
    assert credential in listing.output and "active" in listing.output

    pdf = tmp_path / "letter.pdf"
    pdf.write_bytes(blank_pdf())
    signed = tmp_path / "letter.signed.pdf"
    bad = run.invoke(
        main,
        ["cloudsign", "sign", str(pdf), "--credential", credential, "-o", str(signed)],
        input=f"000000\n{totp.totp(key, time.time())}\n",
    )
    assert bad.exit_code == 2 and "wrong PIN" in bad.output and not signed.exists()
    out = run.invoke(
        main,
        ["cloudsign", "sign", str(pdf), "--credential", credential, "-o", str(signed)],
        input=f"{PIN}\n{totp.totp(key, time.time())}\n",
    )
    assert out.exit_code == 0, out.output
    check = run.invoke(main, ["cloudsign", "verify", str(signed)])
    assert check.exit_code == 0, check.output
    assert '"ok": true' in check.output and "张三" in check.output
    assert run.invoke(main, ["cloudsign", "verify", str(pdf)]).exit_code == 2  # unsigned

    trail = run.invoke(main, ["cloudsign", "audit", credential]).output
    assert "cloudsign.sign" in trail and "refused:invalid_pin" in trail
    assert (
        run.invoke(main, ["cloudsign", "unlock", credential, "--officer", "desk-1"]).exit_code == 0
    )
    changed = run.invoke(
        main,
        ["cloudsign", "pin", credential],
        input=f"{PIN}\n{totp.totp(key, time.time() + 30)}\n97531975\n97531975\n",
    )
    assert changed.exit_code == 0, changed.output
    revoked = run.invoke(
        main, ["cloudsign", "revoke", credential, "--officer", "desk-1", "--reason", "moved away"]
    )
    assert revoked.exit_code == 0 and "revoked" in revoked.output
    assert "revoked" in run.invoke(main, ["cloudsign", "list", PERSON_ID]).output
