"""Holder sign-in with the cloud-signature credential, and the holder's sessions.

A citizen signs in with their resident ID number, the credential's PIN and a fresh TOTP: the
very checks signing uses (``CloudSignService.sign_in``), so a wrong PIN or OTP counts towards
the same lock, a used OTP step is refused, and a locked or revoked credential cannot sign in.
Attempts on the web page are counted for the client :func:`web_client` of the address they
come from, so a stranger who guesses PINs locks the web sign-in *from their own address* only:
the holder signing in from elsewhere, and their signing through their own app, go on. A spray
from many addresses meets a slower back-off per ID number (in the pages), which a browser the
holder signed in with before (:func:`device_proof`, a keyed cookie) does not wait for.

What the person is told is the same for a wrong ID number, PIN or OTP (a stranger learns
nothing about whether an ID has a credential); the audit keeps the exact reason, for the holder.

A session is a random 256-bit token in an HttpOnly cookie, stored only as its SHA-256 with the
holder and an expiry (:data:`SESSION_SECONDS`), so signing out ends it on the server too.

A company's legal representative (法定代表人) acts for the company: signed in as themselves,
they open a session *for the company* (holder: its USCC; ``via``: ``rep:<their ID>``,
:func:`acting_via`). The authorisation is the legal-entity library's
``legal_rep_id_number`` of the company, delivered by the market regulator (the authoritative
source), so nothing new is registered and a change of representative takes effect with the
delivery: every use of such a session checks it again (:func:`represents`), and the session
ends with the person's own (it never outlives it). An agent (经办人) the representative
authorised (:mod:`holder.agents`) opens one the same way (``via``: ``agent:<their ID>``,
:func:`agent_via`), checked on every use by ``HolderSessions(agents=...)``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Engine, delete, insert, select

from holder import store
from licence.cloudsign.errors import CloudSignError, CredentialLockedError, UnknownCredentialError

PAGES = "holder-pages"  # the client the web sign-in's attempts are counted for
SESSION_SECONDS = 30 * 60  # a citizen at a window or on a phone: half an hour, then sign in again


class CredentialChecks(Protocol):
    """The cloud-signature service as sign-in sees it."""

    def sign_in(self, id_number: str, pin: str, otp: str, via: str) -> str: ...


@dataclass
class SignInRefused(Exception):
    """A refused sign-in: ``outcome`` for the audit, ``status`` for the answer, ``message`` for
    the person (the same for every wrong input, a lock said as such)."""

    outcome: str
    status: int
    message: str
    holder: str | None = None  # the normalised ID the attempt named, if it was one

    def __str__(self) -> str:
        return self.message


WRONG = "身份证号、PIN 或动态口令有误 / the ID number, PIN or one-time password is wrong"
LOCKED = (
    "多次输入错误，网页登录已锁定，请到服务窗口解锁 / too many wrong attempts: sign-in is "
    "locked, the service desk can unlock it"
)


def web_client(address: str) -> str:
    """The client the web sign-in's attempts from ``address`` are counted for: the lock of a
    credential is per (ID, address). The address is kept as a short digest, not as such."""
    return f"{PAGES}@{hashlib.sha256(address.encode()).hexdigest()[:16]}"


def device_proof(key: bytes, holder: str) -> str:
    """The value of the cookie that marks a browser ``holder`` signed in with (HMAC-SHA256 of
    the normalised ID under the pages' key): proof of an earlier success, not of identity."""
    return hmac.new(key, f"holder-device|{holder}".encode(), hashlib.sha256).hexdigest()


def known_device(key: bytes, holder: str, cookie: str | None) -> bool:
    return bool(cookie) and hmac.compare_digest(device_proof(key, holder), str(cookie))


def holder_id(raw: str) -> str:
    """The normalised resident ID number (18 characters, valid check character); SignInRefused
    (400) for anything else."""
    from schemas import resident_id
    from schemas.library import subject_key
    from storage.library import POPULATION

    value = subject_key(POPULATION, raw[:40])
    if not resident_id.validate(value).valid or len(value) != 18:
        raise SignInRefused(
            "invalid-id",
            400,
            "请输入有效的 18 位身份证号 / enter a valid 18-character resident ID number",
        )
    return value


def sign_in(checks: CredentialChecks, raw_id: str, pin: str, otp: str, via: str = PAGES) -> str:
    """Check ID + PIN + OTP with the credential; the holder's normalised ID number, or
    SignInRefused naming the reason (``refused:invalid_pin``, ``refused:invalid_otp``,
    ``refused:credential_locked``, ``refused:no_credential``)."""
    holder = holder_id(raw_id)
    try:
        checks.sign_in(holder, pin.strip()[:32], otp.strip()[:16], via)
    except UnknownCredentialError:
        raise SignInRefused("refused:no_credential", 401, WRONG, holder) from None
    except CredentialLockedError as exc:
        raise SignInRefused(f"refused:{exc.code}", 403, LOCKED, holder) from None
    except CloudSignError as exc:
        locked = "locked" in str(exc)
        raise SignInRefused(
            f"refused:{exc.code}", 403 if locked else 401, LOCKED if locked else WRONG, holder
        ) from None
    return holder


ACTING = "rep:"  # ``via`` of a session held for a company by its legal representative
AGENT = "agent:"  # ``via`` of a session held for a company by an agent it authorised


def acting_via(person: str) -> str:
    return ACTING + person


def agent_via(person: str) -> str:
    return AGENT + person


def agent_person(via: str) -> str | None:
    """The agent acting for the session's company, None for any other session."""
    return via[len(AGENT) :] if via.startswith(AGENT) else None


def acting_person(via: str) -> str | None:
    """The person acting for the session's company (its representative or an agent), None
    for a session of one's own."""
    return via[len(ACTING) :] if via.startswith(ACTING) else agent_person(via)


def represents(entity: Mapping[str, Mapping[str, Any]] | None, person: str) -> bool:
    """Whether the company's golden record (``entity``: fields with a ``value``) names
    ``person`` (a normalised resident ID) as its legal representative."""
    from schemas.library import subject_key
    from storage.library import POPULATION

    value = ((entity or {}).get("legal_rep_id_number") or {}).get("value")
    return bool(value) and subject_key(POPULATION, str(value)) == person


def _utc(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).replace(tzinfo=None)


class HolderSessions:
    """Server-side holder sessions (token hash → holder, expiry)."""

    def __init__(
        self,
        engine: Engine,
        clock: Callable[[], float] = time.time,
        lifetime: int = SESSION_SECONDS,
        authorised: Callable[[str, str], bool] | None = None,
        agents: Callable[[str, str], bool] | None = None,
    ) -> None:
        """``authorised(company, person)``: whether ``person`` represents ``company`` now;
        ``agents(company, person)``: whether ``person`` is its authorised agent now (without
        them, no session held for a company is honoured)."""
        self.engine, self.clock, self.lifetime = engine, clock, lifetime
        self.authorised, self.agents = authorised, agents
        store.create(engine)

    def start(self, holder: str, via: str = PAGES, until: dt.datetime | None = None) -> str:
        """A new session for ``holder`` (ending at ``until`` at the latest); its token (shown
        once: the cookie's value)."""
        token = secrets.token_urlsafe(32)
        now = self.clock()
        expires = _utc(now + self.lifetime)
        expires = min(expires, until) if until is not None else expires
        with store.write(self.engine) as conn:
            conn.execute(delete(store.sessions).where(store.sessions.c.expires_at < _utc(now)))
            conn.execute(
                insert(store.sessions).values(
                    token_sha256=store.secret_hash(token),
                    holder=holder,
                    via=via[:64],
                    created_at=_utc(now),
                    expires_at=expires,
                )
            )
        return token

    def session(self, token: str | None) -> tuple[str, str, dt.datetime] | None:
        """(holder, via, expiry) of a live session, None for no, an unknown or an expired
        token, or a company's session whose person no longer represents it."""
        if not token or len(token) > 64:
            return None
        stmt = select(
            store.sessions.c.holder, store.sessions.c.via, store.sessions.c.expires_at
        ).where(store.sessions.c.token_sha256 == store.secret_hash(token))
        with self.engine.connect() as conn:
            row = conn.execute(stmt).first()
        if row is None or row.expires_at <= _utc(self.clock()):
            return None
        person = acting_person(str(row.via))
        check = self.agents if agent_person(str(row.via)) is not None else self.authorised
        if person is not None and (check is None or not check(str(row.holder), person)):
            return None
        return str(row.holder), str(row.via), row.expires_at

    def holder_of(self, token: str | None) -> str | None:
        """The holder of a live session (see :meth:`session`), else None."""
        found = self.session(token)
        return found[0] if found is not None else None

    def end(self, token: str | None) -> None:
        if token:
            with store.write(self.engine) as conn:
                conn.execute(
                    delete(store.sessions).where(
                        store.sessions.c.token_sha256 == store.secret_hash(token)
                    )
                )
