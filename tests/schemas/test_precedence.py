"""The 一数一源 precedence rule: authoritative source first, else the newest, else the larger run."""

from __future__ import annotations

import itertools
from datetime import datetime

import pytest

from schemas.precedence import Rank, rank, wins

OLD = datetime(2026, 1, 5, 8, 0)
NEW = datetime(2026, 3, 1, 8, 0)


def test_a_first_value_always_wins() -> None:
    assert wins(rank(False, OLD, "run-a"), None)
    assert wins(rank(True, OLD, "run-a"), None)


def test_the_authoritative_source_beats_a_newer_value() -> None:
    police = rank(True, OLD, "police-1")
    hospital = rank(False, NEW, "hospital-9")
    assert not wins(hospital, police)  # newer, but not the field's source: the police value stays
    assert wins(police, hospital)  # the source arriving later takes the field back


def test_among_equals_the_newest_wins() -> None:
    assert wins(rank(False, NEW, "a"), rank(False, OLD, "b"))
    assert not wins(rank(False, OLD, "b"), rank(False, NEW, "a"))
    assert wins(rank(True, NEW, "a"), rank(True, OLD, "b"))
    assert not wins(rank(True, OLD, "b"), rank(True, NEW, "a"))


def test_same_time_the_larger_run_id_wins() -> None:
    assert wins(rank(False, OLD, "run-b"), rank(False, OLD, "run-a"))
    assert not wins(rank(False, OLD, "run-a"), rank(False, OLD, "run-b"))


def test_a_run_restating_its_own_value_keeps_it() -> None:
    mine = rank(False, OLD, "run-a")
    assert wins(mine, mine)


RANKS = [  # every combination of authority, time and run
    rank(auth, when, run)
    for auth, when, run in itertools.product((False, True), (OLD, NEW), ("run-a", "run-b"))
]


def naive_winner(candidates: tuple[Rank, ...]) -> Rank:
    """The rule as the contract states it, step by step (an oracle independent of tuple order)."""
    pool = [c for c in candidates if c.authoritative] or list(candidates)
    newest = max(c.observed_at for c in pool)
    pool = [c for c in pool if c.observed_at == newest]
    return max(pool, key=lambda c: c.run_id)


@pytest.mark.parametrize("order", [*itertools.permutations(RANKS[:4]), tuple(RANKS)])
def test_the_winner_does_not_depend_on_arrival_order(order: tuple[Rank, ...]) -> None:
    held: Rank | None = None
    for candidate in order:
        if wins(candidate, held):
            held = candidate
    assert held == naive_winner(order)
