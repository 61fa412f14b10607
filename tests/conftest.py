"""Shared fixtures: every test gets its own HUB_HOME so no state leaks between tests."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from hub.settings import Settings

# The machine is shared and noisy: timing belongs in bench/, never in test verdicts.
hypothesis_settings.register_profile(
    "hub", deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=False
)
hypothesis_settings.load_profile("hub")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Embedded-default settings rooted in a fresh temporary HUB_HOME."""
    s = Settings(home=tmp_path / "hub", key_passphrase="test-passphrase")
    s.ensure_dirs()
    return s


@pytest.fixture(scope="session")
def fabric_network() -> Iterator[dict[str, str]]:
    """The local Fabric network (built when needed, started by scripts/fabric.sh) for the
    session: its HUB_FABRIC_* settings; brought down at the end."""
    from fabrickit import ENV_FILE, build_or_skip, fabric

    from ledger.fabric_anchor import network_settings

    build_or_skip()
    fabric("up")
    try:
        yield network_settings(ENV_FILE)
    finally:
        fabric("down", timeout=120)


@pytest.fixture
def fabric_script() -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run `scripts/fabric.sh COMMAND` (restart, stop-peer, start-peer) from a test."""
    from fabrickit import fabric

    return fabric
