"""Staff accounts, session cookies and CSRF tokens: what a signed-in member of staff relies on."""

from __future__ import annotations

import time

import pytest
from argon2 import PasswordHasher
from click.testing import CliRunner

import hub.settings
from api.pages import session as sessions
from api.pages.accounts import AccountError, StaffAccounts
from hub.cli import main
from hub.settings import Settings
from storage.library import engine_for

PASSWORD = "correct horse battery"


@pytest.fixture
def accounts(settings: Settings) -> StaffAccounts:
    # cheap argon2id parameters: these tests are about behaviour, not the work factor
    cheap = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)
    return StaffAccounts(engine_for(settings.db_url), cheap)


def test_password_is_stored_only_as_argon2id(accounts: StaffAccounts) -> None:
    accounts.add("alice", "publisher", PASSWORD, "Alice")
    with accounts.engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT password_hash FROM staff_accounts").scalar_one()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert accounts.authenticate("alice", PASSWORD) is not None
    assert accounts.authenticate("alice", PASSWORD + "!") is None
    assert accounts.authenticate("nobody", PASSWORD) is None


def test_refuses_unknown_role_short_password_and_duplicates(accounts: StaffAccounts) -> None:
    with pytest.raises(AccountError, match="unknown role"):
        accounts.add("bob", "superuser", PASSWORD)
    with pytest.raises(AccountError, match="at least"):
        accounts.add("bob", "issuer", "short")
    with pytest.raises(AccountError, match="username"):
        accounts.add("Bob Smith", "issuer", PASSWORD)
    accounts.add("bob", "issuer", PASSWORD)
    with pytest.raises(AccountError, match="exists"):
        accounts.add("bob", "admin", PASSWORD)


def test_roles_admin_may_everything_others_only_theirs(accounts: StaffAccounts) -> None:
    admin = accounts.add("root", "admin", PASSWORD)
    verifier = accounts.add("vera", "verifier", PASSWORD)
    assert admin.may("publisher") and admin.may("issuer")
    assert verifier.may("verifier") and not verifier.may("publisher")


def test_password_change_and_disable_end_sessions(accounts: StaffAccounts) -> None:
    first = accounts.add("carol", "verifier", PASSWORD)
    accounts.set_password("carol", "another long password")
    after = accounts.get("carol")
    assert after is not None and after.session_version > first.session_version
    assert accounts.authenticate("carol", PASSWORD) is None
    assert accounts.authenticate("carol", "another long password") is not None
    accounts.set_disabled("carol", True)
    assert accounts.authenticate("carol", "another long password") is None


def test_session_cookie_round_trips_and_rejects_tampering(settings: Settings) -> None:
    secret = sessions.load_secret(settings.home / "pages" / "session.key")
    assert (settings.home / "pages" / "session.key").stat().st_mode & 0o777 == 0o600
    assert sessions.load_secret(settings.home / "pages" / "session.key") == secret
    s = sessions.new_session("alice", 3)
    cookie = sessions.encode(s, secret)
    assert sessions.decode(cookie, secret) == s
    payload, mac = cookie.split(".")
    forged = sessions.encode(sessions.Session(s.sid, "root", 3, s.issued), secret).split(".")[0]
    assert sessions.decode(forged + "." + mac, secret) is None  # payload swapped
    assert sessions.decode(cookie, b"x" * 32) is None  # another server's secret
    assert sessions.decode(payload, secret) is None
    later = time.time() + sessions.MAX_AGE + 1
    assert sessions.decode(cookie, secret, now=later) is None  # expired


def test_csrf_token_is_bound_to_the_session(settings: Settings) -> None:
    secret = sessions.load_secret(settings.home / "pages" / "session.key")
    a, b = sessions.new_session(), sessions.new_session()
    token = sessions.csrf_token(a, secret)
    assert sessions.csrf_ok(a, token, secret)
    assert not sessions.csrf_ok(b, token, secret)
    assert not sessions.csrf_ok(a, None, secret)
    assert not sessions.csrf_ok(None, token, secret)


def test_hub_staff_commands(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hub.settings, "_settings", settings)
    run = CliRunner()
    out = run.invoke(
        main,
        ["staff", "add", "dora", "--role", "issuer", "--name", "Dora", "--password-stdin"],
        input=PASSWORD + "\n",
    )
    assert out.exit_code == 0, out.output
    listed = run.invoke(main, ["staff", "list"])
    assert "dora" in listed.output and "issuer" in listed.output
    assert "argon2" not in listed.output
    bad = run.invoke(main, ["staff", "add", "eve", "--role", "root", "--password-stdin"])
    assert bad.exit_code != 0
    changed = run.invoke(
        main, ["staff", "passwd", "dora", "--password-stdin"], input="a new long password\n"
    )
    assert changed.exit_code == 0, changed.output
    accounts = StaffAccounts(engine_for(settings.db_url))
    assert accounts.authenticate("dora", "a new long password") is not None
    missing = run.invoke(main, ["staff", "passwd", "nobody", "--password-stdin"], input=PASSWORD)
    assert missing.exit_code != 0 and "no staff account" in missing.output
