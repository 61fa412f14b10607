"""XLSX workbooks as text columns, within caps that keep a hostile workbook cheap to refuse.

The archive is checked before anything is inflated (parts, inflated size, compression ratio:
a decompression bomb is refused unread); sheets are walked without the empty cells openpyxl
would make up, within Excel's own row and column limits. The data sheet is the contract's
``sheet``, else the one sheet with the contract's columns. Formulas are read as their text,
never evaluated; a number standing for an identifier is flagged ``<column>:NUMERIC_CELL``.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from schemas.readers.header import check_header, check_unique
from schemas.readers.results import ReadError

if TYPE_CHECKING:
    from schemas.contracts import Contract


# caps on what a workbook may cost to read: Excel's own sheet limits, the inflated size of
# the archive's parts and their compression ratio (checked before anything is inflated;
# Python's zipfile never inflates a part beyond its declared size)
XLSX_MAX_ROWS = 1_048_576
XLSX_MAX_COLUMNS = 16_384
XLSX_MAX_INFLATED = 512 << 20
XLSX_MAX_RATIO = 100
XLSX_MAX_PARTS = 10_000


def _check_archive(data: bytes, filename: str) -> None:
    """Refuse a workbook whose parts would inflate beyond the caps (a decompression bomb)."""
    import zipfile

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            parts = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise ReadError(filename, f"truncated or corrupt XLSX: {exc}") from None
    if len(parts) > XLSX_MAX_PARTS:
        raise ReadError(
            filename, f"refused: {len(parts)} parts in the archive (cap {XLSX_MAX_PARTS})"
        )
    total = sum(p.file_size for p in parts)
    if total > XLSX_MAX_INFLATED:
        raise ReadError(
            filename,
            f"refused: its parts would inflate to {total} bytes (cap {XLSX_MAX_INFLATED})",
        )
    for part in parts:
        if part.file_size > 1 << 18 and part.file_size > XLSX_MAX_RATIO * max(
            part.compress_size, 1
        ):
            raise ReadError(
                filename,
                f"refused as a decompression bomb: part {part.filename!r} would inflate "
                f"{part.file_size // max(part.compress_size, 1)} times (cap {XLSX_MAX_RATIO})",
            )


def _identifier_columns(contract: Contract) -> set[str]:
    """String columns holding identifiers: the key, the subject, those checked as a resident
    ID or a USCC, and those another rule reads an ID from."""
    names = {*contract.key, contract.subject_column}
    for c in contract.columns:
        for rule in c.rules:
            if rule.kind in ("resident_id", "uscc"):
                names.add(c.name)
            if rule.kind == "id_consistency":
                names.add(str(rule.params.get("id_column", "")))
    return {c.name for c in contract.columns if c.type == "string" and c.name in names}


def _sheet_rows(wb: Any, ws: Any, limit: int | None = None) -> Iterator[tuple[int, dict[int, Any]]]:
    """A sheet's rows as (row number, {column number: cell}), without the empty rows and
    cells openpyxl would make up for gaps (a row numbered a million costs nothing)."""
    from openpyxl.worksheet._reader import WorkSheetParser

    with wb._archive.open(ws._worksheet_path) as src:
        parser = WorkSheetParser(
            src,
            ws._shared_strings,
            data_only=False,
            epoch=wb.epoch,
            date_formats=wb._date_formats,
            timedelta_formats=wb._timedelta_formats,
        )
        for count, (idx, cells) in enumerate(parser.parse(), 1):
            if idx > XLSX_MAX_ROWS:
                raise _SheetCap(
                    f"sheet {ws.title!r}: row {idx} is beyond the last row of a sheet "
                    f"({XLSX_MAX_ROWS})"
                )
            row: dict[int, Any] = {}
            for cell in cells:
                col = cell["column"]
                if col > XLSX_MAX_COLUMNS:
                    raise _SheetCap(
                        f"sheet {ws.title!r}: column {col} is beyond the last column of a "
                        f"sheet ({XLSX_MAX_COLUMNS})"
                    )
                if cell["value"] is not None:
                    row[col] = cell
            if row:
                yield idx, row
            if limit is not None and count >= limit:
                return


class _SheetCap(Exception):
    pass


def _sheet_header(wb: Any, ws: Any) -> list[str]:
    """The first row of a sheet as column names (empty names for empty cells)."""
    for _, row in _sheet_rows(wb, ws, limit=50):
        width = max(row)
        return [str(row[i]["value"]).strip() if i in row else "" for i in range(1, width + 1)]
    return []


def _choose_sheet(wb: Any, contract: Contract, filename: str) -> tuple[Any, list[str]]:
    """The sheet to read and its header: the contract's ``sheet``, else the one sheet whose
    first row has the contract's required columns (a sheet of instructions is not one)."""
    names = [ws.title for ws in wb.worksheets if hasattr(ws, "_worksheet_path")]
    if contract.sheet is not None:
        if contract.sheet not in names:
            listed = ", ".join(repr(n) for n in names)
            raise ReadError(filename, f"no sheet {contract.sheet!r} (the workbook has {listed})")
        ws = wb[contract.sheet]
        return ws, _sheet_header(wb, ws)
    required = {c.name for c in contract.columns if c.required} or set(contract.column_names)
    headers = {n: _sheet_header(wb, wb[n]) for n in names}
    candidates = [n for n in names if required <= set(headers[n])]
    if len(candidates) > 1:
        listed = ", ".join(repr(n) for n in candidates)
        raise ReadError(
            filename,
            f"several sheets have the contract's columns ({listed}): the contract must name "
            "its sheet (`sheet:`), or the workbook hold one data sheet",
        )
    chosen = candidates[0] if candidates else names[0]
    if not candidates and len(names) > 1:
        listed = ", ".join(repr(n) for n in names)
        raise ReadError(
            filename, f"no sheet has the contract's required columns (sheets: {listed})"
        )
    return wb[chosen], headers[chosen]


def _lost_as_number(value: Any, identifier: bool, text: bool) -> bool:
    """Whether a cell's number stands for text it can no longer give back: any number in an
    identifier column, and in a text column one of more than 15 digits (a spreadsheet keeps
    15 significant digits: the rest are gone)."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    return identifier or (text and abs(value) >= 1e15)


def read_xlsx_strings(
    data: bytes, contract: Contract, filename: str
) -> tuple[dict[str, pa.Array], list[tuple[str, list[int]]]]:
    """The chosen sheet's columns as text, and the rows whose identifier or long digit string
    is a spreadsheet number (``<column>:NUMERIC_CELL``, see :func:`_lost_as_number`: a number
    has lost what an identifier is made of, its digits past the 15th, its leading zeros, its
    X)."""
    import zipfile
    from xml.etree.ElementTree import ParseError

    from openpyxl import load_workbook

    if not data.startswith(b"PK\x03\x04"):
        raise ReadError(filename, "not an XLSX file (no zip signature)")
    _check_archive(data, filename)
    try:
        # formulas are read as their text, never evaluated
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=False)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, TypeError, EOFError) as exc:
        raise ReadError(filename, f"truncated or corrupt XLSX: {type(exc).__name__}") from None
    except ParseError as exc:
        raise ReadError(filename, f"corrupt XLSX: a part is not valid XML ({exc})") from None
    try:
        ws, header = _choose_sheet(wb, contract, filename)
        if not header:
            raise ReadError(filename, f"empty workbook (sheet {ws.title!r} has no rows)")
        check_unique(header, filename)
        check_header(header, contract, filename)
        ids = _identifier_columns(contract)
        texts = {c.name for c in contract.columns if c.type == "string"}
        positions = {i + 1: h for i, h in enumerate(header) if h}
        cols: dict[str, list[str | None]] = {h: [] for h in positions.values()}
        numeric: dict[str, list[int]] = {}
        first = True
        n = 0
        for _, row in _sheet_rows(wb, ws):
            if first:  # the header
                first = False
                continue
            for col, name in positions.items():
                cell = row.get(col)
                value = None if cell is None else cell["value"]
                if _lost_as_number(value, name in ids, name in texts):
                    numeric.setdefault(name, []).append(n)
                cols[name].append(_cell_text(value))
            n += 1
    except _SheetCap as exc:
        raise ReadError(filename, f"refused: {exc}") from None
    except ParseError as exc:
        raise ReadError(filename, f"corrupt XLSX: a sheet is not valid XML ({exc})") from None
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, TypeError, EOFError) as exc:
        raise ReadError(filename, f"truncated or corrupt XLSX: {type(exc).__name__}") from None
    except (AttributeError, IndexError) as exc:
        raise ReadError(filename, f"corrupt XLSX: {type(exc).__name__} in a sheet") from None
    finally:
        wb.close()
    flags = [(f"{name}:NUMERIC_CELL", rows) for name, rows in numeric.items()]
    return {h: pa.array(c, pa.string()) for h, c in cols.items()}, flags


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
