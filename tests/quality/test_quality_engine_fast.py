"""The quality engine's shortcuts give what the plain definitions give; hostile values never crash it."""

from __future__ import annotations

import pyarrow as pa

from quality.engine import coerce
from schemas.contracts import load_contracts


def test_signed_integers_the_pattern_allows_convert() -> None:
    """ "+5" matches the integer pattern; Arrow's cast alone refuses it (the run crashed)."""
    column = load_contracts()["ps_household"].column("family_size")
    typed, bad = coerce(pa.array(["+5", "-5", " +7 ", "++5", "+", "5", None]), column)
    assert typed.to_pylist() == [5, -5, 7, None, None, 5, None]
    assert bad.tolist() == [False, False, False, True, True, False, False]
