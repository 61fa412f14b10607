"""Governance's rows: what each licence was issued to, governance runs and their
findings (one open finding per licence and kind).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    and_,
    insert,
    select,
    update,
)

from licence.tables import (
    basis_rows,
    findings,
    governance_runs,
    licences,
)


class GovernanceStore:
    """Basis rows, governance runs and findings (a base of
    :class:`licence.store.LicenceStore`)."""

    engine: Engine

    def holders_with(self, type_code: str) -> set[str]:
        """Holders with a valid or suspended licence of this type."""
        cols = licences.c
        stmt = select(cols.holder_id).where(
            and_(cols.type_code == type_code, cols.status.in_(("valid", "suspended")))
        )
        with self.engine.connect() as conn:
            return {str(h) for (h,) in conn.execute(stmt)}

    # ---- governance -----------------------------------------------------------------------
    def add_basis(self, rows: list[dict[str, Any]], conn: Connection | None = None) -> None:
        """Record what licences were issued to (with them, in ``conn``'s transaction)."""
        if not rows:
            return
        if conn is not None:
            conn.execute(insert(basis_rows), rows)
            return
        with self.engine.begin() as c:
            c.execute(insert(basis_rows), rows)

    def valid_for_governance(
        self, authority: str | None = None
    ) -> list[tuple[str, str, str, str, str, str | None, str | None]]:
        """(licence id, authority, type code, holder kind, holder id, name on it, legal
        representative on it) of every valid licence; the last two None without a basis."""
        cols = licences.c
        stmt = (
            select(
                cols.licence_id,
                cols.authority,
                cols.type_code,
                cols.holder_kind,
                cols.holder_id,
                basis_rows.c.holder_name,
                basis_rows.c.legal_rep,
            )
            .select_from(licences.outerjoin(basis_rows, basis_rows.c.licence_id == cols.licence_id))
            .where(cols.status == "valid")
            .order_by(cols.licence_id)
        )
        if authority:
            stmt = stmt.where(cols.authority == authority)
        with self.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(stmt)]

    def start_governance_run(self) -> int:
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        with self.engine.begin() as conn:
            key = conn.execute(insert(governance_runs).values(started_at=now)).inserted_primary_key
        assert key is not None
        return int(key[0])

    def finish_governance_run(self, run_no: int, checked: int, found: int, suspended: int) -> None:
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        with self.engine.begin() as conn:
            conn.execute(
                update(governance_runs)
                .where(governance_runs.c.run_no == run_no)
                .values(finished_at=now, checked=checked, found=found, suspended=suspended)
            )

    def open_findings(self, authority: str | None = None) -> list[dict[str, Any]]:
        """The open findings (of one authority), oldest first."""
        stmt = select(findings).where(findings.c.state == "open").order_by(findings.c.finding_id)
        if authority:
            stmt = stmt.where(findings.c.authority == authority)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(stmt).mappings()]

    def record_findings(
        self,
        run_no: int,
        found: list[dict[str, Any]],
        checked: set[str],
    ) -> list[dict[str, Any]]:
        """Store a run's findings: a finding already open (same licence and kind) is marked
        seen by this run, a new one is added; an open finding of a checked licence that this
        run did not find again is resolved. Returns the new findings."""
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        cols = findings.c
        found_keys = {(f["licence_id"], f["kind"]) for f in found}
        with self.engine.begin() as conn:
            open_rows = {
                (r.licence_id, r.kind): r.finding_id
                for r in conn.execute(
                    select(cols.finding_id, cols.licence_id, cols.kind).where(cols.state == "open")
                )
            }
            new = [f for f in found if (f["licence_id"], f["kind"]) not in open_rows]
            seen = [fid for key, fid in open_rows.items() if key in found_keys]
            stale = [
                fid for key, fid in open_rows.items() if key not in found_keys and key[0] in checked
            ]
            for ids, values in (
                (seen, {"last_run": run_no}),
                (stale, {"state": "resolved", "resolved_at": now, "last_run": run_no}),
            ):
                for lo in range(0, len(ids), 500):
                    conn.execute(
                        update(findings)
                        .where(cols.finding_id.in_(ids[lo : lo + 500]))
                        .values(**values)
                    )
            if new:
                conn.execute(
                    insert(findings),
                    [
                        {
                            **f,
                            "first_run": run_no,
                            "last_run": run_no,
                            "state": "open",
                            "found_at": now,
                        }
                        for f in new
                    ],
                )
        return new

    def set_finding_action(self, licence_id: str, kind: str, action: str) -> None:
        cols = findings.c
        with self.engine.begin() as conn:
            conn.execute(
                update(findings)
                .where(and_(cols.licence_id == licence_id, cols.kind == kind, cols.state == "open"))
                .values(action=action)
            )
