"""Issuance writes RFC 8785 (JCS) bytes through ``licence.document``: checked against the rfc8785
library itself on generated strings (quotes, backslashes, control characters, astral planes),
and every built licence identifier's check character against the standard's own formula."""

from __future__ import annotations

import datetime as dt

import rfc8785
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from licence_fixtures import PROVINCE_MR

from licence import document
from licence.issuance import issue_entry
from licence.service import LicenceService
from schemas import licence_id

# any Unicode scalar value (lone surrogates cannot be encoded as UTF-8 by either side)
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)
BMP_KEY = st.text(st.characters(exclude_categories=("Cs",), max_codepoint=0xD7FF), max_size=12)


@given(TEXT, TEXT, TEXT, TEXT, TEXT, TEXT)
def test_signed_header_is_rfc8785(a: str, b: str, c: str, d: str, e: str, f: str) -> None:
    header = document.signed_header(a, b, c, d, e)
    header["format"] = f
    assert document.canonical(header) == rfc8785.dumps(header)


@given(TEXT, TEXT, TEXT, st.integers(0, 2**53 - 1), TEXT)
def test_issue_entry_is_rfc8785(lid: str, digest: str, auth: str, index: int, time: str) -> None:
    entry = {
        "event": "licence.issue",
        "licence_id": lid,
        "document_digest": digest,
        "authority": auth,
        "status_index": index,
        "time": time,
    }
    assert issue_entry(lid, digest, auth, index, time) == rfc8785.dumps(entry)


@given(st.dictionaries(BMP_KEY, TEXT, max_size=25))
def test_field_commitments_are_rfc8785(content: dict[str, str]) -> None:
    fields, root, text = document.seal_fields(content, "sha256")
    assert text == rfc8785.dumps(fields)
    for name, entry in fields.items():
        leaf = {"name": name, "salt": entry["salt"], "value": entry["value"]}
        assert (
            document.field_digest(name, entry["value"], entry["salt"], "sha256")
            == (entry["digest"])
        )
        assert rfc8785.dumps(leaf) == document.canonical(leaf)
    assert root == document.document_digest(fields, "sha256")


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.dictionaries(BMP_KEY, TEXT, min_size=1, max_size=8))
def test_sealed_licence_bytes_are_rfc8785(service: LicenceService, content: dict[str, str]) -> None:
    seal = service.store.active_seal(PROVINCE_MR, dt.datetime.now(dt.UTC))
    if seal is None:
        seal = service.create_seal(PROVINCE_MR)
    now = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    doc, raw = service.preparer.seal_raw("L-1", content, seal, now)
    assert raw == rfc8785.dumps(doc)


def _iso7064_mod37_36(data: str) -> str:
    """ISO/IEC 7064 hybrid MOD 37,36 as the standard states it, written apart from schemas/."""
    p = 36
    for char in data:
        s = (p + int(char, 36)) % 36 or 36
        p = (s * 2) % 37
    return "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"[(1 - p) % 36]


@given(st.integers(0, 10**10 - 1), st.integers(1, 999))
def test_built_identifiers_carry_the_standard_check_character(serial: int, version: int) -> None:
    # issuance builds every identifier with licence_id.build (the type and issuer prefix
    # checked once per pair): its check character is the standard's
    type_code = "11100000000013338W001"
    text = f"{serial:011d}"
    built = licence_id.build(type_code, PROVINCE_MR, text, version)
    body = f"{type_code}{PROVINCE_MR}{text}{version:03d}"
    assert built.endswith("." + _iso7064_mod37_36(body))
    assert licence_id.validate(built).valid
