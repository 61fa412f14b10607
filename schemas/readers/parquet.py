"""Parquet files as text columns, a non-string value in a string column flagged ``TYPE``."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from schemas.readers.header import check_header, check_unique
from schemas.readers.results import Flags, ReadError

if TYPE_CHECKING:
    from schemas.contracts import Contract


def read_parquet_strings(
    data: bytes, contract: Contract, filename: str
) -> tuple[dict[str, pa.Array], Flags]:
    """A Parquet file's columns as text, and the rows where a contract's string column holds
    a non-string value (``<column>:TYPE``: a number has lost what text it was)."""
    import pyarrow.parquet as pq

    if not data.startswith(b"PAR1"):
        raise ReadError(filename, "not a Parquet file (no PAR1 magic)")
    try:
        table = pq.read_table(io.BytesIO(data))
    except (pa.ArrowInvalid, OSError) as exc:
        raise ReadError(filename, f"truncated or corrupt Parquet: {exc}") from None
    check_unique(table.column_names, filename)
    check_header(table.column_names, contract, filename)
    strings = {c.name for c in contract.columns if c.type == "string"}
    out: dict[str, pa.Array] = {}
    flags: Flags = []
    for n in table.column_names:
        col = table.column(n).combine_chunks()
        if pa.types.is_nested(col.type) or pa.types.is_binary(col.type):
            raise ReadError(filename, f"column {n!r} holds {col.type} values, not text")
        if not pa.types.is_string(col.type):
            if n in strings:
                valid = col.is_valid().to_numpy(zero_copy_only=False)
                flags.append((f"{n}:TYPE", np.flatnonzero(valid).tolist()))
            col = pc.cast(col, pa.string())
        out[n] = col
    return out, flags
