"""Cloud Signature Consortium API v2 (remote signing): info, credentials and signHash.

Request and response bodies follow CSC API v2.0 (``credentialID``, ``hashes`` as base64,
``hashAlgorithmOID``, ``authData`` with the ``PIN`` and ``OTP`` objects, ``SAD``). The service
behind it is :class:`licence.cloudsign.service.CloudSignService`, one per app
(``app.state.cloudsign``).

Who may call what. Every method but ``info`` (the public discovery document) is behind the
same gate as the sharing API (:func:`api.deps.admit`): a registered client's API key
(``Authorization: Bearer``), the rate limit, and a live grant of scope ``cloudsign`` for the
purpose declared in ``X-Purpose``. On top of the grant, the client must be *bound* to the
credential: the holder's own app, or a signing service the holder enrolled with (``hub
cloudsign enrol --client``, ``hub cloudsign bind``). A client that is not bound gets the very
answer an unknown credential gets (400 ``invalid_request``, "Invalid parameter credentialID"
or "... userID"), so it learns nothing about who holds a credential, and it cannot spend the
credential's PIN attempts: those are counted per (credential, client) by the service. Every
call is an audit row (:mod:`api.audit`) naming the client, its purpose and, under its keyed
hash, the holder.

Errors follow the CSC specification, not RFC 9457, on every ``/csc/v2/*`` path:
``{"error": ..., "error_description": ...}``. Request errors (validation, unknown credential,
wrong PIN or OTP, bad SAD) are 400 with ``invalid_request`` (``invalid_pin`` and ``invalid_otp``
for the authorisation data); a missing or unknown API key is 401 ``invalid_token`` and a
client without a ``cloudsign`` grant for its purpose 403 ``insufficient_scope`` (RFC 6750, the
bearer scheme CSC uses); an unknown method is 404 and a wrong HTTP method 405, both
``invalid_request``.
"""

from __future__ import annotations

import base64
import binascii
import threading
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.deps import Access, admit, conclude
from api.problems import Problem
from licence.cloudsign.errors import CloudSignError, InvalidRequestError
from licence.cloudsign.oids import ECDSA_SHA256_OID, SHA256_OID, SM2_SM3_OID
from licence.cloudsign.service import CloudSignService

SCOPE = "cloudsign"
PREFIX = "/csc/v2"
# the CSC error codes a client may see; the service's finer codes (sad_used, invalid_hash, ...)
# stay in its audit outcomes and in error_description
CSC_CODES = frozenset({"invalid_request", "invalid_pin", "invalid_otp"})
NOT_BOUND_CREDENTIAL = "Invalid parameter credentialID"
NOT_BOUND_USER = "Invalid parameter userID"


class CscError(BaseModel):
    """An error in the CSC API's own shape (not RFC 9457: CSC clients expect this)."""

    error: str = Field(examples=["invalid_request"])
    error_description: str = Field(examples=["Invalid parameter credentialID"])


def csc_error(
    status: int, error: str, description: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        status_code=status,
        content={"error": error, "error_description": description},
        headers=headers,
    )


def _csc_response(description: str) -> dict[str, Any]:
    return {"model": CscError, "description": description}


# what the gated methods may answer besides 200
CSC_ERRORS: dict[int | str, dict[str, Any]] = {
    400: _csc_response("invalid request: parameters, credential, PIN, OTP or SAD"),
    401: _csc_response("no registered client key (invalid_token)"),
    403: _csc_response("no cloudsign grant for the declared purpose (insufficient_scope)"),
    429: _csc_response("the client's rate limit is exceeded"),
    503: _csc_response("the audit cannot be written: no answer is given"),
}


def _from_problem(problem: Problem) -> JSONResponse:
    """The gate's refusal (an RFC 9457 problem elsewhere) in the CSC shape."""
    headers = dict(problem.headers)
    if problem.status == 401:
        error = "invalid_token"
        headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    elif problem.status == 403:
        error = "insufficient_scope"
    elif problem.status >= 500:
        error = "temporarily_unavailable"
    else:
        error = "invalid_request"
    return csc_error(problem.status, error, problem.detail, headers)


def _validation_text(exc: RequestValidationError) -> str:
    """CSC's wording for a malformed request: which parameter, never its value."""
    for e in exc.errors():
        loc = [str(p) for p in e.get("loc", ()) if p != "body"]
        name = ".".join(loc) or "body"
        if e.get("type") == "missing":
            return f"Missing (or invalid type) parameter {name}"
        return f"Invalid parameter {name}: {e.get('msg', '')}"
    return "the request body is not valid JSON for this method"


class CscRoute(APIRoute):
    """A CSC method: the gate first (scope ``cloudsign``), then the handler, then the audit
    row, committed before the answer leaves; every refusal in the CSC error shape."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        gated = self.path != PREFIX + "/info"
        route_path = self.path

        async def route(request: Request) -> Response:
            access: Access | None = None
            if gated:
                try:
                    access = await admit(request, SCOPE, route_path)
                except Problem as problem:  # already audited by the gate
                    return _from_problem(problem)
                request.state.csc_access = access
            try:
                response = await handler(request)
            except RequestValidationError as exc:
                response = csc_error(400, "invalid_request", _validation_text(exc))
                if access is not None:
                    access.outcome = "invalid-request"
            except StarletteHTTPException as exc:
                code = "invalid_request" if exc.status_code < 500 else "server_error"
                response = csc_error(exc.status_code, code, str(exc.detail))
                if access is not None:
                    access.outcome = "refused"
            if access is not None:
                access.status = response.status_code
                if response.status_code >= 400:
                    access.fields = set()
                try:
                    await conclude(request, route_path, access, None)
                except Problem as problem:  # the audit row could not be written
                    return _from_problem(problem)
            return response

        return route


router = APIRouter(prefix=PREFIX, tags=["cloud signature (CSC v2)"], route_class=CscRoute)


class InfoRequest(BaseModel):
    lang: str | None = None


class ListRequest(BaseModel):
    userID: str = Field(description="the holder's resident ID number")
    credentialInfo: bool = False
    certificates: str = "single"
    certInfo: bool = False
    authInfo: bool = False


class CredentialRequest(BaseModel):
    credentialID: str
    certificates: str = "single"
    certInfo: bool = False
    authInfo: bool = False


class AuthObject(BaseModel):
    id: str
    value: str


class AuthorizeRequest(BaseModel):
    credentialID: str
    numSignatures: int
    hashes: list[str]
    hashAlgorithmOID: str = SHA256_OID
    authData: list[AuthObject] = []
    # CSC v1 style, still accepted
    PIN: str | None = None
    OTP: str | None = None


class SignHashRequest(BaseModel):
    credentialID: str
    SAD: str | None = None
    hashes: list[str]
    hashAlgorithmOID: str = SHA256_OID
    signAlgo: str = ECDSA_SHA256_OID


_open_lock = threading.Lock()


def cloudsign_service(request: Request) -> CloudSignService:
    """The app's cloud-signature service, over the app's library, objects and ledger."""
    state = request.app.state
    with _open_lock:
        svc = getattr(state, "cloudsign", None)
        if svc is None:
            hub = state.hub
            svc = state.cloudsign = hub.services.cloudsign(hub.ledger)
    return svc


def _access(request: Request) -> Access:
    access: Access = request.state.csc_access
    return access


def _refused(access: Access, exc: CloudSignError) -> JSONResponse:
    """A refusal of the service in the CSC shape (every one is a request error: 400)."""
    access.outcome = f"refused:{exc.code}"
    code = exc.code if exc.code in CSC_CODES else "invalid_request"
    return csc_error(400, code, str(exc))


def _not_bound(access: Access, holder: str | None, description: str) -> JSONResponse:
    """The answer to a client not bound to the credential (or holder): the same as for one
    that does not exist. The audit knows which it was and files it under the holder."""
    access.subject = holder
    access.outcome = "not-bound" if holder else "unknown-credential"
    return csc_error(400, "invalid_request", description)


async def _bound(request: Request, credential_id: str) -> tuple[CloudSignService, str | None]:
    """The service and the credential's holder if the calling client is bound to it."""
    svc = cloudsign_service(request)
    access = _access(request)
    holder, bound = await run_in_threadpool(
        svc.holder_if_bound, credential_id, access.client.client_id
    )
    access.subject = holder
    return svc, holder if bound else None


def _hashes(values: list[str]) -> list[bytes]:
    try:
        return [base64.b64decode(v, validate=True) for v in values]
    except (binascii.Error, ValueError):
        raise InvalidRequestError("hashes must be base64-encoded digests") from None


def _select_certs(info: dict[str, Any], certificates: str, cert_info: bool) -> dict[str, Any]:
    cert = dict(info["cert"])
    if certificates == "none":
        cert.pop("certificates")
    elif certificates == "single":
        cert["certificates"] = cert["certificates"][:1]
    if not cert_info:
        for k in ("issuerDN", "serialNumber", "subjectDN", "validFrom", "validTo"):
            cert.pop(k, None)
    return cert


def _credential_info(
    svc: CloudSignService,
    credential_id: str,
    certificates: str,
    cert_info: bool,
    auth_info: bool,
    via: str,
) -> dict[str, Any]:
    info = svc.info(credential_id, via=via)
    out = {k: v for k, v in info.items() if k not in ("cert", "auth", "status")}
    out["cert"] = _select_certs(info, certificates, cert_info)
    out["authMode"] = "explicit"
    if auth_info:
        out["auth"] = info["auth"]
    return out


# the gate (api.deps.admit) reads both itself; documented here as on the sharing API
GATED = {
    "security": [{"apiKey": []}],
    "parameters": [
        {
            "name": "X-Purpose",
            "in": "header",
            "required": True,
            "description": "the declared purpose; must match a grant of scope 'cloudsign'",
            "schema": {"type": "string", "minLength": 1, "maxLength": 64},
        }
    ],
}


@router.post("/info", responses={400: CSC_ERRORS[400]})
def info(body: InfoRequest | None = None) -> dict[str, Any]:
    return {
        "specs": "2.0.0.2",
        "name": "省级政务服务平台电子云签 Provincial cloud signature",
        "logo": "",
        "region": "CN",
        "lang": "zh-CN",
        "description": "Remote signing with sole control: PIN + TOTP, single-use SAD bound to "
        "the hashes, every event on the ledger.",
        "authType": ["external"],
        "methods": [
            "credentials/list",
            "credentials/info",
            "credentials/authorize",
            "signatures/signHash",
        ],
        "signAlgorithms": {"algos": [ECDSA_SHA256_OID, SM2_SM3_OID]},
    }


@router.post("/credentials/list", response_model=None, responses=CSC_ERRORS, openapi_extra=GATED)
async def credentials_list(body: ListRequest, request: Request) -> dict[str, Any] | JSONResponse:
    from schemas.library import subject_key

    access = _access(request)
    svc = cloudsign_service(request)
    holder = subject_key("population", body.userID)
    access.subject = holder
    via = access.client.client_id
    ids = await run_in_threadpool(svc.bound_credentials, holder, via)
    if not ids:
        return _not_bound(access, holder, NOT_BOUND_USER)
    try:
        out: dict[str, Any] = {"credentialIDs": ids}
        if body.credentialInfo:
            out["credentialInfos"] = [
                {
                    "credentialID": c,
                    **await run_in_threadpool(
                        _credential_info,
                        svc,
                        c,
                        body.certificates,
                        body.certInfo,
                        body.authInfo,
                        via,
                    ),
                }
                for c in ids
            ]
    except CloudSignError as exc:
        return _refused(access, exc)
    access.fields = {"credentialIDs", *(["credentialInfos"] if body.credentialInfo else [])}
    return out


@router.post("/credentials/info", response_model=None, responses=CSC_ERRORS, openapi_extra=GATED)
async def credentials_info(
    body: CredentialRequest, request: Request
) -> dict[str, Any] | JSONResponse:
    access = _access(request)
    svc, holder = await _bound(request, body.credentialID)
    if holder is None:
        return _not_bound(access, access.subject, NOT_BOUND_CREDENTIAL)
    try:
        out = await run_in_threadpool(
            _credential_info,
            svc,
            body.credentialID,
            body.certificates,
            body.certInfo,
            body.authInfo,
            access.client.client_id,
        )
    except CloudSignError as exc:
        return _refused(access, exc)
    access.fields = set(out)
    return out


@router.post(
    "/credentials/authorize", response_model=None, responses=CSC_ERRORS, openapi_extra=GATED
)
async def credentials_authorize(
    body: AuthorizeRequest, request: Request
) -> dict[str, Any] | JSONResponse:
    access = _access(request)
    svc, holder = await _bound(request, body.credentialID)
    if holder is None:  # an unbound client cannot spend (nor exhaust) the PIN attempts
        return _not_bound(access, access.subject, NOT_BOUND_CREDENTIAL)
    values = {a.id.upper(): a.value for a in body.authData}
    pin = values.get("PIN", body.PIN or "")
    otp = values.get("OTP", body.OTP or "")
    try:
        digests = _hashes(body.hashes)
        if body.numSignatures != len(digests):
            raise InvalidRequestError(
                f"numSignatures is {body.numSignatures} but {len(digests)} hashes were given"
            )
        auth = await run_in_threadpool(
            svc.authorize,
            body.credentialID,
            pin,
            otp,
            digests,
            body.hashAlgorithmOID,
            access.client.client_id,
        )
    except CloudSignError as exc:
        return _refused(access, exc)
    access.fields = {"SAD"}
    return {"SAD": auth.sad, "expiresIn": auth.expires_in}


@router.post("/signatures/signHash", response_model=None, responses=CSC_ERRORS, openapi_extra=GATED)
async def signatures_sign_hash(
    body: SignHashRequest, request: Request
) -> dict[str, Any] | JSONResponse:
    access = _access(request)
    svc, holder = await _bound(request, body.credentialID)
    if holder is None:
        return _not_bound(access, access.subject, NOT_BOUND_CREDENTIAL)
    try:
        signatures = await run_in_threadpool(
            svc.sign_hash,
            body.credentialID,
            body.SAD,
            _hashes(body.hashes),
            body.hashAlgorithmOID,
            body.signAlgo,
            access.client.client_id,
        )
    except CloudSignError as exc:
        return _refused(access, exc)
    access.fields = {"signatures"}
    return {"signatures": [base64.b64encode(s).decode() for s in signatures]}


METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


async def _unknown(request: Request, rest: str) -> JSONResponse:
    """Any other path or HTTP method under /csc/v2: 404 or 405 in the CSC shape."""
    known = {r.path: sorted(r.methods or ()) for r in router.routes if isinstance(r, CscRoute)}
    path = f"{PREFIX}/{rest}"
    if path in known:
        return csc_error(
            405,
            "invalid_request",
            f"{request.method} is not allowed on {path}: use {', '.join(known[path])}",
            {"Allow": ", ".join(known[path])},
        )
    return csc_error(404, "invalid_request", f"no CSC method {rest!r} here (see {PREFIX}/info)")


router.add_api_route(
    "/{rest:path}",
    _unknown,
    methods=list(METHODS),
    include_in_schema=False,
    route_class_override=APIRoute,
)
