"""Liveness and readiness for load balancers and operators (no authentication, no personal data).

``GET /v1/health/live`` answers while the process serves requests (restart it if not);
``GET /v1/health/ready`` answers 200 only while this instance can serve the sharing API: its
database answers, its object store answers, and the ledger's queue of unsequenced entries is
below its limit (appends would be refused beyond it). It also reports the anchor lag (the
checkpoints still waiting for the remote anchor and the age of the oldest): anchoring queues
and catches up by design (the single-node Fabric tests), so a lag is reported, never a reason
to take every instance out of the load balancer. A failing part answers 503 naming the part
and the kind of failure, never the server's address, credentials or any record. An
erasure-coded object store that has lost drives still answers: it is listed under
``degraded`` with how many drives are offline or healing, and whether it still has write
quorum (a shared store's lost quorum is no reason to take any instance out either).

With a streaming replica configured (``HUB_DATABASE_REPLICA_URL``) it reports the replica's
lag (seconds and WAL bytes behind the primary) and where the golden record reads go. A replica
that lags more than its limit, or is down, never makes the instance unready — its reads fall
back to the primary — but the answer says ``degraded`` (HTTP 200) and names ``replica``.

The outcome is kept for :data:`READY_TTL` seconds per process, so health checks (or a stranger
polling the endpoint) cost at most a few queries a second whatever their rate.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api.state import HubState, hub_state
from storage.objects import MinioObjectStore

router = APIRouter(tags=["service"])

READY_TTL = 1.0  # seconds a readiness outcome is reused
CHECK_TIMEOUT = 3.0  # seconds a readiness check may take before its part counts as failing
PROBE_KEY = "health/ready-probe"  # an object name looked up (never written) in the store


class Live(BaseModel):
    status: Literal["ok"] = Field(examples=["ok"])


class Part(BaseModel):
    ok: bool
    detail: str = Field(
        default="",
        description="why the part is failing, or how it is degraded (a kind of failure, no "
        "address)",
    )


class Ledger(Part):
    queue_depth: int = Field(description="entries appended but not yet under a checkpoint")
    queue_limit: int = Field(description="appends are refused once the queue holds this many")


class Anchor(Part):
    checkpoints_waiting: int = Field(description="checkpoints not yet on the remote anchor")
    oldest_seconds: float = Field(description="age of the oldest waiting checkpoint (0: none)")


class Replica(Part):
    configured: bool = Field(description="a streaming replica is configured for reads")
    reads: Literal["replica", "primary"] = Field(
        description="where golden record reads go now (the primary when the replica lags or "
        "is down)"
    )
    lag_seconds: float | None = Field(
        description="how far the replica's replay trails the primary (null: not measured)"
    )
    lag_bytes: int | None = Field(description="WAL bytes the replica has not replayed yet")


class Ready(BaseModel):
    status: Literal["ready", "degraded", "not-ready"] = Field(
        description="degraded: ready (HTTP 200), but a part runs on its fallback"
    )
    failing: list[str] = Field(description="the parts that are not ready (empty when ready)")
    degraded: list[str] = Field(
        default_factory=list,
        description="the parts that serve on their fallback or with less redundancy than "
        "built, or reads only (the instance serves; the detail says how)",
    )
    database: Part
    objects: Part
    ledger: Ledger
    anchor: Anchor
    replica: Replica


@router.get("/v1/health/live", response_model=Live, summary="Liveness: the process answers")
async def live() -> Live:
    """200 while this process serves requests; touches nothing else (no database)."""
    return Live(status="ok")


@router.get(
    "/v1/health/ready",
    response_model=Ready,
    summary="Readiness: database, object store, ledger queue and anchor lag",
    responses={503: {"model": Ready, "description": "a part is failing: it is named"}},
)
async def ready(state: Annotated[HubState, Depends(hub_state)]) -> Any:
    """200 with each part's state while this instance can serve; 503 with the failing parts
    named otherwise (a load balancer takes the instance out of rotation). The anchor lag is
    reported but never fails readiness (anchoring queues and catches up)."""
    report = await _cached(state)
    return JSONResponse(report.model_dump(), status_code=200 if not report.failing else 503)


_lock = threading.Lock()
_last: dict[int, tuple[float, Ready]] = {}


async def _cached(state: HubState) -> Ready:
    now = time.monotonic()
    with _lock:
        hit = _last.get(id(state))
    if hit is not None and now - hit[0] < READY_TTL:
        return hit[1]
    report = await check(state)
    with _lock:
        _last.clear()  # one app per process in service; tests build many
        _last[id(state)] = (time.monotonic(), report)
    return report


async def check(state: HubState) -> Ready:
    """Check every part at once (in worker threads, each bounded by ``CHECK_TIMEOUT``)."""
    database, objects, ledger = await asyncio.gather(
        _bounded(_database, state), _bounded(_objects, state), _bounded(_ledger, state)
    )
    queue = (
        ledger
        if isinstance(ledger, Ledger)
        else Ledger(**_failed(ledger), queue_depth=0, queue_limit=0)
    )
    anchor, replica = await asyncio.gather(_bounded(_anchor, state), _bounded(_replica, state))
    lag = (
        anchor
        if isinstance(anchor, Anchor)
        else Anchor(**_failed(anchor), checkpoints_waiting=0, oldest_seconds=0.0)
    )
    parts: dict[str, Part] = {
        "database": database if isinstance(database, Part) else Part(**_failed(database)),
        "objects": objects if isinstance(objects, Part) else Part(**_failed(objects)),
        "ledger": queue,
    }
    if not isinstance(replica, Replica):
        configured = state.reads.replica is not None
        replica = Replica(
            **_failed(replica),
            configured=configured,
            reads="primary",
            lag_seconds=None,
            lag_bytes=None,
        )
    failing = [name for name, part in parts.items() if not part.ok]
    degraded = [name for name, part in parts.items() if part.ok and part.detail]
    if replica.configured and not replica.ok:
        degraded.append("replica")
    return Ready(
        status="not-ready" if failing else "degraded" if degraded else "ready",
        failing=failing,
        degraded=degraded,
        database=parts["database"],
        objects=parts["objects"],
        ledger=queue,
        anchor=lag,
        replica=replica,
    )


def _failed(error: BaseException | str) -> dict[str, Any]:
    detail = error if isinstance(error, str) else f"{type(error).__name__}"
    return {"ok": False, "detail": detail}


async def _bounded(fn: Any, state: HubState) -> Any:
    """``fn(state)`` in a worker thread; the exception it raised (or a timeout note)."""
    try:
        return await asyncio.wait_for(asyncio.to_thread(fn, state), CHECK_TIMEOUT)
    except TimeoutError:
        return f"no answer within {CHECK_TIMEOUT:g} s"
    except Exception as exc:  # any failure of a part is that part failing
        return exc


def _database(state: HubState) -> Part:
    from sqlalchemy import text

    with state.library.engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    return Part(ok=True)


def _objects(state: HubState) -> Part:
    store = state.ingest.objects
    store.exists(PROBE_KEY)  # a round trip to the store; the answer is moot
    # an erasure-coded store also says how its drives are (None: it cannot tell)
    report = store.drive_health() if isinstance(store, MinioObjectStore) else None
    if report is None or not report.degraded:
        return Part(ok=True)
    drives = f"{report.offline} of {report.drives} drives offline"
    if report.healing:
        drives += f", {report.healing} healing"
    if not report.writable:
        # reads go on, writes are refused: every instance shares the store, so taking this one
        # out of the load balancer would not help (the records it serves are in the database)
        return Part(ok=True, detail=f"degraded: {drives}; no write quorum, writes refused")
    return Part(ok=True, detail=f"degraded: {drives}; reads and writes go on")


def _ledger(state: HubState) -> Ledger:
    from storage import ledger_store as db

    ledger = state.ledger
    with ledger.engine.connect() as conn:
        head, _ = db.log_head(conn)
        depth = head - db.tree_size(conn)
    full = depth >= ledger.queue_limit
    return Ledger(
        ok=not full,
        detail="the ledger queue is full: appends are refused until it is sequenced"
        if full
        else "",
        queue_depth=depth,
        queue_limit=ledger.queue_limit,
    )


def _anchor(state: HubState) -> Anchor:
    from sqlalchemy import func, select

    from storage import ledger_store as db

    q = db.anchor_queue.c
    with state.ledger.engine.connect() as conn:
        row = conn.execute(
            select(func.count(), func.min(q.queued_at)).where(q.reference.is_(None))
        ).one()
    waiting, oldest = int(row[0]), row[1]
    age = 0.0
    if oldest is not None:
        from datetime import UTC, datetime

        stamp = oldest if oldest.tzinfo else oldest.replace(tzinfo=UTC)
        age = max(0.0, (datetime.now(UTC) - stamp).total_seconds())
    return Anchor(ok=True, checkpoints_waiting=waiting, oldest_seconds=round(age, 1))


def _replica(state: HubState) -> Replica:
    seen = state.reads.state()
    return Replica(
        ok=seen.serving or not seen.configured,
        detail="" if seen.serving else seen.detail,
        configured=seen.configured,
        reads="replica" if seen.serving else "primary",
        lag_seconds=seen.lag_seconds,
        lag_bytes=seen.lag_bytes,
    )
