"""The holder's data pages (``/me``): my data with its sources, "this is wrong" (a dispute
sent to the field's authoritative department), and who looked at my data (the audit rows
under my normalised ID). Sign-in and the licence pages are :mod:`api.pages.me`."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from api.pages import web
from api.pages.me import client_of, mask, render, signed_in
from api.routers.presentations import HOLDER_PURPOSE, audit_row, holder_side
from holder.agents import AUDIT, DATA, REP, client_ref

router = APIRouter(route_class=web.PagesRoute, include_in_schema=False)

OUTCOME_ZH = {
    "ok": "已提供",
    "redeemed": "已核验（亮证码）",
    "presentation-made": "生成亮证码",
    "signed-in": "登录",
    "acting-for": "法定代表人代表企业登录",
    "acting-as-agent": "经办人代表企业登录",
    "act-for-refused": "拒绝：非企业法定代表人或经办人",
    "agent-granted": "授权经办人",
    "agent-revoked": "撤销经办人授权",
    "agents-refused": "拒绝：仅法定代表人可授权经办人",
    "scope": "拒绝：超出经办人授权范围",
    "already-used": "拒绝：亮证码已使用",
    "expired": "拒绝：亮证码已过期",
    "wrong-audience": "拒绝：非指定对象",
    "wrong-purpose": "拒绝：用途不符",
    "withdrawn": "撤回亮证码 / 拒绝：亮证码已撤回",
    "denied": "拒绝：无授权",
    "dispute-filed": "提出数据异议（这不对）",
    "dispute": "部门查看数据异议",
    "dispute-upheld": "部门答复：异议成立",
    "dispute-rejected": "部门答复：原值无误",
}


# ---- who looked at my data; my data ---------------------------------------------------------
@router.get("/me/audit", response_class=HTMLResponse)
async def who_looked(request: Request, _session: web.SessionDep) -> HTMLResponse:
    """Every access to my records, claims, licences and presentations: the audit under my
    normalised ID, newest first."""
    holder = await signed_in(request, AUDIT)
    state = request.app.state.hub
    rows = await run_in_threadpool(state.audit.query, holder, 500)
    purposes = state.purposes
    agents = await run_in_threadpool(_agents_named, request, [r["client_id"] for r in rows])
    entries = [
        {
            "at": r["at"],
            "client": r["client_id"],
            "agent": agents.get(r["client_id"]),
            "rep": r["client_id"] == REP,
            "purpose": purposes.label(r["purpose"]) if r["purpose"] in purposes else r["purpose"],
            "route": r["route"],
            "fields": r["fields"],
            "outcome": r["outcome"],
            "outcome_zh": OUTCOME_ZH.get(r["outcome"], r["outcome"]),
            "allowed": int(r["status"]) < 400,
            "status": r["status"],
        }
        for r in rows
    ]
    return render(request, "me_audit.html", {"entries": entries})


def _agents_named(request: Request, clients: list[str]) -> dict[str, str]:
    """The agent each ``agent:<ref>`` client acted as (masked ID number), for the company's
    "who looked": what its agents did, each named."""
    side = holder_side(request)
    named = {}
    for client in set(clients):
        ref = client_ref(client)
        found = side.agents.get(ref) if ref else None
        if found is not None:
            named[client] = mask(found.agent)
    return named


@router.get("/me/data", response_class=HTMLResponse)
async def my_data(request: Request, _session: web.SessionDep) -> HTMLResponse:
    """My golden record, each field with its source and time, and the disputes of it (mine,
    "this is wrong", and any an approval system filed)."""
    holder = await signed_in(request, DATA)
    return await _data_page(request, holder)


def holder_library(holder: str) -> str:
    """The library a holder's golden record is in: a company's (USCC) or a person's."""
    from schemas import uscc
    from storage.library import LEGAL_ENTITY, POPULATION

    return LEGAL_ENTITY if uscc.validate(holder).valid else POPULATION


async def _data_page(
    request: Request, holder: str, error: str | None = None, status: int = 200
) -> HTMLResponse:
    from api.records import record
    from api.routers.disputes import desk

    state = request.app.state.hub
    library = holder_library(holder)
    fields = await run_in_threadpool(record, state, library, holder, None)
    await audit_row(
        request,
        client_of(request),
        HOLDER_PURPOSE,
        "/me/data",
        holder,
        sorted(fields or {}),
        "ok",
        200,
    )
    rows = [
        {"name": k, **v, "updated": _when(v.get("updated_at"))}
        for k, v in sorted((fields or {}).items())
    ]
    mine = await run_in_threadpool(desk(state).of_subject, holder)
    context = {"rows": rows, "disputes": mine, "error": error, "library": library}
    return render(request, "me_data.html", context, status)


@router.post("/me/data/disputes", response_class=HTMLResponse)
async def dispute_field(
    request: Request,
    _csrf: web.CsrfChecked,
    field_name: Annotated[str, Form(alias="field")] = "",
    claimed_value: Annotated[str, Form()] = "",
    evidence: Annotated[str, Form()] = "",
) -> Response:
    """ "This is wrong": a dispute of a field shown on my data page, sent to the field's
    authoritative department (:class:`sharing.disputes.DisputeDesk`, the one rule)."""
    from api.records import record
    from api.routers.disputes import desk, forget
    from holder.corrections import FILER
    from sharing.disputes import DisputeRefused

    holder = await signed_in(request, DATA)
    state = request.app.state.hub
    name = field_name[:64]
    shown = await run_in_threadpool(record, state, holder_library(holder), holder, None)
    if name not in (shown or {}):
        return await _data_page(request, holder, f"your record has no field {name!r}", 400)
    try:
        await run_in_threadpool(
            desk(state).file, FILER, holder, name, claimed_value[:400], evidence[:4000]
        )
    except DisputeRefused as exc:
        return await _data_page(request, holder, str(exc), 400)
    forget(state)
    await audit_row(
        request,
        client_of(request),
        HOLDER_PURPOSE,
        "/me/data/disputes",
        holder,
        [name],
        "dispute-filed",
        201,
    )
    return web.redirect(request, "/me/data")


def _when(stamp: Any) -> str:
    try:
        return web.cst(dt.datetime.fromisoformat(str(stamp).replace("Z", "+00:00")))
    except ValueError:
        return str(stamp)
