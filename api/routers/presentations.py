"""Presentations (亮证码): ``POST /v1/presentations`` (the holder, signed in on the pages or
through a registered holder app) and ``POST /v1/presentations/{code}/redeem`` (an approval
system holding a ``presentations`` grant).

Creating one: either the holder's session cookie (signed in at ``/me/login``) with the pages'
CSRF token in ``X-CSRF-Token``, or a holder app's API key (``holder-app`` grant, its declared
purpose) with ``X-Holder-Assertion``: a signed assertion naming the citizen
(:mod:`holder.assertions`). Redeeming one returns only the disclosed licence, its ledger
receipt and the explained verdict; a used or expired code is 410, a code made out to another
recipient 403 (and is not spent). Every creation, redemption and refusal is audited under the
holder's normalised ID, so the holder sees it in "who looked at my data" (``/me/audit``).
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import threading
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from api.deps import PRINTABLE, Access, admit, anonymous, conclude, gate, limit_address
from api.problems import Problem, responses
from api.state import HubState, hub_state
from holder import presentations as core
from holder.agents import PRESENT, Actor, Agents
from holder.assertions import AssertionRefused, HolderApps
from holder.signin import HolderSessions

router = APIRouter(tags=["presentations"])

# what a holder app sends beside its key, documented on every route it may call
HOLDER_APP_HEADERS: dict[str, Any] = {
    "parameters": [
        {
            "name": "X-Purpose",
            "in": "header",
            "required": True,
            "description": "a holder app's declared purpose (the holder's own session on the "
            "pages sends none)",
            "schema": {"type": "string"},
        },
        {
            "name": "X-Holder-Assertion",
            "in": "header",
            "required": False,
            "description": "a holder app's signed assertion naming the citizen (JWS)",
            "schema": {"type": "string"},
        },
    ]
}
HOLDER_COOKIE = "hub_holder"
APP_SCOPE = "holder-app"
REDEEM_SCOPE = "presentations"
HOLDER_PAGES = "holder-pages"  # the audit's client for what the holder does on the pages
HOLDER_PURPOSE = "holder-service"
ASSERTION_HEADER = "x-holder-assertion"
HOLDER_RATE = 1.0  # codes a holder makes on the pages per second ...
HOLDER_BURST = 10.0  # ... in bursts of up to this many (a live code renews every few seconds)


@dataclass
class HolderSide:
    """The holder room's services for one app: sessions, holder apps, presentations, the
    companies' agents."""

    sessions: HolderSessions
    apps: HolderApps
    presentations: core.Presentations
    origin: str  # this hub's origin: the assertions' audience and the codes' links
    agents: Agents

    def link(self, code: str) -> str:
        return f"{self.origin}/p/{code}"

    def actor(self, token: str | None) -> Actor | None:
        """Who this session token acts as (with the agent's authorisation, if an agent)."""
        return self.agents.actor(self.sessions.session(token), self.sessions.authorised)


_lock = threading.Lock()


def holder_side(request: Request) -> HolderSide:
    """The app's :class:`HolderSide`, built on first use (over the hub database and the
    licence service)."""
    state = request.app.state
    side: HolderSide | None = getattr(state, "holder_side", None)
    if side is None:
        with _lock:
            side = getattr(state, "holder_side", None)
            if side is None:
                hub: HubState = state.hub
                engine = hub.library.engine
                licences = hub.licences
                parts = urlsplit(licences.verification_url)
                ledger = hub.ledger
                agents = Agents(
                    engine,
                    lambda data: ledger.append(data),
                    hub.audit.subject_hash,
                    log_in=(
                        (lambda conn, data: ledger.append_many_in(conn, [data])[0])
                        if ledger.shares_database(engine)
                        else None
                    ),
                )

                def rep(company: str, person: str) -> bool:
                    return legal_rep(hub, company, person)

                side = HolderSide(
                    HolderSessions(
                        engine,
                        authorised=rep,
                        agents=lambda c, p: agents.live(c, p, rep) is not None,
                    ),
                    HolderApps(engine),
                    core.Presentations(engine, licences),
                    f"{parts.scheme}://{parts.netloc}",
                    agents,
                )
                state.holder_side = side
    return side


def legal_rep(state: HubState, company: str, person: str) -> bool:
    """Whether the legal-entity library names ``person`` the legal representative of
    ``company`` now (what a session held for a company rests on)."""
    from api.records import record
    from holder.signin import represents
    from storage.library import LEGAL_ENTITY

    return represents(record(state, LEGAL_ENTITY, company, None, marks=False), person)


def qr_image(text: str) -> str:
    """A QR code of ``text`` as a ``data:`` URL (PNG), drawn like the one on the licence PDF
    (``licence.pdf.qr_code_image``). About 7 ms of CPU a code, so the API draws it only when
    asked: a holder app draws its own from ``url``."""
    from licence.pdf import qr_code_image

    out = io.BytesIO()
    qr_code_image(text).convert("1").save(out, "PNG")
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode()


async def audit_row(
    request: Request,
    client_id: str,
    purpose: str,
    route: str,
    subject: str | None,
    fields: list[str] | tuple[str, ...],
    outcome: str,
    status: int,
) -> None:
    """Write one audit row (under the holder's normalised ID) and wait for its commit; 503 if
    it cannot be written (no answer without its audit row)."""
    from api.audit import AuditWriteFailed

    log = request.app.state.hub.audit
    row = log.row(client_id, purpose, request.method, route, subject, fields, outcome, status)
    try:
        await log.committed(log.submit([row]))
    except AuditWriteFailed:
        raise Problem(
            503,
            "audit-unavailable",
            "the access audit could not be written, so no answer is given; retry later",
            headers={"Retry-After": "5"},
        ) from None


class PresentationIn(BaseModel):
    licence_id: str = Field(min_length=1, max_length=120, pattern=PRINTABLE)
    disclose: list[str] = Field(
        min_length=1,
        max_length=64,
        description="the fields to show; every other field is hidden (salted digest only)",
        examples=[["证照名称", "occupation", "level"]],
    )
    audience: str | None = Field(
        default=None,
        max_length=64,
        description="who may redeem it: a registered client id, or `window` (the /verify page)",
    )
    purpose: str | None = Field(
        default=None, max_length=64, description="the only purpose it may be redeemed for"
    )
    lifetime_seconds: int = Field(default=core.DEFAULT_LIFETIME, ge=1, le=core.MAX_LIFETIME)
    uses: int = Field(default=1, ge=1, le=core.MAX_USES)
    qr_image: bool = Field(default=False, description="also return the QR code as a PNG data: URL")


class PresentationOut(BaseModel):
    code: str = Field(description="shown once; stored only as its hash")
    url: str = Field(description="what the QR code carries: …/p/<code>")
    qr: str | None = Field(description="the QR code as a PNG data: URL, when asked for")
    licence_id: str
    disclosed: list[str]
    hidden: list[str]
    audience: str | None
    purpose: str | None
    uses: int
    expires_at: dt.datetime


class CheckOut(BaseModel):
    check: str
    status: str
    reason: str
    en: str
    zh: str


class RedeemedOut(BaseModel):
    licence: dict[str, Any] = Field(description="the licence with only the disclosed values")
    receipt: dict[str, Any] | None = Field(description="its ledger receipt (offline proof)")
    disclosed: list[str]
    verdict: str = Field(examples=["TOTAL_PASSED"])
    checks: list[CheckOut]


def _problem(exc: core.PresentationError) -> Problem:
    return Problem(exc.status, exc.kind, exc.message)


async def _by_app(request: Request, side: HolderSide, route: str) -> tuple[str, str, Access]:
    """A holder app's request: the gate (scope ``holder-app``), then the assertion."""
    access = await admit(request, APP_SCOPE, route)
    token = request.headers.get(ASSERTION_HEADER, "")
    try:
        holder = await run_in_threadpool(
            side.apps.verify, token, access.client.client_id, side.origin
        )
    except AssertionRefused as exc:
        access.named = [exc.holder] if exc.holder else None
        problem = Problem(401, f"assertion-{exc.outcome}", exc.message)
        await conclude(request, route, access, problem)
        raise problem from None
    return holder, access.client.client_id, access


async def signed_in_holder(request: Request, side: HolderSide) -> str | None:
    """The holder of this browser's session cookie, None if there is none (or it ended)."""
    found = await signed_in_actor(request, side)
    return found.holder if found is not None else None


async def signed_in_actor(request: Request, side: HolderSide) -> Actor | None:
    """Who this browser's session cookie acts as, None if there is none (or it ended)."""
    token = request.cookies.get(HOLDER_COOKIE)
    return await run_in_threadpool(side.actor, token) if token else None


async def _by_session(request: Request, side: HolderSide, route: str) -> tuple[str, str]:
    """A holder's own request from the pages: their session and the pages' CSRF token; the
    holder and the audit's client (an agent's, if an agent acts for a company)."""
    from api.pages import session as sessions
    from api.pages import web

    state: HubState = request.app.state.hub
    actor = await signed_in_actor(request, side)
    if actor is None:
        # a stranger's requests are held to the address budget of requests without a key
        await limit_address(request, route, state.stranger_rate, "address-limited", charge=True)
        await audit_row(request, anonymous(request.scope), "-", route, None, (), "no-session", 401)
        raise Problem(
            401,
            "unauthenticated",
            "sign in at /me/login (or send a holder app's key and X-Holder-Assertion)",
        )
    holder = actor.holder
    page = sessions.decode(request.cookies.get(sessions.COOKIE), web.secret(request))
    if not sessions.csrf_ok(page, request.headers.get("x-csrf-token"), web.secret(request)):
        await audit_row(request, actor.client, HOLDER_PURPOSE, route, holder, (), "csrf", 403)
        raise Problem(403, "csrf", "the X-CSRF-Token header is missing or stale: reload the page")
    if not actor.allows(PRESENT):
        await audit_row(request, actor.client, HOLDER_PURPOSE, route, holder, (), "scope", 403)
        raise Problem(403, "scope", "the company did not authorise this agent to present licences")
    wait = state.limiter.take(f"holder:{holder}", HOLDER_RATE, burst=HOLDER_BURST)
    if wait > 0:
        await audit_row(
            request, actor.client, HOLDER_PURPOSE, route, holder, (), "rate-limited", 429
        )
        raise Problem(
            429,
            "rate-limited",
            f"at most {HOLDER_RATE:g} code a second (bursts of {HOLDER_BURST:g}): retry shortly",
            headers={"Retry-After": str(max(1, round(wait + 0.5)))},
        )
    return holder, actor.client


@router.post(
    "/v1/presentations",
    response_model=PresentationOut,
    status_code=201,
    responses=responses(400, 401, 403, 404, 409, 422, 429, 503),
    openapi_extra=HOLDER_APP_HEADERS,
)
async def create_presentation(body: PresentationIn, request: Request) -> PresentationOut:
    """Make a presentation (亮证码) of one of the holder's valid licences showing only the
    chosen fields, for at most 5 minutes, single use unless more uses are asked for.

    Authenticate as the holder's session (cookie + `X-CSRF-Token`) or as a holder app
    (`Authorization: Bearer`, `X-Purpose`, `X-Holder-Assertion`)."""
    side = holder_side(request)
    route = "/v1/presentations"
    access: Access | None = None
    if request.headers.get("authorization"):
        holder, client, access = await _by_app(request, side, route)
    else:
        holder, client = await _by_session(request, side, route)
    try:
        made = await run_in_threadpool(
            lambda: side.presentations.create(
                holder,
                body.licence_id,
                body.disclose,
                audience=body.audience,
                purpose=body.purpose,
                lifetime=body.lifetime_seconds,
                uses=body.uses,
                via=client,
            )
        )
    except core.PresentationError as exc:
        problem = _problem(exc)
        if access is not None:
            access.named = [holder]
            await conclude(request, route, access, problem)
        else:
            await audit_row(
                request, client, HOLDER_PURPOSE, route, holder, (), exc.kind, exc.status
            )
        raise problem from None
    if access is not None:
        access.subject, access.fields, access.status = holder, set(made.disclosed), 201
        access.outcome = "presentation-made"
        await conclude(request, route, access, None)
    else:
        await audit_row(
            request,
            client,
            HOLDER_PURPOSE,
            route,
            holder,
            made.disclosed,
            "presentation-made",
            201,
        )
    if body.qr_image:  # drawing the QR code costs milliseconds: off the event loop
        return await run_in_threadpool(presentation_out, side, made, True)
    return presentation_out(side, made, False)


def presentation_out(side: HolderSide, made: core.Presentation, image: bool) -> PresentationOut:
    url = side.link(made.code)
    return PresentationOut(
        code=made.code,
        url=url,
        qr=qr_image(url) if image else None,
        licence_id=made.licence_id,
        disclosed=made.disclosed,
        hidden=made.hidden,
        audience=made.audience,
        purpose=made.purpose,
        uses=made.uses,
        expires_at=made.expires_at,
    )


def redeemed(state: HubState, found: core.Redemption) -> RedeemedOut:
    """The disclosed licence, its receipt and the online verdict on exactly that copy (the
    licence's status and receipt from the index row the redemption read)."""
    import json

    from licence.trust import receipt_json, verify_online

    svc = state.licences
    row = found.record if found.record is not None else svc.store.licence(found.licence_id)
    receipt = receipt_json(svc, found.licence_id, row)
    shown: dict[str, Any] = (
        found.licence if receipt is None else {"licence": found.licence, "receipt": receipt}
    )
    rows = {found.licence_id: row} if row is not None else None
    report = verify_online(svc, json.dumps(shown, ensure_ascii=False).encode(), rows=rows)
    return RedeemedOut(
        licence=found.licence,
        receipt=receipt,
        disclosed=found.disclosed,
        verdict=str(report.verdict),
        checks=[
            CheckOut(check=c.check, status=str(c.status), reason=c.reason, en=c.en, zh=c.zh)
            for c in report.checks
        ],
    )


def redeem_and_verify(
    side: HolderSide, state: HubState, code: str, client_id: str, purpose: str | None
) -> tuple[core.Redemption, RedeemedOut]:
    """Spend one use of ``code`` and answer with the verdict: the blocking part of a
    redemption, in one thread hop."""
    found = side.presentations.redeem(code, audiences={client_id}, purpose=purpose)
    return found, redeemed(state, found)


@router.post(
    "/v1/presentations/{code}/redeem",
    response_model=RedeemedOut,
    responses=responses(400, 401, 403, 404, 410, 422, 429, 503),
)
async def redeem_presentation(
    code: Annotated[str, Path(min_length=1, max_length=64, pattern=PRINTABLE)],
    access: Annotated[Access, gate(REDEEM_SCOPE)],
    state: Annotated[HubState, Depends(hub_state)],
    request: Request,
) -> RedeemedOut:
    """Redeem a presentation code: the disclosed licence, its receipt and the explained
    verdict. A used or expired code answers 410, a code made out to another client 403."""
    side = holder_side(request)
    try:
        found, out = await run_in_threadpool(
            redeem_and_verify, side, state, code, access.client.client_id, access.purpose
        )
    except core.PresentationError as exc:
        access.named = [exc.holder] if exc.holder else None
        raise _problem(exc) from None
    access.subject, access.fields = found.holder, set(found.disclosed)
    access.outcome = "redeemed"
    return out
