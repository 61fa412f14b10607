"""``/disputes``: the disputes (数据异议) filed against a department's fields, for its publisher
staff: by approval systems (``POST /v1/disputes``) and by citizens on ``/me/data``.

Each shows the field, the subject, the claimed value, the evidence, who filed it and its age;
the publisher answers it here (upheld: the claim is right and the correction follows; rejected:
the value stands; a reason either way), which closes it, or the department's next delivery of
the field closes it by itself (shown as such). A publisher sees its own department's disputes
only (``hub staff department``; admin sees all). Every subject shown, and each answer, is
audited under its normalised ID (client ``staff:<name>``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from api.pages import web
from api.pages.department import Desk, PublisherDesk
from api.pages.publisher import audit_subjects

router = APIRouter(route_class=web.PagesRoute, include_in_schema=False)
CLOSED_SHOWN = 200  # the most recently closed disputes shown (every open one is)
CLOSED_ZH = {
    "delivery": "已由新交付数据关闭",
    "upheld": "已答复：异议成立",
    "rejected": "已答复：原值无误",
    "answer": "已答复",
}
VERDICT_ZH = {"upheld": "异议成立（将更正）", "rejected": "原值无误（驳回）"}


def _departments(desk: Desk) -> list[str] | None:
    return None if desk.department is None else [desk.department]


async def _page(
    request: Request,
    desk: Desk,
    status: str = "all",
    message: dict[str, Any] | None = None,
    code: int = 200,
) -> HTMLResponse:
    from api.routers.disputes import desk as disputes_desk
    from api.routers.disputes import forget
    from sharing.disputes import age_days

    state = request.app.state.hub
    rows = await run_in_threadpool(
        disputes_desk(state).for_departments,
        _departments(desk),
        None if status == "all" else status,
    )
    forget(state)  # a delivery may have settled some
    opened = sorted((d for d in rows if d["status"] == "open"), key=lambda d: d["filed_at"])
    closed = sorted(
        (d for d in rows if d["status"] != "open"), key=lambda d: d["closed_at"], reverse=True
    )
    rows = opened + closed[:CLOSED_SHOWN]
    await audit_subjects(
        request, desk, "/disputes", [(d["subject"], {d["field"]}) for d in rows], "dispute"
    )
    for d in rows:
        d["age_days"] = age_days(d["filed_at"])
    return web.render(
        request,
        "disputes.html",
        {
            "desk": desk,
            "disputes": rows,
            "status": status,
            "message": message,
            "closed_zh": CLOSED_ZH,
            "verdict_zh": VERDICT_ZH,
        },
        status_code=code,
    )


@router.get("/disputes", response_class=HTMLResponse)
async def disputes_page(
    request: Request,
    desk: PublisherDesk,
    status: Annotated[str, Query(pattern="^(open|closed|all)$")] = "all",
) -> HTMLResponse:
    """The department's disputes, open ones first (oldest first), then the 200 most recently
    closed."""
    return await _page(request, desk, status)


@router.get("/corrections")
def corrections(request: Request) -> Response:
    """Citizens' correction requests are disputes now: the old address leads here."""
    return web.redirect(request, "/disputes")


@router.post("/disputes/{dispute_id}/answer", response_class=HTMLResponse)
async def answer(
    request: Request,
    dispute_id: str,
    desk: PublisherDesk,
    _csrf: web.CsrfChecked,
    verdict: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    """Uphold or reject one open dispute of the department, with a reason; it closes."""
    from api.routers.disputes import desk as disputes_desk
    from api.routers.disputes import forget
    from sharing.disputes import VERDICTS, DisputeRefused

    state = request.app.state.hub
    if verdict not in VERDICTS:
        text = "请选择“异议成立”或“原值无误” / choose upheld or rejected"
        return await _page(request, desk, message={"ok": False, "text": text}, code=422)
    try:
        row = await run_in_threadpool(
            disputes_desk(state).answer,
            dispute_id[:40],
            _departments(desk),
            verdict,
            reason[:4000],
        )
    except DisputeRefused as exc:
        return await _page(request, desk, message={"ok": False, "text": str(exc)}, code=422)
    forget(state)
    await audit_subjects(
        request,
        desk,
        "/disputes/{dispute_id}/answer",
        [(row["subject"], {row["field"]})],
        f"dispute-{verdict}",
    )
    return web.redirect(request, "/disputes")
