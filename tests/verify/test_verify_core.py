"""The one encoder of a licence's bytes and the one Merkle root, against the standards.

``licence.document`` owns the bytes of a field digest, the signed header and every logged
entry (RFC 8785); ``ledger.merkle`` owns the root (RFC 9162). Both are checked against the
RFC 8785 examples (files under ``tests/vectors/jcs/``), the rfc8785 package and a naive
recursive MTH kept in ``jcs_reference``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st
from jcs_reference import document_digest, field_digest, mth

from ledger import merkle
from licence import document

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "jcs"
texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | texts,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
    max_leaves=12,
)


@pytest.mark.parametrize("name", sorted(p.name for p in VECTORS.iterdir()))
def test_rfc8785_vectors(name: str) -> None:
    case = json.loads((VECTORS / name).read_text(encoding="utf-8"))
    assert document.canonical(json.loads(case["input"])).decode() == case["expected"]


@settings(max_examples=300)
@given(json_values)
def test_canonical_is_what_rfc8785_writes(value: Any) -> None:
    assert document.canonical(value) == rfc8785.dumps(value)


@given(name=texts, value=texts, salt=st.text(alphabet="0123456789abcdef", max_size=32))
def test_field_digest_is_the_jcs_digest(name: str, value: str, salt: str) -> None:
    assert document.field_digest(name, value, salt) == field_digest(name, value, salt)


@given(name=texts, value=json_values, salt=texts)
def test_field_digest_of_any_value_is_the_jcs_digest(name: str, value: Any, salt: str) -> None:
    assert document.field_digest(name, value, salt) == field_digest(name, value, salt)


def test_field_digest_escapes_and_non_strings() -> None:
    for value in ['a"b\\c\n\t\x00\x1f\x7f', "证照\u2028", 12, None, {"k": ["v", 1]}, 1.5]:
        assert document.field_digest("n", value, "00") == field_digest("n", value, "00")
    with pytest.raises(UnicodeEncodeError):
        document.field_digest("n", "\ud800", "00")  # a lone surrogate is no Unicode text


@given(st.integers(min_value=0, max_value=40))
def test_document_digest_is_the_rfc9162_root(n: int) -> None:
    fields = document.commit_fields({f"f{i:02d}": str(i) for i in range(n)})
    assert document.document_digest(fields) == document_digest(fields)


def test_merkle_root_is_the_naive_mth_for_sizes_0_to_70() -> None:
    entries = [bytes([i]) * (i % 5) for i in range(70)]
    for n in range(71):
        assert merkle.data_root(entries[:n]) == mth(entries[:n])
        assert document.merkle_root(entries[:n]) == mth(entries[:n])
        leaves = [merkle.leaf_hash(e) for e in entries[:n]]
        assert merkle.root(leaves) == merkle.MemoryTree(leaves).root()


@given(st.dictionaries(texts, texts, max_size=25))
def test_sealed_fields_and_their_text_are_rfc8785(content: dict[str, str]) -> None:
    fields, root, text = document.seal_fields(content)
    assert text == rfc8785.dumps(fields)
    assert root == document_digest(fields)
    for name, entry in fields.items():
        assert entry["digest"] == field_digest(name, entry["value"], entry["salt"])
        assert len(entry["salt"]) == 32
    assert len({e["salt"] for e in fields.values()}) == len(fields)


@given(st.dictionaries(texts, json_values, max_size=6))
def test_sealed_fields_of_any_values_are_rfc8785(content: dict[str, Any]) -> None:
    fields, root, text = document.seal_fields(content)
    assert text == rfc8785.dumps(fields)
    assert root == document_digest(fields)
