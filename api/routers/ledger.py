"""``/v1/ledger/...``: the latest signed checkpoint and RFC 9162 inclusion/consistency proofs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, Field

from api.deps import Access, gate
from api.problems import Problem, responses
from api.state import HubState, hub_state

router = APIRouter(tags=["ledger"])
ERRORS = responses(400, 401, 403, 404, 422, 429)
Size = Annotated[int, Query(ge=0, le=2**62)]


class CheckpointOut(BaseModel):
    origin: str = Field(examples=["hub.example.gov.cn/log"])
    size: int = Field(examples=[1024])
    root: str = Field(description="hex SHA-256 (or SM3) root hash")
    note: str = Field(description="the C2SP signed note, verbatim")
    verifier_key: str = Field(description="the log's note verifier key")


class InclusionOut(BaseModel):
    index: int
    size: int
    leaf_hash: str
    path: list[str] = Field(description="hex hashes, RFC 9162 §2.1.3 order")


class ConsistencyOut(BaseModel):
    from_size: int = Field(alias="from")
    to_size: int = Field(alias="to")
    path: list[str] = Field(description="hex hashes, RFC 9162 §2.1.4 order")

    model_config = {"populate_by_name": True}


def _latest_size(state: HubState) -> int:
    latest = state.ledger.latest_checkpoint()
    if latest is None:
        raise Problem(404, "no-checkpoint", "the log has no checkpoint yet")
    return int(latest[0].size)


@router.get("/v1/ledger/checkpoint", response_model=CheckpointOut, responses=ERRORS)
def checkpoint(
    access: Annotated[Access, gate("ledger")],
    state: Annotated[HubState, Depends(hub_state)],
) -> CheckpointOut:
    """The latest signed checkpoint of the Merkle log."""
    latest = state.ledger.latest_checkpoint()
    if latest is None:
        raise Problem(404, "no-checkpoint", "the log has no checkpoint yet")
    cp, note = latest
    return CheckpointOut(
        origin=cp.origin,
        size=cp.size,
        root=cp.root.hex(),
        note=note.decode(),
        verifier_key=state.ledger.verifier_key(),
    )


@router.get("/v1/ledger/proof/{index}", response_model=InclusionOut, responses=ERRORS)
def inclusion(
    index: Annotated[int, Path(ge=0, le=2**62)],
    access: Annotated[Access, gate("ledger")],
    state: Annotated[HubState, Depends(hub_state)],
    size: Size | None = None,
) -> InclusionOut:
    """Inclusion proof of leaf ``index`` in the tree of ``size`` (default: latest checkpoint)."""
    tree = _latest_size(state) if size is None else size
    if state.ledger.checkpoint_note(tree) is None:
        raise Problem(404, "no-checkpoint", f"no signed checkpoint of size {tree}")
    if index >= tree:
        raise Problem(400, "out-of-range", f"index {index} out of range for size {tree}")
    leaf, path = state.ledger.prove(index, tree)
    return InclusionOut(index=index, size=tree, leaf_hash=leaf.hex(), path=[h.hex() for h in path])


@router.get(
    "/v1/ledger/consistency",
    response_model=ConsistencyOut,
    response_model_by_alias=True,
    responses=ERRORS,
)
def consistency(
    access: Annotated[Access, gate("ledger")],
    state: Annotated[HubState, Depends(hub_state)],
    from_size: Annotated[int, Query(alias="from", ge=1, le=2**62)],
    to_size: Annotated[int | None, Query(alias="to", ge=1, le=2**62)] = None,
) -> ConsistencyOut:
    """Consistency proof between two checkpointed tree sizes (``to`` default: the latest)."""
    to = _latest_size(state) if to_size is None else to_size
    for s in (from_size, to):
        if state.ledger.checkpoint_note(s) is None:
            raise Problem(404, "no-checkpoint", f"no signed checkpoint of size {s}")
    if from_size > to:
        raise Problem(400, "out-of-range", f"from {from_size} is beyond to {to}")
    path = state.ledger.consistency_proof(from_size, to)
    return ConsistencyOut.model_validate(
        {"from": from_size, "to": to, "path": [h.hex() for h in path]}
    )
