"""Eligibility (免申即享): benefits that find their people.

A policy (:mod:`schemas.policies`) is judged over the whole library at once: its conditions
run as the quality engine's rules over an Arrow table of the fields they read
(:func:`quality.engine.passes`, one rule engine), on the first day of the policy's period.
:func:`run_policy` compares the eligible set with the applications already open: the newly
eligible get one prefilled application each (the policy's form, :mod:`sharing.forms`), stored
under (policy, person, period), so a re-run in the same period adds nothing and a person already
receiving the benefit is not asked again; an open application whose person is no longer eligible
(died, moved away) is ended with the reason.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
import weakref
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    Index,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from schemas.contracts import Column as RuleColumn
from schemas.contracts import Rule
from schemas.policies import Condition, Policy

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from sharing.forms import FormReads
    from storage.library import LibraryStore

SUBJECT = "subject"
OPEN, ENDED = "open", "ended"

metadata = MetaData()

applications = Table(
    "policy_applications",
    metadata,
    Column("application_id", String(40), primary_key=True),
    Column("policy", String(48), nullable=False),
    Column("subject", String(32), nullable=False),
    Column("period", String(8), nullable=False),  # 2026-02, 2026, or once
    Column("status", String(8), nullable=False),  # open | ended
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),  # created, or ended
    Column("end_reason", Text),
    Column("form", Text, nullable=False),  # the prefilled form (JSON), with each value's source
    UniqueConstraint("policy", "subject", "period", name="uq_policy_subject_period"),
    Index("ix_policy_applications_updated", "policy", "updated_at"),
)


_READY: weakref.WeakSet[Engine] = weakref.WeakSet()  # engines whose applications table exists


def period_of(policy: Policy, day: dt.date) -> tuple[str, dt.date]:
    """The policy's period containing ``day`` (its key) and the day its rule is judged on."""
    if policy.period == "month":
        return f"{day:%Y-%m}", day.replace(day=1)
    if policy.period == "year":
        return f"{day:%Y}", day.replace(month=1, day=1)
    return "once", day


def years_before(day: dt.date, years: int) -> dt.date:
    """The same day ``years`` earlier (29 February becomes 28 February)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def rule_column(condition: Condition, on: dt.date) -> RuleColumn:
    """A field condition as a column with the quality rule that tests it on day ``on``."""
    name, value = str(condition.field), condition.value
    test = condition.test
    if test == "age_at_least":  # born on or before the day N years earlier
        return RuleColumn(
            name, "date", True, None, (Rule("date", {"max": years_before(on, value)}),)
        )
    if test == "age_below":
        born_after = years_before(on, value) + dt.timedelta(days=1)
        return RuleColumn(name, "date", True, None, (Rule("date", {"min": born_after}),))
    if test == "prefix":
        return RuleColumn(
            name, "string", True, None, (Rule("regex", {"pattern": "^" + re.escape(value)}),)
        )
    if test == "equals":
        pattern = "^(?:" + "|".join(re.escape(v) for v in value) + ")$"
        return RuleColumn(name, "string", True, None, (Rule("regex", {"pattern": pattern}),))
    if test == "matches":
        return RuleColumn(name, "string", True, None, (Rule("regex", {"pattern": value}),))
    if test == "range":
        return RuleColumn(name, "decimal", True, None, (Rule("range", dict(value)),))
    return RuleColumn(name, "string", True, None, ())  # present


def eligible_mask(
    policy: Policy, table: pa.Table, on: dt.date, holders: Mapping[str, Iterable[str]]
) -> NDArray[np.bool_]:
    """Rows of ``table`` (a ``subject`` column and the policy's fields as stored text) the
    policy's rule holds for on ``on``; ``holders``: licence type -> holders of a valid one."""
    from quality.arrays import numpy_mask
    from quality.engine import passes

    mask = np.ones(table.num_rows, dtype=bool)
    for condition in policy.rule:
        if condition.test == "licence":
            having = pa.array(sorted(set(holders.get(str(condition.value), ()))), pa.string())
            mask &= numpy_mask(pc.is_in(table.column(SUBJECT), value_set=having))
            continue
        held = passes(table, rule_column(condition, on), on)
        mask &= ~held if condition.negate else held
    return mask


def typed(table: pa.Table, library: str) -> pa.Table:
    """``table`` with its date and number fields parsed as the library schema types them, by
    the quality engine's own coercion (a value that does not parse is null): done once when a
    library is read (or its snapshot built), so each run of a policy's rules compares typed
    values; a column typed already is left as it is."""
    from quality.coercion import library_typed

    return library_typed(table, library, keep=(SUBJECT,))


def library_table(lib: LibraryStore, library: str, fields: Sequence[str]) -> pa.Table:
    """Every subject of ``library`` (in no particular order) with the current golden values
    of ``fields`` (null if none), typed (:func:`typed`): the columns needed, from the library's
    columnar snapshot if it is of the library's current version and intact, else from one scan
    of the golden records (:meth:`LibraryStore.field_columns`), which becomes the snapshot
    (:mod:`storage.library.snapshot`)."""
    from storage.library.snapshot import read_columns

    wanted = list(dict.fromkeys(fields))
    return typed(read_columns(lib, library, wanted, typed), library)


def licence_holders(engine: Engine, type_codes: Iterable[str], on: dt.date) -> dict[str, set[str]]:
    """Licence type -> holders of a licence of it valid on ``on`` (the licence index)."""
    from licence.store import LicenceStore
    from licence.tables import licences

    codes = sorted(set(type_codes))
    out: dict[str, set[str]] = {c: set() for c in codes}
    if not codes:
        return out
    LicenceStore(engine)
    day = on.isoformat()
    stmt = select(licences.c.type_code, licences.c.holder_id).where(
        and_(
            licences.c.type_code.in_(codes),
            licences.c.status == "valid",
            licences.c.superseded_by.is_(None),
            or_(licences.c.valid_to.is_(None), licences.c.valid_to >= day),
        )
    )
    with engine.connect() as conn:
        for code, holder in conn.execute(stmt):
            out[code].add(holder)
    return out


def _naive(when: dt.datetime) -> dt.datetime:
    return when.astimezone(dt.UTC).replace(tzinfo=None) if when.tzinfo else when


class ApplicationStore:
    """Generated applications, one per (policy, person, period)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        if engine not in _READY:  # once per engine, not on every request
            metadata.create_all(engine)
            _READY.add(engine)

    def open_subjects(self, policy: str) -> set[str]:
        """Subjects with an open application of ``policy`` (any period): receiving it."""
        stmt = select(applications.c.subject).where(
            and_(applications.c.policy == policy, applications.c.status == OPEN)
        )
        with self.engine.connect() as conn:
            return {s for (s,) in conn.execute(stmt)}

    def add(
        self, policy: str, subject: str, period: str, form: Mapping[str, Any], now: dt.datetime
    ) -> str | None:
        """Store an application; its id, or None if this person has one for this period."""
        key = and_(
            applications.c.policy == policy,
            applications.c.subject == subject,
            applications.c.period == period,
        )
        app_id = f"PA{now:%Y%m%d}{secrets.token_hex(8).upper()}"
        stamp = _naive(now)
        try:
            with self.engine.begin() as conn:
                if conn.execute(select(applications.c.application_id).where(key)).first():
                    return None
                conn.execute(
                    insert(applications).values(
                        application_id=app_id,
                        policy=policy,
                        subject=subject,
                        period=period,
                        status=OPEN,
                        created_at=stamp,
                        updated_at=stamp,
                        form=json.dumps(form, ensure_ascii=False, separators=(",", ":")),
                    )
                )
        except IntegrityError:
            # another run of the same period (the DAG and a clerk's run at once) stored it
            # between our look and our insert: the unique key keeps it one application
            with self.engine.connect() as conn:
                if conn.execute(select(applications.c.application_id).where(key)).first():
                    return None
            raise
        return app_id

    def end(self, policy: str, subjects: Iterable[str], reason: str, now: dt.datetime) -> int:
        """End the open applications of these subjects; how many were ended."""
        wanted = sorted(set(subjects))
        ended = 0
        with self.engine.begin() as conn:
            for i in range(0, len(wanted), 400):
                result = conn.execute(
                    update(applications)
                    .where(
                        and_(
                            applications.c.policy == policy,
                            applications.c.status == OPEN,
                            applications.c.subject.in_(wanted[i : i + 400]),
                        )
                    )
                    .values(status=ENDED, updated_at=_naive(now), end_reason=reason)
                )
                ended += result.rowcount or 0
        return ended

    def since(
        self,
        policy: str,
        since: dt.datetime | None = None,
        limit: int = 1000,
        after: str | None = None,
    ) -> list[dict[str, Any]]:
        """Applications of ``policy`` created or ended after ``since`` (changed at ``since``
        itself only if their id sorts after ``after``: one run stamps many alike), oldest
        change first."""
        stmt = select(applications).where(applications.c.policy == policy)
        if since is not None:
            later = applications.c.updated_at > _naive(since)
            if after is not None:
                later = or_(
                    later,
                    and_(
                        applications.c.updated_at == _naive(since),
                        applications.c.application_id > after,
                    ),
                )
            stmt = stmt.where(later)
        stmt = stmt.order_by(applications.c.updated_at, applications.c.application_id).limit(limit)
        with self.engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(stmt)]
        for row in rows:
            row["form"] = json.loads(row["form"])
            for name in ("created_at", "updated_at"):
                row[name] = row[name].replace(tzinfo=dt.UTC).isoformat().replace("+00:00", "Z")
        return rows


@dataclass(frozen=True)
class RunResult:
    policy: str
    period: str
    judged_on: dt.date
    population: int
    eligible: int
    created: tuple[str, ...]  # application ids
    ended: int

    def to_json(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "period": self.period,
            "judged_on": self.judged_on.isoformat(),
            "population": self.population,
            "eligible": self.eligible,
            "created": len(self.created),
            "ended": self.ended,
        }


NO_LONGER_ELIGIBLE = "no longer eligible (the library changed: died, moved, or ceased)"


def run_policy(
    policy: Policy,
    table: pa.Table,
    holders: Mapping[str, Iterable[str]],
    store: ApplicationStore,
    reads: FormReads,
    day: dt.date,
    now: dt.datetime | None = None,
) -> RunResult:
    """Judge ``policy`` over ``table`` (:func:`library_table`) for the period containing ``day``:
    one prefilled application per newly eligible subject, the no-longer-eligible ended."""
    from schemas import forms
    from sharing.forms import allow_all, prefill

    now = now or dt.datetime.now(dt.UTC)
    period, on = period_of(policy, day)
    mask = eligible_mask(policy, table, on, holders)
    subjects = table.column(SUBJECT).to_pylist()
    eligible = {s for s, ok in zip(subjects, mask.tolist(), strict=True) if ok}
    receiving = store.open_subjects(policy.id)
    form = forms.get(policy.form)
    created: list[str] = []
    for subject in sorted(eligible - receiving):
        filled = prefill(form, subject, reads, allow_all, on)  # the owning department's form
        app_id = store.add(policy.id, subject, period, filled.to_json(), now)
        if app_id is not None:
            created.append(app_id)
    ended = store.end(policy.id, receiving - eligible, NO_LONGER_ELIGIBLE, now)
    return RunResult(policy.id, period, on, table.num_rows, len(eligible), tuple(created), ended)


def run_on_store(
    policy: Policy,
    lib: LibraryStore,
    reads: FormReads,
    day: dt.date,
    now: dt.datetime | None = None,
) -> RunResult:
    """:func:`run_policy` over the hub's library and licence index (the DAG's and the CLI's)."""
    table = library_table(lib, policy.library, policy.fields())
    _, on = period_of(policy, day)
    holders = licence_holders(lib.engine, policy.licence_types(), on)
    return run_policy(policy, table, holders, ApplicationStore(lib.engine), reads, day, now)
