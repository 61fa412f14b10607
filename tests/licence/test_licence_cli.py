"""The `hub init`, `hub seal` and `hub licence` commands as issuing staff use them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from licence_fixtures import (
    ISSUE_ARGS,
    PROVINCE_HR,
    PROVINCE_MR,
    issue_by_cli,
)

import hub.settings
from hub.cli import main
from hub.settings import Settings


def test_cli_issue_lifecycle_disclose(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(hub.settings, "_settings", settings)
    run = CliRunner()
    out = run.invoke(main, ["init"])
    assert out.exit_code == 0, out.output
    assert "seal" in out.output and "created" in out.output
    assert run.invoke(main, ["init"]).output.count("created") == 0  # idempotent
    listing = run.invoke(main, ["seal", "list"]).output
    assert PROVINCE_MR in listing and "active" in listing
    lid = issue_by_cli(settings.db_url, run)
    # not allowed: clear message, exit 2
    bad = ISSUE_ARGS.copy()
    bad[bad.index(PROVINCE_MR)] = PROVINCE_HR
    out = run.invoke(main, bad)
    assert out.exit_code == 2 and "not allowed" in out.output
    assert run.invoke(main, ["ledger", "checkpoint"]).exit_code == 0
    shown = json.loads(run.invoke(main, ["licence", "show", lid]).output)
    assert shown["status"] == "valid" and shown["receipt"] is not None
    red = tmp_path / "red.json"
    out = run.invoke(
        main, ["licence", "disclose", lid, "--hide", "registered_capital", "-o", str(red)]
    )
    assert out.exit_code == 0, out.output
    disclosed = json.loads(red.read_text())
    assert "value" not in disclosed["licence"]["fields"]["registered_capital"]
    assert disclosed["receipt"] == shown["receipt"]  # kept: the copy verifies offline too
    assert "suspended" in run.invoke(main, ["licence", "suspend", lid, "--reason", "整改"]).output
    assert "valid" in run.invoke(main, ["licence", "reinstate", lid]).output
    change = ["licence", "change", lid, "--field", "address=湖南省长沙市天心区芙蓉中路1号"]
    out = run.invoke(main, [*change, "--reason", "住所变更"])
    assert out.exit_code == 0, out.output
    old, lid = lid, out.output.strip()
    assert lid.endswith(".002." + lid.rsplit(".", 1)[1]) and lid != old
    assert json.loads(run.invoke(main, ["licence", "show", old]).output)["superseded_by"] == lid
    new_doc = json.loads(run.invoke(main, ["licence", "show", lid]).output)["document"]
    assert new_doc["fields"]["address"]["value"] == "湖南省长沙市天心区芙蓉中路1号"
    out = run.invoke(main, [*change, "--reason", "again"])  # a superseded version cannot change
    assert out.exit_code == 2, out.output
    out = run.invoke(main, ["licence", "revoke", lid, "--code", "FRAUD", "--reason", "虚假材料"])
    assert "revoked" in out.output
    out = run.invoke(main, ["licence", "revoke", lid, "--code", "FRAUD", "--reason", "x"])
    assert out.exit_code == 2 and "cannot revoke" in out.output
    pdf = tmp_path / "revoked.pdf"
    out = run.invoke(main, ["licence", "pdf", lid, "-o", str(pdf)])
    assert out.exit_code == 2 and "revoked" in out.output and not pdf.exists()
