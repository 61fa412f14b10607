"""The one SQL engine factory of the hub: one engine per database URL, one set of SQLite pragmas.

Every store (library, licences, ledger, audit, clients, staff) lives in the hub database and
gets its engine here, so one process — ``hub licence issue`` opens the licence store, the
ledger and the library — holds one engine and one connection pool per URL instead of one per
store, and every connection to an SQLite file runs under the same pragmas (before, the licence
store ran with a 10 s wait and SQLite's default FULL sync where the ledger beside it waited
30 s and synced NORMAL).

Engines are cached by their full URL while someone holds them (a weak cache: a test suite
that opens thousands of temporary databases does not keep their files open once their stores
are gone); :func:`dispose_engines` closes the pooled connections of every cached engine.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

from sqlalchemy import Engine, create_engine, event, make_url

# Every connection to an SQLite file runs these, in this order, and nothing else does.
SQLITE_PRAGMAS = (
    # 16 KiB pages for a new database (an existing one keeps its own): a library is bulk-loaded
    # and read by key, and a million-row merge is 12 % faster than on 4 KiB pages
    "PRAGMA page_size=16384",
    # write-ahead log: readers (the API, `hub licence show`) never block the writer (a merge,
    # the ledger's sequencer) and the writer never blocks them
    "PRAGMA journal_mode=WAL",
    # NORMAL under WAL: a commit survives a killed process (what the ledger's durable queue,
    # the audit log's group commit and the merge's kill tests rely on) and a power cut never
    # corrupts the file, though it may lose the last commits. FULL would sync the log on every
    # commit: measured, the sharing API's audited reads fell from 1,800 to 1,040 requests/s
    # (bench.api --quick), so the durability the stores were built on is kept instead.
    "PRAGMA synchronous=NORMAL",
    # wait up to 30 s for the single write lock (concurrent runs, the sequencer, the API's
    # audit writer) instead of failing at once with "database is locked"
    "PRAGMA busy_timeout=30000",
    # a 128 MiB page cache per connection (grown only as used) for bulk merges and batch
    # inserts of the ledger's nodes
    "PRAGMA cache_size=-131072",
)

_engines: weakref.WeakValueDictionary[str, Engine] = weakref.WeakValueDictionary()
_lock = threading.Lock()


def configure_sqlite(dbapi_conn: Any) -> None:
    """Run :data:`SQLITE_PRAGMAS` on a DB-API connection to SQLite: the engines do it on every
    connection they open; a reader that opens its own (the API's point reads) does it too."""
    cur = dbapi_conn.cursor()
    for pragma in SQLITE_PRAGMAS:
        cur.execute(pragma)
    cur.close()


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    configure_sqlite(dbapi_conn)


def _new_engine(url: str) -> Engine:
    if make_url(url).get_backend_name() == "sqlite":
        engine = create_engine(url)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # after a PostgreSQL restart the pooled connections are dead: a re-run must get a fresh
    # one instead of failing on its first statement
    return create_engine(url, pool_pre_ping=True)


def make_engine(url: str) -> Engine:
    """The engine of the database at ``url``: the same engine for the same URL (compared in
    full, password included) as long as any caller still holds it, a new one otherwise."""
    key = make_url(url).render_as_string(hide_password=False)
    with _lock:
        engine = _engines.get(key)
        if engine is None:
            engine = _new_engine(url)
            _engines[key] = engine
        return engine


def dispose_engines() -> None:
    """Close the pooled connections of every cached engine and forget them (tests, shutdown);
    an engine still held elsewhere opens new connections when next used."""
    with _lock:
        held = list(_engines.values())
        _engines.clear()
    for engine in held:
        engine.dispose()
