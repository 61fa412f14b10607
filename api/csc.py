"""Cloud Signature Consortium API v2 (remote signing): info, credentials and signHash.

Request and response bodies follow CSC API v2.0 (``credentialID``, ``hashes`` as base64,
``hashAlgorithmOID``, ``authData`` with the ``PIN`` and ``OTP`` objects, ``SAD``); errors are
``{"error": ..., "error_description": ...}`` with the status of the refusal. The service behind
it is :class:`licence.cloudsign.service.CloudSignService`, one per app (``app.state.cloudsign``).
"""

from __future__ import annotations

import base64
import binascii
import threading
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from licence.cloudsign.errors import CloudSignError, InvalidRequestError
from licence.cloudsign.service import (
    ECDSA_SHA256_OID,
    SHA256_OID,
    SM2_SM3_OID,
    CloudSignService,
    backend_for,
)
from storage.keys import EncryptedFileKeyStore

router = APIRouter(prefix="/csc/v2", tags=["cloud signature (CSC v2)"])


class CscError(BaseModel):
    """An error in the CSC API's own shape (not RFC 9457: CSC clients expect this)."""

    error: str
    error_description: str


# what the signing endpoints may answer besides 200 and 422
CSC_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": CscError, "description": "invalid request, PIN, OTP or SAD"},
    401: {"model": CscError, "description": "no registered client key"},
    403: {"model": CscError, "description": "credential locked, revoked or not the holder's"},
    404: {"model": CscError, "description": "no such credential"},
}


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


def _service(request: Request) -> CloudSignService:
    """The app's cloud-signature service, over the app's library, objects and ledger."""
    state = request.app.state
    with _open_lock:
        svc = getattr(state, "cloudsign", None)
        if svc is None:
            hub = state.hub
            keys = EncryptedFileKeyStore(hub.settings.keys_path, hub.settings.key_passphrase)
            svc = state.cloudsign = CloudSignService(
                hub.library.engine,
                keys,
                hub.ingest.objects,
                hub.ledger,
                hub.library,
                backend_for(hub.settings, keys),
            )
    return svc


def _client(request: Request) -> str | JSONResponse:
    """The registered front end relaying the request (``Authorization: Bearer <api key>``).

    Only platform front ends that have identified the citizen (real-name login) may call the
    signing API; without this, credentials/list would tell anyone who holds a credential.
    """
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    client = request.app.state.hub.clients.authenticate(key.strip()) if key else None
    if scheme.lower() != "bearer" or client is None:
        return JSONResponse(
            status_code=401,
            content={
                "error": "invalid_client",
                "error_description": "send a registered client's API key as "
                "'Authorization: Bearer <key>'",
            },
            headers={"WWW-Authenticate": "Bearer"},
        )
    return str(client.client_id)


def _error(exc: CloudSignError) -> JSONResponse:
    return JSONResponse(
        status_code=exc.status, content={"error": exc.code, "error_description": str(exc)}
    )


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
    svc: CloudSignService, credential_id: str, certificates: str, cert_info: bool, auth_info: bool
) -> dict[str, Any]:
    info = svc.info(credential_id)
    out = {k: v for k, v in info.items() if k not in ("cert", "auth", "status")}
    out["cert"] = _select_certs(info, certificates, cert_info)
    out["authMode"] = "explicit"
    if auth_info:
        out["auth"] = info["auth"]
    return out


@router.post("/info")
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


@router.post("/credentials/list", response_model=None, responses=CSC_ERRORS)
def credentials_list(body: ListRequest, request: Request) -> dict[str, Any] | JSONResponse:
    client = _client(request)
    if isinstance(client, JSONResponse):
        return client
    svc = _service(request)
    try:
        ids = svc.list_credentials(body.userID)
        out: dict[str, Any] = {"credentialIDs": ids}
        if body.credentialInfo:
            out["credentialInfos"] = [
                {
                    "credentialID": c,
                    **_credential_info(svc, c, body.certificates, body.certInfo, body.authInfo),
                }
                for c in ids
            ]
        return out
    except CloudSignError as exc:
        return _error(exc)


@router.post("/credentials/info", response_model=None, responses=CSC_ERRORS)
def credentials_info(body: CredentialRequest, request: Request) -> dict[str, Any] | JSONResponse:
    client = _client(request)
    if isinstance(client, JSONResponse):
        return client
    try:
        return _credential_info(
            _service(request), body.credentialID, body.certificates, body.certInfo, body.authInfo
        )
    except CloudSignError as exc:
        return _error(exc)


@router.post("/credentials/authorize", response_model=None, responses=CSC_ERRORS)
def credentials_authorize(
    body: AuthorizeRequest, request: Request
) -> dict[str, Any] | JSONResponse:
    client = _client(request)
    if isinstance(client, JSONResponse):
        return client
    values = {a.id.upper(): a.value for a in body.authData}
    pin = values.get("PIN", body.PIN or "")
    otp = values.get("OTP", body.OTP or "")
    try:
        digests = _hashes(body.hashes)
        if body.numSignatures != len(digests):
            raise InvalidRequestError(
                f"numSignatures is {body.numSignatures} but {len(digests)} hashes were given"
            )
        auth = _service(request).authorize(
            body.credentialID, pin, otp, digests, body.hashAlgorithmOID, via=client
        )
    except CloudSignError as exc:
        return _error(exc)
    return {"SAD": auth.sad, "expiresIn": auth.expires_in}


@router.post("/signatures/signHash", response_model=None, responses=CSC_ERRORS)
def signatures_sign_hash(body: SignHashRequest, request: Request) -> dict[str, Any] | JSONResponse:
    client = _client(request)
    if isinstance(client, JSONResponse):
        return client
    try:
        signatures = _service(request).sign_hash(
            body.credentialID,
            body.SAD,
            _hashes(body.hashes),
            body.hashAlgorithmOID,
            body.signAlgo,
            via=client,
        )
    except CloudSignError as exc:
        return _error(exc)
    return {"signatures": [base64.b64encode(s).decode() for s in signatures]}
