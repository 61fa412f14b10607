"""Fixtures for the verifier tests: a fresh platform (seals, licences, ledger) per test."""

from __future__ import annotations

import pytest
from verify_world import World, make_service

from hub.settings import Settings


@pytest.fixture
def world(settings: Settings) -> World:
    return World(make_service(settings), settings)
