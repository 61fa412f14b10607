"""Signed session cookies and CSRF tokens for the staff pages (stdlib HMAC, no server state).

A cookie is ``base64url(payload) "." base64url(HMAC-SHA256(secret, payload))``; the payload holds
a random session id, the signed-in user (or none) with their account's session version, and the
issue time. The CSRF token of a session is an HMAC of its id, so a forged cross-site form cannot
know it, and a new session id (at login) yields a new token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

COOKIE = "hub_session"
MAX_AGE = 8 * 3600  # one working day; the login page follows after that
SECRET_BYTES = 32


@dataclass(frozen=True)
class Session:
    """One browser's session: anonymous (``user`` None) or a signed-in staff member."""

    sid: str
    user: str | None = None
    version: int = 0
    issued: int = 0


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def new_session(user: str | None = None, version: int = 0, now: float | None = None) -> Session:
    """A fresh session with a new random id (never reuse an id across a login: fixation)."""
    return Session(secrets.token_urlsafe(18), user, version, int(now or time.time()))


def _mac(secret: bytes, label: bytes, data: bytes) -> bytes:
    return hmac.new(secret, label + b"\0" + data, hashlib.sha256).digest()


def encode(session: Session, secret: bytes) -> str:
    payload = _b64(
        json.dumps(
            {"sid": session.sid, "u": session.user, "v": session.version, "t": session.issued},
            separators=(",", ":"),
        ).encode()
    )
    return payload + "." + _b64(_mac(secret, b"session", payload.encode()))


def decode(cookie: str | None, secret: bytes, now: float | None = None) -> Session | None:
    """The session in ``cookie`` if its signature is right and it has not expired, else None."""
    if not cookie or cookie.count(".") != 1:
        return None
    payload, mac = cookie.split(".")
    try:
        if not hmac.compare_digest(_unb64(mac), _mac(secret, b"session", payload.encode())):
            return None
        data = json.loads(_unb64(payload))
        session = Session(str(data["sid"]), data["u"], int(data["v"]), int(data["t"]))
    except (ValueError, KeyError, TypeError):
        return None
    if not 0 <= (now or time.time()) - session.issued <= MAX_AGE:
        return None
    return session


def csrf_token(session: Session, secret: bytes) -> str:
    return _b64(_mac(secret, b"csrf", session.sid.encode()))


def csrf_ok(session: Session | None, token: str | None, secret: bytes) -> bool:
    """True only for the token of this very session (constant-time comparison)."""
    if session is None or not token:
        return False
    return hmac.compare_digest(token, csrf_token(session, secret))


def load_secret(path: Path) -> bytes:
    """The signing secret at ``path``, created (random, mode 0600) on first use.

    Creation is exclusive, so two workers starting together end up with the same secret.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        secret = path.read_bytes()
        for _ in range(20):  # another worker may be writing it right now
            if len(secret) >= SECRET_BYTES:
                break
            time.sleep(0.05)
            secret = path.read_bytes()
        if len(secret) < SECRET_BYTES:
            raise ValueError(
                f"session secret {path.name} under HUB_HOME is shorter than {SECRET_BYTES} bytes: "
                "delete it to have a new one generated (every staff member signs in again)"
            ) from None
        return secret
    with os.fdopen(fd, "wb") as out:
        out.write(secrets.token_bytes(SECRET_BYTES))
    return path.read_bytes()
