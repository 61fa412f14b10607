"""Agents (经办人): a person a company's legal representative authorises to act for it.

A company seldom sends its legal representative (法定代表人) to a window: it sends an agent. The
representative, acting for the company on ``/me`` (:mod:`holder.signin`), authorises a person
by their resident ID number (normalised with the project's ID rules, so a number typed in
full-width digits or with a lower-case x is the same person) until a date at most a year away,
for one of the :data:`SCOPES`; they list and revoke the authorisations. Each grant and
revocation is a ledger entry (the company's USCC, keyed hashes of the two people's ID numbers:
no ID number in clear) and, in the pages, an audit row under the company and under the agent.

The agent, signed in as themselves, opens a session for the company (``via``:
``agent:<their ID>``, :func:`holder.signin.agent_via`). Every use of it looks the
authorisation up again (:meth:`Agents.live`): revoked, expired, or granted by a person the
legal-entity library no longer names the legal representative, and the session is no longer
honoured. An agent's session shows and allows only what the scope does
(:meth:`Actor.allows`), never the agents page: an agent cannot authorise further agents.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, and_, func, insert, select, text, update

from holder import store
from holder.signin import ACTING, PAGES, SignInRefused, agent_person, holder_id

# what an agent's session may do, by scope; the legal representative's and a person's own
# session may do all of it (and the representative alone manages agents)
LICENCES = "licences"  # the list of the company's licences
COPY = "copy"  # the sealed JSON with its receipt, and the PDF
PRESENT = "present"  # make and withdraw presentations (亮证码)
DATA = "data"  # the company's record and its disputes ("this is wrong")
AUDIT = "audit"  # the company's "who looked at my data"
SCOPES: dict[str, frozenset[str]] = {
    "all": frozenset({LICENCES, COPY, PRESENT, DATA, AUDIT}),
    "present": frozenset({LICENCES, PRESENT}),
    "view": frozenset({LICENCES, COPY}),
}
SCOPE_LABELS = {
    "all": ("全部事项", "everything but authorising agents"),
    "present": ("仅出示亮证码", "presentations only"),
    "view": ("仅查看证照", "view the licences only"),
}
MAX_LIVE = 50  # live authorisations of one company
CLIENT = "agent:"  # the audit's client for what an agent does: ``agent:<ref>``
REP = "holder-pages:rep"  # the audit's client for what the legal representative does for it
CST = dt.timezone(dt.timedelta(hours=8))  # the date the representative picks is Beijing's
REVOKED, REPLACED = "revoked", "replaced"


@dataclass
class AgentRefused(Exception):
    """A refused grant or revocation: HTTP ``status``, ``kind`` for the audit, a message."""

    status: int
    kind: str
    message: str

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class Authorisation:
    ref: str
    company: str
    agent: str
    scope: str
    granted_by: str
    created_at: dt.datetime  # naive UTC, like every stored time
    valid_until: dt.datetime
    ended_at: dt.datetime | None = None
    ended_how: str | None = None

    def allows(self, action: str) -> bool:
        return action in SCOPES.get(self.scope, frozenset())

    def live_at(self, now: dt.datetime) -> bool:
        return self.ended_at is None and now < self.valid_until

    @property
    def client(self) -> str:
        """The audit's client for what the agent does under it (names the agent's grant)."""
        return CLIENT + self.ref


@dataclass(frozen=True)
class Actor:
    """Who a live holder session acts as: ``holder`` is whose side it is (a person, or a
    company); ``agent`` is set when an agent acts for the company."""

    holder: str
    via: str
    until: dt.datetime
    agent: Authorisation | None = None

    def allows(self, action: str) -> bool:
        return self.agent is None or self.agent.allows(action)

    @property
    def client(self) -> str:
        """The audit's client for what this session does: the agent's grant, the company's
        legal representative, or the holder's own pages."""
        if self.agent is not None:
            return self.agent.client
        return REP if self.via.startswith(ACTING) else PAGES


def client_ref(client: str) -> str | None:
    """The authorisation an audit row's client names, None for any other client."""
    return client[len(CLIENT) :] if client.startswith(CLIENT) else None


def end_of(text: str, today: dt.date) -> dt.datetime:
    """The end (Beijing time, as naive UTC) of the day ``text`` (``YYYY-MM-DD``) names; it may
    be today and at most a year on; AgentRefused (400) otherwise."""
    try:
        day = dt.date.fromisoformat(text.strip()[:10])
    except ValueError:
        raise AgentRefused(400, "invalid-date", "请填写截止日期 / give the date it ends") from None
    if day < today or day > a_year_on(today):
        raise AgentRefused(
            400,
            "invalid-date",
            "截止日期应在今天到一年之内 / the end date must be between today and a year from now",
        )
    midnight = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), CST)
    return midnight.astimezone(dt.UTC).replace(tzinfo=None)


def a_year_on(today: dt.date) -> dt.date:
    """The last day an authorisation granted ``today`` may run to."""
    try:
        return today.replace(year=today.year + 1)
    except ValueError:  # 29 February
        return today.replace(year=today.year + 1, day=28)


def _row(r: Any) -> Authorisation:
    return Authorisation(
        str(r.ref),
        str(r.company),
        str(r.agent),
        str(r.scope),
        str(r.granted_by),
        r.created_at,
        r.valid_until,
        r.ended_at,
        r.ended_how,
    )


Represents = Callable[[str, str], bool]  # (company, person): whether person represents it now


class Agents:
    """The companies' authorisations of agents, in the hub database."""

    def __init__(
        self,
        engine: Engine,
        log: Callable[[bytes], int],
        subject_hash: Callable[[str], str],
        clock: Callable[[], float] = time.time,
        log_in: Callable[[Connection, bytes], int] | None = None,
    ) -> None:
        """``log`` appends a ledger entry; ``log_in`` queues one inside a transaction of
        ``engine`` (given when the log is in the same database: a grant and its entry then
        commit together); ``subject_hash`` is the audit's keyed hash of an ID number (what the
        ledger names people by)."""
        self.engine, self.log, self.subject_hash, self.clock = engine, log, subject_hash, clock
        self.log_in = log_in
        store.create(engine)

    def now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.clock(), dt.UTC).replace(tzinfo=None)

    def grant(
        self, company: str, rep: str, agent_text: str, until: str, scope: str
    ) -> Authorisation:
        """``rep`` (who the caller checked represents ``company`` now) authorises the person
        ``agent_text`` names until the end of the day ``until``; a live authorisation of the
        same person is replaced. AgentRefused for a bad ID, date or scope."""
        try:
            agent = holder_id(agent_text)
        except SignInRefused as exc:
            raise AgentRefused(400, "invalid-id", exc.message) from None
        if scope not in SCOPES:
            raise AgentRefused(400, "invalid-scope", f"scope must be one of {', '.join(SCOPES)}")
        now = self.now()
        valid_until = end_of(until, now.replace(tzinfo=dt.UTC).astimezone(CST).date())
        if agent == rep:
            raise AgentRefused(
                400,
                "agent-is-rep",
                "法定代表人本人无需授权 / the legal representative acts for the company already",
            )
        ref = secrets.token_hex(8)
        t = store.agents
        with store.write(self.engine) as conn:
            # the company's grants are read, counted and written under one lock, and the
            # ledger entry is queued in the same transaction when the log shares the database:
            # two grants at once cannot pass the limit, and no row exists without its entry
            self._serialise(conn, company)
            earlier = self.live_of(company, agent, conn)
            if earlier is None and self.count_live(company, conn) >= MAX_LIVE:
                raise AgentRefused(
                    409,
                    "too-many-agents",
                    f"至多 {MAX_LIVE} 名有效经办人，请先撤销 / at most {MAX_LIVE} live agents: "
                    "revoke one first",
                )
            made = Authorisation(ref, company, agent, scope, rep, now, valid_until)
            conn.execute(  # any live grant of the person ends: one at most
                update(t)
                .where(and_(t.c.company == company, t.c.agent == agent, t.c.ended_at.is_(None)))
                .values(ended_at=now, ended_how=REPLACED, ended_by=rep)
            )
            conn.execute(
                insert(t).values(
                    ref=made.ref,
                    company=company,
                    agent=agent,
                    scope=scope,
                    granted_by=rep,
                    created_at=now,
                    valid_until=valid_until,
                )
            )
            self._ledger(
                conn,
                "holder.agent-granted",
                made,
                rep,
                now,
                replaces=earlier.ref if earlier else None,
            )
        return made

    def revoke(self, company: str, by: str, ref: str) -> Authorisation | None:
        """End one of ``company``'s live authorisations now; None if it has none by ``ref``
        (unknown, another company's, already ended)."""
        now = self.now()
        t = store.agents
        with store.write(self.engine) as conn:
            self._serialise(conn, company)
            found = self.get(ref[:32], conn)
            if found is None or found.company != company or found.ended_at is not None:
                return None
            conn.execute(
                update(t)
                .where(and_(t.c.ref == found.ref, t.c.ended_at.is_(None)))
                .values(ended_at=now, ended_how=REVOKED, ended_by=by)
            )
            self._ledger(conn, "holder.agent-revoked", found, by, now)
        return self.get(found.ref)

    def _serialise(self, conn: Connection, company: str) -> None:
        """Take the lock that orders every change of ``company``'s grants, at the start of
        the write transaction: a transaction-level advisory lock on PostgreSQL (the API's
        instances share the database), the database's write lock on SQLite."""
        if conn.dialect.name == "postgresql":
            conn.execute(
                text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": f"hub.agents:{company}"}
            )
        else:  # Python's sqlite3 starts the transaction only at the first write
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    def _ledger(
        self, conn: Connection, kind: str, a: Authorisation, by: str, now: dt.datetime, **more: Any
    ) -> int:
        event = {
            "type": kind,
            "ref": a.ref,
            "company": a.company,
            "agent": self.subject_hash(a.agent),
            "by": self.subject_hash(by),
            "scope": a.scope,
            "valid_until": a.valid_until.isoformat() + "Z",
            "at": now.isoformat() + "Z",
            **more,
        }
        data = json.dumps(event, sort_keys=True, separators=(",", ":")).encode()
        if self.log_in is not None:
            return self.log_in(conn, data)
        return self.log(data)

    # ---- reading ----------------------------------------------------------------------------
    def _read(self, stmt: Any, conn: Connection | None) -> Any:
        if conn is not None:
            return conn.execute(stmt)
        with self.engine.connect() as own:
            return own.execute(stmt).all()

    def get(self, ref: str, conn: Connection | None = None) -> Authorisation | None:
        rows = self._read(select(store.agents).where(store.agents.c.ref == ref), conn)
        r = next(iter(rows), None)
        return _row(r) if r is not None else None

    def _live(self) -> Any:
        t = store.agents
        return and_(t.c.ended_at.is_(None), t.c.valid_until > self.now())

    def live_of(
        self, company: str, agent: str, conn: Connection | None = None
    ) -> Authorisation | None:
        """The live authorisation of ``agent`` by ``company`` (the newest), whoever granted it."""
        t = store.agents
        stmt = (
            select(t)
            .where(and_(t.c.company == company, t.c.agent == agent, self._live()))
            .order_by(t.c.created_at.desc())
        )
        r = next(iter(self._read(stmt, conn)), None)
        return _row(r) if r is not None else None

    def live(self, company: str, agent: str, represents: Represents | None) -> Authorisation | None:
        """The authorisation ``agent`` acts for ``company`` under now: live, and granted by the
        person the legal-entity library names its representative now (``represents``)."""
        found = self.live_of(company, agent)
        if found is None or represents is None or not represents(company, found.granted_by):
            return None
        return found

    def count_live(self, company: str, conn: Connection | None = None) -> int:
        t = store.agents
        stmt = select(func.count()).where(and_(t.c.company == company, self._live()))
        return int(next(iter(self._read(stmt, conn)))[0])

    def of_company(self, company: str, limit: int = 200) -> list[Authorisation]:
        """The company's authorisations, live ones first, then the newest."""
        t = store.agents
        stmt = (
            select(t)
            .where(t.c.company == company)
            .order_by(t.c.ended_at.is_not(None), t.c.created_at.desc())
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [_row(r) for r in conn.execute(stmt)]

    def of_agent(self, agent: str, represents: Represents | None) -> list[Authorisation]:
        """The live authorisations ``agent`` may act under now, one a company."""
        t = store.agents
        stmt = select(t).where(and_(t.c.agent == agent, self._live())).order_by(t.c.company)
        with self.engine.connect() as conn:
            rows = [_row(r) for r in conn.execute(stmt)]
        seen: dict[str, Authorisation] = {}
        for a in rows:
            if represents is not None and represents(a.company, a.granted_by):
                seen.setdefault(a.company, a)
        return list(seen.values())

    def actor(
        self, found: tuple[str, str, dt.datetime] | None, represents: Represents | None
    ) -> Actor | None:
        """Who a session (``found``: holder, via, expiry, as :meth:`HolderSessions.session`
        gives it) acts as; None if it is an agent's whose authorisation ended meanwhile."""
        if found is None:
            return None
        holder, via, until = found
        person = agent_person(via)
        if person is None:
            return Actor(holder, via, until)
        grant = self.live(holder, person, represents)
        return Actor(holder, via, until, grant) if grant is not None else None
