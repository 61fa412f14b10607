"""The ingest pipeline as plain functions: land → check → quarantine → merge → publish.

Each step takes and returns a small reference dict (run id, object keys, counts), never data, so
Airflow tasks can pass it through XCom and the command line can call the steps in a row. A run is
keyed by (dataset, sha256 of the file): its id is derived from both, every step is idempotent and
intermediate results are write-once objects, so re-running a finished run changes nothing and a
run killed at any point re-runs to the same end state.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from hub.settings import Settings
from schemas import resident_id
from schemas.contracts import Contract, load_contracts
from schemas.library import subject_key
from schemas.readers import ROW_COLUMN, ReadError, combined, read_text
from storage.library import (
    LEGAL_ENTITY,
    POPULATION,
    LibraryStore,
    PreparedStatements,
    engine_for,
    library_text,
    prepare_statements,
    text_sort_indices,
)
from storage.objects import ObjectStore, landing_key, object_store, sha256_hex

Ref = dict[str, Any]
ASSETS = {POPULATION: "library://population", LEGAL_ENTITY: "library://legal-entity"}
REASONS_COLUMN = "_reasons"
# reader flags the quality engine does not know about (it parses types itself; the reader's
# :TYPE is a JSON value of the wrong kind, which the engine sees only as text)
_READER_ONLY = (":CONTROL_CHAR", ":TOO_LONG", ":TYPE", ":NUMERIC_CELL")


class IngestError(Exception):
    """A run could not proceed; the message says which run, which step and why."""


@dataclass
class Hub:
    """What the steps need: settings, the object store, the library and the contracts."""

    settings: Settings
    objects: ObjectStore
    library: LibraryStore
    contracts: dict[str, Contract] = field(default_factory=dict)

    @classmethod
    def open(cls, settings: Settings, contracts_dir: Path | None = None) -> Hub:
        settings.ensure_dirs()
        return cls(
            settings,
            object_store(settings),
            LibraryStore(engine_for(settings.db_url)),
            load_contracts(contracts_dir),
        )

    def contract(self, dataset: str) -> Contract:
        try:
            return self.contracts[dataset]
        except KeyError:
            known = ", ".join(sorted(self.contracts)) or "none"
            raise IngestError(f"unknown dataset {dataset!r} (contracts: {known})") from None


def run_id_for(dataset: str, digest: str) -> str:
    """The run id of a file: the same file for the same dataset is always the same run."""
    return f"{dataset}-{digest[:16]}"


def _work_key(run_id: str, name: str) -> str:
    return f"work/{run_id}/{name}"


def quarantine_key(dataset: str, run_id: str) -> str:
    return f"quarantine/{dataset}/{run_id}.parquet"


def _parquet_bytes(table: pa.Table) -> bytes:
    """``table`` as zstd Parquet: for what is kept (the quarantined rows)."""
    out = pa.BufferOutputStream()
    pq.write_table(table, out, compression="zstd")
    return out.getvalue().to_pybytes()


# the check step's work file for the merge step: every row typed, and whether it was accepted
CHECKED = "checked.arrow"
ACCEPTED_COLUMN = "_accepted"


def _arrow_bytes(table: pa.Table) -> bytes:
    """``table`` as an Arrow IPC file (zstd): for work files only this module reads back, as
    writing and reading it costs a fifth of Parquet's (no encoding, zero-copy reads)."""
    out = pa.BufferOutputStream()
    with pa.ipc.new_file(
        out, table.schema, options=pa.ipc.IpcWriteOptions(compression="zstd")
    ) as writer:
        writer.write_table(table)
    return out.getvalue().to_pybytes()


def _put_once(hub: Hub, key: str, make: Callable[[], bytes]) -> None:
    """Write a derived object unless it exists (it is a pure function of the landed file)."""
    if not hub.objects.exists(key):
        hub.objects.put(key, make())


def _load_table(hub: Hub, key: str) -> pa.Table:
    """A Parquet object, or an Arrow IPC file (see :func:`_arrow_bytes`), as a table."""
    data = pa.BufferReader(hub.objects.get(key))
    if data.read(6) == b"ARROW1":
        return pa.ipc.open_file(data).read_all()
    data.seek(0)
    return pq.read_table(data)


# ---- steps --------------------------------------------------------------------------------


def land(
    hub: Hub,
    dataset: str,
    data: bytes,
    filename: str,
    received_at: datetime | None = None,
) -> Ref:
    """Store the raw bytes under ``landing/<dataset>/<sha256>`` and open (or find) the run."""
    hub.contract(dataset)
    digest = sha256_hex(data)
    key = landing_key(dataset, digest)
    hub.objects.put(key, data)
    existing = hub.library.find_run(dataset, digest)
    if existing is None:
        when = (received_at or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None)
        existing = hub.library.open_run(
            run_id_for(dataset, digest), dataset, digest, key, Path(filename).name, when
        )
    return {
        "run_id": existing["run_id"],
        "dataset": dataset,
        "object_key": key,
        "sha256": digest,
        "status": existing["status"],
        "already_done": existing["status"] == "published",
    }


def _rejections(
    engine_reasons: pa.Array | pa.ChunkedArray, read_flags: pa.Array | pa.ChunkedArray
) -> tuple[pa.Array, pa.Array, pa.ListArray]:
    """Which rows are rejected and why: the rule engine's reasons plus the reader's own flags
    (control characters, over-long fields, formulas). Returns the accepted-row mask, the
    rejected rows' positions (ascending) and their sorted distinct reason codes, computed
    over the (row, code) pairs by Arrow: no Python object per rejected row."""
    import numpy as np

    engine_reasons = combined(engine_reasons)
    read_flags = combined(read_flags)
    n = len(engine_reasons)
    own = pc.list_flatten(read_flags)
    keep = pc.ends_with(own, _READER_ONLY[0])
    for suffix in _READER_ONLY[1:]:
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


def check(hub: Hub, ref: Ref, *, fail_on_breach: bool | None = None) -> Ref:
    """Read the landed file with the contract and run its quality rules; write the typed rows
    with which of them were accepted (for the merge step) and the quarantined rows with their
    reasons.

    Reading is part of this step, not a step of its own: the parsed rows go straight to the
    rules instead of through a work file (which cost the pipeline a tenth of its time to write
    and read back, and a second Airflow task per run). An unreadable file fails the run with
    the reader's message, and so does any other failure of the step (with its kind)."""
    from quality.metrics import QualityBreachError

    run = hub.library.get_run(ref["run_id"])
    contract = hub.contract(run["dataset"])
    try:
        return _check(hub, ref, run, contract, fail_on_breach)
    except (ReadError, QualityBreachError):
        raise  # the run is marked failed with the message already
    except Exception as exc:
        # whatever else stops the step fails the run with a message saying so, so a run is
        # never left "landed" (a retry that succeeds marks it checked again); an unexpected
        # error's own text may quote the data, so only its kind is kept
        if isinstance(exc, IngestError):
            message = str(exc)
        else:
            message = (
                f"check step failed ({type(exc).__name__}); the file stays in landing and "
                "the run can be checked again"
            )
        hub.library.set_run(run["run_id"], status="failed", message=message, finished_at=_now())
        if isinstance(exc, IngestError):
            raise
        raise IngestError(f"run {run['run_id']}: {message}") from exc


def _check(
    hub: Hub, ref: Ref, run: dict[str, Any], contract: Contract, fail_on_breach: bool | None
) -> Ref:
    from quality.engine import check_table
    from quality.metrics import enforce, record_run

    try:
        # text only: the rules convert types themselves (quality.engine.check_table)
        read = read_text(hub.objects.get(run["object_key"]), contract, run["filename"])
    except ReadError as exc:
        hub.library.set_run(run["run_id"], status="failed", message=str(exc), finished_at=_now())
        raise
    raw, read_flags = read.raw, read.reasons
    text = raw.drop_columns([ROW_COLUMN])
    result = check_table(text, contract, received_at=run["received_at"])

    accepted_mask, rejected_rows, reasons = _rejections(result.reasons, read_flags)
    # not filtered here: the merge skips the rejected rows as it sorts the accepted ones
    checked = result.typed.append_column(ROW_COLUMN, raw[ROW_COLUMN]).append_column(
        ACCEPTED_COLUMN, accepted_mask
    )
    rows_in = raw.num_rows
    rows_acc = int(pc.sum(accepted_mask).as_py() or 0)
    rows_q = len(rejected_rows)
    if rows_in != rows_acc + rows_q:  # the invariant the whole design rests on
        raise IngestError(f"run {run['run_id']}: {rows_in} in != {rows_acc} + {rows_q}")
    checked_key = _work_key(run["run_id"], CHECKED)
    q_key = quarantine_key(run["dataset"], run["run_id"]) if rows_q else None
    with ThreadPoolExecutor(max_workers=1) as background:
        # the step's longest write (Arrow, without the GIL) goes on while the rejected rows
        # are gathered and the run is recorded; every write is idempotent, as before
        stored = background.submit(_put_once, hub, checked_key, lambda: _arrow_bytes(checked))
        rejected = raw.take(rejected_rows).append_column(REASONS_COLUMN, reasons)
        # rejected rows only have reasons
        counts = {
            str(v["values"]): int(v["counts"])
            for v in pc.value_counts(pc.list_flatten(reasons)).to_pylist()
        }
        breaches = record_run(
            hub.library.engine,
            run_id=run["run_id"],
            contract=contract,
            metrics=result.metrics,
            rows_in=rows_in,
            rows_accepted=rows_acc,
            reason_counts=counts,
        )
        if q_key:
            _put_once(hub, q_key, lambda: _parquet_bytes(rejected))
            hub.library.record_quarantine(run["run_id"], run["dataset"], q_key, rows_q, counts)
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
    try:
        enforce(contract, breaches, fail=fail_on_breach)
    except Exception as exc:
        hub.library.set_run(run["run_id"], status="failed", message=str(exc), finished_at=_now())
        raise
    return {
        **ref,
        "status": "checked",
        "checked_key": checked_key,
        "quarantine_key": q_key,
        "rows_in": rows_in,
        "rows_accepted": rows_acc,
        "rows_quarantined": rows_q,
        "metrics": {k: round(v, 6) for k, v in result.metrics.items()},
        "breaches": [str(b) for b in breaches],
    }


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

    def prepare(at: int, size: int) -> PreparedStatements:
        part = loading.result().select([name for _, name in fields]).take(order.slice(at, size))
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
    hub: Hub, run_id: str, subject_column: str, background: ThreadPoolExecutor
) -> tuple[pa.Array, Future[pa.Table]]:
    """The subject column of the rows the check step left for the merge step, null where a
    row was rejected, and those rows, loaded meanwhile in ``background``. An error saying what
    to do when they are gone (work files expire, see ``scripts/services/minio_buckets.py``).
    Runs checked before the work file held every row left only the accepted ones (in an Arrow
    IPC file, or before that in Parquet)."""
    for name in (CHECKED, "accepted.arrow", "accepted.parquet"):
        key = _work_key(run_id, name)
        if hub.objects.exists(key):
            break
    else:
        raise IngestError(
            f"run {run_id}: its checked rows ({_work_key(run_id, CHECKED)}) are gone, as work "
            "files expire a week after they are written: run its check step again, then merge"
        )
    if not key.endswith(".arrow"):
        loaded: Future[pa.Table] = Future()
        loaded.set_result(_load_table(hub, key))
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


def merge(
    hub: Hub,
    ref: Ref,
    *,
    after_facts: Callable[[], None] | None = None,
    fail_on_breach: bool | None = None,
) -> Ref:
    """Merge accepted rows into the library: statements with provenance, then golden records.

    Then the run's accuracy (agreement with the authoritative sources' values, counted by the
    library merge against the records it held) joins its other ratios; an accuracy breach fails
    the step like a check breach, and the run stays unpublished. Its statements stay as history:
    a non-authoritative value never wins over the authoritative one, so golden records are
    unaffected.
    """
    from quality.metrics import Agreement, enforce, record_metric

    run = hub.library.get_run(ref["run_id"])
    if run["status"] == "published":
        return {**ref, "status": run["status"], "facts": 0, "merged_already": True}
    contract = hub.contract(run["dataset"])
    key_field = contract.column(contract.subject_column).field
    written = 0
    if run["status"] != "merged":  # a retry after the library write only re-measures
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="merge-load") as background:
            raw_subjects, loading = _checked_rows(
                hub, run["run_id"], contract.subject_column, background
            )
            subjects = _subjects(raw_subjects, contract.library)
            fields = [
                (c.field, c.name) for c in contract.columns if c.field and c.field != key_field
            ]
            written = hub.library.merge_chunks(
                contract.library,
                run["run_id"],
                run["dataset"],
                run["received_at"].replace(tzinfo=UTC),
                _by_subject(loading, subjects, fields),
                contract.authoritative_for,
                after_facts=after_facts,
            )
    agreeing, compared = hub.library.agreement(contract.library, run["run_id"])
    agreement = Agreement(agreeing, compared)
    breaches = record_metric(
        hub.library.engine,
        run_id=run["run_id"],
        contract=contract,
        dimension="accuracy",
        value=agreement.ratio,
    )
    try:
        enforce(contract, breaches, fail=fail_on_breach)
    except Exception as exc:
        hub.library.set_run(run["run_id"], status="failed", message=str(exc), finished_at=_now())
        raise
    return {
        **ref,
        "status": "merged",
        "facts": written,
        "metrics": {**ref.get("metrics", {}), "accuracy": round(agreement.ratio, 6)},
        "accuracy_compared": agreement.compared,
        "breaches": [*ref.get("breaches", []), *(str(b) for b in breaches)],
    }


def publish(hub: Hub, ref: Ref) -> Ref:
    """Close the run; the caller (a DAG task) emits the library's Asset event."""
    run = hub.library.get_run(ref["run_id"])
    if run["status"] != "published":
        if run["status"] != "merged":
            raise IngestError(f"run {run['run_id']} is {run['status']}, not merged: cannot publish")
        hub.library.set_run(run["run_id"], status="published", finished_at=_now())
    contract = hub.contract(run["dataset"])
    return {**ref, "status": "published", "asset": ASSETS[contract.library]}


def run_pipeline(
    hub: Hub,
    dataset: str,
    data: bytes,
    filename: str,
    *,
    received_at: datetime | None = None,
    fail_on_breach: bool | None = None,
) -> Ref:
    """All steps in this process (what the DAG does task by task); returns the run summary."""
    ref = land(hub, dataset, data, filename, received_at)
    if ref["already_done"]:
        run = hub.library.get_run(ref["run_id"])
        return {**ref, **_counts(run), "message": "already ingested: nothing changed"}
    ref = check(hub, ref, fail_on_breach=fail_on_breach)
    ref = merge(hub, ref, fail_on_breach=fail_on_breach)
    ref = publish(hub, ref)
    ref["message"] = "ingested"
    return ref


def _counts(run: dict[str, Any]) -> Ref:
    return {k: run[k] for k in ("rows_in", "rows_accepted", "rows_quarantined")}


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


# ---- cross-source checks after merge ------------------------------------------------------


def cross_checks(hub: Hub) -> Ref:
    """Checks spanning sources: legal representatives exist; birth date/sex agree with the ID.

    Findings are reported, never used to drop data. Returns counts and (non-personal) examples:
    the USCCs of entities whose representative is unknown.
    """
    from quality.referential import missing_references

    lib = hub.library
    persons = pa.array(lib.subjects(POPULATION), pa.string())
    reps = lib.golden_values(LEGAL_ENTITY, "legal_rep_id_number")
    rep_entities = list(reps)
    rep_ids = pa.array([resident_id.normalise(v) for v in reps.values()], pa.string())
    missing = missing_references(rep_ids, persons).to_pylist()
    unmatched = [e for e, m in zip(rep_entities, missing, strict=True) if m]

    births = lib.golden_values(POPULATION, "birth_date")
    ids = list(births)
    derived = resident_id.birth_date_array(pa.array(ids, pa.string())).to_pylist()
    birth_mismatch = sum(
        1 for i, d in zip(ids, derived, strict=True) if d is not None and d.isoformat() != births[i]
    )
    sexes = lib.golden_values(POPULATION, "sex")
    sids = list(sexes)
    dsex = resident_id.sex_array(pa.array(sids, pa.string())).to_pylist()
    sex_mismatch = sum(
        1 for i, s in zip(sids, dsex, strict=True) if s is not None and s != sexes[i]
    )
    return {
        "entities_checked": len(rep_entities),
        "legal_rep_unmatched": len(unmatched),
        "legal_rep_unmatched_entities": sorted(unmatched)[:20],
        "persons_checked": len(set(ids) | set(sids)),
        "birth_date_mismatch": birth_mismatch,
        "sex_mismatch": sex_mismatch,
    }


# ---- quarantine: list, export, resubmit ---------------------------------------------------

_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def export_quarantine(hub: Hub, run_id: str) -> bytes:
    """A run's quarantined rows as UTF-8-BOM CSV for a data steward, with reasons per row.

    Cells that a spreadsheet would evaluate (``=``, ``+``, ``-``, ``@``) are prefixed with ``'``
    so opening the export never runs a formula (OWASP CSV injection).
    """
    import csv

    entries = [q for q in hub.library.list_quarantine() if q["run_id"] == run_id]
    if not entries:
        raise IngestError(f"run {run_id!r} has no quarantined rows (see `hub quarantine list`)")
    table = _load_table(hub, entries[0]["object_key"])
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    names = [n for n in table.column_names if n != REASONS_COLUMN]
    w.writerow([*names, REASONS_COLUMN])
    cols = {n: table[n].to_pylist() for n in table.column_names}
    for i in range(table.num_rows):
        cells = ["" if cols[n][i] is None else str(cols[n][i]) for n in names]
        cells = ["'" + c if c.startswith(_TRIGGERS) else c for c in cells]
        w.writerow([*cells, " ".join(cols[REASONS_COLUMN][i])])
    return buf.getvalue().encode("utf-8-sig")


def resubmit(
    hub: Hub, run_id: str, corrected_csv: bytes, *, fail_on_breach: bool | None = False
) -> Ref:
    """Ingest corrected rows (an edited export) as a new run of the original dataset.

    A resubmission holds only formerly rejected rows, so file-level thresholds would nearly
    always breach: by default they warn here, and rows still bad are quarantined again.
    """
    import csv

    from hub.synth import write_file

    entries = [q for q in hub.library.list_quarantine() if q["run_id"] == run_id]
    if not entries:
        raise IngestError(f"run {run_id!r} has no quarantined rows to resubmit")
    contract = hub.contract(entries[0]["dataset"])
    try:
        text = corrected_csv.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise IngestError(f"corrected file must be the UTF-8 CSV export: {exc}") from None
    rows = list(csv.DictReader(io.StringIO(text)))
    if not rows:
        raise IngestError("corrected file has no rows")

    def undo_escape(v: str) -> str:
        return v[1:] if v.startswith("'") and v[1:].startswith(_TRIGGERS) else v

    data = [[undo_escape(r.get(c, "") or "") for c in contract.column_names] for r in rows]
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = write_file(contract, data, Path(tmp))
        payload = path.read_bytes()
    ref = run_pipeline(
        hub,
        contract.dataset_id,
        payload,
        f"resubmit-{run_id}{path.suffix}",
        fail_on_breach=fail_on_breach,
    )
    hub.library.mark_resubmitted(run_id, ref["run_id"])
    return ref
