"""Uploads start the ingest through one function (api.publish.start_ingest): with a scheduler
configured that is Airflow, and a scheduler that does not answer leaves the file landed and
the client told to retry (503), never a run started behind its back in this process."""

from __future__ import annotations

import datetime as dt
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.publish import SchedulerUnavailable, start_ingest
from hub.settings import Settings
from hub.wiring import api_app
from tests.api.conftest import PURPOSE, Api


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when the block ends: nothing listens


def test_unreachable_scheduler_answers_503_and_the_file_stays_landed(
    settings: Settings, tmp_path: Path
) -> None:
    from hub.synth import generate

    data = (
        generate(tmp_path / "synth", persons=10, entities=1, dirt=0.0)
        .files["ps_household"]
        .read_bytes()
    )
    with_scheduler = settings.model_copy(
        update={"airflow_api_url": f"http://127.0.0.1:{_closed_port()}"}
    )
    app = api_app(with_scheduler, background=False)
    store = app.state.hub.clients
    key = store.add("publisher-a", "Department system", rate_limit=1000)
    until = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    store.grant("publisher-a", "datasets", PURPOSE, until, ["ps_household"])
    headers = {"Authorization": f"Bearer {key}", "X-Purpose": PURPOSE}
    with TestClient(app, raise_server_exceptions=False) as http:
        r = http.post(
            "/v1/datasets/ps_household/uploads?filename=p.csv", content=data, headers=headers
        )
        assert r.status_code == 503, r.text
        assert r.json()["type"].endswith("scheduler-unavailable")
        runs = app.state.hub.library.list_runs("ps_household")
        assert [run["status"] for run in runs] == ["landed"]  # landed, not ingested in-process
    # the page's upload form calls the same function: same refusal, same landed run
    hub = app.state.hub.ingest
    with pytest.raises(SchedulerUnavailable, match="retry"):
        start_ingest(app.state.config.uploads, hub, "ps_household", data, "p.csv")
    assert [run["status"] for run in hub.library.list_runs("ps_household")] == ["landed"]


def _household(tmp_path: Path, persons: int = 20) -> bytes:
    from hub.synth import generate

    return (
        generate(tmp_path / "synth", persons=persons, entities=1, dirt=0.0)
        .files["ps_household"]
        .read_bytes()
    )


def _wait(http: TestClient, run_id: str, headers: dict[str, str]) -> dict[str, object]:
    import time

    for _ in range(600):
        got: dict[str, object] = http.get(f"/v1/runs/{run_id}", headers=headers).json()
        if got["status"] in ("published", "failed"):
            return got
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} did not end: {got}")


def test_uploads_are_parsed_in_a_limited_worker_never_in_the_server(
    api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Multipart (as `curl -F file=@…` sends it): the file part is what lands, under the
    part's file name; the pipeline runs in a worker process under resource limits."""
    from pipeline import steps as ingest
    from storage.objects import sha256_hex

    def not_here(*_: object, **__: object) -> None:
        raise AssertionError("the server process read an uploaded file")

    monkeypatch.setattr(ingest, "check", not_here)
    monkeypatch.setattr(ingest, "merge", not_here)
    data = _household(tmp_path)
    r = api.http.post(
        "/v1/datasets/ps_household/uploads",
        files={"file": ("household.csv", data, "text/csv")},
        headers=api.headers(),
    )
    assert r.status_code == 202, r.text
    assert r.json()["started_by"] == "worker"
    run = _wait(api.http, r.json()["run_id"], api.headers())
    assert run["status"] == "published", run
    assert run["rows_in"] == 20
    stored = api.http.app.state.hub.library.get_run(r.json()["run_id"])
    assert stored["sha256"] == sha256_hex(data)  # the file, not the multipart envelope
    assert stored["filename"] == "household.csv"
    # nothing is left spooled once the worker has landed it
    assert not list((api.settings.home / "uploads" / "incoming").iterdir())


def test_the_worker_runs_under_resource_limits(settings: Settings, tmp_path: Path) -> None:
    import resource

    from api import publish
    from hub.wiring import ingest_services, uploads_config

    hub = ingest_services(settings)
    uploads = uploads_config(settings)
    spooled = publish.incoming(uploads) / "x.upload"
    spooled.write_bytes(_household(tmp_path, 5))
    worker, ref = publish._spawn(uploads, "ps_household", spooled, "h.csv", land_only=True)
    worker.wait()
    assert ref["worker"]["memory"] == publish.WORKER_MEMORY
    assert ref["worker"]["cpu_seconds"] == publish.WORKER_CPU_SECONDS
    assert ref["worker"]["pid"] != __import__("os").getpid()
    assert resource.getrlimit(resource.RLIMIT_CPU)[0] != publish.WORKER_CPU_SECONDS
    assert hub.library.get_run(ref["run_id"])["status"] == "landed"


def test_a_worker_stopped_by_its_limits_leaves_the_run_failed_with_the_reason(
    settings: Settings, tmp_path: Path
) -> None:
    import signal

    from api import publish
    from hub.wiring import ingest_services
    from pipeline import steps as ingest

    hub = ingest_services(settings)
    ref = ingest.land(hub, "ps_household", _household(tmp_path, 5), "h.csv")
    publish.record_end(hub, ref["run_id"], -signal.SIGXCPU, "")
    run = hub.library.get_run(ref["run_id"])
    assert run["status"] == "failed"
    assert "SIGXCPU" in run["message"] and "CPU time" in run["message"]
    # a run the worker finished is left as it is
    publish.record_end(hub, ref["run_id"], -signal.SIGKILL, "")
    assert "SIGXCPU" in hub.library.get_run(ref["run_id"])["message"]


def test_an_upload_over_the_limit_is_refused_while_it_streams(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    from api.routers import datasets

    monkeypatch.setattr(datasets, "MAX_UPLOAD", 1000)

    def body() -> Iterator[bytes]:  # chunked: no Content-Length to refuse it up front
        for _ in range(100):
            yield b"x" * 600

    r = api.http.post("/v1/datasets/ps_household/uploads", content=body(), headers=api.headers())
    assert r.status_code == 413 and r.json()["type"].endswith("/too-large")
    assert not list((api.settings.home / "uploads" / "incoming").iterdir())
    assert api.http.app.state.hub.library.list_runs("ps_household") == []
