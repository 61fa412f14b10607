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
from schemas.identifiers import (
    IdCheck,
    as_string_array,
    fixed_width_rows,
    normalise_code,
    null_mask,
    reasons_array,
)

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARS = "10X98765432"
# Residence permits for Hong Kong, Macao and Taiwan residents use these address codes.
PERMIT_CODES = {"810000": "香港特别行政区", "820000": "澳门特别行政区", "830000": "台湾地区"}
# ASCII digits only: a digit of another script (which ``\d`` and ``int`` accept) is FORMAT
_FORMAT_18 = re.compile(r"^[0-9]{17}[0-9X]$")
_FORMAT_15 = re.compile(r"^[0-9]{15}$")
_ID_TYPES = pa.string()


def normalise(value: str) -> str:
    """Strip spaces and invisible characters, NFKC (full-width digits and Ｘ to ASCII),
    upper-case x (:func:`schemas.identifiers.normalise_code`)."""
    return normalise_code(value)


def check_character(body17: str) -> str:
    """The ISO 7064 MOD 11-2 check character for the first 17 digits."""
    if len(body17) != 17 or not (body17.isascii() and body17.isdigit()):
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


def _division_known(address: str, kind: str) -> bool:
    # the foreigner's permanent residence ID carries the accepting province in positions 2-3
    if kind == "foreigner's permanent residence ID":
        return division_table().known(address[1:3] + "0000")
    return kind == "residence permit" or division_table().known(address)


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
    if not _division_known(address, kind):
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
_W = np.array(WEIGHTS, dtype=np.int32)
_DAYS = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int32)


# Reason codes of the vectorised path as small integers; 0 = valid.
REASONS: tuple[str | None, ...] = (
    None,
    "EMPTY",
    "FORMAT",
    "BIRTH_DATE",
    "CHECKSUM",
    "DIVISION_UNKNOWN",
    "LEGACY_REVIEW",
)
_CODE = {name: i for i, name in enumerate(REASONS)}


def days_from_civil(
    year: npt.NDArray[np.int32], month: npt.NDArray[np.int32], day: npt.NDArray[np.int32]
) -> npt.NDArray[np.int32]:
    """Days since 1970-01-01 of proleptic Gregorian dates (H. Hinnant's algorithm)."""
    y = year - (month <= 2)
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (month + np.where(month > 2, -3, 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    out: npt.NDArray[np.int32] = era * 146097 + doe - 719468
    return out


def _check_matrix(
    mat: npt.NDArray[np.uint8], today: dt.date
) -> tuple[npt.NDArray[np.int8], npt.NDArray[np.int32], npt.NDArray[np.int32]]:
    """Reason code per row (0 = valid), birth date as days since epoch, sex digit parity.

    Column by column on the bytes (numpy has no fast integer matrix product, and a row of
    17 int32 digits is four times the bytes): the digits as uint8, zero on rows of another
    shape, then multiply-adds into int32 numbers and the weighted sum of the check."""
    n = mat.shape[0]
    codes = np.zeros(n, dtype=np.int8)
    raw = mat[:, :17] - np.uint8(48)  # wraps: a byte below "0" becomes 208 or more
    top = raw[:, 0].copy()
    for c in range(1, 17):
        np.maximum(top, raw[:, c], out=top)
    last = mat[:, 17]
    shape_ok = (top <= 9) & (((last >= 48) & (last <= 57)) | (last == ord("X")))
    digits = raw if shape_ok.all() else np.where(shape_ok[:, None], raw, np.uint8(0))

    def number(start: int, stop: int) -> npt.NDArray[np.int32]:
        out = np.zeros(n, dtype=np.int32)
        for c in range(start, stop):
            out = out * 10 + digits[:, c]
        return out

    year, month, day = number(6, 10), number(10, 12), number(12, 14)
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    days_in = _DAYS[np.clip(month, 0, 12)] + ((month == 2) & leap)
    date_ok = (month >= 1) & (month <= 12) & (day >= 1) & (day <= days_in) & (year >= 1850)
    epoch_days = days_from_civil(year, month, day)
    date_ok &= epoch_days <= (today - dt.date(1970, 1, 1)).days
    weighted = np.zeros(n, dtype=np.int32)
    for c in range(17):
        weighted += np.multiply(digits[:, c], _W[c], dtype=np.int32)
    check_ok = _CHECK_BYTES[weighted % 11] == last
    address = number(0, 6)
    table = division_table()
    foreign = digits[:, 0] == 9
    permit = (address == 810000) | (address == 820000) | (address == 830000)
    foreign_ok = table.known_mask((address // 10_000 % 100) * 10_000)
    division_ok = np.where(foreign, foreign_ok, table.known_mask(address) | permit)
    codes[~division_ok] = _CODE["DIVISION_UNKNOWN"]
    codes[~check_ok] = _CODE["CHECKSUM"]
    codes[~date_ok] = _CODE["BIRTH_DATE"]
    codes[~shape_ok] = -1  # not the plain 18-character shape: decided by the scalar path
    return codes, epoch_days, (digits[:, 16] % 2).astype(np.int32)


def canonical(value: str) -> str:
    """The form a number is compared and stored in: :func:`normalise`, and a valid 15-digit
    number upgraded to its 18 digits (GB 11643), so both forms of one person are one key."""
    number = normalise(value)
    if _FORMAT_15.match(number) and int(number[12:15]) < 996:
        return upgrade_15(number)
    return number


def scan_array(
    values: pa.Array | pa.ChunkedArray | Sequence[str | None], today: dt.date | None
) -> tuple[npt.NDArray[np.int8], npt.NDArray[np.int32], npt.NDArray[np.int32], pa.Array]:
    """One validation pass over many IDs: per value its reason index into :data:`REASONS`
    (0 valid or null), its birth date (days since 1970-01-01) and 1 for a male sex digit (both
    0 where invalid), and each value's :func:`canonical` form (null where the value is null).

    Only values that are not already 18 plain characters go through Python (full-width,
    lower-case x, 15 digits, spaces): the common case costs no Python object per value."""
    arr = as_string_array(values)
    today = today or dt.date.today()
    n = len(arr)
    codes = np.full(n, -1, dtype=np.int8)
    born = np.zeros(n, dtype=np.int32)
    odd = np.zeros(n, dtype=np.int32)
    idx, mat = fixed_width_rows(arr, 18)
    if len(idx):
        codes[idx], born[idx], odd[idx] = _check_matrix(mat, today)
    null = null_mask(arr)
    codes[null] = 0
    slow = np.flatnonzero(codes < 0)
    keys = arr
    if len(slow):
        epoch = dt.date(1970, 1, 1)
        forms: list[str] = []
        for i, value in zip(slow, arr.take(pa.array(slow)).to_pylist(), strict=True):
            check = validate(value, today=today)
            codes[i] = _CODE[check.reason]
            forms.append(canonical(value))
            if check.valid:
                born[i] = (dt.date.fromisoformat(check.details["birth_date"]) - epoch).days
                odd[i] = 1 if check.details["sex"] == "1" else 0
        mask = np.zeros(n, dtype=bool)
        mask[slow] = True
        keys = pc.replace_with_mask(arr, pa.array(mask), pa.array(forms, pa.string()))
    return codes, born, odd, keys


def validate_array(
    values: pa.Array | pa.ChunkedArray | Sequence[str | None], *, today: dt.date | None = None
) -> pa.StringArray:
    """One reason code per value, null where valid (null inputs give null)."""
    codes, _, _, _ = scan_array(values, today)
    return reasons_array(codes, REASONS)


def _derived_mask(
    values: pa.Array | pa.ChunkedArray | Sequence[str | None], today: dt.date | None
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.int32], npt.NDArray[np.int32]]:
    codes, born, odd, arr = scan_array(values, today)
    return (codes != 0) | null_mask(arr), born, odd


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
