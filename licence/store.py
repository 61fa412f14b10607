"""Licence store: index rows for seals and licences, and the rows of the registry, issuing
clients and governance (each concern in its own base class).

The tables are in :mod:`licence.tables`; opening the store creates them and brings the tables of
a hub from before the current layout up to date.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    and_,
    bindparam,
    insert,
    select,
    update,
)

from licence import authorities as auth_registry
from licence.store_governance import GovernanceStore
from licence.store_issuing import IssuingStore
from licence.store_registry import RegistryStore
from licence.tables import (
    ENTRY_COLUMN,
    counters,
    licences,
    metadata,
    seals,
    status_lists,
    upgrade,
)
from schemas import licence_types

# point reads built once: a statement built per call costs as much again as running it
# (SQLAlchemy derives its cache key from the new construct each time)
_SEAL = select(seals).where(seals.c.seal_id == bindparam("seal_id"))
_LICENCE = select(licences).where(licences.c.licence_id == bindparam("licence_id"))
_STATUS_LIST = (
    select(status_lists.c.checkpoint_size, status_lists.c.log_index)
    .where(status_lists.c.authority == bindparam("authority"))
    .order_by(status_lists.c.checkpoint_size.desc())
    .limit(1)
)


class LicenceStore(RegistryStore, IssuingStore, GovernanceStore):
    """Index rows for seals and licences."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        metadata.create_all(engine)
        upgrade(engine)
        self.seed()
        # licence types and authorities are read from here from now on in this process
        licence_types.use_registry(self.type_versions)
        auth_registry.use_registry(self.authorities)

    # ---- counters: serial numbers and status-list positions ----------------------------
    def next_value(self, name: str, conn: Any, count: int = 1) -> int:
        """Reserve ``count`` consecutive values of a counter; returns the first (from 0)."""
        row = conn.execute(select(counters.c.value).where(counters.c.name == name)).first()
        if row is None:
            conn.execute(insert(counters).values(name=name, value=count))
            return 0
        conn.execute(update(counters).where(counters.c.name == name).values(value=row[0] + count))
        return int(row[0])

    # ---- seals ------------------------------------------------------------------------
    def add_seal(self, **row: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(insert(seals).values(**row))

    def seal(self, seal_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            r = conn.execute(_SEAL, {"seal_id": seal_id}).mappings().first()
        return dict(r) if r else None

    def seals(self, authority: str | None = None) -> list[dict[str, Any]]:
        stmt = select(seals).order_by(seals.c.authority, seals.c.seal_id)
        if authority:
            stmt = stmt.where(seals.c.authority == authority)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(stmt).mappings()]

    def active_seal(self, authority: str, at: dt.datetime) -> dict[str, Any] | None:
        naive = at.astimezone(dt.UTC).replace(tzinfo=None)
        stmt = (
            select(seals)
            .where(
                and_(
                    seals.c.authority == authority,
                    seals.c.status == "active",
                    seals.c.valid_from <= naive,
                    seals.c.valid_to > naive,
                )
            )
            .order_by(seals.c.created_at.desc())
        )
        with self.engine.connect() as conn:
            r = conn.execute(stmt).mappings().first()
        return dict(r) if r else None

    def set_seal_status(self, seal_id: str, status: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(seals).where(seals.c.seal_id == seal_id).values(status=status))

    # ---- licences ---------------------------------------------------------------------
    def licence(self, licence_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            r = conn.execute(_LICENCE, {"licence_id": licence_id}).mappings().first()
        return dict(r) if r else None

    def licences(self, authority: str | None = None) -> list[dict[str, Any]]:
        stmt = select(licences).order_by(licences.c.issued_at)
        if authority:
            stmt = stmt.where(licences.c.authority == authority)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(stmt).mappings()]

    def add_licences(self, rows: list[dict[str, Any]], conn: Connection | None = None) -> None:
        """Insert index rows, in ``conn``'s transaction when given (with their log entries)."""
        if conn is not None:
            conn.execute(insert(licences), rows)
            return
        with self.engine.begin() as c:
            c.execute(insert(licences), rows)

    def set_entry_ids(self, entry_ids: list[tuple[str, int]]) -> None:
        """Record (licence id, ledger entry id) of licences whose issue entries were logged."""
        stmt = (
            update(licences)
            .where(licences.c.licence_id == bindparam("lid"))
            .values({ENTRY_COLUMN: bindparam("entry")})
        )
        with self.engine.begin() as conn:
            conn.execute(stmt, [{"lid": lid, "entry": e} for lid, e in entry_ids])

    def attach_receipts(self, receipts: list[tuple[str, str]]) -> None:
        """Store (licence id, receipt JSON) pairs, in one transaction."""
        stmt = (
            update(licences)
            .where(licences.c.licence_id == bindparam("lid"))
            .values(receipt=bindparam("receipt"))
        )
        with self.engine.begin() as conn:
            conn.execute(stmt, [{"lid": lid, "receipt": r} for lid, r in receipts])

    def update_licence(self, licence_id: str, conn: Any = None, **values: Any) -> None:
        stmt = update(licences).where(licences.c.licence_id == licence_id).values(**values)
        if conn is not None:
            conn.execute(stmt)
            return
        with self.engine.begin() as c:
            c.execute(stmt)

    def no_longer_valid(self) -> list[dict[str, Any]]:
        """Status, reason, time, authority and successor of every licence not valid now."""
        cols = licences.c
        stmt = select(
            cols.licence_id,
            cols.status,
            cols.reason_code,
            cols.reason_text,
            cols.updated_at,
            cols.authority,
            cols.superseded_by,
        ).where(cols.status != "valid")
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(stmt).mappings()]

    def statuses(self, authority: str) -> list[tuple[int, str]]:
        """(status-list index, status) of every licence of one authority."""
        stmt = select(licences.c.status_index, licences.c.status).where(
            licences.c.authority == authority
        )
        with self.engine.connect() as conn:
            return [(int(i), str(s)) for i, s in conn.execute(stmt)]

    def due_for_expiry(self, today: dt.date) -> list[str]:
        stmt = select(licences.c.licence_id).where(
            and_(
                licences.c.status.in_(("valid", "suspended")),
                licences.c.valid_to.is_not(None),
                licences.c.valid_to < today.isoformat(),
            )
        )
        with self.engine.connect() as conn:
            return [str(r[0]) for r in conn.execute(stmt)]

    def status_list_at(
        self, authority: str, checkpoint_size: int | None = None
    ) -> tuple[int, int] | None:
        """(checkpoint size, log index) of the authority's status list committed with the
        checkpoint of ``checkpoint_size`` (default: the latest one); None if there is none."""
        stmt = _STATUS_LIST
        if checkpoint_size is not None:
            stmt = stmt.where(status_lists.c.checkpoint_size == checkpoint_size)
        with self.engine.connect() as conn:
            found = conn.execute(stmt, {"authority": authority}).first()
        return None if found is None else (int(found[0]), int(found[1]))

    def unreceipted(self) -> list[tuple[str, int]]:
        """(licence id, ledger entry id) of every logged licence without its receipt yet."""
        entry = licences.c[ENTRY_COLUMN]
        stmt = select(licences.c.licence_id, entry).where(
            and_(licences.c.receipt.is_(None), entry.is_not(None))
        )
        with self.engine.connect() as conn:
            return [(str(a), int(b)) for a, b in conn.execute(stmt)]
