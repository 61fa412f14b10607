"""Yes/no verification (数据共享核验): does this name belong to this ID number or this USCC?

The answer is ``{"match": true|false}`` and nothing else: an unknown subject and a wrong name both
answer ``false``, so the endpoint discloses no data and not even whether the subject exists.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from api.deps import PRINTABLE, Access, gate
from api.problems import responses
from api.records import normalise_subject, same_name, values
from api.state import HubState, hub_state
from storage.library import LEGAL_ENTITY, POPULATION

router = APIRouter(tags=["verification"])
ERRORS = responses(400, 401, 403, 422, 429)


class PersonClaim(BaseModel):
    id: str = Field(min_length=1, max_length=32, pattern=PRINTABLE, examples=["11010519491231002X"])
    name: str = Field(min_length=1, max_length=100, examples=["张三"])


class EntityClaim(BaseModel):
    uscc: str = Field(
        min_length=1, max_length=32, pattern=PRINTABLE, examples=["91110000600037341L"]
    )
    name: str = Field(min_length=1, max_length=200, examples=["示例科技有限公司"])
    legal_representative: str | None = Field(
        default=None, max_length=100, description="name of the legal representative (optional)"
    )


class Match(BaseModel):
    match: bool = Field(examples=[True])


def person_matches(state: HubState, claim: PersonClaim) -> tuple[str, bool]:
    subject = normalise_subject(POPULATION, claim.id)
    got = values(state, POPULATION, subject, ("name",))
    return subject, same_name(got.get("name"), claim.name)


def entity_matches(state: HubState, claim: EntityClaim) -> tuple[str, bool]:
    subject = normalise_subject(LEGAL_ENTITY, claim.uscc)
    got = values(state, LEGAL_ENTITY, subject, ("entity_name", "legal_rep_name"))
    ok = same_name(got.get("entity_name"), claim.name)
    if claim.legal_representative is not None:
        ok = ok and same_name(got.get("legal_rep_name"), claim.legal_representative)
    return subject, ok


@router.post("/v1/verify/person", response_model=Match, responses=ERRORS)
async def verify_person(
    claim: PersonClaim,
    access: Annotated[Access, gate("verify-person")],
    state: Annotated[HubState, Depends(hub_state)],
) -> Match:
    """Does the population library hold this ID number with this name?"""
    access.subject, ok = person_matches(state, claim)
    access.outcome = "match" if ok else "no-match"
    return Match(match=ok)


@router.post("/v1/verify/entity", response_model=Match, responses=ERRORS)
async def verify_entity(
    claim: EntityClaim,
    access: Annotated[Access, gate("verify-entity")],
    state: Annotated[HubState, Depends(hub_state)],
) -> Match:
    """Does the legal-entity library hold this USCC with this name (and legal representative)?"""
    access.subject, ok = entity_matches(state, claim)
    access.outcome = "match" if ok else "no-match"
    return Match(match=ok)
