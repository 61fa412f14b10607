"""The check step's rejected rows and reasons, computed by Arrow over (row, code) pairs, are
what the per-row definition gives: each flagged row's engine reasons plus the reader's own
text flags, distinct and sorted; every other row accepted."""

from __future__ import annotations

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.check import READER_ONLY, rejections

ENGINE = st.sampled_from(["id_number:CHECKSUM", "name:REQUIRED", "_row:DUPLICATE_ROW", "a:TYPE"])
READER = st.sampled_from(
    ["name:FORMULA", "name:CONTROL_CHAR", "a:TOO_LONG", "a:TYPE", "b:TYPE", "name:REQUIRED"]
)


def _definition(
    engine: list[list[str]], reader: list[list[str]]
) -> tuple[list[bool], list[int], list[list[str]]]:
    rows, reasons = [], []
    for i, (e, x) in enumerate(zip(engine, reader, strict=True)):
        merged = sorted(set(e) | {r for r in x if r.endswith(READER_ONLY)})
        if merged:
            rows.append(i)
            reasons.append(merged)
    return [i not in rows for i in range(len(engine))], rows, reasons


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.lists(ENGINE, max_size=3), st.lists(READER, max_size=3)), max_size=40),
    st.integers(1, 5),
)
def test_rejections_equal_the_per_row_definition(
    rows: list[tuple[list[str], list[str]]], chunks: int
) -> None:
    engine = [e for e, _ in rows]
    reader = [x for _, x in rows]
    flags = pa.array(reader, pa.list_(pa.string()))
    cut = len(reader) // chunks  # read flags arrive chunked from the work file
    parts = [flags.slice(i * cut, cut) for i in range(chunks - 1)]
    chunked = pa.chunked_array([*parts, flags.slice((chunks - 1) * cut)])
    mask, rejected, reasons = rejections(pa.array(engine, pa.list_(pa.string())), chunked)
    want_mask, want_rows, want_reasons = _definition(engine, reader)
    assert mask.to_pylist() == want_mask
    assert rejected.to_pylist() == want_rows
    assert reasons.to_pylist() == want_reasons
    assert reasons.type == pa.list_(pa.string())
