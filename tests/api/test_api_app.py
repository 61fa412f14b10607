"""The app skeleton: it starts from settings, answers health, and every error is RFC 9457."""

from __future__ import annotations

from fastapi.testclient import TestClient

from hub.settings import Settings
from hub.wiring import api_app


def test_unknown_path_is_a_problem_document(settings: Settings) -> None:
    with TestClient(api_app(settings, background=False)) as client:
        assert client.get("/v1/health").json()["status"] == "ok"
        r = client.get("/v1/no-such-thing")
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["status"] == 404 and body["type"].endswith("/not-found")
    # no route matched: a request id, never the path (paths carry ID numbers)
    assert body["instance"].startswith("urn:uuid:")


def test_every_gated_operation_documents_what_the_gate_answers(settings: Settings) -> None:
    """Schemathesis found `GET /v1/runs/{id}` answering an undocumented 400 (no or unknown
    purpose): the gate's answers are documented on every operation behind it, and the purpose
    header lists the registered codes."""
    from api.purposes import registry

    app = api_app(settings, background=False)
    doc = app.openapi()
    gated = [
        (path, method, op)
        for path, ops in doc["paths"].items()
        for method, op in ops.items()
        if op.get("security")
    ]
    assert ("/v1/runs/{id}", "get") in {(p, m) for p, m, _ in gated}
    for path, method, op in gated:
        assert {"400", "401", "403", "429", "503"} <= set(op["responses"]), (path, method)
        (purpose,) = [p for p in op["parameters"] if p["name"] == "X-Purpose"]
        assert purpose["schema"]["enum"] == registry().codes()
