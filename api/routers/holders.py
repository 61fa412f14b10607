"""``GET /v1/holders/{id}/licences``: a holder's valid licences — the 材料免提交 answer."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel

from api.deps import PRINTABLE, Access, gate
from api.problems import Problem, responses
from api.records import LicenceOut, valid_licences
from api.state import HubState, hub_state

router = APIRouter(tags=["licences"])
ERRORS = responses(400, 401, 403, 422, 429)


class HolderLicences(BaseModel):
    holder: str
    licences: list[LicenceOut]


def holder_key(raw: str) -> str:
    """A holder's key: trimmed, upper case, full-width folded, a 15-digit resident ID upgraded
    (a USCC is 18 characters, so only resident IDs are upgraded)."""
    from schemas.library import subject_key
    from storage.library import POPULATION

    return subject_key(POPULATION, raw)


@router.get("/v1/holders/{id}/licences", response_model=HolderLicences, responses=ERRORS)
async def holder_licences(
    id: Annotated[
        str,
        Path(
            description="holder's resident ID number or USCC",
            examples=["91110000600037341L"],
            min_length=1,
            max_length=32,
            pattern=PRINTABLE,
        ),
    ],
    access: Annotated[Access, gate("licences")],
    state: Annotated[HubState, Depends(hub_state)],
    licence_type: Annotated[
        str | None,
        Query(
            alias="type",
            description="licence type code (21 characters)",
            min_length=1,
            max_length=32,
            pattern=PRINTABLE,
        ),
    ] = None,
) -> HolderLicences:
    """The holder's licences valid today (of the granted types): identifier, type, status and
    validity, so an approval system can accept them instead of a paper copy."""
    holder = holder_key(id)
    access.subject = holder
    if licence_type is not None and not access.allows(licence_type):
        raise Problem(403, "not-granted", "licence type outside the client's grant")
    found = valid_licences(state, holder, licence_type, access.allows)
    access.fields = {lic.type_code for lic in found}
    return HolderLicences(holder=holder, licences=found)
