"""Sign-in pauses after repeated failures, per (name, client address) pair: in this process's
memory on the embedded hub, in the hub's database when several API instances share it.

The pause is per pair, so a stranger's wrong guesses lock the name *for the stranger's
address* only: the account's owner, signing in from their own desk, is not locked out. After
``allowed`` failures the pair waits ``first`` seconds, and each further failure doubles the wait
up to ``longest`` (:meth:`Failures.record`, the one rule both stores apply). A pair quiet for
``forget`` seconds starts afresh.

Behind a load balancer each ``hub serve`` instance would otherwise count in its own memory, so
a guesser would get the allowance once per instance (and a round-robin balancer hands the
guesses out evenly). On PostgreSQL, the database every instance already shares,
:class:`SharedLoginThrottle` keeps the pairs in ``pages_login_failures``: a failure is counted
in one short transaction holding the pair's row lock, so two instances never both grant the
same attempt. The table holds no name: its key is an HMAC of the pair under the pages' secret
(the same for every instance of one hub), so neither an ID number nor a staff name nor an
address can be read from it, and pairs quiet for ``forget`` seconds are deleted as failures come
in, so a flood of made-up names cannot grow it without bound. A sign-in is rare and costs an
argon2id check besides: the two statements are nothing next to it. If the database cannot be
reached the pairs are counted in this process's memory until it can.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import (
    Column,
    Engine,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    delete,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError, SQLAlchemyError

log = logging.getLogger(__name__)

FAILURES_ALLOWED = 5  # wrong passwords from one address for one name before the first pause
FIRST_PAUSE = 60.0  # seconds; doubled with each further failure while paused ...
LONGEST_PAUSE = 15 * 60.0  # ... up to this
FORGET_AFTER = 24 * 3600.0  # a (name, address) quiet this long starts afresh
MAX_TRACKED = 10_000  # (name, address) pairs one process remembers; least recently used first
PRUNE_EVERY = 64  # each instance prunes forgotten pairs every this many failures
RETRY_AFTER = 5.0  # seconds counted in memory after the database failed


@dataclass
class Failures:
    count: int
    last: float
    until: float  # no attempt accepted before this (seconds on the store's clock)

    def record(self, now: float, allowed: int, first: float, longest: float) -> float:
        """Count one more failure at ``now``; returns the pause that now applies (0.0: none)."""
        self.count += 1
        self.last = now
        over = self.count - allowed
        if over >= 0:
            self.until = now + min(longest, first * 2.0**over)
        return max(0.0, self.until - now)


class Throttle(Protocol):
    def wait(self, username: str, address: str, now: float | None = None) -> float: ...

    def failed(self, username: str, address: str, now: float | None = None) -> float: ...

    def succeeded(self, username: str, address: str) -> None: ...


class LoginThrottle:
    """The pairs in this process's memory (one process: the embedded hub). Bounded: at most
    ``max_tracked`` pairs (least recently used evicted first), each forgotten after ``forget``
    quiet seconds, so a flood of made-up names cannot grow memory."""

    def __init__(
        self,
        allowed: int = FAILURES_ALLOWED,
        first: float = FIRST_PAUSE,
        longest: float = LONGEST_PAUSE,
        forget: float = FORGET_AFTER,
        max_tracked: int = MAX_TRACKED,
    ) -> None:
        self.allowed, self.first, self.longest = allowed, first, longest
        self.forget, self.max_tracked = forget, max_tracked
        self._pairs: OrderedDict[tuple[str, str], Failures] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._pairs)

    def _get(self, key: tuple[str, str], now: float) -> Failures | None:
        found = self._pairs.get(key)
        if found is not None and now - found.last > self.forget:
            del self._pairs[key]
            return None
        return found

    def wait(self, username: str, address: str, now: float | None = None) -> float:
        """Seconds before this pair may try again (0.0: it may try now)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            found = self._get((username, address), now)
            return max(0.0, found.until - now) if found is not None else 0.0

    def failed(self, username: str, address: str, now: float | None = None) -> float:
        """Record a wrong password; returns the pause that now applies (0.0: none yet)."""
        now = time.monotonic() if now is None else now
        key = (username, address)
        with self._lock:
            found = self._get(key, now) or Failures(0, now, now)
            pause = found.record(now, self.allowed, self.first, self.longest)
            self._pairs[key] = found
            self._pairs.move_to_end(key)
            while len(self._pairs) > self.max_tracked:
                self._pairs.popitem(last=False)
            return pause

    def succeeded(self, username: str, address: str) -> None:
        with self._lock:
            self._pairs.pop((username, address), None)


_metadata = MetaData()
failures_table = Table(
    "pages_login_failures",
    _metadata,
    Column("scope", String(32), primary_key=True),  # which sign-in: staff, holder, holder-spray
    Column("pair", String(64), primary_key=True),  # HMAC-SHA256 of (name, address), hex
    Column("count", Integer, nullable=False),
    Column("last", Float, nullable=False, index=True),  # seconds since the epoch
    Column("until", Float, nullable=False),
)


class SharedLoginThrottle:
    """The pairs in the hub's database, shared by every instance on it (same interface and
    rule as :class:`LoginThrottle`; ``now`` is wall-clock seconds since the epoch, which the
    instances' synchronised clocks agree on)."""

    def __init__(
        self,
        engine: Engine,
        scope: str,
        key: bytes,
        allowed: int = FAILURES_ALLOWED,
        first: float = FIRST_PAUSE,
        longest: float = LONGEST_PAUSE,
        forget: float = FORGET_AFTER,
    ) -> None:
        if engine.dialect.name not in ("postgresql", "sqlite"):
            raise ValueError(f"no shared sign-in pauses on {engine.dialect.name}")
        self.engine, self.scope, self._key = engine, scope, key
        self.allowed, self.first, self.longest, self.forget = allowed, first, longest, forget
        self.local = LoginThrottle(allowed, first, longest, forget)  # while the database is away
        self._ready = False
        self._away_until = 0.0
        self._lock = threading.Lock()
        self._counted = 0  # failures this instance counted (for pruning)

    @staticmethod
    def suits(engine: Engine) -> bool:
        """True for a database every instance can share (PostgreSQL)."""
        return engine.dialect.name == "postgresql"

    def pair(self, username: str, address: str) -> str:
        """The row's key: nothing of the name or address can be read back from it."""
        msg = f"{self.scope}\0{username}\0{address}".encode()
        return hmac.new(self._key, msg, hashlib.sha256).hexdigest()

    def _create(self) -> None:
        with self._lock:
            for attempt in range(5):
                try:
                    _metadata.create_all(self.engine, checkfirst=True)
                    break
                except (IntegrityError, ProgrammingError, OperationalError):
                    if attempt == 4:  # another instance creating it at the same moment
                        raise
                    time.sleep(0.05 * (attempt + 1))
            self._ready = True

    def _shared(self, fn: Callable[[], float], fallback: Callable[[], float]) -> float:
        if time.monotonic() < self._away_until:
            return fallback()
        try:
            if not self._ready:
                self._create()
            return fn()
        except SQLAlchemyError as exc:
            log.warning(
                "sign-in pauses: the database is unreachable (%s); counting in this process "
                "for %.0f s",
                type(exc).__name__,
                RETRY_AFTER,
            )
            self._away_until = time.monotonic() + RETRY_AFTER
            return fallback()

    def _where(self, pair: str) -> tuple[object, ...]:
        t = failures_table.c
        return (t.scope == self.scope, t.pair == pair)

    def wait(self, username: str, address: str, now: float | None = None) -> float:
        """Seconds before this pair may try again (0.0: it may try now)."""
        at = time.time() if now is None else now
        pair = self.pair(username, address)

        def read() -> float:
            t = failures_table.c
            with self.engine.connect() as conn:
                row = conn.execute(select(t.last, t.until).where(*self._where(pair))).first()
            if row is None or at - row.last > self.forget:
                return 0.0
            return max(0.0, float(row.until) - at)

        return self._shared(read, lambda: self.local.wait(username, address, now))

    def failed(self, username: str, address: str, now: float | None = None) -> float:
        """Record a wrong password; returns the pause that now applies (0.0: none yet)."""
        at = time.time() if now is None else now
        pair = self.pair(username, address)

        def count() -> float:
            t = failures_table.c
            dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
            with self.engine.begin() as conn:
                fresh = {"scope": self.scope, "pair": pair, "count": 0, "last": at, "until": at}
                conn.execute(dialect.insert(failures_table).values(fresh).on_conflict_do_nothing())
                row = conn.execute(
                    select(t.count, t.last, t.until).where(*self._where(pair)).with_for_update()
                ).one()  # the pair's row lock (SQLite: the insert took the write lock)
                found = Failures(int(row.count), float(row.last), float(row.until))
                if at - found.last > self.forget:
                    found = Failures(0, at, at)
                pause = found.record(at, self.allowed, self.first, self.longest)
                conn.execute(
                    update(failures_table)
                    .where(*self._where(pair))
                    .values(count=found.count, last=found.last, until=found.until)
                )
                self._counted += 1
                if self._counted % PRUNE_EVERY == 0:
                    conn.execute(delete(failures_table).where(t.last < at - self.forget))
            return pause

        return self._shared(count, lambda: self.local.failed(username, address, now))

    def succeeded(self, username: str, address: str) -> None:
        pair = self.pair(username, address)

        def clear() -> float:
            with self.engine.begin() as conn:
                conn.execute(delete(failures_table).where(*self._where(pair)))
            return 0.0

        self.local.succeeded(username, address)
        self._shared(clear, lambda: 0.0)
