"""``/publisher``: a department's errors back at the source (源头治理), for its publisher staff.

The department's quarantined runs (rows rejected by the checks, with reason totals, and the
rejected rows themselves: their reasons, key and values as delivered, the very thing ``hub
quarantine export`` and ``GET /v1/runs/{id}/rejections`` give it), and the cross-source
findings for which the department is the authoritative source, open or closed. A publisher sees
its own department's only (``hub staff department``; admin sees all). Each subject shown is
audited under its normalised ID (client ``staff:<name>``), as the API does for the client.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from api.audit import AuditWriteFailed
from api.pages import web
from api.pages.department import Desk, PublisherDesk

router = APIRouter(route_class=web.PagesRoute, include_in_schema=False)
SHOWN_ROWS = 200  # rejected rows on one page (all of them: hub quarantine export)
STATUS_ZH = {"open": "未解决", "closed": "已解决（后续交付已更正）"}


async def audit_subjects(
    request: Request, desk: Desk, route: str, seen: list[tuple[str, set[str]]], outcome: str
) -> None:
    """One audit row per subject shown (normalised ID, fields), committed before the page."""
    if not seen:
        return
    log = request.app.state.hub.audit
    who = f"staff:{desk.staff.username}"
    method = request.method
    rows = [log.row(who, "-", method, route, s, sorted(f), outcome, 200) for s, f in seen]
    try:
        await log.committed(log.submit(rows))
    except AuditWriteFailed:
        raise web.PageExit(
            web.render(
                request,
                "error.html",
                {
                    "title_zh": "暂不可用",
                    "title_en": "Unavailable",
                    "message_zh": "访问记录无法写入，请稍后重试。",
                    "message_en": "The access audit could not be written: retry later.",
                },
                status_code=503,
            )
        ) from None


def _overview(request: Request, desk: Desk, status: str) -> dict[str, Any]:
    from storage.findings import FindingStore

    state = request.app.state.hub
    runs = [
        q
        for q in state.library.list_quarantine()
        if desk.datasets is None or q["dataset"] in desk.datasets
    ]
    runs.sort(key=lambda q: q["created_at"], reverse=True)
    departments = None if desk.department is None else [desk.department]
    findings = FindingStore(state.library.engine).list(
        departments, None if status == "all" else status
    )
    findings.sort(key=lambda f: (f["status"] != "open", -f["finding_id"]))
    return {"runs": runs, "findings": findings}


@router.get("/publisher", response_class=HTMLResponse)
async def publisher_page(
    request: Request,
    desk: PublisherDesk,
    status: Annotated[str, Query(pattern="^(open|closed|all)$")] = "all",
) -> HTMLResponse:
    """The department's quarantined runs and its cross-source findings (``?status=``)."""
    found = await run_in_threadpool(_overview, request, desk, status)
    await audit_subjects(
        request,
        desk,
        "/publisher",
        [(f["subject"], {f["field"]}) for f in found["findings"]],
        "finding-shown",
    )
    return web.render(
        request,
        "publisher.html",
        {**found, "desk": desk, "status": status, "status_zh": STATUS_ZH},
    )


@router.get("/publisher/runs/{run_id}", response_class=HTMLResponse)
async def run_rejections(request: Request, run_id: str, desk: PublisherDesk) -> HTMLResponse:
    """One quarantined run's rejected rows with their reasons (another department's run, or an
    unknown one, is not found)."""
    from api.routers.findings import rejected_rows
    from storage.library import LibraryError

    state = request.app.state.hub
    try:
        run = await run_in_threadpool(state.library.get_run, run_id[:80])
    except LibraryError:
        run = None
    if run is None or (desk.datasets is not None and run["dataset"] not in desk.datasets):
        raise web.PageExit(
            web.render(
                request,
                "error.html",
                {
                    "title_zh": "未找到",
                    "title_en": "Not found",
                    "message_zh": "本部门没有这个批次。",
                    "message_en": "Your department has no run with this id.",
                },
                status_code=404,
            )
        )
    entry, rows = await run_in_threadpool(rejected_rows, state, run, SHOWN_ROWS)
    await audit_subjects(
        request,
        desk,
        "/publisher/runs/{run_id}",
        [(r["subject"], {run["dataset"]}) for r in rows if r["subject"]],
        "rejected",
    )
    columns = list(rows[0]["values"]) if rows else []
    return web.render(
        request,
        "publisher_run.html",
        {"run": run, "entry": entry, "rows": rows, "columns": columns, "shown": SHOWN_ROWS},
    )
