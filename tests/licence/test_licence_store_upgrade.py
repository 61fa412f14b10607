"""A hub from before ``licences.ledger_entry_id`` (then ``ledger_index``) opens with the current
code: the column is renamed once, every value kept, and its licences still get their receipts,
show and verify."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from click.testing import CliRunner
from licence_fixtures import ENTITY_USCC, PROVINCE_MR, issue_by_cli
from old_layouts import add_old_licence, as_hub_from_before, create_before_entry_ids
from sqlalchemy import Engine, event, inspect, text

import hub.settings
from hub.cli import main
from hub.commands.licence import open_service
from hub.settings import Settings
from licence.store import LicenceStore
from licence.tables import engine_for, metadata
from licence.trust import licence_with_receipt, verify_online


def _columns(engine: Engine) -> set[str]:
    return {c["name"] for c in inspect(engine).get_columns("licences")}


def _issue(settings: Settings, run: CliRunner) -> str:
    assert run.invoke(main, ["init"]).exit_code == 0
    return issue_by_cli(settings.db_url, run)


def test_a_hub_from_before_keeps_its_entry_ids_and_its_licences_verify(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hub.settings, "_settings", settings)
    run = CliRunner()
    lid = _issue(settings, run)  # logged, not yet sequenced: no receipt, only the entry id
    engine = engine_for(settings.db_url)
    with engine.begin() as conn:
        (before,) = as_hub_from_before(conn)
    assert before["ledger_index"] is not None and before["receipt"] is None
    assert "ledger_entry_id" not in _columns(engine)
    # the anchoring round opens the store (which upgrades it) and finds the licence's receipt
    # through the entry id kept in the renamed column
    out = run.invoke(main, ["ledger", "checkpoint"])
    assert out.exit_code == 0, out.output
    assert "ledger_index" not in _columns(engine)
    with engine.connect() as conn:
        (after,) = [dict(r) for r in conn.execute(text("SELECT * FROM licences")).mappings()]
    assert after["ledger_entry_id"] == before["ledger_index"]
    assert {k: v for k, v in after.items() if k not in ("ledger_entry_id", "receipt")} == {
        k: v for k, v in before.items() if k not in ("ledger_index", "receipt")
    }
    shown = json.loads(run.invoke(main, ["licence", "show", lid]).output)
    assert shown["status"] == "valid" and shown["receipt"] is not None
    svc = open_service(settings)
    report = verify_online(svc, json.dumps(licence_with_receipt(svc, lid)).encode())
    assert report.verdict == "TOTAL_PASSED", report.checks


OLD_ROW: dict[str, Any] = {
    "licence_id": "L1",
    "type_code": "T",
    "authority": PROVINCE_MR,
    "serial": "1",
    "version": 1,
    "holder_kind": "entity",
    "holder_id": ENTITY_USCC,
    "status": "valid",
    "issued_at": datetime(2026, 1, 5),
    "object_key": "licences/L1.json",
    "document_digest": "0" * 64,
    "seal_id": "S1",
    "status_index": 0,
    "ledger_index": 41,
    "updated_at": datetime(2026, 1, 5),
}


def _opens_twice(engine: Engine) -> None:
    with engine.begin() as conn:
        create_before_entry_ids(conn)
        add_old_licence(conn, OLD_ROW)
    first = LicenceStore(engine).licence("L1")
    second = LicenceStore(engine).licence("L1")
    assert first == second
    assert first is not None and first["ledger_entry_id"] == 41
    assert LicenceStore(engine).unreceipted() == [("L1", 41)]
    assert _columns(engine) == {
        *OLD_ROW,
        "reason_code",
        "reason_text",
        "valid_to",
        "receipt",
        "superseded_by",
        "ledger_entry_id",
    } - {"ledger_index"}


def test_opening_a_hub_from_before_twice_upgrades_it_once(settings: Settings) -> None:
    _opens_twice(engine_for(settings.db_url))


@pytest.mark.services
def test_a_postgresql_hub_from_before_upgrades_once() -> None:
    from tests.servicekit import session_database_url

    engine = engine_for(session_database_url())
    metadata.drop_all(engine)
    try:
        _opens_twice(engine)
    finally:
        metadata.drop_all(engine)


@pytest.fixture
def failing_rename(settings: Settings) -> Iterator[Engine]:
    """The hub's engine, on which the upgrade fails once the column is renamed (as a full disk
    or a killed process would stop it before it commits)."""
    engine = engine_for(settings.db_url)

    def fail(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "RENAME COLUMN" in statement:
            raise OSError("disk full")

    event.listen(engine, "after_cursor_execute", fail)
    yield engine
    event.remove(engine, "after_cursor_execute", fail)


def test_a_failed_upgrade_leaves_the_hub_as_it_was(failing_rename: Engine) -> None:
    engine = failing_rename
    with engine.begin() as conn:
        create_before_entry_ids(conn)
    with pytest.raises(OSError, match="disk full"):
        LicenceStore(engine)
    assert "ledger_index" in _columns(engine) and "ledger_entry_id" not in _columns(engine)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM licences")).scalar_one() == 0
