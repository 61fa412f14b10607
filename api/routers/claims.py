"""Claims (核验, 证明免提交): yes/no questions about a person or an entity, with a receipt.

``POST /v1/claims/verify`` answers each claim ``true``, ``false`` or ``"undetermined"`` (with a
reason code), never with a value of the library, and returns the id of the receipt (核验凭证)
that seals the answer set; ``POST /v1/batch/claims/verify`` asks the same claims of up to 1,000
subjects (a receipt each); ``GET /v1/claims/receipts/{receipt_id}`` returns a receipt with its
ledger inclusion proof once the sequencer has covered it: the file ``hub verify`` checks.

Grants: scope ``claims``, one grant per claim type (``fields`` = claim type ids, or ``*``);
``hub client grant CLIENT --scope claim:person.alive`` is the same grant. Every question is
audited under the subject's normalised ID with the claim types asked as its fields.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Path, Response
from pydantic import BaseModel, Field

from api.deps import PRINTABLE, Access, gate
from api.problems import Problem, responses
from api.state import HubState, hub_state
from schemas import claims as catalogue
from sharing.service import MAX_CLAIMS, ClaimRequestError, Parsed, normalise, parse_claims

router = APIRouter(tags=["claims"])
ERRORS = responses(400, 401, 403, 422, 429, 503)
MAX_BATCH = 1000
SCOPE = "claims"

Subject = Annotated[
    str,
    Field(
        min_length=1,
        max_length=32,
        pattern=PRINTABLE,
        description="resident ID number (15 or 18 digits) or unified social credit code",
    ),
]


class ClaimIn(BaseModel):
    type: str = Field(
        min_length=1, max_length=64, pattern=PRINTABLE, examples=["person.household_in"]
    )
    params: dict[str, Any] = Field(
        default_factory=dict, description="the claim type's parameters (`hub claims list`)"
    )


Claims = Annotated[list[ClaimIn], Field(min_length=1, max_length=MAX_CLAIMS)]


class ClaimsIn(BaseModel):
    subject: Subject
    claims: Claims
    as_of: dt.date | None = Field(
        default=None, description="the date the answers hold as of (default: today)"
    )


class ClaimOut(BaseModel):
    type: str = Field(examples=["person.household_in"])
    params: dict[str, Any] = Field(examples=[{"division": "3404"}])
    holds: bool | Literal["undetermined"] = Field(examples=[True])
    reason: str | None = Field(
        default=None,
        description="why the library cannot decide: SUBJECT_UNKNOWN, FIELD_MISSING, "
        "SOURCES_DISAGREE, VALUE_UNREADABLE, RELATED_UNKNOWN, NOT_APPLICABLE",
        examples=[None],
    )


class ClaimsOut(BaseModel):
    receipt_id: str = Field(
        description="the receipt (核验凭证) sealing these answers: GET /v1/claims/receipts/{id}",
        examples=["CR20261207A1B2C3D4E5F60718293A"],
    )
    as_of: dt.date
    answers: list[ClaimOut]


class BatchIn(BaseModel):
    subjects: Annotated[list[Subject], Field(min_length=1, max_length=MAX_BATCH)]
    claims: Claims
    as_of: dt.date | None = None


class BatchItem(BaseModel):
    subject: str = Field(description="the subject as the library keys it (normalised)")
    receipt_id: str
    answers: list[ClaimOut]


class BatchOut(BaseModel):
    as_of: dt.date
    results: list[BatchItem]


class ReceiptOut(BaseModel):
    document: dict[str, Any] = Field(description="the sealed receipt (核验凭证)")
    receipt: dict[str, Any] | None = Field(
        description="its ledger receipt (inclusion proof, checkpoint); null until sequenced"
    )


def _examples() -> dict[str, dict[str, Any]]:
    """One OpenAPI example per claim type, from the catalogue."""
    subjects = {"person": "11010519491231002X", "entity": "91110000600037341L"}
    out: dict[str, dict[str, Any]] = {}
    for claim in catalogue.catalogue().values():
        subject = subjects.get(claim.subject, subjects["entity"])
        out[claim.id] = {
            "summary": f"{claim.title_zh} ({claim.title_en}); replaces {'、'.join(claim.replaces)}",
            "value": {"subject": subject, "claims": [{"type": claim.id, "params": claim.example}]},
        }
    return out


def _question(access: Access, claims: list[ClaimIn], subjects: list[str]) -> list[Parsed]:
    """The claims parsed, after the client's grants for each type are checked (403 naming
    the types not granted; 422 naming unknown types and bad parameters)."""
    access.named = subjects
    access.fields = {c.type for c in claims}
    refused = sorted({c.type for c in claims if not access.allows(c.type)})
    if refused:
        raise Problem(
            403,
            "not-granted",
            f"client {access.client.client_id!r} holds no live grant of claim type(s) "
            f"{', '.join(refused)} for this purpose (scope claim:<type>)",
        )
    try:
        return parse_claims([(c.type, c.params) for c in claims])
    except ClaimRequestError as exc:
        raise Problem(422, "invalid-claim", str(exc)) from None


def _as_of(day: dt.date | None) -> dt.date | None:
    if day is not None and day > dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1):
        raise Problem(
            422, "invalid-claim", "as_of is in the future: the library knows only the past"
        )
    return day


def _json(body: Any) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


@router.post("/v1/claims/verify", response_model=ClaimsOut, responses=ERRORS)
async def verify_claims(
    body: Annotated[ClaimsIn, Body(openapi_examples=_examples())],
    access: Annotated[Access, gate(SCOPE)],
    state: Annotated[HubState, Depends(hub_state)],
) -> Response:
    """Do these claims hold of the subject (as of a date)? Answers true / false /
    "undetermined" (with a reason), never a value, with the receipt sealing them."""
    subject = normalise(body.subject)
    access.subject = subject
    parsed = _question(access, body.claims, [subject])
    as_of = _as_of(body.as_of)
    service = state.claims
    now = dt.datetime.now(dt.UTC)
    answers, day, sealed = service.answer(
        access.client.client_id, access.purpose, subject, parsed, as_of, now
    )
    access.outcome = "answered"
    # the receipt is stored and logged in the transaction of this question's audit row: the
    # answer leaves once both are committed (503 and no answer if they are not)
    access.attach = (service.store.write_in, [(access.client.client_id, sealed, now)])
    # serialised here, not re-validated through the response model (as the record reads do);
    # the schemathesis test checks the body against the OpenAPI document
    out = {
        "receipt_id": sealed.receipt_id,
        "as_of": day.isoformat(),
        "answers": [a.to_json() for a in answers],
    }
    return Response(_json(out), media_type="application/json")


@router.post("/v1/batch/claims/verify", response_model=BatchOut, responses=ERRORS)
async def batch_verify_claims(
    body: BatchIn,
    access: Annotated[Access, gate(SCOPE)],
    state: Annotated[HubState, Depends(hub_state)],
) -> BatchOut:
    """The same claims of up to 1,000 subjects: one receipt and one audit row per subject."""
    subjects = [normalise(s) for s in body.subjects]
    parsed = _question(access, body.claims, subjects)
    as_of = _as_of(body.as_of)
    service = state.claims
    client = access.client.client_id
    now = dt.datetime.now(dt.UTC)
    results: list[BatchItem] = []
    items: list[Any] = []
    day = as_of or now.date()
    for subject in subjects:
        answers, day, sealed = service.answer(client, access.purpose, subject, parsed, as_of, now)
        items.append((client, sealed, now))
        access.touch(subject, access.fields, "answered")
        results.append(
            BatchItem.model_construct(
                subject=subject,
                receipt_id=sealed.receipt_id,
                answers=[ClaimOut.model_construct(**a.to_json()) for a in answers],
            )
        )
    access.attach = (service.store.write_in, items)  # with the audit rows, as a single question's
    return BatchOut.model_construct(as_of=day, results=results)


@router.get(
    "/v1/claims/receipts/{receipt_id}",
    response_model=ReceiptOut,
    responses=responses(400, 401, 403, 404, 422, 429, 503),
)
async def claim_receipt(
    receipt_id: Annotated[
        str, Path(min_length=1, max_length=40, pattern=PRINTABLE, examples=["CR20261207A1B2C3"])
    ],
    access: Annotated[Access, gate(SCOPE)],
    state: Annotated[HubState, Depends(hub_state)],
) -> ReceiptOut:
    """A receipt this client was given, with its ledger inclusion proof once sequenced: save
    it as a file and check it with `hub verify FILE` (or on the /verify page)."""
    found = state.claims.store.with_proof(receipt_id, access.client.client_id)
    if found is None:
        access.outcome = "not-found"
        raise Problem(404, "not-found", "no receipt with this id was given to this client")
    access.outcome = "receipt"
    return ReceiptOut.model_construct(**found)


class SubjectIn(BaseModel):
    subject: Subject


class AboutOut(BaseModel):
    about: bool = Field(examples=[True], description="the receipt is about this subject")


@router.post(
    "/v1/claims/receipts/{receipt_id}/subject",
    response_model=AboutOut,
    responses=responses(400, 401, 403, 404, 422, 429, 503),
)
async def claim_receipt_subject(
    receipt_id: Annotated[
        str, Path(min_length=1, max_length=40, pattern=PRINTABLE, examples=["CR20261207A1B2C3"])
    ],
    body: SubjectIn,
    access: Annotated[Access, gate(SCOPE)],
    state: Annotated[HubState, Depends(hub_state)],
) -> AboutOut:
    """Is this receipt about this subject? A receipt names its subject only by a keyed hash
    (HMAC under a hub key): the hub, asked by the client the receipt was given to, answers
    yes or no (any form of the ID: a 15-digit number matches its 18-digit form)."""
    access.subject = normalise(body.subject)
    found = state.claims.store.with_proof(receipt_id, access.client.client_id)
    if found is None:
        access.outcome = "not-found"
        raise Problem(404, "not-found", "no receipt with this id was given to this client")
    about = state.claims.is_about(found["document"]["fields"], body.subject)
    access.outcome = "about" if about else "not-about"
    return AboutOut(about=about)
