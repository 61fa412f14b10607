"""The caches of the issuance fast path are keyed by everything they depend on.

Each test first fills a cache with one input, then offers a changed input that a wrongly keyed
cache would answer from the stale entry: the bytes must still be RFC 8785 of the new input, and
salts drawn from a batch's entropy must never repeat.
"""

from __future__ import annotations

import rfc8785

from licence import document


def test_a_flat_object_with_other_keys_gets_its_own_encoding() -> None:
    first = {"b": "1", "a": "2"}
    assert document.canonical(first) == rfc8785.dumps(first)
    # same number of keys, other names; same names, other order; one key more; non-ASCII key
    for changed in (
        {"c": "1", "a": "2"},
        {"a": "2", "b": "1"},
        {"b": "1", "a": "2", "A": "3"},
        {"b": "1", "é": "2"},
        {"b": 1, "a": True},
    ):
        assert document.canonical(changed) == rfc8785.dumps(changed)


def test_a_flat_object_of_a_cached_key_set_with_other_values_is_encoded_anew() -> None:
    header = document.signed_header("L-1", "00" * 32, "sha256", "S-1", "2026-03-01T00:00:00Z")
    assert document.canonical(header) == rfc8785.dumps(header)
    tampered = dict(header, document_digest="ff" * 32, seal_id='S-"2"\n')
    assert document.canonical(tampered) == rfc8785.dumps(tampered)
    assert document.canonical(tampered) != document.canonical(header)


def test_field_names_of_another_content_are_not_answered_from_the_cache() -> None:
    ascii_names = {"b": "1", "a": "2"}
    _, _, text = document.seal_fields(ascii_names)
    assert text.startswith(b'{"a":')
    # the same count of names, one astral (JCS sorts it by UTF-16 units): its own plan
    for changed in ({"b": "1", "𠀀": "2", "\uffff": "3"}, {"c": "1", "a": "2"}, {"a": "2"}):
        fields, root, text = document.seal_fields(changed)
        assert text == rfc8785.dumps(fields)
        document.check_integrity(fields, root, "sha256")
        assert set(fields) == set(changed)


def test_salts_drawn_from_one_entropy_never_repeat() -> None:
    entropy = document.Entropy(block=64)  # a small block: refills inside the batch
    content = {f"f{i:02d}": "same value" for i in range(7)}
    salts = []
    for _ in range(40):
        fields, root, _ = document.seal_fields(content, entropy=entropy)
        document.check_integrity(fields, root, "sha256")
        salts.extend(e["salt"] for e in fields.values())
    assert all(len(s) == 32 for s in salts)
    assert len(set(salts)) == len(salts)


def test_an_explicit_salt_is_escaped_as_json() -> None:
    fields, root, text = document.seal_fields({"a": "1"}, salt=lambda: 'q"\\')
    assert text == rfc8785.dumps(fields)
    assert fields["a"]["salt"] == 'q"\\'
    document.check_integrity(fields, root, "sha256")
