"""The quality engine's shortcuts give what the plain definitions give; hostile values never
crash it: signed integers, IDs in full-width digits or their 15-digit form, and the same
reasons in the same order whether the column tasks run on one thread or two."""

from __future__ import annotations

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quality import engine
from quality.coercion import coerce
from quality.engine import check_table
from schemas.contracts import Contract, load_contracts
from tests.quality.conftest import AS_OF, person, to_table


@pytest.fixture(scope="module")
def persons() -> Contract:
    return load_contracts()["ps_household"]


def test_signed_integers_the_pattern_allows_convert(persons: Contract) -> None:
    """ "+5" matches the integer pattern; Arrow's cast alone refuses it (the run crashed)."""
    column = persons.column("family_size")
    typed, bad = coerce(pa.array(["+5", "-5", " +7 ", "++5", "+", "5", None]), column)
    assert typed.to_pylist() == [5, -5, 7, None, None, 5, None]
    assert bad.tolist() == [False, False, False, True, True, False, False]


def _full_width(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) for c in text)


def test_look_alike_and_legacy_ids_are_checked_not_crashing(persons: Contract) -> None:
    """A valid ID in full-width digits, or in its 15-digit form, has its birth date and sex
    (of the normalised number) compared like any other; slicing the text crashed the check."""
    rows = [person(i) for i in range(4)]
    rows[0]["id_number"] = _full_width(str(rows[0]["id_number"]))
    legacy = "110105491231003"  # 1949-12-31, sequence 003: male
    rows[1].update(id_number=legacy, birth_date="1949-12-31", sex="1")
    rows[2].update(id_number=legacy[:-1] + "5", birth_date="1949-12-30", sex="2")
    result = check_table(to_table(rows), persons, as_of=AS_OF)
    reasons = result.reasons.to_pylist()
    assert reasons[0] == [] and reasons[1] == [] and reasons[3] == []
    assert set(reasons[2]) == {"sex:ID_MISMATCH", "birth_date:ID_MISMATCH"}


CELLS = st.one_of(
    st.none(),
    st.sampled_from(["", " ", "1", "2", "01", "20", "+3", "x", "110105", "340403", "1990-01-31"]),
    st.sampled_from(["2021-02-30", "19900131", "13800138000", "=1+1", "张三", "１２"]),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 40), st.sampled_from(range(12)), CELLS), max_size=30))
def test_one_thread_or_two_give_the_same_reasons(
    persons: Contract, dirt: list[tuple[int, int, str | None]]
) -> None:
    rows = [person(i) for i in range(40)]
    rows += [dict(rows[3]), dict(rows[5], name="重复")]  # an exact copy and a shared key
    names = list(persons.column_names)
    for row, col, value in dirt:
        rows[row][names[col]] = value
    table = to_table(rows)
    results = []
    for threads in (1, 2):
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(engine, "_THREADS", threads)
            results.append(check_table(table, persons, as_of=AS_OF))
    one, two = results
    assert one.reasons.to_pylist() == two.reasons.to_pylist()
    assert [f.reason for f in one.failures] == [f.reason for f in two.failures]
    assert one.typed.equals(two.typed)
    assert one.metrics == two.metrics


@given(st.lists(st.one_of(st.none(), st.text("0123456789/:a１ \x00", max_size=8)), max_size=40))
def test_division_codes_are_six_ascii_digits_as_integers(values: list[str | None]) -> None:
    def definition(v: str | None) -> int:
        ok = v is not None and len(v.encode()) == 6 and all("0" <= ch <= "9" for ch in v)
        return int(v) if ok and v is not None else -1

    got = engine.division_ints(pa.array(values, pa.string()))
    assert got.tolist() == [definition(v) for v in values]
