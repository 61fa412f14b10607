"""Staff sign-in and sign-out pages (``/login``, ``/logout``), CSRF-protected like every form."""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from api.pages import web
from api.pages.accounts import Staff

router = APIRouter(route_class=web.PagesRoute, include_in_schema=False)

FAILURES_ALLOWED = 5  # wrong passwords from one address for one name before the first pause
FIRST_PAUSE = 60.0  # seconds; doubled with each further failure while paused ...
LONGEST_PAUSE = 15 * 60.0  # ... up to this
FORGET_AFTER = 24 * 3600.0  # a (name, address) quiet this long starts afresh
MAX_TRACKED = 10_000  # (name, address) pairs remembered; the least recently used goes first
HASHING_AT_ONCE = 2  # argon2id verifications running together (64 MiB each)
HASHING_WAITING = 8  # sign-ins queued behind them; more are answered 503 at once


@dataclass
class _Failures:
    count: int
    last: float
    until: float  # no attempt accepted before this (monotonic seconds)


class LoginThrottle:
    """Pause sign-in for a (user name, client address) pair after repeated wrong passwords.

    The pause is per pair, so a stranger's wrong guesses lock the name *for the stranger's
    address* only: the account's owner, signing in from their own desk, is not locked out.
    After ``allowed`` failures the pair waits ``first`` seconds, and each further failure
    doubles the wait up to ``longest``. State is bounded: at most ``max_tracked`` pairs (least
    recently used evicted first) and each forgotten after ``forget`` quiet seconds, so a flood
    of made-up names cannot grow memory.
    """

    def __init__(
        self,
        allowed: int = FAILURES_ALLOWED,
        first: float = FIRST_PAUSE,
        longest: float = LONGEST_PAUSE,
        forget: float = FORGET_AFTER,
        max_tracked: int = MAX_TRACKED,
    ) -> None:
        self.allowed, self.first, self.longest = allowed, first, longest
        self.forget, self.max_tracked = forget, max_tracked
        self._pairs: OrderedDict[tuple[str, str], _Failures] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._pairs)

    def _get(self, key: tuple[str, str], now: float) -> _Failures | None:
        found = self._pairs.get(key)
        if found is not None and now - found.last > self.forget:
            del self._pairs[key]
            return None
        return found

    def wait(self, username: str, address: str, now: float | None = None) -> float:
        """Seconds before this pair may try again (0.0: it may try now)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            found = self._get((username, address), now)
            return max(0.0, found.until - now) if found is not None else 0.0

    def failed(self, username: str, address: str, now: float | None = None) -> float:
        """Record a wrong password; returns the pause that now applies (0.0: none yet)."""
        now = time.monotonic() if now is None else now
        key = (username, address)
        with self._lock:
            found = self._get(key, now) or _Failures(0, now, now)
            found.count += 1
            found.last = now
            over = found.count - self.allowed
            if over >= 0:
                found.until = now + min(self.longest, self.first * 2.0**over)
            self._pairs[key] = found
            self._pairs.move_to_end(key)
            while len(self._pairs) > self.max_tracked:
                self._pairs.popitem(last=False)
            return max(0.0, found.until - now)

    def succeeded(self, username: str, address: str) -> None:
        with self._lock:
            self._pairs.pop((username, address), None)


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


def _throttle(request: Request) -> LoginThrottle:
    return web.cached(request, "pages_login_throttle", lambda _s: LoginThrottle())  # type: ignore[no-any-return]


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
