"""Unified social credit codes (GB 32100-2015): normalise, validate, derive the entity type.

``validate`` explains one code; ``validate_array`` checks millions at once over Arrow arrays with
the same reason codes. Codes known to be legally issued although they fail a check (early codes)
are passed in ``allow`` by a data steward: the failure is then reported in the details, never
silently dropped.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

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

CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
WEIGHTS = tuple(pow(3, i, 31) for i in range(17))
ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
CENTRAL = "100000"

# Registration authority (position 1) and entity types (position 2), GB 32100-2015 appendix,
# as used in practice.
AUTHORITIES: dict[str, tuple[str, dict[str, str]]] = {
    "1": (
        "机构编制",
        {"1": "机关", "2": "事业单位", "3": "中央编办直接管理机构编制的群众团体", "9": "其他"},
    ),
    "2": ("外交", {"1": "外国常驻新闻机构", "9": "其他"}),
    "3": (
        "司法行政",
        {
            "1": "律师执业机构",
            "2": "外国律师事务所驻华代表机构",
            "3": "司法鉴定机构",
            "4": "仲裁委员会",
            "5": "公证处",
            "6": "基层法律服务所",
            "9": "其他",
        },
    ),
    "4": ("文化", {"1": "外国在华文化中心", "9": "其他"}),
    "5": ("民政", {"1": "社会团体", "2": "民办非企业单位", "3": "基金会", "9": "其他"}),
    "6": (
        "旅游",
        {"1": "外国旅游部门常驻代表机构", "2": "港澳台地区旅游部门常驻内地代表机构", "9": "其他"},
    ),
    "7": ("宗教", {"1": "宗教活动场所", "2": "宗教院校", "9": "其他"}),
    "8": ("工会", {"1": "基层工会", "9": "其他"}),
    "9": ("工商（市场监管）", {"1": "企业", "2": "个体工商户", "3": "农民专业合作社"}),
    "A": ("中央军委改革和编制办公室", {"1": "军队事业单位", "9": "其他"}),
    "N": (
        "农业",
        {"1": "组级集体经济组织", "2": "村级集体经济组织", "3": "乡镇级集体经济组织", "9": "其他"},
    ),
    "Y": ("其他", {"1": "其他"}),
}

_VALUE = np.full(256, -1, dtype=np.int64)
for _i, _c in enumerate(CHARSET):
    _VALUE[ord(_c)] = _i
_ORG_VALUE = np.full(256, -1, dtype=np.int64)
for _c in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ":
    _ORG_VALUE[ord(_c)] = int(_c, 36)
_CHARSET_BYTES = np.frombuffer(CHARSET.encode(), dtype=np.uint8)
_ORG_CHECK_BYTES = np.frombuffer(b"0123456789X0", dtype=np.uint8)  # index C = 11 - S mod 11
_TYPE_OK = np.zeros((256, 256), dtype=bool)
for _a, (_, _types) in AUTHORITIES.items():
    for _t in _types:
        _TYPE_OK[ord(_a), ord(_t)] = True
_AUTH_OK = np.zeros(256, dtype=bool)
for _a in AUTHORITIES:
    _AUTH_OK[ord(_a)] = True


def normalise(value: str) -> str:
    """Strip spaces, full-width to ASCII, upper case."""
    return normalise_code(value)


def check_character(body17: str) -> str:
    """The GB 32100 check character (position 18) for the first 17 characters."""
    if len(body17) != 17 or any(c not in CHARSET for c in body17):
        raise ValueError(f"need 17 characters of the USCC set, got {body17!r}")
    total = sum(CHARSET.index(c) * w for c, w in zip(body17, WEIGHTS, strict=True))
    return CHARSET[(31 - total % 31) % 31]


def org_code_check(body8: str) -> str:
    """The GB 11714 organisation-code check character for 8 characters (positions 9-16)."""
    total = sum(int(c, 36) * w for c, w in zip(body8, ORG_WEIGHTS, strict=True))
    return "0123456789X0"[11 - total % 11]


def entity_type(code: str) -> tuple[str, str]:
    """(registration authority, entity type) named by positions 1-2; ValueError if unknown."""
    code = normalise(code)
    authority = AUTHORITIES.get(code[:1])
    if authority is None or code[1:2] not in authority[1]:
        raise ValueError(f"unknown registration authority / entity type {code[:2]!r}")
    return authority[0], authority[1][code[1]]


def _structure_reason(code: str) -> str | None:
    if code[0] not in AUTHORITIES:
        return "AUTHORITY"
    if code[1] not in AUTHORITIES[code[0]][1]:
        return "ENTITY_TYPE"
    if code[2:8] != CENTRAL and not division_table().known(code[2:8]):
        return "DIVISION_UNKNOWN"
    return None


def validate(value: str | None, *, allow: Collection[str] = ()) -> IdCheck:
    """Check one USCC; the first failing rule gives the reason code."""
    original = value or ""
    code = normalise(original)
    if not code:
        return IdCheck(original, False, "EMPTY")
    if len(code) != 18:
        return IdCheck(original, False, "FORMAT")
    if any(c not in CHARSET for c in code):
        return IdCheck(original, False, "CHARSET")
    reason = _structure_reason(code)
    if reason is None and check_character(code[:17]) != code[17]:
        reason = "CHECKSUM"
    if reason is None and org_code_check(code[8:16]) != code[16]:
        reason = "ORG_CODE_CHECK"
    details: dict[str, str] = {}
    if reason in ("CHECKSUM", "ORG_CODE_CHECK") and code in allow:
        details["allowed_exception"] = reason
        reason = None
    if reason is not None:
        return IdCheck(original, False, reason, code)
    authority, kind = entity_type(code)
    division = code[2:8]
    details.update(
        registration_authority=authority,
        entity_type=kind,
        division=division,
        organisation_code=f"{code[8:16]}-{code[16]}",
    )
    name = "中央" if division == CENTRAL else division_table().full_name(division)
    if name:
        details["division_name"] = name
    return IdCheck(original, True, None, code, details)


REASONS: tuple[str | None, ...] = (
    None,
    "EMPTY",
    "FORMAT",
    "CHARSET",
    "AUTHORITY",
    "ENTITY_TYPE",
    "DIVISION_UNKNOWN",
    "CHECKSUM",
    "ORG_CODE_CHECK",
)
_CODE = {name: i for i, name in enumerate(REASONS)}


def _check_matrix(mat: npt.NDArray[np.uint8]) -> npt.NDArray[np.int8]:
    """Reason code per row (0 = valid; -1 = not plain 18 code-set characters: scalar path)."""
    values = _VALUE[mat]
    codes = np.zeros(mat.shape[0], dtype=np.int8)
    digits = mat[:, 2:8].astype(np.int64) - 48
    shape_ok = (values >= 0).all(axis=1) & ((digits >= 0) & (digits <= 9)).all(axis=1)
    org_sum = _ORG_VALUE[mat[:, 8:16]] @ np.array(ORG_WEIGHTS, dtype=np.int64)
    org_ok = _ORG_CHECK_BYTES[11 - org_sum % 11] == mat[:, 16]
    check = _CHARSET_BYTES[(31 - (values[:, :17] @ np.array(WEIGHTS, dtype=np.int64)) % 31) % 31]
    division = np.where(shape_ok, digits @ 10 ** np.arange(5, -1, -1), 0)
    division_ok = division_table().known_mask(division) | (division == int(CENTRAL))
    codes[~org_ok] = _CODE["ORG_CODE_CHECK"]
    codes[check != mat[:, 17]] = _CODE["CHECKSUM"]
    codes[~division_ok] = _CODE["DIVISION_UNKNOWN"]
    codes[~_TYPE_OK[mat[:, 0], mat[:, 1]]] = _CODE["ENTITY_TYPE"]
    codes[~_AUTH_OK[mat[:, 0]]] = _CODE["AUTHORITY"]
    codes[~shape_ok] = -1
    return codes


def scan_array(
    values: pa.Array | pa.ChunkedArray | Sequence[str | None], *, allow: Collection[str] = ()
) -> tuple[npt.NDArray[np.int8], pa.Array]:
    """One validation pass: per value its reason index into :data:`REASONS` (0 valid or null)
    and its :func:`normalise` form, the one codes are compared and stored in (null where the
    value is null). Only values that are not 18 plain code-set characters (lower case,
    full-width, spaces) go through Python."""
    arr = as_string_array(values)
    codes = np.full(len(arr), -1, dtype=np.int8)
    idx, mat = fixed_width_rows(arr, 18)
    if len(idx):
        codes[idx] = _check_matrix(mat)
    codes[null_mask(arr)] = 0
    slow = np.flatnonzero(codes < 0)
    keys = arr
    if len(slow):
        forms: list[str] = []
        for i, value in zip(slow, arr.take(pa.array(slow)).to_pylist(), strict=True):
            codes[i] = _CODE[validate(value).reason]
            forms.append(normalise(value))
        mask = np.zeros(len(arr), dtype=bool)
        mask[slow] = True
        keys = pc.replace_with_mask(arr, pa.array(mask), pa.array(forms, pa.string()))
    if allow:
        flagged = np.flatnonzero((codes == _CODE["CHECKSUM"]) | (codes == _CODE["ORG_CODE_CHECK"]))
        for i in flagged:
            if normalise(arr[int(i)].as_py()) in allow:
                codes[i] = 0
    return codes, keys


def validate_array(
    values: pa.Array | pa.ChunkedArray | Sequence[str | None], *, allow: Collection[str] = ()
) -> pa.StringArray:
    """One reason code per value, null where valid (null inputs give null)."""
    codes, _ = scan_array(values, allow=allow)
    return reasons_array(codes, REASONS)
