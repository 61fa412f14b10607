"""Staff sign-in and sign-out pages (``/login``, ``/logout``), CSRF-protected like every form."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from api.pages import web
from api.pages.accounts import Staff

router = APIRouter(route_class=web.PagesRoute, include_in_schema=False)


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, _session: web.SessionDep, next: str = "/catalog") -> HTMLResponse:
    return web.render(request, "login.html", {"next": web.safe_next(next), "error": None})


@router.post("/login", response_class=HTMLResponse)
async def login(
    request: Request,
    _csrf: web.CsrfChecked,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/catalog",
) -> Response:
    """Check the password (argon2id); a new session id is issued on success."""
    accounts = web.accounts(request)
    staff = await run_in_threadpool(accounts.authenticate, username.strip(), password)
    if staff is None:
        return web.render(
            request,
            "login.html",
            {"next": web.safe_next(next), "error": True, "username": username},
            status_code=401,
        )
    web.start_session(request, staff)
    return web.redirect(request, web.safe_next(next))


@router.post("/logout")
def logout(request: Request, _csrf: web.CsrfChecked) -> Response:
    """End every session of this account (its session version moves on) and forget the cookie."""
    staff: Staff | None = web.signed_in(request)
    if staff is not None:
        web.accounts(request).end_sessions(staff.username)
    web.start_session(request, None)
    return web.redirect(request, "/login")
