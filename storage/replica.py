"""Reads that may trail the primary a little, sent to a streaming replica while it keeps up.

A :class:`ReadRouting` holds the hub database's engine (the primary) and, when one is
configured (``HUB_DATABASE_REPLICA_URL``), an engine of a hot standby of it. :meth:`read` runs
a read on the replica while it is *serving* — a standby that answered its last check with a
replay lag of at most ``max_lag`` seconds — and on the primary otherwise; a read that fails on
the replica (it was stopped, its connection cut) is run again on the primary, so the caller
never sees the replica fail, and the replica is left alone for ``retry`` seconds.

The lag is checked at most every ``recheck`` seconds by whichever reader finds the last check
stale (the others go on with its outcome): the primary's WAL position against the replica's
replayed position (bytes behind) and, when it is behind, the age of the last transaction it
replayed (seconds behind; 0 when it has replayed everything, however idle the primary). A
standby that was promoted (not in recovery) is not read from: it no longer follows the primary.

Only reads that tolerate that lag belong here (the API's golden point reads); what writes, or
what must see the newest state, uses the primary's engine directly (see the README).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import Connection, Engine, make_url, text
from sqlalchemy.exc import DBAPIError

from storage.engine import make_engine

T = TypeVar("T")

MAX_LAG = 5.0  # seconds a replica may trail the primary and still serve reads
RECHECK = 1.0  # seconds between checks of the replica's lag
RETRY = 5.0  # seconds a replica that failed is left alone before it is checked again
CONNECT_TIMEOUT = 2  # seconds to open a connection to the replica


@dataclass(frozen=True)
class ReplicaState:
    """The replica's last check: whether reads go to it, and how far behind it was."""

    configured: bool
    serving: bool  # reads go to the replica (else to the primary)
    lag_seconds: float | None = None  # None: not measured (not configured, or down)
    lag_bytes: int | None = None
    detail: str = ""  # why it is not serving (a kind of failure, never an address)


NOT_CONFIGURED = ReplicaState(configured=False, serving=False)


def unusable(primary: Engine, replica_url: str) -> str | None:
    """Why a replica URL is not used with this primary (None: it is). A replica copies a
    PostgreSQL cluster, so it is read only for a PostgreSQL primary, and only for the same
    database: a process handed a URL of its own (a test's database, a benchmark's SQLite file)
    beside a shell's ``HUB_DATABASE_REPLICA_URL`` must not read another database's records."""
    replica = make_url(replica_url)
    if replica.get_backend_name() != "postgresql":
        return f"the replica must be PostgreSQL (got {replica.get_backend_name()}): not used"
    if primary.dialect.name != "postgresql":
        return "the hub database is not PostgreSQL: its replica is not used"
    if replica.database != primary.url.database:
        return "the replica URL names another database than the hub's: not used"
    return None


def replica_engine(url: str) -> Engine:
    """The replica's engine, with a short connection timeout: a replica that does not answer
    sends reads to the primary within seconds instead of holding them."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise ValueError(f"a replica must be PostgreSQL (got {parsed.get_backend_name()!r})")
    if "connect_timeout" not in parsed.query:
        parsed = parsed.update_query_dict({"connect_timeout": str(CONNECT_TIMEOUT)})
    return make_engine(parsed.render_as_string(hide_password=False))


class ReadRouting:
    """Which engine a lag-tolerant read uses now (see the module's description)."""

    def __init__(
        self,
        primary: Engine,
        replica_url: str | None = None,
        *,
        max_lag: float = MAX_LAG,
        recheck: float = RECHECK,
        retry: float = RETRY,
    ) -> None:
        self.primary = primary
        unused = unusable(primary, replica_url) if replica_url else None
        self.replica = replica_engine(replica_url) if replica_url and not unused else None
        self.max_lag = max_lag
        self.recheck = recheck
        self.retry = retry
        self._state = NOT_CONFIGURED
        self._checked = -float("inf")  # monotonic time of the last check
        self._down_until = -float("inf")
        self._checking = threading.Lock()
        if self.replica is not None:
            self._state = ReplicaState(configured=True, serving=False, detail="not checked yet")
        elif unused:
            self._state = ReplicaState(configured=False, serving=False, detail=unused)

    # ---- routing ------------------------------------------------------------------------
    def read(self, fn: Callable[[Connection], T]) -> T:
        """``fn(connection)`` on the replica while it serves, else (or if it fails there) on
        the primary. ``fn`` must only read: it may run twice."""
        replica = self.replica
        if replica is not None and self.state().serving:
            try:
                with replica.connect() as conn:
                    return fn(conn)
            except DBAPIError as exc:
                if not _connection_failure(exc):
                    raise  # the read itself is wrong: the primary would refuse it too
                self._fail(type(exc.orig or exc).__name__)
        with self.primary.connect() as conn:
            return fn(conn)

    def state(self) -> ReplicaState:
        """The replica's last check, checked again if it is older than ``recheck`` seconds
        (by this caller alone: concurrent callers use the last outcome meanwhile)."""
        if self.replica is None:
            return self._state
        now = time.monotonic()
        if now - self._checked < self.recheck or now < self._down_until:
            return self._state
        if not self._checking.acquire(blocking=False):
            return self._state
        try:
            self._state = self.check()
            self._checked = time.monotonic()
            if not self._state.serving and self._state.lag_seconds is None:
                self._down_until = self._checked + self.retry
        finally:
            self._checking.release()
        return self._state

    def _fail(self, detail: str) -> None:
        # without the check's lock: a reader never waits for a check in progress (plain
        # assignments; the next check after ``retry`` seconds decides again)
        self._down_until = time.monotonic() + self.retry
        self._state = ReplicaState(configured=True, serving=False, detail=detail)

    # ---- the check ----------------------------------------------------------------------
    def check(self) -> ReplicaState:
        """Measure the replica's lag now (two short queries, one on each server)."""
        replica = self.replica
        if replica is None:
            return NOT_CONFIGURED
        try:
            with self.primary.connect() as conn:
                head = conn.execute(text("SELECT pg_current_wal_lsn()::text")).scalar_one()
        except DBAPIError as exc:
            return ReplicaState(True, False, detail=f"primary: {type(exc.orig or exc).__name__}")
        try:
            with replica.connect() as conn:
                row = conn.execute(
                    text(
                        "SELECT pg_is_in_recovery(), "
                        "pg_wal_lsn_diff(CAST(:head AS pg_lsn), pg_last_wal_replay_lsn()), "
                        "EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())"
                    ),
                    {"head": head},
                ).one()
        except DBAPIError as exc:
            return ReplicaState(True, False, detail=type(exc.orig or exc).__name__)
        standby, behind, age = row
        if not standby:
            return ReplicaState(True, False, detail="the replica is not a standby (promoted)")
        lag_bytes = max(0, int(behind or 0))
        lag_seconds = 0.0 if lag_bytes == 0 else round(max(0.0, float(age or 0.0)), 3)
        serving = lag_seconds <= self.max_lag
        return ReplicaState(
            True,
            serving,
            lag_seconds,
            lag_bytes,
            "" if serving else f"the replica lags more than {self.max_lag:g} s",
        )


def _connection_failure(exc: DBAPIError) -> bool:
    """A failure of the replica (its connection, its server), not of the statement."""
    import psycopg

    # a statement the standby cancelled because of a replay conflict (SQLSTATE 40001) would
    # run on the primary as well
    return bool(exc.connection_invalidated) or isinstance(
        exc.orig, psycopg.OperationalError | psycopg.errors.SerializationFailure
    )
