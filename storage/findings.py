"""Cross-source findings (跨源核查发现): one row per (kind, subject) a check found wrong, with
its evidence and the department that is the authoritative source of the field; closed when a
later check no longer finds it (a later delivery corrected it)."""

from __future__ import annotations

import builtins
import datetime as dt
import json
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    insert,
    select,
    update,
)

metadata = MetaData()

source_findings = Table(
    "source_findings",
    metadata,
    Column("finding_id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(40), nullable=False),
    Column("library", String(16), nullable=False),
    Column("field", String(64), nullable=False),
    Column("subject", String(32), nullable=False, index=True),
    Column("department", Text, nullable=False),
    Column("evidence", Text, nullable=False),  # JSON
    Column("status", String(8), nullable=False),  # open | closed
    Column("opened_at", DateTime, nullable=False),
    Column("closed_at", DateTime),
)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class FindingStore:
    """Open and close cross-source findings; list them per department."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        metadata.create_all(engine)

    def sync(
        self,
        kinds: Iterable[str],
        found: Iterable[Mapping[str, Any]],
        now: dt.datetime | None = None,
    ) -> tuple[int, int]:
        """Record what one run of the checks of ``kinds`` found: new (kind, subject) pairs are
        opened, open ones no longer found are closed. Returns (opened, closed)."""
        now = now or _now()
        kinds = builtins.list(kinds)
        wanted = {(f["kind"], f["subject"]): f for f in found}
        opened = closed = 0
        with self.engine.begin() as conn:
            rows = conn.execute(
                select(
                    source_findings.c.finding_id, source_findings.c.kind, source_findings.c.subject
                ).where(and_(source_findings.c.status == "open", source_findings.c.kind.in_(kinds)))
            ).all()
            still = {(r.kind, r.subject) for r in rows}
            gone = [r.finding_id for r in rows if (r.kind, r.subject) not in wanted]
            if gone:
                closed = conn.execute(
                    update(source_findings)
                    .where(source_findings.c.finding_id.in_(gone))
                    .values(status="closed", closed_at=now)
                ).rowcount
            for pair, f in wanted.items():
                if pair in still:
                    continue
                conn.execute(
                    insert(source_findings).values(
                        kind=f["kind"],
                        library=f["library"],
                        field=f["field"],
                        subject=f["subject"],
                        department=f["department"],
                        evidence=json.dumps(f["evidence"], ensure_ascii=False, sort_keys=True),
                        status="open",
                        opened_at=now,
                    )
                )
                opened += 1
        return opened, int(closed)

    def list(
        self, departments: Iterable[str] | None = None, status: str | None = "open"
    ) -> builtins.list[dict[str, Any]]:
        q = select(source_findings).order_by(source_findings.c.finding_id)
        if status:
            q = q.where(source_findings.c.status == status)
        if departments is not None:
            q = q.where(source_findings.c.department.in_(builtins.list(departments)))
        with self.engine.connect() as conn:
            out = [dict(r._mapping) for r in conn.execute(q)]
        for r in out:
            r["evidence"] = json.loads(r["evidence"])
        return out


disputes = Table(
    "data_disputes",
    metadata,
    Column("dispute_id", String(40), primary_key=True),
    Column("client_id", String(64), nullable=False),
    Column("library", String(16), nullable=False),
    Column("subject", String(32), nullable=False, index=True),
    Column("field", String(64), nullable=False),
    Column("claimed_value", Text, nullable=False),
    Column("evidence", Text, nullable=False),
    Column("department", Text, nullable=False),
    Column("status", String(8), nullable=False),  # open | closed
    Column("closed_by", String(16)),  # delivery | upheld | rejected | answer (no verdict)
    Column("answer", Text),
    Column("filed_at", DateTime, nullable=False),
    Column("closed_at", DateTime),
)


class DisputeStore:
    """Disputes of a golden record's field, sent to the field's authoritative department."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        metadata.create_all(engine)

    def file(self, **values: Any) -> str:
        import secrets

        now = values.pop("now", None) or _now()
        dispute_id = f"DS{now:%Y%m%d}-{secrets.token_hex(4)}"
        with self.engine.begin() as conn:
            conn.execute(
                insert(disputes).values(
                    dispute_id=dispute_id, status="open", filed_at=now, **values
                )
            )
        return dispute_id

    def get(self, dispute_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(disputes).where(disputes.c.dispute_id == dispute_id)).first()
        return dict(row._mapping) if row is not None else None

    def close(
        self, dispute_id: str, closed_by: str, answer: str = "", now: dt.datetime | None = None
    ) -> bool:
        with self.engine.begin() as conn:
            n = conn.execute(
                update(disputes)
                .where(and_(disputes.c.dispute_id == dispute_id, disputes.c.status == "open"))
                .values(
                    status="closed", closed_by=closed_by, answer=answer, closed_at=now or _now()
                )
            ).rowcount
        return bool(n)

    def list(
        self,
        departments: Iterable[str] | None = None,
        status: str | None = "open",
        subject: str | None = None,
    ) -> builtins.list[dict[str, Any]]:
        q = select(disputes).order_by(disputes.c.filed_at)
        if status:
            q = q.where(disputes.c.status == status)
        if subject is not None:
            q = q.where(disputes.c.subject == subject)
        if departments is not None:
            q = q.where(disputes.c.department.in_(builtins.list(departments)))
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]


def open_disputes(engine: Engine) -> builtins.list[dict[str, Any]]:
    """The open disputes, read only (no table is created: the hub creates it when it opens)."""
    q = select(
        disputes.c.library,
        disputes.c.subject,
        disputes.c.field,
        disputes.c.department,
        disputes.c.filed_at,
    ).where(disputes.c.status == "open")
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(q)]
