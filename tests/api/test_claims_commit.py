"""A claim's receipt and its audit row are committed together: no answer unless both are, and a
receipt that cannot be logged leaves a refusal in the audit, nothing else."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Column, Connection, Integer, MetaData, Table, create_engine, func, select

from api.audit import UNRECORDED, AuditLog, RecordWriteFailed, audit_log
from hub.settings import Settings
from ledger.service import QueueFullError
from sharing.receipt_store import claim_receipts
from tests.sharing.claims_api_kit import ClaimsApi, claims_api
from tests.sharing.claims_fixtures import ALIVE, DEAD

ALIVE_Q = {"subject": ALIVE, "claims": [{"type": "person.alive"}]}


@pytest.fixture(name="capi")
def _capi(settings: Settings) -> Iterator[ClaimsApi]:
    yield from claims_api(settings)


def _count(capi: ClaimsApi, table: Table) -> int:
    with capi.app.state.hub.audit.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_a_question_whose_receipt_cannot_be_logged_gets_no_answer(
    capi: ClaimsApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = capi.app.state.hub
    receipts = state.claims.store
    assert capi.ask(ALIVE_Q).status_code == 200
    stored = _count(capi, claim_receipts)

    def full(_conn: Connection, _items: Any) -> list[int]:
        raise QueueFullError("ledger queue full")

    monkeypatch.setattr(receipts.ledger, "append_many_in", full)
    r = capi.ask(ALIVE_Q)
    assert r.status_code == 503, r.text
    assert r.json()["type"].endswith("record-unavailable")
    assert "answers" not in r.json() and "receipt_id" not in r.json()
    assert _count(capi, claim_receipts) == stored  # nothing half-written
    row = capi.audit()[-1]  # the refusal is audited under the subject, with no fields
    assert row["subject_hash"] == state.audit.subject_hash(ALIVE)
    assert (row["outcome"], row["status"], row["fields"]) == (UNRECORDED, 503, "")

    batch = capi.ask({"subjects": [ALIVE, DEAD], "claims": [{"type": "person.alive"}]}, batch=True)
    assert batch.status_code == 503 and "results" not in batch.json()
    assert [r["outcome"] for r in capi.audit()[-2:]] == [UNRECORDED, UNRECORDED]

    monkeypatch.undo()
    again = capi.ask(ALIVE_Q)
    assert again.status_code == 200
    assert _count(capi, claim_receipts) == stored + 1
    rid = again.json()["receipt_id"]
    got = capi.http.get(f"/v1/claims/receipts/{rid}", headers=capi.headers())
    assert got.status_code == 200  # stored when the answer arrived


def test_the_receipt_and_the_audit_row_share_one_transaction(
    capi: ClaimsApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    receipts = capi.app.state.hub.claims.store
    seen: list[tuple[bool, int]] = []
    real = receipts.write_in

    def spy(conn: Connection, batches: Any) -> None:
        # the audit row of this question is already in this (uncommitted) transaction
        rows = conn.execute(select(func.count()).select_from(audit_log)).scalar_one()
        seen.append((conn.in_transaction(), int(rows)))
        real(conn, batches)

    monkeypatch.setattr(receipts, "write_in", spy)
    before = len(capi.audit())
    assert capi.ask(ALIVE_Q).status_code == 200
    assert seen == [(True, before + 1)]


# ---- the audit's attached writes, on their own ----------------------------------------------
things = Table("things", MetaData(), Column("n", Integer))


def _log(tmp_path: Path) -> AuditLog:
    engine = create_engine(f"sqlite:///{tmp_path / 'audit.db'}")
    things.metadata.create_all(engine)
    return AuditLog(engine, b"k" * 32)


def _row(log: AuditLog, subject: str) -> tuple[Any, ...]:
    return log.row("c", "p", "POST", "/r", subject, ["f"], "answered", 200)


def _stored(log: AuditLog) -> tuple[list[tuple[str, int, str]], list[int]]:
    with log.engine.connect() as conn:
        rows = conn.execute(
            select(audit_log.c.outcome, audit_log.c.status, audit_log.c.fields).order_by(
                audit_log.c.id
            )
        )
        made = [r.n for r in conn.execute(select(things.c.n))]
        return [tuple(r) for r in rows], made  # type: ignore[misc]


def test_attached_writes_commit_with_the_rows_and_fail_alone(tmp_path: Path) -> None:
    log = _log(tmp_path)
    calls: list[list[int]] = []

    def good(conn: Connection, items: list[int]) -> None:
        calls.append(items)
        conn.execute(things.insert(), [{"n": n} for n in items])

    def bad(conn: Connection, items: list[int]) -> None:
        conn.execute(things.insert(), [{"n": -n} for n in items])  # rolled back with the rest
        raise RuntimeError("cannot")

    async def ask() -> list[BaseException | None]:
        # submitted in one loop iteration: one batch, one transaction per attempt
        batches = [
            log.submit([_row(log, "A")]),
            log.submit([_row(log, "B")], (good, 1)),
            log.submit([_row(log, "C")], (good, 2)),
        ]
        results = await asyncio.gather(*(log.committed(b) for b in batches), return_exceptions=True)
        return list(results)

    assert asyncio.run(ask()) == [None, None, None]
    assert calls == [[1, 2]]  # one call per writer and batch
    assert _stored(log) == ([("answered", 200, "f")] * 3, [1, 2])

    async def ask_badly() -> list[BaseException | None]:
        batches = [
            log.submit([_row(log, "D")]),
            log.submit([_row(log, "E")], (bad, 3)),
            log.submit([_row(log, "F")]),
        ]
        results = await asyncio.gather(*(log.committed(b) for b in batches), return_exceptions=True)
        return list(results)

    first, second, third = asyncio.run(ask_badly())
    assert first is None and third is None
    assert isinstance(second, RecordWriteFailed)
    rows, made = _stored(log)
    assert made == [1, 2]
    assert rows[3:] == [("answered", 200, "f"), ("answered", 200, "f"), (UNRECORDED, 503, "")]
    log.stop()
