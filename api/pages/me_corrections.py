"""``/corrections``: holders' correction requests ("this is wrong", from ``/me/data``), for the
publisher staff of the departments whose data they dispute.

A publisher sees the requests about its department's datasets only (``hub staff department``);
admin sees every department's. Showing a request shows the holder's
ID number to the publisher who must correct it: each request shown and each answer is audited
under the holder's ID (client ``staff:<name>``), so the holder sees who handled it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from api.pages import web
from api.pages.department import Desk, PublisherDesk
from api.pages.me import corrections
from api.routers.presentations import audit_row

router = APIRouter(route_class=web.PagesRoute, include_in_schema=False)


async def _page(
    request: Request, desk: Desk, error: str | None = None, status: int = 200
) -> HTMLResponse:
    found = await run_in_threadpool(corrections(request).for_datasets, desk.datasets)
    who = f"staff:{desk.staff.username}"
    for q in found:
        if q["status"] == "open":
            await audit_row(request, who, "-", "/corrections", q["holder"], [q["field"]], "ok", 200)
    return web.render(
        request, "me_corrections.html", {"requests": found, "error": error}, status_code=status
    )


@router.get("/corrections", response_class=HTMLResponse)
async def corrections_page(request: Request, desk: PublisherDesk) -> HTMLResponse:
    return await _page(request, desk)


@router.post("/corrections/{request_id}/answer", response_class=HTMLResponse)
async def answer(
    request: Request,
    request_id: int,
    desk: PublisherDesk,
    _csrf: web.CsrfChecked,
    text: Annotated[str, Form(alias="answer")] = "",
) -> Response:
    """The department's answer closes the request; the holder sees it on ``/me/data``."""
    from holder.corrections import CorrectionError

    try:
        holder = await run_in_threadpool(
            corrections(request).answer, request_id, desk.staff.username, text[:2000], desk.datasets
        )
    except CorrectionError as exc:
        return await _page(request, desk, str(exc), 400)
    await audit_row(
        request, f"staff:{desk.staff.username}", "-", "/corrections", holder, (), "answered", 200
    )
    return web.redirect(request, "/corrections")
