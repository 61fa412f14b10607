"""The one SQL engine factory: one engine per database URL, one set of SQLite pragmas."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

import licence.tables
import storage.ledger_store
import storage.library
from hub.settings import Settings
from storage.engine import dispose_engines, make_engine


def test_same_url_is_one_engine_for_every_store(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    engine = make_engine(url)
    assert storage.library.engine_for(url) is engine
    assert storage.ledger_store.make_engine(url) is engine
    assert licence.tables.engine_for(url) is engine


def test_different_databases_get_different_engines(tmp_path: Path) -> None:
    one = make_engine(f"sqlite:///{tmp_path / 'one.db'}")
    two = make_engine(f"sqlite:///{tmp_path / 'two.db'}")
    assert one is not two
    assert one.url.database != two.url.database


def test_every_sqlite_connection_runs_the_same_pragmas(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'hub.db'}")
    with engine.connect() as conn:

        def pragma(name: str) -> object:
            return conn.execute(text(f"PRAGMA {name}")).scalar_one()

        assert pragma("journal_mode") == "wal"
        assert pragma("synchronous") == 1  # NORMAL: a commit survives a killed process
        assert pragma("busy_timeout") == 30000
        assert pragma("cache_size") == -131072
        assert pragma("page_size") == 16384


def test_dispose_forgets_the_engines(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    engine = make_engine(url)
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    assert engine.pool.checkedin() == 1
    dispose_engines()
    assert engine.pool.checkedin() == 0  # the pooled connection is closed
    assert make_engine(url) is not engine


def test_licence_issue_opens_one_engine_for_its_three_stores(settings: Settings) -> None:
    from hub.commands.licence import open_service

    svc = open_service(settings)
    engine = svc.store.engine
    assert svc.ledger.engine is engine
    assert svc.holders.library.engine is engine
    assert engine is make_engine(settings.db_url)


def test_the_api_point_reader_runs_the_same_pragmas(settings: Settings) -> None:
    from storage.library import GoldenReader, LibraryStore

    reader = GoldenReader(LibraryStore(make_engine(settings.db_url)))
    assert reader.rows("population", "11010519491231002X") == []
    con = reader._local.con  # the reader's own DB-API connection (no pool: the hot path)
    assert con.execute("PRAGMA busy_timeout").fetchone() == (30000,)
    assert con.execute("PRAGMA synchronous").fetchone() == (1,)


def test_a_hub_file_with_other_pages_opens_and_keeps_them(tmp_path: Path) -> None:
    """A hub whose file a 4 KiB-page engine created first (the ledger's, before one factory)."""
    import sqlite3
    from datetime import UTC, datetime

    from storage.library import POPULATION, LibraryStore

    path = tmp_path / "hub.db"
    old = sqlite3.connect(path)
    old.execute("PRAGMA page_size=4096")
    old.execute("PRAGMA journal_mode=WAL")
    old.execute("CREATE TABLE ledger_meta (key VARCHAR(64) PRIMARY KEY, value VARCHAR(256))")
    old.commit()
    old.close()
    lib = LibraryStore(make_engine(f"sqlite:///{path}"))
    when = datetime(2026, 1, 5, tzinfo=UTC)
    lib.merge(POPULATION, "run-1", "police", when, ["11010519491231002X"], {"name": ["张三"]})
    rec = lib.person("11010519491231002X")
    assert rec is not None and rec.value("name") == "张三"
    with lib.engine.connect() as conn:
        assert conn.execute(text("PRAGMA page_size")).scalar_one() == 4096
