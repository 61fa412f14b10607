"""Common result type and plain-language explanations for the national identifier checks."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

# Full-width forms (U+FF01..U+FF5E) map to ASCII by subtracting 0xFEE0; the ideographic space too.
_FULL_WIDTH = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}


@dataclass(frozen=True)
class IdCheck:
    """The verdict on one identifier: valid or the first reason it is not, with derived details."""

    value: str
    valid: bool
    reason: str | None = None
    normalised: str | None = None
    details: dict[str, str] = field(default_factory=dict)

    @property
    def explanation(self) -> str:
        return explain(self.reason) if self.reason else "valid / 有效"

    def as_dict(self) -> dict[str, object]:
        return {
            "value": self.value,
            "valid": self.valid,
            "reason": self.reason,
            "normalised": self.normalised,
            "details": dict(self.details),
        }


EXPLANATIONS: dict[str, tuple[str, str]] = {
    "EMPTY": ("no value given", "值为空"),
    "FORMAT": ("wrong length or characters for this kind of identifier", "长度或字符格式不符"),
    "BIRTH_DATE": (
        "the birth date is not a real date or lies in the future",
        "出生日期不存在或晚于今天",
    ),
    "CHECKSUM": (
        "the check character does not match the body (typo?)",
        "校验码不符（可能录入错误）",
    ),
    "DIVISION_UNKNOWN": (
        "the address/division code is not in the GB/T 2260 history",
        "行政区划代码不在GB/T 2260历史代码表中",
    ),
    "LEGACY_REVIEW": (
        "15-digit number with sequence 996-999 may belong to a person born in the 1800s: review",
        "15位号码顺序码为996-999，可能为19世纪出生，需人工核实",
    ),
    "CHARSET": (
        "contains I, O, Z, S, V or another character outside the code set",
        "含有代码字符集之外的字符",
    ),
    "AUTHORITY": (
        "unknown registration authority code (position 1)",
        "登记管理部门代码（第1位）未知",
    ),
    "ENTITY_TYPE": (
        "unknown entity type for that authority (position 2)",
        "机构类别代码（第2位）未知",
    ),
    "ORG_CODE_CHECK": (
        "the organisation code's own check (position 17) does not match",
        "组织机构代码校验码（第17位）不符",
    ),
    "PREFIX": (
        "the identifier does not start with 1.2.156.3005.2",
        "证照标识前缀不是1.2.156.3005.2",
    ),
    "TYPE_CODE": (
        "the licence type code is not a USCC plus 3 digits",
        "证照类型代码不是统一社会信用代码加3位数字",
    ),
    "ISSUER_CODE": (
        "the issuer code is not a valid USCC",
        "颁证单位代码不是有效的统一社会信用代码",
    ),
    "SERIAL": (
        "the serial number must be digits and capital letters",
        "证照编号只能由数字和大写字母组成",
    ),
    "VERSION": ("the version must be three digits from 001", "版本号必须为001起的三位数字"),
}


def explain(reason: str) -> str:
    """One line, English then Chinese, saying what a reason code means."""
    english, chinese = EXPLANATIONS.get(reason, (reason, reason))
    return f"{english} / {chinese}"


def to_ascii(value: str) -> str:
    """Full-width letters, digits and spaces to ASCII; other characters unchanged."""
    return value.translate(_FULL_WIDTH)


# --- invisible characters in text fields (the check's documented normalisation) -------------
#
# Removed: format characters with no visible meaning in register text, which arrive from copy
# and paste (a zero-width space around a name, a byte order mark inside a field, a soft
# hyphen); the value is stored without them. Quarantined (never stored): characters that
# change what a person reads without being seen, i.e. bidirectional controls (Trojan Source,
# CVE-2021-42574) as ``BIDI_CONTROL``, deprecated and annotation format characters and Unicode
# tags (hidden text) as ``INVISIBLE_CHAR``, C0/C1 control characters other than tab as
# ``CONTROL_CHAR``. Variation selectors and private-use characters are kept: rare characters of
# Chinese names use them.
REMOVED_CHARS = frozenset(
    [0x00AD, 0x200B, 0x200C, 0x200D, 0x2060, 0x2061, 0x2062, 0x2063, 0x2064, 0xFEFF]
)
BIDI_CHARS = frozenset([0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)])
HIDDEN_CHARS = frozenset([*range(0x206A, 0x2070), *range(0xFFF9, 0xFFFC), *range(0xE0000, 0xE0080)])
# the same sets as RE2 character classes (pyarrow.compute)
REMOVED_RE = r"[\x{00AD}\x{200B}-\x{200D}\x{2060}-\x{2064}\x{FEFF}]"
BIDI_RE = r"[\x{061C}\x{200E}\x{200F}\x{202A}-\x{202E}\x{2066}-\x{2069}]"
HIDDEN_RE = r"[\x{206A}-\x{206F}\x{FFF9}-\x{FFFB}\x{E0000}-\x{E007F}]"
CONTROL_RE = r"[\x00-\x08\x0a-\x1f\x7f-\x{9f}]"
_REMOVE = dict.fromkeys(REMOVED_CHARS)


def strip_invisible(value: str) -> str:
    """``value`` without the characters of :data:`REMOVED_CHARS`."""
    return value.translate(_REMOVE)


def normalise_code(value: str) -> str:
    """Canonical form of a code typed by a person: Unicode NFKC (full-width digits and letters
    become ASCII), without invisible characters (:data:`REMOVED_CHARS`) or spaces, upper case.

    Characters NFKC does not make ASCII (digits of other scripts, for instance) stay as they
    are, so the identifier checks refuse them (``FORMAT``) instead of storing them."""
    text = strip_invisible(unicodedata.normalize("NFKC", to_ascii(value)))
    return "".join(text.split()).upper()


# --- helpers of the vectorised validators --------------------------------------------------


def as_string_array(values: pa.Array | pa.ChunkedArray | Sequence[str | None]) -> pa.Array:
    """Any array-like of strings as one contiguous Arrow string array."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if not isinstance(values, pa.Array):
        values = pa.array(values, type=pa.string())
    if pa.types.is_large_string(values.type) or pa.types.is_string_view(values.type):
        values = values.cast(pa.string())
    if not pa.types.is_string(values.type):
        raise TypeError(f"expected an array of strings, got {values.type}")
    return values


def null_mask(values: pa.Array) -> npt.NDArray[np.bool_]:
    """True where the value is null."""
    if values.null_count == 0:
        return np.zeros(len(values), dtype=bool)
    return np.asarray(values.is_null().to_numpy(zero_copy_only=False), dtype=bool)


def _matrix(values: pa.Array, width: int) -> npt.NDArray[np.uint8]:
    n = len(values)
    if n == 0:
        return np.zeros((0, width), dtype=np.uint8)
    offsets = np.frombuffer(
        values.buffers()[1], dtype=np.int32, count=n + 1, offset=values.offset * 4
    )
    raw = np.frombuffer(
        values.buffers()[2], dtype=np.uint8, count=n * width, offset=int(offsets[0])
    )
    return raw.reshape(n, width)


def fixed_width_rows(
    values: pa.Array, width: int
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.uint8]]:
    """Indices of the non-null values of exactly ``width`` bytes and an (n, width) byte matrix.

    When every value qualifies (the common case) the matrix is a zero-copy view of the data.
    """
    lengths = pc.binary_length(values)
    if values.null_count == 0 and pc.all(pc.equal(lengths, width)).as_py():
        return np.arange(len(values)), _matrix(values, width)
    mask = np.asarray(
        pc.equal(lengths, width).fill_null(False).to_numpy(zero_copy_only=False), dtype=bool
    )
    return np.flatnonzero(mask), _matrix(pc.filter(values, pa.array(mask)), width)


def reasons_array(codes: npt.NDArray[np.int8], names: Sequence[str | None]) -> pa.StringArray:
    """Reason-code strings for small integer codes; code 0 (valid) becomes null."""
    dictionary = pa.array([n or "" for n in names], type=pa.string())
    taken = dictionary.take(pa.array(codes.astype(np.int32)))
    result: pa.StringArray = pc.if_else(
        pa.array(codes == 0), pa.nulls(len(codes), pa.string()), taken
    )
    return result
