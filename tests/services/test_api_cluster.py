"""The API tier as a cluster: the rate limit shared between instances on PostgreSQL, and (with
``scripts/services.sh up api``) two ``hub serve`` instances behind HAProxy surviving a kill -9."""

from __future__ import annotations

from pathlib import Path

import pytest
from servicekit import services_settings

pytestmark = pytest.mark.services


def test_two_limiters_on_one_database_share_each_clients_bucket(tmp_path: Path) -> None:
    """Two API processes each hold a SharedRateLimiter on the hub's database: a client gets
    its burst (twice its rate) once in all, not once per instance; another client is not
    held by it."""
    from sqlalchemy import create_engine

    from api.ratelimit import SharedRateLimiter

    url = services_settings(tmp_path).db_url
    one, two = SharedRateLimiter(create_engine(url)), SharedRateLimiter(create_engine(url))
    try:
        rate = 0.01  # refills one token in 100 s: nothing comes back during the test
        client = f"cluster-{tmp_path.name}"
        admitted = [(one if i % 2 else two).take(client, rate, burst=4.0) == 0.0 for i in range(10)]
        assert admitted == [True] * 4 + [False] * 6
        assert one.waiting(client, rate, burst=4.0) > 50  # the wait is the bucket's, shared
        assert two.take(f"other-{tmp_path.name}", rate, burst=4.0) == 0.0
        # a batch may leave the bucket in debt, which every instance then sees
        debtor = f"batch-{tmp_path.name}"
        assert one.take(debtor, rate, cost=10, burst=4.0) == 0.0
        assert two.take(debtor, rate, burst=4.0) > 500
    finally:
        one.close()
        two.close()
