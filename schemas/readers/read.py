"""Read one department file: the dispatch by format, then the text flags and the typed table.

A file that cannot be read at all raises :class:`ReadError` with one message naming the file and
the problem and, where it lies in the bytes, the line and byte offset (an encoding the text
contradicts, lines in different encodings, a malformed row, a duplicate column, an ambiguous
workbook, a cap exceeded, empty, truncated, not the declared format). Values that are merely bad
do not fail the file: they become null in the typed table and get a reason code
(``<column>:TYPE``, ``:CONTROL_CHAR``, ``:TOO_LONG``, ``:NUMERIC_CELL``) so the pipeline
quarantines their row. Everything is kept as inert text: nothing read here is ever evaluated.
Whether a text value is a spreadsheet formula is the quality engine's rule (``FORMULA``, one
rule in one place: :func:`quality.text.formula_mask`), not the reader's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from schemas.readers.csvfile import _csv_strings, _csv_transcoded, _transcodable
from schemas.readers.encoding import _utf8_of, decode
from schemas.readers.jsonl import _jsonl_strings
from schemas.readers.parquet import _parquet_strings
from schemas.readers.results import (
    ROW_COLUMN,
    Flags,
    Mask,
    ReadError,
    ReadResult,
    Text,
    TextRead,
    _flag_masks,
    _reason_lists,
    combined,
)
from schemas.readers.text_flags import _EMPTY, _column_flags
from schemas.readers.xlsx import _xlsx_strings

if TYPE_CHECKING:
    from schemas.contracts import Contract

_TRUE = ("1", "true", "TRUE", "True", "Y", "y", "yes", "是")
_FALSE = ("0", "false", "FALSE", "False", "N", "n", "no", "否")


def _sniff_binary(data: bytes) -> str | None:
    if data.startswith(b"PAR1"):
        return "parquet"
    if data.startswith(b"PK\x03\x04"):
        return "xlsx (zip)"
    return None


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


MAX_FILE_BYTES = 2 << 30  # a department file larger than this is refused unread


def _strings(data: bytes, contract: Contract, filename: str) -> tuple[dict[str, Text], str, Flags]:
    """The file's columns as text (as sent; CSV columns in the parser's chunks), the encoding
    it was read with and the rows the reading itself flagged (a JSON value of the wrong type,
    a spreadsheet number for an identifier). Whatever goes wrong is a :class:`ReadError`."""
    try:
        return _strings_of(data, contract, filename)
    except ReadError:
        raise
    except RecursionError:
        raise ReadError(filename, "nested too deeply to read") from None
    except MemoryError:
        raise ReadError(filename, "too large to read in the memory available") from None
    except Exception as exc:  # a reader's own failure: a message, never a traceback
        raise ReadError(
            filename, f"not readable as {contract.format} ({type(exc).__name__})"
        ) from exc


def _strings_of(
    data: bytes, contract: Contract, filename: str
) -> tuple[dict[str, Text], str, Flags]:
    fmt = contract.format
    if not data:
        raise ReadError(filename, "empty file")
    if len(data) > MAX_FILE_BYTES:
        raise ReadError(filename, f"refused: {len(data)} bytes (cap {MAX_FILE_BYTES})")
    encoding = "binary"
    flags: Flags = []
    strings: dict[str, Text]
    if fmt in ("csv", "jsonl"):
        sniffed = _sniff_binary(data)
        if sniffed:
            raise ReadError(filename, f"looks like {sniffed}, the contract declares {fmt}")
        codec = _transcodable(data, contract) if fmt == "csv" else None
        fast = _csv_transcoded(data, codec, contract) if codec else None
        if fast is not None:
            return fast, codec or "", flags
        text, encoding = decode(data, contract.encoding, filename)
        if fmt == "csv":
            strings = _csv_strings(text, contract, filename, _utf8_of(data, encoding))
        else:
            json_strings, flags = _jsonl_strings(text, contract, filename)
            strings = dict(json_strings)
    elif fmt == "parquet":
        parquet_strings, flags = _parquet_strings(data, contract, filename)
        strings = dict(parquet_strings)
    else:
        xlsx_strings, flags = _xlsx_strings(data, contract, filename)
        strings = dict(xlsx_strings)
    n = len(next(iter(strings.values()))) if strings else 0
    if n == 0:
        raise ReadError(filename, "no data rows (header only)")
    return strings, encoding, flags


def _as_sent(strings: dict[str, Text], contract: Contract, n: int) -> list[Text]:
    """Each contract column as sent (null if absent), in the contract's order."""
    cols = [strings.get(c.name) for c in contract.columns]
    return [pa.nulls(n, pa.string()) if col is None else col for col in cols]


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

    The same rows, errors and ``:CONTROL_CHAR``/``:TOO_LONG`` codes as
    :func:`read_file`, for a caller that checks types itself (the ingest pipeline).
    """
    strings, encoding, read_flags = _strings(data, contract, filename)
    n = len(next(iter(strings.values())))
    raw_cols = _as_sent(strings, contract, n)
    raw = _raw_table(raw_cols, contract, pa.array(np.arange(n, dtype=np.int64)))
    flags = [f for mine in _column_flags(raw_cols, contract) for f in mine]
    flags += _flag_masks(read_flags, n)
    return TextRead(raw, _reason_lists(n, flags), encoding)


def read_file(data: bytes, contract: Contract, filename: str) -> ReadResult:
    """Read one department file with ``contract``; :class:`ReadError` if it cannot be read."""
    strings, encoding, read_flags = _strings(data, contract, filename)
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
        found = [mask for code, mask in _flag_masks(read_flags, n) if code.startswith(f"{c.name}:")]
        if found:  # a value the reading itself refused is not typed either
            bad = np.logical_or.reduce([bad, *found])
            clean = pc.if_else(pa.array(bad), pa.scalar(None, pa.string()), trimmed)
        typed = _typed(clean, c.type)
        type_bad = pc.and_(pc.is_valid(clean), pc.is_null(typed))
        flags.append((f"{c.name}:TYPE", type_bad))
        typed_cols.append(typed)
    flags += [(code, mask) for code, mask in _flag_masks(read_flags, n)]

    reasons = _reason_lists(n, flags)
    schema = contract.arrow_schema()
    row_numbers = pa.array(np.arange(n, dtype=np.int64))
    table = pa.Table.from_arrays(typed_cols, schema=schema).append_column(ROW_COLUMN, row_numbers)
    return ReadResult(table, _raw_table(raw_cols, contract, row_numbers), reasons, encoding)
