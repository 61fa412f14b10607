"""Services tier: two API instances on one PostgreSQL share the sign-in pauses, so a guesser
whose attempts a load balancer spreads over both gets the allowance once, not once each."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from pages_site import staff_sign_in

from api.pages.accounts import StaffAccounts
from api.pages.throttle import FAILURES_ALLOWED, SharedLoginThrottle
from hub.wiring import api_app
from storage.library import engine_for
from tests.servicekit import services_settings

pytestmark = pytest.mark.services

PASSWORD = "correct horse battery"
CHEAP = dict(time_cost=1, memory_cost=8192, parallelism=1)


_attempt = staff_sign_in


def test_guesses_spread_over_two_instances_meet_one_pause(tmp_path: Path) -> None:
    settings = services_settings(tmp_path)
    name = f"clerk-{secrets.token_hex(3)}"
    StaffAccounts(engine_for(settings.db_url), PasswordHasher(**CHEAP)).add(  # type: ignore[arg-type]
        name, "verifier", PASSWORD
    )
    one, two = api_app(settings, background=False), api_app(settings, background=False)
    address = ("203.0.113.77", 50000)
    with TestClient(one, client=address) as a, TestClient(two, client=address) as b:
        statuses = [
            _attempt(a if i % 2 else b, name, f"guess {i}").status_code
            for i in range(FAILURES_ALLOWED + 2)
        ]
        assert statuses[: FAILURES_ALLOWED - 1] == [401] * (FAILURES_ALLOWED - 1)
        assert set(statuses[FAILURES_ALLOWED - 1 :]) == {429}
        # paused on both instances, even with the right password, from that address only
        assert _attempt(a, name, PASSWORD).status_code == 429
        assert _attempt(b, name, PASSWORD).status_code == 429
    with TestClient(two, client=("10.20.0.7", 50000)) as desk:
        assert _attempt(desk, name, PASSWORD).status_code == 303
    assert isinstance(one.state.login_throttle_staff, SharedLoginThrottle)
