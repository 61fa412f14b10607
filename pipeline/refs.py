"""The run reference the ingest steps hand each other, and the pipeline's error.

A :class:`RunRef` is a ``TypedDict``: a plain ``dict`` of ids, object keys and counts at run time,
so Airflow passes it through XCom as JSON exactly as before, and the type checker still knows
every key. Each step adds its own keys and never carries data.
"""

from __future__ import annotations

from typing import NotRequired, TypedDict


class IngestError(Exception):
    """A run could not proceed; the message says which run, which step and why."""


class BreachRef(TypedDict):
    """A quality threshold the check found breached (see :class:`quality.metrics.Breach`)."""

    dimension: str
    value: float
    threshold: float


class RunRef(TypedDict):
    """What the steps know about a run: its keys, then each step's results."""

    run_id: str
    dataset: str
    object_key: str  # the landed file
    sha256: str
    status: str
    already_done: bool  # the same file was published before: nothing to do
    # check
    checked_key: NotRequired[str]  # work file: every row typed, and whether it was accepted
    rejected_key: NotRequired[str | None]  # work file: the rejected rows as sent, with reasons
    rows_in: NotRequired[int]
    rows_accepted: NotRequired[int]
    rows_quarantined: NotRequired[int]
    metrics: NotRequired[dict[str, float]]
    breaches: NotRequired[list[str]]
    thresholds_breached: NotRequired[list[BreachRef]]
    # quarantine
    quarantine_key: NotRequired[str | None]
    quarantined: NotRequired[int]
    # merge and accuracy
    facts: NotRequired[int]
    merged_already: NotRequired[bool]
    accuracy_compared: NotRequired[int]
    # a pulled run: how many subjects its tombstones withdrew
    withdrawn: NotRequired[int]
    # publish
    asset: NotRequired[str]
    message: NotRequired[str]
