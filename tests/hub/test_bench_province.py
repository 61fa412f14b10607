"""The province benchmark's generator and verdicts (bench.province): the files are the same for
the same rows, every run's persons are new ones, and the targets judge growth as stated."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

from bench.province import (
    DELTA_STEP,
    ENTITIES,
    PERSONS,
    TARGETS,
    Province,
    generate,
    generate_delta,
    ratios,
    verdicts,
)
from schemas import resident_id, uscc

AS_OF = dt.date(2026, 12, 7)


def _rows(path: Path, encoding: str) -> list[dict[str, str]]:
    with path.open(encoding=encoding, newline="") as fh:
        return list(csv.DictReader(fh))


def test_the_same_rows_give_the_same_files_byte_for_byte(tmp_path: Path) -> None:
    a = generate(tmp_path / "a", range(500, 1500), range(50, 150), 7, AS_OF)
    b = generate(tmp_path / "b", range(500, 1500), range(50, 150), 7, AS_OF)
    for dataset in (PERSONS, ENTITIES):
        assert a[dataset].read_bytes() == b[dataset].read_bytes()


def test_each_run_takes_persons_no_earlier_run_had(tmp_path: Path) -> None:
    first = generate(tmp_path / "1", range(0, 2000), range(0, 200), 3400, AS_OF)
    second = generate(tmp_path / "2", range(2000, 4000), range(200, 400), 3400, AS_OF)
    ids1 = {r["id_number"] for r in _rows(first[PERSONS], "gb18030")}
    ids2 = {r["id_number"] for r in _rows(second[PERSONS], "gb18030")}
    assert len(ids1) == len(ids2) == 2000  # no person twice in a file
    assert not ids1 & ids2
    codes1 = {r["uscc"] for r in _rows(first[ENTITIES], "utf-8-sig")}
    codes2 = {r["uscc"] for r in _rows(second[ENTITIES], "utf-8-sig")}
    assert len(codes1) == len(codes2) == 200 and not codes1 & codes2


def test_about_one_row_in_a_hundred_is_dirty_and_the_rest_are_valid(tmp_path: Path) -> None:
    files = generate(tmp_path, range(10_000), range(1_000), 3400, AS_OF)
    rows = _rows(files[PERSONS], "gb18030")
    bad = [
        r
        for r in rows
        if not resident_id.validate(r["id_number"]).valid
        or r["birth_date"].endswith("-02-30")
        or not r["name"]
    ]
    assert 50 <= len(bad) <= 150
    clean = [r for r in rows if r not in bad]
    for r in clean[:500]:
        assert r["birth_date"].replace("-", "") == r["id_number"][6:14]
        assert r["sex"] == ("1" if int(r["id_number"][16]) % 2 else "2")
    entities = _rows(files[ENTITIES], "utf-8-sig")
    assert all(uscc.validate(e["uscc"]).valid for e in entities)
    # every legal representative is one of the run's persons, under the same name
    names = {r["id_number"]: r["name"] for r in clean}
    reps = [(e["legal_rep_id_number"], e["legal_rep_name"]) for e in entities]
    assert all(names.get(pid, name) == name for pid, name in reps)
    assert sum(pid in names for pid, _ in reps) > 900


def test_the_subjects_asked_are_clean_persons_of_the_size() -> None:
    province = Province(3400)
    persons = range(1000, 3000)
    ids = province.clean_ids(persons, 500)
    own = {province.person_id(k): k for k in persons}
    assert 450 <= len(ids) <= 500
    assert all(i in own and not province.dirty(own[i]) for i in ids)


def test_a_delta_changes_every_twentieth_person_and_adds_as_many_new(tmp_path: Path) -> None:
    """The delta ingested into a populated library: the size's persons it names come back
    under the same ID, name and birth date with other details; the others are new."""
    size = generate(tmp_path / "size", range(0, 2000), range(0, 200), 3400, AS_OF)
    delta = generate_delta(tmp_path / "delta", range(0, 2000), range(2000, 2100), 3400, AS_OF)
    before = {r["id_number"]: r for r in _rows(size[PERSONS], "gb18030")}
    rows = _rows(delta[PERSONS], "gb18030")
    assert len(rows) == 2000 // DELTA_STEP + 100
    old = [r for r in rows if r["id_number"] in before]
    assert len(old) == 2000 // DELTA_STEP  # the rest are new persons
    for r in old:
        was = before[r["id_number"]]
        assert (r["name"], r["birth_date"]) == (was["name"], was["birth_date"])
    assert sum(r != before[r["id_number"]] for r in old) > len(old) * 0.9
    again = generate_delta(tmp_path / "again", range(0, 2000), range(2000, 2100), 3400, AS_OF)
    assert again[PERSONS].read_bytes() == delta[PERSONS].read_bytes()


def _figures(
    ingest: float, p99: float, proof: float, populated: float = 1.0
) -> dict[str, dict[str, float]]:
    return {
        "ingest": {"seconds": ingest},
        "ingest_populated": {"seconds": populated},
        "serve": {"p99_ms": p99},
        "prove": {"median_us": proof},
        "generate": {"seconds": 1.0},
        "issue": {"seconds": 1.0},
    }


def test_targets_pass_within_their_bounds_and_fail_beyond() -> None:
    small = _figures(10.0, 20.0, 100.0, 2.0)
    assert TARGETS == {
        "ingest_time": 11.0,
        "ingest_populated_time": 11.0,
        "api_p99": 1.5,
        "proof_time": 1.3,
    }
    within = verdicts(ratios(small, _figures(110.0, 30.0, 130.0, 22.0)))
    assert within == {
        "ingest_time": True,
        "ingest_populated_time": True,
        "api_p99": True,
        "proof_time": True,
    }
    beyond = verdicts(ratios(small, _figures(111.0, 31.0, 131.0, 22.2)))
    assert beyond == {
        "ingest_time": False,
        "ingest_populated_time": False,
        "api_p99": False,
        "proof_time": False,
    }


def test_an_ingest_only_run_is_judged_on_its_stages_alone() -> None:
    """--ingest-only measures generate and the two ingests: no verdict on the others."""
    small = {"ingest": {"seconds": 10.0}, "ingest_populated": {"seconds": 2.0}}
    big = {"ingest": {"seconds": 120.0}, "ingest_populated": {"seconds": 20.0}}
    assert verdicts(ratios(small, big)) == {"ingest_time": False, "ingest_populated_time": True}
