"""The gateway in front of every route (an ASGI middleware, :class:`Gateway`).

- **Body size, while streaming.** Each route has a body limit (:func:`body_limit`): a request
  whose ``Content-Length`` is over it is refused (413) before a byte is read, and one without
  (chunked) is cut off as soon as the bytes received cross it, so no route ever buffers more
  than its limit.
- **Public look-ups.** ``GET /verify?id=…&d=…`` (the QR code's link) and ``POST
  /v1/licences/verify`` need no key: they are rate-limited per network address
  (``HubState.public_rate``) and each is audited as ``anon@<address>``, under the licence id
  it names (never a citizen's ID number), with the status it got; the row is committed before
  the answer leaves, as for the sharing API.
- **No caching of personal data.** Every answer under ``/v1/`` and ``/csc/`` carries
  ``Cache-Control: no-store``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

from starlette.exceptions import HTTPException

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

MiB = 1024 * 1024
ENVELOPE = 64 * 1024  # multipart boundaries and part headers around a file
DEFAULT_LIMIT = 2 * MiB  # JSON bodies: a batch of 1,000 claims is well under 1 MiB
UPLOAD_LIMIT = 512 * MiB  # POST /v1/datasets/{id}/uploads (and the catalog's upload form)
LICENCE_LIMIT = 20 * MiB  # POST /v1/licences/verify
# POST /verify (the page's drop zone): the page refuses files over 10 MiB itself, with a
# verdict a clerk reads; past this the gateway answers 413 without reading further
PAGE_VERIFY_LIMIT = 32 * MiB
MATERIAL_LIMIT = 10 * MiB  # POST /v1/materials (sharing.materials.MAX_BYTES)
WITNESS_LIMIT = 64 * 1024  # POST /v1/witness/add-checkpoint (C2SP: 63 hashes and a checkpoint)
PRIVATE_PREFIXES = ("/v1/", "/csc/")
PUBLIC_ROUTES = {("GET", "/verify"), ("POST", "/v1/licences/verify")}


class BodyTooLarge(HTTPException):
    """The request body crossed its route's limit (answered 413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is over this route's limit of {limit} bytes")
        self.limit = limit


def body_limit(method: str, path: str) -> int:
    """The most bytes a request body to ``path`` may have."""
    if method == "POST" and path.startswith("/v1/datasets/") and path.endswith("/uploads"):
        return UPLOAD_LIMIT + ENVELOPE
    if method == "POST" and path.startswith("/catalog/") and path.endswith("/upload"):
        return UPLOAD_LIMIT + ENVELOPE
    if path == "/v1/licences/verify":
        return LICENCE_LIMIT + ENVELOPE
    if path == "/verify":
        return PAGE_VERIFY_LIMIT + ENVELOPE
    if method == "POST" and path == "/v1/materials":
        return MATERIAL_LIMIT + ENVELOPE
    if path == "/v1/witness/add-checkpoint":
        return WITNESS_LIMIT
    return DEFAULT_LIMIT


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value)
    return None


def _public(scope: Scope) -> tuple[str, str | None] | None:
    """(route, licence id named) of a public look-up, or None for any other request."""
    method, path = scope["method"], scope["path"]
    if (method, path) not in PUBLIC_ROUTES:
        return None
    if method == "GET":
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        lid = (query.get("id") or [""])[0]
        if not (lid and (query.get("d") or [""])[0]):
            return None  # the empty form: nothing is looked up
        return path, lid[:128]
    return path, None


class Gateway:
    """ASGI middleware: body limits, public look-up limits and audit, ``no-store``."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        from api.problems import problem_response

        limit = body_limit(scope["method"], scope["path"])
        declared = _header(scope, b"content-length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                size = -1
            if size < 0 or size > limit:
                status, kind = (413, "too-large") if size > limit else (400, "bad-length")
                detail = (
                    f"the request body is over this route's limit of {limit} bytes"
                    if status == 413
                    else "Content-Length is not a number of bytes"
                )
                await problem_response(scope, status, kind, detail)(scope, receive, send)
                return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        private = scope["path"].startswith(PRIVATE_PREFIXES)
        public = _public(scope)
        outgoing: Send = send
        if private:
            outgoing = _no_store(send)
        if public is not None:
            from api.deps import admit_public
            from api.problems import Problem

            try:
                outgoing = await admit_public(scope, public[0], public[1], outgoing)
            except Problem as refused:
                response = problem_response(
                    scope, refused.status, refused.kind, refused.detail, refused.headers
                )
                await response(scope, receive, _no_store(send))
                return
        started = False

        async def tracking(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await outgoing(message)

        try:
            await self.app(scope, limited, tracking)
        except BodyTooLarge as exc:
            if started:
                raise
            too_large = problem_response(scope, 413, "too-large", exc.detail)
            await too_large(scope, receive, tracking)


def _no_store(send: Send) -> Send:
    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = [(k, v) for k, v in message.get("headers", []) if k != b"cache-control"]
            headers.append((b"cache-control", b"no-store"))
            message["headers"] = headers
        await send(message)

    return sending
