"""CSV files as text columns: one row per line, parsed by Arrow, refused at the line at fault.

A record spanning lines (an unterminated quote, a line break inside a value) or a row of the
wrong width refuses the file at its line; blank lines and lines of spaces only are not rows.
A file that is certainly GB18030 (or declared a GB codec) is decoded by Arrow as it parses
(:func:`csv_transcoded`); anything unusual about it goes the way of every other file:
:func:`schemas.readers.encoding.decode` first, then :func:`read_csv_strings`.
"""

from __future__ import annotations

import codecs
import io
import re
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from schemas.readers.encoding import GB_CODECS, UTF8_BOM, check_gb_lines
from schemas.readers.header import check_header, check_unique
from schemas.readers.results import ReadError, Text

if TYPE_CHECKING:
    from schemas.contracts import Contract


def _first_line(text: str) -> str:
    """The header line: up to the first LF or CR (a file may end its lines with CR only)."""
    ends = [e for e in (text.find("\n"), text.find("\r")) if e >= 0]
    return text[: min(ends)] if ends else text


def _header_names(head: str, contract: Contract, filename: str) -> list[str]:
    """The header's column names (quoted or not), refused when one appears twice."""
    import csv

    header = [h.strip() for h in next(csv.reader([head], delimiter=contract.delimiter), [])]
    check_unique(header, filename)
    check_header(header, contract, filename, head)
    return header


def _physical_lines(data: bytes | str) -> int:
    """The number of lines (LF, CRLF or a lone CR end one; a last line needs no break)."""
    if isinstance(data, str):
        n = data.count("\n")
        if "\r" in data:  # a CR is counted unless a LF follows it
            n += data.count("\r") - data.count("\r\n")
        last = data[-1:] in ("\n", "\r")
    else:
        n = data.count(b"\n")
        if b"\r" in data:
            n += data.count(b"\r") - data.count(b"\r\n")
        last = data[-1:] in (b"\n", b"\r")
    return n + (0 if last or not data else 1)


def _structure_error(text: str, contract: Contract, width: int, rows: int | None) -> str:
    """What is structurally wrong with a CSV, at its line: a record spanning lines (an
    unterminated quote, or a line break inside a value) or a row with the wrong number of
    fields; Python's csv module splits the rows as Arrow does (quotes open a value only at
    its start). ``rows``: the rows Arrow parsed, if it did."""
    import csv

    reader = csv.reader(io.StringIO(text, newline=""), delimiter=contract.delimiter)
    line = 0
    data_rows = 0
    last = _physical_lines(text)
    for record in reader:
        start, line = line + 1, reader.line_num
        if line > start:
            return (
                f"line {start}: a quoted value is not closed on its line (an unterminated "
                f"quote, or a line break inside a value, through line {line}); rows are not "
                "joined: correct the line and send the file again"
            )
        if start == 1:
            continue
        if not record or (len(record) == 1 and not record[0].strip()):
            continue  # a blank line, or one of spaces only: not a row
        data_rows += 1
        if len(record) != width:
            what = "truncated or malformed" if start == last else "malformed"
            return f"{what}: line {start} has {len(record)} fields, the header has {width}"
    return f"not readable as CSV: {data_rows} rows found, the parser read {rows}"


def read_csv_strings(
    text: str, contract: Contract, filename: str, utf8: bytes | None = None
) -> dict[str, Text]:
    """The CSV's columns as text; ``utf8`` is ``text`` already encoded, if the caller has it.

    One row per line: a record spanning lines or a row of the wrong width refuses the file at
    its line; blank lines and lines of spaces only are not rows."""
    # ``not text.strip()`` without copying the whole text (strip() removes isspace() chars)
    if not text or text.isspace():
        raise ReadError(filename, "empty file")
    header = _header_names(_first_line(text), contract, filename)
    raw = text.encode("utf-8") if utf8 is None else utf8
    table = None
    try:
        # blocks of a few MiB parse in parallel and stay in cache (2x faster than one block)
        table = _parse_csv(raw, contract.delimiter, header, 1 << 23)
    except pa.ArrowInvalid:
        # a row longer than a block, or a malformed file: the one-block parse decides
        try:
            table = _parse_csv(raw, contract.delimiter, header, None)
        except pa.ArrowInvalid:
            table = None
    if table is None or not _one_row_per_line(raw, table.num_rows):
        rows = None if table is None else table.num_rows
        if table is None or _blank_lines(text) + table.num_rows + 1 != _physical_lines(text):
            raise ReadError(filename, _structure_error(text, contract, len(header), rows))
    return {n: table.column(n) for n in table.column_names}


def _one_row_per_line(data: bytes, rows: int) -> bool:
    """Whether the header and ``rows`` are every line of ``data`` (no blank line, no record
    spanning lines): one count of line breaks, so the common case costs no scan of the rows."""
    return _physical_lines(data) == rows + 1


_BLANK_LINE = re.compile(r"^[ \t\f\v\u00a0\u3000]*$", re.MULTILINE)


def _blank_lines(text: str) -> int:
    """Lines of nothing or spaces only (not rows), for a file with other line counts."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n")
    n = len(_BLANK_LINE.findall(lines))
    return n - (1 if lines.endswith("\n") else 0)  # the empty "line" after the last break


def _skip_blank(row: Any) -> str:
    """Arrow's handler of a row of the wrong width: a line of spaces only is not a row."""
    return "skip" if not row.text.strip() else "error"


def _parse_csv(
    raw: bytes, delimiter: str, header: list[str], block: int | None, encoding: str = "utf8"
) -> pa.Table:
    """Parse CSV bytes, every column as text; ``block=None``: the whole file as one block;
    ``encoding`` other than UTF-8 is decoded by Arrow as it parses."""
    import pyarrow.csv as pcsv

    if block is None:
        block = max(1 << 22, min(len(raw) + 1, 1 << 28))
    # a column without a name (a trailing delimiter in the header) gets one of its own
    header = [name or f"_unnamed_{i + 1}" for i, name in enumerate(header)]
    return pcsv.read_csv(
        io.BytesIO(raw),
        read_options=pcsv.ReadOptions(
            block_size=block, use_threads=True, encoding=encoding, column_names=header, skip_rows=1
        ),
        parse_options=pcsv.ParseOptions(
            delimiter=delimiter, newlines_in_values=True, invalid_row_handler=_skip_blank
        ),
        convert_options=pcsv.ConvertOptions(
            column_types={n: pa.string() for n in header},
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )


_TRANSCODE_BLOCK = 1 << 21  # bytes per parsed block (a longer row: the one-block path reads it)


def transcodable(data: bytes, contract: Contract) -> str | None:
    """The GB codec :func:`decode` would read ``data`` with, when that is certain without
    decoding it all (a UTF-8 error well inside the first 64 KiB rules out UTF-8), else None."""
    if b"\x00" in data[:65536]:
        return None
    declared = contract.encoding
    if declared != "auto":
        try:
            name = codecs.lookup(declared).name
        except LookupError:
            return None
        return declared if name in GB_CODECS else None
    head = data[:65536]
    if head.startswith(UTF8_BOM):
        return None
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not merely a character cut by the 64 KiB slice
            return "gb18030"
    return None


def csv_transcoded(data: bytes, codec: str, contract: Contract) -> dict[str, Text] | None:
    """The CSV's columns, decoded by Arrow as it parses (the decoding thread overlaps the
    parsing threads: 40 % faster on two cores than decoding first); None whenever the file
    is anything but a plain readable CSV in ``codec``, and then :func:`read_csv_strings` reads
    it, with its exact errors. A successful parse here means the whole file decoded, so
    :func:`decode` would have given the same text: the same rows result."""
    ends = [e for e in (data.find(b"\n"), data.find(b"\r")) if e >= 0]
    try:
        head = (data[: min(ends)] if ends else data).decode(codec)
    except UnicodeDecodeError:
        return None
    if not head.strip() or head.startswith("\ufeff"):  # decode() strips a leading U+FEFF
        return None
    try:
        header = _header_names(head, contract, "")
        check_gb_lines(data, "", utf8_error=-1)  # any UTF-8 line: the text path says where
        table = _parse_csv(data, contract.delimiter, header, _TRANSCODE_BLOCK, codec)
    except (ReadError, UnicodeError, pa.ArrowException):
        return None
    if not _one_row_per_line(data, table.num_rows):
        return None  # blank lines, or a record spanning lines: the text path decides
    return {n: table.column(n) for n in table.column_names}
