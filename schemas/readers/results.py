"""What reading a file gives: the error, the results, and the per-row reason lists.

Every reader module raises :class:`ReadError` and returns its columns as :data:`Text`; the
flags they raise on rows (:data:`Flags`, :data:`Mask`) become one ``list<string>`` of reason
codes per row in :func:`reason_lists`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

Text: TypeAlias = (
    pa.Array | pa.ChunkedArray
)  # a column of text as read (CSV: in the parser's chunks)
Mask: TypeAlias = np.ndarray[Any, np.dtype[np.bool_]]
ROW_COLUMN = "_row"


class ReadError(Exception):
    """The file cannot be read; the message names the file and the problem."""

    def __init__(self, filename: str, problem: str) -> None:
        self.filename = filename
        self.problem = problem
        super().__init__(f"{filename}: {problem}")


@dataclass(frozen=True)
class TextRead:
    """A file read as text only (what the ingest pipeline keeps): the raw rows and the reader's
    flags: the text flags (``:CONTROL_CHAR``, ``:TOO_LONG``) and what reading
    itself found (``:TYPE`` for a JSON or Parquet value of the wrong kind, ``:NUMERIC_CELL``
    for a spreadsheet number standing for an identifier); text is not typed here, the
    quality engine parses types itself."""

    raw: pa.Table  # the rows as the department sent them + ``_row``
    reasons: pa.ListArray  # list<string> per row, the reader's text codes
    encoding: str

    @property
    def rows(self) -> int:
        return int(self.raw.num_rows)


Flags: TypeAlias = list[tuple[str, list[int]]]  # reason code -> rows, found while reading


def flag_masks(flags: Flags, n: int) -> list[tuple[str, Mask]]:
    out: list[tuple[str, Mask]] = []
    for code, rows in flags:
        mask = np.zeros(n, dtype=bool)
        mask[rows] = True
        out.append((code, mask))
    return out


def combined(col: Text) -> pa.Array:
    """A column as one Arrow array (a chunked one concatenated)."""
    return col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col


def reason_lists(n: int, flags: Sequence[tuple[str, Mask | pa.Array]]) -> pa.ListArray:
    """Per-row list of the codes whose flag is set, in the order of ``flags``.

    Built from the flagged positions only (offsets by counting, codes by one stable sort), so a
    clean million-row file costs no Python object per row.
    """
    rows: list[np.ndarray[Any, Any]] = []
    codes: list[np.ndarray[Any, Any]] = []
    for k, (_, mask) in enumerate(flags):
        if isinstance(mask, np.ndarray):
            idx = np.flatnonzero(mask)
        else:
            idx = pc.indices_nonzero(mask).to_numpy().astype(np.int64)
        if len(idx):
            rows.append(idx)
            codes.append(np.full(len(idx), k, dtype=np.int32))
    if not rows:
        return pa.ListArray.from_arrays(
            pa.array(np.zeros(n + 1, dtype=np.int32)), pa.array([], pa.string())
        )
    at = np.concatenate(rows)
    order = np.argsort(at, kind="stable")  # within a row, flags keep their order
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(np.bincount(at, minlength=n), out=offsets[1:])
    names = pa.array([code for code, _ in flags], pa.string())
    return pa.ListArray.from_arrays(pa.array(offsets), names.take(np.concatenate(codes)[order]))
