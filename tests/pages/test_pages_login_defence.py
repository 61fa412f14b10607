"""Sign-in under attack: a stranger cannot lock staff out, nor exhaust the server with
password checks, nor grow its memory with made-up names; weak staff passwords are refused."""

from __future__ import annotations

from typing import Any, Literal

import pytest
from argon2 import PasswordHasher
from click.testing import CliRunner
from fastapi.testclient import TestClient
from pages_site import staff_sign_in

import hub.settings
from api.pages.accounts import AccountError, StaffAccounts, password_problem
from api.pages.auth import HashGate, HashingBusy
from api.pages.throttle import LoginThrottle
from hub.cli import main
from hub.settings import Settings
from hub.wiring import api_app
from storage.library import engine_for

PASSWORD = "correct horse battery"
CHEAP = dict(time_cost=1, memory_cost=8192, parallelism=1)


@pytest.fixture
def app(settings: Settings) -> Any:
    StaffAccounts(engine_for(settings.db_url), PasswordHasher(**CHEAP)).add(  # type: ignore[arg-type]
        "admin", "admin", PASSWORD
    )
    return api_app(settings, background=False)


def _client(app: Any, address: str) -> TestClient:
    return TestClient(app, client=(address, 50000))


_attempt = staff_sign_in


def test_a_stranger_cannot_lock_the_admin_out(app: Any) -> None:
    with _client(app, "203.0.113.9") as stranger, _client(app, "10.20.0.7") as desk:
        statuses = [_attempt(stranger, "admin", f"guess number {i}").status_code for i in range(8)]
        assert statuses[:4] == [401] * 4 and set(statuses[4:]) == {429}
        assert _attempt(stranger, "admin", PASSWORD).status_code == 429  # paused there ...
        assert _attempt(desk, "admin", PASSWORD).status_code == 303  # ... not at the desk


def test_the_pause_doubles_with_each_failure_up_to_a_limit() -> None:
    throttle = LoginThrottle(allowed=5, first=60, longest=900)
    pauses = [throttle.failed("admin", "203.0.113.9", now=float(t)) for t in range(10)]
    assert pauses[:4] == [0.0] * 4
    assert pauses[4:] == [60.0, 120.0, 240.0, 480.0, 900.0, 900.0]
    assert throttle.wait("admin", "203.0.113.9", now=9.0) == 900.0
    assert throttle.wait("admin", "10.20.0.7", now=9.0) == 0.0
    throttle.succeeded("admin", "203.0.113.9")
    assert throttle.wait("admin", "203.0.113.9", now=10.0) == 0.0


def test_made_up_names_do_not_grow_memory() -> None:
    throttle = LoginThrottle(max_tracked=100, forget=3600)
    for i in range(5000):
        throttle.failed(f"nobody-{i}", f"198.51.100.{i % 250}", now=float(i))
    assert len(throttle) == 100
    # and a quiet pair is forgotten
    throttle.failed("admin", "203.0.113.9", now=0.0)
    assert throttle.wait("admin", "203.0.113.9", now=10_000.0) == 0.0


class CountingHasher(PasswordHasher):
    def __init__(self) -> None:
        super().__init__(**CHEAP)  # type: ignore[arg-type]
        self.hashed = self.verified = 0

    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
        self.hashed += 1
        return super().hash(password, salt=salt)

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        self.verified += 1
        return super().verify(hash, password)


def test_unknown_names_cost_one_verification_and_keep_nothing(settings: Settings) -> None:
    hasher = CountingHasher()
    accounts = StaffAccounts(engine_for(settings.db_url), hasher)
    accounts.add("admin", "admin", PASSWORD)
    hashed = hasher.hashed
    for i in range(20):
        assert accounts.authenticate(f"nobody-{i}", "whatever it is") is None
    assert hasher.verified == 20  # as a known name costs: one verification each
    assert hasher.hashed == hashed  # no new hash (and no new salt, memory or state) per name
    assert accounts.authenticate("admin", PASSWORD) is not None


def test_password_checks_beyond_the_cap_are_answered_at_once(app: Any) -> None:
    gate = HashGate(running=1, waiting=0)
    app.state.pages_hash_gate = gate
    with _client(app, "10.20.0.7") as desk, gate.slot():  # one check under way
        busy = _attempt(desk, "admin", PASSWORD)
        assert busy.status_code == 503 and busy.headers["retry-after"] == "5"
        assert "Too many sign-ins" in busy.text
    with _client(app, "10.20.0.7") as desk:  # the slot is free again
        assert _attempt(desk, "admin", PASSWORD).status_code == 303


def test_hash_gate_admits_running_plus_waiting_and_no_more() -> None:
    gate = HashGate(running=1, waiting=0)
    with gate.slot(), pytest.raises(HashingBusy), gate.slot():
        pass
    with gate.slot():  # released: admitted again
        pass


@pytest.mark.parametrize(
    ("password", "why"),
    [
        ("aaaaaaaaaa", "repeated"),
        ("short", "at least"),
        ("Password123!", "commonly used password"),
        ("abcdefghijklmn", "Sequences"),
        ("qwertyuiop123", "strength"),
        ("admin2026admin!", "user name"),
    ],
)
def test_weak_staff_passwords_are_refused_with_the_reason(
    settings: Settings, password: str, why: str
) -> None:
    accounts = StaffAccounts(engine_for(settings.db_url), PasswordHasher(**CHEAP))  # type: ignore[arg-type]
    with pytest.raises(AccountError, match=why):
        accounts.add("admin", "admin", password)
    assert accounts.get("admin") is None
    accounts.add("admin", "admin", PASSWORD)
    with pytest.raises(AccountError, match=why):
        accounts.set_password("admin", password)
    assert accounts.authenticate("admin", PASSWORD) is not None  # unchanged


def test_a_passphrase_is_accepted() -> None:
    assert password_problem("correct horse battery", "admin") is None
    assert password_problem("青山 绿水 steady lantern", "admin") is None


def test_hub_staff_refuses_a_weak_password(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hub.settings, "_settings", settings)
    run = CliRunner()
    out = run.invoke(
        main, ["staff", "add", "root", "--role", "admin", "--password-stdin"], input="aaaaaaaaaa\n"
    )
    assert out.exit_code != 0 and "password refused" in out.output
    assert "no staff accounts" in run.invoke(main, ["staff", "list"]).output
