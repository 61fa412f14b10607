"""Issuing electronic licences through the API (制证): issue, read, lifecycle.

An issuing system is an API client bound to one issuing authority (``hub authority bind CLIENT
USCC``) and granted the scope ``issue`` for the licence types it may issue (``hub client grant
CLIENT --scope issue --fields <type code or name>,… --purpose licence-issuance``). It issues as
that authority only: the body never names an authority, and every read or lifecycle call on a
licence of another authority is refused (403, audited, nothing changed).

``POST /v1/licences`` and ``POST /v1/batch/licences`` take an ``Idempotency-Key`` header: the
first answer is stored with the request's digest in the transaction that commits the licences,
so a retry (same key, same body) gets that answer again (``Idempotent-Replayed: true``) and never
a second licence; the same key with another body is a 409. A batch issues every row that passes
its checks and refuses the others, each with its reason; the accepted rows are issued as one
all-or-nothing batch.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Header, Path
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from api.deps import PRINTABLE, Access, audit_subject, gate
from api.problems import Problem, responses
from api.state import HubState, hub_state

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from licence.errors import LicenceError
    from licence.service import LicenceService

router = APIRouter(tags=["issuance"])
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
def _problem(exc: LicenceError) -> Problem:
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


def _refusal(exc: LicenceError) -> Refusal:
    p = _problem(exc)
    return Refusal(kind=p.kind, detail=p.detail)


def _service(state: HubState) -> LicenceService:
    return state.licences


def _authority(svc: LicenceService, access: Access) -> str:
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


def _type_granted(access: Access, type_name: str) -> LicenceError | None:
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


def _issued(doc: dict[str, Any]) -> IssuedOut:
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


def _digest(route: str, body: BaseModel) -> str:
    data = json.dumps(
        [route, body.model_dump(mode="json")], sort_keys=True, ensure_ascii=False
    ).encode()
    return hashlib.sha256(data).hexdigest()


def _replay(svc: LicenceService, access: Access, key: str, digest: str) -> JSONResponse | None:
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


def _request(item: LicenceIn, authority: str) -> Any:
    from licence.issuance import Holder, IssueRequest

    return IssueRequest(
        item.type,
        authority,
        Holder(item.holder.id, item.holder.name),
        item.fields,
        item.valid_until,
    )


def _owned(svc: LicenceService, access: Access, lid: str) -> dict[str, Any]:
    """The licence's index row if the client's authority issued it: 404 if unknown, 403 if
    another authority's (nothing is read or changed)."""
    from licence.errors import LicenceError

    authority = _authority(svc, access)
    try:
        row = svc.row(lid)
    except LicenceError as exc:
        raise _problem(exc) from None
    access.subject = audit_subject(SCOPE, str(row["holder_id"]))
    if row["authority"] != authority:
        raise Problem(
            403,
            "other-authority",
            "this licence was issued by another authority: only its issuer may read or change it",
        )
    return row


# ---- issuance -----------------------------------------------------------------------------
@router.post(
    "/v1/licences",
    status_code=201,
    response_model=IssuedOut,
    responses=ERRORS,
)
def issue_licence(
    body: LicenceIn,
    access: Annotated[Access, gate(SCOPE)],
    state: Annotated[HubState, Depends(hub_state)],
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Issue one sealed licence as the client's authority. The answer carries the licence id
    at once; the sealed JSON, the receipt and the PDF are read from the links."""
    svc = _service(state)
    authority = _authority(svc, access)
    access.subject = audit_subject(SCOPE, body.holder.id)
    refused = _type_granted(access, body.type)
    if refused is not None:
        raise _problem(refused)
    cid = access.client.client_id
    if idempotency_key is not None:
        replay = _replay(svc, access, idempotency_key, _digest("/v1/licences", body))
        if replay is not None:
            access.outcome = "replayed"
            return replay
    answer: list[IssuedOut] = []

    def record(docs: list[dict[str, Any]], conn: Connection) -> None:
        answer.append(_issued(docs[0]))
        if idempotency_key is not None:
            svc.store.answer_key(cid, idempotency_key, 201, answer[0].model_dump_json(), conn)

    from licence.errors import LicenceError

    try:
        svc.issue_many([_request(body, authority)], on_commit=record)
    except LicenceError as exc:
        if idempotency_key is not None:
            svc.store.release_key(cid, idempotency_key)
        raise _problem(exc) from None
    except BaseException:
        if idempotency_key is not None:
            svc.store.release_key(cid, idempotency_key)
        raise
    access.fields = {answer[0].type_code}
    access.outcome = "issued"
    access.status = 201
    return JSONResponse(
        answer[0].model_dump(mode="json"),
        status_code=201,
        headers={"Location": answer[0].links["self"]},
    )


@router.post("/v1/batch/licences", response_model=BatchOut, responses=ERRORS)
def issue_batch(
    body: BatchIn,
    access: Annotated[Access, gate(SCOPE)],
    state: Annotated[HubState, Depends(hub_state)],
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Issue up to 1,000 licences as the client's authority: every row that passes its checks
    is issued (as one all-or-nothing batch), every other row is refused with its reason."""
    svc = _service(state)
    authority = _authority(svc, access)
    cid = access.client.client_id
    subjects = [audit_subject(SCOPE, item.holder.id) for item in body.items]
    if idempotency_key is not None:
        replay = _replay(svc, access, idempotency_key, _digest("/v1/batch/licences", body))
        if replay is not None:
            for s in subjects:
                access.touch(s, (), "replayed")
            return replay
    # rows of types outside the client's grants are refused before the licence checks
    ungranted = [_type_granted(access, item.type) for item in body.items]
    wanted = [i for i, e in enumerate(ungranted) if e is None]
    answer: list[BatchOut] = []

    def build(results: list[dict[str, Any] | LicenceError]) -> BatchOut:
        by_index: dict[int, dict[str, Any] | LicenceError] = dict(zip(wanted, results, strict=True))
        out = []
        for i, early in enumerate(ungranted):
            got = early if early is not None else by_index[i]
            if isinstance(got, dict):
                out.append(BatchItemOut(index=i, issued=True, licence=_issued(got)))
            else:
                out.append(BatchItemOut(index=i, issued=False, refused=_refusal(got)))
        done = sum(1 for r in out if r.issued)
        return BatchOut(issued=done, refused=len(out) - done, results=out)

    def record(results: list[dict[str, Any] | LicenceError], conn: Connection) -> None:
        answer.append(build(results))
        if idempotency_key is not None:
            svc.store.answer_key(cid, idempotency_key, 200, answer[0].model_dump_json(), conn)

    from licence.errors import LicenceError

    try:
        svc.issue_each([_request(body.items[i], authority) for i in wanted], on_commit=record)
    except LicenceError as exc:
        if idempotency_key is not None:
            svc.store.release_key(cid, idempotency_key)
        raise _problem(exc) from None
    except BaseException:
        if idempotency_key is not None:
            svc.store.release_key(cid, idempotency_key)
        raise
    out = answer[0]
    for s, item in zip(subjects, out.results, strict=True):
        if item.licence is not None:
            access.touch(s, {item.licence.type_code}, "issued")
        else:
            access.touch(s, (), f"refused:{item.refused.kind if item.refused else ''}")
    return JSONResponse(out.model_dump(mode="json"))


# ---- reading ------------------------------------------------------------------------------
@router.get(
    "/v1/licences/{licence_id}",
    responses={
        **ERRORS,
        200: {"description": "the sealed licence (JSON), byte for byte as stored"},
    },
)
def get_licence(
    licence_id: LicenceIdPath,
    access: Annotated[Access, gate(SCOPE)],
    state: Annotated[HubState, Depends(hub_state)],
) -> Response:
    """The sealed licence, exactly as stored (it verifies with `hub verify`); its current
    status is in the ``Licence-Status`` header."""
    svc = _service(state)
    row = _owned(svc, access, licence_id)
    access.fields = {str(row["type_code"])}
    return Response(
        svc.objects.get(row["object_key"]),
        media_type="application/json",
        headers={"Licence-Status": str(row["status"])},
    )


@router.get("/v1/licences/{licence_id}/status", response_model=StatusOut, responses=ERRORS)
def get_status(
    licence_id: LicenceIdPath,
    access: Annotated[Access, gate(SCOPE)],
    state: Annotated[HubState, Depends(hub_state)],
) -> StatusOut:
    """The licence's current status (valid, suspended, revoked, superseded, expired)."""
    row = _owned(_service(state), access, licence_id)
    return StatusOut(
        licence_id=licence_id,
        status=row["status"],
        reason_code=row["reason_code"],
        superseded_by=row["superseded_by"],
    )


@router.get("/v1/licences/{licence_id}/receipt", responses=ERRORS)
def get_receipt(
    licence_id: LicenceIdPath,
    access: Annotated[Access, gate(SCOPE)],
    state: Annotated[HubState, Depends(hub_state)],
) -> Any:
    """The ledger receipt of the licence's issue entry, once its batch is sequenced (404
    ``receipt-pending`` with ``Retry-After`` before)."""
    from licence.trust import receipt_json

    svc = _service(state)
    _owned(svc, access, licence_id)
    receipt = receipt_json(svc, licence_id)
    if receipt is None:
        raise Problem(
            404,
            "receipt-pending",
            "the licence's issue entry is not sequenced into a checkpoint yet; retry later",
            headers={"Retry-After": "5"},
        )
    return JSONResponse(receipt)


@router.get(
    "/v1/licences/{licence_id}/pdf",
    responses={**ERRORS, 200: {"content": {"application/pdf": {}}}},
)
def get_pdf(
    licence_id: LicenceIdPath,
    access: Annotated[Access, gate(SCOPE)],
    state: Annotated[HubState, Depends(hub_state)],
) -> Response:
    """The PAdES-sealed PDF of a valid licence (409 for one no longer valid)."""
    from licence.errors import LicenceError
    from licence.pdf import render_pdf
    from licence.seals import SealError

    svc = _service(state)
    row = _owned(svc, access, licence_id)
    if row["status"] != "valid":
        raise Problem(
            409,
            "licence-not-valid",
            f"the licence is {row['status']}: no new PDF is issued for it",
        )
    try:
        data = render_pdf(svc, licence_id, state.config.home / "cache" / "fonts")
    except (LicenceError, SealError) as exc:
        raise Problem(409, "pdf-refused", str(exc)) from None
    access.fields = {str(row["type_code"])}
    return Response(data, media_type="application/pdf")


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

    svc = _service(state)
    authority = _authority(svc, access)
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


# ---- lifecycle ----------------------------------------------------------------------------
def _lifecycle(
    state: HubState, access: Access, licence_id: str, action: str, body: BaseModel
) -> StatusOut:
    from licence.errors import LicenceError

    svc = _service(state)
    _owned(svc, access, licence_id)
    try:
        if isinstance(body, RevokeIn):
            svc.revoke(licence_id, body.reason_code, body.reason)
        elif isinstance(body, SuspendIn):
            svc.suspend(licence_id, body.reason, body.reason_code)
        elif isinstance(body, ReinstateIn):
            svc.reinstate(licence_id, body.reason)
        else:
            raise AssertionError(action)
    except LicenceError as exc:
        raise _problem(exc) from None
    row = svc.row(licence_id)
    access.outcome = action
    return StatusOut(
        licence_id=licence_id,
        status=row["status"],
        reason_code=row["reason_code"],
        superseded_by=row["superseded_by"],
    )


@router.post("/v1/licences/{licence_id}/revoke", response_model=StatusOut, responses=ERRORS)
def revoke(
    licence_id: LicenceIdPath,
    body: RevokeIn,
    access: Annotated[Access, gate(SCOPE)],
    state: Annotated[HubState, Depends(hub_state)],
) -> StatusOut:
    """Revoke a valid or suspended licence (final), with a revocation reason code."""
    return _lifecycle(state, access, licence_id, "revoked", body)


@router.post("/v1/licences/{licence_id}/suspend", response_model=StatusOut, responses=ERRORS)
def suspend(
    licence_id: LicenceIdPath,
    body: SuspendIn,
    access: Annotated[Access, gate(SCOPE)],
    state: Annotated[HubState, Depends(hub_state)],
) -> StatusOut:
    """Suspend a valid licence (暂扣)."""
    return _lifecycle(state, access, licence_id, "suspended", body)


@router.post("/v1/licences/{licence_id}/reinstate", response_model=StatusOut, responses=ERRORS)
def reinstate(
    licence_id: LicenceIdPath,
    body: ReinstateIn,
    access: Annotated[Access, gate(SCOPE)],
    state: Annotated[HubState, Depends(hub_state)],
) -> StatusOut:
    """Reinstate a suspended licence."""
    return _lifecycle(state, access, licence_id, "reinstated", body)


@router.post(
    "/v1/licences/{licence_id}/change",
    status_code=201,
    response_model=IssuedOut,
    responses=ERRORS,
)
def change(
    licence_id: LicenceIdPath,
    body: ChangeIn,
    access: Annotated[Access, gate(SCOPE)],
    state: Annotated[HubState, Depends(hub_state)],
) -> Any:
    """Issue the next version with the changed fields; this one becomes superseded (注销).
    The answer is the new version."""
    from licence.errors import LicenceError

    svc = _service(state)
    row = _owned(svc, access, licence_id)
    refused = _type_granted(access, str(row["type_code"]))
    if refused is not None:
        raise _problem(refused)
    try:
        doc = svc.change(licence_id, body.fields, body.reason)
    except LicenceError as exc:
        raise _problem(exc) from None
    out = _issued(doc)
    access.outcome = "changed"
    access.status = 201
    access.fields = {out.type_code}
    return JSONResponse(
        out.model_dump(mode="json"), status_code=201, headers={"Location": out.links["self"]}
    )
