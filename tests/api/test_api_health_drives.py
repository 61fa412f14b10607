"""Readiness over an erasure-coded object store: drives lost are reported, not hidden, and a
store that still answers keeps the instance in the load balancer."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.routers import health
from hub.settings import Settings
from hub.wiring import api_app
from storage.objects import DriveHealth, LocalObjectStore, drive_health, erasure_quorums


def _info(states: list[str], parity: int = 2, per_set: int = 4, **extra: Any) -> dict[str, Any]:
    """An admin info answer of one server whose drives have ``states`` (sets of ``per_set``)."""
    drives = [
        {
            "path": f"/srv/drive{i + 1}",
            "state": state.removesuffix("+healing"),
            "healing": state.endswith("+healing"),
            "pool_index": 0,
            "set_index": i // per_set,
        }
        for i, state in enumerate(states)
    ]
    return {
        "backend": {"backendType": "Erasure", "standardSCParity": parity},
        "servers": [{"endpoint": "127.0.0.1:9000", "drives": drives}],
        **extra,
    }


def test_quorums_of_erasure_sets() -> None:
    assert erasure_quorums(4, 2) == (2, 3)  # data == parity: writes need one more
    assert erasure_quorums(6, 2) == (4, 4)
    assert erasure_quorums(8, 4) == (4, 5)
    assert erasure_quorums(1, 0) == (1, 1)  # a single drive


@pytest.mark.parametrize(
    ("states", "expected"),
    [
        (["ok"] * 4, DriveHealth(drives=4, offline=0, healing=0, writable=True)),
        (["ok", "offline", "ok", "ok"], DriveHealth(4, 1, 0, True)),
        (["ok", "offline", "offline", "ok"], DriveHealth(4, 2, 0, False)),
        # a new, empty drive before the server formats it serves nothing yet
        (["ok", "unformatted", "ok", "ok"], DriveHealth(4, 1, 0, True)),
        (["ok", "ok+healing", "ok", "ok"], DriveHealth(4, 0, 1, True)),
    ],
)
def test_drive_health_of_four_drives_with_two_parity(
    states: list[str], expected: DriveHealth
) -> None:
    assert drive_health(_info(states)) == expected


def test_each_erasure_set_needs_its_own_write_quorum() -> None:
    # six of eight drives serve, but both lost drives are in the first set of four
    report = drive_health(_info(["offline", "offline", "ok", "ok"] + ["ok"] * 4))
    assert report.offline == 2 and not report.writable


def test_no_drives_reported_is_not_writable() -> None:
    assert drive_health({"servers": []}) == DriveHealth(0, 0, 0, False)


@pytest.fixture
def reporting(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Any:
    """An app whose object store reports drives like an erasure-coded MinIO."""
    monkeypatch.setattr(health, "READY_TTL", 0.0)
    monkeypatch.setattr(health, "MinioObjectStore", LocalObjectStore)
    app = api_app(settings, background=False)

    def with_drives(report: DriveHealth | None) -> Any:
        app.state.hub.ingest.objects.drive_health = lambda: report
        return TestClient(app)

    return with_drives


def test_lost_drive_is_reported_degraded_and_ready(reporting: Any) -> None:
    with reporting(DriveHealth(drives=4, offline=1, healing=0, writable=True)) as client:
        r = client.get("/v1/health/ready")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "degraded" and body["failing"] == []  # HTTP 200: it serves
    assert body["degraded"] == ["objects"]
    assert body["objects"] == {
        "ok": True,
        "detail": "degraded: 1 of 4 drives offline; reads and writes go on",
    }


def test_healing_drive_is_reported(reporting: Any) -> None:
    with reporting(DriveHealth(drives=4, offline=0, healing=1, writable=True)) as client:
        body = client.get("/v1/health/ready").json()
    assert body["degraded"] == ["objects"]
    assert (
        body["objects"]["detail"]
        == "degraded: 0 of 4 drives offline, 1 healing; reads and writes go on"
    )


def test_lost_write_quorum_is_reported_without_taking_the_instance_out(reporting: Any) -> None:
    with reporting(DriveHealth(drives=4, offline=2, healing=0, writable=False)) as client:
        r = client.get("/v1/health/ready")
    assert r.status_code == 200  # the store is shared: no other instance would do better
    assert r.json()["degraded"] == ["objects"]
    assert r.json()["objects"]["detail"] == (
        "degraded: 2 of 4 drives offline; no write quorum, writes refused"
    )


@pytest.mark.parametrize(
    "report", [None, DriveHealth(drives=4, offline=0, healing=0, writable=True)]
)
def test_healthy_or_unknown_drives_add_nothing(reporting: Any, report: DriveHealth | None) -> None:
    with reporting(report) as client:
        body = client.get("/v1/health/ready").json()
    assert body["degraded"] == [] and body["objects"] == {"ok": True, "detail": ""}
