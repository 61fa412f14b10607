"""Read department files (CSV, JSON lines, Parquet, XLSX) into Arrow with a contract's types.

A file that cannot be read at all raises :class:`ReadError` with one message naming the file and
the problem (unknown encoding, wrong delimiter, missing required columns, empty, truncated, not
the declared format). Values that are merely bad do not fail the file: they become null in the
typed table and get a reason code (``<column>:TYPE``, ``:CONTROL_CHAR``, ``:TOO_LONG``,
``:FORMULA``) so the pipeline quarantines their row. Everything is kept as inert text: nothing
read here is ever evaluated.
"""

from __future__ import annotations

import codecs
import io
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

if TYPE_CHECKING:
    from schemas.contracts import Contract

MAX_FIELD_CHARS = 4096
Text: TypeAlias = (
    pa.Array | pa.ChunkedArray
)  # a column of text as read (CSV: in the parser's chunks)
Mask: TypeAlias = np.ndarray[Any, np.dtype[np.bool_]]
ROW_COLUMN = "_row"
_DELIMS = (",", ";", "\t", "|")
# C0/C1 control characters other than tab; CR/LF inside a value is also refused
_CONTROL = r"[\x00-\x08\x0a-\x1f\x7f-\x9f]"
# spreadsheet formula triggers (OWASP CSV injection): = @ or +/- followed by a non-digit
_FORMULA = r"^(=|@|[+\-][^0-9. ]|\t|\r)"
# a Python "" passed to a compute function makes pyarrow import pandas (1.5 s) to test its type
_EMPTY = pa.scalar("", pa.string())
_TRUE = ("1", "true", "TRUE", "True", "Y", "y", "yes", "是")
_FALSE = ("0", "false", "FALSE", "False", "N", "n", "no", "否")


class ReadError(Exception):
    """The file cannot be read; the message names the file and the problem."""

    def __init__(self, filename: str, problem: str) -> None:
        self.filename = filename
        self.problem = problem
        super().__init__(f"{filename}: {problem}")


@dataclass(frozen=True)
class ReadResult:
    """A file read with a contract: typed table, the raw text, and per-row parse reasons."""

    table: pa.Table  # contract schema + ``_row`` (0-based data row number)
    raw: pa.Table  # the same rows as text, as the department sent them
    reasons: pa.ListArray  # list<string> per row; empty = parsed cleanly
    encoding: str

    @property
    def rows(self) -> int:
        return int(self.table.num_rows)


@dataclass(frozen=True)
class TextRead:
    """A file read as text only (what the ingest pipeline keeps): the raw rows and the reader's
    text flags (``:FORMULA``, ``:CONTROL_CHAR``, ``:TOO_LONG``; no ``:TYPE``, the quality
    engine parses types itself)."""

    raw: pa.Table  # the rows as the department sent them + ``_row``
    reasons: pa.ListArray  # list<string> per row, the same text codes as :func:`read_file`'s
    encoding: str

    @property
    def rows(self) -> int:
        return int(self.raw.num_rows)


def decode(data: bytes, encoding: str, filename: str) -> tuple[str, str]:
    """Decode ``data`` as declared, or detect UTF-8 (with/without BOM) then GB18030."""
    if b"\x00" in data[:65536]:
        raise ReadError(filename, "unknown encoding: NUL bytes (UTF-16 or binary content)")
    if encoding == "auto":
        bom = data.startswith(b"\xef\xbb\xbf")
        candidates = ["utf-8-sig"] if bom else ["utf-8", "gb18030"]
    else:
        candidates = [encoding]
    for enc in candidates:
        try:
            text = data.decode(enc)
        except UnicodeDecodeError as exc:
            last = exc
            continue
        return text.removeprefix("\ufeff"), enc
    where = f"byte {last.start}"
    if last.start >= len(data) - 4:
        raise ReadError(filename, f"truncated: incomplete character at the end ({where})")
    tried = " or ".join(candidates)
    raise ReadError(filename, f"unknown encoding: not valid {tried} at {where}")


def _sniff_binary(data: bytes) -> str | None:
    if data.startswith(b"PAR1"):
        return "parquet"
    if data.startswith(b"PK\x03\x04"):
        return "xlsx (zip)"
    return None


def _check_header(
    names: list[str], contract: Contract, filename: str, text_head: str | None = None
) -> None:
    wanted = set(contract.column_names)
    present = set(names)
    if text_head is not None and len(names) == 1 and len(contract.columns) > 1:
        for d in _DELIMS:
            if d != contract.delimiter and d in names[0]:
                raise ReadError(
                    filename,
                    f"wrong delimiter: the header splits on {d!r}, the contract declares "
                    f"{contract.delimiter!r}",
                )
    missing = [c.name for c in contract.columns if c.required and c.name not in present]
    if missing:
        raise ReadError(filename, f"missing required columns: {', '.join(missing)}")
    if not wanted & present:
        raise ReadError(filename, "none of the contract's columns are present")


def _csv_strings(
    text: str, contract: Contract, filename: str, utf8: bytes | None = None
) -> dict[str, Text]:
    """The CSV's columns as text; ``utf8`` is ``text`` already encoded, if the caller has it."""
    # ``not text.strip()`` without copying the whole text (strip() removes isspace() chars)
    if not text or text.isspace():
        raise ReadError(filename, "empty file")
    end = text.find("\n")
    head = text if end < 0 else text[:end]
    header = [h.strip() for h in head.rstrip("\r").split(contract.delimiter)]
    _check_header(header, contract, filename, head)
    raw = text.encode("utf-8") if utf8 is None else utf8
    try:
        # blocks of a few MiB parse in parallel and stay in cache (2x faster than one block)
        table = _parse_csv(raw, contract.delimiter, header, 1 << 23)
    except pa.ArrowInvalid:
        # a row longer than a block, or a malformed file: the one-block parse decides, so
        # what is accepted and the error message are those of a whole-file parse
        table = None
    if table is None:
        try:
            table = _parse_csv(raw, contract.delimiter, header, None)
        except pa.ArrowInvalid as exc:
            msg = str(exc)
            m = re.search(r"Expected (\d+) columns, got (\d+)", msg)
            if m:
                raise ReadError(
                    filename,
                    f"truncated or malformed: a row has {m.group(2)} fields, "
                    f"the header has {m.group(1)}",
                ) from None
            raise ReadError(filename, f"not readable as CSV: {msg.splitlines()[0]}") from None
    table = table.rename_columns([n.strip() for n in table.column_names])
    return {n: table.column(n) for n in table.column_names}


def _parse_csv(
    raw: bytes, delimiter: str, header: list[str], block: int | None, encoding: str = "utf8"
) -> pa.Table:
    """Parse CSV bytes, every column as text; ``block=None``: the whole file as one block;
    ``encoding`` other than UTF-8 is decoded by Arrow as it parses."""
    import pyarrow.csv as pcsv

    if block is None:
        block = max(1 << 22, min(len(raw) + 1, 1 << 28))
    return pcsv.read_csv(
        io.BytesIO(raw),
        read_options=pcsv.ReadOptions(block_size=block, use_threads=True, encoding=encoding),
        parse_options=pcsv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
        convert_options=pcsv.ConvertOptions(
            column_types={n: pa.string() for n in header},
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )


def _jsonl_strings(text: str, contract: Contract, filename: str) -> dict[str, pa.Array]:
    if not text.strip():
        raise ReadError(filename, "empty file")
    names = contract.column_names
    cols: dict[str, list[str | None]] = {n: [] for n in names}
    seen: set[str] = set()
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ReadError(filename, f"line {lineno}: not valid JSON ({exc.msg})") from None
        if not isinstance(obj, dict):
            raise ReadError(filename, f"line {lineno}: expected a JSON object per line")
        seen.update(obj)
        for n in names:
            v = obj.get(n)
            cols[n].append(None if v is None else v if isinstance(v, str) else json.dumps(v))
    _check_header(sorted(seen), contract, filename)
    return {n: pa.array(v, pa.string()) for n, v in cols.items() if n in seen}


def _parquet_strings(data: bytes, contract: Contract, filename: str) -> dict[str, pa.Array]:
    import pyarrow.parquet as pq

    if not data.startswith(b"PAR1"):
        raise ReadError(filename, "not a Parquet file (no PAR1 magic)")
    try:
        table = pq.read_table(io.BytesIO(data))
    except (pa.ArrowInvalid, OSError) as exc:
        raise ReadError(filename, f"truncated or corrupt Parquet: {exc}") from None
    _check_header(table.column_names, contract, filename)
    out: dict[str, pa.Array] = {}
    for n in table.column_names:
        col = table.column(n).combine_chunks()
        out[n] = col if pa.types.is_string(col.type) else pc.cast(col, pa.string())
    return out


def _xlsx_strings(data: bytes, contract: Contract, filename: str) -> dict[str, pa.Array]:
    import zipfile

    from openpyxl import load_workbook

    if not data.startswith(b"PK\x03\x04"):
        raise ReadError(filename, "not an XLSX file (no zip signature)")
    try:
        # formulas are read as their text, never evaluated
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=False)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise ReadError(filename, f"truncated or corrupt XLSX: {exc}") from None
    ws = wb.worksheets[0]
    rows = ws.iter_rows(values_only=True)
    header_row = next(rows, None)
    if header_row is None:
        raise ReadError(filename, "empty workbook")
    header = [str(h).strip() if h is not None else "" for h in header_row]
    _check_header(header, contract, filename)
    cols: list[list[str | None]] = [[] for _ in header]
    for row in rows:
        if row is None or all(v is None for v in row):
            continue
        for i in range(len(header)):
            v = row[i] if i < len(row) else None
            cols[i].append(_cell_text(v))
    wb.close()
    return {h: pa.array(c, pa.string()) for h, c in zip(header, cols, strict=True) if h}


def _cell_text(v: Any) -> str | None:
    import datetime as dt

    if v is None:
        return None
    if isinstance(v, dt.datetime):
        return v.date().isoformat() if v.time() == dt.time() else v.isoformat(sep=" ")
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _typed(col: pa.Array, type_name: str) -> pa.Array:
    """Convert trimmed non-null text to ``type_name``; unparseable values become null."""
    if type_name == "string":
        return col
    if type_name == "int":
        ok = pc.match_substring_regex(col, r"^[+-]?\d{1,18}$")
        # Arrow's cast refuses the "+5" the pattern allows: drop the one leading plus sign
        return pc.cast(pc.utf8_ltrim(pc.if_else(ok, col, None), "+"), pa.int64())
    if type_name == "decimal":
        ok = pc.match_substring_regex(col, r"^[+-]?\d{1,16}(\.\d{1,4})?$")
        return pc.cast(pc.if_else(ok, col, None), pa.decimal128(20, 4))
    if type_name == "bool":
        t = pc.is_in(col, pa.array(_TRUE))
        f = pc.is_in(col, pa.array(_FALSE))
        return pc.if_else(t, True, pc.if_else(f, False, pa.scalar(None, pa.bool_())))
    if type_name == "date":
        # accept 2024-01-31, 2024/01/31, 20240131, 2024年1月31日 (zero-padded or not)
        norm = pc.replace_substring_regex(
            col, r"^(\d{4})[-/.年]?(\d{1,2})[-/.月]?(\d{1,2})日?$", r"\1-\2-\3"
        )
        norm = pc.replace_substring_regex(norm, r"-(\d)-", r"-0\1-")
        norm = pc.replace_substring_regex(norm, r"-(\d)$", r"-0\1")
        ts = pc.strptime(norm, format="%Y-%m-%d", unit="s", error_is_null=True)
        # strptime rolls 02-30 over to 03-02: keep only values that format back identically
        back = pc.strftime(ts, format="%Y-%m-%d")
        return pc.cast(pc.if_else(pc.equal(back, norm), ts, None), pa.date32())
    if type_name == "datetime":
        norm = pc.replace_substring_regex(col, r"T", " ")
        norm = pc.replace_substring_regex(norm, r"^(\d{4}-\d{2}-\d{2})$", r"\1 00:00:00")
        ts = pc.strptime(norm, format="%Y-%m-%d %H:%M:%S", unit="s", error_is_null=True)
        back = pc.strftime(ts, format="%Y-%m-%d %H:%M:%S")
        return pc.if_else(pc.equal(back, norm), ts, pa.scalar(None, pa.timestamp("s")))
    raise ValueError(f"unknown column type {type_name!r}")


def _strings(data: bytes, contract: Contract, filename: str) -> tuple[dict[str, Text], str]:
    """The file's columns as text (as sent; CSV columns in the parser's chunks) and the
    encoding it was read with."""
    fmt = contract.format
    if not data:
        raise ReadError(filename, "empty file")
    encoding = "binary"
    if fmt in ("csv", "jsonl"):
        sniffed = _sniff_binary(data)
        if sniffed:
            raise ReadError(filename, f"looks like {sniffed}, the contract declares {fmt}")
        codec = _transcodable(data, contract) if fmt == "csv" else None
        fast = _csv_transcoded(data, codec, contract) if codec else None
        if fast is not None:
            return fast, codec or ""
        text, encoding = decode(data, contract.encoding, filename)
        if fmt == "csv":
            strings = _csv_strings(text, contract, filename, _utf8_of(data, encoding))
        else:
            strings = _jsonl_strings(text, contract, filename)
    elif fmt == "parquet":
        strings = _parquet_strings(data, contract, filename)
    else:
        strings = _xlsx_strings(data, contract, filename)
    n = len(next(iter(strings.values()))) if strings else 0
    if n == 0:
        raise ReadError(filename, "no data rows (header only)")
    return strings, encoding


# GB codecs whose multi-byte characters never contain the byte of "\n" (their trail bytes are
# 0x30 and up), so the header is the bytes before the first 0x0A
_GB_CODECS = ("gb18030", "gbk", "gb2312")
_TRANSCODE_BLOCK = 1 << 21  # bytes per parsed block (a longer row: the one-block path reads it)


def _transcodable(data: bytes, contract: Contract) -> str | None:
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
        return declared if name in _GB_CODECS else None
    head = data[:65536]
    if head.startswith(_BOM):
        return None
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not merely a character cut by the 64 KiB slice
            return "gb18030"
    return None


def _csv_transcoded(data: bytes, codec: str, contract: Contract) -> dict[str, Text] | None:
    """The CSV's columns, decoded by Arrow as it parses (the decoding thread overlaps the
    parsing threads: 40 % faster on two cores than decoding first); None whenever the file
    is anything but a plain readable CSV in ``codec``, and then :func:`_csv_strings` reads
    it, with its exact errors. A successful parse here means the whole file decoded, so
    :func:`decode` would have given the same text: the same rows result."""
    end = data.find(b"\n")
    try:
        head = (data if end < 0 else data[:end]).decode(codec)
    except UnicodeDecodeError:
        return None
    if not head.strip() or head.startswith("\ufeff"):  # decode() strips a leading U+FEFF
        return None
    header = [h.strip() for h in head.rstrip("\r").split(contract.delimiter)]
    try:
        _check_header(header, contract, "", head)
        table = _parse_csv(data, contract.delimiter, header, _TRANSCODE_BLOCK, codec)
    except (ReadError, UnicodeError, pa.ArrowException):
        return None
    table = table.rename_columns([n.strip() for n in table.column_names])
    return {n: table.column(n) for n in table.column_names}


def _utf8_of(data: bytes, encoding: str) -> bytes | None:
    """``decode(data)``'s text as UTF-8 without encoding it again, when ``data`` was UTF-8:
    the bytes minus the BOMs :func:`decode` drops (``utf-8-sig`` one, then one more)."""
    if encoding not in ("utf-8", "utf-8-sig"):
        return None
    if encoding == "utf-8-sig":
        data = data.removeprefix(_BOM)
    return data.removeprefix(_BOM)


def _text_flags_reference(col: pa.Array, formula: bool) -> tuple[pa.Array, ...]:
    """The reader's text flags by definition, on the trimmed value: control characters,
    over-long, and (string columns) a formula trigger. :func:`_text_flags` gives the same
    flags faster; this is what it runs on the few rows that could be flagged."""
    trimmed = pc.utf8_trim_whitespace(col)
    trimmed = pc.if_else(pc.equal(trimmed, _EMPTY), pa.scalar(None, pa.string()), trimmed)
    control = pc.fill_null(pc.match_substring_regex(trimmed, _CONTROL), False)
    long = pc.fill_null(pc.greater(pc.utf8_length(trimmed), MAX_FIELD_CHARS), False)
    if not formula:
        return control, long
    return control, long, pc.fill_null(pc.match_substring_regex(trimmed, _FORMULA), False)


def _lut(values: list[int]) -> np.ndarray[Any, np.dtype[np.bool_]]:
    lut = np.zeros(256, dtype=bool)
    lut[values] = True
    return lut


_BOM = b"\xef\xbb\xbf"
# UTF-8 bytes that can belong to a character of _CONTROL: C0 controls but tab, DEL, and 0xC2,
# the lead byte of U+0080-U+009F (only when the next byte is below 0xA0)
_CONTROL_BYTES = _lut([*range(0x09), *range(0x0A, 0x20), 0x7F, 0xC2])
# first bytes after which a value's trimmed text may start with a formula trigger: the
# triggers, ASCII controls and space, and the lead bytes of every character Arrow's
# utf8_trim_whitespace removes (U+0085 U+00A0: C2; U+1680: E1; U+2000-U+205F: E2; U+3000: E3),
# as a value starting with any other character keeps it first after trimming
_FORMULA_LEADS = _lut([*range(0x21), *b"=@+-", 0xC2, 0xE1, 0xE2, 0xE3])


def _any_control_byte(seg: np.ndarray[Any, np.dtype[np.uint8]]) -> bool:
    """Whether ``seg`` may hold a byte of :data:`_CONTROL_BYTES` (a tab alone also says yes).

    Three vectorised minima (below 0x20; equal to 0x7F; equal to 0xC2) instead of a table
    lookup per byte, which is 8x slower; most columns have none of them.
    """
    if not len(seg) or seg.min() < 0x20:
        return bool(len(seg))
    tmp = np.empty_like(seg)
    for byte in (0x7F, 0xC2):
        np.bitwise_xor(seg, np.uint8(byte), out=tmp)
        if tmp.min() == 0:
            return True
    return False


def _text_flags(col: Text, formula: bool) -> list[pa.Array]:
    """:func:`_text_flags_reference` of ``col`` (see :func:`_text_masks`), as Arrow arrays."""
    return [pa.array(mask) for mask in _text_masks(col, formula)]


def _text_masks(col: Text, formula: bool) -> list[np.ndarray[Any, np.dtype[np.bool_]]]:
    """:func:`_text_flags_reference` of ``col``, evaluated only on the rows that could be flagged.

    Three facts about the UTF-8 bytes rule a row out: trimming only removes characters, so a
    value with no byte of a control character has none after trimming, nor more characters
    than bytes; and a value whose first character is neither a trigger nor whitespace still
    starts with it once trimmed. Finding such bytes is a few numpy passes over the data buffer,
    where the regexes cost a second per million rows.
    """
    if isinstance(col, pa.ChunkedArray):
        parts = [_text_masks(chunk, formula) for chunk in col.chunks]
        if not parts:
            return [np.zeros(0, dtype=bool) for _ in range(3 if formula else 2)]
        return [np.concatenate(masks) for masks in zip(*parts, strict=True)]
    n = len(col)
    if not pa.types.is_string(col.type) or col.null_count == n:
        flags = _text_flags_reference(col, formula)
        return [np.asarray(f.to_numpy(zero_copy_only=False), dtype=bool) for f in flags]
    offsets = np.frombuffer(col.buffers()[1], dtype=np.int32, count=n + 1, offset=4 * col.offset)
    data = col.buffers()[2]
    buf = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, np.uint8)
    lo, hi = int(offsets[0]), int(offsets[-1])
    seg = buf[lo:hi]
    lengths = np.diff(offsets)
    maybe = lengths > MAX_FIELD_CHARS
    hits = np.flatnonzero(_CONTROL_BYTES[seg]) if _any_control_byte(seg) else seg[:0]
    if len(hits):
        at_c2 = seg[hits] == 0xC2
        after = np.minimum(hits + 1, len(seg) - 1)
        c1 = at_c2 & (hits + 1 < len(seg)) & (seg[after] < 0xA0)
        hits = hits[~at_c2 | c1]
        maybe[np.searchsorted(offsets, hits + lo, side="right") - 1] = True
    if formula:
        filled = np.flatnonzero(lengths > 0)
        firsts = buf[offsets[filled]]
        maybe[filled[_FORMULA_LEADS[firsts]]] = True
    rows = np.flatnonzero(maybe)
    masks = [np.zeros(n, dtype=bool) for _ in range(3 if formula else 2)]
    if len(rows):
        subset = _text_flags_reference(col.take(pa.array(rows)), formula)
        for mask, sub in zip(masks, subset, strict=True):
            mask[rows] = np.asarray(sub.to_numpy(zero_copy_only=False), dtype=bool)
    return masks


def _as_sent(strings: dict[str, Text], contract: Contract, n: int) -> list[Text]:
    """Each contract column as sent (null if absent), in the contract's order."""
    cols = [strings.get(c.name) for c in contract.columns]
    return [pa.nulls(n, pa.string()) if col is None else col for col in cols]


def _column_flags(raw_cols: list[Text], contract: Contract) -> list[list[tuple[str, Mask]]]:
    """The text flags of each column of :func:`_as_sent`, in reason order."""
    flags: list[list[tuple[str, Mask]]] = []
    for c, col in zip(contract.columns, raw_cols, strict=True):
        mine: list[tuple[str, Mask]] = []
        if c.type == "string":
            control, long, formula = _text_masks(col, True)
            mine.append((f"{c.name}:FORMULA", formula))
        else:
            control, long = _text_masks(col, False)
        mine.append((f"{c.name}:CONTROL_CHAR", control))
        mine.append((f"{c.name}:TOO_LONG", long))
        flags.append(mine)
    return flags


def combined(col: Text) -> pa.Array:
    """A column as one Arrow array (a chunked one concatenated)."""
    return col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col


def _raw_table(raw_cols: list[Text], contract: Contract, rows: pa.Array) -> pa.Table:
    return pa.Table.from_arrays(raw_cols, names=list(contract.column_names)).append_column(
        ROW_COLUMN, rows
    )


def read_text(
    data: bytes,
    contract: Contract,
    filename: str,
) -> TextRead:
    """Read one department file as text with its text flags, without converting types.

    The same rows, errors and ``:FORMULA``/``:CONTROL_CHAR``/``:TOO_LONG`` codes as
    :func:`read_file`, for a caller that checks types itself (the ingest pipeline).
    """
    strings, encoding = _strings(data, contract, filename)
    n = len(next(iter(strings.values())))
    raw_cols = _as_sent(strings, contract, n)
    raw = _raw_table(raw_cols, contract, pa.array(np.arange(n, dtype=np.int64)))
    flags = [f for mine in _column_flags(raw_cols, contract) for f in mine]
    return TextRead(raw, _reason_lists(n, flags), encoding)


def read_file(data: bytes, contract: Contract, filename: str) -> ReadResult:
    """Read one department file with ``contract``; :class:`ReadError` if it cannot be read."""
    strings, encoding = _strings(data, contract, filename)
    strings = {name: combined(col) for name, col in strings.items()}
    n = len(next(iter(strings.values())))
    raw_cols = _as_sent(strings, contract, n)
    per_column = _column_flags(raw_cols, contract)
    typed_cols: list[pa.Array] = []
    flags: list[tuple[str, Mask | pa.Array]] = []
    for c, col, mine in zip(contract.columns, raw_cols, per_column, strict=True):
        flags.extend(mine)
        bad = np.logical_or.reduce([mask for _, mask in mine])
        trimmed = pc.utf8_trim_whitespace(col)
        trimmed = pc.if_else(pc.equal(trimmed, _EMPTY), pa.scalar(None, pa.string()), trimmed)
        clean = pc.if_else(pa.array(bad), pa.scalar(None, pa.string()), trimmed)
        typed = _typed(clean, c.type)
        type_bad = pc.and_(pc.is_valid(clean), pc.is_null(typed))
        flags.append((f"{c.name}:TYPE", type_bad))
        typed_cols.append(typed)

    reasons = _reason_lists(n, flags)
    schema = contract.arrow_schema()
    row_numbers = pa.array(np.arange(n, dtype=np.int64))
    table = pa.Table.from_arrays(typed_cols, schema=schema).append_column(ROW_COLUMN, row_numbers)
    return ReadResult(table, _raw_table(raw_cols, contract, row_numbers), reasons, encoding)


def _reason_lists(n: int, flags: Sequence[tuple[str, Mask | pa.Array]]) -> pa.ListArray:
    """Per-row list of the codes whose flag is set, in the order of ``flags``.

    Built from the flagged positions only (offsets by counting, codes by one stable sort), so a
    clean million-row file costs no Python object per row.
    """
    rows: list[np.ndarray[Any, Any]] = []
    codes: list[np.ndarray[Any, Any]] = []
    for k, (_, mask) in enumerate(flags):
        if isinstance(mask, np.ndarray):
            idx = np.flatnonzero(mask)
        else:
            idx = pc.indices_nonzero(mask).to_numpy().astype(np.int64)
        if len(idx):
            rows.append(idx)
            codes.append(np.full(len(idx), k, dtype=np.int32))
    if not rows:
        return pa.ListArray.from_arrays(
            pa.array(np.zeros(n + 1, dtype=np.int32)), pa.array([], pa.string())
        )
    at = np.concatenate(rows)
    order = np.argsort(at, kind="stable")  # within a row, flags keep their order
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(np.bincount(at, minlength=n), out=offsets[1:])
    names = pa.array([code for code, _ in flags], pa.string())
    return pa.ListArray.from_arrays(pa.array(offsets), names.take(np.concatenate(codes)[order]))
