"""A registered holder app acting for a citizen it has authenticated: a short-lived signed
assertion shaped like an OpenID Connect ID token (a JWS, RFC 7519 claims).

The app (an API client holding a ``holder-app`` grant) registers its public key once (``hub
holder app-key``); with each request it sends ``X-Holder-Assertion: <JWS>``, signed with the
private key (ES256 or EdDSA), claims::

    iss  the app's client id (must be the client whose API key came with the request)
    sub  the citizen's resident ID number
    aud  this hub's origin (e.g. https://hub.example.gov.cn)
    iat, exp  issued and expiry time, at most MAX_LIFETIME s apart
    jti  a unique identifier: each assertion is accepted once

Checked here: the signature under the registered key (no ``alg: none``, no key carried in the
token), audience, issuer, expiry (LEEWAY s of clock skew), lifetime, and replay (``jti`` kept
until the assertion expires).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, delete, insert, select
from sqlalchemy.exc import IntegrityError

from holder import store
from holder.signin import SignInRefused, holder_id

ALGORITHMS = ["ES256", "EdDSA"]
MAX_LIFETIME = 300  # seconds between iat and exp
LEEWAY = 30  # seconds of clock skew tolerated
REQUIRED = ["iss", "sub", "aud", "exp", "iat", "jti"]
KEY_SECONDS = 2.0  # a key registered or replaced in another process is used within this
PURGE_SECONDS = 60.0  # expired jti rows are deleted at most this often


@dataclass
class AssertionRefused(Exception):
    """The assertion is not accepted: ``outcome`` for the audit, ``message`` for the app."""

    outcome: str
    message: str
    holder: str | None = None

    def __str__(self) -> str:
        return self.message


def _utc(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).replace(tzinfo=None)


def load_public_key(pem: bytes) -> Any:
    """A P-256 or Ed25519 public key from PEM; ValueError naming what is wrong otherwise."""
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    try:
        key = load_pem_public_key(pem)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"not a PEM public key: {exc}") from None
    if isinstance(key, ed25519.Ed25519PublicKey):
        return key
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1":
        return key
    raise ValueError("the holder app's key must be ECDSA P-256 (ES256) or Ed25519 (EdDSA)")


def _signed_sub(token: str) -> str | None:
    """The citizen an assertion names, read after its signature verified (PyJWT checks the
    signature before the claims): a refusal for expiry or audience is audited under them."""
    import jwt

    try:
        sub = jwt.decode(token, options={"verify_signature": False}).get("sub")
        return holder_id(str(sub))
    except (jwt.PyJWTError, SignInRefused):
        return None


class HolderApps:
    """Registered holder-app keys and the assertions already accepted."""

    def __init__(self, engine: Engine, clock: Callable[[], float] = time.time) -> None:
        self.engine, self.clock = engine, clock
        self._keys: dict[str, tuple[float, Any]] = {}  # client -> (read at, key or None)
        self._purged = float("-inf")
        store.create(engine)

    def register(self, client_id: str, public_pem: bytes) -> None:
        """Record (or replace) the public key of holder app ``client_id``."""
        from cryptography.hazmat.primitives import serialization

        key = load_public_key(public_pem)
        pem = key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()
        with store.write(self.engine) as conn:
            conn.execute(delete(store.app_keys).where(store.app_keys.c.client_id == client_id))
            conn.execute(
                insert(store.app_keys).values(
                    client_id=client_id, public_key=pem, created_at=_utc(self.clock())
                )
            )
        self._keys.pop(client_id, None)

    def _key(self, client_id: str) -> Any:
        """The app's parsed key (None if it has none), read at most every KEY_SECONDS."""
        now = time.monotonic()
        cached = self._keys.get(client_id)
        if cached is not None and now - cached[0] < KEY_SECONDS:
            return cached[1]
        stmt = select(store.app_keys.c.public_key).where(store.app_keys.c.client_id == client_id)
        with self.engine.connect() as conn:
            pem = conn.execute(stmt).scalar()
        key = None if pem is None else load_public_key(str(pem).encode())
        if len(self._keys) > 1000:
            self._keys.clear()
        self._keys[client_id] = (now, key)
        return key

    def verify(self, token: str, client_id: str, audience: str) -> str:
        """The citizen (normalised resident ID) the assertion of app ``client_id`` names;
        AssertionRefused (``forged``, ``expired``, ``wrong-audience``, ``wrong-issuer``,
        ``too-long``, ``replayed``, ``malformed``, ``unknown-app``) otherwise."""
        import jwt

        key = self._key(client_id)
        if key is None:
            raise AssertionRefused(
                "unknown-app",
                f"client {client_id!r} has no registered holder-app key (hub holder app-key)",
            )
        if not token or len(token) > 8192:
            raise AssertionRefused("malformed", "send the assertion in 'X-Holder-Assertion'")
        now = self.clock()
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=ALGORITHMS,
                audience=audience,
                issuer=client_id,
                leeway=LEEWAY,
                options={"require": REQUIRED},
            )
        except jwt.ExpiredSignatureError:
            raise AssertionRefused(
                "expired", "the holder assertion has expired", _signed_sub(token)
            ) from None
        except jwt.InvalidAudienceError:
            raise AssertionRefused(
                "wrong-audience",
                f"the holder assertion is not for this hub (aud {audience})",
                _signed_sub(token),
            ) from None
        except jwt.InvalidIssuerError:
            raise AssertionRefused(
                "wrong-issuer", "the assertion's iss is not the client that sent it"
            ) from None
        except jwt.InvalidSignatureError:
            raise AssertionRefused(
                "forged", "the holder assertion's signature does not verify under the app's key"
            ) from None
        except jwt.PyJWTError as exc:
            raise AssertionRefused(
                "malformed", f"the holder assertion is malformed: {exc}"
            ) from None
        iat, exp, jti = claims["iat"], claims["exp"], claims["jti"]
        if not (isinstance(iat, int | float) and isinstance(exp, int | float)):
            raise AssertionRefused("malformed", "iat and exp must be numbers")
        if exp - iat > MAX_LIFETIME or iat > now + LEEWAY:
            raise AssertionRefused(
                "too-long", f"a holder assertion lives at most {MAX_LIFETIME} s from its iat"
            )
        if not isinstance(jti, str) or not 8 <= len(jti) <= 128:
            raise AssertionRefused("malformed", "jti must be a string of 8 to 128 characters")
        try:
            holder = holder_id(str(claims["sub"]))
        except SignInRefused:
            raise AssertionRefused("malformed", "sub is not a valid resident ID number") from None
        self._claim(client_id, jti, float(exp) + LEEWAY, now, holder)
        return holder

    def _claim(self, client_id: str, jti: str, until: float, now: float, holder: str) -> None:
        """Accept ``jti`` once (atomically: a primary key), forgetting expired ones."""
        seen = store.seen_assertions
        try:
            with store.write(self.engine) as conn:
                if now - self._purged >= PURGE_SECONDS:
                    conn.execute(delete(seen).where(seen.c.expires_at < _utc(now)))
                    self._purged = now
                conn.execute(insert(seen).values(issuer=client_id, jti=jti, expires_at=_utc(until)))
        except IntegrityError:
            raise AssertionRefused(
                "replayed", "this holder assertion was already used (jti seen)", holder
            ) from None
