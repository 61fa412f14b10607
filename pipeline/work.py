"""The objects the steps write and read back: work files, the quarantine, their keys.

Work files live under ``work/<run>/`` and are pure functions of the landed file, so each is
written once (a retried step finds it) and expires after a week (see
``scripts/services/minio_buckets.py``); the quarantine under ``quarantine/<dataset>/`` is kept.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.parquet as pq

from storage.objects import ObjectStore

# the check step's work files: every row typed with whether it was accepted (for the merge
# step), and the rejected rows as sent with their reasons (for the quarantine step)
CHECKED = "checked.arrow"
REJECTED = "rejected.arrow"
ACCEPTED_COLUMN = "_accepted"
REASONS_COLUMN = "_reasons"


def work_key(run_id: str, name: str) -> str:
    return f"work/{run_id}/{name}"


def quarantine_key(dataset: str, run_id: str) -> str:
    return f"quarantine/{dataset}/{run_id}.parquet"


def parquet_bytes(table: pa.Table) -> bytes:
    """``table`` as zstd Parquet: for what is kept (the quarantined rows)."""
    out = pa.BufferOutputStream()
    pq.write_table(table, out, compression="zstd")
    data: bytes = out.getvalue().to_pybytes()
    return data


def arrow_bytes(table: pa.Table) -> bytes:
    """``table`` as an Arrow IPC file (zstd): for work files only this room reads back, as
    writing and reading it costs a fifth of Parquet's (no encoding, zero-copy reads)."""
    out = pa.BufferOutputStream()
    with pa.ipc.new_file(
        out, table.schema, options=pa.ipc.IpcWriteOptions(compression="zstd")
    ) as writer:
        writer.write_table(table)
    data: bytes = out.getvalue().to_pybytes()
    return data


def put_once(objects: ObjectStore, key: str, make: Callable[[], bytes]) -> None:
    """Write a derived object unless it exists (it is a pure function of the landed file)."""
    if not objects.exists(key):
        objects.put(key, make())


def load_table(objects: ObjectStore, key: str) -> pa.Table:
    """A Parquet object, or an Arrow IPC file (see :func:`arrow_bytes`), as a table."""
    data = pa.BufferReader(objects.get(key))
    if data.read(6) == b"ARROW1":
        return pa.ipc.open_file(data).read_all()
    data.seek(0)
    return pq.read_table(data)


def now() -> datetime:
    """The time a run's record takes (naive UTC, as the run table holds it)."""
    return datetime.now(UTC).replace(tzinfo=None)
