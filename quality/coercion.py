"""Text to a contract column's type: what parses is typed, what does not is ``TYPE``.

Departments send text; :func:`coerce` trims it, takes blank text as missing and parses each
type's own grammar (a leading sign belongs to a number). Dates are parsed on the bytes with
numpy (:func:`_parse_dates`): several times faster than ``strptime``, which also rolls
2021-02-30 over to March.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from quality.arrays import fixed_width, present_mask
from quality.results import Mask
from schemas.contracts import ARROW_TYPES, DECIMAL_TYPE, Column

_INT_RE = r"^[+-]?\d{1,18}$"
_DECIMAL_RE = r"^[+-]?\d{1,16}(\.\d{1,4})?$"
_TRUE = ["true", "1", "y", "yes", "是", "t"]
_FALSE = ["false", "0", "n", "no", "否", "f"]


def _calendar() -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int32], npt.NDArray[np.int32]]:
    """Per year 0-9999 the days from 1970-01-01 to its January 1st (proleptic Gregorian, as
    numpy's calendar counts them) and whether it is a leap year (0 or 1); per (leap, month) the
    days of the year before the month and the month's length (month 0: none, length 0)."""
    years = np.arange(10_000)
    leap = (((years % 4 == 0) & (years % 100 != 0)) | (years % 400 == 0)).astype(np.int32)
    start = (years - 1970).astype("datetime64[Y]").astype("datetime64[D]").astype(np.int32)
    lengths = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int32)
    month_days = np.stack([lengths, lengths + (np.arange(13) == 2)])
    before = np.concatenate([[[0], [0]], np.cumsum(month_days, axis=1)[:, :-1]], axis=1)
    return start, leap, np.stack([before.ravel(), month_days.ravel()]).astype(np.int32)


_YEAR_START, _LEAP, _MONTHS = _calendar()


def _number(digits: npt.NDArray[np.uint8], cols: list[int]) -> npt.NDArray[np.int32]:
    out = np.zeros(len(digits), dtype=np.int32)
    for c in cols:
        out = out * 10 + digits[:, c]
    return out


def _parse_dates(text: pa.Array) -> pa.Array:
    """Dates written YYYY-MM-DD, YYYY/MM/DD or YYYYMMDD; anything else, or 2021-02-30, is null.

    Done on the bytes with numpy (shape, month, days in month, then days since 1970, the last
    two looked up in tables of the years and months) because ``strptime`` is several times
    slower and silently rolls 2021-02-30 over to March.
    """
    n = len(text)
    days = np.zeros(n, dtype=np.int32)
    ok = np.zeros(n, dtype=bool)
    for width, digit_cols, ymd in (
        (10, [0, 1, 2, 3, 5, 6, 8, 9], ([0, 1, 2, 3], [5, 6], [8, 9])),
        (8, list(range(8)), ([0, 1, 2, 3], [4, 5], [6, 7])),
    ):
        idx, mat = fixed_width(text, width)
        if not len(idx):
            continue
        digits = mat - np.uint8(48)  # wraps: a byte below "0" becomes 208 or more
        # eight digit flags per row, one 64-bit word: all set when every one is a digit
        flags = np.ascontiguousarray(digits[:, digit_cols] <= 9).view(np.uint64).ravel()
        shape = flags == np.uint64(0x0101010101010101)
        if width == 10:
            sep = mat[:, 4]
            shape &= ((sep == 45) | (sep == 47)) & (mat[:, 7] == sep)
        y, m, d = (np.where(shape, _number(digits, cols), 0) for cols in ymd)
        month = np.where(m <= 12, m, 0) + 13 * _LEAP[y]  # month 0: length 0, never valid
        good = shape & (y >= 1) & (d >= 1) & (d <= _MONTHS[1, month])
        days[idx] = _YEAR_START[y] + _MONTHS[0, month] + d - 1
        ok[idx] = good
    return pa.array(days, type=pa.date32(), mask=~ok)


_DATETIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S")


def _parse_datetimes(text: pa.Array) -> pa.Array:
    result = pa.nulls(len(text), pa.timestamp("s"))
    for fmt in _DATETIME_FORMATS:
        parsed = pc.strptime(text, format=fmt, unit="s", error_is_null=True)
        same = pc.equal(pc.strftime(parsed, format=fmt), text)
        parsed = pc.if_else(pc.fill_null(same, False), parsed, pa.scalar(None, pa.timestamp("s")))
        result = pc.coalesce(result, parsed)
    return result


def coerce(arr: pa.Array, column: Column) -> tuple[pa.Array, Mask]:
    """``arr`` converted to the column's type and the mask of values that would not convert.

    Text is trimmed and blank text counts as missing, as departments send "" for "not known".
    """
    target = ARROW_TYPES[column.type]
    if arr.type == target and column.type != "string":
        return arr, np.zeros(len(arr), dtype=bool)
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        try:
            return arr.cast(target), np.zeros(len(arr), dtype=bool)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            arr = arr.cast(pa.string())
    text = pc.utf8_trim_whitespace(arr.cast(pa.string()))
    blank = pc.equal(text, "")
    if pc.any(blank).as_py():  # else the copy if_else makes would equal text
        text = pc.if_else(blank, pa.scalar(None, pa.string()), text)
    kind = column.type
    if kind == "string":
        return text, np.zeros(len(arr), dtype=bool)
    if kind == "int":
        ok = pc.match_substring_regex(text, _INT_RE)
        # Arrow's cast refuses the "+5" the pattern allows: drop the one leading plus sign
        digits = pc.utf8_ltrim(pc.if_else(ok, text, pa.scalar(None, pa.string())), "+")
        typed = digits.cast(pa.int64())
    elif kind == "decimal":
        ok = pc.match_substring_regex(text, _DECIMAL_RE)
        typed = pc.if_else(ok, text, pa.scalar(None, pa.string())).cast(pa.decimal128(38, 4))
        typed = typed.cast(DECIMAL_TYPE)
    elif kind == "date":
        typed = _parse_dates(text)
    elif kind == "datetime":
        typed = _parse_datetimes(text)
    else:  # bool
        lower = pc.utf8_lower(text)
        typed = pc.if_else(
            pc.is_in(lower, pa.array(_TRUE)),
            True,
            pc.if_else(pc.is_in(lower, pa.array(_FALSE)), False, pa.scalar(None, pa.bool_())),
        )
    bad = present_mask(text) & ~present_mask(typed)
    return typed, bad


def library_typed(table: pa.Table, library: str, keep: tuple[str, ...] = ("subject",)) -> pa.Table:
    """``table`` (library fields as stored text) with its date and number fields parsed as the
    library schema types them, by :func:`coerce` (a value that does not parse is null); the
    columns in ``keep`` and the text fields are left as they are, and so is a column typed
    already (typing twice changes nothing), and a field the schema does not list."""
    from schemas.library import library_schema

    types = {f.name: f.type for f in library_schema(library).fields}
    out = table
    for i, name in enumerate(table.column_names):
        if name in keep:
            continue
        kind = types.get(name, "string")  # a field the schema does not list stays text
        if kind in ("date", "int", "decimal"):
            column = table.column(i).combine_chunks()
            parsed, _ = coerce(column, Column(name, kind, False, None, ()))
            out = out.set_column(i, name, parsed)
    return out
