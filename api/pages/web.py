"""Shared plumbing of the staff pages: templates, sessions, sign-in and CSRF dependencies.

Handlers stay small: ``Depends(page_session)`` gives every visitor a signed session (and so a
CSRF token for the forms), ``Depends(require_staff(...))`` admits only signed-in staff with a
role, ``Depends(csrf_protect)`` refuses a POST whose form lacks this session's token. Refusals
are raised as :class:`PageExit` and turned into HTML (a redirect to the login page, or a 403 page)
by :class:`PagesRoute`, since a router cannot register exception handlers on the app.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any, TypeVar
from urllib.parse import quote, urlsplit

from fastapi import Depends, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, select_autoescape

from api.pages import session as sessions
from api.pages.accounts import ROLE_ZH, Staff, StaffAccounts

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
STATIC = Path(__file__).resolve().parents[1] / "static"

_env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
_lock = threading.Lock()

# times on the pages are China Standard Time (the database keeps naive UTC)
CST = dt.timezone(dt.timedelta(hours=8), "CST")
CST_LABEL = "北京时间 UTC+8"


def cst(value: dt.datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored time (naive UTC, or aware) as China Standard Time, e.g. ``2026-01-05 16:30``."""
    if value is None:
        return "–"
    aware = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return aware.astimezone(CST).strftime(fmt)


_env.filters["cst"] = cst
_env.globals["CST_LABEL"] = CST_LABEL


class PageExit(Exception):
    """Stop handling a page request and answer with ``response`` instead."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


class PagesRoute(APIRoute):
    """An APIRoute that answers a raised :class:`PageExit` with its response."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except PageExit as exit_:
                _set_cookie(request, exit_.response)
                return exit_.response

        return route


# ---- services, built once per app from app.state.config ------------------------------------
def cached(request: Request, name: str, build: Callable[[Any], Any]) -> Any:
    state = request.app.state
    value = getattr(state, name, None)
    if value is None:
        with _lock:
            value = getattr(state, name, None)
            if value is None:
                value = build(state.config)
                setattr(state, name, value)
    return value


def ingest_hub(request: Request) -> Any:
    """The app's shared :class:`pipeline.services.IngestServices` (objects, library, contracts)."""
    return request.app.state.hub.ingest


def licence_service(request: Request) -> Any:
    """The app's shared licence service (one ledger per process), opened on first use."""
    return request.app.state.hub.licences


def accounts(request: Request) -> StaffAccounts:
    return cached(  # type: ignore[no-any-return]
        request, "pages_accounts", lambda _s: StaffAccounts(ingest_hub(request).library.engine)
    )


def secret(request: Request) -> bytes:
    return cached(  # type: ignore[no-any-return]
        request, "pages_secret", lambda s: sessions.load_secret(s.home / "pages" / "session.key")
    )


# ---- sessions ---------------------------------------------------------------------------
def page_session(request: Request) -> sessions.Session:
    """This browser's valid session, or a new anonymous one (sent with the response)."""
    key = secret(request)
    found = sessions.decode(request.cookies.get(sessions.COOKIE), key)
    if found is not None and found.user is not None:
        staff = accounts(request).get(found.user)
        if staff is None or staff.disabled or staff.session_version != found.version:
            found = None  # logged out, password changed or account disabled since
        else:
            request.state.staff = staff
    if found is None:
        found = sessions.new_session()
        request.state.new_session = found
    request.state.session = found
    return found


SessionDep = Annotated[sessions.Session, Depends(page_session)]


def start_session(request: Request, staff: Staff | None) -> sessions.Session:
    """Replace the session (new id, so a new CSRF token) for ``staff`` or anonymous."""
    fresh = sessions.new_session(
        staff.username if staff else None, staff.session_version if staff else 0
    )
    request.state.session = fresh
    request.state.new_session = fresh
    request.state.staff = staff
    return fresh


def _set_cookie(request: Request, response: Response) -> None:
    fresh = getattr(request.state, "new_session", None)
    if fresh is None or any(
        v.startswith(sessions.COOKIE + "=") for v in response.headers.getlist("set-cookie")
    ):
        return
    response.set_cookie(
        sessions.COOKIE,
        sessions.encode(fresh, secret(request)),
        max_age=sessions.MAX_AGE,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )


def redirect(request: Request, url: str) -> RedirectResponse:
    """A 303 to ``url`` carrying a new session cookie if one was started."""
    response = RedirectResponse(url, status_code=303)
    _set_cookie(request, response)
    return response


def signed_in(request: Request) -> Staff | None:
    return getattr(request.state, "staff", None)


def _login_url(request: Request) -> str:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return "/login?next=" + quote(target, safe="")


def safe_next(target: str | None) -> str:
    """Only same-site paths are followed after login (no open redirect)."""
    if not target:
        return "/catalog"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/catalog"
    return target


def require_staff(*roles: str) -> Callable[..., Staff]:
    """A dependency admitting signed-in staff holding one of ``roles`` (any role if none)."""

    def dependency(request: Request, _session: SessionDep) -> Staff:
        staff = signed_in(request)
        if staff is None:
            raise PageExit(RedirectResponse(_login_url(request), status_code=303))
        if roles and not staff.may(*roles):
            need = "、".join(f"{ROLE_ZH[r]} {r}" for r in roles)
            raise PageExit(
                render(
                    request,
                    "error.html",
                    {
                        "title_zh": "无权访问",
                        "title_en": "Not allowed",
                        "message_zh": f"此操作需要以下角色之一：{need}",
                        "message_en": f"This needs one of the roles: {', '.join(roles)}.",
                    },
                    status_code=403,
                )
            )
        return staff

    return dependency


async def csrf_protect(request: Request, session: SessionDep) -> None:
    """Refuse a POST whose form (or X-CSRF-Token header) lacks this session's token."""
    form = await request.form()
    token = form.get("csrf_token") or request.headers.get("x-csrf-token")
    if not sessions.csrf_ok(session, token if isinstance(token, str) else None, secret(request)):
        raise PageExit(
            render(
                request,
                "error.html",
                {
                    "title_zh": "请求被拒绝",
                    "title_en": "Request refused",
                    "message_zh": "表单校验码缺失或已过期（CSRF），请刷新页面后重试。",
                    "message_en": "The form's CSRF token is missing or stale: reload the page "
                    "and submit again.",
                },
                status_code=403,
            )
        )


SignedIn = Annotated[Staff, Depends(require_staff())]
Publisher = Annotated[Staff, Depends(require_staff("publisher"))]
CsrfChecked = Annotated[None, Depends(csrf_protect)]


# ---- rendering -------------------------------------------------------------------------
def render(
    request: Request, template: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    """The page ``template`` with the session's CSRF token and the signed-in staff member."""
    session = getattr(request.state, "session", None) or page_session(request)
    page = _env.get_template(template).render(
        {
            "csrf_token": sessions.csrf_token(session, secret(request)),
            "staff": signed_in(request),
            "role_zh": ROLE_ZH,
            "path": request.url.path,
            **context,
        }
    )
    response = secure(HTMLResponse(page, status_code=status_code))
    _set_cookie(request, response)
    return response


R = TypeVar("R", bound=Response)

# every page (and /docs): scripts, styles and requests only from the hub itself
CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; form-action 'self'; frame-ancestors 'none'"
)


def secure(response: R) -> R:
    """The pages' security headers: no caching, no framing, the CSP above."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = CSP
    response.headers["Referrer-Policy"] = "same-origin"
    return response
