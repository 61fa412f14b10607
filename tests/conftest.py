"""Shared fixtures: every test gets its own HUB_HOME so no state leaks between tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.settings import Settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Embedded-default settings rooted in a fresh temporary HUB_HOME."""
    s = Settings(home=tmp_path / "hub", key_passphrase="test-passphrase")
    s.ensure_dirs()
    return s
