"""``GET /v1/status-lists/{authority}/{purpose}``: an authority's W3C Bitstring Status List
credential, the URL every exported SD-JWT VC's ``credentialStatus`` names.

Public, as a status list must be for verifiers that have never heard of this hub: it holds one
bit per licence of the authority (no names, no ID numbers), as last committed to the log, signed
(``vc+jwt``, ES256) by the authority's active seal with its certificate chain in ``x5c``. Each
address has the public look-ups' budget.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import PlainTextResponse

from api.deps import limit_address
from api.problems import Problem, responses
from api.state import HubState, hub_state

router = APIRouter(tags=["licences"])
MEDIA_TYPE = "application/vc+jwt"


@router.get(
    "/v1/status-lists/{authority}/{purpose}",
    response_class=PlainTextResponse,
    responses={
        200: {
            "description": "the status list credential (compact JWS)",
            "content": {MEDIA_TYPE: {}},
        },
        **responses(404, 422, 429),
    },
)
async def status_list(
    request: Request,
    state: Annotated[HubState, Depends(hub_state)],
    authority: Annotated[str, Path(pattern="^[0-9A-Z]{18}$", examples=["11340400MB1234562J"])],
    purpose: Annotated[str, Path(pattern="^(revocation|suspension)$")],
) -> PlainTextResponse:
    """The authority's ``revocation`` or ``suspension`` list as a W3C
    BitstringStatusListCredential (bit i: the licence with status index i)."""
    await limit_address(
        request,
        "/v1/status-lists",
        state.public_rate,
        "public-limited",
        charge=True,
        bucket="public",
        burst=state.public_burst,
    )
    from licence.exports import status_list_vc

    token = await run_in_threadpool(status_list_vc, state.licences, authority, purpose)
    if token is None:
        raise Problem(404, "no-status-list", "no status list of this authority is committed yet")
    return PlainTextResponse(token, media_type=MEDIA_TYPE)
