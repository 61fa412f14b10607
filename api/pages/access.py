"""``/access``: the access requests an approver's department must decide (共享申请审批).

For staff with the ``approver`` role bound to a department (``hub access approver``; ``admin``
sees every request but decides none). Each pending request shows what is asked, for which
purpose and on what legal basis, its age and its legal deadline (10 working days, overdue ones
first); the approver approves, narrows to some of the department's fields, or refuses with a
reason. Each decision is audited (``staff:<name>``) and is a ledger entry
(:class:`sharing.access.AccessDesk`); the last approval creates the grant.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from api.pages import web
from api.pages.accounts import Staff
from api.routers.presentations import audit_row

router = APIRouter(route_class=web.PagesRoute, include_in_schema=False)
Approver = Annotated[Staff, Depends(web.require_staff("approver"))]
DECISION_ZH = {"approve": "同意", "narrow": "部分同意", "refuse": "不同意"}
STATUS_ZH = {"pending": "待审批", "granted": "已授权", "refused": "已拒绝"}


def _store(request: Request) -> Any:
    from storage.access_requests import AccessRequestStore

    return AccessRequestStore(web.ingest_hub(request).library.engine)


def _page(
    request: Request, staff: Staff, message: dict[str, Any] | None = None, status: int = 200
) -> HTMLResponse:
    from api.routers.access import desk
    from sharing.access import timing

    state = request.app.state.hub
    store = _store(request)
    department = store.department_of(staff.username) if staff.role == "approver" else None
    today = dt.datetime.now(dt.UTC).date()
    office = desk(state)
    rows = []
    for r in store.list():
        if department is not None and department not in r["departments"]:
            continue
        if staff.role == "approver" and department is None:
            continue
        decided = {d["department"]: d for d in r["decisions"]}
        mine = office.departments(r["scope"], r["fields"]).get(department or "", [])
        rows.append(
            {
                **r,
                **timing(r, today),
                "decided": decided,
                "mine": mine,
                "may_decide": r["status"] == "pending" and bool(mine) and department not in decided,
            }
        )
    rows.sort(key=lambda r: (r["status"] != "pending", not r["overdue"], r["created_at"]))
    return web.render(
        request,
        "access.html",
        {
            "department": department,
            "requests": rows,
            "message": message,
            "decision_zh": DECISION_ZH,
            "status_zh": STATUS_ZH,
        },
        status_code=status,
    )


@router.get("/access", response_class=HTMLResponse)
def access_page(request: Request, staff: Approver) -> HTMLResponse:
    return _page(request, staff)


@router.post("/access/{request_id}", response_class=HTMLResponse)
async def decide(
    request: Request, request_id: str, staff: Approver, _csrf: web.CsrfChecked
) -> HTMLResponse:
    """Approve, narrow (the fields ticked) or refuse (with a reason) one request."""
    from api.routers.access import desk
    from sharing.access import RequestRefused

    form = await request.form()
    decision = str(form.get("decision", ""))
    fields = [str(f) for f in form.getlist("fields")]
    note = str(form.get("note", ""))
    department = await run_in_threadpool(lambda: _store(request).department_of(staff.username))
    if staff.role != "approver" or department is None:
        text = "只有绑定部门的审批员可以审批 / only an approver bound to a department decides"
        return await run_in_threadpool(_page, request, staff, {"ok": False, "text": text}, 403)
    if decision == "approve" and fields:
        decision = "narrow"
    try:
        row = await run_in_threadpool(
            lambda: desk(request.app.state.hub).decide(
                request_id, department, staff.username, decision, fields, note
            )
        )
    except RequestRefused as exc:
        return await run_in_threadpool(_page, request, staff, {"ok": False, "text": str(exc)}, 422)
    await audit_row(
        request,
        f"staff:{staff.username}",
        row["purpose"],
        "/access/{request_id}",
        None,
        tuple(row["fields"]),
        f"access-{decision}",
        200,
    )
    zh = DECISION_ZH.get(decision, decision)
    text = f"已记录：{zh} / recorded: {decision} — {request_id} ({row['status']})"
    return await run_in_threadpool(_page, request, staff, {"ok": True, "text": text})
