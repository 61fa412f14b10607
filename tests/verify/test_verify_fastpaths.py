"""The verifier's hot-path shortcuts decide exactly what the reference code decides.

One-pass integrity and the directly written signed header must give the same answers as
``licence.document``; the strict JSON reader reads what ``json`` reads, or refuses it.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.strict_json import StrictJSONError
from licence import document
from licence.verify import (
    _canonical_header,
    _document_digest,
    _field_digest,
    _loads,
    _sha256_fields_hold,
)

texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20)
values = st.one_of(
    texts,
    st.integers(min_value=-(2**40), max_value=2**40),
    st.none(),
    st.booleans(),
    st.lists(texts, max_size=3),
)


def _reference(fields: dict[str, Any], root: Any) -> int | None:
    """What the general path concludes: the hidden count if everything holds, else None."""
    try:
        for name, entry in fields.items():
            if "value" in entry and _field_digest(
                name, entry["value"], entry["salt"], "sha256"
            ) != entry.get("digest"):
                return None
        if _document_digest(fields, "sha256") != root:
            return None
    except (KeyError, TypeError, ValueError):
        return None
    return sum(1 for e in fields.values() if "value" not in e)


@settings(max_examples=150, deadline=None)
@given(
    content=st.dictionaries(texts, values, max_size=12),
    hide=st.sets(st.integers(min_value=0, max_value=11), max_size=4),
    tamper=st.sampled_from(["none", "value", "salt", "digest", "hidden_digest", "root", "upper"]),
    victim=st.integers(min_value=0, max_value=11),
)
def test_one_pass_integrity_agrees_with_the_general_path(
    content: dict[str, Any], hide: set[int], tamper: str, victim: int
) -> None:
    fields = document.commit_fields(content)
    root = document.document_digest(fields)
    names = sorted(fields)
    for i in hide:
        if i < len(names):
            del fields[names[i]]["value"]
    if names:
        entry = fields[names[victim % len(names)]]
        if tamper == "value" and "value" in entry:
            entry["value"] = "changed" if entry["value"] != "changed" else "other"
        elif tamper == "salt" and "value" in entry:
            entry["salt"] = "00"
        elif tamper == "digest":
            entry["digest"] = "0" * 64
        elif tamper == "hidden_digest":
            entry.pop("value", None)
            entry["digest"] = entry["digest"][:-1] + ("1" if entry["digest"][-1] == "0" else "0")
        elif tamper == "upper":
            entry["digest"] = entry["digest"].upper()
    if tamper == "root":
        root = "f" * 64
    assert _sha256_fields_hold(fields, root) == _reference(fields, root)


def test_one_pass_integrity_refers_odd_shapes_to_the_general_path() -> None:
    fields = document.commit_fields({"a": "1", "b": "2"})
    root = document.document_digest(fields)
    assert _sha256_fields_hold(fields, root) == 0
    for broken in (
        {**fields, "a": "not an object"},
        {**fields, "a": {k: v for k, v in fields["a"].items() if k != "salt"}},
        {**fields, "a": {**fields["a"], "digest": 5}},
        {**fields, "a": {**fields["a"], "value": "\ud800"}},
        {**fields, "b": {"digest": "zz"}},
    ):
        assert _sha256_fields_hold(broken, root) is None
    assert _sha256_fields_hold(fields, root.upper()) is None
    assert _sha256_fields_hold(list(fields), root) is None
    assert _sha256_fields_hold({}, document.document_digest({})) == 0


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.text(max_size=8), st.one_of(texts, st.integers(0, 99)), max_size=7))
def test_signed_header_bytes_are_the_jcs_bytes(header: dict[str, Any]) -> None:
    assert _canonical_header(header) == document.canonical(header)


def test_signed_header_escapes_like_jcs() -> None:
    header = {"z": 'a"b\\c\n\t\x00\x1f\x7f', "a": "证照\u2028é", "m": ""}
    assert _canonical_header(header) == document.canonical(header)
    with pytest.raises(UnicodeEncodeError):
        _canonical_header({"a": "\ud800"})


JSON_TEXTS = [
    b'{"a":1,"a":2}',
    b'["\\ud800"]',
    b'["\\ud83d\\ude00", "\\u00e9", "\\/"]',
    b"[18446744073709551616, -9223372036854775809, 123456789012345678901234567890]",
    b"[1e400, -1e400, 1e-400, -0, -0.0, 4.9e-324, 0.1000000000000000055511151231257827]",
    b"[NaN, Infinity, -Infinity]",
    b'["a\x01b"]',
    b"{} x",
    b"\xef\xbb\xbf{}",
    b'["\xed\xa0\x80"]',
    b'["\xff"]',
    b"[01]",
    b"[1.]",
    b'{"a":1,}',
    b"\t{}\r\n",
    '{"证照":"营业执照"}'.encode("utf-16"),
    b"[" * 5000 + b"]" * 5000,
    b'{"licence": {"fields": {}}, "receipt": null}',
]


STRICT_REFUSES = {
    b'{"a":1,"a":2}': "duplicate key",
    b"[18446744073709551616, -9223372036854775809, 123456789012345678901234567890]": "too large",
    b"[1e400, -1e400, 1e-400, -0, -0.0, 4.9e-324, 0.1000000000000000055511151231257827]": (
        "out of range"
    ),
    b"[NaN, Infinity, -Infinity]": "not a JSON number",
    b'["\xed\xa0\x80"]': "not UTF-8",  # an encoded lone surrogate
    '{"证照":"营业执照"}'.encode("utf-16"): "not UTF-8",
}


@pytest.mark.parametrize("text", JSON_TEXTS)
def test_strict_reader_gives_what_json_gives_or_a_readable_refusal(text: bytes) -> None:
    """Every text the strict reader accepts reads as ``json`` reads it (a leading byte-order
    mark skipped); everything else is one StrictJSONError, never another exception."""
    try:
        got: Any = ("ok", _loads(text))
    except StrictJSONError as exc:
        got = ("refused", str(exc))
    if text in STRICT_REFUSES:
        assert got[0] == "refused" and STRICT_REFUSES[text] in got[1]
        return
    try:
        expected: Any = ("ok", json.loads(text.removeprefix(b"\xef\xbb\xbf")))
    except (ValueError, RecursionError):
        expected = ("refused",)
    assert got[0] == expected[0], got
    if got[0] == "ok":
        assert repr(got) == repr(expected)
