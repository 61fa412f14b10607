"""``GET /v1/trust/bundle``: this hub's signed trust bundle, for federation peers and offline
verifiers (``hub trust add-peer URL``, ``hub trust refresh``).

Public: the bundle holds what a verifier needs (CA and seal certificates, log keys, the latest
checkpoint, seals, the status snapshot and the status lists), no names and no ID numbers. It is
signed by the log key (``bundle_signature``) and says when it was exported (``exported_at``):
a verifier trusts it only for a key it already holds, and only for as long as its freshness
limit. ``?since=N`` adds the RFC 9162 consistency proof from tree size N (``consistency``), so a
peer can check the new checkpoint extends the one it last saw. Each address has the public
look-ups' budget (an export sequences the log and reads every seal and status).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool

from api.deps import limit_address
from api.problems import Problem, responses
from api.state import HubState, hub_state

router = APIRouter(tags=["ledger"])


@router.get("/v1/trust/bundle", responses=responses(404, 422, 429))
async def trust_bundle(
    request: Request,
    state: Annotated[HubState, Depends(hub_state)],
    since: Annotated[int | None, Query(ge=1, le=2**62, description="a tree size seen")] = None,
) -> dict[str, Any]:
    """The hub's trust bundle, signed by its log key (see ``hub trust export``)."""
    await limit_address(
        request,
        "/v1/trust/bundle",
        state.public_rate,
        "public-limited",
        charge=True,
        bucket="public",
        burst=state.public_burst,
    )
    from licence.ca import CertificateAuthorityError
    from licence.trust import export_bundle
    from licence.trust_anchors import TrustBundleError

    try:
        return await run_in_threadpool(export_bundle, state.licences, None, since)
    except (TrustBundleError, CertificateAuthorityError) as exc:
        raise Problem(404, "no-bundle", f"no trust bundle yet: {exc}") from None
