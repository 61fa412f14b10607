"""The ingest runs (one per dataset and file) and the quarantine index, in the hub database."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, Table, and_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from storage.library.model import LibraryError
from storage.library.schema import RUN_STATUSES, merges, pull_batches, quarantine, runs


def _insert(engine: Engine, table: Table) -> Any:
    if engine.dialect.name == "postgresql":
        return postgresql.insert(table)
    if engine.dialect.name == "sqlite":
        return sqlite.insert(table)
    raise LibraryError(f"unsupported database dialect {engine.dialect.name!r}")


class RunIndex:
    """Runs and the quarantine index: what was received, how far each run got, what was set
    aside (:class:`~storage.library.LibraryStore` is one)."""

    engine: Engine

    # ---- runs ---------------------------------------------------------------------------
    def find_run(self, dataset: str, sha256: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(runs).where(and_(runs.c.dataset == dataset, runs.c.sha256 == sha256))
            ).first()
        return dict(row._mapping) if row else None

    def get_run(self, run_id: str) -> dict[str, Any]:
        with self.engine.connect() as conn:
            row = conn.execute(select(runs).where(runs.c.run_id == run_id)).first()
        if row is None:
            raise LibraryError(f"unknown run {run_id!r} (see `hub runs`)")
        return dict(row._mapping)

    def open_run(
        self,
        run_id: str,
        dataset: str,
        sha256: str,
        object_key: str,
        filename: str,
        received_at: datetime,
    ) -> dict[str, Any]:
        """Record a landed file; an existing run for the same (dataset, sha256) is returned."""
        stmt = (
            _insert(self.engine, runs)
            .values(
                run_id=run_id,
                dataset=dataset,
                sha256=sha256,
                object_key=object_key,
                filename=filename,
                status="landed",
                received_at=received_at,
            )
            .on_conflict_do_nothing()
        )
        with self.engine.begin() as conn:
            conn.execute(stmt)
        run = self.find_run(dataset, sha256)
        assert run is not None
        return run

    def set_run(self, run_id: str, **values: Any) -> None:
        if "status" in values and values["status"] not in RUN_STATUSES:
            raise LibraryError(f"unknown run status {values['status']!r}")
        with self.engine.begin() as conn:
            conn.execute(update(runs).where(runs.c.run_id == run_id).values(**values))

    def list_runs(self, dataset: str | None = None) -> list[dict[str, Any]]:
        stmt = select(runs).order_by(runs.c.received_at, runs.c.run_id)
        if dataset:
            stmt = stmt.where(runs.c.dataset == dataset)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(stmt)]

    # ---- quarantine index ---------------------------------------------------------------
    def record_quarantine(
        self, run_id: str, dataset: str, object_key: str, rows: int, reasons: Mapping[str, int]
    ) -> None:
        summary = ";".join(f"{k}={v}" for k, v in sorted(reasons.items()))
        stmt = (
            _insert(self.engine, quarantine)
            .values(
                run_id=run_id,
                dataset=dataset,
                object_key=object_key,
                rows=rows,
                reasons=summary,
                created_at=datetime.now(UTC).replace(tzinfo=None),
            )
            .on_conflict_do_nothing()
        )
        with self.engine.begin() as conn:
            conn.execute(stmt)

    def list_quarantine(self, dataset: str | None = None) -> list[dict[str, Any]]:
        stmt = select(quarantine).order_by(quarantine.c.created_at)
        if dataset:
            stmt = stmt.where(quarantine.c.dataset == dataset)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(stmt)]

    def mark_resubmitted(self, run_id: str, new_run_id: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(quarantine)
                .where(quarantine.c.run_id == run_id)
                .values(resubmitted_as=new_run_id)
            )

    # ---- pull batches -------------------------------------------------------------------
    def open_pull_batch(
        self,
        run_id: str,
        dataset: str,
        kind: str,
        since: str | None,
        position: str,
        tombstones: str | None,
    ) -> None:
        """Record what a pulled run holds: the watermark it was read after and the one it ends
        at (or its snapshot or file), and where its tombstones are. The position counts only
        once the run's merge has committed (:meth:`pull_position`)."""
        stmt = (
            _insert(self.engine, pull_batches)
            .values(
                run_id=run_id,
                dataset=dataset,
                kind=kind,
                since=since,
                position=position,
                tombstones=tombstones,
                created_at=datetime.now(UTC).replace(tzinfo=None),
            )
            .on_conflict_do_nothing()
        )
        with self.engine.begin() as conn:
            conn.execute(stmt)

    def pull_batches(self, dataset: str, *, merged: bool | None = None) -> list[dict[str, Any]]:
        """The pulled runs of ``dataset`` with their run's status, oldest first; ``merged``:
        only those whose merge committed (True) or not (False)."""
        stmt = (
            select(pull_batches, runs.c.status, merges.c.run_no)
            .join(runs, runs.c.run_id == pull_batches.c.run_id)
            .outerjoin(merges, merges.c.run_id == pull_batches.c.run_id)
            .where(pull_batches.c.dataset == dataset)
            .order_by(pull_batches.c.created_at, pull_batches.c.run_id)
        )
        if merged is True:
            stmt = stmt.where(merges.c.run_no.is_not(None))
        elif merged is False:
            stmt = stmt.where(merges.c.run_no.is_(None))
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(stmt)]

    def pull_position(self, dataset: str) -> str | None:
        """Where the next pull of ``dataset`` starts: the position of its last pulled run whose
        merge committed (the run's number orders them), or None before the first."""
        stmt = (
            select(pull_batches.c.position)
            .join(merges, merges.c.run_id == pull_batches.c.run_id)
            .where(pull_batches.c.dataset == dataset)
            .order_by(merges.c.run_no.desc())
            .limit(1)
        )
        with self.engine.connect() as conn:
            return conn.execute(stmt).scalar()
