"""The per-client rate limit shared by every API instance of one hub: a token bucket per client
in PostgreSQL, taken in one statement.

Behind a load balancer each ``hub serve`` instance would otherwise count in its own memory, so
a client could send the full rate to each of them. On PostgreSQL (the hub's database, which
every instance already shares) the bucket is a row of ``api_rate_buckets``: one
``INSERT … ON CONFLICT DO UPDATE … RETURNING`` refills it by the time elapsed on the database
server's clock (one clock for all instances), takes the request's cost if at least one token is
there, and answers whether it did, so two instances taking from one bucket are serialised by
the row lock and never both spend the same token. The table is ``UNLOGGED`` and the limiter's
connections commit asynchronously: no WAL, no fsync per request; after a database crash the
buckets start full again, which only forgives the debts of that moment.

Why PostgreSQL and not Redis: the statement costs one round trip on a connection the limiter
keeps (``python -m bench.ratelimit`` on the loopback tier of a shared two-core machine: median
0.35 to 0.39 ms, p99 4 to 5 ms; one client's bucket hammered by four threads still takes
1,200 to 2,200 times a second, far above any client's limit), against the several
milliseconds a gated request spends on its record read and its audit commit, which already go
to the same database. Redis would
save a fraction of a millisecond but add a daemon, a client library and a failover story of
its own; the hub's database is already the one thing every instance must reach.
The embedded tier (SQLite, one process) keeps the in-memory
:class:`api.clients.RateLimiter`, exact there.

If the database cannot be reached the limiter counts in this process's memory for
:data:`RETRY_AFTER` seconds before it tries again (the request would then fail on its audit
anyway, 503, without data), so a database outage costs no connection attempt per request.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import IntegrityError, ProgrammingError, SQLAlchemyError

from api.clients import RateLimiter

log = logging.getLogger(__name__)

TABLE = "api_rate_buckets"
RETRY_AFTER = 5.0  # seconds the limiter counts in memory after the database failed it

_CREATE = text(
    f"CREATE UNLOGGED TABLE IF NOT EXISTS {TABLE} ("
    " key varchar(128) PRIMARY KEY,"
    " tokens double precision NOT NULL,"
    " stamp double precision NOT NULL,"  # database server's clock, seconds since the epoch
    " admitted boolean NOT NULL)"
)

# the bucket refilled to now (never above its size; a waiter whose transaction began before
# the last taker's commit sees no negative time)
_REFILLED = (
    f"least(:burst, {TABLE}.tokens"
    f" + greatest(0, extract(epoch from clock_timestamp()) - {TABLE}.stamp) * :rate)"
)
_TAKE = text(
    f"INSERT INTO {TABLE} (key, tokens, stamp, admitted)"
    " VALUES (:key, :burst - :cost, extract(epoch from clock_timestamp()), true)"
    " ON CONFLICT (key) DO UPDATE SET"
    f" tokens = CASE WHEN {_REFILLED} >= 1 THEN {_REFILLED} - :cost ELSE {_REFILLED} END,"
    f" admitted = {_REFILLED} >= 1,"
    " stamp = extract(epoch from clock_timestamp())"
    " RETURNING admitted, tokens"
)
_PEEK = text(
    f"SELECT least(:burst, tokens + greatest(0, extract(epoch from clock_timestamp()) - stamp)"
    f" * :rate) FROM {TABLE} WHERE key = :key"
)


def _wait(tokens: float, rate: float) -> float:
    return (1.0 - tokens) / rate if rate > 0 else 60.0


class SharedRateLimiter:
    """Token buckets in PostgreSQL, shared by every process on the database (same interface
    as :class:`api.clients.RateLimiter`: ``take`` and ``waiting`` answer the seconds to wait,
    0.0 when a request may proceed)."""

    def __init__(self, engine: Engine, pool_size: int = 4) -> None:
        # its own small pool: asynchronous commits on these connections only
        self.engine = create_engine(
            engine.url,
            pool_size=pool_size,
            max_overflow=pool_size * 2,
            pool_pre_ping=True,
            connect_args={"options": "-c synchronous_commit=off"},
        )
        self.local = RateLimiter()  # while the database cannot be reached
        self._ready = False
        self._lock = threading.Lock()
        self._warned = 0.0
        self._away_until = 0.0  # until then, count here without trying the database

    @staticmethod
    def suits(engine: Engine) -> bool:
        """True for a database every instance can share (PostgreSQL)."""
        return engine.dialect.name == "postgresql"

    def _create(self) -> None:
        with self._lock:
            if self._ready:
                return
            for attempt in range(5):
                try:
                    with self.engine.begin() as conn:
                        conn.execute(_CREATE)
                    break
                except (IntegrityError, ProgrammingError):  # another instance created it
                    if attempt == 4:
                        raise
                    time.sleep(0.05 * (attempt + 1))
            self._ready = True

    def take(self, key: str, rate: float, cost: float = 1.0, burst: float | None = None) -> float:
        """0.0 if a request costing ``cost`` may proceed, else the seconds to wait (``burst``:
        the bucket's size, default twice the rate). A request is admitted while the bucket
        holds one token and may leave it in debt (a batch costs one per subject)."""
        size = max(1.0, 2.0 * rate) if burst is None else burst
        if time.monotonic() < self._away_until:
            return self.local.take(key, rate, cost, burst)
        try:
            if not self._ready:
                self._create()
            with self.engine.begin() as conn:
                admitted, tokens = conn.execute(
                    _TAKE, {"key": key, "burst": size, "cost": float(cost), "rate": float(rate)}
                ).one()
        except SQLAlchemyError as exc:
            self._unreachable(exc)
            return self.local.take(key, rate, cost, burst)
        return 0.0 if admitted else _wait(float(tokens), rate)

    def waiting(self, key: str, rate: float, burst: float | None = None) -> float:
        """The seconds ``key`` must still wait (0.0 if a request would be admitted now),
        without taking anything."""
        size = max(1.0, 2.0 * rate) if burst is None else burst
        if time.monotonic() < self._away_until:
            return self.local.waiting(key, rate, burst)
        try:
            if not self._ready:
                self._create()
            with self.engine.connect() as conn:
                found: Any = conn.execute(
                    _PEEK, {"key": key, "burst": size, "rate": float(rate)}
                ).scalar()
        except SQLAlchemyError as exc:
            self._unreachable(exc)
            return self.local.waiting(key, rate, burst)
        if found is None or float(found) >= 1.0:
            return 0.0
        return _wait(float(found), rate)

    def _unreachable(self, exc: BaseException) -> None:
        now = time.monotonic()
        self._away_until = now + RETRY_AFTER  # no connection attempt per request meanwhile
        if now - self._warned > 60:
            self._warned = now
            log.warning(
                "shared rate limit unreachable (%s): counting in this process until it answers",
                type(exc).__name__,
            )

    def close(self) -> None:
        self.engine.dispose()


class LayeredLimiter:
    """The per-address budgets of strangers and public look-ups on a shared database: this
    process's own buckets first, then the shared ones.

    A request this instance's buckets already refuse is refused without a statement, so a flood
    from one address costs the database at most one statement per budgeted request per
    instance; a request they admit is then counted in the shared bucket, which holds the address
    to its budget over every instance together (a load balancer handing its requests round
    robin to N instances no longer gives it N budgets). Same interface as the others.
    """

    def __init__(self, shared: SharedRateLimiter) -> None:
        self.local = RateLimiter()
        self.shared = shared

    def take(self, key: str, rate: float, cost: float = 1.0, burst: float | None = None) -> float:
        wait = self.local.take(key, rate, cost, burst)
        return wait if wait > 0 else self.shared.take(key, rate, cost, burst)

    def waiting(self, key: str, rate: float, burst: float | None = None) -> float:
        wait = self.local.waiting(key, rate, burst)
        return wait if wait > 0 else self.shared.waiting(key, rate, burst)
