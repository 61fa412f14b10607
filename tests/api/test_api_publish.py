"""Uploads start the ingest through one function (api.publish.start_ingest): with a scheduler
configured that is Airflow, and a scheduler that does not answer leaves the file landed and
the client told to retry (503), never a run started behind its back in this process."""

from __future__ import annotations

import datetime as dt
import socket
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.publish import SchedulerUnavailable, start_ingest
from hub.settings import Settings
from tests.api.conftest import PURPOSE


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
    app = create_app(with_scheduler, background=False)
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
        start_ingest(with_scheduler, hub, "ps_household", data, "p.csv")
    assert [run["status"] for run in hub.library.list_runs("ps_household")] == ["landed"]
