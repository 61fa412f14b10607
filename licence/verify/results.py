"""The vocabulary of verification: statuses, verdicts, one check's result and the report.

The leaf of ``licence.verify``: it imports nothing else from the package, and every other module
of the package imports it. A check ends PASSED, FAILED or INDETERMINATE ("cannot check now")
with a reason code and a plain explanation in Chinese and English; the overall verdict is
TOTAL_PASSED, TOTAL_FAILED or INDETERMINATE (the ETSI / EU DSS vocabulary). Both are string
enums, so reports and ``--json`` carry the same strings as ever.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    """One check's outcome."""

    PASSED = "PASSED"
    FAILED = "FAILED"
    INDETERMINATE = "INDETERMINATE"


class Verdict(StrEnum):
    """The overall outcome: passed only when every check passed."""

    TOTAL_PASSED = "TOTAL_PASSED"
    TOTAL_FAILED = "TOTAL_FAILED"
    INDETERMINATE = "INDETERMINATE"


PASSED, FAILED, INDETERMINATE = Status.PASSED, Status.FAILED, Status.INDETERMINATE
TOTAL_PASSED, TOTAL_FAILED = Verdict.TOTAL_PASSED, Verdict.TOTAL_FAILED
STATUS_ZH = {
    "revoked": "已吊销",
    "suspended": "已暂扣",
    "expired": "已失效",
    "superseded": "已变更",
}


class MalformedLicenceError(ValueError):
    """The input is not a licence this verifier understands (truncated, wrong shape)."""


@dataclass(frozen=True, slots=True, init=False)
class CheckResult:
    """The outcome of one check, explained (immutable: a result is shared between reports)."""

    check: str
    status: Status
    reason: str
    en: str
    zh: str

    def __init__(self, check: str, status: Status, reason: str, en: str, zh: str) -> None:
        # the slots' own setters: what the frozen dataclass's __init__ does through
        # object.__setattr__, at half the cost (a verdict builds a dozen results)
        _SET_CHECK(self, check)
        _SET_STATUS(self, status)
        _SET_REASON(self, reason)
        _SET_EN(self, en)
        _SET_ZH(self, zh)

    def to_dict(self) -> dict[str, str]:
        return {
            "check": self.check,
            "status": str(self.status),
            "reason": self.reason,
            "en": self.en,
            "zh": self.zh,
        }


_SET_CHECK, _SET_STATUS, _SET_REASON, _SET_EN, _SET_ZH = (
    CheckResult.__dict__[name].__set__ for name in ("check", "status", "reason", "en", "zh")
)
result = CheckResult  # positional, as every check writes it


def verdict_of(results: Sequence[CheckResult]) -> Verdict:
    """TOTAL_FAILED if any check failed, TOTAL_PASSED if all passed, else INDETERMINATE."""
    statuses = {r.status for r in results}  # one pass (two generators cost 2.5 times as much)
    if FAILED in statuses:
        return TOTAL_FAILED
    if statuses == _ALL_PASSED:  # not empty: no check, no verdict
        return TOTAL_PASSED
    return Verdict.INDETERMINATE


_ALL_PASSED = frozenset({PASSED})


CHINA_STANDARD_TIME = dt.timezone(dt.timedelta(hours=8), "CST")


def as_utc(t: dt.datetime) -> dt.datetime:
    """``t`` with UTC as its zone when it has none."""
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


@functools.lru_cache(maxsize=256)  # keyed by the exact time; a context shows one time per report
def china_time(t: dt.datetime) -> str:
    """``2026-01-05 16:30 北京时间 UTC+8``: how a service window reads a time."""
    return as_utc(t).astimezone(CHINA_STANDARD_TIME).strftime("%Y-%m-%d %H:%M 北京时间 UTC+8")


@functools.lru_cache(maxsize=256)
def utc_time(t: dt.datetime) -> str:
    return as_utc(t).astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


@dataclass(frozen=True)
class Report:
    """The overall verdict and every check's result."""

    verdict: Verdict
    checks: list[CheckResult]
    kind: str = "sealed"
    licence_id: str | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    as_of: dt.datetime | None = None  # the verdict holds as of this time (bundle checkpoint)
    age: dt.timedelta | None = None  # how old the trust bundle was (offline only)

    def failed(self) -> list[CheckResult]:
        return [c for c in self.checks if c.status == FAILED]

    @property
    def sub_indication(self) -> str | None:
        """The first failing (else indeterminate) reason code, as in ETSI EN 319 102-1."""
        for wanted in (FAILED, INDETERMINATE):
            for c in self.checks:
                if c.status == wanted:
                    return c.reason
        return None

    @property
    def exit_code(self) -> int:
        """0 passed, 1 failed, 2 indeterminate (what ``hub verify`` exits with)."""
        return {TOTAL_PASSED: 0, TOTAL_FAILED: 1}.get(self.verdict, 2)

    def as_of_text(self) -> tuple[str, str] | None:
        """(Chinese, English) of when the verdict holds: "as of" the trust bundle's checkpoint
        offline (with its age), "as of now" online; None when nothing was checked."""
        if self.as_of is None:
            return None
        if self.age is None:
            return (
                f"截至{china_time(self.as_of)}（在线实时）",
                f"as of {utc_time(self.as_of)} (online)",
            )
        hours = self.age.total_seconds() / 3600
        return (
            f"截至{china_time(self.as_of)}（信任包检查点时间，已过{hours:.1f}小时）",
            f"as of {utc_time(self.as_of)} (trust bundle checkpoint, {hours:.1f} h old)",
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "verdict": str(self.verdict),
            "sub_indication": self.sub_indication,
            "kind": self.kind,
            "licence_id": self.licence_id,
            "summary": self.summary,
            "checks": [c.to_dict() for c in self.checks],
        }
        if self.as_of is not None:
            text = self.as_of_text() or ("", "")
            out["as_of"] = self.as_of.astimezone(dt.UTC).isoformat()
            out["as_of_zh"], out["as_of_en"] = text
            out["age_hours"] = (
                None if self.age is None else round(self.age.total_seconds() / 3600, 2)
            )
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2, default=str)

    def to_text(self) -> str:
        head = {TOTAL_PASSED: "通过", TOTAL_FAILED: "不通过", INDETERMINATE: "无法确定"}
        lines = [f"verdict: {self.verdict} ({head.get(self.verdict, '')})"]
        when = self.as_of_text()
        if when is not None:
            lines[0] += f" {when[0]} / {when[1]}"
        if self.licence_id:
            label = {"seal": "seal", "claim-receipt": "receipt"}.get(self.kind, "licence")
            lines.append(f"{label}: {self.licence_id} [{self.kind}]")
        for c in self.checks:
            lines.append(f"  {c.status:<13} {c.check:<17} {c.reason:<24} {c.zh} / {c.en}")
        return "\n".join(lines)
