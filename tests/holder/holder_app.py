"""A served hub for the holder tests: licences issued to a citizen who holds a cloud-signature
credential (with a test clock for TOTP steps), approval systems and a holder app."""

from __future__ import annotations

import base64
import datetime as dt
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlparse

from fastapi.testclient import TestClient
from holder_world import PERSON_ID, World, make_library, make_service

from hub.settings import Settings
from licence.cloudsign import totp
from licence.cloudsign.service import CloudSignService
from storage.keys import EncryptedFileKeyStore
from storage.objects import LocalObjectStore

PIN = "246810"
PURPOSE = "licence-exemption"
AUDIENCE = "https://hub.example.gov.cn"


class Clock:
    """Seconds since the epoch, moved by the test (OTP time steps)."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Phone:
    """The citizen's authenticator app."""

    key: bytes
    clock: Clock

    def code(self) -> str:
        """The current code; the clock moves a step on so the next code is fresh."""
        value = totp.totp(self.key, self.clock())
        self.clock.advance(30)
        return value


@dataclass
class Hub:
    http: TestClient
    app: Any
    world: World
    cloudsign: CloudSignService
    phone: Phone
    clock: Clock
    keys: dict[str, str]  # client id -> API key
    settings: Settings

    def headers(self, client: str, purpose: str = PURPOSE) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[client]}", "X-Purpose": purpose}

    def audit(self, subject: str = PERSON_ID) -> list[dict[str, Any]]:
        return list(self.app.state.hub.audit.query(subject))

    def csrf(self, path: str = "/me/login") -> str:
        page = self.http.get(path)
        found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert found, page.text[:500]
        return found.group(1)

    def sign_in(self, pin: str = PIN, otp: str | None = None, id_number: str = PERSON_ID) -> Any:
        token = self.csrf()
        return self.http.post(
            "/me/login",
            data={
                "csrf_token": token,
                "id_number": id_number,
                "pin": pin,
                "otp": otp if otp is not None else self.phone.code(),
            },
            follow_redirects=False,
        )


def make_hub(settings: Settings) -> Hub:
    from hub.wiring import api_app

    lib = make_library(settings)
    world = World(make_service(settings, lib))
    app = api_app(settings, background=False)
    clock = Clock()
    cloudsign = CloudSignService(
        lib.engine,
        EncryptedFileKeyStore(settings.keys_path, settings.key_passphrase),
        LocalObjectStore(settings.objects_path),
        world.svc.ledger,
        lib,
        clock=clock,
    )
    app.state.cloudsign = cloudsign
    enrolment = cloudsign.enrol(PERSON_ID, PIN)
    secret = parse_qs(urlparse(enrolment.otp_uri).query)["secret"][0]
    phone = Phone(base64.b32decode(secret + "=" * (-len(secret) % 8)), clock)
    store = app.state.hub.clients
    until = dt.datetime.now(dt.UTC) + dt.timedelta(days=30)
    keys = {}
    for client in ("approvals-a", "approvals-b", "holder-app"):
        keys[client] = store.add(client, client, rate_limit=1000)
    store.grant("approvals-a", "presentations", PURPOSE, until)
    store.grant("approvals-b", "presentations", PURPOSE, until)
    store.grant("holder-app", "holder-app", "holder-service", until)
    http = TestClient(app, raise_server_exceptions=False)
    return Hub(http, app, world, cloudsign, phone, clock, keys, settings)


def app_key() -> Any:
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


def public_pem(key: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


def assertion(key: Any, **claims: Any) -> str:
    """A holder-app assertion (ES256) naming the citizen, valid for 2 minutes unless changed."""
    import jwt

    now = int(time.time())
    body = {
        "iss": "holder-app",
        "sub": PERSON_ID,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + 120,
        "jti": uuid.uuid4().hex,
    }
    body.update(claims)
    return jwt.encode(body, key, algorithm="ES256")
