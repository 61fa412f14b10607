"""The 一数一源 precedence rule: which statement's value of a field is the golden one.

For each field the data contract names its authoritative source (一数一源, "one item, one
authoritative source"). Of the values several runs gave for one field of one subject:

1. a value from a run that is the field's authoritative source beats any other;
2. among values equal on (1), the newest wins (the run's observation time);
3. among those, the larger run id wins, so the outcome never depends on the order the runs
   were merged in (a re-run or a replay ends in the same state).

The rule is a total order on :func:`rank`; :func:`wins` is the comparison the library's merge
and its reads use. Times are compared as given: callers pass naive UTC (as the stores keep).
Pure: no I/O.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple


class Rank(NamedTuple):
    """Where a value stands under the rule; a larger rank wins (tuples compare in order)."""

    authoritative: bool
    observed_at: datetime
    run_id: str


def rank(authoritative: bool, observed_at: datetime, run_id: str) -> Rank:
    """The rank of a value a run gave: from the field's authoritative source or not, when the
    run was observed, and the run's id."""
    return Rank(authoritative, observed_at, run_id)


def wins(challenger: Rank, holder: Rank | None) -> bool:
    """Does ``challenger`` take the field from the current winner ``holder`` (None: no value
    yet)? Ties (the same run) go to the challenger: a run restating its own value keeps it."""
    return holder is None or challenger >= holder
