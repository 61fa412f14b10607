"""Read department files (CSV, JSON lines, Parquet, XLSX) into Arrow with a contract's types.

A file that cannot be read at all raises :class:`ReadError` with one message naming the file and
the problem (unknown encoding, wrong delimiter, missing required columns, empty, truncated, not
the declared format). Values that are merely bad do not fail the file: they become null in the
typed table and get a reason code (``<column>:TYPE``, ``:CONTROL_CHAR``, ``:TOO_LONG``,
``:FORMULA``) so the pipeline quarantines their row. Everything is kept as inert text: nothing
read here is ever evaluated.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

if TYPE_CHECKING:
    from schemas.contracts import Contract

MAX_FIELD_CHARS = 4096
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


def _csv_strings(text: str, contract: Contract, filename: str) -> dict[str, pa.Array]:
    import pyarrow.csv as pcsv

    if not text.strip():
        raise ReadError(filename, "empty file")
    head = text.split("\n", 1)[0]
    header = [h.strip() for h in head.rstrip("\r").split(contract.delimiter)]
    _check_header(header, contract, filename, head)
    raw = text.encode("utf-8")
    try:
        table = pcsv.read_csv(
            io.BytesIO(raw),
            read_options=pcsv.ReadOptions(
                block_size=max(1 << 22, min(len(raw) + 1, 1 << 28)), use_threads=True
            ),
            parse_options=pcsv.ParseOptions(delimiter=contract.delimiter, newlines_in_values=True),
            convert_options=pcsv.ConvertOptions(
                column_types={n: pa.string() for n in header},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
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
    return {n: table.column(n).combine_chunks() for n in table.column_names}


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
        return pc.cast(pc.if_else(ok, col, None), pa.int64())
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


def read_file(data: bytes, contract: Contract, filename: str) -> ReadResult:
    """Read one department file with ``contract``; :class:`ReadError` if it cannot be read."""
    fmt = contract.format
    if not data:
        raise ReadError(filename, "empty file")
    encoding = "binary"
    if fmt in ("csv", "jsonl"):
        sniffed = _sniff_binary(data)
        if sniffed:
            raise ReadError(filename, f"looks like {sniffed}, the contract declares {fmt}")
        text, encoding = decode(data, contract.encoding, filename)
        if fmt == "csv":
            strings = _csv_strings(text, contract, filename)
        else:
            strings = _jsonl_strings(text, contract, filename)
    elif fmt == "parquet":
        strings = _parquet_strings(data, contract, filename)
    else:
        strings = _xlsx_strings(data, contract, filename)
    n = len(next(iter(strings.values()))) if strings else 0
    if n == 0:
        raise ReadError(filename, "no data rows (header only)")

    raw_cols: list[pa.Array] = []
    typed_cols: list[pa.Array] = []
    flags: list[tuple[str, pa.Array]] = []
    for c in contract.columns:
        col = strings.get(c.name)
        if col is None:
            col = pa.nulls(n, pa.string())
        raw_cols.append(col)
        trimmed = pc.utf8_trim_whitespace(col)
        trimmed = pc.if_else(pc.equal(trimmed, _EMPTY), pa.scalar(None, pa.string()), trimmed)
        control = pc.fill_null(pc.match_substring_regex(trimmed, _CONTROL), False)
        long = pc.fill_null(pc.greater(pc.utf8_length(trimmed), MAX_FIELD_CHARS), False)
        bad = pc.or_(control, long)
        if c.type == "string":
            formula = pc.fill_null(pc.match_substring_regex(trimmed, _FORMULA), False)
            flags.append((f"{c.name}:FORMULA", formula))
            bad = pc.or_(bad, formula)
        flags.append((f"{c.name}:CONTROL_CHAR", control))
        flags.append((f"{c.name}:TOO_LONG", long))
        clean = pc.if_else(bad, pa.scalar(None, pa.string()), trimmed)
        typed = _typed(clean, c.type)
        type_bad = pc.and_(pc.is_valid(clean), pc.is_null(typed))
        flags.append((f"{c.name}:TYPE", type_bad))
        typed_cols.append(typed)

    reasons = _reason_lists(n, flags)
    schema = contract.arrow_schema()
    row_numbers = pa.array(np.arange(n, dtype=np.int64))
    table = pa.Table.from_arrays(typed_cols, schema=schema).append_column(ROW_COLUMN, row_numbers)
    raw = pa.Table.from_arrays(raw_cols, names=list(contract.column_names)).append_column(
        ROW_COLUMN, row_numbers
    )
    return ReadResult(table, raw, reasons, encoding)


def _reason_lists(n: int, flags: list[tuple[str, pa.Array]]) -> pa.ListArray:
    """Per-row list of the codes whose flag is set, in the order of ``flags``.

    Built from the flagged positions only (offsets by counting, codes by one stable sort), so a
    clean million-row file costs no Python object per row.
    """
    rows: list[np.ndarray[Any, Any]] = []
    codes: list[np.ndarray[Any, Any]] = []
    for k, (_, mask) in enumerate(flags):
        idx = pc.indices_nonzero(mask).to_numpy()
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
