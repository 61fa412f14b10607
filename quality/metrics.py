"""Quality metrics per run and dataset: thresholds, the ``quality_metrics`` tables, scorecards.

Ratios follow the GB/T 36344 dimensions (completeness, conformity, consistency, accuracy,
timeliness, uniqueness). A contract's thresholds turn them into breaches; any breach marks the run
``degraded`` and, when the contract says ``on_breach: fail``, fails the pipeline's quality task.
Rows are written with SQLAlchemy Core into tables of this module (SQLite by default).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    select,
    update,
)

from schemas.contracts import DIMENSIONS, Contract

metadata = MetaData()

quality_runs = Table(
    "quality_runs",
    metadata,
    Column("run_id", String(80), primary_key=True),
    Column("dataset", String(64), nullable=False, index=True),
    Column("department", Text, nullable=False),
    Column("checked_at", DateTime, nullable=False),
    Column("status", String(16), nullable=False),  # ok | degraded
    Column("rows_in", Integer, nullable=False),
    Column("rows_accepted", Integer, nullable=False),
    Column("rows_quarantined", Integer, nullable=False),
    Column("breaches", Text, nullable=False, default=""),
    Column("reasons", Text, nullable=False, default=""),  # "code=count;..." (no personal data)
)

quality_metrics = Table(
    "quality_metrics",
    metadata,
    Column("run_id", String(80), primary_key=True),
    Column("dimension", String(16), primary_key=True),
    Column("dataset", String(64), nullable=False, index=True),
    Column("value", Float, nullable=False),
    Column("threshold", Float),
    Column("checked_at", DateTime, nullable=False),
)


class QualityBreachError(RuntimeError):
    """Raised by :func:`enforce` when a contract with ``on_breach: fail`` is breached."""

    def __init__(self, dataset: str, breaches: Sequence[Breach]) -> None:
        self.breaches = list(breaches)
        detail = "; ".join(str(b) for b in breaches)
        super().__init__(f"dataset {dataset!r} breaches its quality thresholds: {detail}")


@dataclass(frozen=True)
class Breach:
    """A dimension below its contract threshold."""

    dimension: str
    value: float
    threshold: float

    def __str__(self) -> str:
        return f"{self.dimension} {self.value:.4f} < {self.threshold:.4f}"


def evaluate_thresholds(metrics: Mapping[str, float], contract: Contract) -> list[Breach]:
    """Every dimension whose measured ratio is below the contract's threshold.

    A dimension that was not measured (e.g. accuracy before merge) is not a breach.
    """
    return [
        Breach(dim, metrics[dim], limit)
        for dim, limit in contract.thresholds.items()
        if dim in metrics and metrics[dim] < limit
    ]


def run_status(breaches: Sequence[Breach]) -> str:
    """``degraded`` when any threshold is breached, else ``ok``."""
    return "degraded" if breaches else "ok"


def enforce(contract: Contract, breaches: Sequence[Breach], *, fail: bool | None = None) -> None:
    """Raise :class:`QualityBreachError` if breached and failing is configured.

    ``fail`` overrides the contract's ``on_breach`` (e.g. a steward re-running in warn mode).
    """
    should_fail = contract.on_breach == "fail" if fail is None else fail
    if breaches and should_fail:
        raise QualityBreachError(contract.dataset_id, breaches)


@dataclass(frozen=True)
class Agreement:
    """How many compared values agreed with the authoritative source, and of how many."""

    agreeing: int
    compared: int

    @property
    def ratio(self) -> float:
        """The accuracy ratio; with nothing to compare it is 1.0 (no evidence of inaccuracy)."""
        return self.agreeing / self.compared if self.compared else 1.0

    def __add__(self, other: Agreement) -> Agreement:
        return Agreement(self.agreeing + other.agreeing, self.compared + other.compared)


def accuracy(
    values: pa.Array | pa.ChunkedArray,
    keys: pa.Array | pa.ChunkedArray,
    reference_values: pa.Array | pa.ChunkedArray,
    reference_keys: pa.Array | pa.ChunkedArray,
) -> float:
    """Share of values that equal the authoritative source's value for the same subject.

    Only subjects present in the reference with a non-null value on both sides are compared;
    with nothing to compare the ratio is 1.0 (no evidence of inaccuracy).
    """
    ours = pa.table({"k": keys, "v": values.cast(pa.string())})
    ref = pa.table({"k": reference_keys, "r": reference_values.cast(pa.string())})
    joined = ours.join(ref, "k", join_type="inner")
    both = pc.and_(pc.is_valid(joined["v"]), pc.is_valid(joined["r"]))
    compared = joined.filter(both)
    equal = pc.sum(pc.equal(compared["v"], compared["r"])).as_py() or 0
    return Agreement(int(equal), compared.num_rows).ratio


def record_metric(
    engine: Engine, *, run_id: str, contract: Contract, dimension: str, value: float
) -> list[Breach]:
    """Add one ratio measured after the check step (accuracy, after merge) to a recorded run.

    The run's status and breaches are re-evaluated over all its ratios, so a late breach marks
    the run ``degraded`` like any other; returns the breaches of ``dimension`` (see
    :func:`enforce`). Replaces an earlier value, so a retried step never double-counts.
    """
    if dimension not in DIMENSIONS:
        raise ValueError(f"{dimension!r} is not a GB/T 36344 dimension ({', '.join(DIMENSIONS)})")
    create_tables(engine)
    with engine.begin() as conn:
        run = conn.execute(select(quality_runs).where(quality_runs.c.run_id == run_id)).first()
        conn.execute(
            quality_metrics.delete().where(
                and_(quality_metrics.c.run_id == run_id, quality_metrics.c.dimension == dimension)
            )
        )
        checked_at = run.checked_at if run else dt.datetime.now(dt.UTC).replace(tzinfo=None)
        conn.execute(
            quality_metrics.insert(),
            {
                "run_id": run_id,
                "dimension": dimension,
                "dataset": contract.dataset_id,
                "value": float(value),
                "threshold": contract.thresholds.get(dimension),
                "checked_at": checked_at,
            },
        )
        q = select(quality_metrics.c.dimension, quality_metrics.c.value)
        metrics = dict(conn.execute(q.where(quality_metrics.c.run_id == run_id)).all())
        breaches = evaluate_thresholds(metrics, contract)
        if run is not None:
            conn.execute(
                update(quality_runs)
                .where(quality_runs.c.run_id == run_id)
                .values(status=run_status(breaches), breaches="; ".join(str(b) for b in breaches))
            )
    return [b for b in breaches if b.dimension == dimension]


def create_tables(engine: Engine) -> None:
    """Create this module's tables if missing (idempotent)."""
    metadata.create_all(engine)


def record_run(
    engine: Engine,
    *,
    run_id: str,
    contract: Contract,
    metrics: Mapping[str, float],
    rows_in: int,
    rows_accepted: int,
    reason_counts: Mapping[str, int] | None = None,
    checked_at: dt.datetime | None = None,
) -> list[Breach]:
    """Store one run's ratios and verdict (replacing an earlier record of the same run id).

    Re-running a run id gives the same rows, so a retried task never double-counts.
    Returns the breaches so the caller can decide (see :func:`enforce`).
    """
    checked_at = checked_at or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    breaches = evaluate_thresholds(metrics, contract)
    reasons = ";".join(f"{k}={v}" for k, v in sorted((reason_counts or {}).items()))
    create_tables(engine)
    with engine.begin() as conn:
        conn.execute(quality_metrics.delete().where(quality_metrics.c.run_id == run_id))
        conn.execute(quality_runs.delete().where(quality_runs.c.run_id == run_id))
        conn.execute(
            quality_runs.insert(),
            {
                "run_id": run_id,
                "dataset": contract.dataset_id,
                "department": contract.department,
                "checked_at": checked_at,
                "status": run_status(breaches),
                "rows_in": rows_in,
                "rows_accepted": rows_accepted,
                "rows_quarantined": rows_in - rows_accepted,
                "breaches": "; ".join(str(b) for b in breaches),
                "reasons": reasons,
            },
        )
        rows = [
            {
                "run_id": run_id,
                "dimension": dim,
                "dataset": contract.dataset_id,
                "value": float(metrics[dim]),
                "threshold": contract.thresholds.get(dim),
                "checked_at": checked_at,
            }
            for dim in DIMENSIONS
            if dim in metrics
        ]
        if rows:
            conn.execute(quality_metrics.insert(), rows)
    return breaches


def scorecard(
    engine: Engine, *, dataset: str | None = None, department: str | None = None
) -> list[dict[str, Any]]:
    """Runs in time order, each with its ratios per dimension (the scorecard's rows)."""
    create_tables(engine)
    query = select(quality_runs).order_by(quality_runs.c.checked_at, quality_runs.c.run_id)
    if dataset:
        query = query.where(quality_runs.c.dataset == dataset)
    if department:
        query = query.where(quality_runs.c.department.contains(department))
    with engine.connect() as conn:
        runs = [dict(r._mapping) for r in conn.execute(query)]
        ids = [r["run_id"] for r in runs]
        values: dict[str, dict[str, float]] = {i: {} for i in ids}
        if ids:
            q = select(quality_metrics).where(quality_metrics.c.run_id.in_(ids))
            for m in conn.execute(q):
                values[m.run_id][m.dimension] = m.value
    for r in runs:
        r["metrics"] = values[r["run_id"]]
    return runs
