"""``POST /v1/batch/...``: up to 1,000 subjects per request, one audit row per subject.

Each item is answered exactly as the single endpoint would (granted fields, yes/no, valid
licences); unknown subjects are answered in place (``found: false``) so one bad ID does not fail
the batch.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from api.deps import PRINTABLE, Access, gate
from api.problems import Problem, responses
from api.records import FieldValue, LicenceOut, normalise_subject, record, valid_licences
from api.routers.holders import holder_key
from api.routers.verify import EntityClaim, PersonClaim, entity_matches, person_matches
from api.state import HubState, hub_state
from storage.library import LEGAL_ENTITY, POPULATION

router = APIRouter(tags=["batch"])
ERRORS = responses(400, 401, 403, 422, 429)
MAX_BATCH = 1000

Ids = Annotated[
    list[Annotated[str, Field(min_length=1, max_length=32, pattern=PRINTABLE)]],
    Field(min_length=1, max_length=MAX_BATCH),
]


class IdsIn(BaseModel):
    ids: Ids = Field(examples=[["11010519491231002X"]])


class RecordItem(BaseModel):
    subject: str
    found: bool
    fields: dict[str, FieldValue] = Field(default_factory=dict)


class RecordsOut(BaseModel):
    results: list[RecordItem]


def _records(state: HubState, access: Access, library: str, ids: list[str]) -> RecordsOut:
    out = []
    for raw in ids:
        subject = normalise_subject(library, raw)
        fields = record(state, library, subject, None)
        if fields is None:
            access.touch(subject, (), "not-found")
            out.append(RecordItem(subject=subject, found=False))
            continue
        shown = {k: v for k, v in fields.items() if access.allows(k)}
        access.touch(subject, shown)
        out.append(RecordItem.model_validate({"subject": subject, "found": True, "fields": shown}))
    return RecordsOut(results=out)


@router.post("/v1/batch/persons", response_model=RecordsOut, responses=ERRORS)
def batch_persons(
    body: IdsIn,
    access: Annotated[Access, gate(POPULATION)],
    state: Annotated[HubState, Depends(hub_state)],
) -> RecordsOut:
    """Granted fields of up to 1,000 persons."""
    return _records(state, access, POPULATION, body.ids)


@router.post("/v1/batch/entities", response_model=RecordsOut, responses=ERRORS)
def batch_entities(
    body: IdsIn,
    access: Annotated[Access, gate(LEGAL_ENTITY)],
    state: Annotated[HubState, Depends(hub_state)],
) -> RecordsOut:
    """Granted fields of up to 1,000 entities."""
    return _records(state, access, LEGAL_ENTITY, body.ids)


class PersonClaims(BaseModel):
    items: list[PersonClaim] = Field(min_length=1, max_length=MAX_BATCH)


class EntityClaims(BaseModel):
    items: list[EntityClaim] = Field(min_length=1, max_length=MAX_BATCH)


class Matches(BaseModel):
    results: list[bool] = Field(description="one yes/no per item, in order", examples=[[True]])


@router.post("/v1/batch/verify/person", response_model=Matches, responses=ERRORS)
def batch_verify_person(
    body: PersonClaims,
    access: Annotated[Access, gate("verify-person")],
    state: Annotated[HubState, Depends(hub_state)],
) -> Matches:
    """Yes/no for up to 1,000 (ID number, name) pairs."""
    results = []
    for claim in body.items:
        subject, ok = person_matches(state, claim)
        access.touch(subject, (), "match" if ok else "no-match")
        results.append(ok)
    return Matches(results=results)


@router.post("/v1/batch/verify/entity", response_model=Matches, responses=ERRORS)
def batch_verify_entity(
    body: EntityClaims,
    access: Annotated[Access, gate("verify-entity")],
    state: Annotated[HubState, Depends(hub_state)],
) -> Matches:
    """Yes/no for up to 1,000 (USCC, name[, legal representative]) claims."""
    results = []
    for claim in body.items:
        subject, ok = entity_matches(state, claim)
        access.touch(subject, (), "match" if ok else "no-match")
        results.append(ok)
    return Matches(results=results)


class HoldersIn(BaseModel):
    ids: Ids = Field(examples=[["91110000600037341L"]])
    type: str | None = Field(
        default=None,
        min_length=1,
        max_length=32,
        pattern=PRINTABLE,
        description="licence type code",
    )


class HolderItem(BaseModel):
    holder: str
    licences: list[LicenceOut]


class HoldersOut(BaseModel):
    results: list[HolderItem]


@router.post("/v1/batch/holders/licences", response_model=HoldersOut, responses=ERRORS)
def batch_holder_licences(
    body: HoldersIn,
    access: Annotated[Access, gate("licences")],
    state: Annotated[HubState, Depends(hub_state)],
) -> HoldersOut:
    """Valid licences (of the granted types) of up to 1,000 holders."""
    if body.type is not None and not access.allows(body.type):
        raise Problem(403, "not-granted", "licence type outside the client's grant")
    out = []
    for raw in body.ids:
        holder = holder_key(raw)
        found = valid_licences(state, holder, body.type, access.allows)
        access.touch(holder, {lic.type_code for lic in found})
        out.append(HolderItem(holder=holder, licences=found))
    return HoldersOut(results=out)
