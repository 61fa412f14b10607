"""A scheduled incremental pull end to end through a department's edge worker (services tier).

``scripts/services.sh up edge`` starts the department's own PostgreSQL cluster, an Airflow Edge
worker bound to its queue (``dept_ps``) holding the department's credentials, the hub's API,
and installs the department's contract (``dept_residents``: its exchange table, every minute).
Rows inserted, updated and deleted in the department's table appear, change and disappear in
the hub's library after the next scheduled runs; the reading task ran on the edge worker and the
batch reached the hub through its API.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from servicekit import ENV_FILE, airflow_api, scheduler_settings, service_env
from sqlalchemy import Engine, create_engine, text

from hub.wiring import library_store
from schemas.resident_id import check_character

pytestmark = pytest.mark.services
DAG = "pull_dept_residents"


def _id(base: int, i: int) -> str:
    """A valid resident ID, different for each test run (``base``) and person (``i``)."""
    born = date(1950, 1, 1) + timedelta(days=base)
    body = f"340102{born:%Y%m%d}{i:03d}"
    return body + check_character(body)


def _table(dept: Engine) -> None:
    with dept.begin() as conn:
        conn.execute(
            text(
                "CREATE TABLE IF NOT EXISTS residents (id_number VARCHAR(18) PRIMARY KEY, "
                "name TEXT NOT NULL, mobile TEXT, seq BIGINT NOT NULL, "
                "is_deleted BOOLEAN NOT NULL DEFAULT FALSE)"
            )
        )


def _write(dept: Engine, rows: Iterable[tuple[str, str]], deleted: bool = False) -> None:
    """Insert or change rows as the department's application does: ``seq`` from a clock, so it
    grows across test runs as the hub's watermark does."""
    with dept.begin() as conn:
        for pid, name in rows:
            seq = time.time_ns() // 1000
            conn.execute(
                text(
                    "INSERT INTO residents (id_number, name, seq, is_deleted) "
                    "VALUES (:p, :n, :s, :d) ON CONFLICT (id_number) DO UPDATE "
                    "SET name = :n, seq = :s, is_deleted = :d"
                ),
                {"p": pid, "n": name, "s": seq, "d": deleted},
            )


def _wait(what: str, check: Any, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(3)


def test_scheduled_pull_through_the_edge_worker() -> None:
    edge = service_env(ENV_FILE.parent / "edge.env")
    settings = scheduler_settings()
    library = library_store(settings)
    dept = create_engine(edge["HUB_SERVICES_DEPT_DATABASE_URL"])
    _table(dept)
    base = secrets.randbelow(20000)
    people = [_id(base, i) for i in range(3)]

    with airflow_api(settings) as af:
        _wait("the pull DAG to be parsed", lambda: af.get(f"/api/v2/dags/{DAG}").status_code == 200)
        since = datetime.now(UTC)  # runs of earlier test sessions on this Airflow do not count
        r = af.patch(f"/api/v2/dags/{DAG}", json={"is_paused": False})
        assert r.status_code == 200, r.text
        try:
            _scheduled_pulls(af, dept, library, people, edge["HUB_SERVICES_EDGE_QUEUE"], since)
        finally:  # every minute is for this test only
            af.patch(f"/api/v2/dags/{DAG}", json={"is_paused": True})
    dept.dispose()


def _scheduled_pulls(
    af: Any, dept: Engine, library: Any, people: list[str], queue: str, since: datetime
) -> None:
    def names() -> dict[str, str]:
        return dict(library.field_values("population", "name", people))

    _write(dept, [(people[0], "甲"), (people[1], "乙"), (people[2], "丙")])
    _wait("the rows to appear", lambda: len(names()) == 3)
    assert names() == {people[0]: "甲", people[1]: "乙", people[2]: "丙"}

    _write(dept, [(people[1], "乙改")])
    _write(dept, [(people[2], "丙")], deleted=True)
    _wait("the change and the deletion", lambda: names() == {people[0]: "甲", people[1]: "乙改"})
    assert not library.person_exists(people[2])
    record = library.person(people[1])
    assert record is not None and [f.value for f in record.history["name"]] == ["乙", "乙改"]

    # the reading ran on the department's edge worker; the hub's steps at the hub
    runs = af.get(f"/api/v2/dags/{DAG}/dagRuns", params={"order_by": "-start_date"}).json()
    seen: dict[str, set[str]] = {}
    for run in runs["dag_runs"]:
        if run["state"] != "success" or datetime.fromisoformat(run["start_date"]) < since:
            continue
        tis = af.get(f"/api/v2/dags/{DAG}/dagRuns/{run['dag_run_id']}/taskInstances").json()
        for ti in tis["task_instances"]:
            seen.setdefault(ti["task_id"], set()).add(f"{ti['queue']}@{ti['hostname']}")
    assert seen["extract"] == {f"{queue}@dept-edge"}
    hub = service_env(ENV_FILE.parent / "airflow.env").get("AIRFLOW__OPERATORS__DEFAULT_QUEUE")
    assert all(q.startswith(f"{hub or 'default'}@") for q in seen["ingest"] | seen["settle"])
