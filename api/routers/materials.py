"""The materials library (电子材料库): submitted once, reused by every later application.

``POST /v1/materials`` (multipart: ``holder``, ``type``, ``issuer`` if any, ``file``) stores a
material write-once and content-addressed; ``GET /v1/holders/{id}/materials?type=`` lists a
holder's materials and ``GET /v1/materials/{material_id}`` returns one's bytes. Grants: scope
``materials``, ``fields`` = material types (or ``*``); every call is audited under the holder's
ID. ``POST /v1/materials/{material_id}/withdraw`` is the holder's own: a holder app (scope
``holder-app`` and ``X-Holder-Assertion``) withdraws it, after which it is no longer served or
linked by prefill; the withdrawal is a ledger entry.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from api.deps import PRINTABLE, Access, admit, conclude, gate
from api.problems import Problem, responses
from api.routers.presentations import HOLDER_APP_HEADERS
from api.state import HubState, hub_state

if TYPE_CHECKING:
    from sharing.materials import MaterialStore

router = APIRouter(tags=["materials"])
SCOPE = "materials"
APP_SCOPE = "holder-app"
ASSERTION_HEADER = "x-holder-assertion"

MaterialId = Annotated[
    str, Path(min_length=1, max_length=40, pattern=PRINTABLE, examples=["MT20261207A1B2C3D4"])
]


class MaterialOut(BaseModel):
    material_id: str = Field(examples=["MT20261207A1B2C3D4E5F60718"])
    holder: str = Field(description="the holder's normalised ID")
    type: str = Field(examples=["id_photo"])
    issuer: str | None = None
    sha256: str
    size: int
    media_type: str = Field(examples=["application/pdf"])
    submitted_at: str
    status: str = Field(description="active, or withdrawn by the holder")


class SubmittedOut(MaterialOut):
    new: bool = Field(description="false: the same holder, type and bytes were on file")


class HolderMaterials(BaseModel):
    holder: str
    materials: list[MaterialOut]


def store(state: HubState) -> MaterialStore:
    """The materials store over the hub's database and object store."""
    from sharing.materials import MaterialStore

    return MaterialStore(state.library.engine, state.ingest.objects)


def holder_id(raw: str, kind: str = "any") -> str:
    """A holder's normalised ID (resident ID or USCC); 422 saying why ``raw`` is not one."""
    from schemas import resident_id, uscc
    from schemas.library import subject_key

    person = resident_id.validate(subject_key("population", raw))
    if person.valid and person.normalised and kind in ("person", "any"):
        return person.normalised
    entity = uscc.validate(subject_key("legal-entity", raw))
    if entity.valid and entity.normalised and kind in ("entity", "any"):
        return entity.normalised
    wanted = {"person": "a resident ID number", "entity": "a unified social credit code"}
    raise Problem(
        422,
        "invalid-holder",
        f"holder: not {wanted.get(kind, 'a resident ID number or unified social credit code')}",
    )


def _field(form: Any, name: str, limit: int) -> str:
    value = form.get(name)
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise Problem(422, "invalid-material", f"send {name} as a form field of 1 to {limit} chars")
    return value.strip()


@router.post(
    "/v1/materials",
    response_model=SubmittedOut,
    status_code=201,
    responses=responses(400, 401, 403, 413, 422, 429, 503),
)
async def submit_material(
    request: Request,
    access: Annotated[Access, gate(SCOPE)],
    state: Annotated[HubState, Depends(hub_state)],
) -> Response:
    """Store a holder's material (multipart: `holder`, `type`, `issuer` optional, `file`):
    write-once, content-addressed; the same holder, type and bytes again answer the material
    on file (200, `new`: false)."""
    import json

    from starlette.datastructures import UploadFile

    from schemas.forms import material_types
    from sharing.materials import MAX_BYTES, MaterialError

    try:
        form = await request.form(max_files=1, max_fields=10)
    except Exception as exc:  # python-multipart's or starlette's parse errors
        if getattr(exc, "status_code", None) == 413:
            raise
        raise Problem(400, "bad-multipart", "send a multipart/form-data body") from None
    try:
        type_code = _field(form, "type", 48)
        kind = material_types().get(type_code)
        holder = holder_id(_field(form, "holder", 32), kind.holder if kind else "any")
        access.subject, access.named = holder, [holder]
        if kind is None:
            known = ", ".join(material_types())
            raise Problem(422, "invalid-material", f"unknown material type (known: {known})")
        if not access.allows(type_code):
            raise Problem(
                403,
                "not-granted",
                f"client {access.client.client_id!r} holds no grant of material type "
                f"{type_code} for this purpose (scope materials)",
            )
        issuer = form.get("issuer")
        if issuer is not None and (not isinstance(issuer, str) or len(issuer) > 64):
            raise Problem(422, "invalid-material", "issuer: at most 64 characters")
        part = form.get("file")
        if not isinstance(part, UploadFile):
            raise Problem(400, "no-file", "send the file as the multipart part 'file'")
        data = await part.read(MAX_BYTES + 1)
    finally:
        await form.close()
    try:
        made, new = await run_in_threadpool(
            store(state).submit,
            holder,
            type_code,
            data,
            access.client.client_id,
            (issuer or "").strip() or None,
        )
    except MaterialError as exc:
        raise Problem(422, "invalid-material", str(exc)) from None
    access.fields, access.outcome = {type_code}, "stored" if new else "on-file"
    access.status = 201 if new else 200
    body = json.dumps({**made.to_json(), "new": new}, ensure_ascii=False).encode()
    return Response(body, status_code=access.status, media_type="application/json")


@router.get(
    "/v1/holders/{id}/materials",
    response_model=HolderMaterials,
    responses=responses(401, 403, 422, 429, 503),
)
async def holder_materials(
    id: Annotated[str, Path(min_length=1, max_length=32, pattern=PRINTABLE)],
    access: Annotated[Access, gate(SCOPE)],
    state: Annotated[HubState, Depends(hub_state)],
    type: Annotated[str | None, Query(max_length=48, pattern=PRINTABLE)] = None,
) -> HolderMaterials:
    """The holder's materials still served, of the types this client is granted (or one)."""
    holder = holder_id(id)
    access.subject = holder
    if type is not None and not access.allows(type):
        raise Problem(403, "not-granted", f"no grant of material type {type} (scope materials)")
    found = await run_in_threadpool(store(state).of_holder, holder, type)
    shown = [m for m in found if access.allows(m.type)]
    access.fields = {m.type for m in shown}
    access.outcome = "listed"
    return HolderMaterials(
        holder=holder, materials=[MaterialOut.model_construct(**m.to_json()) for m in shown]
    )


@router.get(
    "/v1/materials/{material_id}",
    responses={
        **responses(401, 403, 404, 410, 429, 503),
        200: {"content": {"application/pdf": {}, "image/jpeg": {}, "image/png": {}}},
    },
)
async def material_content(
    material_id: MaterialId,
    access: Annotated[Access, gate(SCOPE)],
    state: Annotated[HubState, Depends(hub_state)],
) -> Response:
    """A material's bytes, if this client is granted its type and the holder has not
    withdrawn it (410 then)."""
    from sharing.materials import ACTIVE, MaterialIntegrityError

    materials = store(state)
    found = await run_in_threadpool(materials.get, material_id)
    if found is None or not access.allows(found.type):
        if found is not None:
            access.subject = found.holder
        access.outcome = "not-found"
        raise Problem(404, "not-found", "no material with this id of a type this client may read")
    access.subject = found.holder
    if found.status != ACTIVE:
        raise Problem(410, "withdrawn", "the holder withdrew this material")
    try:
        data = await run_in_threadpool(materials.content, found)
    except MaterialIntegrityError as exc:
        raise Problem(503, "integrity", str(exc)) from None
    access.fields, access.outcome = {found.type}, "material"
    return Response(data, media_type=found.media_type, headers={"X-Content-SHA256": found.sha256})


@router.post(
    "/v1/materials/{material_id}/withdraw",
    response_model=MaterialOut,
    responses=responses(400, 401, 403, 404, 409, 410, 422, 429, 503),
    openapi_extra=HOLDER_APP_HEADERS,
)
async def withdraw_material(
    material_id: MaterialId,
    request: Request,
    state: Annotated[HubState, Depends(hub_state)],
) -> MaterialOut:
    """The holder withdraws one of their materials (a holder app: `Authorization`,
    `X-Purpose`, `X-Holder-Assertion` naming the holder): no longer served or linked by
    prefill; the withdrawal is a ledger entry. The bytes stay for the retention period."""
    from api.routers.presentations import holder_side
    from holder.assertions import AssertionRefused
    from sharing.materials import MaterialError

    route = "/v1/materials/{material_id}/withdraw"
    access = await admit(request, APP_SCOPE, route)
    side = holder_side(request)
    try:
        holder = await run_in_threadpool(
            side.apps.verify,
            request.headers.get(ASSERTION_HEADER, ""),
            access.client.client_id,
            side.origin,
        )
    except AssertionRefused as exc:
        access.named = [exc.holder] if exc.holder else None
        problem = Problem(401, f"assertion-{exc.outcome}", exc.message)
        await conclude(request, route, access, problem)
        raise problem from None
    access.subject = holder
    try:
        done = await run_in_threadpool(
            store(state).withdraw, material_id, holder, state.ledger.append
        )
    except MaterialError as exc:
        problem = Problem(404, "not-found", str(exc))
        await conclude(request, route, access, problem)
        raise problem from None
    access.fields, access.outcome = {done.type}, "withdrawn"
    await conclude(request, route, access, None)
    return MaterialOut.model_construct(**done.to_json())
