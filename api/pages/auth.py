"""Staff sign-in and sign-out pages (``/login``, ``/logout``), CSRF-protected like every form."""

from __future__ import annotations

import threading
import time
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from api.pages import web
from api.pages.accounts import Staff

router = APIRouter(route_class=web.PagesRoute, include_in_schema=False)

FAILURES_ALLOWED = 5
LOCKOUT = 15 * 60.0  # seconds


class LoginThrottle:
    """Refuse sign-in for a user name after repeated wrong passwords (per process, in memory).

    Argon2 makes each guess slow; this bounds how many guesses a name can take per window.
    """

    def __init__(self, allowed: int = FAILURES_ALLOWED, window: float = LOCKOUT) -> None:
        self.allowed, self.window = allowed, window
        self._failures: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, username: str, now: float) -> list[float]:
        kept = [t for t in self._failures.get(username, []) if now - t < self.window]
        self._failures[username] = kept
        return kept

    def locked(self, username: str, now: float | None = None) -> bool:
        with self._lock:
            return len(self._recent(username, now or time.monotonic())) >= self.allowed

    def failed(self, username: str, now: float | None = None) -> None:
        with self._lock:
            self._recent(username, now or time.monotonic()).append(now or time.monotonic())

    def succeeded(self, username: str) -> None:
        with self._lock:
            self._failures.pop(username, None)


def _throttle(request: Request) -> LoginThrottle:
    return web.cached(request, "pages_login_throttle", lambda _s: LoginThrottle())  # type: ignore[no-any-return]


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
    name = username.strip()
    throttle = _throttle(request)
    if throttle.locked(name):
        return web.render(
            request,
            "login.html",
            {"next": web.safe_next(next), "error": "locked", "username": name},
            status_code=429,
        )
    staff = await run_in_threadpool(web.accounts(request).authenticate, name, password)
    if staff is None:
        throttle.failed(name)
        return web.render(
            request,
            "login.html",
            {"next": web.safe_next(next), "error": True, "username": username},
            status_code=401,
        )
    throttle.succeeded(name)
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
