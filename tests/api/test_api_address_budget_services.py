"""Services tier: an address's budget for requests without a valid key holds over every API
instance on one PostgreSQL, not once per instance a load balancer spreads it over."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.ratelimit import LayeredLimiter
from hub.wiring import api_app
from tests.servicekit import services_settings

pytestmark = pytest.mark.services


def test_a_key_guesser_gets_one_budget_over_two_instances(tmp_path: Path) -> None:
    # 0.2/s: a bucket of one request, refilled in five seconds
    settings = services_settings(tmp_path).model_copy(update={"api_stranger_rate": 0.2})
    one, two = api_app(settings, background=False), api_app(settings, background=False)
    assert isinstance(one.state.hub.strangers, LayeredLimiter)
    address = (f"198.51.100.{tmp_path.stat().st_ino % 250 + 1}", 40000)
    bad = {"Authorization": "Bearer not-a-key", "X-Purpose": "benefit-check"}
    with TestClient(one, client=address) as a, TestClient(two, client=address) as b:
        statuses = [
            (a if i % 2 else b).get("/v1/catalog", headers=bad).status_code for i in range(6)
        ]
    # each instance alone would admit one guess (401) before refusing (429): two in all
    assert statuses[0] == 401 and statuses.count(401) == 1, statuses
    assert set(statuses[1:]) == {429}
