"""Acting for a company on ``/me``: its legal representative, or an agent (经办人) it authorised.

A person signed in as themselves enters a company's USCC (``/me/act-for``): if the
legal-entity library names them its legal representative, the session becomes the company's
(``via`` ``rep:<ID>``); else, if they hold a live authorisation of the company
(:mod:`holder.agents`), an agent's session for it (``via`` ``agent:<ID>``), limited to the
authorisation's scope. Either ends with the person's own session and is checked again on
every request. The representative, acting for the company, authorises agents on
``/me/agents`` (an agent cannot: only a representative's session reaches the page); each
grant and revocation is a ledger entry and an audit row under the company and under the agent.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from api.pages import web
from api.pages.me import (
    current,
    holder_cookie,
    home_context,
    last_day,
    mask,
    render,
    signed_in,
)
from api.routers.presentations import (
    HOLDER_COOKIE,
    HOLDER_PAGES,
    HOLDER_PURPOSE,
    audit_row,
    holder_side,
)
from holder.agents import REP, REPLACED, REVOKED, SCOPE_LABELS, SCOPES, Actor, AgentRefused
from holder.signin import ACTING, PAGES, acting_person, acting_via, agent_via

router = APIRouter(route_class=web.PagesRoute, include_in_schema=False)

NOT_REP = (
    "企业登记信息中您不是该企业的法定代表人，也未获该企业授权为经办人 / the legal-entity library "
    "does not name you the legal representative of this company, and it has not authorised you "
    "as its agent"
)


# ---- acting for a company -------------------------------------------------------------------
@router.post("/me/act-for", response_class=HTMLResponse)
async def act_for(
    request: Request, _csrf: web.CsrfChecked, uscc_text: Annotated[str, Form(alias="uscc")] = ""
) -> Response:
    """The signed-in person acts for a company: as its legal representative if the
    legal-entity library names them, else as an agent it authorised; a session for the
    company, ending with the person's own."""
    from schemas.library import subject_key
    from storage.library import LEGAL_ENTITY

    await signed_in(request)
    actor = _actor(request)
    person = acting_person(actor.via) or actor.holder  # from one company to another: the person
    company = subject_key(LEGAL_ENTITY, uscc_text.strip()[:40])
    side = holder_side(request)
    represents = side.sessions.authorised
    route = "/me/act-for"
    if represents is not None and await run_in_threadpool(represents, company, person):
        for client, subject in ((HOLDER_PAGES, person), (REP, company)):
            await audit_row(request, client, HOLDER_PURPOSE, route, subject, (), "acting-for", 200)
        return await switch(request, company, acting_via(person), actor.until)
    grant = await run_in_threadpool(side.agents.live, company, person, represents)
    if grant is not None:
        await audit_row(
            request, HOLDER_PAGES, HOLDER_PURPOSE, route, person, (), "acting-as-agent", 200
        )
        await audit_row(
            request, grant.client, HOLDER_PURPOSE, route, company, (), "acting-as-agent", 200
        )
        until = min(actor.until, grant.valid_until)
        return await switch(request, company, agent_via(person), until)
    await audit_row(
        request, HOLDER_PAGES, HOLDER_PURPOSE, route, person, (), "act-for-refused", 403
    )
    # the page as it was: the person's, or the company's
    return render(request, "me.html", await home_context(request, NOT_REP), 403)


@router.post("/me/act-for/end", response_class=HTMLResponse)
async def act_for_end(request: Request, _csrf: web.CsrfChecked) -> Response:
    """Back to the person's own side (the session still ends when theirs would have)."""
    await signed_in(request)
    actor = _actor(request)
    person = acting_person(actor.via)
    if person is None:
        return web.redirect(request, "/me")
    return await switch(request, person, PAGES, actor.until)


async def switch(request: Request, holder: str, via: str, until: dt.datetime) -> Response:
    """End this browser's session and start one for ``holder`` (ending at ``until``)."""
    side = holder_side(request)
    await run_in_threadpool(side.sessions.end, request.cookies.get(HOLDER_COOKIE))
    token = await run_in_threadpool(side.sessions.start, holder, via, until)
    response = web.redirect(request, "/me")
    holder_cookie(request, response, token)
    return response


def _actor(request: Request) -> Actor:
    actor = current(request)
    assert actor is not None  # signed_in() set it
    return actor


# ---- the legal representative authorises agents ---------------------------------------------
async def _representative(request: Request, route: str) -> tuple[str, str]:
    """(company, representative) of a session the legal representative holds for a company
    (checked against the library on this request, by the session); a 403 page, audited,
    for anyone else: a person on their own side, or an agent."""
    company = await signed_in(request)
    actor = _actor(request)
    if not actor.via.startswith(ACTING):
        await audit_row(
            request, actor.client, HOLDER_PURPOSE, route, company, (), "agents-refused", 403
        )
        raise web.PageExit(
            render(
                request,
                "error.html",
                {
                    "title_zh": "仅限法定代表人",
                    "title_en": "For the legal representative only",
                    "message_zh": "只有企业的法定代表人（以企业身份办理时）可以授权经办人。",
                    "message_en": "Only the company's legal representative, acting for it, "
                    "authorises agents.",
                },
                403,
            )
        )
    return company, actor.via[len(ACTING) :]


def _entries(found: list[Any], now: dt.datetime, rep: str) -> list[dict[str, Any]]:
    out = []
    for a in found:
        if a.ended_how in (REVOKED, REPLACED):
            status = a.ended_how
        elif not a.live_at(now):
            status = "expired"
        else:  # a grant of a former representative is no longer honoured
            status = "live" if a.granted_by == rep else "former-rep"
        out.append(
            {
                "ref": a.ref,
                "agent": mask(a.agent),
                "scope": a.scope,
                "scope_label": SCOPE_LABELS.get(a.scope, (a.scope, a.scope)),
                "until": last_day(a.valid_until),
                "created_at": a.created_at,
                "status": status,
            }
        )
    return out


async def _agents_page(
    request: Request, company: str, rep: str, error: str | None = None, status: int = 200
) -> HTMLResponse:
    side = holder_side(request)
    found = await run_in_threadpool(side.agents.of_company, company)
    today = side.agents.now().replace(tzinfo=dt.UTC).astimezone(web.CST).date()
    context = {
        "agents": _entries(found, side.agents.now(), rep),
        "scopes": [(k, SCOPE_LABELS[k]) for k in SCOPES],
        "company": company,
        "today": today.isoformat(),
        "default_until": (today + dt.timedelta(days=90)).isoformat(),
        "error": error,
    }
    return render(request, "me_agents.html", context, status)


@router.get("/me/agents", response_class=HTMLResponse)
async def agents_page(request: Request, _session: web.SessionDep) -> HTMLResponse:
    """The company's agents: who may act for it, for what, until when; grant and revoke."""
    company, rep = await _representative(request, "/me/agents")
    return await _agents_page(request, company, rep)


@router.post("/me/agents", response_class=HTMLResponse)
async def grant_agent(
    request: Request,
    _csrf: web.CsrfChecked,
    agent_id: Annotated[str, Form()] = "",
    until: Annotated[str, Form()] = "",
    scope: Annotated[str, Form()] = "all",
) -> Response:
    """Authorise a person (their resident ID number) to act for the company until a date."""
    route = "/me/agents"
    company, rep = await _representative(request, route)
    side = holder_side(request)
    try:
        made = await run_in_threadpool(
            side.agents.grant, company, rep, agent_id[:40], until[:20], scope[:16]
        )
    except AgentRefused as exc:
        await audit_row(request, REP, HOLDER_PURPOSE, route, company, (), exc.kind, exc.status)
        return await _agents_page(request, company, rep, exc.message, exc.status)
    await _audit_both(request, route, company, made.agent, made.scope, "agent-granted", 201)
    return web.redirect(request, "/me/agents")


async def _audit_both(
    request: Request, route: str, company: str, agent: str, scope: str, outcome: str, status: int
) -> None:
    """An authorisation's grant or end, audited under the company and under the agent (each
    sees it in their own "who looked"), as done by the company's legal representative."""
    for subject in (company, agent):
        await audit_row(request, REP, HOLDER_PURPOSE, route, subject, [scope], outcome, status)


@router.post("/me/agents/{ref}/revoke", response_class=HTMLResponse)
async def revoke_agent(request: Request, ref: str, _csrf: web.CsrfChecked) -> Response:
    """End an authorisation now: the agent's session for the company ends with it."""
    route = "/me/agents/{ref}/revoke"
    company, rep = await _representative(request, route)
    side = holder_side(request)
    ended = await run_in_threadpool(side.agents.revoke, company, rep, ref)
    if ended is None:
        return await _agents_page(
            request, company, rep, "没有这项有效授权 / no such live authorisation", 404
        )
    await _audit_both(request, route, company, ended.agent, ended.scope, "agent-revoked", 200)
    return web.redirect(request, "/me/agents")
