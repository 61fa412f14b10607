"""Shared state of the API process and the dependencies handlers use (state, client, grants).

:class:`HubState` opens the services once per app and is reachable as ``app.state.hub``; the
ledger and licence services are opened on first use so an app that never touches them does not
pay for their keys.

:func:`require` is the one gate of the sharing API: it authenticates the client (``Authorization:
Bearer <key>``), reads the declared purpose (``X-Purpose``), applies the client's rate limit,
finds the client's live grants for the route's scope and purpose (403 if none), and writes the
audit row when the request ends, whatever its outcome. Handlers record the subject and the
fields they returned on the :class:`Access` it yields. Handlers take it through :func:`gate`,
which runs its exit before the response is sent, so the request waits for its audit row's
commit (group commit, :mod:`api.audit`) and answers 503 with no data if the audit fails.

The rate limit is a token bucket per client held in this process's memory: it is exact for the
one server process ``hub serve`` runs; replicas behind a load balancer each allow the full rate.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError

from api.audit import AuditWriteFailed
from api.clients import Client, ClientStore, Grant, RateLimiter
from api.problems import Problem
from hub.settings import Settings


@dataclass
class HubState:
    """The services one API process shares between requests."""

    settings: Settings
    ingest: Any  # hub.ingest.Hub: .objects, .library, .contracts
    clients: ClientStore
    audit: Any  # api.audit.AuditLog
    golden: Any = None  # api.records.GoldenReader: point reads of golden records
    limiter: RateLimiter = field(default_factory=RateLimiter)
    _ledger: Any = None
    _licences: Any = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _sequencing: bool = False

    @classmethod
    def open(cls, settings: Settings) -> HubState:
        from api.audit import AuditLog, subject_key
        from hub.ingest import Hub
        from storage.keys import EncryptedFileKeyStore

        hub = Hub.open(settings)
        keys = EncryptedFileKeyStore(settings.keys_path, settings.key_passphrase)
        from api.records import GoldenReader

        state = cls(settings, hub, ClientStore(hub.library.engine), None)
        state.golden = GoldenReader(hub.library.engine)
        from licence.store import LicenceStore

        LicenceStore(hub.library.engine)  # the licence index tables, on a fresh hub too
        state.audit = AuditLog(
            hub.library.engine, subject_key(keys), lambda data: state.ledger.append(data)
        )
        return state

    @property
    def library(self) -> Any:
        return self.ingest.library

    @property
    def ledger(self) -> Any:
        with self._lock:
            if self._ledger is None:
                from ledger.service import LedgerService

                self._ledger = LedgerService.open(self.settings)
            return self._ledger

    @property
    def licences(self) -> Any:
        with self._lock:
            if self._licences is None:
                from hub.commands.licence import open_service

                self._licences = open_service(self.settings)
            return self._licences

    def start_background(self, sequencer: bool = True) -> None:
        """Digest audit rows every ``settings.audit_interval`` s and (optionally) run the
        ledger's batch sequencer so digests reach a signed checkpoint."""
        self.audit.start(self.settings.audit_interval)
        if sequencer:
            self.ledger.start()
            self._sequencing = True

    def close(self) -> None:
        """Stop periodic work and commit the audit rows still queued."""
        self.audit.stop()
        if self._sequencing:
            self.ledger.stop()
            self._sequencing = False


async def hub_state(request: Request) -> HubState:
    """Dependency: the app's :class:`HubState` (async: no thread-pool hop per request)."""
    state: HubState = request.app.state.hub
    return state


@dataclass
class Access:
    """One authorised request: who, why, under which grants; what it touched (for the audit)."""

    client: Client
    purpose: str
    scope: str
    grants: list[Grant]
    state: HubState
    subject: str | None = None
    fields: set[str] = field(default_factory=set)
    outcome: str = "ok"
    status: int = 200
    # batch requests: one audit row per subject with the fields returned for it
    subjects: list[tuple[str, set[str], str]] = field(default_factory=list)

    def touch(self, subject: str, fields: Iterable[str] = (), outcome: str = "ok") -> None:
        """Record one subject of a batch for the audit."""
        self.subjects.append((subject, set(fields), outcome))

    def granted(self, names: Iterable[str]) -> list[str]:
        """The subset of ``names`` some live grant of this request allows."""
        return [n for n in names if any(g.allows(n) for g in self.grants)]

    def allows(self, name: str) -> bool:
        return any(g.allows(name) for g in self.grants)


BEARER_SCHEME = {
    "apiKey": {
        "type": "http",
        "scheme": "bearer",
        "description": "the client's API key (`hub client add` prints it once)",
    }
}


def _bearer(request: Request) -> str | None:
    # parsed here rather than through fastapi.security.HTTPBearer: one dependency less on the
    # hottest path; api.app documents the scheme on every operation that declares X-Purpose
    value = request.headers.get("authorization", "")
    scheme, _, token = value.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


PURPOSE_PARAMETER = {
    "name": "X-Purpose",
    "in": "header",
    "required": True,
    "description": "the declared purpose of this request; must match a grant's purpose",
    "schema": {"type": "string", "minLength": 1, "maxLength": 64},
    "example": "social-assistance-review",
}


def require(scope: str) -> Callable[..., AsyncIterator[Access]]:
    """Dependency factory: authenticate, rate-limit, authorise ``scope`` and audit."""

    async def dependency(request: Request) -> AsyncIterator[Access]:
        state: HubState = request.app.state.hub
        route = getattr(request.scope.get("route"), "path", request.url.path)
        method = request.method
        # X-Purpose and the bearer key are read here, not declared as FastAPI parameters: each
        # declared parameter costs a per-request annotation walk in FastAPI; api.app adds both
        # to the OpenAPI document of every gated operation (api.app._document_bearer)
        declared = request.headers.get("x-purpose", "").strip()

        async def audit(client_id: str, outcome: str, status: int, access: Access | None) -> None:
            """Write the request's audit rows and return once they are committed (503 if not)."""
            log = state.audit
            if access is not None and access.subjects:
                rows = [
                    log.row(
                        client_id=client_id,
                        purpose=declared,
                        method=method,
                        route=route,
                        subject=subject,
                        fields=fields if status < 400 else (),
                        outcome=result if status < 400 else outcome,
                        status=status,
                    )
                    for subject, fields, result in access.subjects
                ]
            else:
                # a refused request still names its subject when the path holds it, so "who
                # tried to look at my data" includes refusals
                path_subject = request.path_params.get("id") or request.path_params.get("uscc")
                rows = [
                    log.row(
                        client_id=client_id,
                        purpose=declared or "-",
                        method=method,
                        route=route,
                        subject=access.subject if access and access.subject else path_subject,
                        fields=access.fields if access else (),
                        outcome=outcome,
                        status=status,
                    )
                ]
            try:
                await log.committed(log.submit(rows))
            except AuditWriteFailed:
                # no answer without its audit row: the data (or refusal) is withheld
                raise Problem(
                    503,
                    "audit-unavailable",
                    "the access audit could not be written, so no answer is given; retry later",
                    headers={"Retry-After": "5"},
                ) from None

        token = _bearer(request)
        client = state.clients.authenticate(token) if token else None
        if client is None:
            await audit("-", "unauthenticated", 401, None)
            raise Problem(
                401,
                "unauthenticated",
                "send a registered client's API key as 'Authorization: Bearer <key>'",
                headers={"WWW-Authenticate": "Bearer"},
            )
        rate = client.rate_limit or state.settings.api_rate_limit
        wait = state.limiter.take(client.client_id, rate)
        if wait > 0:
            await audit(client.client_id, "rate-limited", 429, None)
            raise Problem(
                429,
                "rate-limited",
                f"client {client.client_id!r} exceeds {rate:g} requests/s; retry later",
                headers={"Retry-After": str(max(1, round(wait + 0.5)))},
            )
        if not declared or len(declared) > 64:
            declared = declared[:64]
            await audit(client.client_id, "no-purpose", 400, None)
            raise Problem(
                400,
                "purpose-required",
                "declare the purpose of the request in 'X-Purpose' (1 to 64 characters)",
            )
        live = client.grants_for(scope, declared, datetime.now(UTC).replace(tzinfo=None))
        if not live:
            await audit(client.client_id, "denied", 403, None)
            raise Problem(
                403,
                "not-granted",
                f"client {client.client_id!r} holds no live grant of scope {scope!r} for "
                f"purpose {declared!r}",
            )
        access = Access(client, declared, scope, live, state)
        try:
            yield access
        except Problem as exc:
            access.fields = set()
            await audit(client.client_id, exc.kind, exc.status, access)
            raise
        except RequestValidationError:
            await audit(client.client_id, "invalid-request", 422, None)
            raise
        except Exception:
            access.fields = set()
            await audit(client.client_id, "error", 500, access)
            raise
        else:
            await audit(client.client_id, access.outcome, access.status, access)

    dependency.gate = True  # type: ignore[attr-defined]  # marks gated operations for OpenAPI
    return dependency


def gate(scope: str) -> Any:
    """``Depends(require(scope))`` for a handler parameter, with the gate's exit (the audit
    commit) run before the response is sent: FastAPI runs a request-scoped dependency's exit
    after the answer has left, which would let data out before its audit row is committed."""
    return Depends(require(scope), scope="function")
