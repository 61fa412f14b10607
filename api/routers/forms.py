"""Forms (零填报): ``GET /v1/forms``, ``GET /v1/forms/{form}``, ``POST /v1/forms/{form}/prefill``.

Prefill answers each field of the form with its value and source (dataset, department, run,
time, authoritative or not), licence and material references, and the fields left for the
applicant. Grants: scope ``forms`` (``fields`` = form ids, or ``*``) opens the endpoint; each
field is filled only if the client also holds, for the same purpose, the grant of what it reads
(``population`` / ``legal-entity`` fields, ``licences`` types, ``materials`` types): any other
stays empty with status ``not-granted``. Audited under the applicant's normalised ID with the
fields shown.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Response
from pydantic import BaseModel, Field

from api.deps import PRINTABLE, Access, gate
from api.problems import Problem, responses
from api.state import HubState, hub_state
from schemas import forms as catalogue

router = APIRouter(tags=["forms"])
SCOPE = "forms"

FormId = Annotated[
    str,
    Path(min_length=1, max_length=48, pattern=PRINTABLE, examples=["elderly-allowance"]),
]


class PrefillIn(BaseModel):
    applicant: str = Field(
        min_length=1,
        max_length=32,
        pattern=PRINTABLE,
        description="resident ID number (person forms) or unified social credit code (entity "
        "forms)",
        examples=["11010519491231002X"],
    )
    as_of: dt.date | None = Field(
        default=None, description="the day ages and licence validity are computed for (today)"
    )


class FieldOut(BaseModel):
    key: str = Field(examples=["age"])
    label: str = Field(examples=["年龄（周岁）"])
    kind: str = Field(description="library, derived, licence, material or applicant")
    status: str = Field(
        description="filled; not-granted (the client holds no grant of what it reads); "
        "not-held (the hub holds no value); applicant (the applicant enters it)"
    )
    value: str | None = None
    source: dict[str, Any] | None = Field(
        default=None,
        description="dataset, department, run_id, updated_at, authoritative (一数一源)",
    )
    licence: dict[str, Any] | None = None
    materials: list[dict[str, Any]] | None = None
    note: str | None = None


class PrefillOut(BaseModel):
    form: str
    title_zh: str
    department: str
    applicant: str = Field(description="the applicant's normalised ID")
    as_of: dt.date
    fields: list[FieldOut]
    to_fill: list[str] = Field(description="keys of the fields the applicant fills or attaches")
    filled: int
    total: int


def _form(form_id: str) -> catalogue.Form:
    try:
        return catalogue.get(form_id)
    except catalogue.FormError as exc:
        raise Problem(404, "unknown-form", str(exc)) from None


def _applicant(form: catalogue.Form, raw: str) -> str:
    """The applicant's normalised ID, or 422 saying why it is not one."""
    from sharing.forms import applicant_id

    try:
        return applicant_id(form, raw)
    except ValueError as exc:
        raise Problem(422, "invalid-applicant", str(exc)) from None


@router.get("/v1/forms", responses=responses(401, 403, 429))
async def list_forms(access: Annotated[Access, gate(SCOPE)]) -> list[dict[str, Any]]:
    """The forms this client may prefill, with where each field comes from."""
    access.outcome = "listed"
    return [f.to_json() for f in catalogue.catalogue().values() if access.allows(f.id)]


@router.get("/v1/forms/{form_id}", responses=responses(401, 403, 404, 422, 429))
async def show_form(form_id: FormId, access: Annotated[Access, gate(SCOPE)]) -> dict[str, Any]:
    """One form's definition: its fields and where each comes from."""
    form = _form(form_id)
    access.outcome = "shown"
    return form.to_json()


@router.post(
    "/v1/forms/{form_id}/prefill",
    response_model=PrefillOut,
    responses=responses(400, 401, 403, 404, 422, 429, 503),
)
async def prefill_form(
    form_id: FormId,
    body: PrefillIn,
    access: Annotated[Access, gate(SCOPE)],
    state: Annotated[HubState, Depends(hub_state)],
) -> Response:
    """The form filled for the applicant from what the hub holds and the client may read."""
    from sharing.forms import StoreFormReads, prefill

    form = _form(form_id)
    applicant = _applicant(form, body.applicant)
    access.subject, access.named = applicant, [applicant]
    if not access.allows(form.id):
        raise Problem(
            403,
            "not-granted",
            f"client {access.client.client_id!r} holds no grant of form {form.id} for this "
            "purpose (scope forms)",
        )
    client, purpose = access.client, access.purpose

    def allows(scope: str, name: str) -> bool:
        permit = client.permit(scope, purpose)
        return permit is not None and permit.allows(name)

    departments = {k: c.department for k, c in state.ingest.contracts.items()}
    from api.routers.materials import store as material_store

    materials = material_store(state)
    reads = StoreFormReads(
        state.library.engine, state.golden, departments, state.ingest.objects, materials.refs
    )
    on = body.as_of or dt.datetime.now(dt.UTC).date()
    out = prefill(form, applicant, reads, allows, on)
    access.fields = set(out.read)
    access.outcome = "prefilled"
    text = json.dumps(out.to_json(), ensure_ascii=False, separators=(",", ":"))
    return Response(text.encode(), media_type="application/json")
