"""Verifying the access audit: every digest recomputed from the table, checked on the ledger.

An edited, inserted or removed row of :data:`api.audit.audit_log` changes a digest (or a count)
that :class:`api.audit.AuditLog` appended to the ledger, so :func:`verify` finds it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, func, select

from api.audit import COLUMNS, audit_digests, audit_log, row_line


@dataclass
class VerifyReport:
    """What :func:`verify` found: digests checked, problems (empty = intact), rows pending."""

    digests: int = 0
    rows_covered: int = 0
    rows_pending: int = 0
    sequenced: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(engine: Engine, ledger: Any) -> VerifyReport:
    """Recompute every digest from the table and compare it with the ledger's own copy.

    The digest index table only says where to look: ranges, counts and hashes are taken from the
    ledger entry, whose inclusion in a signed checkpoint is checked when it has been sequenced.
    """
    from ledger.receipt import ReceiptError, verify_receipt
    from storage import ledger_store as db

    report = VerifyReport()
    with engine.connect() as conn:
        index = conn.execute(select(audit_digests).order_by(audit_digests.c.first_id)).all()
    expected_first = 1
    for d in index:
        with ledger.engine.connect() as lconn:
            found = db.entries_by_id(lconn, [d.ledger_entry])
            data = found[0][2] if found else None
            idx = found[0][1] if found else None
            if data is None:
                pend = lconn.execute(
                    select(db.pending.c.data).where(db.pending.c.id == d.ledger_entry)
                ).first()
                data = bytes(pend.data) if pend else None
        if data is None:
            report.problems.append(f"digest of rows from {d.first_id}: ledger entry missing")
            continue
        entry = json.loads(data)
        first, last = int(entry["first"]), int(entry["last"])
        if (first, last) != (d.first_id, d.last_id):
            report.problems.append(
                f"digest index says rows {d.first_id}-{d.last_id}, ledger says {first}-{last}"
            )
        if first != expected_first:
            report.problems.append(f"rows {expected_first}-{first - 1} are covered by no digest")
        expected_first = last + 1
        if idx is not None:
            receipt = ledger.receipt(idx)
            if receipt is not None:
                try:
                    verify_receipt(receipt, [ledger.verifier_key()])
                    report.sequenced += 1
                except ReceiptError as exc:
                    report.problems.append(f"digest {first}-{last}: {exc}")
        with engine.connect() as conn:
            rows = conn.execute(
                select(*[audit_log.c[c] for c in COLUMNS])
                .where(audit_log.c.id.between(first, last))
                .order_by(audit_log.c.id)
            ).all()
        h = hashlib.sha256()
        for r in rows:
            h.update(row_line(r))
        report.digests += 1
        report.rows_covered += len(rows)
        if len(rows) != int(entry["count"]):
            report.problems.append(
                f"rows {first}-{last}: {len(rows)} rows present, the ledger digest covers "
                f"{entry['count']} (rows removed or inserted)"
            )
        elif h.hexdigest() != entry["sha256"]:
            report.problems.append(f"rows {first}-{last}: content differs from the ledger digest")
    with engine.connect() as conn:
        report.rows_pending = int(
            conn.execute(
                select(func.count()).select_from(audit_log).where(audit_log.c.id >= expected_first)
            ).scalar_one()
        )
    return report
