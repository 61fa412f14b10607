"""MinIO dies in the middle of an ingest: the task retries, and completes once MinIO is back.

A private MinIO (never the shared one) is killed (SIGKILL) right after the check step has written
its first work object, and brought back a few seconds later on the same port and data. Each
pipeline step runs as an Airflow task would: an attempt in a fresh hub (a retried task is a new
process), retried after a delay when the object store is unreachable. The run must complete with
no lost and no duplicated rows: the same library, runs and quarantine as an uninterrupted ingest
of the same file on the embedded default, and exactly one copy of each object.
"""

from __future__ import annotations

import dataclasses
import io
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from hub.settings import Settings
from hub.synth import SynthResult
from hub.wiring import ingest_services
from pipeline import steps as ingest
from pipeline.refs import IngestError
from pipeline.run import run_pipeline
from pipeline.services import IngestServices
from storage.objects import ObjectStore, ObjectStoreError, landing_key, sha256_hex
from tests.faults.private_servers import PrivateMinio

pytestmark = pytest.mark.services

RECEIVED = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
DATASET = "ps_household"
DOWN_SECONDS = 8.0
# what an unreachable MinIO raises: the SDK's own retries exhausted, or our wrapped S3 errors
# what the DAG's tasks retry: the store's error, or the step's IngestError raised from it after
# marking the run failed (a retry that succeeds moves the run on)
TRANSIENT = (ObjectStoreError, IngestError)


class KillAfterFirstWorkObject:
    """The real MinIO store; kills the server right after the first ``work/`` object is stored.

    A fault injector around the shipped adapter (every call reaches the real server), so the
    failure hits in the middle of a step, between two of its writes.
    """

    def __init__(self, inner: ObjectStore, on_put: Callable[[], None]) -> None:
        self.inner = inner
        self.on_put = on_put
        self.fired = False

    def put(self, key: str, data: bytes) -> bool:
        written = self.inner.put(key, data)
        if key.startswith("work/") and not self.fired:
            self.fired = True
            self.on_put()
        return written

    def get(self, key: str) -> bytes:
        return self.inner.get(key)

    def exists(self, key: str) -> bool:
        return self.inner.exists(key)

    def list(self, prefix: str = "") -> list[str]:
        return self.inner.list(prefix)


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


def test_minio_killed_mid_ingest_task_retries_until_back(
    private_minio: PrivateMinio, synth: SynthResult, tmp_path: Path
) -> None:
    path = synth.files[DATASET]
    data = path.read_bytes()

    reference = ingest_services(Settings(home=tmp_path / "ref"))
    run_pipeline(reference, DATASET, data, path.name, received_at=RECEIVED, fail_on_breach=False)
    expected = _state(reference)

    settings = Settings(
        home=tmp_path / "hub",
        objects="minio",
        minio_endpoint=private_minio.endpoint,
        minio_access_key=private_minio.access_key,
        minio_secret_key=private_minio.secret_key,
        minio_secure=False,
    )
    outage: dict[str, float] = {}

    def bring_back() -> None:
        time.sleep(DOWN_SECONDS)
        private_minio.start()
        outage["back"] = time.monotonic()

    restarter = threading.Thread(target=bring_back, daemon=True)

    def kill_minio() -> None:
        private_minio.kill()
        outage["down"] = time.monotonic()
        restarter.start()

    failures: list[str] = []
    fresh = ingest_services(settings)
    first_hub = dataclasses.replace(
        fresh, objects=KillAfterFirstWorkObject(fresh.objects, kill_minio)
    )

    def task(step: Callable[[IngestServices], dict[str, Any]]) -> dict[str, Any]:
        """One Airflow task: up to 6 attempts, 2 s apart, each in a fresh hub."""
        for attempt in range(6):
            try:
                hub = first_hub if attempt == 0 and not outage else ingest_services(settings)
                return step(hub)
            except TRANSIENT as exc:
                failures.append(type(exc).__name__)
                time.sleep(2.0)
        raise AssertionError(f"task still failing after retries: {failures}")

    ref = task(lambda h: ingest.land(h, DATASET, data, path.name, RECEIVED))
    ref = task(lambda h: ingest.check(h, ref))
    ref = task(lambda h: ingest.quarantine(h, ref, fail_on_breach=False))
    ref = task(lambda h: ingest.merge(h, ref))
    ref = task(lambda h: ingest.measure_accuracy(h, ref, fail_on_breach=False))
    ref = task(lambda h: ingest.publish(h, ref))
    restarter.join(60)

    assert "down" in outage and "back" in outage, "MinIO was not killed and restarted"
    assert failures, "no task attempt failed: the outage did not hit the ingest"
    assert ref["status"] == "published"

    done = ingest_services(settings)
    assert _state(done) == expected  # nothing lost, nothing duplicated, same precedence

    # exactly one copy of each object, and the objects hold the right rows
    objects = done.objects.list()
    assert [k for k in objects if k.startswith("landing/")] == [
        landing_key(DATASET, sha256_hex(data))
    ]
    assert done.objects.get(landing_key(DATASET, sha256_hex(data))) == data
    run = done.library.get_run(ref["run_id"])
    checked = pa.ipc.open_file(pa.BufferReader(done.objects.get(ref["checked_key"]))).read_all()
    assert checked.num_rows == run["rows_in"]
    assert pc.sum(checked["_accepted"]).as_py() == run["rows_accepted"]
    (q_key,) = [k for k in objects if k.startswith("quarantine/")]
    quarantined = pq.read_table(io.BytesIO(done.objects.get(q_key)))
    assert quarantined.num_rows == run["rows_quarantined"] > 0
    assert run["rows_in"] == run["rows_accepted"] + run["rows_quarantined"]
