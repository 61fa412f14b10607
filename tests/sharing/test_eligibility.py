"""Eligibility (免申即享): a policy's rule picks exactly the hand-computed people on a small
library; a person turning 80 becomes eligible in the next period with exactly one application;
re-runs add nothing; a person who died is dropped; the vectorised rule agrees with a plain
per-person reading of it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import yaml
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from schemas import policies
from schemas.contracts import load_contracts
from sharing.eligibility import (
    ApplicationStore,
    eligible_mask,
    library_table,
    run_on_store,
    years_before,
)
from sharing.forms import StoreFormReads
from storage.library import GoldenReader, LibraryStore, engine_for
from tests.sharing.claims_fixtures import add_licence, entity_id, person_id

DAY1 = dt.datetime(2025, 6, 1, 8, 0, tzinfo=dt.UTC)
DAY2 = dt.datetime(2026, 3, 25, 8, 0, tzinfo=dt.UTC)
OLD = person_id("340402", "19400505", "111")  # 85, Huainan, alive: eligible
JUST = person_id("340403", "19460301", "222")  # 80 on 1 March 2026 exactly; no death record
SOON = person_id("340404", "19460302", "333")  # 80 on 2 March: eligible from April
DEAD = person_id("340402", "19300101", "444")  # died in 2025
AWAY = person_id("110101", "19350101", "555")  # 91, household in Beijing
DIES = person_id("340405", "19380808", "666")  # eligible in March, dies on 20 March
NOBIRTH = person_id("340402", "19450101", "777")  # the library holds no birth date
MARCH, APRIL = dt.date(2026, 3, 10), dt.date(2026, 4, 2)
FOOD = "11100000000013338W002"


def _merge(
    lib: LibraryStore,
    library: str,
    run: str,
    when: dt.datetime,
    rows: dict[str, dict[str, Any]],
    auth: list[str],
) -> None:
    subjects = sorted(rows)
    names = sorted({k for r in rows.values() for k in r})
    columns = {n: [rows[s].get(n) for s in subjects] for n in names}
    lib.merge(library, run, run.split("-")[0], when, subjects, columns, auth)


@pytest.fixture
def lib(tmp_path: Path) -> LibraryStore:
    return lib_with_people(LibraryStore(engine_for(f"sqlite:///{tmp_path / 'hub.db'}")))


def lib_with_people(store: LibraryStore) -> LibraryStore:
    """The people above (OLD to NOBIRTH), merged into ``store``."""
    people = {
        OLD: ("1940-05-05", "340402"),
        JUST: ("1946-03-01", "340403"),
        SOON: ("1946-03-02", "340404"),
        DEAD: ("1930-01-01", "340402"),
        AWAY: ("1935-01-01", "110101"),
        DIES: ("1938-08-08", "340405"),
        NOBIRTH: (None, "340402"),
    }
    _merge(
        store,
        "population",
        "ps_household-1",
        DAY1,
        {
            p: {"name": "某某", "birth_date": b, "household_division": d}
            for p, (b, d) in people.items()
        },
        ["name", "birth_date", "household_division"],
    )
    _merge(
        store,
        "population",
        "ca_marriage_death-1",
        DAY1,
        {
            OLD: {"deceased": "0"},
            DEAD: {"deceased": "1", "death_date": "2025-04-01"},
            DIES: {"deceased": "0"},
            AWAY: {"deceased": "0"},
        },
        ["deceased", "death_date"],
    )
    return store


def reads(lib: LibraryStore) -> StoreFormReads:
    departments = {k: c.department for k, c in load_contracts().items()}
    return StoreFormReads(lib.engine, GoldenReader(lib), departments)


def run(lib: LibraryStore, day: dt.date, policy: str = "elderly-allowance") -> Any:
    return run_on_store(policies.get(policy), lib, reads(lib), day)


def open_applications(lib: LibraryStore, policy: str = "elderly-allowance") -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for row in ApplicationStore(lib.engine).since(policy):
        if row["status"] == "open":
            out.setdefault(row["subject"], []).append(row["period"])
    return out


def test_the_eligible_set_is_the_hand_computed_one(lib: LibraryStore) -> None:
    policy = policies.get("elderly-allowance")
    table = library_table(lib, "population", policy.fields())
    mask = eligible_mask(policy, table, dt.date(2026, 3, 1), {})
    picked = {s for s, ok in zip(table.column("subject").to_pylist(), mask, strict=True) if ok}
    assert picked == {OLD, JUST, DIES}


def test_a_run_generates_one_prefilled_application_each(lib: LibraryStore) -> None:
    result = run(lib, MARCH)
    assert (result.period, result.eligible, len(result.created), result.ended) == (
        "2026-03",
        3,
        3,
        0,
    )
    rows = {r["subject"]: r for r in ApplicationStore(lib.engine).since("elderly-allowance")}
    fields = {f["key"]: f for f in rows[OLD]["form"]["fields"]}
    assert fields["age"]["value"] == "85"  # judged on 1 March
    assert fields["age"]["source"]["dataset"] == "ps_household"
    again = run(lib, MARCH)  # the same period, the same library: nothing new
    assert (len(again.created), again.ended) == (0, 0)
    assert open_applications(lib) == {OLD: ["2026-03"], JUST: ["2026-03"], DIES: ["2026-03"]}


def test_turning_80_gives_exactly_one_application_next_period(lib: LibraryStore) -> None:
    run(lib, MARCH)
    assert SOON not in open_applications(lib)
    april = run(lib, APRIL)
    assert [ApplicationStore(lib.engine).since("elderly-allowance")[-1]["subject"]] == [SOON]
    assert len(april.created) == 1
    run(lib, APRIL)
    run(lib, dt.date(2026, 5, 3))  # already receiving it: not asked again next month
    assert open_applications(lib)[SOON] == ["2026-04"]
    assert all(len(v) == 1 for v in open_applications(lib).values())


def test_a_person_who_died_is_dropped(lib: LibraryStore) -> None:
    run(lib, MARCH)
    _merge(
        lib,
        "population",
        "ca_marriage_death-2",
        DAY2,
        {DIES: {"deceased": "1", "death_date": "2026-03-20"}},
        ["deceased", "death_date"],
    )
    april = run(lib, APRIL)
    assert april.ended == 1
    assert DIES not in open_applications(lib)
    ended = [
        r for r in ApplicationStore(lib.engine).since("elderly-allowance") if r["status"] == "ended"
    ]
    assert [r["subject"] for r in ended] == [DIES]
    assert "no longer eligible" in ended[0]["end_reason"]


def test_since_returns_only_later_changes(lib: LibraryStore) -> None:
    run(
        lib,
        MARCH,
    )
    store = ApplicationStore(lib.engine)
    last = dt.datetime.fromisoformat(store.since("elderly-allowance")[-1]["updated_at"])
    assert store.since("elderly-allowance", last) == []
    run(lib, APRIL)
    assert [r["subject"] for r in store.since("elderly-allowance", last)] == [SOON]


def test_a_licence_condition_selects_the_holders(lib: LibraryStore) -> None:
    shop, closed = entity_id("340402", "MA2N0101"), entity_id("340403", "MA2N0102")
    other = entity_id("340402", "MA2N0103")
    _merge(
        lib,
        "legal-entity",
        "mr_enterprise-1",
        DAY1,
        {
            shop: {
                "entity_name": "甲",
                "registration_status": "1",
                "registered_division": "340402",
            },
            closed: {
                "entity_name": "乙",
                "registration_status": "4",
                "registered_division": "340403",
            },
            other: {
                "entity_name": "丙",
                "registration_status": "1",
                "registered_division": "340402",
            },
        },
        ["entity_name", "registration_status", "registered_division"],
    )
    add_licence(lib, shop, FOOD, serial=1)
    add_licence(lib, closed, FOOD, serial=2)
    result = run(lib, MARCH, "food-permit-renewal")
    assert result.eligible == 1
    assert set(open_applications(lib, "food-permit-renewal")) == {shop}


def _plain(
    birth: str | None, division: str | None, deceased: str | None, died: str | None, on: dt.date
) -> bool:
    """The elderly-allowance rule read person by person, as a clerk would."""
    if not birth or not division or not division.startswith("3404"):
        return False
    if deceased in ("1", "true") or died:
        return False
    try:
        born = dt.date.fromisoformat(birth)
    except ValueError:
        return False
    return born <= years_before(on, 80)


@hsettings(max_examples=40, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.one_of(
                st.none(),
                st.dates(dt.date(1920, 1, 1), dt.date(2000, 1, 1)).map(str),
                st.just("1950-13-01"),
            ),
            st.sampled_from([None, "340402", "340403", "110101", " 340404 "]),
            st.sampled_from([None, "0", "1", "true", ""]),
            st.sampled_from([None, None, "2024-01-01"]),
        ),
        max_size=30,
    ),
    on=st.dates(dt.date(2000, 1, 1), dt.date(2030, 12, 31)),
)
def test_the_vectorised_rule_agrees_with_a_plain_reading(
    rows: list[tuple[Any, ...]], on: dt.date
) -> None:
    table = pa.table(
        {
            "subject": [str(i) for i in range(len(rows))],
            "birth_date": pa.array([r[0] for r in rows], pa.string()),
            "household_division": pa.array([r[1] for r in rows], pa.string()),
            "deceased": pa.array([r[2] for r in rows], pa.string()),
            "death_date": pa.array([r[3] for r in rows], pa.string()),
        }
    )
    mask = eligible_mask(policies.get("elderly-allowance"), table, on, {})
    expected = [_plain(b, (d or "").strip() or None, x, y, on) for b, d, x, y in rows]
    assert mask.tolist() == expected


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"form": "tax-return"}, "unknown form"),
        ({"period": "week"}, "period"),
        ({"rule": [{"field": "birth_day", "age_at_least": 80}]}, "no field 'birth_day'"),
        ({"rule": [{"field": "household_division", "age_at_least": 80}]}, "date field"),
        ({"rule": [{"field": "deceased", "equals": "1"}]}, "list of values"),
        ({"rule": [{"field": "deceased", "prefix": "1", "equals": ["1"]}]}, "exactly one"),
        ({"rule": [{"licence": "nope"}]}, "no licence type"),
    ],
)
def test_a_malformed_policy_fails_loading(
    tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    data = yaml.safe_load(
        (policies.POLICIES_DIR / "elderly_allowance.yaml").read_text(encoding="utf-8")
    )
    data.update(change)
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(policies.PolicyError, match=message):
        policies.load(tmp_path)
