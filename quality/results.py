"""What a check gives: per-row reason codes, the accepted/quarantined split, the dimensions.

:class:`CheckResult` is what :func:`quality.engine.check_table` returns and what the Great
Expectations mirror (:mod:`quality.gx`) is compared with; each :class:`Failure` is one rule's
verdict over the whole table. :func:`dimension_of` says which GB/T 36344 dimension a reason
code counts against.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

Mask = npt.NDArray[np.bool_]


# which GB/T 36344 dimension each reason code counts against; anything else is conformity
DIMENSION_OF = {
    "REQUIRED": "completeness",
    "MISSING_COLUMN": "completeness",
    "ID_MISMATCH": "consistency",
    "DUPLICATE": "uniqueness",
    "DUPLICATE_KEY": "uniqueness",
    "DUPLICATE_ROW": "uniqueness",
}
ROW = "_row"
REASONS = "_reasons"


def dimension_of(reason: str) -> str:
    """The GB/T 36344 dimension a reason code (``column:CODE`` or ``CODE``) counts against."""
    return DIMENSION_OF.get(reason.rsplit(":", 1)[-1], "conformity")


@dataclass(frozen=True)
class Failure:
    """One rule's verdict over the whole table: the reason code and the rows that fail it."""

    reason: str
    rule: str
    failed: Mask


@dataclass
class CheckResult:
    """Per-row reason codes, the accepted/quarantined split and the dimension ratios of one file."""

    table: pa.Table
    typed: pa.Table
    reasons: pa.ListArray
    accepted_mask: pa.BooleanArray
    metrics: dict[str, float]
    failures: list[Failure] = field(default_factory=list)

    @property
    def rows_in(self) -> int:
        rows: int = self.table.num_rows
        return rows

    @property
    def rows_accepted(self) -> int:
        total: int = pc.sum(self.accepted_mask).as_py() or 0
        return total

    @property
    def rows_quarantined(self) -> int:
        return self.rows_in - self.rows_accepted

    def accepted(self) -> pa.Table:
        """Accepted rows with the contract's types (the columns of ``contract.arrow_schema()``)."""
        return self.typed.filter(self.accepted_mask)

    def quarantined(self) -> pa.Table:
        """Rejected rows as received, plus ``_row`` (0-based row number) and ``_reasons``."""
        rejected = pc.invert(self.accepted_mask)
        table = self.table.append_column(ROW, pa.array(np.arange(self.rows_in, dtype=np.int64)))
        table = table.append_column(REASONS, self.reasons)
        return table.filter(rejected)

    def failing_rows(self) -> dict[str, set[int]]:
        """Reason code -> row numbers failing it (what the Great Expectations mirror must match)."""
        out: dict[str, set[int]] = {}
        for f in self.failures:
            rows = set(np.flatnonzero(f.failed).tolist())
            if rows:
                out.setdefault(f.reason, set()).update(rows)
        return out

    def reason_counts(self) -> dict[str, int]:
        """Reason code -> number of rows carrying it."""
        return {r: len(rows) for r, rows in sorted(self.failing_rows().items())}
