"""`hub licence issue-batch`: from a CSV file or library records, bad rows refused with their
reasons, and a run killed with SIGKILL resumed without a duplicate."""

from __future__ import annotations

import csv
import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from licence_fixtures import BUSINESS_FIELDS, PROVINCE_MR

import hub.settings
from hub.cli import main
from hub.settings import Settings
from licence.service import LicenceService
from schemas import uscc
from storage.library import LEGAL_ENTITY, LibraryStore, engine_for

WHEN = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)


def entity_uscc(i: int) -> str:
    org = f"MA{i:06d}"
    body = "91430100" + org + uscc.org_code_check(org)
    return body + uscc.check_character(body)


def register(settings: Settings, n: int, status: dict[int, str] | None = None) -> list[str]:
    """n entities in the legal-entity library (name 企业<i>, legal representative, address)."""
    ids = [entity_uscc(i) for i in range(n)]
    status = status or {}
    LibraryStore(engine_for(settings.db_url)).merge(
        LEGAL_ENTITY,
        f"mr-{n}",
        "mr_enterprise",
        WHEN,
        ids,
        {
            "entity_name": [f"企业{i}" for i in range(n)],
            "legal_rep_name": [f"法人{i}" for i in range(n)],
            "registered_address": [f"湖南省长沙市{i}号" for i in range(n)],
            "established_date": ["2019-04-01"] * n,
            "registered_capital": ["1000000"] * n,
            "registration_status": [status.get(i, "1") for i in range(n)],
        },
    )
    return ids


def write_csv(path: Path, ids: list[str], bad: dict[int, dict[str, str]] | None = None) -> Path:
    bad = bad or {}
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        w = csv.writer(f)
        w.writerow(["holder_id", "holder_name", *BUSINESS_FIELDS])
        for i, holder in enumerate(ids):
            row = {"holder_id": holder, "holder_name": f"企业{i}", **BUSINESS_FIELDS}
            row.update(bad.get(i, {}))
            w.writerow([row["holder_id"], row["holder_name"], *(row[k] for k in BUSINESS_FIELDS)])
    return path


@pytest.fixture
def cli(settings: Settings, service: LicenceService, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setattr(hub.settings, "_settings", settings)
    service.create_seal(PROVINCE_MR)
    return CliRunner()


def _issue_batch(cli: CliRunner, *args: str) -> object:
    return cli.invoke(
        main, ["licence", "issue-batch", "business_licence", "--authority", PROVINCE_MR, *args]
    )


def test_csv_rows_issued_and_bad_rows_refused_with_reasons(
    cli: CliRunner, settings: Settings, service: LicenceService, tmp_path: Path
) -> None:
    ids = register(settings, 6)
    bad = {1: {"holder_name": "别的企业"}, 3: {"established": "2019-02-30"}}
    path = write_csv(tmp_path / "in.csv", ids, bad)
    report = tmp_path / "refused.csv"
    out = _issue_batch(cli, "--from", str(path), "--chunk", "2", "--report", str(report))
    assert out.exit_code == 0, out.output  # type: ignore[attr-defined]
    assert "6 rows, 4 issued, 2 refused" in out.output  # type: ignore[attr-defined]
    rows = list(csv.reader(report.open(encoding="utf-8-sig")))
    assert [r[0] for r in rows[1:]] == ["3", "5"]  # lines of the file (the header is line 1)
    assert "holder name does not match" in rows[1][1] and "established" in rows[2][1]
    holders = sorted(r["holder_id"] for r in service.store.licences())
    assert holders == sorted(ids[i] for i in (0, 2, 4, 5))
    # the same command again: everything was done, nothing more is issued
    again = _issue_batch(cli, "--from", str(path))
    assert "4 issued, 2 refused, 6 done by an earlier run" in again.output  # type: ignore[attr-defined]
    assert len(service.store.licences()) == 4


def test_unknown_columns_refuse_the_file(
    cli: CliRunner, settings: Settings, service: LicenceService, tmp_path: Path
) -> None:
    path = tmp_path / "in.csv"
    path.write_text("holder_id,holder_name,colour\nX,Y,red\n", encoding="utf-8")
    out = _issue_batch(cli, "--from", str(path))
    assert out.exit_code == 2  # type: ignore[attr-defined]
    assert "colour" in out.output and "legal_representative" in out.output  # type: ignore[attr-defined]
    assert service.store.licences() == []


def test_from_dataset_issues_to_unlicensed_operating_entities(
    cli: CliRunner, settings: Settings, service: LicenceService
) -> None:
    ids = register(settings, 5, status={2: "4"})
    first = _issue_batch(cli, "--from", str(write_csv(Path(settings.home) / "a.csv", ids[:1])))
    assert first.exit_code == 0, first.output  # type: ignore[attr-defined]
    args = ["--from-dataset", "mr_enterprise", "--where", "registration_status!=4"]
    args += ["--field", "entity_type=有限责任公司", "--field", "business_scope=软件开发"]
    out = _issue_batch(cli, *args)
    assert out.exit_code == 0, out.output  # type: ignore[attr-defined]
    # the conftest's entity has no legal representative in the library: refused, saying why
    assert "4 rows, 3 issued, 1 refused" in out.output  # type: ignore[attr-defined]
    assert "法定代表人" in out.output  # type: ignore[attr-defined]
    rows = service.store.licences()
    assert sorted(r["holder_id"] for r in rows) == sorted([ids[0], ids[1], ids[3], ids[4]])
    # the licence's fields come from the library record
    lid = next(r["licence_id"] for r in rows if r["holder_id"] == ids[3])
    fields = service.document(lid)["fields"]
    assert fields["legal_representative"]["value"] == "法人3"
    assert fields["address"]["value"] == "湖南省长沙市3号"
    # run again: every entity holds one now
    again = _issue_batch(cli, *args).output  # type: ignore[attr-defined]
    assert "1 rows, 0 issued, 1 refused, 1 done by an earlier run" in again


def test_from_dataset_of_the_wrong_library_is_refused(cli: CliRunner) -> None:
    out = _issue_batch(cli, "--from-dataset", "ps_household")
    assert out.exit_code == 2 and "population" in out.output  # type: ignore[attr-defined]


def test_killed_run_resumes_without_duplicates(
    cli: CliRunner, settings: Settings, service: LicenceService, tmp_path: Path
) -> None:
    n = 1200
    ids = register(settings, n)
    path = write_csv(tmp_path / "in.csv", ids)
    env = {
        **os.environ,
        "HUB_HOME": str(settings.home),
        "HUB_KEY_PASSPHRASE": settings.key_passphrase,
    }
    command = [sys.executable, "-c", "from hub.cli import main; main()", "licence"]
    command += ["issue-batch", "business_licence", "--authority", PROVINCE_MR]
    command += ["--from", str(path), "--chunk", "40"]
    proc = subprocess.Popen(
        [*command, "--max-rate", "400"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while len(service.store.licences()) < 200:
            assert proc.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    killed_at = len(service.store.licences())
    assert 200 <= killed_at < n
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"{n} rows, {n} issued, 0 refused" in done.stdout
    assert "done by an earlier run" in done.stdout
    holders = [r["holder_id"] for r in service.store.licences()]
    assert len(holders) == n and set(holders) == set(ids)  # every row once
