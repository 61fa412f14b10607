"""The verifier's hot paths decide exactly what the standards decide.

The integrity check (each digest computed once and hashed straight into its leaf) passes exactly
when a naive recomputation with the rfc8785 package and a recursive MTH says the licence holds;
the signed header's bytes are RFC 8785; the strict JSON reader reads what ``json`` reads, or
refuses it.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st
from jcs_reference import integrity_holds

from ledger import strict_json
from ledger.strict_json import StrictJSONError
from licence import document
from licence.verify import PASSED, VerifyContext
from licence.verify.checks_content import check_integrity

texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20)
values = st.one_of(
    texts,
    st.integers(min_value=-(2**40), max_value=2**40),
    st.none(),
    st.booleans(),
    st.lists(texts, max_size=3),
)
CTX = VerifyContext(log_keys=())


def _passes(fields: dict[str, Any], root: Any) -> bool:
    # the identifier field, when present, must match the header (its own check, not the
    # digests'): give the header that identifier so only the digests decide here
    shown = fields.get("证照标识", {}).get("value", "") if isinstance(fields, dict) else ""
    header = {"digest_alg": "sha256", "document_digest": root, "licence_id": shown}
    doc = {"header": header, "fields": fields}
    try:
        return check_integrity(doc, None, CTX).status == PASSED
    except (KeyError, TypeError, ValueError):
        return False  # the runner turns these into a FAILED ``MALFORMED`` line


@settings(max_examples=150, deadline=None)
@given(
    content=st.dictionaries(texts, values, max_size=12),
    hide=st.sets(st.integers(min_value=0, max_value=11), max_size=4),
    tamper=st.sampled_from(["none", "value", "salt", "digest", "hidden_digest", "root", "upper"]),
    victim=st.integers(min_value=0, max_value=11),
)
def test_integrity_agrees_with_the_naive_reference(
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
    assert _passes(fields, root) == integrity_holds(fields, root)


def test_integrity_refuses_odd_shapes() -> None:
    fields = document.commit_fields({"a": "1", "b": "2"})
    root = document.document_digest(fields)
    assert _passes(fields, root)
    for broken in (
        {**fields, "a": {k: v for k, v in fields["a"].items() if k != "salt"}},
        {**fields, "a": {**fields["a"], "value": "\ud800"}},
        {**fields, "b": {"digest": "zz"}},
    ):
        assert not _passes(broken, root)
    assert not _passes(fields, root.upper())
    assert _passes({}, document.document_digest({}))


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.text(max_size=8), st.one_of(texts, st.integers(0, 99)), max_size=7))
def test_signed_header_bytes_are_the_jcs_bytes(header: dict[str, Any]) -> None:
    assert document.canonical(header) == rfc8785.dumps(header)


def test_signed_header_escapes_like_jcs() -> None:
    header = {"z": 'a"b\\c\n\t\x00\x1f\x7f', "a": "证照\u2028é", "m": ""}
    assert document.canonical(header) == rfc8785.dumps(header)
    with pytest.raises(UnicodeEncodeError):
        document.canonical({"a": "\ud800"})


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
        got: Any = ("ok", strict_json.loads(text))
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


def test_fields_are_recomputed_in_one_pass_naming_the_first_altered_one() -> None:
    fields = document.commit_fields({"a": "1", "b": "2", "c": {"n": 3}, "d": "4"})
    shown = document.disclose({"fields": fields}, ["b"])["fields"]
    digests, hidden, altered = document.recompute_fields(shown)
    assert (hidden, altered) == (1, None)
    assert digests == {n: bytes.fromhex(e["digest"]) for n, e in fields.items()}
    for alg in ("sha256", "sm3"):
        again = document.commit_fields({"x": "值", "y": ["l"]}, alg)
        assert document.recompute_fields(again, alg)[2] is None
    shown["c"] = {**shown["c"], "value": {"n": 4}}
    shown["d"] = {**shown["d"], "value": "5"}
    assert document.recompute_fields(shown)[2] == "c"  # the first, in the order given
    assert document.recompute_fields({k: shown[k] for k in "dcab"})[2] == "d"
