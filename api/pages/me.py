"""The holder's own pages (``/me``): sign-in with the cloud-signature credential, my licences
(with their sealed JSON, PDF and a "present" button) and presentations (亮证码). Acting for a
company (its legal representative, or an agent it authorised) is :mod:`api.pages.me_agents`;
my data and who looked at it are :mod:`api.pages.me_data`.

Identity is the holder session (:mod:`holder.signin`: a random token in the HttpOnly,
SameSite=Lax cookie ``hub_holder``, stored only hashed, 30 minutes); forms carry the pages'
CSRF token like every staff form. Sign-in attempts are paused per (ID number, address) by the
staff pages' own :class:`api.pages.auth.LoginThrottle` and counted against the credential's
lock per (ID number, address) (:func:`holder.signin.web_client`): a stranger who knows an ID
locks the sign-in from their own address only. Failures from all addresses together meet a
slower back-off per ID number (:data:`SPRAY_ALLOWED` failures, then 30 s doubling to 5 min),
which a browser that signed in as that person before (cookie ``hub_holder_device``) skips.
Everything the holder does here is audited under their normalised ID (client
``holder-pages``), so it shows in their own "who looked at my data"; what an agent does for a
company is audited under the company, client ``agent:<authorisation>`` (:func:`client_of`).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from api.csc import cloudsign_service
from api.pages import web
from api.pages.auth import HashGate, HashingBusy, login_throttle
from api.pages.throttle import Throttle
from api.routers.presentations import (
    HOLDER_COOKIE,
    HOLDER_PAGES,
    HOLDER_PURPOSE,
    audit_row,
    holder_side,
    presentation_out,
    signed_in_actor,
)
from holder import presentations as core
from holder.agents import COPY, LICENCES, PRESENT, SCOPE_LABELS, SCOPES, Actor
from holder.signin import (
    SESSION_SECONDS,
    SignInRefused,
    acting_person,
    agent_person,
    device_proof,
    holder_id,
    known_device,
    sign_in,
    web_client,
)

router = APIRouter(route_class=web.PagesRoute, include_in_schema=False)

DEVICE_COOKIE = "hub_holder_device"
DEVICE_SECONDS = 365 * 24 * 3600
SPRAY_ALLOWED = 20  # failures for one ID from browsers it never signed in with, all addresses
SPRAY_FIRST, SPRAY_LONGEST = 30.0, 300.0  # then a pause for such browsers, doubling up to this
EVERYWHERE = "*"  # the address key of the back-off over all addresses


def _throttle(request: Request) -> Throttle:
    return login_throttle(request, "holder")


def _spray(request: Request) -> Throttle:
    return login_throttle(request, "holder-spray", SPRAY_ALLOWED, SPRAY_FIRST, SPRAY_LONGEST)


def _hash_gate(request: Request) -> HashGate:
    return web.cached(request, "holder_hash_gate", lambda _s: HashGate())  # type: ignore[no-any-return]


async def signed_in(request: Request, need: str = LICENCES) -> str:
    """The signed-in holder (whose side the session is: a person's, or a company's), or a
    redirect to ``/me/login``; a 403 page (audited) if an agent's scope does not allow
    ``need`` (one of :data:`holder.agents.SCOPES`' actions)."""
    actor = await signed_in_actor(request, holder_side(request))
    if actor is None:
        raise web.PageExit(RedirectResponse("/me/login", status_code=303))
    request.state.holder_actor = actor
    if not actor.allows(need):
        route = request.scope.get("route")
        path = str(getattr(route, "path", request.url.path))[:128]
        await audit_row(request, actor.client, HOLDER_PURPOSE, path, actor.holder, (), "scope", 403)
        raise web.PageExit(
            render(
                request,
                "error.html",
                {
                    "title_zh": "超出授权范围",
                    "title_en": "Not in your authorisation",
                    "message_zh": "企业授予您的经办权限不包括此事项。",
                    "message_en": "The company did not authorise you, as its agent, to do this.",
                },
                403,
            )
        )
    return actor.holder


def current(request: Request) -> Actor | None:
    """Who the session of this request acts as (set by :func:`signed_in`)."""
    return getattr(request.state, "holder_actor", None)


def client_of(request: Request) -> str:
    """The audit's client for what this request does: the pages', or the agent's."""
    actor = current(request)
    return actor.client if actor is not None else HOLDER_PAGES


def render(request: Request, template: str, context: dict[str, Any], status: int = 200) -> Any:
    actor = current(request)
    may = SCOPES["all"] if actor is None or actor.agent is None else SCOPES[actor.agent.scope]
    extra = {"holder_signed_in": True, "may": may, "agent_session": bool(actor and actor.agent)}
    return web.render(request, template, {**extra, **context}, status)


# ---- sign-in ------------------------------------------------------------------------------
@router.get("/me/login", response_class=HTMLResponse)
def login_form(request: Request, _session: web.SessionDep) -> HTMLResponse:
    return web.render(request, "me_login.html", {"error": None})


@router.post("/me/login", response_class=HTMLResponse)
async def login(
    request: Request,
    _csrf: web.CsrfChecked,
    id_number: Annotated[str, Form()] = "",
    pin: Annotated[str, Form()] = "",
    otp: Annotated[str, Form()] = "",
) -> Response:
    """ID number + PIN + OTP through the cloud-signature checks; a new holder session."""
    route = "/me/login"
    address = request.client.host if request.client else "-"
    try:  # the pause follows the person whatever form the number was typed in
        name = holder_id(id_number)
    except SignInRefused:
        name = id_number.strip().upper()[:40]
    throttle, spray = _throttle(request), _spray(request)
    known = known_device(web.secret(request), name, request.cookies.get(DEVICE_COOKIE))
    wait = throttle.wait(name, address)
    if not known:
        wait = max(wait, spray.wait(name, EVERYWHERE))
    if wait > 0:
        return _paused(request, wait)
    svc = cloudsign_service(request)

    def check() -> str:
        with _hash_gate(request).slot():
            return sign_in(svc, id_number, pin, otp, web_client(address))

    try:
        holder = await run_in_threadpool(check)
    except HashingBusy:
        response = web.render(request, "me_login.html", {"error": "busy"}, status_code=503)
        response.headers["Retry-After"] = "5"
        return response
    except SignInRefused as exc:
        await audit_row(
            request, HOLDER_PAGES, HOLDER_PURPOSE, route, exc.holder, (), exc.outcome, exc.status
        )
        wait = throttle.failed(name, address)
        if not known:
            wait = max(wait, spray.failed(name, EVERYWHERE))
        if wait > 0:
            return _paused(request, wait)
        return web.render(request, "me_login.html", {"error": exc.message}, status_code=exc.status)
    throttle.succeeded(name, address)
    await audit_row(request, HOLDER_PAGES, HOLDER_PURPOSE, route, holder, (), "signed-in", 200)
    token = await run_in_threadpool(holder_side(request).sessions.start, holder)
    web.start_session(request, web.signed_in(request))  # a new CSRF token after sign-in
    response = web.redirect(request, "/me")
    holder_cookie(request, response, token)
    response.set_cookie(  # this browser signed in as the holder: it skips the spray back-off
        DEVICE_COOKIE,
        device_proof(web.secret(request), holder),
        max_age=DEVICE_SECONDS,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/me/login",
    )
    return response


def holder_cookie(request: Request, response: Response, token: str) -> None:
    response.set_cookie(
        HOLDER_COOKIE,
        token,
        max_age=SESSION_SECONDS,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )


def _paused(request: Request, wait: float) -> HTMLResponse:
    minutes = max(1, math.ceil(wait / 60))
    response = web.render(
        request, "me_login.html", {"error": "locked", "minutes": minutes}, status_code=429
    )
    response.headers["Retry-After"] = str(max(1, math.ceil(wait)))
    return response


@router.post("/me/logout")
async def logout(request: Request, _csrf: web.CsrfChecked) -> Response:
    """End the holder session on the server and forget the cookie."""
    side = holder_side(request)
    await run_in_threadpool(side.sessions.end, request.cookies.get(HOLDER_COOKIE))
    response = web.redirect(request, "/me/login")
    response.delete_cookie(HOLDER_COOKIE, path="/")
    return response


# ---- my licences ----------------------------------------------------------------------------
STATUS_ZH = {
    "valid": "有效",
    "suspended": "已暂扣",
    "revoked": "已吊销",
    "expired": "已失效",
    "superseded": "已变更",
}


def my_licences(request: Request, holder: str) -> list[dict[str, Any]]:
    """Every licence the holder holds, whatever its status, newest first."""
    from sqlalchemy import select

    from licence.tables import licences
    from schemas import licence_types

    stmt = (
        select(licences).where(licences.c.holder_id == holder).order_by(licences.c.issued_at.desc())
    )
    with request.app.state.hub.library.engine.connect() as conn:
        rows = conn.execute(stmt).all()
    catalogue = licence_types.catalogue()
    out = []
    for r in rows:
        lt = catalogue.get(r.type_code)
        status = "superseded" if r.superseded_by else str(r.status)
        out.append(
            {
                "licence_id": r.licence_id,
                "type_name": lt.name if lt else r.type_code,
                "status": status,
                "status_zh": STATUS_ZH.get(status, status),
                "issued_at": r.issued_at,
                "valid_to": r.valid_to or "长期",
            }
        )
    return out


@router.get("/me", response_class=HTMLResponse)
async def me_home(request: Request, _session: web.SessionDep) -> HTMLResponse:
    await signed_in(request)
    return render(request, "me.html", await home_context(request))


async def home_context(request: Request, error: str | None = None) -> dict[str, Any]:
    """The home page of the signed-in session (:func:`signed_in` called first): its licences
    and open codes, whom it acts for, and on a person's own side the companies they may act
    for as an agent."""
    actor = current(request)
    assert actor is not None
    side, holder = holder_side(request), actor.holder
    found = await run_in_threadpool(my_licences, request, holder)
    codes = []
    if actor.allows(PRESENT):
        codes = await run_in_threadpool(side.presentations.open_codes, holder)
    person = acting_person(actor.via)
    agent_of = []
    if person is None:
        mine = await run_in_threadpool(side.agents.of_agent, holder, side.sessions.authorised)
        agent_of = [
            {
                "company": a.company,
                "name": company_name(request, a.company),
                "until": last_day(a.valid_until),
            }
            for a in mine
        ]
    grant = actor.agent
    return {
        "licences": found,
        "codes": codes,
        "holder_masked": mask(holder),
        "acting_for": holder if person else None,
        "acting_name": company_name(request, holder) if person else None,
        "acting_person": mask(person) if person else None,
        "acting_as": None if person is None else "agent" if agent_person(actor.via) else "rep",
        "scope_label": SCOPE_LABELS[grant.scope] if grant else None,
        "agent_until": last_day(grant.valid_until) if grant else None,
        "agent_of": agent_of,
        "act_error": error,
    }


def last_day(valid_until: Any) -> str:
    """The last day (Beijing time) an authorisation ending at ``valid_until`` covers."""
    return web.cst(valid_until - dt.timedelta(seconds=1), "%Y-%m-%d")


def company_name(request: Request, company: str) -> str | None:
    """The company's name in the legal-entity library, if it has one."""
    from api.records import record
    from storage.library import LEGAL_ENTITY

    found = record(request.app.state.hub, LEGAL_ENTITY, company, None, marks=False) or {}
    value = (found.get("entity_name") or {}).get("value")
    return str(value) if value else None


@router.post("/me/codes/{ref}/withdraw")
async def withdraw_code(request: Request, ref: str, _csrf: web.CsrfChecked) -> Response:
    """Withdraw a code shown by mistake: it can no longer be redeemed (410 "withdrawn")."""
    holder = await signed_in(request, PRESENT)
    side = holder_side(request)
    lid = await run_in_threadpool(side.presentations.withdraw, holder, ref[:64])
    if lid is not None:
        await audit_row(
            request,
            client_of(request),
            HOLDER_PURPOSE,
            "/me/codes/{ref}/withdraw",
            holder,
            (),
            "withdrawn",
            200,
        )
    return web.redirect(request, "/me")


def mask(identifier: str) -> str:
    return identifier[:6] + "*" * 8 + identifier[14:] if len(identifier) == 18 else identifier


async def _own(request: Request, holder: str, lid: str) -> dict[str, Any]:
    """The licence row if the holder holds it; a 404 page otherwise (same for unknown)."""
    svc = request.app.state.hub.licences
    row = await run_in_threadpool(svc.store.licence, lid)
    if row is None or row["holder_id"] != holder:
        raise web.PageExit(
            web.render(
                request,
                "error.html",
                {
                    "title_zh": "未找到证照",
                    "title_en": "No such licence",
                    "message_zh": "您名下没有这本证照。",
                    "message_en": "You hold no licence with this identifier.",
                },
                status_code=404,
            )
        )
    return dict(row)


@router.get("/me/licences/{lid}/json")
async def licence_json(request: Request, lid: str, _session: web.SessionDep) -> Response:
    """The sealed licence with its ledger receipt: the holder's own copy (verifies offline,
    and ``hub licence disclose FILE`` hides fields of it without the platform)."""
    from licence.trust import receipt_json

    holder = await signed_in(request, COPY)
    await _own(request, holder, lid)
    svc = request.app.state.hub.licences
    doc = await run_in_threadpool(svc.document, lid)
    receipt = await run_in_threadpool(receipt_json, svc, lid)
    body = doc if receipt is None else {"licence": doc, "receipt": receipt}
    await audit_row(
        request,
        client_of(request),
        HOLDER_PURPOSE,
        "/me/licences/{lid}/json",
        holder,
        (),
        "ok",
        200,
    )
    return web.secure(
        Response(
            json.dumps(body, ensure_ascii=False, indent=2),
            media_type="application/json",
            headers={"Content-Disposition": 'attachment; filename="licence.json"'},
        )
    )


@router.get("/me/licences/{lid}/pdf")
async def licence_pdf(request: Request, lid: str, _session: web.SessionDep) -> Response:
    """The licence's signed PDF (valid licences only: a fresh PDF of a revoked one misleads)."""
    from licence.pdf import render_pdf

    holder = await signed_in(request, COPY)
    row = await _own(request, holder, lid)
    if row["status"] != "valid":
        status_zh = STATUS_ZH.get(row["status"], row["status"])
        raise web.PageExit(
            web.render(
                request,
                "error.html",
                {
                    "title_zh": "无法生成 PDF",
                    "title_en": "No PDF",
                    "message_zh": f"该证照状态为“{status_zh}”，不再生成 PDF。",
                    "message_en": f"The licence is {row['status']}: no new PDF is issued for it.",
                },
                status_code=409,
            )
        )
    svc = request.app.state.hub.licences
    fonts = request.app.state.config.home / "cache" / "fonts"
    data = await run_in_threadpool(render_pdf, svc, lid, fonts)
    return web.secure(
        Response(
            data,
            media_type="application/pdf",
            headers={"Content-Disposition": 'attachment; filename="licence.pdf"'},
        )
    )


# ---- presentations ------------------------------------------------------------------------
PRIVATE_BY_DEFAULT = ("持证主体代码",)


def _field_labels(doc: dict[str, Any], type_code: str) -> list[dict[str, Any]]:
    """The licence's fields with their Chinese names and values, for the holder's choice."""
    from schemas import licence_types

    lt = licence_types.catalogue().get(type_code)
    names = {f.key: f.name for f in lt.fields} if lt else {}
    return [
        {
            "key": k,
            "label": names.get(k, k),
            "value": e.get("value", ""),
            "always": k in core.ALWAYS_SHOWN,
            # the holder's own ID number is not shown unless they tick it
            "ticked": k not in PRIVATE_BY_DEFAULT,
        }
        for k, e in sorted(doc["fields"].items())
    ]


@router.get("/me/licences/{lid}/present", response_class=HTMLResponse)
async def present_form(request: Request, lid: str, _session: web.SessionDep) -> HTMLResponse:
    holder = await signed_in(request, PRESENT)
    row = await _own(request, holder, lid)
    doc = await run_in_threadpool(request.app.state.hub.licences.document, lid)
    return render(
        request,
        "me_present.html",
        {
            "lid": lid,
            "fields": _field_labels(doc, row["type_code"]),
            "max_lifetime": core.MAX_LIFETIME,
            "error": None,
        },
    )


@router.post("/me/licences/{lid}/present", response_class=HTMLResponse)
async def present(request: Request, lid: str, _csrf: web.CsrfChecked) -> HTMLResponse:
    """Make a presentation of the chosen fields; the page shows its code and QR, and renews
    the code by itself while it stays open (``/pages/static/me.js``)."""
    holder = await signed_in(request, PRESENT)
    form = await request.form()
    shown = [str(v) for v in form.getlist("show")]
    audience = str(form.get("audience") or "").strip() or None
    lifetime = _int(form.get("lifetime"), core.DEFAULT_LIFETIME)
    side = holder_side(request)
    try:
        made = await run_in_threadpool(
            lambda: side.presentations.create(
                holder, lid, shown, audience=audience, lifetime=lifetime, via=client_of(request)
            )
        )
    except core.PresentationError as exc:
        await audit_row(
            request,
            client_of(request),
            HOLDER_PURPOSE,
            "/v1/presentations",
            holder,
            (),
            exc.kind,
            exc.status,
        )
        row = await _own(request, holder, lid)
        doc = await run_in_threadpool(request.app.state.hub.licences.document, lid)
        return render(
            request,
            "me_present.html",
            {
                "lid": lid,
                "fields": _field_labels(doc, row["type_code"]),
                "max_lifetime": core.MAX_LIFETIME,
                "error": exc.message,
            },
            status=exc.status,
        )
    await audit_row(
        request,
        client_of(request),
        HOLDER_PURPOSE,
        "/v1/presentations",
        holder,
        made.disclosed,
        "presentation-made",
        201,
    )
    out = await run_in_threadpool(presentation_out, side, made, True)
    return render(
        request,
        "me_code.html",
        {
            "p": out,
            "lifetime": lifetime,
            "renew": json.dumps(
                {
                    "licence_id": lid,
                    "disclose": made.disclosed,
                    "audience": audience,
                    "lifetime_seconds": lifetime,
                    "qr_image": True,
                }
            ),
        },
    )


def _int(value: Any, default: int) -> int:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return default
