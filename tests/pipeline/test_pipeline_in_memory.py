"""The pipeline in one process hands the checked rows from step to step in memory: the same
library, quarantine and counts as the steps run one by one through their work files."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.settings import Settings
from hub.synth import SynthResult, generate
from hub.wiring import ingest_services
from pipeline import steps
from pipeline.check import take_sorted
from pipeline.run import run_pipeline
from pipeline.work import CHECKED, REJECTED, load_table, work_key
from storage.library import LibraryStore

DATASET = "ps_household"
RECEIVED = datetime(2026, 1, 5, tzinfo=UTC)


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> SynthResult:
    return generate(tmp_path_factory.mktemp("synth"), persons=400, entities=1, seed=11, dirt=0.03)


def _hub(tmp_path: Path, name: str) -> Any:
    return ingest_services(Settings(home=tmp_path / name, key_passphrase="test-passphrase"))


def test_the_pipeline_in_memory_leaves_what_the_steps_leave(
    tmp_path: Path, synth: SynthResult
) -> None:
    data = synth.files[DATASET].read_bytes()
    whole, stepped = _hub(tmp_path, "whole"), _hub(tmp_path, "stepped")
    done = run_pipeline(whole, DATASET, data, "f.csv", received_at=RECEIVED)
    ref = steps.land(stepped, DATASET, data, "f.csv", RECEIVED)
    ref = steps.quarantine(stepped, steps.check(stepped, ref))
    ref = steps.publish(stepped, steps.measure_accuracy(stepped, steps.merge(stepped, ref)))

    assert done["status"] == ref["status"] == "published"
    for key in ("rows_in", "rows_accepted", "rows_quarantined", "facts", "metrics"):
        assert done[key] == ref[key], key  # type: ignore[literal-required]
    assert done["rows_quarantined"] > 0
    assert whole.library.fact_count() == stepped.library.fact_count() > 0
    assert whole.library.golden_snapshot() == stepped.library.golden_snapshot()
    # every rejected row quarantined with its reasons, as the steps keep them
    (mine,), (theirs,) = whole.library.list_quarantine(), stepped.library.list_quarantine()
    assert mine["rows"] == theirs["rows"] == done["rows_quarantined"]
    assert mine["reasons"] == theirs["reasons"]
    kept = load_table(whole.objects, mine["object_key"])
    assert kept.equals(load_table(stepped.objects, theirs["object_key"]))
    # no work file was written: the rows went from step to step in memory
    assert not whole.objects.exists(work_key(done["run_id"], CHECKED))
    assert not whole.objects.exists(work_key(done["run_id"], REJECTED))


def test_a_failed_merge_after_the_pipeline_says_to_check_again_and_changes_nothing(
    tmp_path: Path, synth: SynthResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The in-memory rows are gone with the process: the merge step alone says what to do,
    and the pipeline run again publishes the run."""
    hub = _hub(tmp_path, "hub")
    data = synth.files[DATASET].read_bytes()

    def broken(*_: object, **__: object) -> int:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(LibraryStore, "merge_chunks", broken)
    with pytest.raises(steps.IngestError, match=r"ingest the file again .*merge it again"):
        run_pipeline(hub, DATASET, data, "f.csv")
    monkeypatch.undo()
    ref = steps.land(hub, DATASET, data, "f.csv")
    with pytest.raises(steps.IngestError, match=r"checked rows .* are gone.*check step again"):
        steps.merge(hub, ref)
    assert hub.library.fact_count() == 0
    assert hub.library.get_run(ref["run_id"])["status"] == "failed"
    assert run_pipeline(hub, DATASET, data, "f.csv")["status"] == "published"
    assert hub.library.fact_count() > 0


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(min_value=0, max_value=40), min_size=0, max_size=8),
    data=st.data(),
)
def test_take_sorted_gathers_the_rows_a_take_gathers(sizes: list[int], data: Any) -> None:
    """The rejected rows are gathered batch by batch: the same rows, in the same order, as a
    plain take, over tables of any chunking (empty chunks, none at all)."""
    schema = pa.schema([("n", pa.int64()), ("s", pa.string())])
    batches = []
    start = 0
    for size in sizes:
        values = np.arange(start, start + size)
        batches.append(
            pa.record_batch(
                [
                    pa.array(values, pa.int64()),
                    pa.array([f"r{v}" if v % 3 else None for v in values]),
                ],
                schema=schema,
            )
        )
        start += size
    table = pa.Table.from_batches(batches, schema=schema)
    rows = sorted(data.draw(st.sets(st.integers(0, max(start - 1, 0)))) if start else [])
    positions = pa.array(rows, pa.int64())
    got = take_sorted(table, positions)
    assert got.equals(table.take(positions))
    assert got["n"].to_pylist() == rows


def test_a_merge_in_many_chunks_leaves_what_one_chunk_leaves(
    tmp_path: Path, synth: SynthResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each merge chunk's rows are gathered when it is prepared: cut into chunks of a few
    rows, the run leaves the same library as in one chunk."""
    from pipeline import merge as merge_step

    data = synth.files[DATASET].read_bytes()
    one, many = _hub(tmp_path, "one"), _hub(tmp_path, "many")
    done = run_pipeline(one, DATASET, data, "f.csv", received_at=RECEIVED)
    monkeypatch.setattr(merge_step, "CHUNK_ROWS", 7)
    chunked = run_pipeline(many, DATASET, data, "f.csv", received_at=RECEIVED)
    assert chunked["facts"] == done["facts"] > 0
    assert many.library.golden_snapshot() == one.library.golden_snapshot()
    assert many.library.fact_count() == one.library.fact_count()


def test_a_failure_in_a_late_merge_chunk_leaves_the_library_as_it_was(
    tmp_path: Path, synth: SynthResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The chunks stream into one transaction: a failure while the tenth chunk is prepared
    (nine are written) leaves the library as before the run, the run failed, and the run
    ingested again ends as it would have."""
    from pipeline import merge as merge_step

    hub = _hub(tmp_path, "hub")
    first = synth.files["ca_marriage_death"].read_bytes()  # subjects the library holds already
    run_pipeline(hub, "ca_marriage_death", first, "first.csv", received_at=RECEIVED)
    before = hub.library.golden_snapshot(), hub.library.fact_count()
    monkeypatch.setattr(merge_step, "CHUNK_ROWS", 7)
    prepared = merge_step.prepare_statements
    calls: list[int] = []

    def fails_late(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 10:
            raise RuntimeError("the worker ran out of memory")
        return prepared(*args, **kwargs)

    monkeypatch.setattr(merge_step, "prepare_statements", fails_late)
    data = synth.files[DATASET].read_bytes()
    with pytest.raises(steps.IngestError, match=r"merge step failed \(RuntimeError\)"):
        run_pipeline(hub, DATASET, data, "f.csv", received_at=RECEIVED)
    assert len(calls) == 10
    assert (hub.library.golden_snapshot(), hub.library.fact_count()) == before
    (run,) = [r for r in hub.library.list_runs() if r["dataset"] == DATASET]
    assert run["status"] == "failed"
    monkeypatch.undo()
    assert run_pipeline(hub, DATASET, data, "f.csv", received_at=RECEIVED)["facts"] > 0
    assert hub.library.fact_count() > before[1]


def test_the_read_begun_while_landing_is_used_only_for_the_same_file_and_name(
    tmp_path: Path, synth: SynthResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pipeline reads the file while it lands it; the check uses that reading only for a
    run of these very bytes under this name. A run landed before under another name (the
    name the reader goes by) is read again from the landed object, with its own name."""
    import pipeline.check as check_step

    reads: list[str] = []
    read_text = check_step.read_text

    def counted(data: bytes, contract: Any, filename: str) -> Any:
        reads.append(filename)
        return read_text(data, contract, filename)

    monkeypatch.setattr(check_step, "read_text", counted)
    data = synth.files[DATASET].read_bytes()
    hub = _hub(tmp_path, "hub")
    done = run_pipeline(hub, DATASET, data, "f.csv", received_at=RECEIVED)
    assert done["status"] == "published"
    assert reads == []  # the reading begun while landing was used
    other = _hub(tmp_path, "other")
    steps.land(other, DATASET, data, "first.csv", RECEIVED)
    again = run_pipeline(other, DATASET, data, "second.csv", received_at=RECEIVED)
    assert again["status"] == "published"
    assert reads == ["first.csv"]
    assert other.library.golden_snapshot() == hub.library.golden_snapshot()


def test_an_unreadable_file_fails_its_run_with_the_readers_message(tmp_path: Path) -> None:
    """The reader's error, from the reading begun while landing, fails the landed run."""
    from schemas.readers import ReadError

    hub = _hub(tmp_path, "hub")
    with pytest.raises(ReadError) as raised:
        run_pipeline(hub, DATASET, b"\xff\xfe\x00garbage\x00\n", "bad.csv")
    (run,) = hub.library.list_runs()
    assert run["status"] == "failed" and run["message"] == str(raised.value)
