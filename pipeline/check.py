"""The check step: read the landed file with its contract and run the quality rules.

Reading is part of this step, not a step of its own: the parsed rows go straight to the rules
instead of through a work file (which cost the pipeline a tenth of its time to write and read
back, and a second Airflow task per run). The step writes two work files: every row typed with
whether it was accepted (for the merge step) and the rejected rows as sent with their reasons
(for the quarantine step), and records the run's quality ratios. Judging them against the
contract's thresholds is the quarantine step's, once the rejected rows are kept.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.refs import IngestError, RunRef
from pipeline.services import IngestServices, fail_run
from pipeline.work import (
    ACCEPTED_COLUMN,
    CHECKED,
    REASONS_COLUMN,
    REJECTED,
    arrow_bytes,
    now,
    put_once,
    work_key,
)
from schemas.contracts import Contract
from schemas.readers import ROW_COLUMN, ReadError, TextRead, combined, read_text

# reader flags the quality engine does not know about (it parses types itself; the reader's
# :TYPE is a JSON value of the wrong kind, which the engine sees only as text)
READER_ONLY = (":CONTROL_CHAR", ":TOO_LONG", ":TYPE", ":NUMERIC_CELL")


def rejections(
    engine_reasons: pa.Array | pa.ChunkedArray, read_flags: pa.Array | pa.ChunkedArray
) -> tuple[pa.Array, pa.Array, pa.ListArray]:
    """Which rows are rejected and why: the rule engine's reasons plus the reader's own flags
    (control characters, over-long fields, values of the wrong kind). Returns the accepted-row
    mask, the rejected rows' positions (ascending) and their sorted distinct reason codes,
    computed over the (row, code) pairs by Arrow: no Python object per rejected row."""
    engine_reasons = combined(engine_reasons)
    read_flags = combined(read_flags)
    n = len(engine_reasons)
    own = pc.list_flatten(read_flags)
    keep = pc.ends_with(own, READER_ONLY[0])
    for suffix in READER_ONLY[1:]:
        keep = pc.or_(keep, pc.ends_with(own, suffix))
    pairs = pa.concat_tables(
        [
            pa.table(
                {
                    "row": pc.list_parent_indices(engine_reasons).cast(pa.int64()),
                    "code": pc.list_flatten(engine_reasons),
                }
            ),
            pa.table(
                {
                    "row": pc.list_parent_indices(read_flags).cast(pa.int64()).filter(keep),
                    "code": own.filter(keep),
                }
            ),
        ]
    ).combine_chunks()
    pairs = pairs.take(pc.sort_indices(pairs, [("row", "ascending"), ("code", "ascending")]))
    rows = pairs["row"].to_numpy()
    codes = pairs["code"].combine_chunks()
    distinct = np.ones(len(rows), dtype=bool)  # a code given by both, or twice, counts once
    if len(rows) > 1:
        same_code = pc.equal(codes.slice(1), codes.slice(0, len(rows) - 1))
        distinct[1:] = (rows[1:] != rows[:-1]) | ~same_code.to_numpy(zero_copy_only=False)
    rows = rows[distinct]
    codes = codes.filter(pa.array(distinct))
    rejected, per_row = np.unique(rows, return_counts=True)
    offsets = np.zeros(len(rejected) + 1, dtype=np.int32)
    np.cumsum(per_row, out=offsets[1:])
    mask = np.ones(n, dtype=bool)
    mask[rejected] = False
    return pa.array(mask), pa.array(rejected, pa.int64()), pa.ListArray.from_arrays(offsets, codes)


def reason_counts(reasons: pa.Array | pa.ChunkedArray) -> dict[str, int]:
    """How many rejected rows carry each reason code."""
    return {
        str(v["values"]): int(v["counts"])
        for v in pc.value_counts(pc.list_flatten(combined(reasons))).to_pylist()
    }


def take_sorted(table: pa.Table, rows: pa.Array) -> pa.Table:
    """The rows of ``table`` at ``rows`` (ascending positions), gathered batch by batch: a take
    on a table of many chunks resolves every position against every chunk, and cost ten times
    as much on a million rows read in 60 chunks."""
    positions = rows.to_numpy()
    batches = table.to_batches()
    starts = np.cumsum([0] + [b.num_rows for b in batches])
    cuts = np.searchsorted(positions, starts)
    parts = [
        batch.take(pa.array(positions[cuts[i] : cuts[i + 1]] - starts[i]))
        for i, batch in enumerate(batches)
        if cuts[i + 1] > cuts[i]
    ]
    return pa.Table.from_batches(parts, schema=table.schema)


@dataclass(frozen=True)
class CheckedRows:
    """What the check step writes as work files, held in memory by a caller that runs the next
    steps in the same process (:func:`pipeline.run.run_pipeline`): every row typed with whether
    it was accepted, and the rejected rows as sent with their reasons (None if there are none)."""

    checked: pa.Table
    rejected: pa.Table | None


def check(hub: IngestServices, ref: RunRef) -> RunRef:
    """Read the landed file with the contract and run its quality rules (see the module).

    An unreadable file fails the run with the reader's message, and so does any other failure
    of the step (with its kind): a run is never left "landed"."""
    return _checked(hub, ref, keep=True)[0]


def check_in_memory(
    hub: IngestServices, ref: RunRef, read: Prefetched | None = None
) -> tuple[RunRef, CheckedRows]:
    """:func:`check`, with the rows handed to the caller instead of written as work files (a
    tenth of the pipeline's CPU went to compressing them and reading them back). The run is
    recorded as checked all the same; a later step run on its own finds no work file and says
    to check the run again. ``read``: the landed file read already (see :class:`Prefetched`)."""
    return _checked(hub, ref, keep=False, read=read)


@dataclass(frozen=True)
class Prefetched:
    """The reading of a file begun while it was landed (:func:`pipeline.run.run_pipeline`):
    the dataset whose contract it was read with, its bytes' SHA-256, the file name it was read
    under and the reading (its :class:`~schemas.readers.TextRead` or its
    :class:`~schemas.readers.ReadError`). Used only for a run of that dataset and those very
    bytes landed under that name; otherwise the landed file is read again."""

    dataset: str
    sha256: str
    filename: str
    reading: Future[TextRead]


def _checked(
    hub: IngestServices, ref: RunRef, *, keep: bool, read: Prefetched | None = None
) -> tuple[RunRef, CheckedRows]:
    run = hub.library.get_run(ref["run_id"])
    contract = hub.contract(run["dataset"])
    try:
        return _check(hub, ref, run, contract, keep, read)
    except ReadError:
        raise  # the run is marked failed with the message already
    except Exception as exc:
        # a retry that succeeds marks the run checked again
        retry = "the file stays in landing and the run can be checked again"
        error = fail_run(hub, run["run_id"], exc, "check", retry)
        if error is exc:
            raise
        raise error from exc


def _check(
    hub: IngestServices,
    ref: RunRef,
    run: dict[str, Any],
    contract: Contract,
    keep: bool,
    prefetched: Prefetched | None = None,
) -> tuple[RunRef, CheckedRows]:
    from quality.engine import check_table
    from quality.metrics import record_run

    try:
        # text only: the rules convert types themselves (quality.engine.check_table)
        if (
            prefetched is not None
            and prefetched.dataset == run["dataset"]
            and prefetched.sha256 == run["sha256"]
            and prefetched.filename == run["filename"]
        ):
            read = prefetched.reading.result()
        else:
            read = read_text(hub.objects.get(run["object_key"]), contract, run["filename"])
    except ReadError as exc:
        hub.library.set_run(run["run_id"], status="failed", message=str(exc), finished_at=now())
        raise
    raw, read_flags = read.raw, read.reasons
    text = raw.drop_columns([ROW_COLUMN])
    result = check_table(text, contract, received_at=run["received_at"])

    accepted_mask, rejected_rows, reasons = rejections(result.reasons, read_flags)
    # not filtered here: the merge skips the rejected rows as it sorts the accepted ones
    checked = result.typed.append_column(ROW_COLUMN, raw[ROW_COLUMN]).append_column(
        ACCEPTED_COLUMN, accepted_mask
    )
    rows_in = raw.num_rows
    rows_acc = int(pc.sum(accepted_mask).as_py() or 0)
    rows_q = len(rejected_rows)
    if rows_in != rows_acc + rows_q:  # the invariant the whole design rests on
        raise IngestError(f"run {run['run_id']}: {rows_in} in != {rows_acc} + {rows_q}")
    checked_key = work_key(run["run_id"], CHECKED) if keep else None
    rejected_key = work_key(run["run_id"], REJECTED) if rows_q and keep else None
    with ThreadPoolExecutor(max_workers=1) as background:
        # the step's longest write (Arrow, without the GIL) goes on while the rejected rows
        # are gathered and the run is recorded; every write is idempotent, as before
        stored = (
            background.submit(put_once, hub.objects, checked_key, lambda: arrow_bytes(checked))
            if checked_key
            else None
        )
        rejected = take_sorted(raw, rejected_rows).append_column(REASONS_COLUMN, reasons)
        breaches = record_run(
            hub.library.engine,
            run_id=run["run_id"],
            contract=contract,
            metrics=result.metrics,
            rows_in=rows_in,
            rows_accepted=rows_acc,
            reason_counts=reason_counts(reasons),  # rejected rows only have reasons
        )
        if rejected_key:
            put_once(hub.objects, rejected_key, lambda: arrow_bytes(rejected))
        if stored:
            stored.result()
    if run["status"] in ("landed", "read", "failed"):
        hub.library.set_run(
            run["run_id"],
            status="checked",
            message=None,
            rows_in=rows_in,
            rows_accepted=rows_acc,
            rows_quarantined=rows_q,
        )
    done: RunRef = {
        **ref,
        "status": "checked",
        "rejected_key": rejected_key,
        "rows_in": rows_in,
        "rows_accepted": rows_acc,
        "rows_quarantined": rows_q,
        "metrics": {k: round(v, 6) for k, v in result.metrics.items()},
        "breaches": [str(b) for b in breaches],
        "thresholds_breached": [
            {"dimension": b.dimension, "value": b.value, "threshold": b.threshold} for b in breaches
        ],
    }
    if checked_key:
        done["checked_key"] = checked_key
    return done, CheckedRows(checked, rejected if rows_q else None)
