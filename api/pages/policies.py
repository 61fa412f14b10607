"""``/policies``: the staff page of eligibility policies (免申即享) and, per policy, the
applications the hub generated for the people it found, each field with its source, and those
it ended (died, moved away).

For signed-in staff with the ``verifier`` (or ``admin``) role. Each application shown names its
applicant: it is audited under the applicant's ID (client ``staff:<name>``), so the citizen sees
who looked. The same applications reach the owning department's approval system at
``GET /v1/policies/{id}/applications`` and the console at ``hub policies applications``.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from api.pages import web
from api.pages.accounts import Staff
from api.routers.presentations import audit_row

router = APIRouter(route_class=web.PagesRoute, include_in_schema=False)
Reviewer = Annotated[Staff, Depends(web.require_staff("verifier"))]
SHOWN = 200  # applications per page


@router.get("/policies", response_class=HTMLResponse)
async def policies_page(request: Request, staff: Reviewer) -> HTMLResponse:
    """Every policy: its rule, form and owning department."""
    from schemas import policies

    found = [p.to_json() for p in policies.catalogue().values()]
    return web.render(request, "policies.html", {"policies": found, "policy": None})


def _applications(engine: Any, policy: str, since: dt.datetime | None) -> list[dict[str, Any]]:
    from sharing.eligibility import ApplicationStore

    return ApplicationStore(engine).since(policy, since, SHOWN)


@router.get("/policies/{policy_id}", response_class=HTMLResponse)
async def policy_page(
    request: Request,
    staff: Reviewer,
    policy_id: Annotated[str, Path(max_length=48)],
    since: Annotated[str, Query(max_length=32)] = "",
) -> HTMLResponse:
    """A policy's applications, newest changes last (``?since=`` a date or time, UTC)."""
    from schemas import policies

    try:
        policy = policies.get(policy_id)
    except policies.PolicyError as exc:
        return web.render(
            request,
            "error.html",
            {
                "title_zh": "无此政策",
                "title_en": "No such policy",
                "message_zh": "未找到该政策",
                "message_en": str(exc),
            },
            status_code=404,
        )
    after: dt.datetime | None = None
    if since.strip():
        try:
            after = dt.datetime.fromisoformat(since.strip().replace("Z", "+00:00"))
        except ValueError:
            after = None
    hub = request.app.state.hub
    rows = await run_in_threadpool(_applications, hub.library.engine, policy.id, after)
    who = f"staff:{staff.username}"
    for row in rows:
        await audit_row(
            request, who, "-", "/policies/{policy_id}", row["subject"],
            [f"policy:{policy.id}"], "application", 200,
        )  # fmt: skip
    return web.render(
        request,
        "policies.html",
        {
            "policies": [],
            "policy": policy.to_json(),
            "applications": rows,
            "since": since,
            "count": len(rows),
        },
    )
