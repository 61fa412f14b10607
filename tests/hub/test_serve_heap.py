"""`hub serve` settles its start-up heap before serving: what start-up made is out of the cyclic
collector's sight, and garbage made while serving is still collected."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from hub.commands.serve import settle_heap


@pytest.fixture
def settled() -> Iterator[None]:
    settle_heap()
    try:
        yield
    finally:
        gc.unfreeze()  # the test process goes on collecting as before


class _Node:
    other: _Node | None = None


def test_settling_freezes_start_up_and_still_collects_later_cycles(settled: None) -> None:
    assert gc.get_freeze_count() > 0
    a, b = _Node(), _Node()
    a.other, b.other = b, a  # a cycle only the collector can free
    gone = weakref.ref(a)
    del a, b
    gc.collect()
    assert gone() is None
