"""The app skeleton: it starts from settings, answers health, and every error is RFC 9457."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.app import create_app
from hub.settings import Settings


def test_unknown_path_is_a_problem_document(settings: Settings) -> None:
    with TestClient(create_app(settings, background=False)) as client:
        assert client.get("/v1/health").json()["status"] == "ok"
        r = client.get("/v1/no-such-thing")
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["status"] == 404 and body["type"].endswith("/not-found")
    # no route matched: a request id, never the path (paths carry ID numbers)
    assert body["instance"].startswith("urn:uuid:")
