"""The quarantine step: the rejected rows kept with their reasons, then the file judged.

The rows the check step rejected are written as Parquet under ``quarantine/<dataset>/<run>`` and
indexed for data stewards (``hub quarantine list``); nothing is dropped. Then the run's quality
ratios are judged against the contract's thresholds: a breach fails the run (or only warns, as
the contract or the caller says), after its rejected rows are kept.
"""

from __future__ import annotations

import pyarrow as pa

from pipeline.check import reason_counts
from pipeline.refs import IngestError, RunRef
from pipeline.services import IngestServices, fail_run
from pipeline.work import (
    REASONS_COLUMN,
    REJECTED,
    load_table,
    now,
    parquet_bytes,
    quarantine_key,
    work_key,
)


def quarantine(
    hub: IngestServices,
    ref: RunRef,
    *,
    fail_on_breach: bool | None = None,
    rejected: pa.Table | None = None,
) -> RunRef:
    """Keep the run's rejected rows (idempotent), then enforce the contract's thresholds.

    ``rejected``: the rows as the check step left them in memory
    (:func:`pipeline.check.check_in_memory`), instead of its work file."""
    from quality.metrics import Breach, enforce

    run = hub.library.get_run(ref["run_id"])
    contract = hub.contract(run["dataset"])
    rows_q = int(ref.get("rows_quarantined", 0))
    q_key = quarantine_key(run["dataset"], run["run_id"]) if rows_q else None
    if q_key:
        try:
            _keep(hub, run["run_id"], run["dataset"], q_key, rows_q, rejected)
        except Exception as exc:
            error = fail_run(hub, run["run_id"], exc, "quarantine", "the run can be checked again")
            if error is exc:
                raise
            raise error from exc
    breaches = [
        Breach(b["dimension"], b["value"], b["threshold"])
        for b in ref.get("thresholds_breached", [])
    ]
    try:
        enforce(contract, breaches, fail=fail_on_breach)
    except Exception as exc:
        hub.library.set_run(run["run_id"], status="failed", message=str(exc), finished_at=now())
        raise
    return {**ref, "quarantine_key": q_key, "quarantined": rows_q}


def _keep(
    hub: IngestServices,
    run_id: str,
    dataset: str,
    q_key: str,
    rows: int,
    rejected: pa.Table | None,
) -> None:
    """The rejected rows as Parquet under ``q_key`` (from the check step's work file, or
    ``rejected``) and their entry in the quarantine index."""
    if hub.objects.exists(q_key):
        table = load_table(hub.objects, q_key)
    else:
        table = rejected if rejected is not None else _work_file_rows(hub, run_id)
        hub.objects.put(q_key, parquet_bytes(table))
    hub.library.record_quarantine(
        run_id, dataset, q_key, rows, reason_counts(table[REASONS_COLUMN])
    )


def _work_file_rows(hub: IngestServices, run_id: str) -> pa.Table:
    """The rejected rows the check step wrote as its work file."""
    rejected_key = work_key(run_id, REJECTED)
    if not hub.objects.exists(rejected_key):
        raise IngestError(
            f"run {run_id}: its rejected rows ({rejected_key}) are gone, as work files "
            "expire a week after they are written: run its check step again"
        )
    return load_table(hub.objects, rejected_key)
