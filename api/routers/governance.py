"""Governance findings (治理) on the licences of the issuing client's authority."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from api.deps import Access, audit_subject, gate
from api.routers.issuing import (
    ERRORS,
    SCOPE,
    issuing_authority,
    licence_service,
)
from api.state import HubState, hub_state

if TYPE_CHECKING:
    pass

router = APIRouter(tags=["issuance"])


# ---- governance ---------------------------------------------------------------------------
class FindingOut(BaseModel):
    licence_id: str
    type_code: str
    kind: str = Field(
        description="HOLDER_DIED, ENTITY_NOT_OPERATING, NAME_CHANGED, LEGAL_REP_CHANGED or "
        "HOLDER_UNKNOWN"
    )
    title: str
    action: str = Field(description="flagged, or suspended by the type's policy")
    evidence: dict[str, Any] = Field(
        description="the library field, its value now and on the licence, the dataset and "
        "library run that holds it, the governance run that found it"
    )
    first_run: int
    last_run: int


class FindingsOut(BaseModel):
    authority: str
    findings: list[FindingOut]


@router.get("/v1/governance/findings", response_model=FindingsOut, responses=ERRORS)
def governance_findings(
    access: Annotated[Access, gate(SCOPE)],
    state: Annotated[HubState, Depends(hub_state)],
) -> FindingsOut:
    """The open governance findings (治理) on the licences of the client's authority: what the
    libraries say changed since issue, with the evidence, and whether the licence was only
    flagged or suspended by its type's policy."""
    from licence.governance import KINDS

    svc = licence_service(state)
    authority = issuing_authority(svc, access)
    rows = svc.store.open_findings(authority)
    access.outcome = "findings"
    for row in rows:
        access.touch(audit_subject(SCOPE, row["holder_id"]), {row["type_code"]}, "finding")
    return FindingsOut(
        authority=authority,
        findings=[
            FindingOut(
                licence_id=r["licence_id"],
                type_code=r["type_code"],
                kind=r["kind"],
                title=KINDS.get(r["kind"], r["kind"]),
                action=r["action"],
                evidence=json.loads(r["evidence"]),
                first_run=r["first_run"],
                last_run=r["last_run"],
            )
            for r in rows
        ],
    )
