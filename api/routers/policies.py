"""Eligibility policies (免申即享): ``GET /v1/policies`` and, for the owning department's approval
system, ``GET /v1/policies/{id}/applications?since=``: the applications the hub generated for
the people a policy found (each a prefilled form with its sources) and those it ended.

Grants: scope ``policies``, ``fields`` = policy ids (or ``*``). Each application returned is
audited under its applicant's ID.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import BaseModel, Field

from api.deps import PRINTABLE, Access, gate
from api.problems import Problem, responses
from api.state import HubState, hub_state
from schemas import policies as catalogue

router = APIRouter(tags=["policies"])
SCOPE = "policies"
MAX_PAGE = 1000


class ApplicationOut(BaseModel):
    application_id: str = Field(examples=["PA20260301A1B2C3D4E5F60718"])
    policy: str = Field(examples=["elderly-allowance"])
    subject: str = Field(description="the applicant's normalised ID")
    period: str = Field(examples=["2026-03"])
    status: str = Field(description="open, or ended (no longer eligible)")
    created_at: str
    updated_at: str = Field(description="when created or ended: the next ?since=")
    end_reason: str | None = None
    form: dict[str, Any] = Field(description="the prefilled form, each value with its source")


class ApplicationsOut(BaseModel):
    policy: str
    applications: list[ApplicationOut]
    next_since: str | None = Field(description="pass as ?since= for the changes after these")
    next_after: str | None = Field(description="pass as ?after= with next_since")


@router.get("/v1/policies", responses=responses(401, 403, 429))
async def list_policies(access: Annotated[Access, gate(SCOPE)]) -> list[dict[str, Any]]:
    """The policies this client is granted, with their rules."""
    access.outcome = "listed"
    return [p.to_json() for p in catalogue.catalogue().values() if access.allows(p.id)]


@router.get(
    "/v1/policies/{policy_id}/applications",
    response_model=ApplicationsOut,
    responses=responses(400, 401, 403, 404, 422, 429, 503),
)
async def policy_applications(
    policy_id: Annotated[
        str, Path(min_length=1, max_length=48, pattern=PRINTABLE, examples=["elderly-allowance"])
    ],
    access: Annotated[Access, gate(SCOPE)],
    state: Annotated[HubState, Depends(hub_state)],
    since: Annotated[
        dt.datetime | None,
        Query(description="only applications created or ended after this time (UTC)"),
    ] = None,
    after: Annotated[
        str | None,
        Query(
            max_length=40,
            pattern=PRINTABLE,
            description="with since: also those changed at that very time whose id sorts "
            "after this one (the previous page's next_after)",
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
) -> Response:
    """The applications generated (or ended) for a policy since a time, oldest first."""
    from sharing.eligibility import ApplicationStore

    try:
        policy = catalogue.get(policy_id)
    except catalogue.PolicyError as exc:
        raise Problem(404, "unknown-policy", str(exc)) from None
    if not access.allows(policy.id):
        raise Problem(
            403,
            "not-granted",
            f"client {access.client.client_id!r} holds no grant of policy {policy.id} for this "
            "purpose (scope policies)",
        )
    rows = ApplicationStore(state.library.engine).since(policy.id, since, limit, after)
    for row in rows:
        access.touch(row["subject"], {f"policy:{policy.id}"}, "application")
    if not rows:
        access.outcome = "none"
    body = {
        "policy": policy.id,
        "applications": rows,
        "next_since": rows[-1]["updated_at"] if rows else None,
        "next_after": rows[-1]["application_id"] if rows else None,
    }
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"), default=str)
    return Response(text.encode(), media_type="application/json")
