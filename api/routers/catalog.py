"""``GET /v1/catalog`` and ``GET /v1/catalog/{dataset}``: the data catalogue for any registered
client (no grant or purpose needed: the catalogue holds no personal data), in DCAT-AP's shape
(:mod:`sharing.catalog`). The ``/catalog`` pages stay for staff.

:func:`registered_client` is the dependency of the routes any registered client may call (the
catalogue, access requests, disputes): a valid API key, the client's rate limit, and the
per-address budget for failed keys, as the gated routes have; :func:`audited` writes one audit
row for such a request and returns once it is committed.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request

from api.audit import AuditWriteFailed
from api.clients import Client
from api.deps import address, limit_address
from api.problems import Problem, responses
from api.state import HubState, hub_state

router = APIRouter(tags=["catalogue"])


async def registered_client(request: Request) -> Client:
    """The registered client whose API key the request bears (401 otherwise, 429 over its
    rate or, for failed keys, over its address's budget)."""
    state: HubState = request.app.state.hub
    route = getattr(request.scope.get("route"), "path", request.url.path)
    kind, _, token = request.headers.get("authorization", "").partition(" ")
    key = token.strip() if kind.lower() == "bearer" else ""
    client = state.clients.known(key) if key else None
    if client is None:
        await limit_address(request, route, state.stranger_rate, "address-limited", charge=False)
        client = state.clients.authenticate(key) if key else None
    if client is None:
        state.strangers.take(f"key:{address(request.scope)}", state.stranger_rate)
        raise Problem(
            401,
            "unauthenticated",
            "send a registered client's API key as 'Authorization: Bearer <key>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    rate = client.rate_limit or state.config.rate_limit
    wait = state.limiter.take(client.client_id, rate)
    if wait > 0:
        raise Problem(
            429,
            "rate-limited",
            f"client {client.client_id!r} exceeds {rate:g} requests/s; retry later",
            headers={"Retry-After": str(max(1, round(wait + 0.5)))},
        )
    return client


RegisteredClient = Annotated[Client, Depends(registered_client)]


async def audited(
    request: Request,
    client: Client,
    outcome: str,
    status: int,
    *,
    purpose: str = "-",
    subject: str | None = None,
    fields: tuple[str, ...] = (),
) -> None:
    """Write one audit row for a registered client's request; 503 if it cannot be written."""
    state: HubState = request.app.state.hub
    route = getattr(request.scope.get("route"), "path", request.url.path)
    log = state.audit
    row = log.row(
        client.client_id, purpose, request.method, route, subject, fields, outcome, status
    )
    try:
        await log.committed(log.submit([row]))
    except AuditWriteFailed:
        raise Problem(
            503, "audit-unavailable", "the audit could not be written; retry later"
        ) from None


def _catalogue(state: HubState, dataset: str | None = None) -> dict[str, Any]:
    from quality.metrics import scorecard
    from sharing.catalog import catalogue

    contracts = dict(state.ingest.contracts)
    runs: dict[str, list[dict[str, Any]]] = {}
    for run in state.library.list_runs(dataset):
        runs.setdefault(run["dataset"], []).append(run)
    quality: dict[str, list[dict[str, Any]]] = {}
    for row in scorecard(state.library.engine, dataset=dataset):
        quality.setdefault(row["dataset"], []).append(row)
    return catalogue(contracts, runs, quality)


CATALOGUE_EXAMPLE = {
    "@type": "dcat:Catalog",
    "title": "政务数据资源目录 (data catalogue)",
    "dataset": [
        {
            "@id": "/v1/catalog/ps_household",
            "@type": "dcat:Dataset",
            "identifier": "ps_household",
            "publisher": {"@type": "foaf:Agent", "name": "省公安厅 Public Security Department"},
            "accrualPeriodicity": "P1D",
            "fields": [
                {
                    "name": "mobile",
                    "type": "string",
                    "sharing": {
                        "attribute": "conditional",
                        "attribute_zh": "有条件共享",
                        "purposes": ["identity-verification"],
                        "legal_basis_required": True,
                    },
                }
            ],
        }
    ],
}


@router.get(
    "/v1/catalog",
    responses={
        200: {"content": {"application/ld+json": {"example": CATALOGUE_EXAMPLE}}},
        **responses(401, 429),
    },
)
def get_catalogue(
    _client: RegisteredClient, state: Annotated[HubState, Depends(hub_state)]
) -> dict[str, Any]:
    """The data catalogue (DCAT-AP as JSON-LD): the libraries with each field's sharing
    attribute and owning department, and every department dataset with its publisher,
    distribution, cadence, fields, latest run and quality scores."""
    return _catalogue(state)


@router.get("/v1/catalog/{dataset}", responses=responses(401, 404, 422, 429))
def get_catalogue_entry(
    dataset: Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_-]*$")],
    _client: RegisteredClient,
    state: Annotated[HubState, Depends(hub_state)],
) -> dict[str, Any]:
    """One dataset (a department's delivery) or library of the catalogue."""
    known = dict(state.ingest.contracts)
    if dataset not in known and dataset not in ("population", "legal-entity"):
        raise Problem(404, "unknown-dataset", f"no dataset {dataset!r} in the catalogue")
    whole = _catalogue(state, dataset if dataset in known else None)
    entry = next(d for d in whole["dataset"] if d["identifier"] == dataset)
    return {"@context": whole["@context"], **entry}
