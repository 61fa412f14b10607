"""``/governance``: the issuer page of 治理 findings, the licences whose facts changed in the
libraries since they were issued (holder died, entity deregistered, name or legal representative
changed, holder unknown), per issuing authority, with the evidence and whether the licence was
only flagged or suspended by its type's policy.

For staff with the ``issuer`` (or ``admin``) role. A finding names the holder: each finding
shown is audited under the holder's ID (client ``staff:<name>``), so the holder sees who looked.
The same findings reach an issuing system at ``GET /v1/governance/findings`` and the command
line at ``hub licence governance``.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from api.pages import web
from api.pages.accounts import Staff
from api.routers.presentations import audit_row

router = APIRouter(route_class=web.PagesRoute, include_in_schema=False)
Issuer = Annotated[Staff, Depends(web.require_staff("issuer"))]


def _findings(svc: Any, authority: str | None) -> list[dict[str, Any]]:
    from licence import authorities
    from licence.governance import KINDS

    names = {a.uscc: a.name for a in authorities.registry().values()}
    out = []
    for row in svc.store.open_findings(authority or None):
        evidence = json.loads(row["evidence"])
        out.append(
            {
                **row,
                "authority_name": names.get(row["authority"], row["authority"]),
                "title": KINDS.get(row["kind"], row["kind"]),
                "evidence": evidence,
            }
        )
    return out


@router.get("/governance", response_class=HTMLResponse)
async def governance_page(
    request: Request,
    staff: Issuer,
    authority: Annotated[str, Query(max_length=18)] = "",
) -> HTMLResponse:
    """Open findings, all authorities or one (``?authority=USCC``)."""
    svc = web.licence_service(request)
    found = await run_in_threadpool(_findings, svc, authority.strip().upper() or None)
    who = f"staff:{staff.username}"
    for f in found:
        await audit_row(
            request, who, "-", "/governance", f["holder_id"], [f["type_code"]], "finding", 200
        )
    by_authority: dict[str, list[dict[str, Any]]] = {}
    for f in found:
        by_authority.setdefault(f"{f['authority_name']}（{f['authority']}）", []).append(f)
    return web.render(
        request,
        "governance.html",
        {"groups": by_authority, "authority": authority, "count": len(found)},
    )
