"""The reader's fast paths give exactly what the plain definitions give, on hostile input.

``read_text`` (what the ingest pipeline reads with) skips type conversion and looks for text flags
only where the UTF-8 bytes say a flag is possible; the CSV is parsed in blocks. Each shortcut is
compared here with the definition it replaces: ``_text_flags_reference`` (trim, regexes, length
on every value) and a whole-file, one-block parse.
"""

from __future__ import annotations

import csv
import dataclasses
import io

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.contracts import Contract, load_contracts
from schemas.readers import MAX_FIELD_CHARS, ReadError, csvfile, read_text, text_flags
from schemas.readers import encoding as encodings
from tests.ingest.typed_read import read_typed

# every character class the shortcuts reason about: C0/C1 controls, DEL, every
# character Arrow trims (ASCII and Unicode spaces), BOM, full-width and CJK text, Latin-1 (0xC2
# lead bytes that are not controls, e.g. the middle dot in 买买提·艾力), astral characters
HOSTILE = st.sampled_from(
    [
        *"=@+-.0123456789 \t\r\n\x0b\x0c\x1c\x1d\x1e\x1f\x00\x01\x07\x1b\x7f",
        *"\x80\x85\x9f\xa0\xa9\xb7\u1680\u2000\u200a\u2028\u2029\u202f\u205f\u3000\ufeff",
        *"aZ,;|\"'张三长１２ＡＢ＝＋－＠😀",
    ]
)
VALUE = st.one_of(
    st.none(),
    st.text(HOSTILE, max_size=12),
    st.text(st.characters(codec="utf-8"), max_size=8),
    st.builds(
        lambda p, k, s: p + "长" * k + s,
        st.text(HOSTILE, max_size=3),
        st.sampled_from([MAX_FIELD_CHARS - 1, MAX_FIELD_CHARS, MAX_FIELD_CHARS + 1]),
        st.text(HOSTILE, max_size=3),
    ),
)


def _filled(flags: tuple[pa.Array, ...] | list[pa.Array]) -> list[list[bool]]:
    return [pc.fill_null(f, False).to_pylist() for f in flags]


@settings(max_examples=400, deadline=None)
@given(st.lists(VALUE, max_size=30), st.integers(0, 3), st.integers(0, 30))
def test_text_flags_equal_the_definition(values: list[str | None], cut: int, split: int) -> None:
    col = pa.array(values, pa.string())
    col = col.slice(min(cut, len(col)))  # a sliced array: offsets do not start at 0
    fast = text_flags._text_flags(col)
    want = _filled(text_flags._text_flags_reference(col))
    assert _filled(fast) == want
    # the CSV parser's chunks: flags computed chunk by chunk, joined
    at = min(split, len(col))
    chunked = pa.chunked_array([col.slice(0, at), col.slice(at)], pa.string())
    assert [m.tolist() for m in text_flags._text_masks(chunked)] == want


def test_shortcut_bytes_cover_every_control_character() -> None:
    """The control class, checked over all of Unicode: a control character has a byte of
    _CONTROL_BYTES (C1 controls: 0xC2 then a byte below 0xA0)."""
    points = [c for c in range(0x110000) if not 0xD800 <= c < 0xE000]
    controls = pc.match_substring_regex(pa.array([chr(c) for c in points]), text_flags._CONTROL)
    for c in np.flatnonzero(controls.to_numpy(zero_copy_only=False)):
        raw = chr(points[c]).encode()
        assert text_flags._CONTROL_BYTES[raw[0]], hex(points[c])
        assert len(raw) == 1 or (raw[0] == 0xC2 and raw[1] < 0xA0)


@pytest.fixture(scope="module")
def persons() -> Contract:
    return load_contracts()["ps_household"]


def _csv(rows: list[list[str]], names: list[str], crlf: bool) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n" if crlf else "\n")
    w.writerow(names)
    w.writerows(rows)
    return buf.getvalue()


CELL = st.one_of(st.text(HOSTILE, max_size=10), st.sampled_from(["1990-01-31", "3", "20", "x"]))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(st.text(HOSTILE, max_size=6), min_size=3, max_size=3), max_size=20))
def test_csv_blocks_parse_like_one_block(rows: list[list[str]]) -> None:
    """Parsing in small blocks (rows and quoted newlines across block ends) gives the one-block
    table, or fails and the reader falls back to the one-block parse."""
    raw = _csv(rows, ["a", "b", "c"], False).encode()
    try:
        whole = csvfile._parse_csv(raw, ",", ["a", "b", "c"], None)
    except pa.ArrowInvalid:
        with pytest.raises(pa.ArrowInvalid):  # never accepted in blocks when refused whole
            csvfile._parse_csv(raw, ",", ["a", "b", "c"], 64)
        return
    try:
        blocks = csvfile._parse_csv(raw, ",", ["a", "b", "c"], 64)
    except pa.ArrowInvalid:
        return  # e.g. a row longer than the block: _csv_strings parses as one block instead
    assert blocks.combine_chunks().equals(whole.combine_chunks())


@given(st.binary(max_size=40), st.sampled_from([b"", b"\xef\xbb\xbf", b"\xef\xbb\xbf" * 2]))
def test_utf8_bytes_are_the_decoded_text(body: bytes, bom: bytes) -> None:
    data = bom + body
    for declared in ("auto", "utf-8", "utf-8-sig"):
        try:
            text, encoding = encodings.decode(data, declared, "f")
        except ReadError:
            continue
        utf8 = encodings.utf8_of(data, encoding)
        assert utf8 == text.encode("utf-8") if encoding.startswith("utf-8") else utf8 is None


def test_malformed_csv_error_is_the_whole_file_parse_error(persons: Contract) -> None:
    header = ",".join(persons.column_names)
    good = ",".join(["x"] * 12)
    rows = [header, *[good] * 350_000, good + ",x", *[good] * 50_000, good + ",x,x", good]
    data = "\n".join(rows).encode()
    assert len(data) > 1 << 23  # more than one block: the first bad row is still the one named
    with pytest.raises(ReadError, match="line 350002 has 13 fields, the header has 12"):
        read_text(data, persons, "f.csv")


def test_row_longer_than_a_block_is_read(persons: Contract) -> None:
    header = ",".join(persons.column_names)
    long = "长" * (3 << 20)  # 9 MiB of UTF-8 in one field
    data = "\n".join([header, ",".join([long] + ["x"] * 11)]).encode()
    res = read_text(data, persons, "f.csv")
    assert res.reasons.to_pylist() == [["id_number:TOO_LONG"]]
    assert res.raw.column("id_number")[0].as_py() == long


def test_plus_signed_integer_is_typed_not_a_crash(persons: Contract) -> None:
    header = ",".join(persons.column_names)
    row = ["x"] * 12
    row[persons.column_names.index("family_size")] = "+5"
    res = read_typed(f"{header}\n{','.join(row)}\n".encode(), persons, "f.csv")
    assert res.table.column("family_size").to_pylist() == [5]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.lists(CELL, min_size=12, max_size=12), min_size=1, max_size=12),
    st.booleans(),
    st.sampled_from(["auto", "gb18030", "GBK"]),
    st.one_of(st.none(), st.tuples(st.integers(0, 10_000), st.binary(min_size=1, max_size=3))),
    st.sampled_from([64, 1 << 21]),
)
def test_transcoded_parse_equals_decoding_first(
    persons: Contract,
    rows: list[list[str]],
    crlf: bool,
    declared: str,
    damage: tuple[int, bytes] | None,
    block: int,
) -> None:
    """Arrow decoding GB18030 as it parses (in small blocks too) gives the columns of
    decoding the whole file first, and gives up (None) on any file that reading would refuse,
    damaged bytes included; the reader then takes the decoding-first path."""
    contract = dataclasses.replace(persons, encoding=declared)
    text = _csv(rows, list(persons.column_names), crlf)
    codec = "gbk" if declared == "GBK" else "gb18030"
    try:
        data = text.encode(codec)
    except UnicodeEncodeError:
        return  # GBK cannot write every character
    if damage is not None:
        at = damage[0] % (len(data) + 1)
        data = data[:at] + damage[1] + data[at:]
    chosen = csvfile.transcodable(data, contract)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(csvfile, "_TRANSCODE_BLOCK", block)
        fast = csvfile.csv_transcoded(data, chosen, contract) if chosen else None
    try:
        decoded, encoding = encodings.decode(data, declared, "f.csv")
        slow = csvfile.read_csv_strings(decoded, contract, "f.csv")
    except ReadError:
        assert fast is None
        return
    if fast is not None:
        assert encoding == chosen
        assert fast.keys() == slow.keys()
        for name in slow:
            assert fast[name].equals(slow[name]), name
    if chosen and damage is None and block > 64 and "\ufeff" not in text.split("\n", 1)[0]:
        assert fast is not None  # the shortcut is taken for plain files


LINE_BYTES = st.lists(
    st.sampled_from([b"a", b"\xd5\xc5", b"\xe5\xbc\xa0", b" ", b",", b"\n", b"\r", b"\r\n"]),
    min_size=1,
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(LINE_BYTES, st.data())
def test_line_bounds_and_counts_equal_a_split_into_lines(
    parts: list[bytes], data: st.DataObject
) -> None:
    """The byte-level line helpers (each search stops at the nearest break) give what splitting
    the bytes at LF, CRLF and lone CR gives, for any mixture of line ends."""
    import re

    raw = b"".join(parts)
    spans, start = [], 0
    for m in re.finditer(rb"\r\n|\r|\n", raw):
        spans.append((start, m.start()))
        start = m.end()
    spans.append((start, len(raw)))
    lines = len(spans) - (1 if raw.endswith((b"\n", b"\r")) else 0)
    assert csvfile._physical_lines(raw) == lines
    assert csvfile._physical_lines(raw.decode("latin-1")) == lines
    breaks = [i for i, b in enumerate(raw) if b in b"\r\n"]
    inside = [i for i in range(len(raw)) if i not in breaks]
    if not inside:
        return
    offset = data.draw(st.sampled_from(inside))
    number, (first, last) = next((k, s) for k, s in enumerate(spans, 1) if s[0] <= offset <= s[1])
    assert encodings._line_bounds(raw, offset, b"\n" in raw) == (first, last)
    assert encodings._line_of(raw, offset) == number
