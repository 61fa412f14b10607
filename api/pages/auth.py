"""Staff sign-in and sign-out pages (``/login``, ``/logout``), CSRF-protected like every form."""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from api.pages import web
from api.pages.accounts import Staff
from api.pages.throttle import (
    FAILURES_ALLOWED,
    FIRST_PAUSE,
    LONGEST_PAUSE,
    LoginThrottle,
    SharedLoginThrottle,
    Throttle,
)

router = APIRouter(route_class=web.PagesRoute, include_in_schema=False)

HASHING_AT_ONCE = 2  # argon2id verifications running together (64 MiB each)
HASHING_WAITING = 8  # sign-ins queued behind them; more are answered 503 at once


class HashingBusy(Exception):
    """Too many sign-ins are already waiting for a password check."""


class HashGate:
    """At most ``running`` password checks at once and ``waiting`` queued behind them.

    Each argon2id check takes 64 MiB and a core for a fraction of a second; without a cap a
    flood of sign-ins (real names or not) fills memory and starves every other request. A
    sign-in beyond the queue is answered at once (503 with Retry-After), not queued.
    """

    def __init__(self, running: int = HASHING_AT_ONCE, waiting: int = HASHING_WAITING) -> None:
        self.running, self.waiting = running, waiting
        self._slots = threading.BoundedSemaphore(running)
        self._admitted = 0
        self._lock = threading.Lock()

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one check slot (raises :class:`HashingBusy` if the queue is full)."""
        with self._lock:
            if self._admitted >= self.running + self.waiting:
                raise HashingBusy
            self._admitted += 1
        try:
            with self._slots:
                yield
        finally:
            with self._lock:
                self._admitted -= 1


def login_throttle(
    request: Request,
    scope: str,
    allowed: int = FAILURES_ALLOWED,
    first: float = FIRST_PAUSE,
    longest: float = LONGEST_PAUSE,
) -> Throttle:
    """The app's sign-in pauses for ``scope`` (one per kind of sign-in): shared through the
    hub's database when every instance reaches the same PostgreSQL, else in this process."""
    key = web.secret(request)  # read before web.cached takes its lock
    engine = request.app.state.hub.library.engine

    def build(_config: object) -> Throttle:
        if SharedLoginThrottle.suits(engine):
            return SharedLoginThrottle(engine, scope, key, allowed, first, longest)
        return LoginThrottle(allowed, first, longest)

    return web.cached(request, f"login_throttle_{scope}", build)  # type: ignore[no-any-return]


def _throttle(request: Request) -> Throttle:
    return login_throttle(request, "staff")


def _hash_gate(request: Request) -> HashGate:
    return web.cached(request, "pages_hash_gate", lambda _s: HashGate())  # type: ignore[no-any-return]


def _address(request: Request) -> str:
    return request.client.host if request.client else "-"


def _check(request: Request, name: str, password: str) -> Staff | None:
    with _hash_gate(request).slot():
        return web.accounts(request).authenticate(name, password)


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
    address = _address(request)
    throttle = _throttle(request)
    wait = throttle.wait(name, address)
    if wait > 0:
        return _paused(request, next, name, wait)
    try:
        staff = await run_in_threadpool(_check, request, name, password)
    except HashingBusy:
        response = web.render(
            request,
            "login.html",
            {"next": web.safe_next(next), "error": "busy", "username": name},
            status_code=503,
        )
        response.headers["Retry-After"] = "5"
        return response
    if staff is None:
        wait = throttle.failed(name, address)
        if wait > 0:
            return _paused(request, next, name, wait)
        return web.render(
            request,
            "login.html",
            {"next": web.safe_next(next), "error": True, "username": username},
            status_code=401,
        )
    throttle.succeeded(name, address)
    web.start_session(request, staff)
    return web.redirect(request, web.safe_next(next))


def _paused(request: Request, next_: str, name: str, wait: float) -> Response:
    seconds = max(1, math.ceil(wait))
    response = web.render(
        request,
        "login.html",
        {
            "next": web.safe_next(next_),
            "error": "locked",
            "username": name,
            "minutes": max(1, math.ceil(seconds / 60)),
        },
        status_code=429,
    )
    response.headers["Retry-After"] = str(seconds)
    return response


@router.post("/logout")
def logout(request: Request, _csrf: web.CsrfChecked) -> Response:
    """End every session of this account (its session version moves on) and forget the cookie."""
    staff: Staff | None = web.signed_in(request)
    if staff is not None:
        web.accounts(request).end_sessions(staff.username)
    web.start_session(request, None)
    return web.redirect(request, "/login")
