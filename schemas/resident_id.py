"""Resident identity numbers (GB 11643-1999): normalise, validate, upgrade 15 → 18, derive.

Scalar functions serve people and the command line; ``validate_array`` and friends check
millions of numbers at once over Arrow arrays (vectorised with numpy), giving the same reason
codes as :func:`validate` for every value.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from schemas.divisions import division_table
from schemas.identifiers import IdCheck, normalise_code

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARS = "10X98765432"
# Residence permits for Hong Kong, Macao and Taiwan residents use these address codes.
PERMIT_CODES = {"810000": "香港特别行政区", "820000": "澳门特别行政区", "830000": "台湾地区"}
_FORMAT_18 = re.compile(r"^\d{17}[\dX]$")
_FORMAT_15 = re.compile(r"^\d{15}$")
_ID_TYPES = pa.string()


def normalise(value: str) -> str:
    """Strip spaces, map full-width digits and Ｘ to ASCII, upper-case x."""
    return normalise_code(value)


def check_character(body17: str) -> str:
    """The ISO 7064 MOD 11-2 check character for the first 17 digits."""
    if len(body17) != 17 or not body17.isdigit():
        raise ValueError(f"need 17 digits, got {body17!r}")
    total = sum(int(d) * w for d, w in zip(body17, WEIGHTS, strict=True))
    return CHECK_CHARS[total % 11]


def upgrade_15(value: str) -> str:
    """Upgrade a 15-digit legacy number to 18 digits (insert 19, append the check character).

    Raises ValueError when the value is not a 15-digit number or its sequence is 996-999
    (possibly born in the 1800s: needs a person to decide).
    """
    number = normalise(value)
    if not _FORMAT_15.match(number):
        raise ValueError("a 15-digit legacy number is 15 digits")
    if int(number[12:15]) >= 996:
        raise ValueError("sequence 996-999 may mean born in 18YY: review instead of upgrading")
    body = number[:6] + "19" + number[6:]
    return body + check_character(body)


def _birth_date(text: str) -> dt.date | None:
    try:
        return dt.date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        return None


def _kind(address: str) -> str:
    if address in PERMIT_CODES:
        return "residence permit"
    if address.startswith("9"):
        return "foreigner's permanent residence ID"
    return "resident ID"


def validate(value: str | None, *, today: dt.date | None = None) -> IdCheck:
    """Check one resident ID number; the first failing rule gives the reason code."""
    original = value or ""
    number = normalise(original)
    if not number:
        return IdCheck(original, False, "EMPTY")
    details: dict[str, str] = {}
    if len(number) == 15 and _FORMAT_15.match(number):
        if int(number[12:15]) >= 996:
            return IdCheck(original, False, "LEGACY_REVIEW", None, {"legacy": "15-digit"})
        details["upgraded_from"] = number
        number = upgrade_15(number)
    elif not _FORMAT_18.match(number):
        return IdCheck(original, False, "FORMAT")
    born = _birth_date(number[6:14])
    if born is None or born > (today or dt.date.today()) or born.year < 1850:
        return IdCheck(original, False, "BIRTH_DATE", number)
    if check_character(number[:17]) != number[17]:
        return IdCheck(original, False, "CHECKSUM", number)
    address = number[:6]
    kind = _kind(address)
    table = division_table()
    if kind == "resident ID" and not table.known(address):
        return IdCheck(original, False, "DIVISION_UNKNOWN", number)
    details.update(
        kind=kind,
        birth_date=born.isoformat(),
        sex="1" if int(number[16]) % 2 else "2",
        sex_name="男 male" if int(number[16]) % 2 else "女 female",
        division=address,
    )
    division_name = PERMIT_CODES.get(address) or table.full_name(address)
    if division_name:
        details["division_name"] = division_name
    return IdCheck(original, True, None, number, details)


# --- vectorised forms ------------------------------------------------------------------------

_CHECK_BYTES = np.frombuffer(CHECK_CHARS.encode(), dtype=np.uint8)
_W = np.array(WEIGHTS, dtype=np.int64)
_DAYS = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)


def _as_string_array(values: pa.Array | pa.ChunkedArray | Sequence[str | None]) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if not isinstance(values, pa.Array):
        values = pa.array(values, type=pa.string())
    if pa.types.is_large_string(values.type) or pa.types.is_string_view(values.type):
        values = values.cast(pa.string())
    if not pa.types.is_string(values.type):
        raise TypeError(f"expected an array of strings, got {values.type}")
    return values


def fixed_width_matrix(values: pa.Array, width: int) -> npt.NDArray[np.uint8]:
    """View a string array whose every value has ``width`` bytes as an (n, width) uint8 matrix."""
    values = pa.concat_arrays([values]) if values.offset else values
    n = len(values)
    offsets = np.frombuffer(values.buffers()[1], dtype=np.int32, count=n + 1)
    data = values.buffers()[2]
    if n == 0 or data is None:
        return np.zeros((0, width), dtype=np.uint8)
    start = int(offsets[0])
    raw = np.frombuffer(data, dtype=np.uint8, count=n * width, offset=start)
    return raw.reshape(n, width)


def _fast_candidates(values: pa.Array) -> npt.NDArray[np.bool_]:
    """Rows that are exactly 18 plain ASCII characters of the right shape (the common case)."""
    shaped = pc.match_substring_regex(values, r"^\d{17}[\dX]$")
    return np.asarray(shaped.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)


def _digits_int(mat: npt.NDArray[np.int64], start: int, stop: int) -> npt.NDArray[np.int64]:
    out = np.zeros(mat.shape[0], dtype=np.int64)
    for i in range(start, stop):
        out = out * 10 + mat[:, i]
    return out


def _check_matrix(
    mat: npt.NDArray[np.uint8], today: dt.date
) -> tuple[npt.NDArray[np.object_], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Reason per row (None = valid), birth date as days since epoch, and sex digit parity."""
    digits = mat[:, :17].astype(np.int64) - 48
    year = _digits_int(digits, 6, 10)
    month = _digits_int(digits, 10, 12)
    day = _digits_int(digits, 12, 14)
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    month_ok = (month >= 1) & (month <= 12)
    days_in = _DAYS[np.clip(month, 0, 12)] + ((month == 2) & leap)
    date_ok = month_ok & (day >= 1) & (day <= days_in) & (year >= 1850)
    safe_month = np.where(date_ok, month, 1)
    safe_day = np.where(date_ok, day, 1)
    safe_year = np.where(date_ok, year, 1970)
    ymd = (
        (safe_year - 1970).astype("datetime64[Y]").astype("datetime64[M]")
        + (safe_month - 1).astype("timedelta64[M]")
    ).astype("datetime64[D]") + (safe_day - 1).astype("timedelta64[D]")
    epoch_days = ymd.astype(np.int64)
    date_ok &= epoch_days <= (today - dt.date(1970, 1, 1)).days
    check_ok = _CHECK_BYTES[(digits @ _W) % 11] == mat[:, 17]
    address = _digits_int(digits, 0, 6)
    permit = np.isin(address, [810000, 820000, 830000]) | (digits[:, 0] == 9)
    division_ok = division_table().known_mask(address) | permit
    reasons = np.full(mat.shape[0], None, dtype=object)
    reasons[~division_ok] = "DIVISION_UNKNOWN"
    reasons[~check_ok] = "CHECKSUM"
    reasons[~date_ok] = "BIRTH_DATE"
    return reasons, epoch_days, digits[:, 16] % 2


def _scan(
    values: pa.Array | pa.ChunkedArray | Sequence[str | None], today: dt.date | None
) -> tuple[npt.NDArray[np.object_], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    arr = _as_string_array(values)
    today = today or dt.date.today()
    n = len(arr)
    reasons = np.full(n, None, dtype=object)
    born = np.zeros(n, dtype=np.int64)
    odd = np.zeros(n, dtype=np.int64)
    fast = _fast_candidates(arr)
    idx = np.flatnonzero(fast)
    if len(idx):
        mat = fixed_width_matrix(pc.filter(arr, pa.array(fast)), 18)
        reasons[idx], born[idx], odd[idx] = _check_matrix(mat, today)
    null = np.asarray(arr.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    slow = np.flatnonzero(~fast & ~null)
    if len(slow):
        epoch = dt.date(1970, 1, 1)
        for i, value in zip(slow, arr.take(pa.array(slow)).to_pylist(), strict=True):
            check = validate(value, today=today)
            reasons[i] = check.reason
            if check.valid:
                born[i] = (dt.date.fromisoformat(check.details["birth_date"]) - epoch).days
                odd[i] = 1 if check.details["sex"] == "1" else 0
    reasons[null] = None
    return reasons, born, odd


def validate_array(
    values: pa.Array | pa.ChunkedArray | Sequence[str | None], *, today: dt.date | None = None
) -> pa.StringArray:
    """One reason code per value, null where valid (null inputs give null)."""
    reasons, _, _ = _scan(values, today)
    result: pa.StringArray = pa.array(reasons, type=pa.string())
    return result


def _derived_mask(
    values: pa.Array | pa.ChunkedArray | Sequence[str | None], today: dt.date | None
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    arr = _as_string_array(values)
    reasons, born, odd = _scan(arr, today)
    null = np.asarray(arr.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    invalid = np.array([r is not None for r in reasons], dtype=bool) | null
    return invalid, born, odd


def birth_date_array(
    values: pa.Array | pa.ChunkedArray | Sequence[str | None], *, today: dt.date | None = None
) -> pa.Date32Array:
    """Birth date encoded in each ID (positions 7-14), null where the ID is invalid."""
    invalid, born, _ = _derived_mask(values, today)
    result: pa.Date32Array = pa.array(born.astype(np.int32), type=pa.date32(), mask=invalid)
    return result


def sex_array(
    values: pa.Array | pa.ChunkedArray | Sequence[str | None], *, today: dt.date | None = None
) -> pa.StringArray:
    """GB/T 2261.1 sex code from position 17 ("1" male, "2" female), null where invalid."""
    invalid, _, odd = _derived_mask(values, today)
    codes = np.where(odd == 1, "1", "2").astype(object)
    result: pa.StringArray = pa.array(codes, type=pa.string(), mask=invalid)
    return result
