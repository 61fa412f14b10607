"""A library's version: what a copy of its golden records (a snapshot) is keyed by.

Every transaction that can change a library's golden records — a merge (statements,
withdrawals) and a retraction — counts one more change of that library in
``library_versions`` (:func:`count_change`), in the same transaction as the change itself, so a
version is never seen without its change nor a change without its version. The version a
reader sees (:func:`library_version`) is that count together with the library's merged runs
(how many, the highest number) and its retractions, so that a change made by a hub from before
the count existed still changes the version.
"""

from __future__ import annotations

from sqlalchemy import Column, Connection, Engine, Integer, MetaData, String, Table, text

version_metadata = MetaData()

versions = Table(
    "library_versions",
    version_metadata,
    Column("library", String(16), primary_key=True),
    Column("changes", Integer, nullable=False),  # transactions that changed the library
)

_COUNT = text(
    "INSERT INTO library_versions (library, changes) VALUES (:l, 1) "
    "ON CONFLICT (library) DO UPDATE SET changes = library_versions.changes + 1"
)

_VERSION = text(
    "SELECT (SELECT coalesce(max(changes), 0) FROM library_versions WHERE library = :l), "
    "(SELECT count(*) FROM library_merges WHERE library = :l), "
    "(SELECT coalesce(max(run_no), 0) FROM library_merges WHERE library = :l), "
    "(SELECT count(*) FROM library_retractions WHERE library = :l)"
)


def count_change(conn: Connection, library: str) -> None:
    """Count one more change of ``library`` (inside the transaction that makes it)."""
    conn.execute(_COUNT, {"l": library})


def library_version(engine: Engine, library: str) -> str:
    """The library's current version: it differs after every committed change."""
    with engine.connect() as conn:
        row = conn.execute(_VERSION, {"l": library}).one()
    return "-".join(str(int(v)) for v in row)
