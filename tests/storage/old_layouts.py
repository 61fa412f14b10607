"""The library tables as hubs from before run numbers created them, to test their upgrade."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, text


def create_before_run_numbers(conn: Connection, *, with_fields: bool = True) -> None:
    """``library_merges`` without ``run_no`` (and, for the hubs before that, without
    ``fields``), and statements keyed by library, subject and run id."""
    stamp = "TIMESTAMP" if conn.dialect.name == "postgresql" else "DATETIME"
    clustered = " WITHOUT ROWID" if conn.dialect.name == "sqlite" else ""
    conn.execute(
        text(
            "CREATE TABLE library_merges (library VARCHAR(16) NOT NULL, run_id VARCHAR(80) "
            f"NOT NULL, dataset VARCHAR(64) NOT NULL, observed_at {stamp} NOT NULL, "
            f"authoritative TEXT NOT NULL, {'fields TEXT, ' if with_fields else ''}"
            "facts INTEGER NOT NULL, compared INTEGER NOT NULL, agreeing INTEGER NOT NULL, "
            "PRIMARY KEY (library, run_id))"
        )
    )
    conn.execute(
        text(
            "CREATE TABLE library_statements (library VARCHAR(16) NOT NULL, subject VARCHAR(32) "
            "NOT NULL, run_id VARCHAR(80) NOT NULL, doc TEXT NOT NULL, "
            f"PRIMARY KEY (library, subject, run_id)){clustered}"
        )
    )


def add_old_run(
    conn: Connection,
    library: str,
    run_id: str,
    dataset: str,
    observed_at: str,
    authoritative: str,
    statements: dict[str, str],
    fields: str | None = None,
) -> None:
    """A merged run and its statements (subject -> doc) as such a hub stored them."""
    row: dict[str, Any] = {
        "l": library,
        "r": run_id,
        "d": dataset,
        "o": observed_at,
        "a": authoritative,
        "n": len(statements),
    }
    layout = "" if fields is None else ", fields"
    conn.execute(
        text(
            f"INSERT INTO library_merges (library, run_id, dataset, observed_at, authoritative"
            f"{layout}, facts, compared, agreeing) VALUES (:l, :r, :d, :o, :a"
            f"{'' if fields is None else ', :f'}, :n, 0, 0)"
        ),
        {**row, "f": fields},
    )
    conn.execute(
        text("INSERT INTO library_statements VALUES (:l, :s, :r, :doc)"),
        [{"l": library, "s": s, "r": run_id, "doc": doc} for s, doc in statements.items()],
    )
