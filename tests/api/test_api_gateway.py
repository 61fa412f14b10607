"""The gateway in front of the routes: body limits enforced while the body streams in (the
declared length first), no caching of personal data, problem documents that never echo the path
with its ID number, and public licence look-ups limited per address and audited."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import select

from api.audit import audit_log
from api.gateway import DEFAULT_LIMIT, Gateway
from tests.api.conftest import PERSON, Api


def test_personal_data_is_not_cached_and_problems_name_the_route(api: Api) -> None:
    ok = api.http.get(f"/v1/persons/{PERSON}", headers=api.headers())
    assert ok.status_code == 200 and ok.headers["cache-control"] == "no-store"
    refused = api.http.get(f"/v1/persons/{PERSON}", headers=api.headers(api.ungranted))
    assert refused.status_code == 403 and refused.headers["cache-control"] == "no-store"
    assert refused.json()["instance"] == "/v1/persons/{id}"
    assert PERSON not in refused.text
    missing = api.http.get("/v1/persons/110105194912310048", headers=api.headers())
    assert missing.json()["instance"] == "/v1/persons/{id}"
    assert "110105194912310048" not in missing.text


def test_a_declared_length_over_the_limit_is_refused_before_reading(api: Api) -> None:
    body = b"{" + b" " * DEFAULT_LIMIT + b"}"
    r = api.http.post("/v1/verify/person", content=body, headers=api.headers())
    assert r.status_code == 413, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["type"].endswith("/too-large")


def test_a_streamed_body_is_cut_off_once_it_crosses_the_limit() -> None:
    """No Content-Length (chunked): the gateway stops the app reading at the limit, so nothing
    buffers more than it; the client gets 413."""
    chunk = b"x" * 65536
    pulled = 0

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        pulled += 1
        return {"type": "http.request", "body": chunk, "more_body": pulled < 10_000}

    async def reader(scope: Any, rcv: Any, snd: Any) -> None:  # an app that reads everything
        while (await rcv()).get("more_body"):
            pass

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/verify/person",
        "headers": [],
        "query_string": b"",
    }
    asyncio.run(Gateway(reader)(scope, receive, send))
    assert sent[0]["status"] == 413
    assert pulled == DEFAULT_LIMIT // len(chunk) + 1  # not one chunk more than needed


def test_public_lookups_are_limited_per_address_and_audited_without_a_citizen(
    api: Api,
) -> None:
    state = api.http.app.state.hub
    state.public_rate, state.public_burst = 0.01, 2.0
    url = "/verify?id=1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.U"
    codes = [api.http.get(url + f"&d=sha256:{i:064x}").status_code for i in range(6)]
    assert codes[:2] == [200, 200] and set(codes[2:]) == {429}
    licence = api.http.post("/v1/licences/verify", json={"qr": "id=x&d=y"})
    assert licence.status_code == 429 and licence.headers["cache-control"] == "no-store"
    assert api.http.get("/verify").status_code == 200  # the empty form looks nothing up
    audit = state.audit
    audit.flush()
    with audit.engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(select(audit_log))]
    assert [(r["route"], r["outcome"], r["status"]) for r in rows] == [
        ("/verify", "public", 200),
        ("/verify", "public", 200),
        ("/verify", "public-limited", 429),  # a flood is noted once, not per request
    ]
    assert {r["client_id"] for r in rows} == {"anon@testclient"}
    lid = url.split("id=")[1]
    assert rows[0]["subject_hash"] == audit.subject_hash(lid)  # the licence, not its holder


def test_identifiers_with_control_characters_are_refused_not_sent_to_the_database(
    api: Api,
) -> None:
    """Schemathesis on PostgreSQL found a NUL in a batch's ids answering 500 (PostgreSQL refuses
    NUL in text): identifiers are printable by their schema, so such a request is a 422."""
    h = api.headers()
    batch = api.http.post("/v1/batch/holders/licences", json={"ids": ["a\x00b"]}, headers=h)
    assert batch.status_code == 422, batch.text
    assert api.http.get("/v1/persons/1101%00", headers=h).status_code == 422
    claim = {"id": "\x00", "name": "x"}
    assert api.http.post("/v1/verify/person", json=claim, headers=h).status_code == 422
    assert api.http.get("/v1/runs/x%00", headers=h).status_code == 422


def test_a_malformed_multipart_licence_is_a_400_not_a_server_error(api: Api) -> None:
    b = "9cc651cd2c8d168349f50fede4c361ac"
    r = api.http.post(
        "/v1/licences/verify",
        content=f"--{b}\r\nFalse--{b}--\r\n".encode(),
        headers={"Content-Type": f"multipart/form-data; boundary={b}"},
    )
    assert r.status_code == 400 and r.json()["type"].endswith("/bad-multipart")
