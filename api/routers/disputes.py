"""``POST /v1/disputes``: an approval system disputes a field of a golden record it may read;
the dispute goes to the field's authoritative department, which reads its open disputes at
``GET /v1/disputes`` and answers one at ``POST /v1/disputes/{id}/answer`` (its publishing
client: a ``datasets`` grant naming one of its datasets). A dispute also closes when that
department's next delivery changes the field. Meanwhile the golden record marks the field
``"disputed": true`` for every granted reader (:func:`disputed_fields`).
"""

from __future__ import annotations

import threading
import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from api.deps import PRINTABLE, Access, gate
from api.problems import Problem, responses
from api.records import UtcDatetime
from api.routers.catalog import RegisteredClient, audited
from api.state import HubState, hub_state

router = APIRouter(tags=["disputes"])
REFRESH = 2.0  # seconds an answer may show a settled dispute (as the client cache)
INDEX = "disputes_index"  # attribute of the HubState: (loaded at, open disputes by subject)
_lock = threading.Lock()


class DisputeIn(BaseModel):
    subject: str = Field(min_length=1, max_length=32, pattern=PRINTABLE)
    field: str = Field(min_length=1, max_length=64, examples=["marital_status"])
    claimed_value: str = Field(min_length=1, max_length=200, examples=["20"])
    evidence: str = Field(
        min_length=1, max_length=2000, examples=["结婚证 J340402-2025-001234 (2025-05-20)"]
    )


class DisputeOut(BaseModel):
    dispute_id: str
    library: str
    subject: str
    field: str
    claimed_value: str
    evidence: str
    department: str
    status: str = Field(description="open, or closed (by a delivery or an answer)")
    closed_by: str | None = Field(
        default=None, description="delivery, upheld, rejected, or answer (without a verdict)"
    )
    answer: str | None = None
    filed_at: UtcDatetime
    closed_at: UtcDatetime | None = None


class AnswerIn(BaseModel):
    answer: str = Field(min_length=1, max_length=2000)
    verdict: Literal["upheld", "rejected"] | None = Field(
        default=None, description="upheld: the claim is right; rejected: the value stands"
    )


def desk(state: HubState) -> Any:
    """The hub's :class:`sharing.disputes.DisputeDesk` (the one rule of filing, settling and
    answering disputes, for the API and the pages alike), built once."""
    found = getattr(state, "dispute_desk", None)
    if found is None:
        from api.records import record
        from sharing.disputes import DisputeDesk

        found = DisputeDesk(
            state.library.engine,
            state.ingest.contracts.values(),
            lambda library, subject: record(state, library, subject, None, marks=False),
        )
        state.dispute_desk = found
    return found


Index = dict[tuple[str, str], list[tuple[str, dict[str, Any], set[str]]]]


def _load(state: HubState) -> Index:
    from sharing.disputes import datasets_of
    from storage.findings import open_disputes

    contracts = list(state.ingest.contracts.values())
    out: Index = {}
    for d in open_disputes(state.library.engine):
        entry = (str(d["field"]), d, datasets_of(d["department"], contracts))
        out.setdefault((d["library"], d["subject"]), []).append(entry)
    return out


def disputed_fields(
    state: HubState, library: str, subject: str, values: dict[str, dict[str, Any]]
) -> set[str]:
    """The fields of a subject's current golden record (``values``) with an open dispute that
    no later delivery of its department has answered. Read only (a read never waits on a
    writer's lock): the open disputes are looked up at most every 2 s."""
    from sharing.disputes import settled_by_delivery

    now = time.monotonic()
    hit: tuple[float, Index] | None = getattr(state, INDEX, None)
    if hit is None or now - hit[0] > REFRESH:
        with _lock:
            hit = (now, _load(state))
            setattr(state, INDEX, hit)
    return {
        name
        for name, dispute, datasets in hit[1].get((library, subject), ())
        if not settled_by_delivery(dispute, values.get(name), datasets)
    }


def forget(state: HubState) -> None:
    """Have the next read look the open disputes up afresh (after a change in this process)."""
    setattr(state, INDEX, None)


@router.post(
    "/v1/disputes",
    status_code=201,
    response_model=DisputeOut,
    responses=responses(400, 401, 403, 422),
)
async def file_dispute(
    body: DisputeIn,
    request: Request,
    client: RegisteredClient,
    state: Annotated[HubState, Depends(hub_state)],
) -> DisputeOut:
    """Dispute a field of a golden record this client holds a live grant to read."""
    from schemas.library import subject_key
    from sharing.disputes import DisputeRefused, library_of

    try:
        library = library_of(body.field)
    except DisputeRefused as exc:
        raise Problem(422, "dispute-refused", str(exc)) from None
    subject = subject_key(library, body.subject)
    readable = any(
        (permit := client.permit(library, purpose)) is not None and permit.allows(body.field)
        for purpose in client.purposes()
    )
    if not readable:
        await audited(request, client, "dispute-not-granted", 403, subject=subject)
        raise Problem(
            403, "not-granted", f"this client may not read {body.field!r} of the {library} library"
        )
    try:
        filed = await run_in_threadpool(  # database writes: off the event loop
            desk(state).file,
            client.client_id,
            subject,
            body.field,
            body.claimed_value,
            body.evidence,
        )
    except DisputeRefused as exc:
        raise Problem(422, "dispute-refused", str(exc)) from None
    forget(state)
    await audited(request, client, "dispute-filed", 201, subject=subject, fields=(body.field,))
    return DisputeOut.model_validate(filed)


def _departments(state: HubState, access: Access) -> list[str]:
    return sorted({c.department for ds, c in state.ingest.contracts.items() if access.allows(ds)})


@router.get("/v1/disputes", response_model=list[DisputeOut], responses=responses(401, 403, 429))
def list_disputes(
    access: Annotated[Access, gate("datasets")],
    state: Annotated[HubState, Depends(hub_state)],
) -> list[DisputeOut]:
    """The open disputes sent to the departments this client publishes for."""
    rows = desk(state).for_departments(_departments(state, access))
    forget(state)
    for r in rows:
        access.touch(r["subject"], {r["field"]}, "dispute")
    return [DisputeOut.model_validate(r) for r in rows]


@router.post(
    "/v1/disputes/{id}/answer",
    response_model=DisputeOut,
    responses=responses(401, 403, 404, 422, 429),
)
def answer_dispute(
    id: Annotated[str, Path(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9-]+$")],
    body: AnswerIn,
    access: Annotated[Access, gate("datasets")],
    state: Annotated[HubState, Depends(hub_state)],
) -> DisputeOut:
    """Close a dispute of this department with an answer: ``verdict`` upheld (the claim is
    right; the correction comes with the next delivery) or rejected (the value stands)."""
    from sharing.disputes import DisputeRefused

    mine = _departments(state, access)
    row = desk(state).store.get(id)
    if row is None or row["department"] not in mine:
        raise Problem(404, "unknown-dispute", "no dispute of this department with this id")
    try:
        closed = desk(state).answer(id, mine, body.verdict or "answer", body.answer)
    except DisputeRefused as exc:
        raise Problem(422, "dispute-closed", str(exc)) from None
    forget(state)
    access.touch(row["subject"], {row["field"]}, "dispute-answered")
    return DisputeOut.model_validate(closed)
