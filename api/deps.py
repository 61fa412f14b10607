"""The dependencies handlers use: the app's state, the client, its grants, the audit gate.

:class:`api.state.HubState` (its dependency: :func:`api.state.hub_state`) is the state one API
process shares, reachable as ``app.state.hub``.

:func:`require` is the one gate of the sharing API: it authenticates the client (``Authorization:
Bearer <key>``), reads the declared purpose (``X-Purpose``), applies the client's rate limit,
finds the client's live grants for the route's scope and purpose (403 if none), and writes the
audit row when the request ends, whatever its outcome. Handlers record the subject and the
fields they returned on the :class:`Access` it yields. Handlers take it through :func:`gate`,
which runs its exit before the response is sent, so the request waits for its audit row's
commit (group commit, :mod:`api.audit`) and answers 503 with no data if the audit fails.
The gate's two halves are :func:`admit` and :func:`conclude`; operations whose only inputs are
path and query parameters (the record reads) are answered by
:class:`api.gated.GatedOperation`, which calls them directly instead of going through FastAPI's
dependency solving (same checks, same audit).

Authentication compares the SHA-256 of the presented key with the stored hash; the resolved
client and its grants are cached by :class:`api.clients.ClientStore` for ``cache_seconds``
(2 s), so a revocation or a grant change made in another process (``hub client revoke``,
``hub client grant``) takes effect within 2 s, and one made through the same store at once.
Grant expiry is checked on every request.

The rate limit is a token bucket per client: on PostgreSQL a row of the hub's database
(:class:`api.ratelimit.SharedRateLimiter`), so it holds across every instance behind a load
balancer; on the embedded SQLite tier (one process) in this process's memory. The client/grant
cache and the per-address budgets below stay per instance (a revocation reaches every instance
within the cache's 2 s; an address gets each instance's budget).
A batch costs one token per subject. Requests without a valid key are held to a per-address
budget (``HUB_API_STRANGER_RATE``) before any key is looked up, and audited as
``anon@<address>`` without a subject. ``X-Purpose`` must be a registered purpose code
(:mod:`api.purposes`; 400 naming the client's purposes otherwise). Every row of a request is
written under the normalised subjects it names (path or JSON body: full-width folded, 15-digit
resident IDs upgraded), refusals included.
"""

from __future__ import annotations

import time
from collections.abc import (
    AsyncIterator,
    Callable,
    Iterable,
    Mapping,
    MutableMapping,
)
from dataclasses import dataclass, field
from typing import Any

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.audit import Attached, AuditWriteFailed, RecordWriteFailed
from api.clients import Client, Grant, Permit
from api.problems import Problem
from api.purposes import Purposes
from api.state import HubState

# at most one audit row per address per this many seconds for requests refused by the
# address limit: the audit records that a flood happened, not each request of it
NOTE_EVERY = 60.0


@dataclass
class Access:
    """One authorised request: who, why, under which grants; what it touched (for the audit)."""

    client: Client
    purpose: str
    scope: str
    permit: Permit
    state: HubState
    subject: str | None = None
    fields: set[str] = field(default_factory=set)
    outcome: str = "ok"
    status: int = 200
    # batch requests: one audit row per subject with the fields returned for it
    subjects: list[tuple[str, set[str], str]] = field(default_factory=list)
    # the subjects the request names (path or body), normalised: for the audit of a failure
    named: list[str] | None = None
    # what the answer must leave behind (e.g. a claim's receipt): written in the transaction
    # of the request's audit rows if it succeeds (:meth:`api.audit.AuditLog.submit`)
    attach: Attached | None = None

    @property
    def grants(self) -> tuple[Grant, ...]:
        """The client's live grants of this request's scope for its declared purpose."""
        return self.permit.grants

    def touch(self, subject: str, fields: Iterable[str] = (), outcome: str = "ok") -> None:
        """Record one subject of a batch for the audit."""
        self.subjects.append((subject, set(fields), outcome))

    def granted(self, names: Iterable[str]) -> list[str]:
        """The subset of ``names`` some live grant of this request allows."""
        allows = self.permit.allows
        return [n for n in names if allows(n)]

    def allows(self, name: str) -> bool:
        return self.permit.allows(name)


# identifiers in paths, queries and bodies: no control characters (PostgreSQL refuses NUL in
# text, and no identifier holds one): such a request is a 422, not a database error
PRINTABLE = r"^[^\x00-\x1f\x7f]+$"


BEARER_SCHEME = {
    "apiKey": {
        "type": "http",
        "scheme": "bearer",
        "description": "the client's API key (`hub client add` prints it once)",
    }
}


PURPOSE_PARAMETER = {
    "name": "X-Purpose",
    "in": "header",
    "required": True,
    "description": (
        "the declared purpose of this request: a registered purpose code (`hub client "
        "purposes`) that one of the client's grants names"
    ),
    "schema": {"type": "string", "minLength": 1, "maxLength": 64},
    "example": "social-assistance-review",
}


def _credentials(scope: Mapping[str, Any]) -> tuple[str | None, bytes]:
    """The bearer API key (None if absent) and the declared purpose (raw bytes) of a request.

    Read straight from the ASGI header list (names arrive in lower case) rather than through
    ``fastapi.security.HTTPBearer`` and declared ``Header`` parameters: those cost a dependency
    and an annotation walk per request on the hottest path; :mod:`api.app` documents both on
    every gated operation.
    """
    authorization = purpose = b""
    for name, value in scope["headers"]:
        # the first of a repeated header counts, as with starlette's Headers.get
        if name == b"authorization":
            authorization = authorization or value
        elif name == b"x-purpose":
            purpose = purpose or value
    kind, _, token = authorization.decode("latin-1").partition(" ")
    key = token.strip() or None if kind.lower() == "bearer" else None
    return key, purpose.strip()


def address(scope: Mapping[str, Any]) -> str:
    """The network address a request came from (the peer of the connection)."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def anonymous(scope: Mapping[str, Any]) -> str:
    """The audit's client column for a request without a client: ``anon@<address>``."""
    return f"anon@{address(scope)}"[:64]


ENTITY_SCOPES = ("legal-entity", "verify-entity")


def audit_subject(scope: str, raw: str) -> str:
    """The normalised subject a request names (trimmed, upper case, full-width folded, 15-digit
    resident IDs upgraded), so every form of one ID lands on the same audit rows."""
    from schemas.library import subject_key
    from storage.library import LEGAL_ENTITY, POPULATION

    return subject_key(LEGAL_ENTITY if scope in ENTITY_SCOPES else POPULATION, raw)


def _path_subject(request: Request, scope: str) -> str | None:
    params = request.scope.get("path_params") or {}
    raw = params.get("id") or params.get("uscc")
    if not isinstance(raw, str) or not raw or len(raw) > 32 or scope == "datasets":
        return None
    return audit_subject(scope, raw)


def _body_subjects(request: Request, scope: str) -> list[str] | None:
    """The subjects a JSON request body names (``id``/``uscc``/``subject``/``applicant``,
    ``ids``, ``items``), normalised; None if the body names none (or is not JSON FastAPI has
    read)."""
    import json

    body = getattr(request, "_body", None)
    if not body or request.method != "POST" or scope == "datasets":
        return None
    # the document the handler's body was parsed into (starlette keeps it), else parsed here
    doc = getattr(request, "_json", _UNREAD)
    if doc is _UNREAD:
        try:
            doc = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return None
    if not isinstance(doc, dict):
        return None
    raws: list[Any]
    if isinstance(doc.get("ids"), list):
        raws = doc["ids"]
    elif isinstance(doc.get("subjects"), list):  # claims batch
        raws = doc["subjects"]
    elif isinstance(doc.get("items"), list):
        raws = [i.get("id") or i.get("uscc") if isinstance(i, dict) else None for i in doc["items"]]
    else:
        raws = [doc.get("id") or doc.get("uscc") or doc.get("subject") or doc.get("applicant")]
    found = [
        audit_subject(scope, r)
        for r in raws[:MAX_SUBJECTS]
        if isinstance(r, str) and 0 < len(r) <= 32
    ]
    return found or None


MAX_SUBJECTS = 1000  # the largest batch (api.routers.batch)
_UNREAD = object()


async def _audit(
    request: Request,
    route: str,
    purpose: str,
    client_id: str,
    outcome: str,
    status: int,
    access: Access | None,
    subjects: list[str] | None = None,
    attach: Attached | None = None,
) -> None:
    """Write a request's audit rows and return once they are committed (503 if they are not),
    with ``attach`` (the answer's own record) in the same transaction.

    The subjects are those the handler recorded (``access``), else those the request names
    (``subjects``: its path or JSON body, normalised), so a refusal is found under the subject
    whatever form the request wrote it in; a request without a client passes none.
    """
    state: HubState = request.app.state.hub
    log = state.audit
    method = request.method
    if access is not None and access.subjects:
        rows = [
            log.row(
                client_id,
                purpose,
                method,
                route,
                subject,
                fields if status < 400 else (),
                result if status < 400 else outcome,
                status,
            )
            for subject, fields, result in access.subjects
        ]
    else:
        named: list[str | None] = [None]
        if access is not None and access.subject:
            named = [access.subject]
        elif subjects:
            named = list(subjects)
        rows = [
            log.row(
                client_id,
                purpose or "-",
                method,
                route,
                subject,
                access.fields if access else (),
                outcome,
                status,
            )
            for subject in named
        ]
    try:
        await log.committed(log.submit(rows, attach))
    except RecordWriteFailed:
        # no answer without what it must leave behind (a claim's receipt)
        raise Problem(
            503,
            "record-unavailable",
            "the answer's record (its receipt) could not be written, so no answer is given; "
            "retry later",
            headers={"Retry-After": "5"},
        ) from None
    except AuditWriteFailed:
        # no answer without its audit row: the data (or refusal) is withheld
        raise Problem(
            503,
            "audit-unavailable",
            "the access audit could not be written, so no answer is given; retry later",
            headers={"Retry-After": "5"},
        ) from None


def _retry_after(wait: float) -> dict[str, str]:
    return {"Retry-After": str(max(1, round(wait + 0.5)))}


async def limit_address(
    request: Request,
    route: str,
    rate: float,
    outcome: str,
    *,
    charge: bool,
    bucket: str = "key",
    burst: float | None = None,
) -> None:
    """Refuse (429) a request from an address over ``rate`` per second, before anything else
    is done for it. ``charge``: this request counts (else it is only checked, and counted by
    :func:`charge_address` if it fails). Refusals are audited at most once per address per
    ``NOTE_EVERY`` seconds, without a subject."""
    state: HubState = request.app.state.hub
    key = f"{bucket}:{address(request.scope)}"
    limiter = state.strangers
    wait = limiter.take(key, rate, burst=burst) if charge else limiter.waiting(key, rate, burst)
    if wait <= 0:
        return
    now = time.monotonic()
    if now - state._noted.get(key, -NOTE_EVERY) >= NOTE_EVERY:
        if len(state._noted) > 10_000:
            state._noted.clear()
        state._noted[key] = now
        await _audit(request, route, "-", anonymous(request.scope), outcome, 429, None)
    raise Problem(
        429,
        "rate-limited",
        f"too many requests from this address (limit {rate:g}/s); retry later",
        headers=_retry_after(wait),
    )


async def admit_public(
    scope: MutableMapping[str, Any], route: str, licence_id: str | None, send: Any
) -> Any:
    """Admit a public look-up (no key) from its address's budget; returns the ``send`` that
    commits its audit row (``anon@<address>``, the licence id named as subject, the status)
    before the answer starts, or answers 503 instead if the row cannot be written. Raises the
    429 :class:`Problem` for an address over ``public_rate``."""
    request = Request(scope)
    state: HubState = request.app.state.hub
    await limit_address(
        request,
        route,
        state.public_rate,
        "public-limited",
        charge=True,
        bucket="public",
        burst=state.public_burst,
    )
    log = state.audit
    withheld = False

    async def sending(message: Any) -> None:
        nonlocal withheld
        if withheld:
            return
        if message["type"] == "http.response.start":
            status = int(message["status"])
            row = log.row(
                anonymous(scope), "-", request.method, route, licence_id, (), "public", status
            )
            try:
                await log.committed(log.submit([row]))
            except AuditWriteFailed:
                withheld = True
                from api.problems import problem_response

                answer = problem_response(
                    scope,
                    503,
                    "audit-unavailable",
                    "the access audit could not be written, so no answer is given; retry later",
                    {"Retry-After": "5"},
                )
                await answer(scope, _nothing, send)
                return
        await send(message)

    return sending


async def _nothing() -> dict[str, Any]:
    return {"type": "http.disconnect"}


def _purpose_refusal(client: Client, raw: bytes, purposes: Purposes) -> Problem:
    """400 for an ``X-Purpose`` that is not a registered code, naming the client's purposes."""
    mine = [purposes.label(p) for p in client.purposes() if p in purposes]
    listed = "; ".join(mine) if mine else "none (ask for a grant: `hub client grant`)"
    hint = ""
    text = raw.decode("utf-8", "replace")
    code = purposes.resolve(text) if text else None
    if code is not None and code != text:
        hint = f" (send the code {code!r}, not its title)"
    shown = text[:64] if text.isprintable() else repr(text[:64])
    return Problem(
        400,
        "unregistered-purpose",
        f"X-Purpose {shown!r} is not a registered purpose code{hint}; this client's purposes: "
        f"{listed}",
    )


async def admit(request: Request, scope: str, route: str) -> Access:
    """Address limit, authentication, rate limit and authorisation of one request for
    ``scope`` in a single call.

    Returns the :class:`Access` the handler fills in; a refused request has its audit row
    committed and raises the :class:`Problem` to answer (401, 429, 400 or 403). An address
    whose requests keep failing authentication is refused (429) before its key is looked up;
    requests without a valid key are audited under ``anon@<address>`` and no subject (a
    stranger cannot write into a citizen's "who looked at me" trail). Refusals of an
    authenticated client are audited under every subject the request names.
    """
    state: HubState = request.app.state.hub
    token, raw_purpose = _credentials(request.scope)
    client = state.clients.known(token) if token else None
    if client is None:
        # an address over its budget gets no key look-up (a client this process has just
        # seen, e.g. behind the same NAT, still does: it is answered from memory)
        await limit_address(request, route, state.stranger_rate, "address-limited", charge=False)
        client = state.clients.authenticate(token) if token else None
    if client is None:
        state.strangers.take(f"key:{address(request.scope)}", state.stranger_rate)
        await _audit(request, route, "-", anonymous(request.scope), "unauthenticated", 401, None)
        raise Problem(
            401,
            "unauthenticated",
            "send a registered client's API key as 'Authorization: Bearer <key>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    cid = client.client_id
    path_subject = _path_subject(request, scope)
    subjects = [path_subject] if path_subject else _body_subjects(request, scope)
    declared = raw_purpose.decode("ascii", "replace") if raw_purpose.isascii() else ""
    purpose = declared if declared in state.purposes else "-"
    rate = client.rate_limit or state.config.rate_limit
    # a batch counts one per subject
    wait = state.limiter.take(cid, rate, max(1, len(subjects or ())))
    if wait > 0:
        await _audit(request, route, purpose, cid, "rate-limited", 429, None, subjects)
        raise Problem(
            429,
            "rate-limited",
            f"client {cid!r} exceeds {rate:g} requests/s (a batch counts each subject); "
            "retry later",
            headers=_retry_after(wait),
        )
    if not raw_purpose:
        await _audit(request, route, "-", cid, "no-purpose", 400, None, subjects)
        raise Problem(
            400,
            "purpose-required",
            "declare the purpose of the request in 'X-Purpose' (a registered purpose code)",
        )
    if purpose == "-":
        await _audit(request, route, "-", cid, "unregistered-purpose", 400, None, subjects)
        raise _purpose_refusal(client, raw_purpose, state.purposes)
    permit = client.permit(scope, purpose)
    if permit is None:
        await _audit(request, route, purpose, cid, "denied", 403, None, subjects)
        raise Problem(
            403,
            "not-granted",
            f"client {cid!r} holds no live grant of scope {scope!r} for purpose "
            f"{state.purposes.label(purpose)}",
        )
    return Access(client, purpose, scope, permit, state, named=subjects)


async def conclude(
    request: Request, route: str, access: Access, error: BaseException | None
) -> None:
    """Audit how an admitted request ended (``error``: what the handler raised, if anything);
    returns once the rows are committed, raises the 503 :class:`Problem` if they cannot be."""
    cid = access.client.client_id
    named = access.named
    if error is None:
        status, attach = access.status, access.attach
        await _audit(
            request, route, access.purpose, cid, access.outcome, status, access, None, attach
        )
    elif isinstance(error, Problem):
        access.fields = set()
        await _audit(request, route, access.purpose, cid, error.kind, error.status, access, named)
    elif isinstance(error, StarletteHTTPException):  # e.g. the gateway's 413 mid-stream
        access.fields = set()
        outcome = "too-large" if error.status_code == 413 else f"http-{error.status_code}"
        await _audit(request, route, access.purpose, cid, outcome, error.status_code, access, named)
    elif isinstance(error, RequestValidationError):
        named = named or _body_subjects(request, access.scope)
        await _audit(request, route, access.purpose, cid, "invalid-request", 422, None, named)
    else:
        access.fields = set()
        await _audit(request, route, access.purpose, cid, "error", 500, access, named)


def require(scope: str) -> Callable[..., AsyncIterator[Access]]:
    """Dependency factory: authenticate, rate-limit, authorise ``scope`` and audit."""

    async def dependency(request: Request) -> AsyncIterator[Access]:
        route = getattr(request.scope.get("route"), "path", request.url.path)
        access = await admit(request, scope, route)
        try:
            yield access
        except Exception as exc:
            await conclude(request, route, access, exc)
            raise
        else:
            await conclude(request, route, access, None)

    dependency.gate = True  # type: ignore[attr-defined]  # marks gated operations for OpenAPI
    dependency.scope = scope  # type: ignore[attr-defined]  # read by api.gated.GatedOperation
    return dependency


def gate(scope: str) -> Any:
    """``Depends(require(scope))`` for a handler parameter, with the gate's exit (the audit
    commit) run before the response is sent: FastAPI runs a request-scoped dependency's exit
    after the answer has left, which would let data out before its audit row is committed."""
    return Depends(require(scope), scope="function")
