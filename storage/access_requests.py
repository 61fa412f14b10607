"""Access requests to the sharing API and their departments' decisions, and which department
each approver account acts for (tables in the hub database).

Rows only: what a request may hold and who must decide it are :mod:`sharing.access`'s business.
Department names and field lists are stored as JSON text.
"""

from __future__ import annotations

import builtins
import datetime as dt
import json
import secrets
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
    UniqueConstraint,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

metadata = MetaData()

access_requests = Table(
    "access_requests",
    metadata,
    Column("request_id", String(40), primary_key=True),
    Column("client_id", String(64), nullable=False, index=True),
    Column("scope", String(32), nullable=False),
    Column("fields", Text, nullable=False),  # JSON list, as asked
    Column("purpose", String(64), nullable=False),
    Column("legal_basis", Text, nullable=False, default=""),
    Column("until", DateTime, nullable=False),
    Column("departments", Text, nullable=False),  # JSON list: who must decide
    Column("status", String(16), nullable=False),  # pending | granted | refused
    Column("granted_fields", Text),  # JSON list, once granted
    Column("grant_id", Integer),
    Column("created_at", DateTime, nullable=False),
    Column("closed_at", DateTime),
)

access_decisions = Table(
    "access_decisions",
    metadata,
    Column("decision_id", Integer, primary_key=True, autoincrement=True),
    Column("request_id", String(40), nullable=False, index=True),
    Column("department", Text, nullable=False),
    Column("decision", String(16), nullable=False),  # approve | narrow | refuse
    Column("fields", Text, nullable=False),  # JSON list: what this department lets through
    Column("staff", String(64), nullable=False),
    Column("note", Text, nullable=False, default=""),
    Column("decided_at", DateTime, nullable=False),
    Column("ledger_entry", Integer),
    UniqueConstraint("request_id", "department", name="uq_access_decision"),
)

approver_departments = Table(
    "approver_departments",
    metadata,
    Column("username", String(32), primary_key=True),
    Column("department", Text, nullable=False),
)


class AccessStoreError(ValueError):
    """A row that cannot be written (e.g. a department deciding a request twice)."""


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _request(row: Any, decisions: list[dict[str, Any]]) -> dict[str, Any]:
    out = dict(row._mapping)
    out["fields"] = json.loads(out["fields"])
    out["departments"] = json.loads(out["departments"])
    out["granted_fields"] = json.loads(out["granted_fields"]) if out["granted_fields"] else None
    out["decisions"] = decisions
    return out


class AccessRequestStore:
    """Access requests, decisions and approvers' departments in the hub database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        metadata.create_all(engine)

    def create(
        self,
        *,
        client_id: str,
        scope: str,
        fields: list[str],
        purpose: str,
        legal_basis: str,
        until: dt.datetime,
        departments: list[str],
        now: dt.datetime | None = None,
    ) -> str:
        now = now or _now()
        request_id = f"AR{now:%Y%m%d}-{secrets.token_hex(4)}"
        with self.engine.begin() as conn:
            conn.execute(
                insert(access_requests).values(
                    request_id=request_id,
                    client_id=client_id,
                    scope=scope,
                    fields=json.dumps(fields, ensure_ascii=False),
                    purpose=purpose,
                    legal_basis=legal_basis,
                    until=until,
                    departments=json.dumps(departments, ensure_ascii=False),
                    status="pending",
                    created_at=now,
                )
            )
        return request_id

    def _decisions(self, conn: Any, ids: list[str]) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {i: [] for i in ids}
        if not ids:
            return out
        q = (
            select(access_decisions)
            .where(access_decisions.c.request_id.in_(ids))
            .order_by(access_decisions.c.decision_id)
        )
        for r in conn.execute(q):
            d = dict(r._mapping)
            d["fields"] = json.loads(d["fields"])
            out[d["request_id"]].append(d)
        return out

    def get(self, request_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(access_requests).where(access_requests.c.request_id == request_id)
            ).first()
            if row is None:
                return None
            return _request(row, self._decisions(conn, [request_id])[request_id])

    def list(self, status: str | None = None, client_id: str | None = None) -> list[dict[str, Any]]:
        q = select(access_requests).order_by(access_requests.c.created_at)
        if status:
            q = q.where(access_requests.c.status == status)
        if client_id:
            q = q.where(access_requests.c.client_id == client_id)
        with self.engine.connect() as conn:
            rows = conn.execute(q).all()
            decisions = self._decisions(conn, [r.request_id for r in rows])
        return [_request(r, decisions[r.request_id]) for r in rows]

    def decide(
        self,
        request_id: str,
        *,
        department: str,
        decision: str,
        fields: builtins.list[str],
        staff: str,
        note: str = "",
        ledger_entry: int | None = None,
        now: dt.datetime | None = None,
    ) -> None:
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(access_decisions).values(
                        request_id=request_id,
                        department=department,
                        decision=decision,
                        fields=json.dumps(fields, ensure_ascii=False),
                        staff=staff,
                        note=note,
                        decided_at=now or _now(),
                        ledger_entry=ledger_entry,
                    )
                )
        except IntegrityError:
            raise AccessStoreError(
                f"{department} has already decided access request {request_id}"
            ) from None

    def close(
        self,
        request_id: str,
        status: str,
        *,
        granted_fields: builtins.list[str] | None = None,
        grant_id: int | None = None,
        now: dt.datetime | None = None,
    ) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(access_requests)
                .where(access_requests.c.request_id == request_id)
                .values(
                    status=status,
                    granted_fields=json.dumps(granted_fields, ensure_ascii=False)
                    if granted_fields is not None
                    else None,
                    grant_id=grant_id,
                    closed_at=now or _now(),
                )
            )

    # ---- approvers ------------------------------------------------------------------------
    def bind(self, username: str, department: str) -> None:
        with self.engine.begin() as conn:
            found = conn.execute(
                select(approver_departments).where(approver_departments.c.username == username)
            ).first()
            if found is None:
                conn.execute(
                    insert(approver_departments).values(username=username, department=department)
                )
            else:
                conn.execute(
                    update(approver_departments)
                    .where(approver_departments.c.username == username)
                    .values(department=department)
                )

    def department_of(self, username: str) -> str | None:
        with self.engine.connect() as conn:
            found = conn.execute(
                select(approver_departments.c.department).where(
                    approver_departments.c.username == username
                )
            ).scalar()
        return str(found) if found is not None else None
