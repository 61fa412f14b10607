"""``GET /v1/entities/{uscc}``: the granted fields of an entity's golden record (法人库)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from api.deps import Access, HubState, hub_state, require
from api.problems import Problem, responses
from api.records import RecordOut, normalise_subject, record
from storage.library import LEGAL_ENTITY

router = APIRouter(tags=["records"])
ERRORS = responses(400, 401, 403, 404, 422, 429)


@router.get(
    "/v1/entities/{uscc}",
    response_model=RecordOut,
    response_model_exclude_none=True,
    responses=ERRORS,
    summary="An entity's verified record (granted fields only)",
)
async def get_entity(
    uscc: Annotated[
        str,
        Path(
            description="unified social credit code (18 characters)",
            examples=["91110000600037341L"],
            min_length=1,
            max_length=32,
        ),
    ],
    access: Annotated[Access, Depends(require(LEGAL_ENTITY))],
    state: Annotated[HubState, Depends(hub_state)],
    as_of: Annotated[
        dt.date | None, Query(description="the record as known at the end of this day")
    ] = None,
) -> RecordOut:
    """The golden record's fields granted to the client for the declared purpose, each with its
    source dataset and update time. Fields outside the grant are absent."""
    subject = normalise_subject(LEGAL_ENTITY, uscc)
    access.subject = subject
    fields = record(state, LEGAL_ENTITY, subject, as_of)
    if fields is None:
        raise Problem(404, "not-found", "no entity with this USCC in the legal-entity library")
    shown = {k: v for k, v in fields.items() if access.allows(k)}
    access.fields = set(shown)
    return RecordOut(subject=subject, library=LEGAL_ENTITY, as_of=as_of, fields=shown)
