"""Entry ids kept as runs beside the entries: a log written with an id on every entry (the
layout before) is upgraded in place when opened, and every id, index, receipt and root reads
as before; an id is never given twice."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, func, inspect, select, text

from hub.settings import Settings
from ledger import merkle
from ledger.log_reader import LedgerError
from ledger.merkle import MemoryTree
from ledger.receipt import verify_receipt
from ledger.service import LedgerService
from storage import ledger_store as db

OLD_ENTRIES = """
CREATE TABLE ledger_entries (
    idx BIGINT NOT NULL,
    entry_id BIGINT NOT NULL,
    leaf BLOB NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (idx),
    UNIQUE (entry_id)
)
"""


def _as_written_before(engine: Engine, ids: list[int]) -> None:
    """Rewrite the log's entries in the layout before (an ``entry_id`` column with a unique
    index, the leaf hash, a BIGINT key) with the given ids, and drop the id runs."""
    with engine.begin() as conn:
        rows = conn.execute(text("SELECT idx, data FROM ledger_entries ORDER BY idx")).all()
        assert len(rows) == len(ids)
        conn.execute(text("DROP TABLE ledger_entries"))
        conn.execute(text("DROP TABLE ledger_entry_ids"))
        conn.execute(text(OLD_ENTRIES))
        conn.execute(
            text("INSERT INTO ledger_entries VALUES (:i, :e, :l, :d)"),
            [
                {"i": r.idx, "e": e, "l": merkle.leaf_hash(r.data), "d": r.data}
                for r, e in zip(rows, ids, strict=True)
            ],
        )


def _columns(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return {c["name"] for c in inspect(conn).get_columns("ledger_entries")}


@pytest.mark.parametrize(
    "ids",
    [
        [1, 2, 3, 4, 5, 6],  # every log appended to directly
        [1, 2, 3, 7, 8, 9],  # a queue adopted with its own ids (7, 8), then an append
        [5, 6, 1, 2, 3, 4],  # ids out of order: the next one is still above every id given
    ],
)
def test_a_log_from_before_keeps_its_ids_receipts_and_root(
    settings: Settings, ids: list[int]
) -> None:
    svc = LedgerService.open(settings)
    data = [f"entry {i}".encode() for i in range(6)]
    svc.append_many(data[:4])
    svc.sequence()
    svc.append_many(data[4:])  # the last two still queued when the old version stopped
    root = svc.root()
    _as_written_before(svc.engine, ids)
    assert "entry_id" in _columns(svc.engine)

    again = LedgerService.open(settings)
    assert _columns(again.engine) == {"idx", "data"}
    assert again.root() == root
    assert [again.entry_index(e) for e in ids] == [0, 1, 2, 3, None, None]
    assert again.entry_index(max(ids) + 1) is None
    later = again.append(b"after the upgrade")
    assert later == max(ids) + 1
    again.sequence()
    assert [again.entry_index(e) for e in [*ids, later]] == list(range(7))
    receipts = again.receipts_for_entries([*ids, later])
    assert sorted(receipts) == sorted([*ids, later])
    tree = MemoryTree(merkle.leaf_hash(d) for d in [*data, b"after the upgrade"])
    for k, e in enumerate([*ids, later]):
        assert receipts[e].index == k
        verify_receipt(receipts[e], [again.verifier_key()])
    assert again.root() == tree.root()
    # opened again: nothing left to upgrade, the same ids
    third = LedgerService.open(settings)
    assert [third.entry_index(e) for e in [*ids, later]] == list(range(7))


def test_an_id_already_given_is_never_given_again(settings: Settings) -> None:
    svc = LedgerService.open(settings)
    assert svc.append_many([b"a", b"b"]) == [1, 2]
    with svc.engine.begin() as conn:  # an earlier version queued an entry under id 2
        conn.execute(db.pending.insert(), [{"id": 2, "data": b"c"}])
    with pytest.raises(LedgerError, match="not increasing from above the log's last id 2"):
        LedgerService.open(settings)
    with svc.engine.connect() as conn:  # refused whole: nothing placed, the queue kept
        assert conn.execute(select(func.count()).select_from(db.entries)).scalar_one() == 2
        assert conn.execute(select(func.count()).select_from(db.pending)).scalar_one() == 1


def test_an_adopted_queue_with_gaps_keeps_every_id(settings: Settings) -> None:
    svc = LedgerService.open(settings)
    svc.append_many([b"a", b"b"])
    with svc.engine.begin() as conn:  # ids 4 and 9: two runs of one entry each
        conn.execute(db.pending.insert(), [{"id": 4, "data": b"c"}, {"id": 9, "data": b"d"}])
    again = LedgerService.open(settings)
    assert again.append(b"e") == 10
    again.sequence()
    assert [again.entry_index(e) for e in (1, 2, 4, 9, 10)] == [0, 1, 2, 3, 4]
    assert [again.entry_index(e) for e in (3, 5, 8, 11)] == [None] * 4
    with again.engine.connect() as conn:
        ids = db.entry_id_map(conn)
    assert [ids.id_of(i) for i in range(5)] == [1, 2, 4, 9, 10]


def test_a_log_from_before_with_an_altered_entry_is_refused_and_left_as_it_was(
    settings: Settings,
) -> None:
    svc = LedgerService.open(settings)
    for i in range(4):
        svc.append(f"entry {i}".encode())
    svc.sequence()
    _as_written_before(svc.engine, [1, 2, 3, 4])
    with svc.engine.begin() as conn:  # the bytes change, the stored leaf hash stays
        conn.execute(text("UPDATE ledger_entries SET data = :d WHERE idx = 2"), {"d": b"forged"})
    with pytest.raises(LedgerError, match="entry 2 of the log does not match its stored leaf"):
        LedgerService.open(settings)
    assert "leaf" in _columns(svc.engine) and "entry_id" in _columns(svc.engine)
