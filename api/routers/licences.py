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

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, Response

from api.deps import Access, audit_subject, gate
from api.problems import Problem
from api.routers.issuing import (
    ERRORS,
    SCOPE,
    BatchIn,
    BatchItemOut,
    BatchOut,
    IdempotencyKey,
    IssuedOut,
    LicenceIdPath,
    LicenceIn,
    StatusOut,
    issue_request,
    issued_out,
    issuing_authority,
    licence_service,
    owned,
    problem_of,
    refusal_of,
    request_digest,
    stored_answer,
    type_granted,
)
from api.state import HubState, hub_state

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from licence.errors import LicenceError

router = APIRouter(tags=["issuance"])


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
    svc = licence_service(state)
    authority = issuing_authority(svc, access)
    access.subject = audit_subject(SCOPE, body.holder.id)
    refused = type_granted(access, body.type)
    if refused is not None:
        raise problem_of(refused)
    cid = access.client.client_id
    if idempotency_key is not None:
        replay = stored_answer(svc, access, idempotency_key, request_digest("/v1/licences", body))
        if replay is not None:
            access.outcome = "replayed"
            return replay
    answer: list[IssuedOut] = []

    def record(docs: list[dict[str, Any]], conn: Connection) -> None:
        answer.append(issued_out(docs[0]))
        if idempotency_key is not None:
            svc.store.answer_key(cid, idempotency_key, 201, answer[0].model_dump_json(), conn)

    from licence.errors import LicenceError

    try:
        svc.issue_many([issue_request(body, authority)], on_commit=record)
    except LicenceError as exc:
        if idempotency_key is not None:
            svc.store.release_key(cid, idempotency_key)
        raise problem_of(exc) from None
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
    svc = licence_service(state)
    authority = issuing_authority(svc, access)
    cid = access.client.client_id
    subjects = [audit_subject(SCOPE, item.holder.id) for item in body.items]
    if idempotency_key is not None:
        replay = stored_answer(
            svc, access, idempotency_key, request_digest("/v1/batch/licences", body)
        )
        if replay is not None:
            for s in subjects:
                access.touch(s, (), "replayed")
            return replay
    # rows of types outside the client's grants are refused before the licence checks
    ungranted = [type_granted(access, item.type) for item in body.items]
    wanted = [i for i, e in enumerate(ungranted) if e is None]
    answer: list[BatchOut] = []

    def build(results: list[dict[str, Any] | LicenceError]) -> BatchOut:
        by_index: dict[int, dict[str, Any] | LicenceError] = dict(zip(wanted, results, strict=True))
        out = []
        for i, early in enumerate(ungranted):
            got = early if early is not None else by_index[i]
            if isinstance(got, dict):
                out.append(BatchItemOut(index=i, issued=True, licence=issued_out(got)))
            else:
                out.append(BatchItemOut(index=i, issued=False, refused=refusal_of(got)))
        done = sum(1 for r in out if r.issued)
        return BatchOut(issued=done, refused=len(out) - done, results=out)

    def record(results: list[dict[str, Any] | LicenceError], conn: Connection) -> None:
        answer.append(build(results))
        if idempotency_key is not None:
            svc.store.answer_key(cid, idempotency_key, 200, answer[0].model_dump_json(), conn)

    from licence.errors import LicenceError

    try:
        svc.issue_each([issue_request(body.items[i], authority) for i in wanted], on_commit=record)
    except LicenceError as exc:
        if idempotency_key is not None:
            svc.store.release_key(cid, idempotency_key)
        raise problem_of(exc) from None
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
    svc = licence_service(state)
    row = owned(svc, access, licence_id)
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
    row = owned(licence_service(state), access, licence_id)
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

    svc = licence_service(state)
    owned(svc, access, licence_id)
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

    svc = licence_service(state)
    row = owned(svc, access, licence_id)
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
