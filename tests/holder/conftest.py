"""Fixtures of the holder tests: a platform with licences issued to a citizen and a company."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from holder_app import Hub, make_hub
from holder_world import World, make_service

from hub.settings import Settings


@pytest.fixture
def world(settings: Settings) -> World:
    return World(make_service(settings))


@pytest.fixture
def hub(settings: Settings) -> Iterator[Hub]:
    made = make_hub(settings)
    with made.http:
        yield made
