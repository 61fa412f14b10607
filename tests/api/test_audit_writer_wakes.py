"""A request whose audit rows carry an attached write (a claim's receipt) and find the writer
thread busy is committed when the writer is done, not left waiting for the next request."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, create_engine, event, func, select

from api.audit import AuditLog, audit_log


def _attached(_conn: Connection, _items: list[Any]) -> None:
    """A write attached to the rows, as a claim's receipt is (nothing to write here)."""


def test_an_attached_request_queued_behind_the_writer_is_committed(tmp_path: Path) -> None:
    path = tmp_path / "hub.db"
    log = AuditLog(create_engine(f"sqlite:///{path}"), b"k" * 32)
    writer_inserting = threading.Event()

    @event.listens_for(log.engine, "before_cursor_execute")
    def _seen(*_args: Any) -> None:
        if threading.current_thread().name == "audit-writer":
            writer_inserting.set()

    other = sqlite3.connect(path, isolation_level=None)  # another writer holds the lock
    other.execute("BEGIN IMMEDIATE")

    def row(subject: str) -> tuple[Any, ...]:
        return log.row("c", "p", "POST", "/r", subject, ["f"], "answered", 200)

    async def ask() -> None:
        first = asyncio.ensure_future(log.committed(log.submit([row("A")])))
        # the loop cannot commit it at once: the writer thread takes it and waits for the lock
        assert await asyncio.to_thread(writer_inserting.wait, 30)
        # with its receipt attached, the second request is a companion of the open batch
        second = asyncio.ensure_future(log.committed(log.submit([row("B")], (_attached, 1))))
        for _ in range(5):  # its commit attempt on the loop finds the writer busy
            await asyncio.sleep(0)
        other.execute("ROLLBACK")  # the other writer is done
        # not a speed figure: a request nobody wakes would wait for ever
        await asyncio.wait_for(asyncio.gather(first, second), 30)

    try:
        asyncio.run(ask())
        with log.engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(audit_log)).scalar_one() == 2
    finally:
        other.close()
        log.stop()
