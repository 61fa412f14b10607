"""What the issuance routers share: the request and answer models, the issuing client's
authority, ownership of a licence, the problems a refused operation answers with, and
Idempotency-Key replay. The routers are :mod:`api.routers.licences` (issue and read),
:mod:`api.routers.lifecycle` and :mod:`api.routers.governance`."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Header, Path
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api.deps import PRINTABLE, Access, audit_subject
from api.problems import Problem, responses
from api.state import HubState

if TYPE_CHECKING:
    from licence.errors import LicenceError
    from licence.service import LicenceService

SCOPE = "issue"
MAX_BATCH = 1000
ERRORS = responses(400, 401, 403, 404, 409, 422, 429)

LicenceIdPath = Annotated[
    str,
    Path(
        description="the licence identifier (1.2.156.3005.2.…)",
        min_length=20,
        max_length=120,
        pattern=r"^[0-9A-Za-z.]+$",
    ),
]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description=(
            "a key unique to this request (e.g. the approval's case number or a UUID): a retry "
            "with the same key and body gets the first answer, never a second licence"
        ),
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
    ),
]


class HolderIn(BaseModel):
    id: str = Field(
        min_length=1,
        max_length=32,
        pattern=PRINTABLE,
        description="resident ID number (person) or USCC (entity), as in the library",
        examples=["91340400MA2N0000XX"],
    )
    name: str = Field(min_length=1, max_length=200, description="the holder's registered name")


class LicenceIn(BaseModel):
    type: str = Field(
        min_length=1,
        max_length=64,
        description="licence type: code (21 characters), catalogue name or Chinese name",
        examples=["business_licence"],
    )
    holder: HolderIn
    fields: dict[str, Annotated[str, Field(max_length=4000)]] = Field(
        max_length=100, description="the type's fields (`hub licence types show TYPE`)"
    )
    valid_until: dt.date | None = Field(
        default=None, description="end of validity (default: the type's rule)"
    )


class BatchIn(BaseModel):
    items: list[LicenceIn] = Field(min_length=1, max_length=MAX_BATCH)


class IssuedOut(BaseModel):
    licence_id: str
    type_code: str
    type_name: str
    authority: str
    holder: str
    status: str = "valid"
    issued_on: str = Field(description="YYYY-MM-DD")
    valid_until: str | None = Field(description="YYYY-MM-DD, or null for long-term validity")
    links: dict[str, str]


class Refusal(BaseModel):
    kind: str
    detail: str


class BatchItemOut(BaseModel):
    index: int
    issued: bool
    licence: IssuedOut | None = None
    refused: Refusal | None = None


class BatchOut(BaseModel):
    issued: int
    refused: int
    results: list[BatchItemOut]


class ReasonIn(BaseModel):
    reason: str = Field(min_length=1, max_length=500, description="reason text (shown on checks)")


class RevokeIn(ReasonIn):
    reason_code: str = Field(
        description="ILLEGAL_OPERATION, FRAUD, ISSUED_IN_ERROR, HOLDER_REQUEST, "
        "HOLDER_DISSOLVED or OTHER",
        examples=["ILLEGAL_OPERATION"],
        max_length=32,
    )


class SuspendIn(ReasonIn):
    reason_code: str = Field(default="OTHER", max_length=32, pattern=r"^[A-Z_]{1,32}$")


class ReinstateIn(BaseModel):
    reason: str = Field(default="", max_length=500)


class ChangeIn(ReasonIn):
    fields: dict[str, Annotated[str, Field(max_length=4000)]] = Field(
        min_length=1, max_length=100, description="the fields that change"
    )


class StatusOut(BaseModel):
    licence_id: str
    status: str
    reason_code: str | None = None
    superseded_by: str | None = None


# ---- helpers ------------------------------------------------------------------------------
def problem_of(exc: LicenceError) -> Problem:
    """The problem answering a refused licence operation (messages carry no personal data)."""
    from licence import errors

    table: list[tuple[type[Exception], int, str]] = [
        (errors.UnknownTypeError, 422, "unknown-licence-type"),
        (errors.NotAllowedError, 403, "authority-not-allowed"),
        (errors.NoActiveSealError, 409, "no-active-seal"),
        (errors.HolderError, 422, "holder-refused"),
        (errors.InvalidFieldsError, 422, "invalid-fields"),
        (errors.LicenceNotFoundError, 404, "licence-not-found"),
        (errors.LifecycleError, 409, "lifecycle-refused"),
    ]
    for cls, status, kind in table:
        if isinstance(exc, cls):
            return Problem(status, kind, str(exc))
    return Problem(409, "licence-refused", str(exc))


def refusal_of(exc: LicenceError) -> Refusal:
    p = problem_of(exc)
    return Refusal(kind=p.kind, detail=p.detail)


def licence_service(state: HubState) -> LicenceService:
    return state.licences


def issuing_authority(svc: LicenceService, access: Access) -> str:
    """The authority the client issues for; 403 if it is bound to none."""
    found = svc.store.client_authority(access.client.client_id)
    if found is None:
        raise Problem(
            403,
            "not-an-issuer",
            f"client {access.client.client_id!r} is not bound to an issuing authority "
            "(`hub authority bind CLIENT USCC`)",
        )
    return found


def type_granted(access: Access, type_name: str) -> LicenceError | None:
    """None if the client's grants of ``issue`` name this type (by code, catalogue name or
    Chinese name), else the refusal (an unknown type is refused as unknown)."""
    from licence.errors import NotAllowedError, UnknownTypeError
    from schemas import licence_types

    try:
        lt = licence_types.get(type_name)
    except licence_types.LicenceTypeError as exc:
        return UnknownTypeError(str(exc))
    names = [k for k, v in licence_types.catalogue().items() if v.code == lt.code] + [lt.name]
    if any(access.allows(n) for n in names):
        return None
    return NotAllowedError(
        f"client {access.client.client_id!r} holds no grant to issue {lt.name} ({lt.code})"
    )


def issued_out(doc: dict[str, Any]) -> IssuedOut:
    from licence import document

    vals = document.values(doc)
    lid = doc["header"]["licence_id"]
    until = str(vals.get("证照有效期截止日期") or "")
    issued = str(vals["证照颁发日期"])
    base = f"/v1/licences/{lid}"
    return IssuedOut(
        licence_id=lid,
        type_code=str(vals["证照类型代码"]),
        type_name=str(vals["证照类型名称"]),
        authority=str(vals["证照颁发机构代码"]),
        holder=str(vals["持证主体代码"]),
        issued_on=f"{issued[:4]}-{issued[4:6]}-{issued[6:8]}",
        valid_until=f"{until[:4]}-{until[4:6]}-{until[6:8]}" if until else None,
        links={"self": base, "receipt": f"{base}/receipt", "pdf": f"{base}/pdf"},
    )


def request_digest(route: str, body: BaseModel) -> str:
    data = json.dumps(
        [route, body.model_dump(mode="json")], sort_keys=True, ensure_ascii=False
    ).encode()
    return hashlib.sha256(data).hexdigest()


def stored_answer(
    svc: LicenceService, access: Access, key: str, digest: str
) -> JSONResponse | None:
    """Claim ``key``; None if claimed for this request, else the stored first answer (or the
    409 when the key was used for another body, or is still in flight)."""
    found = svc.store.claim_key(access.client.client_id, key, digest)
    if found is None:
        return None
    if found["request_sha256"] != digest:
        raise Problem(
            409,
            "idempotency-key-reused",
            "this Idempotency-Key was used for a different request: send a new key",
        )
    if found["state"] != "done":
        raise Problem(
            409,
            "idempotency-key-in-flight",
            "a request with this Idempotency-Key is still being processed; retry shortly",
            headers={"Retry-After": "1"},
        )
    return JSONResponse(
        json.loads(found["answer"]),
        status_code=int(found["http_status"]),
        headers={"Idempotent-Replayed": "true"},
    )


def issue_request(item: LicenceIn, authority: str) -> Any:
    from licence.issuance import Holder, IssueRequest

    return IssueRequest(
        item.type,
        authority,
        Holder(item.holder.id, item.holder.name),
        item.fields,
        item.valid_until,
    )


def owned(svc: LicenceService, access: Access, lid: str) -> dict[str, Any]:
    """The licence's index row if the client's authority issued it: 404 if unknown, 403 if
    another authority's (nothing is read or changed)."""
    from licence.errors import LicenceError

    authority = issuing_authority(svc, access)
    try:
        row = svc.row(lid)
    except LicenceError as exc:
        raise problem_of(exc) from None
    access.subject = audit_subject(SCOPE, str(row["holder_id"]))
    if row["authority"] != authority:
        raise Problem(
            403,
            "other-authority",
            "this licence was issued by another authority: only its issuer may read or change it",
        )
    return row
