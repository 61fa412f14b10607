"""PostgreSQL's COPY formats: values escaped for the text format, Arrow columns as binary rows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from storage.library.encoding import string_bytes, string_offsets
from storage.library.model import LibraryError

_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def copy_escaped(values: Sequence[str]) -> Sequence[str]:
    """Values in COPY's text format; checked in one pass over their join, as they rarely
    hold a backslash, tab or line break."""
    joined = "\n".join(values)
    if "\\" in joined or "\t" in joined or "\r" in joined or joined.count("\n") != len(values) - 1:
        return [copy_escape(v) for v in values]
    return values


def copy_escape(value: str) -> str:
    """A value in COPY's text format (backslash, tab, newline and CR escaped)."""
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        return value.translate(_COPY_ESCAPES)
    return value


# COPY's binary format: a signature, flags and header extension length (both 0), the rows,
# then a field count of -1
BINARY_COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + bytes(8)


BINARY_COPY_TRAILER = b"\xff\xff"


def binary_copy_rows(columns: Sequence[str | int | Any]) -> bytes:
    """Rows in COPY's binary format, assembled by Arrow's string kernels: each row is its
    field count, then each value's byte length (32-bit, big-endian) and bytes. ``columns``
    are Arrow string arrays without nulls, or a ``str`` or an ``int`` (an ``integer`` column):
    the same value on every row."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    n = len(next(c for c in columns if not isinstance(c, str | int)))
    parts: list[Any] = []
    fixed = len(columns).to_bytes(2, "big")  # constant bytes gathered until the next array
    for c in columns:
        if isinstance(c, int):
            fixed += (4).to_bytes(4, "big") + c.to_bytes(4, "big", signed=True)
            continue
        if isinstance(c, str):
            raw = c.encode()
            fixed += len(raw).to_bytes(4, "big") + raw
            continue
        if c.null_count:
            raise LibraryError("a binary COPY column holds a null")
        lengths = np.diff(string_offsets(c)).astype(">i4").tobytes()
        size = pa.FixedSizeBinaryArray.from_buffers(pa.binary(4), n, [None, pa.py_buffer(lengths)])
        parts += [pa.scalar(fixed, pa.binary()), size.cast(pa.binary()), c.cast(pa.binary())]
        fixed = b""
    if fixed:
        parts.append(pa.scalar(fixed, pa.binary()))
    rows = pc.binary_join_element_wise(*parts, pa.scalar(b"", pa.binary()))
    return bytes(string_bytes(rows).tobytes())
