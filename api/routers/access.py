"""``POST /v1/access-requests``: a registered client asks for fields of a library for a purpose,
with its legal basis, until a date; the departments owning the conditional fields decide
(``/access`` page, ``hub access``); the last approval creates the grant. ``GET
/v1/access-requests`` and ``/v1/access-requests/{id}``: the client's own requests, with their
decisions, deadline and grant. Requests of unconditional fields only are granted at once.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, Field

from api.problems import Problem, responses
from api.records import UtcDatetime
from api.routers.catalog import RegisteredClient, audited
from api.state import HubState, hub_state

router = APIRouter(tags=["access requests"])


class AccessRequestIn(BaseModel):
    scope: Literal["population", "legal-entity"] = Field(examples=["population"])
    fields: list[Annotated[str, Field(max_length=64)]] = Field(
        min_length=1, max_length=64, examples=[["name", "death_date"]]
    )
    purpose: str = Field(max_length=64, examples=["social-assistance-review"])
    legal_basis: str = Field(
        default="",
        max_length=500,
        description="the law or regulation the request relies on (required by conditional "
        "fields that say so in the catalogue)",
        examples=["《社会救助暂行办法》第十一条"],
    )
    until: dt.date = Field(description="the grant ends at 00:00 UTC of this day")


class DecisionOut(BaseModel):
    department: str
    decision: str = Field(description="approve, narrow or refuse")
    fields: list[str] = Field(description="the fields this department let through")
    note: str
    decided_at: UtcDatetime


class AccessRequestOut(BaseModel):
    request_id: str = Field(examples=["AR20261207-1a2b3c4d"])
    status: str = Field(description="pending, granted or refused")
    scope: str
    fields: list[str]
    purpose: str
    legal_basis: str
    until: UtcDatetime
    departments: list[str] = Field(description="the departments that must decide")
    decisions: list[DecisionOut]
    deadline: dt.date = Field(description="answer due by (10 working days after filing)")
    granted_fields: list[str] | None = None
    grant_id: int | None = None
    created_at: UtcDatetime
    closed_at: UtcDatetime | None = None


def desk(state: HubState) -> Any:
    """The access desk of this hub (requests in the hub database, decisions in its ledger)."""
    from schemas.sharing import field_owners
    from sharing.access import AccessDesk
    from storage.access_requests import AccessRequestStore

    contracts = tuple(state.ingest.contracts.values())
    return AccessDesk(
        AccessRequestStore(state.library.engine),
        state.clients,
        state.clients.sharing,
        lambda library: field_owners(library, contracts),
        state.ledger.append,
        state.purposes,
    )


def request_out(row: dict[str, Any]) -> AccessRequestOut:
    from sharing.access import timing

    today = dt.datetime.now(dt.UTC).date()
    decisions = [
        DecisionOut.model_validate({k: d[k] for k in DecisionOut.model_fields})
        for d in row["decisions"]
    ]
    values = {k: row.get(k) for k in AccessRequestOut.model_fields if k in row}
    values.update(decisions=decisions, deadline=timing(row, today)["deadline"])
    return AccessRequestOut.model_validate(values)


@router.post(
    "/v1/access-requests",
    status_code=201,
    response_model=AccessRequestOut,
    responses=responses(400, 401, 422, 429),
)
async def file_request(
    body: AccessRequestIn,
    request: Request,
    client: RegisteredClient,
    state: Annotated[HubState, Depends(hub_state)],
) -> AccessRequestOut:
    """File an access request; 422 naming what the catalogue does not allow."""
    from starlette.concurrency import run_in_threadpool

    from sharing.access import RequestRefused

    until = dt.datetime.combine(body.until, dt.time(), dt.UTC)
    try:
        row = await run_in_threadpool(  # database writes (and the ledger): off the loop
            lambda: desk(state).file(
                client.client_id, body.scope, body.fields, body.purpose, body.legal_basis, until
            )
        )
    except RequestRefused as exc:
        await audited(request, client, "access-request-refused", 422)
        raise Problem(422, "access-request-refused", str(exc)) from None
    await audited(
        request, client, f"access-request-{row['status']}", 201, fields=tuple(row["fields"])
    )
    return request_out(row)


@router.get(
    "/v1/access-requests", response_model=list[AccessRequestOut], responses=responses(401, 429)
)
def list_requests(
    client: RegisteredClient, state: Annotated[HubState, Depends(hub_state)]
) -> list[AccessRequestOut]:
    """This client's access requests, oldest first."""
    from storage.access_requests import AccessRequestStore

    rows = AccessRequestStore(state.library.engine).list(client_id=client.client_id)
    return [request_out(r) for r in rows]


@router.get(
    "/v1/access-requests/{id}",
    response_model=AccessRequestOut,
    responses=responses(401, 404, 422, 429),
)
def get_request(
    id: Annotated[str, Path(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9-]+$")],
    client: RegisteredClient,
    state: Annotated[HubState, Depends(hub_state)],
) -> AccessRequestOut:
    """One of this client's access requests (another client's is not found)."""
    from storage.access_requests import AccessRequestStore

    row = AccessRequestStore(state.library.engine).get(id)
    if row is None or row["client_id"] != client.client_id:
        raise Problem(
            404, "unknown-access-request", "no access request of this client with this id"
        )
    return request_out(row)
