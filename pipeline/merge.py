"""The merge step: the accepted rows into the library, one statement per row with provenance.

The rows come from the check step's work file, sorted by subject and cut into chunks whose
statements are prepared while the library writes the previous chunk; the library's write is
one transaction, so a merge that fails leaves nothing of the run behind and can run again. The
golden record of each subject follows the precedence rule (一数一源): a fact from the field's
authoritative source wins, otherwise the newest.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from pipeline.refs import IngestError, RunRef
from pipeline.services import IngestServices, fail_run
from pipeline.work import ACCEPTED_COLUMN, CHECKED, load_table, work_key
from schemas.library import subject_key
from storage.library import (
    PreparedStatements,
    library_text,
    prepare_statements,
    text_sort_indices,
)


def merge(
    hub: IngestServices,
    ref: RunRef,
    *,
    after_facts: Callable[[], None] | None = None,
    withdrawn: Sequence[str] = (),
) -> RunRef:
    """Merge the accepted rows into the library: statements with provenance, then golden
    records (see the module). ``withdrawn``: subjects the run's source deleted (a pull's
    tombstones), withdrawn in the same transaction. A run merged already is left as it is; any
    failure marks the run failed with a message saying so."""
    run = hub.library.get_run(ref["run_id"])
    if run["status"] == "published":
        return {**ref, "status": run["status"], "facts": 0, "merged_already": True}
    written = 0
    if run["status"] != "merged":
        retry = (
            "nothing of the run was merged (the library write is one transaction): merge it again"
        )
        try:
            written = _merge(hub, run, after_facts, withdrawn)
        except Exception as exc:
            error = fail_run(hub, run["run_id"], exc, "merge", retry)
            if error is exc:
                raise
            raise error from exc
    return {**ref, "status": "merged", "facts": written}


def _merge(
    hub: IngestServices,
    run: dict[str, Any],
    after_facts: Callable[[], None] | None,
    withdrawn: Sequence[str] = (),
) -> int:
    run_id, dataset = run["run_id"], run["dataset"]
    contract = hub.contract(dataset)
    key_field = contract.column(contract.subject_column).field
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="merge-load") as background:
        raw_subjects, loading = _checked_rows(hub, run_id, contract.subject_column, background)
        subjects = _subjects(raw_subjects, contract.library)
        fields = [(c.field, c.name) for c in contract.columns if c.field and c.field != key_field]
        return hub.library.merge_chunks(
            contract.library,
            run_id,
            dataset,
            run["received_at"].replace(tzinfo=UTC),
            _by_subject(loading, subjects, fields),
            contract.authoritative_for,
            after_facts=after_facts,
            withdrawn=[
                s
                for s in _subjects(pa.array(withdrawn, pa.string()), contract.library).to_pylist()
                if s
            ],
        )


def _subjects(values: pa.Array, library: str) -> pa.Array:
    """Canonical subject keys (:func:`schemas.library.subject_key`): trimmed upper case by
    Arrow, and in Python only the few values that are not ASCII or have 15 characters."""
    norm = pc.utf8_upper(pc.utf8_trim_whitespace(values))
    odd = pc.or_(pc.invert(pc.string_is_ascii(norm)), pc.equal(pc.utf8_length(norm), 15))
    rows = pc.indices_nonzero(pc.fill_null(odd, False))
    if len(rows) == 0:
        return norm
    keys = norm.to_pylist()
    for i in rows.to_pylist():
        keys[i] = subject_key(library, keys[i])
    return pa.array(keys, pa.string())


def as_library_text(values: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """A typed column as the text the library stores (what ``str`` or ``isoformat`` gives the
    Python value), converted by Arrow where its cast writes the same text and by the library's
    own conversion otherwise."""
    t = values.type
    if pa.types.is_string(t):
        return values
    if pa.types.is_boolean(t):
        return pc.if_else(values, "1", "0")
    if pa.types.is_date32(t) or pa.types.is_integer(t) or pa.types.is_decimal(t):
        return values.cast(pa.string())
    if t == pa.timestamp("s"):
        return pc.strftime(values, format="%Y-%m-%dT%H:%M:%S")
    return pa.array(
        [None if v is None else library_text(v) for v in values.to_pylist()], pa.string()
    )


def _by_subject(
    loading: Future[pa.Table],
    subjects: pa.Array,
    fields: list[tuple[str, str]],
    rows: int = 50_000,
) -> Iterator[PreparedStatements]:
    """The accepted rows as merge chunks: sorted by subject (stably, so a subject's later row
    still wins), cut only between subjects, each chunk's statements built when it is merged (a
    million rows would otherwise hold every value at once). The Arrow work of the next chunk
    runs in a worker thread while the library writes the current one. ``subjects`` is null for
    the rows to skip (rejected, or without a usable key); the rows may still be ``loading``."""
    order = text_sort_indices(subjects)  # stable, nulls last
    keys = subjects.take(order)
    n = len(keys) - keys.null_count  # rows without a usable key are skipped
    bounds: list[tuple[int, int]] = []
    start = 0
    while start < n:
        stop = min(start + rows, n)
        if stop < n:  # extend to the end of the last subject's rows
            last = keys[stop - 1].as_py()
            while stop < n and keys[stop].as_py() == last:
                stop += 1
        bounds.append((start, stop - start))
        start = stop

    contiguous: list[pa.Table] = []  # made once, by the worker, on the first chunk

    def prepare(at: int, size: int) -> PreparedStatements:
        if not contiguous:
            # the rows in one chunk per column (a copy, not a gather), then a gather per merge
            # chunk: Arrow's take on a table of many chunks reads every chunk on each call, so
            # a gather per chunk of the file's table made the merge quadratic (10 M rows: 200
            # reads of the whole table), and one gather of the whole table held the library's
            # COPY back until it was done (1 M rows: 1.1 s of CPU before the first statement,
            # against 0.07 s this way, and 0.70 s against 1.10 s for all the chunks)
            chosen = loading.result().select([name for _, name in fields])
            contiguous.append(chosen.combine_chunks())
        part = contiguous[0].take(order.slice(at, size))
        return prepare_statements(
            keys.slice(at, size),
            {f: as_library_text(part.column(name)).combine_chunks() for f, name in fields},
        )

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="merge-prepare") as worker:
        ahead = [worker.submit(prepare, *b) for b in bounds[:1]]
        for i in range(len(bounds)):
            prepared = ahead.pop().result()
            if i + 1 < len(bounds):
                ahead.append(worker.submit(prepare, *bounds[i + 1]))
            yield prepared  # its Python objects are made by the library, if it needs them


def _checked_rows(
    hub: IngestServices, run_id: str, subject_column: str, background: ThreadPoolExecutor
) -> tuple[pa.Array, Future[pa.Table]]:
    """The subject column of the rows the check step left for the merge step, null where a
    row was rejected, and those rows, loaded meanwhile in ``background``. An error saying what
    to do when they are gone (work files expire, see ``scripts/services/minio_buckets.py``).
    Runs checked before the work file held every row left only the accepted ones (in an Arrow
    IPC file, or before that in Parquet)."""
    for name in (CHECKED, "accepted.arrow", "accepted.parquet"):
        key = work_key(run_id, name)
        if hub.objects.exists(key):
            break
    else:
        raise IngestError(
            f"run {run_id}: its checked rows ({work_key(run_id, CHECKED)}) are gone, as work "
            "files expire a week after they are written: run its check step again, then merge"
        )
    if not key.endswith(".arrow"):
        loaded: Future[pa.Table] = Future()
        loaded.set_result(load_table(hub.objects, key))
        return loaded.result()[subject_column].combine_chunks(), loaded
    data = hub.objects.get(key)

    def read(columns: list[int] | None = None) -> pa.Table:
        options = None if columns is None else pa.ipc.IpcReadOptions(included_fields=columns)
        return pa.ipc.open_file(pa.BufferReader(data), options=options).read_all()

    loading = background.submit(read)  # while the subjects are read and sorted
    names = pa.ipc.open_file(pa.BufferReader(data)).schema.names
    mine = [n for n in (subject_column, ACCEPTED_COLUMN) if n in names]
    head = read([names.index(n) for n in mine])
    subjects = head[subject_column].combine_chunks()
    if ACCEPTED_COLUMN in names:
        accepted = head[ACCEPTED_COLUMN].combine_chunks()
        subjects = pc.if_else(accepted, subjects, pa.scalar(None, subjects.type))
    return subjects, loading
