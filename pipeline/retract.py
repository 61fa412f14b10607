"""A delivered run taken back: its department sent it by mistake (撤回).

The run counts for nothing from then on: the golden records of its subjects fall back to what
the other runs said (:meth:`storage.library.LibraryStore.retract_run`), its statements stay as
history, and the run is marked ``retracted`` with the reason. The retraction is audited: one
ledger entry (``run.retract``: run, dataset, library, how many subjects, the staff account,
the time and the reason's digest, never the reason's text nor any subject) is appended in the
same transaction, so a retraction without its entry, or an entry without its retraction, cannot
be left behind.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection

from pipeline.publish import snapshot
from pipeline.refs import IngestError
from pipeline.services import IngestServices
from storage.library import LibraryError

# appends entries to the ledger inside the caller's transaction (LedgerService.append_many_in)
AppendIn = Callable[[Connection, Sequence[bytes]], list[int]]


def retract(
    hub: IngestServices,
    run_id: str,
    reason: str,
    staff: str,
    ledger: AppendIn,
    *,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Take back ``run_id`` for ``reason`` on behalf of ``staff`` (see the module); returns
    what was retracted with the ledger entry's id. :class:`IngestError` when the run is
    unknown, never merged, retracted already, or no reason is given; nothing changes then."""
    when = (now or datetime.now(UTC)).astimezone(UTC)
    entry: dict[str, Any] = {}

    def audit(conn: Connection, done: dict[str, Any]) -> None:
        record = {
            "event": "run.retract",
            "run_id": done["run_id"],
            "dataset": done["dataset"],
            "library": done["library"],
            "subjects": done["subjects"],
            "staff": staff,
            "reason_sha256": hashlib.sha256(reason.strip().encode()).hexdigest(),
            "time": when.replace(microsecond=0, tzinfo=None).isoformat() + "Z",
        }
        data = json.dumps(record, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        entry["id"] = ledger(conn, [data.encode()])[0]

    try:
        hub.library.get_run(run_id)
        done = hub.library.retract_run(run_id, reason, staff, when, within=audit)
    except LibraryError as exc:
        raise IngestError(str(exc)) from None
    snapshot(hub, done["library"])  # the library's columnar copy, of its version without the run
    return {**done, "ledger_entry": entry["id"]}
