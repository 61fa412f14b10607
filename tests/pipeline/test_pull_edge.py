"""The pull split between a department's edge worker and the hub: the worker reads its own
database and sends the batch through the hub's API; the hub lands, checks and merges it."""

from __future__ import annotations

import datetime as dt
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine

import schemas.contracts
from hub.settings import Settings
from hub.wiring import api_app, ingest_services
from pipeline.pull.connections import from_environment
from pipeline.pull.edge import PURPOSE, BatchRefused, HubApi, extract
from pipeline.pull.run import settle
from tests.pipeline.pullkit import DATASET, create_table, delete, person_id, upsert, write_contracts

SOURCE = (
    "kind: sql\nconnection: dept_db\ntable: residents\nwatermark: seq\ndeleted: is_deleted\n"
    "queue: dept_ps\n"
)


@pytest.fixture
def hub_url(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, str, str]]:
    """The hub's API on a loopback port; a department client granted the dataset, and one not."""
    import uvicorn

    monkeypatch.setattr(
        schemas.contracts, "CONTRACTS_DIR", write_contracts(tmp_path / "contracts", SOURCE)
    )
    app = api_app(settings, background=False)
    clients = app.state.hub.clients
    until = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    key = clients.add("dept-ps-edge", "公安 edge worker", rate_limit=1000)
    clients.grant("dept-ps-edge", "datasets", PURPOSE, until, [DATASET])
    other = clients.add("dept-other", "another department", rate_limit=1000)
    clients.grant("dept-other", "datasets", PURPOSE, until, ["other_names"])
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", key, other
    server.should_exit = True
    thread.join(10)


def test_edge_worker_reads_the_department_and_lands_through_the_api(
    settings: Settings, tmp_path: Path, hub_url: tuple[str, str, str]
) -> None:
    base, key, other = hub_url
    url = f"sqlite:///{tmp_path / 'dept.sqlite'}"
    engine = create_engine(url)
    create_table(engine)
    dept = from_environment({"AIRFLOW_CONN_DEPT_DB": url})  # only the worker holds this
    hub = ingest_services(settings)
    contract = hub.contract(DATASET)
    api = HubApi(base, key)

    upsert(engine, [(1, "甲"), (2, "乙"), (3, "丙")])
    sent = extract(contract, dept, api)
    assert sent["run_id"] and sent["position"] == "int:3"
    assert hub.library.field_values("population", "name") == {}  # landed, not merged yet
    assert api.position(DATASET) is None
    # the department changes more before the hub has finished: a second batch must wait
    upsert(engine, [(2, "乙改")])
    with pytest.raises(BatchRefused) as info:
        extract(contract, dept, api)
    assert info.value.status == 409 and info.value.code == "batch-unfinished"
    (done,) = settle(hub, DATASET)
    assert done["status"] == "published" and done["rows_in"] == 3
    assert api.position(DATASET) == "int:3"

    delete(engine, [3])
    again = extract(contract, dept, api)
    settle(hub, DATASET)
    assert again["position"] == "int:5"
    assert hub.library.field_values("population", "name") == {
        person_id(1): "甲",
        person_id(2): "乙改",
    }
    assert extract(contract, dept, api)["run_id"] is None  # nothing changed

    # a client granted another dataset cannot read the position or send a batch
    with pytest.raises(BatchRefused) as refused:
        HubApi(base, other).position(DATASET)
    assert refused.value.status == 403


def test_stale_or_malformed_batches_are_refused(
    settings: Settings, hub_url: tuple[str, str, str]
) -> None:
    base, key, _ = hub_url
    api = HubApi(base, key)
    data = f"id_number,name,mobile\n{person_id(1)},甲,\n".encode()
    with pytest.raises(BatchRefused) as stale:
        api.send(DATASET, "int:7", "int:9", data, "x.csv", [])
    assert stale.value.status == 409 and stale.value.code == "stale-position"
    with pytest.raises(BatchRefused) as empty:
        api.send(DATASET, None, "int:9", None, "x.csv", [])
    assert empty.value.status == 400
    with pytest.raises(BatchRefused) as unknown:
        api.send("no_such", None, "int:9", data, "x.csv", [])
    assert unknown.value.status in (403, 404)
    hub = ingest_services(settings)
    assert hub.library.list_runs() == []  # nothing landed


def test_a_landed_batch_that_breaches_fails_each_time(settings: Settings, tmp_path: Path) -> None:
    from pipeline.pull.edge import accept
    from pipeline.pull.run import finish_landed

    folder = write_contracts(tmp_path / "strict", SOURCE)
    text_ = (folder / "dept.yaml").read_text(encoding="utf-8")
    text_ = text_.replace(
        "cadence_days: 1\n", "cadence_days: 1\nthresholds: {conformity: 0.9}\non_breach: fail\n"
    )
    (folder / "dept.yaml").write_text(text_, encoding="utf-8")
    hub = ingest_services(settings, folder)
    data = f"id_number,name,mobile\n{person_id(1)},甲,\n340102196101010011,错,\n".encode()
    ref = accept(hub, DATASET, None, "int:2", data, [])
    for _ in range(2):  # the worker sends the same batch again: the same run, failing again
        again = accept(hub, DATASET, None, "int:2", data, [])
        assert again["run_id"] == ref["run_id"]
        with pytest.raises(Exception, match="conformity"):
            finish_landed(hub, DATASET, ref["run_id"])
    assert hub.library.pull_position(DATASET) is None
