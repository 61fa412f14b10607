"""``GET /v1/persons/{id}``: the granted fields of a person's golden record (population library)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from api.deps import PRINTABLE, Access, gate
from api.problems import Problem, responses
from api.records import RecordOut, normalise_subject, record_response
from storage.library import POPULATION

router = APIRouter(tags=["records"])
ERRORS = responses(400, 401, 403, 404, 422, 429)
NOT_FOUND = "no person with this ID number in the population library"


@router.get(
    "/v1/persons/{id}",
    response_model=RecordOut,
    response_model_exclude_none=True,
    responses=ERRORS,
    summary="A person's verified record (granted fields only)",
)
async def get_person(
    id: Annotated[
        str,
        Path(
            description="resident ID number (18 or 15 digits)",
            examples=["11010519491231002X"],
            min_length=1,
            max_length=32,
            pattern=PRINTABLE,
        ),
    ],
    access: Annotated[Access, gate(POPULATION)],
    as_of: Annotated[
        dt.date | None, Query(description="the record as known at the end of this day")
    ] = None,
) -> Response:
    """The golden record's fields granted to the client for the declared purpose, each with its
    source dataset and update time. Fields outside the grant are absent."""
    subject = normalise_subject(POPULATION, id)
    access.subject = subject
    found = record_response(access.state, POPULATION, subject, as_of, access.allows)
    if found is None:
        raise Problem(404, "not-found", NOT_FOUND)
    body, access.fields = found
    return Response(body, media_type="application/json")
