"""``POST /v1/licences/verify``: verify a licence file, PDF, SD-JWT VC export or QR payload;
the report as JSON.

Public like the QR code's "scan to verify" link: the caller already holds the licence (or its
printed QR code), and the report names no holder. The body is either a multipart upload (field
``file``: sealed or disclosed JSON licence, licence with receipt, or PDF), a JSON body (a
licence, ``{"licence": ..., "receipt": ...}``, or ``{"qr": "<payload>"}``), or the raw bytes
with ``Content-Type: application/pdf`` (or ``application/vc+sd-jwt`` for an export made with
``hub licence export --format sd-jwt-vc``). The HTTP status is 200 whatever the verdict: the verdict
is in the body (``TOTAL_PASSED`` / ``TOTAL_FAILED`` / ``INDETERMINATE``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from api.problems import Problem, responses
from api.state import HubState, hub_state
from ledger import strict_json

router = APIRouter(tags=["licences"])
MAX_BYTES = 20 * 1024 * 1024


class CheckOut(BaseModel):
    check: str = Field(examples=["integrity"])
    status: str = Field(examples=["PASSED"], description="PASSED / FAILED / INDETERMINATE")
    reason: str = Field(examples=["OK"], description="reason code")
    en: str
    zh: str


class ReportOut(BaseModel):
    verdict: str = Field(examples=["TOTAL_PASSED"])
    sub_indication: str | None = Field(
        default=None, description="first failing (else indeterminate) reason code"
    )
    kind: str = Field(examples=["sealed"], description="sealed / disclosed / pdf / qr / unknown")
    licence_id: str | None = None
    summary: dict[str, Any] = Field(default_factory=dict)
    checks: list[CheckOut]
    as_of: str | None = Field(
        default=None, description="the verdict holds as of this time (ISO 8601, UTC)"
    )
    as_of_zh: str | None = Field(
        default=None, examples=["截至2026-01-05 16:30 北京时间 UTC+8（在线实时）"]
    )
    as_of_en: str | None = None
    age_hours: float | None = Field(
        default=None, description="offline only: how old the trust bundle was"
    )


BODY_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary", "minLength": 1}},
                    "required": ["file"],
                }
            },
            "application/json": {
                "schema": {
                    "oneOf": [
                        {"type": "object", "description": "a sealed or disclosed licence"},
                        {
                            "type": "object",
                            "properties": {"licence": {"type": "object"}, "receipt": {}},
                            "required": ["licence"],
                        },
                        {
                            "type": "object",
                            "properties": {"qr": {"type": "string"}},
                            "required": ["qr"],
                        },
                    ]
                }
            },
            "application/pdf": {"schema": {"type": "string", "format": "binary", "minLength": 1}},
            "application/vc+sd-jwt": {
                "schema": {"type": "string", "minLength": 1},
                "example": "eyJhbGciOiJFUzI1NiIsInR5cCI6InZjK3NkLWp3dCIsIng1YyI6Wy4uLl19.….…~WyJ…~",
            },
        },
    }
}


async def _body(request: Request) -> tuple[bytes, str | None]:
    """(bytes to verify, QR payload if one was sent instead)."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "multipart/form-data":
        try:
            form = await request.form()
        except Exception:  # a malformed multipart body (python-multipart's parse errors)
            raise Problem(400, "bad-multipart", "the multipart body cannot be parsed") from None
        upload = form.get("file")
        qr = form.get("qr")
        if isinstance(qr, str) and qr.strip():
            return b"", qr
        if upload is None or isinstance(upload, str):
            raise Problem(400, "no-file", "send the licence as the multipart field 'file'")
        data = await upload.read()
    else:
        data = await request.body()
    if len(data) > MAX_BYTES:
        raise Problem(413, "too-large", f"the file is over {MAX_BYTES // (1024 * 1024)} MB")
    if not data.strip():
        raise Problem(400, "empty", "the body is empty: send a licence file, a PDF or {'qr': ...}")
    if ctype == "application/json" and b'"qr"' in data:
        try:
            obj = strict_json.loads(data)
        except strict_json.StrictJSONError:
            obj = None  # the verifier reports why (duplicate keys, truncated, …)
        if isinstance(obj, dict) and isinstance(obj.get("qr"), str):
            if len(obj) > 1:
                return data, None  # {"qr": …} with a licence beside it: the verifier refuses
            return b"", obj["qr"]
    return data, None


def _verify(state: HubState, data: bytes, qr: str | None) -> dict[str, Any]:
    import datetime as dt

    from licence.trust import verify_online

    config = state.config
    return verify_online(
        state.licences,
        data,
        qr,
        peers_dir=config.trust_dir,
        max_age=dt.timedelta(hours=config.verify_max_age_hours),
    ).to_dict()


@router.post(
    "/v1/licences/verify",
    response_model=ReportOut,
    responses=responses(400, 413, 422),
    openapi_extra=BODY_DOC,
    summary="Verify a licence, its PDF or QR payload",
)
async def verify_licence(
    request: Request, state: Annotated[HubState, Depends(hub_state)]
) -> dict[str, Any]:
    """Run every check (integrity, seal, certificate chain, seal status, authority, ledger
    inclusion, checkpoint, anchor, status, validity) and return the explained report."""
    data, qr = await _body(request)
    return await run_in_threadpool(_verify, state, data, qr)
