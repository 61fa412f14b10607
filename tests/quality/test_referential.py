"""Legal representatives must be persons of the population library (checked after merge)."""

from __future__ import annotations

import pyarrow as pa

from quality.referential import missing_references


def test_missing_references() -> None:
    values = pa.array(["A", "B", None, "C", "A"])
    known = pa.chunked_array([pa.array(["A"]), pa.array(["C", None])])
    assert missing_references(values, known).to_pylist() == [False, True, False, False, False]


def test_nothing_known_means_every_value_missing() -> None:
    result = missing_references(pa.array(["A", None]), pa.array([], pa.string()))
    assert result.to_pylist() == [True, False]
