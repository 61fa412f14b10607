"""Referential rules run after merge, e.g. "a legal representative is a person in the library"."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc


def missing_references(
    values: pa.Array | pa.ChunkedArray, known: pa.Array | pa.ChunkedArray
) -> pa.BooleanArray:
    """True where a (non-null) value is not among ``known``; null values are never "missing".

    One hash-set lookup per value (``pyarrow.compute.is_in``), so checking a million legal
    representatives against the population library's keys takes well under a second.
    """
    if isinstance(known, pa.ChunkedArray):
        known = known.combine_chunks()
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if known.type != values.type:
        known = known.cast(values.type)
    absent = pc.invert(pc.is_in(values, value_set=known.drop_null()))
    result: pa.BooleanArray = pc.and_(absent, pc.is_valid(values))
    return result
