"""``GET /v1/entities/{uscc}``: the granted fields of an entity's golden record (法人库)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from api.deps import PRINTABLE, Access, gate
from api.problems import Problem, responses
from api.records import RecordOut, normalise_subject, record_response
from storage.library import LEGAL_ENTITY

router = APIRouter(tags=["records"])
ERRORS = responses(400, 401, 403, 404, 422, 429)
NOT_FOUND = "no entity with this USCC in the legal-entity library"


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
            pattern=PRINTABLE,
        ),
    ],
    access: Annotated[Access, gate(LEGAL_ENTITY)],
    as_of: Annotated[
        dt.date | None, Query(description="the record as known at the end of this day")
    ] = None,
) -> Response:
    """The golden record's fields granted to the client for the declared purpose, each with its
    source dataset and update time. Fields outside the grant are absent."""
    subject = normalise_subject(LEGAL_ENTITY, uscc)
    access.subject = subject
    found = record_response(access.state, LEGAL_ENTITY, subject, as_of, access.allows)
    if found is None:
        raise Problem(404, "not-found", NOT_FOUND)
    body, access.fields = found
    return Response(body, media_type="application/json")
