"""Correction requests ("this is wrong", PIPL's right to correction): a holder disputes a field
of their golden record, and the request goes to the department whose dataset supplied the value.

A request is stored with the field, the dataset and its department, and the holder's note; it
is open until the department answers (``answered``) or a delivery from that dataset changes the
field after the request was made (``corrected``: noticed whenever requests are read, so no
pipeline step needs to know about requests). One open request per holder and field.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, and_, insert, select, update

from holder import store

MAX_NOTE = 500


class CorrectionError(ValueError):
    """A request that cannot be filed or answered as asked."""


@dataclass(frozen=True)
class Source:
    """Where a field's current value came from."""

    dataset: str
    department: str
    updated_at: dt.datetime  # naive UTC


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class Corrections:
    """Filed, listed and answered correction requests; ``source(holder, field)`` tells where
    a field's current value came from (the golden record), None if the holder has no such
    field."""

    def __init__(self, engine: Engine, source: Callable[[str, str], Source | None]) -> None:
        self.engine, self.source = engine, source
        store.create(engine)

    def file(self, holder: str, field_name: str, note: str) -> int:
        """File a request against the field's current source; its id."""
        note = " ".join(note.split())
        if not 1 <= len(note) <= MAX_NOTE:
            raise CorrectionError(f"say what is wrong in 1 to {MAX_NOTE} characters")
        found = self.source(holder, field_name)
        if found is None:
            raise CorrectionError(f"your record has no field {field_name!r}")
        c = store.corrections
        with store.write(self.engine) as conn:
            pending = conn.execute(
                select(c.c.id).where(
                    and_(c.c.holder == holder, c.c.field == field_name, c.c.status == "open")
                )
            ).first()
            if pending is not None:
                raise CorrectionError(
                    f"a request about {field_name!r} is already open (no. {pending.id})"
                )
            made = conn.execute(
                insert(c).values(
                    holder=holder,
                    field=field_name,
                    dataset=found.dataset,
                    department=found.department,
                    note=note,
                    status="open",
                    created_at=_now(),
                )
            )
            key = made.inserted_primary_key
            assert key is not None
            return int(key[0])

    def _refresh(self, rows: Sequence[Any]) -> list[dict[str, Any]]:
        """The rows as dicts, open ones whose field a later delivery of the same dataset
        changed marked ``corrected`` (and stored so)."""
        out = []
        for r in rows:
            row = dict(r._mapping)
            if row["status"] == "open":
                now = self.source(row["holder"], row["field"])
                if (
                    now is not None
                    and now.dataset == row["dataset"]
                    and now.updated_at > row["created_at"]
                ):
                    row.update(status="corrected", closed_at=_now())
                    with store.write(self.engine) as conn:
                        conn.execute(
                            update(store.corrections)
                            .where(store.corrections.c.id == row["id"])
                            .values(status="corrected", closed_at=row["closed_at"])
                        )
            out.append(row)
        return out

    def mine(self, holder: str) -> list[dict[str, Any]]:
        c = store.corrections
        stmt = select(c).where(c.c.holder == holder).order_by(c.c.id.desc())
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).all()
        return self._refresh(rows)

    def for_datasets(self, datasets: Collection[str] | None = None) -> list[dict[str, Any]]:
        """Requests about these datasets (all when None), open ones first, newest first."""
        c = store.corrections
        stmt = select(c).order_by((c.c.status != "open"), c.c.id.desc()).limit(500)
        if datasets is not None:
            stmt = stmt.where(c.c.dataset.in_(sorted(datasets)))
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).all()
        return self._refresh(rows)

    def answer(
        self, request_id: int, by: str, text: str, datasets: Collection[str] | None = None
    ) -> str:
        """The department answers an open request about one of its ``datasets`` (all when
        None) and closes it; the holder it concerns."""
        text = " ".join(text.split())
        if not 1 <= len(text) <= MAX_NOTE:
            raise CorrectionError(f"the answer must be 1 to {MAX_NOTE} characters")
        c = store.corrections
        with store.write(self.engine) as conn:
            row = conn.execute(select(c).where(c.c.id == request_id)).first()
            if (
                row is None
                or row.status != "open"
                or (datasets is not None and row.dataset not in datasets)
            ):
                raise CorrectionError(f"no open correction request no. {request_id}")
            conn.execute(
                update(c)
                .where(c.c.id == request_id)
                .values(status="answered", answer=text, answered_by=by[:64], closed_at=_now())
            )
        return str(row.holder)
