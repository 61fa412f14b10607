""":class:`sharing.claims.ClaimFacts` over the hub's stores: golden records and the licence index.

Today's questions read the current golden records through the API's point reader (one indexed
read); a record whose winners for the claim's fields are not all from their authoritative source
is read again with its history, so the claim can weigh the sources. Questions as of an earlier
date read the record as known at the end of that day.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Protocol

from sqlalchemy import Engine, and_, or_, select

from storage.library import FactView, GoldenRecord


class LibraryReads(Protocol):
    engine: Engine

    def record(
        self, library: str, subject: str, as_of: dt.date | None = None
    ) -> GoldenRecord | None: ...


class PointReads(Protocol):
    def rows(self, library: str, subject: str) -> list[tuple[object, ...]]: ...


_READY: set[int] = set()  # engines whose licence index tables exist (a fresh hub has none)


def _licence_tables(engine: Engine) -> None:
    if id(engine) not in _READY:
        from licence.tables import metadata

        metadata.create_all(engine)
        _READY.add(id(engine))


class StoreFacts:
    """Claim facts as of ``as_of`` (None: now) from the library and the licence index."""

    def __init__(
        self, library: LibraryReads, golden: PointReads | None, as_of: dt.date | None = None
    ) -> None:
        self.library = library
        self.golden = golden
        self.as_of = as_of
        self._rows: dict[tuple[str, str], list[tuple[object, ...]]] = {}

    def record(self, library: str, subject: str, fields: Sequence[str]) -> GoldenRecord | None:
        if self.as_of is None and self.golden is not None:
            key = (library, subject)
            rows = self._rows.get(key)
            if rows is None:  # one point read per subject and question, not one per claim
                rows = self._rows[key] = self.golden.rows(library, subject)
            if not rows:
                return None
            winners = {
                str(name): FactView(str(value), str(ds), str(run), observed, bool(auth))  # type: ignore[arg-type]
                for name, value, ds, run, observed, auth in rows
            }
            if all(winners[f].authoritative for f in fields if f in winners):
                return GoldenRecord(library, subject, winners)
        return self.library.record(library, subject, self.as_of)

    def valid_licence(self, holder: str, type_code: str, on: dt.date) -> bool:
        from licence.tables import licences

        _licence_tables(self.library.engine)
        end = dt.datetime.combine(on, dt.time.max)
        day = on.isoformat()
        valid_then = and_(licences.c.status == "valid", licences.c.superseded_by.is_(None))
        if self.as_of is not None:
            # changed (revoked, suspended, superseded) only after that day: valid on it
            valid_then = or_(valid_then, licences.c.updated_at > end)
        stmt = (
            select(licences.c.licence_id)
            .where(
                and_(
                    licences.c.holder_id == holder,
                    licences.c.type_code == type_code,
                    licences.c.issued_at <= end,
                    or_(licences.c.valid_to.is_(None), licences.c.valid_to >= day),
                    valid_then,
                )
            )
            .limit(1)
        )
        with self.library.engine.connect() as conn:
            return conn.execute(stmt).first() is not None
