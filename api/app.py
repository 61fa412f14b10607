"""Application factory: one FastAPI app built from the services it is handed, one router each.

Each resource lives in its own module exposing ``router`` (a ``fastapi.APIRouter``), imported
here and listed once in :data:`ROUTERS`; to add a router, import its module and add it there.
(``hub --help`` never imports this module: ``hub serve`` does, when it runs.)

What other routers (pages, licence verification, cloud signature) may use from ``app.state``:

- ``app.state.config`` — the :class:`api.state.ApiConfig` the app was built with (plain values
  from the hub's settings; the API never reads the settings itself).
- ``app.state.hub`` — an :class:`api.state.HubState`, the shared services, opened once:
  ``.library`` (:class:`storage.library.LibraryStore`), ``.ingest``
  (:class:`pipeline.services.IngestServices`: objects, library, contracts), ``.clients``
  (:class:`api.clients.ClientStore`), ``.audit``
  (:class:`api.audit.AuditLog`), ``.golden`` (:class:`api.records.GoldenReader`), ``.limiter``,
  ``.ledger`` (:class:`ledger.service.LedgerService`, opened on first use) and ``.licences``
  (the licence service, opened on first use).
- ``app.state.holder_side`` — the holder's sessions, holder apps, presentations and the
  companies' agents (:func:`api.routers.presentations.holder_side`, built on first use).

In a handler, depend on ``api.state.hub_state`` (``state: HubState = Depends(hub_state)``); for a
client-system endpoint take ``api.deps.gate(scope)`` (``access: Annotated[Access,
gate("population")]``): it authenticates the bearer API key, applies the rate limit, checks the
declared ``X-Purpose`` against the client's live grants of that scope (403 otherwise), and writes
one audit row when the request ends, committed before the response is sent (503 if it cannot
be); set ``access.subject`` and ``access.fields`` so the row says what was disclosed. Gated
operations get the bearer scheme, the ``X-Purpose`` header and the 503 answer in the OpenAPI
document automatically. Errors are RFC 9457 problem documents
(:mod:`api.problems`): raise ``api.problems.Problem(status, kind, detail)``.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter

from api import csc, licence_verify, pages
from api.pages import access as access_page
from api.pages import disputes as dispute_pages
from api.pages import governance as governance_page
from api.pages import me, me_agents, me_data, me_redeem, publisher
from api.pages import policies as policy_pages
from api.routers import (
    access,
    batch,
    catalog,
    claims,
    datasets,
    disputes,
    entities,
    findings,
    forms,
    governance,
    health,
    holders,
    ledger,
    licences,
    lifecycle,
    materials,
    meta,
    persons,
    policies,
    presentations,
    status_lists,
    trust,
    verify,
    witness,
)
from api.state import ApiServices

# every router the app serves, in order
ROUTERS: tuple[APIRouter, ...] = (
    meta.router,
    health.router,
    persons.router,
    entities.router,
    verify.router,
    claims.router,
    forms.router,
    policies.router,
    materials.router,
    holders.router,
    presentations.router,
    batch.router,
    ledger.router,
    witness.router,
    status_lists.router,
    trust.router,
    datasets.router,
    catalog.router,
    access.router,
    findings.router,
    disputes.router,
    pages.router,
    me.router,
    me_agents.router,
    me_data.router,
    me_redeem.router,
    publisher.router,
    dispute_pages.router,
    governance_page.router,
    policy_pages.router,
    access_page.router,
    csc.router,
    licence_verify.router,
    licences.router,
    lifecycle.router,
    governance.router,
)


def create_app(services: ApiServices, *, background: bool = True) -> Any:
    """The FastAPI application serving ``services`` (built by ``hub.wiring.api_services``;
    state shared through ``app.state``).

    ``background`` runs the periodic audit digest (and the ledger sequencer) while the app is
    served; tests build the app without them and trigger digests on demand.
    """
    from fastapi import FastAPI

    from api import problems
    from api.state import HubState

    state = HubState.open(services)

    @asynccontextmanager
    async def lifespan(_app: Any) -> Any:
        if background:
            state.start_background()
        try:
            yield
        finally:
            state.close()

    app = FastAPI(
        title="Data sharing hub and e-licence ledger",
        version="0.1.0",
        description=(
            "Verified records for approval systems (材料免提交), yes/no verification "
            "(数据共享核验), electronic licences, seals and cloud signatures, anchored on a "
            "tamper-evident ledger.\n\n"
            "Client systems authenticate with `Authorization: Bearer <api key>` and declare the "
            "purpose of every request in the `X-Purpose` header; answers hold only the fields "
            "granted to the client for that purpose, and every request is audited: no answer "
            "is sent before its audit row is committed, and if the audit cannot be written the "
            "request gets 503 and no data. Errors are RFC 9457 problem documents "
            "(`application/problem+json`).\n\n"
            "Each client has a rate limit (requests/s, bursts up to twice that; 429 with "
            "`Retry-After` beyond it). On PostgreSQL it is counted in the hub's database, so "
            "it holds across every instance behind a load balancer; on the embedded SQLite "
            "tier (one process) in the server's memory.\n\n"
            "Load balancers probe `GET /v1/health/live` (the process answers) and "
            "`GET /v1/health/ready` (database, object store, ledger queue; 503 naming the "
            "failing part)."
        ),
        lifespan=lifespan,
        responses=problems.responses(500),
        # /docs is served by api.pages.docs from the hub's own files (FastAPI's loads a CDN)
        docs_url=None,
        redoc_url=None,
    )
    app.state.config = services.config
    app.state.hub = state
    problems.install(app)
    from api.gateway import Gateway

    app.add_middleware(Gateway)  # body limits, public look-ups' limit and audit, no-store
    for router in ROUTERS:
        app.include_router(router)
    _document_bearer(app)
    _serve_gated_directly(app)
    return app


def _gated(dependant: Any) -> bool:
    return any(
        getattr(d.call, "gate", False) or _gated(d) for d in getattr(dependant, "dependencies", [])
    )


def _check_function_scope(dependant: Any, path: str) -> None:
    """Refuse to build an app whose gate would audit after answering (see api.deps.gate)."""
    for d in getattr(dependant, "dependencies", []):
        if getattr(d.call, "gate", False) and d.scope != "function":
            raise RuntimeError(
                f"{path}: take the gate through api.deps.gate(scope), not Depends(require(...)): "
                "a request-scoped gate commits the audit row after the answer is sent"
            )
        _check_function_scope(d, path)


def _serve_gated_directly(app: Any) -> None:
    """Serve the plain gated operations (path and query parameters only, e.g. ``GET
    /v1/persons/{id}``) through :class:`api.gated.GatedOperation`: the gate and the parameter
    checks in one call instead of FastAPI's dependency solving. The route object (and so the
    OpenAPI document) is unchanged; only the ASGI app that answers it is replaced."""
    from api.gated import GatedOperation

    for route in app.routes:
        fast = GatedOperation.for_route(route)
        if fast is not None:
            route.app = fast


def _document_bearer(app: Any) -> None:
    """Document the gate of ``api.deps.require`` (bearer API key and ``X-Purpose`` header) on
    every operation behind it: the gate reads both itself, so FastAPI cannot see them."""
    from fastapi.openapi.utils import get_openapi
    from fastapi.routing import APIRoute

    from api.deps import BEARER_SCHEME, PURPOSE_PARAMETER
    from api.problems import responses

    gated: set[tuple[str, str]] = set()
    for route in app.routes:
        if not (isinstance(route, APIRoute) and _gated(route.dependant)):
            continue
        _check_function_scope(route.dependant, route.path_format)
        # what the gate itself answers: no or unregistered purpose, no key, no grant, too many
        # requests, audit unavailable
        for status, answer in responses(400, 401, 403, 429, 503).items():
            route.responses.setdefault(status, answer)
        gated.update((route.path_format, method.lower()) for method in route.methods)

    codes = app.state.hub.purposes.codes()

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            schema.setdefault("components", {}).setdefault("securitySchemes", {}).update(
                BEARER_SCHEME
            )
            for path, ops in schema.get("paths", {}).items():
                for method, op in ops.items():
                    if (path, method) in gated:
                        op.setdefault("security", [{"apiKey": []}])
                        purpose = dict(PURPOSE_PARAMETER)
                        purpose["schema"] = {"type": "string", "enum": codes}
                        op.setdefault("parameters", []).append(purpose)
                    else:  # routes that call the gate themselves (CSC) document the header
                        for param in op.get("parameters", []):
                            if param.get("name") == "X-Purpose" and param.get("in") == "header":
                                param["schema"] = {"type": "string", "enum": codes}
            app.openapi_schema = schema
        return dict(app.openapi_schema)

    app.openapi = openapi
