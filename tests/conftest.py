"""Shared fixtures: every test gets its own HUB_HOME so no state leaks between tests."""

from __future__ import annotations

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
