"""The licence index table as hubs from before ``ledger_entry_id`` created it, to test its upgrade."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, text


def create_before_entry_ids(conn: Connection) -> None:
    """``licences`` with the issue entry's id in ``ledger_index`` (the DDL those hubs ran)."""
    stamp = "TIMESTAMP WITHOUT TIME ZONE" if conn.dialect.name == "postgresql" else "DATETIME"
    conn.execute(
        text(
            "CREATE TABLE licences (licence_id VARCHAR(120) NOT NULL, type_code VARCHAR(21) "
            "NOT NULL, authority VARCHAR(18) NOT NULL, serial VARCHAR(40) NOT NULL, version "
            "INTEGER NOT NULL, holder_kind VARCHAR(8) NOT NULL, holder_id VARCHAR(18) NOT NULL, "
            "status VARCHAR(16) NOT NULL, reason_code VARCHAR(32), reason_text TEXT, "
            f"issued_at {stamp} NOT NULL, valid_to VARCHAR(10), object_key TEXT NOT NULL, "
            "document_digest VARCHAR(64) NOT NULL, seal_id VARCHAR(40) NOT NULL, status_index "
            "INTEGER NOT NULL, ledger_index INTEGER, receipt TEXT, superseded_by VARCHAR(120), "
            f"updated_at {stamp} NOT NULL, PRIMARY KEY (licence_id))"
        )
    )
    conn.execute(text("CREATE INDEX ix_licences_authority ON licences (authority)"))
    conn.execute(text("CREATE INDEX ix_licences_holder_id ON licences (holder_id)"))


def add_old_licence(conn: Connection, row: dict[str, Any]) -> None:
    """One index row as such a hub stored it (``row`` keyed by the old column names)."""
    names = ", ".join(row)
    conn.execute(
        text(f"INSERT INTO licences ({names}) VALUES ({', '.join(':' + k for k in row)})"), row
    )


def as_hub_from_before(conn: Connection) -> list[dict[str, Any]]:
    """Put the licences of a current hub back into the old layout, every value kept; returns
    the rows (old column names) as they were stored."""
    rows = [dict(r) for r in conn.execute(text("SELECT * FROM licences")).mappings()]
    conn.execute(text("DROP TABLE licences"))
    create_before_entry_ids(conn)
    old = [
        {("ledger_index" if k == "ledger_entry_id" else k): v for k, v in r.items()} for r in rows
    ]
    for r in old:
        add_old_licence(conn, r)
    return old
