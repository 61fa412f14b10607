"""Staff accounts for the web pages: argon2id password hashes, roles, session versions.

Accounts live in the hub database (table ``staff_accounts``). Passwords are stored only as
argon2id hashes; a *session version* is bumped by logout and by a password change, so every
signed session cookie issued before that moment stops working.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import secrets
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    insert,
    select,
    update,
)

ROLES = ("admin", "publisher", "issuer", "verifier", "approver")
ROLE_ZH = {
    "admin": "管理员",
    "publisher": "数据发布员",
    "issuer": "发证员",
    "verifier": "核验员",
    "approver": "共享审批员",
}
MIN_PASSWORD = 10
_USERNAME = re.compile(r"^[a-z][a-z0-9._-]{1,31}$")

metadata = MetaData()

staff_accounts = Table(
    "staff_accounts",
    metadata,
    Column("username", String(32), primary_key=True),
    Column("display_name", Text, nullable=False),
    Column("role", String(16), nullable=False),
    Column("password_hash", Text, nullable=False),
    Column("session_version", Integer, nullable=False),
    Column("disabled", Boolean, nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("password_changed_at", DateTime, nullable=False),
)


# zxcvbn's score (0-4: the guesses an attacker needs, against its lists of the most common
# passwords of public breaches, English words, names, keyboard walks, dates, repeats and
# sequences); 3 = "safely unguessable: moderate protection from an offline attack"
MIN_STRENGTH = 3


def password_problem(password: str, username: str = "") -> str | None:
    """Why ``password`` is too weak for a staff account, or None if it is acceptable.

    Checked: length (at least :data:`MIN_PASSWORD` characters), the user name inside it, one
    character repeated, and a strength estimate (zxcvbn, a maintained package shipping ranked
    lists of the passwords most common in breaches, plus repeat, sequence and keyboard
    patterns) of at least :data:`MIN_STRENGTH`.
    """
    if len(password) < MIN_PASSWORD:
        return f"too short: use at least {MIN_PASSWORD} characters"
    if len(set(password)) <= 2:
        return "one or two characters repeated: use a passphrase of several words"
    name = username.strip().lower()
    if len(name) >= 3 and name in password.lower():
        return f"it contains the user name {username!r}"
    from zxcvbn import zxcvbn  # its dictionaries load on first use: only when a password is set

    result = zxcvbn(password[:100], user_inputs=[name] if name else [])
    if result["score"] >= MIN_STRENGTH:
        return None
    feedback = result["feedback"]
    hints = [feedback.get("warning") or "", *feedback.get("suggestions", [])]
    why = " ".join(h.strip() for h in hints if h.strip()) or "it is easy to guess."
    return (
        f"too easy to guess (strength {result['score']} of 4, need {MIN_STRENGTH}): {why} "
        "A passphrase of four or more unrelated words is strong and easy to remember."
    )


class AccountError(ValueError):
    """An account operation was refused (bad name, role or password; unknown or duplicate)."""


@dataclass(frozen=True)
class Staff:
    """A staff member as the pages see them (never the hash)."""

    username: str
    display_name: str
    role: str
    session_version: int
    disabled: bool

    def may(self, *roles: str) -> bool:
        """True if this account holds one of ``roles`` (admin may do everything)."""
        return not self.disabled and (self.role == "admin" or self.role in roles)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _staff(row: Any) -> Staff:
    return Staff(row.username, row.display_name, row.role, row.session_version, row.disabled)


class StaffAccounts:
    """Create, list and authenticate staff accounts in the hub database."""

    def __init__(self, engine: Engine, hasher: PasswordHasher | None = None) -> None:
        self.engine = engine
        # argon2-cffi's defaults follow RFC 9106's second recommended profile (argon2id, 64 MiB)
        self.hasher = hasher or PasswordHasher()
        self._dummy_hash = self.hasher.hash(secrets.token_urlsafe(24))
        metadata.create_all(engine)

    @staticmethod
    def check_password(password: str, username: str = "") -> None:
        """Refuse a weak staff password, saying why (see :func:`password_problem`)."""
        problem = password_problem(password, username)
        if problem:
            raise AccountError(f"password refused: {problem}")

    def add(self, username: str, role: str, password: str, display_name: str = "") -> Staff:
        if not _USERNAME.match(username):
            raise AccountError(
                f"username {username!r} refused: 2-32 characters, lower-case letters, digits, "
                "'.', '_' or '-', starting with a letter"
            )
        if role not in ROLES:
            raise AccountError(f"unknown role {role!r}: choose one of {', '.join(ROLES)}")
        self.check_password(password, username)
        if self.get(username) is not None:
            raise AccountError(f"staff account {username!r} exists (use `hub staff passwd`)")
        now = _now()
        with self.engine.begin() as conn:
            conn.execute(
                insert(staff_accounts).values(
                    username=username,
                    display_name=display_name or username,
                    role=role,
                    password_hash=self.hasher.hash(password),
                    session_version=1,
                    disabled=False,
                    created_at=now,
                    password_changed_at=now,
                )
            )
        staff = self.get(username)
        assert staff is not None
        return staff

    def get(self, username: str) -> Staff | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(staff_accounts).where(staff_accounts.c.username == username)
            ).first()
        return _staff(row) if row else None

    def list(self) -> list[Staff]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(staff_accounts).order_by(staff_accounts.c.username))
            return [_staff(r) for r in rows]

    def authenticate(self, username: str, password: str) -> Staff | None:
        """The account if ``password`` is right and the account enabled, else None.

        An unknown user costs one verification as well (against a fixed dummy hash made once
        with the same parameters), so timing does not reveal which names exist, and nothing is
        kept per unknown name.
        """
        with self.engine.connect() as conn:
            row = conn.execute(
                select(staff_accounts).where(staff_accounts.c.username == username)
            ).first()
        if row is None:
            with contextlib.suppress(VerificationError, InvalidHashError):
                self.hasher.verify(self._dummy_hash, password)
            return None
        try:
            self.hasher.verify(row.password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        if row.disabled:
            return None
        if self.hasher.check_needs_rehash(row.password_hash):
            with self.engine.begin() as conn:
                conn.execute(
                    update(staff_accounts)
                    .where(staff_accounts.c.username == username)
                    .values(password_hash=self.hasher.hash(password))
                )
        return _staff(row)

    def set_password(self, username: str, password: str) -> None:
        """Change the password; every open session of the account ends."""
        self.check_password(password, username)
        self._update(
            username,
            password_hash=self.hasher.hash(password),
            password_changed_at=_now(),
            session_version=staff_accounts.c.session_version + 1,
        )

    def end_sessions(self, username: str) -> None:
        """Invalidate every session cookie issued to ``username`` so far (logout)."""
        self._update(username, session_version=staff_accounts.c.session_version + 1)

    def set_disabled(self, username: str, disabled: bool) -> None:
        self._update(
            username,
            disabled=disabled,
            session_version=staff_accounts.c.session_version + 1,
        )

    def _update(self, username: str, **values: Any) -> None:
        with self.engine.begin() as conn:
            done = conn.execute(
                update(staff_accounts).where(staff_accounts.c.username == username).values(**values)
            )
        if done.rowcount == 0:
            raise AccountError(f"no staff account {username!r} (see `hub staff list`)")
