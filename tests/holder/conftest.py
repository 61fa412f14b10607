"""Fixtures of the holder tests: a platform with licences issued to a citizen and a company."""

from __future__ import annotations

import pytest
from holder_world import World, make_service

from hub.settings import Settings


@pytest.fixture
def world(settings: Settings) -> World:
    return World(make_service(settings))
