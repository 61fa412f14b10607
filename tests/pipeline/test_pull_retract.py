"""A department takes back a run it delivered by mistake: `hub runs retract RUN --reason`."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine

import hub.settings
import schemas.contracts
from api.pages.accounts import StaffAccounts
from hub.cli import main
from hub.settings import Settings
from hub.wiring import ingest_services, ledger_service
from pipeline.pull.connections import from_environment
from pipeline.pull.run import pull
from pipeline.refs import IngestError
from pipeline.retract import retract
from pipeline.run import run_pipeline
from storage.ledger_store import entries_by_id
from tests.pipeline.pullkit import DATASET, create_table, person_id, upsert, write_contracts

SOURCE = "kind: sql\nconnection: dept_db\ntable: residents\nwatermark: seq\ndeleted: is_deleted\n"
DAY1 = datetime(2026, 3, 1, 9, tzinfo=UTC)
DAY2 = datetime(2026, 3, 2, 9, tzinfo=UTC)
DAY3 = datetime(2026, 3, 3, 9, tzinfo=UTC)


@pytest.fixture
def contracts(tmp_path: Path) -> Path:
    return write_contracts(tmp_path / "contracts", SOURCE)


def test_retracted_run_stops_counting_but_stays_in_history(
    settings: Settings, tmp_path: Path, contracts: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'dept.sqlite'}"
    engine = create_engine(url)
    create_table(engine)
    hub = ingest_services(settings, contracts)
    conns = from_environment({"AIRFLOW_CONN_DEPT_DB": url})
    upsert(engine, [(1, "正确名"), (2, "二")])
    pull(hub, DATASET, conns, received_at=DAY1)
    upsert(engine, [(1, "错名"), (3, "误加")])
    wrong = pull(hub, DATASET, conns, received_at=DAY2).runs[0]["run_id"]
    assert hub.library.person(person_id(1)).value("name") == "错名"  # type: ignore[union-attr]

    ledger = ledger_service(settings)
    done = retract(hub, wrong, "批次误发", "pub1", ledger.append_many_in, now=DAY3)
    assert (done["run_id"], done["subjects"]) == (wrong, 2)
    now = hub.library.person(person_id(1))
    assert now is not None and now.value("name") == "正确名"  # back to the earlier run
    assert person_id(3) not in hub.library.subjects("population")  # only that run knew it
    # the bulk read (cross-source checks, eligibility) agrees with the point read
    bulk = hub.library.field_values("population", "name")
    assert bulk[person_id(1)] == "正确名" and person_id(3) not in bulk
    before = hub.library.person(person_id(1), as_of=date(2026, 3, 2))
    assert before is not None and before.value("name") == "错名"  # as known on day 2
    assert [f.value for f in now.history["name"]] == ["正确名", "错名"]
    run = hub.library.get_run(wrong)
    assert run["status"] == "retracted" and "批次误发" in run["message"]
    # audited: one ledger entry in the same transaction, with the reason's digest only
    ledger.sequence()
    with hub.library.engine.connect() as conn:
        (entry,) = entries_by_id(conn, [done["ledger_entry"]])
    logged = json.loads(entry[2])
    assert logged["event"] == "run.retract" and logged["run_id"] == wrong
    assert logged["staff"] == "pub1" and logged["subjects"] == 2
    assert "批次误发" not in entry[2].decode() and person_id(1) not in entry[2].decode()
    # a later change from the department still merges on top
    upsert(engine, [(1, "新名")])
    pull(hub, DATASET, conns)
    assert hub.library.person(person_id(1)).value("name") == "新名"  # type: ignore[union-attr]


def test_refused_retractions_change_nothing(settings: Settings, contracts: Path) -> None:
    hub = ingest_services(settings, contracts)
    data = f"id_number,name\n{person_id(1)},名\n".encode()
    ref = run_pipeline(hub, "other_names", data, "other.csv")
    ledger = ledger_service(settings)
    with pytest.raises(IngestError, match="unknown run"):
        retract(hub, "nope", "x", "pub1", ledger.append_many_in)
    with pytest.raises(IngestError, match="say why"):
        retract(hub, ref["run_id"], "  ", "pub1", ledger.append_many_in)
    assert hub.library.get_run(ref["run_id"])["status"] == "published"
    retract(hub, ref["run_id"], "误发", "pub1", ledger.append_many_in)
    with pytest.raises(IngestError, match="retracted already"):
        retract(hub, ref["run_id"], "again", "pub1", ledger.append_many_in)
    assert len(hub.library.retractions()) == 1


def test_hub_pull_and_runs_retract_commands(
    settings: Settings, tmp_path: Path, contracts: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hub.settings, "_settings", settings)
    monkeypatch.setattr(schemas.contracts, "CONTRACTS_DIR", contracts)
    url = f"sqlite:///{tmp_path / 'dept.sqlite'}"
    engine = create_engine(url)
    create_table(engine)
    upsert(engine, [(1, "甲"), (2, "乙")])
    cli = CliRunner()
    missing = cli.invoke(main, ["pull", DATASET], env={"AIRFLOW_CONN_DEPT_DB": ""})
    assert missing.exit_code == 1 and "set AIRFLOW_CONN_DEPT_DB" in missing.output
    out = cli.invoke(main, ["pull", DATASET], env={"AIRFLOW_CONN_DEPT_DB": url})
    assert out.exit_code == 0, out.output
    summary = json.loads(out.output)
    assert summary["position"] == "int:2" and summary["runs"][0]["rows_in"] == 2
    run_id = summary["runs"][0]["run_id"]
    nobody = cli.invoke(main, ["runs", "retract", run_id, "--reason", "误发", "--as", "ghost"])
    assert nobody.exit_code == 1 and "not an active publisher" in nobody.output
    StaffAccounts(ingest_services(settings, contracts).library.engine).add(
        "pub1", "publisher", "a long enough passphrase 1"
    )
    done = cli.invoke(main, ["runs", "retract", run_id, "--reason", "误发", "--as", "pub1"])
    assert done.exit_code == 0, done.output
    assert f"retracted {run_id}" in done.output and "2 subject(s)" in done.output
    listed = cli.invoke(main, ["runs", "--dataset", DATASET])
    assert "retracted" in listed.output
