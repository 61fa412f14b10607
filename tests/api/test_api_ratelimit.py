"""The shared rate limit's choice of store and its behaviour when the database is away (the
sharing itself is tested against PostgreSQL in tests/services/test_api_cluster.py)."""

from __future__ import annotations

import socket

from sqlalchemy import create_engine

from api.clients import RateLimiter
from api.ratelimit import SharedRateLimiter
from hub.settings import Settings
from hub.wiring import api_app


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens once it is closed


def test_embedded_hub_keeps_the_in_memory_limiter(settings: Settings) -> None:
    state = api_app(settings, background=False).state.hub
    assert type(state.limiter) is RateLimiter  # SQLite: one process, counted in memory
    assert not SharedRateLimiter.suits(state.library.engine)


def test_unreachable_database_still_limits_in_this_process() -> None:
    """With its database away the limiter keeps counting here: a client still gets its burst
    and then waits, rather than every request failing or passing unlimited."""
    url = f"postgresql+psycopg://hub:x@127.0.0.1:{_closed_port()}/hub?connect_timeout=2"
    limiter = SharedRateLimiter(create_engine(url))
    assert SharedRateLimiter.suits(limiter.engine)
    try:
        taken = [limiter.take("client-a", 1.0) for _ in range(3)]  # burst 2
        assert taken[:2] == [0.0, 0.0] and taken[2] > 0
        assert limiter.waiting("client-a", 1.0) > 0
        assert limiter.take("client-b", 1.0) == 0.0
    finally:
        limiter.close()
