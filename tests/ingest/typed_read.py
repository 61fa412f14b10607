"""A department file typed as the check step types it: for tests of reading and typing.

``schemas.readers.read_text`` reads the text; each column's type is then parsed by
``quality.coercion.coerce``, the one grammar of the contract's types that the check step's
rules use. A value that does not convert is null and its row gets ``<column>:TYPE``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from quality.coercion import coerce
from schemas.contracts import Contract
from schemas.readers import ROW_COLUMN, read_text


@dataclass(frozen=True)
class Typed:
    table: pa.Table  # the contract's schema + ``_row``
    raw: pa.Table  # as sent, + ``_row``
    reasons: pa.ListArray  # the reader's flags, then ``:TYPE`` per value that did not convert
    encoding: str


def read_typed(data: bytes, contract: Contract, filename: str) -> Typed:
    read = read_text(data, contract, filename)
    reasons = read.reasons.to_pylist()
    columns = []
    for column in contract.columns:
        typed, bad = coerce(read.raw.column(column.name).combine_chunks(), column)
        for row in np.flatnonzero(bad):
            if f"{column.name}:TYPE" not in reasons[row]:
                reasons[row].append(f"{column.name}:TYPE")
        columns.append(typed)
    table = pa.Table.from_arrays(columns, schema=contract.arrow_schema())
    table = table.append_column(ROW_COLUMN, read.raw.column(ROW_COLUMN))
    return Typed(table, read.raw, pa.array(reasons, pa.list_(pa.string())), read.encoding)
