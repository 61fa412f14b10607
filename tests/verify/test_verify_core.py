"""The verifier's fast digest paths agree with the licence core's reference functions."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from licence import document
from licence.verify import _document_digest, _field_digest

texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30)


@given(name=texts, value=texts, salt=st.text(alphabet="0123456789abcdef", max_size=32))
def test_fast_field_digest_is_the_jcs_digest(name: str, value: str, salt: str) -> None:
    assert _field_digest(name, value, salt, "sha256") == document.field_digest(name, value, salt)


def test_field_digest_escapes_and_non_strings() -> None:
    for value in ['a"b\\c\n\t\x00\x1f\x7f', "证照\u2028", 12, None, {"k": ["v", 1]}]:
        assert _field_digest("n", value, "00", "sha256") == document.field_digest("n", value, "00")
    assert _field_digest("n", "v", "00", "sm3") == document.field_digest("n", "v", "00", "sm3")


@given(st.integers(min_value=0, max_value=40))
def test_bottom_up_root_is_the_rfc9162_root(n: int) -> None:
    fields = document.commit_fields({f"f{i:02d}": str(i) for i in range(n)})
    assert _document_digest(fields, "sha256") == document.document_digest(fields)
