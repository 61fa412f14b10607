"""The audit's group-commit batch: rows committed in one transaction, the requests waiting for
that commit, the writes attached to them (:meth:`api.audit.AuditLog.submit`), and the errors
they learn."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection


class AuditError(Exception):
    """The audit log could not be written, digested or verified."""


class AuditWriteFailed(AuditError):
    """The batch holding a request's audit rows could not be committed."""


class RecordWriteFailed(AuditWriteFailed):
    """What a request attached to its audit rows could not be written: no answer is given
    (its rows are committed as ``unrecorded`` refusals unless the whole batch failed)."""


UNRECORDED = "unrecorded"  # the outcome of a request whose attached write failed


def unrecorded(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """A request's audit row (``api.audit.INSERT_COLUMNS``) rewritten as the refusal it
    became: no fields, 503."""
    return (*row[:6], "", UNRECORDED, 503)


# a write done in the audit rows' transaction: (writer, item); the batch calls each writer once
# with the items of every request attached to it, in submission order
Attached = tuple[Callable[[Connection, list[Any]], None], Any]


class Batch:
    """Rows committed in one transaction, and who waits for that commit. A batch's
    ``companions`` are the requests with an attached write: committed with it, but failing
    alone."""

    __slots__ = ("attach", "companions", "done", "error", "rows", "waiters")

    def __init__(self, attach: Attached | None = None) -> None:
        self.attach = attach
        self.companions: list[Batch] = []
        self.rows: list[tuple[Any, ...]] = []
        self.done = threading.Event()
        self.error: BaseException | None = None
        self.waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []

    def holds_rows(self) -> bool:
        """Is there anything to commit: rows of its own or of a companion?"""
        return bool(self.rows or self.companions)

    def outcome(self) -> None:
        """Raise :class:`AuditWriteFailed` if this batch's commit failed."""
        if self.error is not None:
            kind = AuditWriteFailed if self.attach is None else RecordWriteFailed
            raise kind(
                f"the audit batch of {len(self.rows)} rows was not committed: "
                f"{type(self.error).__name__}"
            ) from self.error


def wake(futures: list[asyncio.Future[None]]) -> None:
    """Resolve the futures of a committed batch's waiters (on their event loop)."""
    for fut in futures:
        if not fut.done():  # a waiter whose request was cancelled
            fut.set_result(None)
