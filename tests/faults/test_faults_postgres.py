"""PostgreSQL crashes and restarts in the middle of a merge: the re-run ends in the right state.

A private PostgreSQL (never the shared one) is killed (``pg_ctl -m immediate``: no checkpoint,
WAL recovery on start) between the merge's two bulk writes, while its transaction holds the
run's uncommitted facts. The merge must fail with nothing of the run in the library, and the
re-run of the same file must end exactly where an uninterrupted ingest of the same files ends.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import DBAPIError

from hub.settings import Settings
from hub.synth import SynthResult
from hub.wiring import ingest_services
from pipeline import steps as ingest
from pipeline.refs import IngestError
from pipeline.run import run_pipeline
from pipeline.services import IngestServices
from tests.faults.conftest import DATASETS
from tests.faults.private_servers import PrivatePostgres

pytestmark = pytest.mark.services

RECEIVED = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


def _hub(home: Path, url: str) -> IngestServices:
    return ingest_services(Settings(home=home, database_url=url))


def _state(hub: IngestServices) -> dict[str, Any]:
    runs = [
        (r["dataset"], r["status"], r["rows_in"], r["rows_accepted"], r["rows_quarantined"])
        for r in hub.library.list_runs()
    ]
    return {
        "golden": hub.library.golden_snapshot(),
        "facts": hub.library.fact_count(),
        "runs": sorted(runs),
        "quarantine": sorted((q["dataset"], q["rows"]) for q in hub.library.list_quarantine()),
    }


def _ingest(hub: IngestServices, synth: SynthResult, dataset: str) -> dict[str, Any]:
    path = synth.files[dataset]
    return run_pipeline(
        hub, dataset, path.read_bytes(), path.name, received_at=RECEIVED, fail_on_breach=False
    )


def test_postgres_crash_during_merge_then_rerun(
    private_postgres: PrivatePostgres, synth: SynthResult, tmp_path: Path
) -> None:
    reference = _hub(tmp_path / "ref", private_postgres.create_database("reference"))
    for ds in DATASETS:
        _ingest(reference, synth, ds)
    expected = _state(reference)
    reference.library.engine.dispose()

    hub = _hub(tmp_path / "faulty", private_postgres.create_database("faulty"))
    first, update = DATASETS
    _ingest(hub, synth, first)
    before = _state(hub)

    # the update of known persons: land and check succeed, the merge is cut
    path = synth.files[update]
    ref = ingest.land(hub, update, path.read_bytes(), path.name, RECEIVED)
    ref = ingest.quarantine(hub, ingest.check(hub, ref), fail_on_breach=False)
    crashes: list[float] = []

    def crash() -> None:
        private_postgres.restart_crash()
        crashes.append(1)

    with pytest.raises(IngestError) as failed:
        ingest.merge(hub, ref, after_facts=crash)
    assert isinstance(failed.value.__cause__, DBAPIError)
    assert crashes, "the server was not restarted during the merge"

    # nothing of the cut merge reached the library; the run says why it stopped
    after = _state(hub)
    assert after["golden"] == before["golden"] and after["facts"] == before["facts"]
    run = hub.library.get_run(ref["run_id"])
    assert run["status"] == "failed"
    assert "merge step failed (OperationalError)" in run["message"]

    # the re-run (same hub: pooled connections to the old server must not break it)
    again = _ingest(hub, synth, update)
    assert again["status"] == "published" and again["run_id"] == ref["run_id"]
    assert again["rows_in"] == again["rows_accepted"] + again["rows_quarantined"]
    assert _state(hub) == expected

    # and running it once more changes nothing
    assert _ingest(hub, synth, update)["message"] == "already ingested: nothing changed"
    assert _state(hub) == expected


def test_postgres_down_before_merge_then_rerun_in_new_process(
    private_postgres: PrivatePostgres, synth: SynthResult, tmp_path: Path
) -> None:
    """The server is down when the merge starts (a retried task runs in a fresh process)."""
    reference = _hub(tmp_path / "ref", private_postgres.create_database("reference"))
    _ingest(reference, synth, DATASETS[0])
    expected = _state(reference)
    reference.library.engine.dispose()

    url = private_postgres.create_database("faulty")
    hub = _hub(tmp_path / "faulty", url)
    path = synth.files[DATASETS[0]]
    ref = ingest.land(hub, DATASETS[0], path.read_bytes(), path.name, RECEIVED)
    ref = ingest.quarantine(hub, ingest.check(hub, ref), fail_on_breach=False)
    private_postgres.stop("immediate")
    try:
        with pytest.raises(DBAPIError):
            ingest.merge(hub, ref)
    finally:
        private_postgres.start()
    retried = _hub(tmp_path / "faulty", url)  # the task's retry: a new process, a new engine
    ingest.merge(retried, ref)
    ingest.publish(retried, ref)
    assert _state(retried) == expected
