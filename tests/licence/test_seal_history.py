"""Seal events read from the ledger: queued ones count, including an earlier version's queue."""

from __future__ import annotations

import json

from hub.settings import Settings
from ledger.service import LedgerService
from licence.seal_history import seal_events
from storage import ledger_store as db


def _event(event: str, seal_id: str, time: str) -> bytes:
    return json.dumps({"event": event, "seal_id": seal_id, "time": time}).encode()


def test_seal_events_include_appended_entries_not_yet_sequenced(settings: Settings) -> None:
    ledger = LedgerService.open(settings)
    ledger.append(_event("seal.create", "S1", "2026-01-01T00:00:00+00:00"))
    ledger.sequence()
    assert [s for s, _ in seal_events(ledger)["S1"]] == ["active"]
    ledger.append(_event("seal.revoked", "S1", "2026-01-02T00:00:00+00:00"))  # queued only
    assert [s for s, _ in seal_events(ledger)["S1"]] == ["active", "revoked"]


def test_seal_events_an_earlier_version_queued_are_seen_after_reopening(
    settings: Settings,
) -> None:
    ledger = LedgerService.open(settings)
    ledger.append(_event("seal.create", "S2", "2026-01-01T00:00:00+00:00"))
    ledger.sequence()
    with ledger.engine.begin() as conn:  # an earlier version queued a revocation here
        conn.execute(
            db.pending.insert(),
            [{"id": 50, "data": _event("seal.revoked", "S2", "2026-01-03T00:00:00+00:00")}],
        )
    again = LedgerService.open(settings)
    assert [s for s, _ in seal_events(again)["S2"]] == ["active", "revoked"]
