"""Seal status history for verification: seal events read from the ledger, and seal states.

A seal's status history is what its ``seal.*`` entries in the ledger say, in time order; the
licence store's seal row gives its certificate and validity. Both verification contexts
(``licence.trust``) see a seal as the :class:`~licence.verify.SealState` made here.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import weakref
from collections.abc import Mapping
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from licence.verify import SealState


@functools.cache
def _last_entry() -> Any:
    """The log's last index (the statement, built once)."""
    from sqlalchemy import func, select

    from storage import ledger_store as db

    return select(func.max(db.entries.c.idx))


def naive_iso(t: Any) -> str | None:
    """A stored time as ISO 8601 with its offset (naive times are UTC)."""
    if t is None:
        return None
    if isinstance(t, dt.datetime):
        return (t if t.tzinfo else t.replace(tzinfo=dt.UTC)).isoformat()
    return str(t)


def aware(text: str) -> dt.datetime:
    """An ISO 8601 time (``Z`` or an offset; none means UTC) as an aware datetime."""
    t = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


_Event = tuple[str, str, str, int]  # seal id, status, time, position in the log
_History = dict[str, list[tuple[str, dt.datetime]]]
# per ledger: the last entry scanned for seal events, the events found, and the history they
# make (rebuilt only when an entry was appended since)
_SEAL_SCAN: weakref.WeakKeyDictionary[Any, tuple[int, frozenset[_Event], _History]] = (
    weakref.WeakKeyDictionary()
)


def seal_events(ledger: Any) -> _History:
    """Status history of every seal, read from the ledger's seal entries (queued ones too:
    an appended entry has its row in ``ledger_entries`` before it is sequenced, and the log
    adopts an earlier version's ``ledger_pending`` rows when opened).

    Entries are scanned once per ledger object (later calls read only new entries): a row of
    ``ledger_entries`` never changes once written. When no entry was appended since the last
    call (one read of the log's last index), the history that call made is returned as it is:
    callers only read it.
    """
    from sqlalchemy import func, select

    from storage import ledger_store as db

    marker = b'"seal.'

    def seal_entries(column: Any) -> Any:
        # SQLite's LIKE does not match inside BLOBs; PostgreSQL has bytea LIKE bytea
        if ledger.engine.dialect.name == "sqlite":
            return func.instr(column, marker) > 0
        return column.op("LIKE")(b"%" + marker + b"%")

    scanned, found, made = _SEAL_SCAN.get(ledger, (-1, frozenset(), {}))
    # one transaction: a consistent snapshot of the entries up to ``top``
    with ledger.engine.begin() as conn:
        top = conn.execute(_last_entry()).scalar()
        top = -1 if top is None else int(top)
        if top <= scanned and ledger in _SEAL_SCAN:
            return made
        appended = [
            (int(r[0]), bytes(r[1]))
            for r in conn.execute(
                select(db.entries.c.idx, db.entries.c.data).where(
                    db.entries.c.idx > scanned,
                    db.entries.c.idx <= top,
                    seal_entries(db.entries.c.data),
                )
            )
        ]
    remembered = found | frozenset(_events(appended))
    out: _History = {}
    # time order; events within the same second keep their log order
    for seal_id, status, time, _pos in sorted(remembered, key=lambda e: (aware(e[2]), e[3])):
        out.setdefault(seal_id, []).append((status, aware(time)))
    _SEAL_SCAN[ledger] = (max(top, scanned), remembered, out)
    return out


def _events(entries: list[tuple[int, bytes]]) -> set[_Event]:
    """(seal id, status, time, log position) of the seal events among ledger entries."""
    items: set[_Event] = set()
    for pos, data in entries:
        try:
            entry = json.loads(data)
        except ValueError:
            continue
        event = str(entry.get("event", ""))
        if not event.startswith("seal.") or "seal_id" not in entry or "time" not in entry:
            continue
        status = "active" if event == "seal.create" else event.removeprefix("seal.")
        items.add((str(entry["seal_id"]), status, str(entry["time"]), pos))
    return items


@functools.lru_cache(maxsize=256)
def cert_hash(pem: str) -> str:
    """SHA-256 (hex) of a PEM certificate's DER bytes: how seals are named by certificate
    (memoised by the PEM text itself: a pure function of it)."""
    cert = x509.load_pem_x509_certificate(pem.encode())
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def seal_state(row: Mapping[str, Any], events: list[tuple[str, dt.datetime]]) -> SealState:
    """A seal as verification sees it: its store row and its status history."""
    return SealState(
        seal_id=str(row["seal_id"]),
        authority=str(row["authority"]),
        status=str(row["status"]),
        valid_from=aware(naive_iso(row["valid_from"]) or ""),
        valid_to=aware(naive_iso(row["valid_to"]) or ""),
        cert_sha256=(cert_hash(str(row["cert_pem"])),),
        events=tuple(events),
    )
