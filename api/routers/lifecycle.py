"""The lifecycle of a licence through the API: revoke, suspend, reinstate, change (a new
version). Only the issuing authority's clients may call them; another gets 403, audited."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from api.deps import Access, gate
from api.routers.issuing import (
    ERRORS,
    SCOPE,
    ChangeIn,
    IssuedOut,
    LicenceIdPath,
    ReinstateIn,
    RevokeIn,
    StatusOut,
    SuspendIn,
    issued_out,
    licence_service,
    owned,
    problem_of,
    type_granted,
)
from api.state import HubState, hub_state

if TYPE_CHECKING:
    pass

router = APIRouter(tags=["issuance"])


# ---- lifecycle ----------------------------------------------------------------------------
def _lifecycle(
    state: HubState, access: Access, licence_id: str, action: str, body: BaseModel
) -> StatusOut:
    from licence.errors import LicenceError

    svc = licence_service(state)
    owned(svc, access, licence_id)
    try:
        if isinstance(body, RevokeIn):
            svc.revoke(licence_id, body.reason_code, body.reason)
        elif isinstance(body, SuspendIn):
            svc.suspend(licence_id, body.reason, body.reason_code)
        elif isinstance(body, ReinstateIn):
            svc.reinstate(licence_id, body.reason)
        else:
            raise AssertionError(action)
    except LicenceError as exc:
        raise problem_of(exc) from None
    row = svc.row(licence_id)
    access.outcome = action
    return StatusOut(
        licence_id=licence_id,
        status=row["status"],
        reason_code=row["reason_code"],
        superseded_by=row["superseded_by"],
    )


@router.post("/v1/licences/{licence_id}/revoke", response_model=StatusOut, responses=ERRORS)
def revoke(
    licence_id: LicenceIdPath,
    body: RevokeIn,
    access: Annotated[Access, gate(SCOPE)],
    state: Annotated[HubState, Depends(hub_state)],
) -> StatusOut:
    """Revoke a valid or suspended licence (final), with a revocation reason code."""
    return _lifecycle(state, access, licence_id, "revoked", body)


@router.post("/v1/licences/{licence_id}/suspend", response_model=StatusOut, responses=ERRORS)
def suspend(
    licence_id: LicenceIdPath,
    body: SuspendIn,
    access: Annotated[Access, gate(SCOPE)],
    state: Annotated[HubState, Depends(hub_state)],
) -> StatusOut:
    """Suspend a valid licence (暂扣)."""
    return _lifecycle(state, access, licence_id, "suspended", body)


@router.post("/v1/licences/{licence_id}/reinstate", response_model=StatusOut, responses=ERRORS)
def reinstate(
    licence_id: LicenceIdPath,
    body: ReinstateIn,
    access: Annotated[Access, gate(SCOPE)],
    state: Annotated[HubState, Depends(hub_state)],
) -> StatusOut:
    """Reinstate a suspended licence."""
    return _lifecycle(state, access, licence_id, "reinstated", body)


@router.post(
    "/v1/licences/{licence_id}/change",
    status_code=201,
    response_model=IssuedOut,
    responses=ERRORS,
)
def change(
    licence_id: LicenceIdPath,
    body: ChangeIn,
    access: Annotated[Access, gate(SCOPE)],
    state: Annotated[HubState, Depends(hub_state)],
) -> Any:
    """Issue the next version with the changed fields; this one becomes superseded (注销).
    The answer is the new version."""
    from licence.errors import LicenceError

    svc = licence_service(state)
    row = owned(svc, access, licence_id)
    refused = type_granted(access, str(row["type_code"]))
    if refused is not None:
        raise problem_of(refused)
    try:
        doc = svc.change(licence_id, body.fields, body.reason)
    except LicenceError as exc:
        raise problem_of(exc) from None
    out = issued_out(doc)
    access.outcome = "changed"
    access.status = 201
    access.fields = {out.type_code}
    return JSONResponse(
        out.model_dump(mode="json"), status_code=201, headers={"Location": out.links["self"]}
    )
