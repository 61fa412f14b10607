"""``/v1/witness/...``: the hub's C2SP tlog-witness, for the logs of peer hubs.

``POST /v1/witness/add-checkpoint`` is the specification's submission endpoint (its answers are
the specification's status codes and plain-text bodies, not this API's JSON problems); ``GET
/v1/witness`` says who the witness is and which logs it watches. Neither needs a key, as the
specification says: the log's signature on the checkpoint is what authorises a request. Each
address has a budget of its own (``RATE`` per second, bursts of ``BURST``: a peer's sequencer
sends about one checkpoint a second), so nobody can make the witness verify signatures without
limit.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from api.deps import limit_address
from api.problems import responses
from api.state import HubState, hub_state

router = APIRouter(tags=["witness"])
ROUTE = "/v1/witness/add-checkpoint"
RATE = 20.0  # requests per address and second
BURST = 100.0


class WatchedLog(BaseModel):
    origin: str
    vkey: str = Field(description="the log's signed-note verifier key")
    size: int | None = Field(description="the tree size last cosigned (none yet: null)")
    cosigned_at: int | None = Field(description="POSIX time of that cosignature")


class WitnessOut(BaseModel):
    name: str = Field(examples=["hub.example.gov.cn/witness"])
    vkey: str = Field(description="cosignature/v1 verifier key (type 0x04)")
    logs: list[WatchedLog]


@router.get("/v1/witness", response_model=WitnessOut, responses=responses(429))
async def about(request: Request, state: Annotated[HubState, Depends(hub_state)]) -> WitnessOut:
    """The witness's name and key, and the logs it watches with the size it last cosigned."""
    await limit_address(
        request, "/v1/witness", RATE, "witness-limited", charge=True, bucket="witness", burst=BURST
    )
    witness = state.witness
    return WitnessOut(
        name=witness.cosigner.name,
        vkey=witness.cosigner.verifier().vkey(),
        logs=[WatchedLog(**vars(log)) for log in witness.logs()],
    )


@router.post(
    ROUTE,
    response_class=PlainTextResponse,
    responses={
        200: {"description": "the cosignature line(s)", "content": {"text/plain": {}}},
        400: {"description": "malformed request, or old size beyond the checkpoint's"},
        403: {"description": "no signature by the log's known key verifies"},
        404: {"description": "the checkpoint's origin is not a log this witness watches"},
        409: {
            "description": "the old size is not the size last cosigned (body: that size), "
            "or another root for a size already cosigned",
            "content": {"text/x.tlog.size": {}},
        },
        413: {"description": "the request is over 64 KiB"},
        422: {"description": "the consistency proof does not hold"},
        429: {"description": "too many requests from this address"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "'old <size>', up to 63 base64 consistency proof lines, a blank "
            "line, then the signed checkpoint (C2SP tlog-witness)",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }
    },
)
async def add_checkpoint(
    request: Request, state: Annotated[HubState, Depends(hub_state)]
) -> PlainTextResponse:
    """C2SP tlog-witness ``add-checkpoint``: a checkpoint of a watched log, with the
    consistency proof from the size this witness last cosigned, cosigned when it extends it."""
    await limit_address(
        request, ROUTE, RATE, "witness-limited", charge=True, bucket="witness", burst=BURST
    )
    body = await request.body()
    witness = state.witness
    answer = await run_in_threadpool(witness.add_checkpoint, body)
    return PlainTextResponse(answer.body, answer.status, media_type=answer.content_type)
