"""Liveness and readiness: what a load balancer reads, with the failing part named."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.routers import health
from hub.settings import Settings
from hub.wiring import api_app


@pytest.fixture(autouse=True)
def _fresh(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(health, "READY_TTL", 0.0)  # each request checks again


def test_live_and_ready_on_a_working_hub(settings: Settings) -> None:
    with TestClient(api_app(settings, background=False)) as client:
        assert client.get("/v1/health/live").json() == {"status": "ok"}
        assert client.get("/v1/health").json()["status"] == "ok"  # kept as it was
        r = client.get("/v1/health/ready")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ready" and body["failing"] == []
    assert body["database"]["ok"] and body["objects"]["ok"] and body["ledger"]["ok"]
    assert body["ledger"]["queue_depth"] >= 0 and body["ledger"]["queue_limit"] > 0
    assert body["anchor"] == {
        "ok": True,
        "detail": "",
        "checkpoints_waiting": 0,
        "oldest_seconds": 0.0,
    }


def test_unreachable_object_store_is_named_with_503(settings: Settings) -> None:
    from storage.objects import ObjectStoreUnavailableError

    app = api_app(settings, background=False)
    objects = app.state.hub.ingest.objects

    def down(key: str) -> bool:
        raise ObjectStoreUnavailableError("MinIO at 10.0.0.9:9000 is unreachable")

    with TestClient(app) as client:
        objects.exists = down  # type: ignore[method-assign]
        r = client.get("/v1/health/ready")
    assert r.status_code == 503
    body = r.json()
    assert body["status"] == "not-ready" and body["failing"] == ["objects"]
    assert body["objects"] == {"ok": False, "detail": "ObjectStoreUnavailableError"}
    assert "10.0.0.9" not in r.text  # no address of the infrastructure


def test_full_ledger_queue_takes_the_instance_out(settings: Settings) -> None:
    app = api_app(settings, background=False)
    with TestClient(app) as client:
        ledger = app.state.hub.ledger
        ledger.append(b"one")
        ledger.append(b"two")
        ledger.queue_limit = 2
        r = client.get("/v1/health/ready")
        assert r.status_code == 503
        assert r.json()["failing"] == ["ledger"]
        assert r.json()["ledger"]["queue_depth"] == 2
        ledger.sequence()  # the queue drains: ready again
        assert client.get("/v1/health/ready").status_code == 200


def test_unreachable_database_is_named(settings: Settings, monkeypatch: Any) -> None:
    app = api_app(settings, background=False)

    def broken(state: Any) -> Any:
        raise ConnectionRefusedError("connection to 10.0.0.8 refused")

    monkeypatch.setattr(health, "_database", broken)
    with TestClient(app) as client:
        r = client.get("/v1/health/ready")
    assert r.status_code == 503
    assert r.json()["failing"] == ["database"]
    assert "10.0.0.8" not in r.text


def test_health_is_in_the_openapi_document(settings: Settings) -> None:
    doc = api_app(settings, background=False).openapi()
    assert "get" in doc["paths"]["/v1/health/live"]
    ready = doc["paths"]["/v1/health/ready"]["get"]
    assert {"200", "503"} <= set(ready["responses"])
    assert "security" not in ready  # load balancers carry no key
