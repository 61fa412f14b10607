"""The library's columnar snapshot, as a policy's read uses it: it holds what a scan of the
golden records gives for every subject, and is served only while it is of the library's
current version and its bytes are the ones it was written with — a merge, a withdrawal or a
retraction after it, or a tampered or missing file, and the read goes back to the golden
records (and keeps what it read as the new snapshot)."""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from hub.settings import Settings
from hub.synth import generate
from hub.wiring import ingest_services
from pipeline.run import run_pipeline
from schemas import policies
from sharing.eligibility import eligible_mask, library_table, typed
from storage.library import POPULATION, LibraryStore, engine_for
from storage.library import snapshot as snap
from storage.library.version import library_version
from tests.sharing.claims_fixtures import person_id

T0 = dt.datetime(2025, 1, 10, 8, 0, tzinfo=dt.UTC)
A = person_id("340402", "19400505", "111")
B = person_id("340403", "19460301", "222")
C = person_id("340404", "19460302", "333")
D = person_id("110101", "19350101", "444")
FIELDS = ["birth_date", "household_division", "deceased", "death_date", "phone"]
POLICY = policies.get("elderly-allowance")
ON = dt.date(2026, 2, 1)  # B (born 1946-03-01) is 79 then


def _merge(
    lib: LibraryStore,
    run: str,
    dataset: str,
    days: int,
    rows: dict[str, dict[str, str | None]],
    auth: list[str],
    withdrawn: list[str] | None = None,
) -> None:
    subjects = sorted(rows)
    names = sorted({k for r in rows.values() for k in r})
    columns = {n: [rows[s].get(n) for s in subjects] for n in names}
    when = T0 + dt.timedelta(days=days)
    lib.merge_chunks(
        POPULATION,
        run,
        dataset,
        when,
        [(subjects, columns)] if subjects else [],
        auth,
        withdrawn=withdrawn or [],
    )


def _library(path: Path) -> LibraryStore:
    lib = LibraryStore(engine_for(f"sqlite:///{path / 'hub.db'}"))
    _merge(
        lib,
        "hh-1",
        "ps_household",
        0,
        {
            A: {"birth_date": "1940-05-05", "household_division": "340402"},
            B: {"birth_date": "1946-03-01", "household_division": "340403"},
            D: {"birth_date": "1935-01-01", "household_division": "110101"},
        },
        ["birth_date", "household_division"],
    )
    _merge(lib, "ins-1", "hrss_insurance", 30, {A: {"phone": "137"}, C: {"phone": "138"}}, [])
    return lib


def _rows(table: pa.Table) -> dict[str, dict[str, Any]]:
    return {r.pop("subject"): r for r in table.to_pylist()}


def _eligible(lib: LibraryStore) -> set[str]:
    table = library_table(lib, POPULATION, POLICY.fields())
    mask = eligible_mask(POLICY, table, ON, {})
    return set(table.column("subject").filter(pa.array(mask)).to_pylist())


def _row_read(lib: LibraryStore, fields: list[str]) -> dict[str, dict[str, Any]]:
    """The reference: the golden records scanned now, typed, without any snapshot."""
    return _rows(typed(lib.field_columns(POPULATION, fields), POPULATION))


def test_a_policy_reads_the_snapshot_and_it_equals_the_row_read(tmp_path: Path) -> None:
    lib = _library(tmp_path)
    built = snap.build(lib, POPULATION, typed)
    assert built.written and built.version == library_version(lib.engine, POPULATION)
    kept = snap.load(lib, POPULATION, POLICY.fields())
    assert kept is not None  # the read is served from the snapshot, not a scan
    assert kept.schema.field("birth_date").type == pa.date32()  # typed as the schema says
    assert _rows(library_table(lib, POPULATION, POLICY.fields())) == _row_read(
        lib, list(POLICY.fields())
    )
    assert _eligible(lib) == {A}  # 80 or more, in 3404, alive (D lives outside Huainan)
    # a field no run carried is null, as in the row read
    assert _rows(snap.read_columns(lib, POPULATION, ["phone", "nickname"])) == {
        A: {"phone": "137", "nickname": None},
        B: {"phone": None, "nickname": None},
        C: {"phone": "138", "nickname": None},
        D: {"phone": None, "nickname": None},
    }


def test_a_merge_after_the_snapshot_is_seen_by_the_next_read(tmp_path: Path) -> None:
    lib = _library(tmp_path)
    snap.build(lib, POPULATION, typed)
    assert _eligible(lib) == {A}
    _merge(lib, "dr-1", "ca_marriage_death", 40, {A: {"deceased": "1"}}, [])
    assert snap.load(lib, POPULATION, POLICY.fields()) is None  # stale: never served
    assert _eligible(lib) == set()  # A died: the read went back to the golden records
    # ... and kept what it read: the next read is served from the new snapshot
    kept = snap.load(lib, POPULATION, POLICY.fields())
    assert kept is not None and _rows(kept)[A]["deceased"] == "1"


def test_a_withdrawal_and_a_retraction_are_reflected(tmp_path: Path) -> None:
    lib = _library(tmp_path)
    snap.build(lib, POPULATION, typed)
    # the household register takes A's record back: A has no birth date nor division any more
    _merge(lib, "hh-2", "ps_household", 35, {}, ["birth_date"], withdrawn=[A])
    assert snap.load(lib, POPULATION, POLICY.fields()) is None
    assert _rows(library_table(lib, POPULATION, POLICY.fields()))[A]["birth_date"] is None
    assert _eligible(lib) == set()
    # a later run gives B a birth date that makes B eligible; then it is retracted
    _merge(lib, "fix-1", "hrss_insurance", 50, {B: {"birth_date": "1930-01-01"}}, ["birth_date"])
    assert _eligible(lib) == {B}
    assert snap.load(lib, POPULATION, POLICY.fields()) is not None  # rebuilt by that read
    lib.retract_run("fix-1", "sent by mistake", "staff-1", T0 + dt.timedelta(days=60))
    assert snap.load(lib, POPULATION, POLICY.fields()) is None
    assert _eligible(lib) == set()  # B's birth date falls back to the register's
    assert _rows(library_table(lib, POPULATION, POLICY.fields())) == _row_read(
        lib, list(POLICY.fields())
    )


def _kept_file(tmp_path: Path) -> Path:
    folder = tmp_path / snap.FOLDER
    manifest = json.loads((folder / f"{POPULATION}.json").read_text())
    return folder / manifest["file"]


def test_a_tampered_snapshot_is_detected_and_not_used(tmp_path: Path) -> None:
    lib = _library(tmp_path)
    snap.build(lib, POPULATION, typed)
    path = _kept_file(tmp_path)
    data = path.read_bytes()
    # D moved to Huainan, says the file: still a well-formed Arrow file, only the hash differs
    path.write_bytes(data.replace(b"110101", b"340401"))
    tampered = _rows(pa.ipc.open_file(pa.py_buffer(path.read_bytes())).read_all())
    assert {r["household_division"] for r in tampered.values()} == {
        "340401",
        "340402",
        "340403",
        None,
    }
    assert snap.load(lib, POPULATION, POLICY.fields()) is None
    assert _eligible(lib) == {A}  # D is not made eligible by the tampered copy
    # the read rebuilt the snapshot from the golden records
    assert b"340401" not in _kept_file(tmp_path).read_bytes()
    assert snap.load(lib, POPULATION, POLICY.fields()) is not None


@pytest.mark.parametrize("damage", ["truncated", "missing", "manifest"])
def test_a_damaged_or_missing_snapshot_falls_back_to_the_golden_records(
    tmp_path: Path, damage: str
) -> None:
    lib = _library(tmp_path)
    snap.build(lib, POPULATION, typed)
    path = _kept_file(tmp_path)
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[:100])
    elif damage == "missing":
        path.unlink()
    else:
        (tmp_path / snap.FOLDER / f"{POPULATION}.json").write_text("{not json")
    assert snap.load(lib, POPULATION, POLICY.fields()) is None
    assert _rows(library_table(lib, POPULATION, POLICY.fields())) == _row_read(
        lib, list(POLICY.fields())
    )
    assert _eligible(lib) == {A}


def test_a_snapshot_read_while_the_library_changed_is_not_kept(tmp_path: Path) -> None:
    lib = _library(tmp_path)

    def merging_meanwhile(table: pa.Table, library: str) -> pa.Table:
        _merge(lib, "dr-1", "ca_marriage_death", 40, {A: {"deceased": "1"}}, [])
        return typed(table, library)

    built = snap.build(lib, POPULATION, merging_meanwhile)
    assert not built.written  # of no single version: not kept
    assert snap.load(lib, POPULATION, POLICY.fields()) is None
    assert _eligible(lib) == set()


def test_the_version_changes_with_every_change_of_the_library(tmp_path: Path) -> None:
    lib = _library(tmp_path)
    seen = [library_version(lib.engine, POPULATION)]
    _merge(lib, "hh-2", "ps_household", 35, {}, [], withdrawn=[B])
    seen.append(library_version(lib.engine, POPULATION))
    # the same run again, withdrawing another subject: no new run, still a new version
    _merge(lib, "hh-2", "ps_household", 35, {}, [], withdrawn=[D])
    seen.append(library_version(lib.engine, POPULATION))
    _merge(lib, "ins-2", "hrss_insurance", 36, {C: {"phone": "139"}}, [])
    seen.append(library_version(lib.engine, POPULATION))
    lib.retract_run("ins-2", "sent by mistake", "staff-1", T0 + dt.timedelta(days=60))
    seen.append(library_version(lib.engine, POPULATION))
    assert len(set(seen)) == len(seen)
    with pytest.raises(ValueError):  # a merge that fails changes nothing, nor the version

        def boom() -> None:
            raise ValueError("killed mid-merge")

        lib.merge(
            POPULATION, "x-1", "hrss_insurance", T0, [C], {"phone": ["1"]}, (), after_facts=boom
        )
    assert library_version(lib.engine, POPULATION) == seen[-1]


def test_the_publish_step_keeps_the_snapshot_the_policy_reads(settings: Settings) -> None:
    synth = generate(settings.home / "synth", persons=120, entities=10, seed=3, dirt=0.0)
    hub = ingest_services(settings)

    def ingest(dataset: str) -> None:
        path = synth.files[dataset]
        assert run_pipeline(hub, dataset, path.read_bytes(), path.name)["status"] == "published"

    ingest("ps_household")
    # no bulk read wanted the library yet: the publish step wrote no copy of it
    assert not (settings.home / snap.FOLDER).exists()
    assert library_table(hub.library, POPULATION, POLICY.fields()).num_rows > 0  # keeps one
    ingest("ca_marriage_death")  # a new version of the library, published
    kept = snap.load(hub.library, POPULATION, POLICY.fields())
    assert kept is not None  # of the version the publish left: written by the publish step
    assert kept.schema.field("birth_date").type == pa.date32()
    assert _rows(kept) == _row_read(hub.library, list(POLICY.fields()))
    assert {r["deceased"] for r in _rows(kept).values()} - {None}  # the death register's


SUBJECTS = [A, B, C, D]
VALUE = st.one_of(
    st.none(), st.sampled_from(["1", "张三", 'q"', "b\\s", "", "1930-02-03", "19450230", "x"])
)
RUN = st.tuples(
    st.dictionaries(st.sampled_from(SUBJECTS), st.fixed_dictionaries({f: VALUE for f in FIELDS})),
    st.sets(st.sampled_from(FIELDS)),  # the fields the run is the authoritative source of
    st.integers(0, 3),  # its day
    st.lists(st.sampled_from(SUBJECTS), max_size=2),  # subjects whose values it withdraws
)


@hsettings(max_examples=40, deadline=None)
@given(st.lists(RUN, min_size=1, max_size=4), st.integers(0, 4))
def test_the_snapshot_equals_the_row_read_for_every_subject(runs: list[Any], cut: int) -> None:
    """Whatever the runs, a snapshot built after some of them and read after all of them
    gives what the golden records give, typed, for every subject."""
    with tempfile.TemporaryDirectory() as tmp:
        lib = LibraryStore(engine_for(f"sqlite:///{Path(tmp) / 'hub.db'}"))
        for i, (rows, auth, day, gone) in enumerate(runs):
            if i == cut:
                snap.build(lib, POPULATION, typed)
            gone = sorted(set(gone) - set(rows))
            _merge(lib, f"run-{i}", f"dataset_{i % 2}", day, rows, sorted(auth), gone)
        want = _row_read(lib, FIELDS)
        assert _rows(library_table(lib, POPULATION, FIELDS)) == want  # rebuilt if stale
        kept = snap.load(lib, POPULATION, FIELDS)
        assert kept is not None  # the snapshot now kept is of the current version
        assert _rows(typed(kept, POPULATION)) == want
        lib.engine.dispose()


def test_a_library_with_no_place_for_a_snapshot_reads_its_golden_records() -> None:
    """An in-memory database (like PostgreSQL) has no folder beside it: the policy's fields are
    read from the golden records every time, and nothing is written anywhere."""
    lib = LibraryStore(engine_for("sqlite://"))
    _merge(lib, "hh-1", "ps_household", 0, {A: {"birth_date": "1940-05-05"}}, ["birth_date"])
    assert snap.snapshot_folder(lib) is None
    assert snap.refresh(lib, POPULATION, typed) is None
    assert snap.load(lib, POPULATION, POLICY.fields()) is None
    assert _rows(library_table(lib, POPULATION, POLICY.fields())) == _row_read(
        lib, list(POLICY.fields())
    )
    _merge(lib, "hh-2", "ps_household", 1, {A: {"household_division": "340402"}}, [])
    assert _eligible(lib) == {A}
