"""Decode a department file's bytes, and the evidence that it is in one encoding.

A declared encoding is used as declared; ``auto`` reads UTF-8 (with or without BOM) or
GB18030, a file valid under both decided by how plausible each reading is as Chinese names and
addresses. Whatever the encoding, the text must read as one: lines in different encodings, or
UTF-8 once decoded as Latin-1 (mojibake), are refused at the line and byte offset of the
evidence.
"""

from __future__ import annotations

import codecs
import functools
import re
from collections.abc import Iterator
from typing import Any

import numpy as np

from schemas.readers.results import ReadError


def _line_of(data: bytes, offset: int) -> int:
    """The 1-based line of byte ``offset``: lines end at LF, CRLF or a lone CR (no byte of a
    multi-byte UTF-8 or GB18030 character is 0x0A or 0x0D, so the bytes can be counted)."""
    head = data[:offset]
    return head.count(b"\n") + head.count(b"\r") - head.count(b"\r\n") + 1


def _at(data: bytes, offset: int) -> str:
    """Where a byte is, for a message: its line, its offset in the file and its value."""
    return f"line {_line_of(data, offset)}, byte {offset} (0x{data[offset]:02X})"


# GB codecs whose multi-byte characters never contain the byte of "\n" (their trail bytes are
# 0x30 and up), so the header is the bytes before the first 0x0A
GB_CODECS = ("gb18030", "gbk", "gb2312")
UTF8_BOM = b"\xef\xbb\xbf"
_LABEL = {"utf-8": "UTF-8", "utf-8-sig": "UTF-8", "gb18030": "GB18030", "gbk": "GBK"}


def _label(encoding: str) -> str:
    return _LABEL.get(encoding, encoding)


def _undecodable(data: bytes, exc: UnicodeDecodeError, encoding: str) -> str:
    if exc.end >= len(data) and exc.start >= len(data) - 3:
        return f"truncated: incomplete character at the end ({_at(data, exc.start)})"
    return f"not valid {_label(encoding)} at {_at(data, exc.start)}"


def decode(data: bytes, encoding: str, filename: str) -> tuple[str, str]:
    """Decode ``data`` with the contract's encoding, or (``auto``) as UTF-8 or GB18030.

    A declared encoding is used as declared. ``auto`` takes UTF-8 (with or without BOM) when
    the file is valid UTF-8 and GB18030 when it is not; a file valid under both is decided by
    the evidence of the text (:func:`_implausible`: the share of characters a Chinese name or
    address does not use). Either way the text must read as one encoding: a file whose lines
    are in different encodings, or whose text is UTF-8 read once as Latin-1 (mojibake), is
    refused, and every refusal names the line and byte offset of the evidence.
    """
    nul = data.find(b"\x00", 0, 65536)
    if nul >= 0:
        raise ReadError(
            filename, f"unknown encoding: NUL byte at {_at(data, nul)} (UTF-16 or binary content)"
        )
    if encoding != "auto":
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError as exc:
            problem = _undecodable(data, exc, encoding)
            raise ReadError(filename, f"{problem}; the contract declares {encoding}") from None
        text = text.removeprefix("\ufeff")
        if codecs.lookup(encoding).name in GB_CODECS:
            check_gb_lines(data, filename, declared=encoding)
        else:
            _check_mojibake(data, text, filename)
        return text, encoding
    if data.startswith(UTF8_BOM):
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ReadError(filename, _undecodable(data, exc, "utf-8")) from None
        _check_mojibake(data, text.removeprefix("\ufeff"), filename)
        return text.removeprefix("\ufeff"), "utf-8-sig"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as u8:
        try:
            text = data.decode("gb18030")
        except UnicodeDecodeError as gb:
            if gb.start >= len(data) - 3 and u8.start < gb.start:
                raise ReadError(filename, _undecodable(data, gb, "gb18030")) from None
            raise ReadError(
                filename,
                f"unknown encoding: not valid UTF-8 (at {_at(data, u8.start)}) nor GB18030 "
                f"(at {_at(data, gb.start)})",
            ) from None
        check_gb_lines(data, filename, utf8_error=u8.start)
        return text, "gb18030"
    _check_mojibake(data, text, filename)  # evidence of its own, whatever else the bytes are
    if not data.isascii():
        # valid UTF-8 and (rarely: real UTF-8 almost always breaks GB18030 within a line or
        # two, which fails fast) valid GB18030 too: the reading more plausible as Chinese text
        try:
            gb_text = data.decode("gb18030")
        except UnicodeDecodeError:
            gb_text = None
        if gb_text is not None and _implausible(gb_text) < _implausible(text):
            return gb_text, "gb18030"
    return text, "utf-8"


# ---- evidence for an encoding -------------------------------------------------------------------


@functools.cache
def _common_chars() -> np.ndarray[Any, np.dtype[np.bool_]]:
    """Which BMP code points a Chinese name or address plainly uses: ASCII, the GB2312
    hanzi (rows 16-87), its punctuation row and its full-width ASCII row, the ideographic
    space and the middle dot of transliterated names."""
    lut = np.zeros(0x10000, dtype=bool)
    lut[:0x80] = True
    for lead in (0xA1, 0xA3, *range(0xB0, 0xF8)):
        row = bytes(b for trail in range(0xA1, 0xFF) for b in (lead, trail))
        chars = row.decode("gb2312", errors="replace")
        if len(chars) != 0xFF - 0xA1:  # a row with unassigned pairs: one pair at a time
            chars = "".join(
                row[i : i + 2].decode("gb2312", errors="replace") for i in range(0, len(row), 2)
            )
        lut[[ord(c) for c in chars if c != "\ufffd"]] = True
    lut[[0x00B7, 0x3000, 0x30FB]] = True
    return lut


def _implausible(text: str) -> float:
    """The share of the non-ASCII characters of ``text`` that Chinese names and addresses
    rarely use: rare and compatibility ideographs, private use, Latin-1 and other alphabets
    (what mojibake is made of). 0.0 for text of common hanzi; 1.0 for pure mojibake."""
    cps = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    wide = cps[cps >= 0x80]
    if not len(wide):
        return 0.0
    common = _common_chars()
    ok = np.zeros(len(wide), dtype=bool)
    bmp = wide < 0x10000
    ok[bmp] = common[wide[bmp]]
    return float((~ok).sum()) / len(wide)


# bytes a line of GB2312-range text never has, and a UTF-8 line of Chinese text almost always
# has (a continuation byte 0x80-0xA0): only lines with one can be UTF-8 inside a GB file.
# ``bytes.translate`` marks them as 0x01 (every other byte 0x00) at memory speed, and
# ``find`` visits the marks, where a regular expression would cost 10 ns a byte.
_MARK_NOT_GB2312 = bytes(1 if 0x80 <= b <= 0xA0 else 0 for b in range(256))


def _not_gb2312(data: bytes) -> Iterator[int]:
    """Offsets of the bytes 0x80-0xA0 of ``data``, the first of each line only."""
    marks = data.translate(_MARK_NOT_GB2312)
    lf = b"\n" in data
    at = marks.find(b"\x01")
    while at >= 0:
        yield at
        _, end = _line_bounds(data, at, lf)
        at = marks.find(b"\x01", end)


def _line_bounds(data: bytes, offset: int, lf: bool = True) -> tuple[int, int]:
    """The start and end byte offsets of the line holding ``offset`` (without its break);
    ``lf``: whether ``data`` has a LF at all (else its lines end with CR). Each search stops
    at the nearest break, so visiting every line costs one pass over the file."""
    if not lf:
        end = data.find(b"\r", offset)
        return data.rfind(b"\r", 0, offset) + 1, len(data) if end < 0 else end
    before = data.rfind(b"\n", 0, offset)
    start = max(before, data.rfind(b"\r", before + 1, offset)) + 1
    end = data.find(b"\n", offset)
    end = len(data) if end < 0 else end
    cr = data.find(b"\r", offset, end)
    return start, end if cr < 0 else cr


def check_gb_lines(
    data: bytes, filename: str, *, declared: str | None = None, utf8_error: int | None = None
) -> None:
    """Refuse a GB18030 file with lines that are UTF-8: each line with a byte outside the
    GB2312 ranges is decoded both ways, and a line valid as UTF-8 that reads better so (see
    :func:`_implausible`) is a UTF-8 line. ``utf8_error``: where UTF-8 decoding of the whole
    file failed, if known (the line that is not UTF-8)."""
    lf = b"\n" in data
    for at in _not_gb2312(data):
        start, end = _line_bounds(data, at, lf)
        line = data[start:end]
        try:
            as_utf8 = line.decode("utf-8")
        except UnicodeDecodeError:
            continue
        try:
            as_gb = line.decode("gb18030")
        except UnicodeDecodeError:
            as_gb = None
        if as_gb is not None and _implausible(as_utf8) >= _implausible(as_gb):
            continue
        first = start + next(i for i, b in enumerate(line) if b >= 0x80)
        if utf8_error is None:
            try:
                data.decode("utf-8")
            except UnicodeDecodeError as exc:
                utf8_error = exc.start
        if utf8_error is None:
            raise ReadError(
                filename,
                f"wrong encoding: the contract declares {declared} but the file is UTF-8 "
                f"(from {_at(data, first)})",
            )
        raise ReadError(
            filename,
            f"mixed encodings: line {_line_of(data, first)} is UTF-8 (from {_at(data, first)}) "
            f"but the file is not: {_at(data, utf8_error)} is not valid UTF-8; a file must "
            "be in one encoding",
        )


# a run of characters that UTF-8 bytes decoded as Latin-1 or Windows-1252 become: a lead
# byte (U+00C2-U+00F4) followed by continuation bytes (U+0080-U+00BF or their cp1252 forms)
_CP1252_HIGH = "€‚ƒ„…†‡ˆ‰Š‹ŒŽ‘’“”•–—˜™š›œžŸ"
_MOJIBAKE = re.compile(f"[\u00c2-\u00f4][\u0080-\u00bf{_CP1252_HIGH}]+")


def _check_mojibake(data: bytes, text: str, filename: str) -> None:
    """Refuse UTF-8 text holding UTF-8 once decoded as Latin-1/Windows-1252 ("å¼ ä¸‰" for
    "张三"): a run of such characters whose bytes in that code page are valid UTF-8 of
    characters beyond Latin-1. Only text with such characters (lead bytes 0xC3-0xC5) is
    searched."""
    at = data.find(b"\xc3")  # the UTF-8 lead byte of every character U+00C0-U+00FF
    lf = b"\n" in data
    while at >= 0:
        start, end = _line_bounds(data, at, lf)
        at = data.find(b"\xc3", end)
        line = data[start:end].decode("utf-8")
        for m in _MOJIBAKE.finditer(line):
            if _is_mojibake(m.group()):
                offset = start + len(line[: m.start()].encode("utf-8"))
                raise ReadError(
                    filename,
                    f"mojibake: UTF-8 text that was once decoded as Latin-1 or Windows-1252 "
                    f"at {_at(data, offset)}; send the file as it was before that conversion",
                )


def _is_mojibake(run: str) -> bool:
    """Whether characters of Latin-1/Windows-1252 are UTF-8 bytes of wider characters."""
    raw = bytearray()
    for ch in run:
        raw += ch.encode("latin-1") if ord(ch) < 0x100 else ch.encode("cp1252")
    try:
        again = raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return any(ord(c) >= 0x800 for c in again)


def utf8_of(data: bytes, encoding: str) -> bytes | None:
    """``decode(data)``'s text as UTF-8 without encoding it again, when ``data`` was UTF-8:
    the bytes minus the BOMs :func:`decode` drops (``utf-8-sig`` one, then one more)."""
    if encoding not in ("utf-8", "utf-8-sig"):
        return None
    if encoding == "utf-8-sig":
        data = data.removeprefix(UTF8_BOM)
    return data.removeprefix(UTF8_BOM)
