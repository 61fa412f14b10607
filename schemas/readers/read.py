"""Read one department file as text: the dispatch by format, then the text flags.

A file that cannot be read at all raises :class:`ReadError` with one message naming the file and
the problem and, where it lies in the bytes, the line and byte offset (an encoding the text
contradicts, lines in different encodings, a malformed row, a duplicate column, an ambiguous
workbook, a cap exceeded, empty, truncated, not the declared format). Values that are merely bad
do not fail the file: they get a reason code (``:CONTROL_CHAR``, ``:TOO_LONG``, and what reading
itself finds: ``:TYPE`` for a JSON or Parquet value of the wrong kind, ``:NUMERIC_CELL``) so the
pipeline quarantines their row; the types of the contract's columns are parsed by the quality
engine (``quality.coercion``), not here. Everything is kept as inert text: nothing read here is
ever evaluated. Whether a text value is a spreadsheet formula is the quality engine's rule
(``FORMULA``, one rule in one place: :func:`quality.text.formula_mask`), not the reader's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from schemas.readers.csvfile import csv_transcoded, read_csv_strings, transcodable
from schemas.readers.encoding import decode, utf8_of
from schemas.readers.jsonl import read_jsonl_strings
from schemas.readers.parquet import read_parquet_strings
from schemas.readers.results import (
    ROW_COLUMN,
    Flags,
    ReadError,
    Text,
    TextRead,
    flag_masks,
    reason_lists,
)
from schemas.readers.text_flags import column_flags
from schemas.readers.xlsx import read_xlsx_strings

if TYPE_CHECKING:
    from schemas.contracts import Contract


def _sniff_binary(data: bytes) -> str | None:
    if data.startswith(b"PAR1"):
        return "parquet"
    if data.startswith(b"PK\x03\x04"):
        return "xlsx (zip)"
    return None


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
        codec = transcodable(data, contract) if fmt == "csv" else None
        fast = csv_transcoded(data, codec, contract) if codec else None
        if fast is not None:
            return fast, codec or "", flags
        text, encoding = decode(data, contract.encoding, filename)
        if fmt == "csv":
            strings = read_csv_strings(text, contract, filename, utf8_of(data, encoding))
        else:
            json_strings, flags = read_jsonl_strings(text, contract, filename)
            strings = dict(json_strings)
    elif fmt == "parquet":
        parquet_strings, flags = read_parquet_strings(data, contract, filename)
        strings = dict(parquet_strings)
    else:
        xlsx_strings, flags = read_xlsx_strings(data, contract, filename)
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

    The caller types the values itself: the check step's rules parse each column's type
    (``quality.coercion``, the one grammar of the contract's types).
    """
    strings, encoding, read_flags = _strings(data, contract, filename)
    n = len(next(iter(strings.values())))
    raw_cols = _as_sent(strings, contract, n)
    raw = _raw_table(raw_cols, contract, pa.array(np.arange(n, dtype=np.int64)))
    flags = [f for mine in column_flags(raw_cols, contract) for f in mine]
    flags += flag_masks(read_flags, n)
    return TextRead(raw, reason_lists(n, flags), encoding)
