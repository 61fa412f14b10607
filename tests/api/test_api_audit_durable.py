"""No answer before its audit row: the row is committed when the response arrives, and a failing
audit store gives 503 with no data."""

from __future__ import annotations

import datetime as dt
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import event, text

from hub.settings import Settings
from hub.wiring import api_app
from tests.api.conftest import PERSON, PERSON_NAME, PURPOSE, Api, seed_library

SLOW_COMMIT = 0.3  # s each audit insert is held back, so an early answer would be caught


@dataclass
class Server:
    url: str
    settings: Settings
    key: str
    app: Any
    inserts: list[int]  # rows per audit insert statement (one per committed batch)
    delay: list[float]  # seconds each audit insert is held back


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(settings: Settings) -> Iterator[Server]:
    """The app served by uvicorn on loopback, its audit inserts slowed down by SLOW_COMMIT."""
    import uvicorn

    seed_library(settings)
    app = api_app(settings, background=False)
    state = app.state.hub
    key = state.clients.add("approvals-a", "Approval system A", rate_limit=1000)
    until = dt.datetime.now(dt.UTC) + dt.timedelta(days=30)
    state.clients.grant("approvals-a", "population", PURPOSE, until, ["name", "sex"])

    inserts: list[int] = []
    delay = [SLOW_COMMIT]

    @event.listens_for(state.audit.engine, "before_cursor_execute")
    def _slow(_conn: Any, _cur: Any, statement: str, params: Any, *_args: Any) -> None:
        if statement.startswith("INSERT INTO api_audit "):
            inserts.append(len(params) if isinstance(params, list) else 1)
            time.sleep(delay[0])

    port = _free_port()
    uv = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not uv.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield Server(f"http://127.0.0.1:{port}", settings, key, app, inserts, delay)
    finally:
        uv.should_exit = True
        thread.join(timeout=30)


def _audit_rows(settings: Settings, subject_hash: str) -> list[tuple[Any, ...]]:
    """The committed audit rows of a subject, read through a separate connection."""
    con = sqlite3.connect(settings.sqlite_path)
    try:
        return con.execute(
            "SELECT client_id, purpose, route, fields, outcome, status FROM api_audit "
            "WHERE subject_hash = ? ORDER BY id",
            (subject_hash,),
        ).fetchall()
    finally:
        con.close()


def test_audit_row_is_committed_when_the_answer_arrives(server: Server) -> None:
    headers = {"Authorization": f"Bearer {server.key}", "X-Purpose": PURPOSE}
    subject_hash = server.app.state.hub.audit.subject_hash(PERSON)
    with httpx.Client(base_url=server.url, timeout=30) as http:
        r = http.get(f"/v1/persons/{PERSON}", headers=headers)
        assert r.status_code == 200 and r.json()["fields"]["name"]["value"] == PERSON_NAME
        # queried at once, no sleeping: the server answered only after the commit
        assert _audit_rows(server.settings, subject_hash) == [
            ("approvals-a", PURPOSE, "/v1/persons/{id}", "name,sex", "ok", 200)
        ]
        # a refusal is an access too: its row is committed before the 403 arrives
        refused = http.get(
            f"/v1/persons/{PERSON}", headers={**headers, "X-Purpose": "identity-verification"}
        )
        assert refused.status_code == 403
        assert _audit_rows(server.settings, subject_hash)[-1][4:] == ("denied", 403)

        # concurrent requests share commits (group commit) and every one still waits for its own
        def one(_: int) -> int:
            return http.get(f"/v1/persons/{PERSON}", headers=headers).status_code

        from concurrent.futures import ThreadPoolExecutor

        server.inserts.clear()
        with ThreadPoolExecutor(8) as pool:
            codes = list(pool.map(one, range(16)))
        assert codes == [200] * 16
        assert len(_audit_rows(server.settings, subject_hash)) == 2 + 16
        assert sum(server.inserts) == 16 and len(server.inserts) < 16  # batches of several rows


def test_a_long_lock_elsewhere_delays_the_answer_not_the_server(server: Server) -> None:
    """Another writer (an ingest merge, say) holds the database: the audited request waits for
    its row, the event loop does not, and the answer comes once the row is committed."""
    server.delay[0] = 0.0
    headers = {"Authorization": f"Bearer {server.key}", "X-Purpose": PURPOSE}
    subject_hash = server.app.state.hub.audit.subject_hash(PERSON)
    other = sqlite3.connect(server.settings.sqlite_path, isolation_level=None)
    answers: list[httpx.Response] = []
    with httpx.Client(base_url=server.url, timeout=30) as http:
        other.execute("BEGIN IMMEDIATE")  # the write lock, held
        try:
            asked = threading.Thread(
                target=lambda: answers.append(http.get(f"/v1/persons/{PERSON}", headers=headers))
            )
            asked.start()
            time.sleep(1.0)
            assert not answers  # no answer while its audit row cannot be written
            # the server itself answers (a loop stuck on the lock would answer only after it)
            assert http.get("/v1/health", timeout=5).status_code == 200
        finally:
            other.execute("COMMIT")
            other.close()
        asked.join(timeout=30)
    assert answers[0].status_code == 200
    assert [r[4:] for r in _audit_rows(server.settings, subject_hash)] == [("ok", 200)]


def _refuse_audit_inserts(api: Api) -> None:
    with api.http.app.state.hub.audit.engine.begin() as conn:
        conn.execute(
            text(
                "CREATE TRIGGER audit_refused BEFORE INSERT ON api_audit "
                "BEGIN SELECT RAISE(ABORT, 'audit store refuses writes'); END"
            )
        )


def test_failing_audit_store_answers_503_and_no_data(api: Api) -> None:
    _refuse_audit_inserts(api)
    r = api.http.get(f"/v1/persons/{PERSON}", headers=api.headers())
    assert r.status_code == 503
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["type"].endswith("audit-unavailable")
    assert PERSON_NAME not in r.text and "fields" not in r.json()
    verdict = api.http.post(
        "/v1/verify/person", json={"id": PERSON, "name": PERSON_NAME}, headers=api.headers()
    )
    assert verdict.status_code == 503 and "match" not in verdict.json()
    batch = api.http.post("/v1/batch/persons", json={"ids": [PERSON]}, headers=api.headers())
    assert batch.status_code == 503 and PERSON_NAME not in batch.text
    # refusals are withheld too: no answer of any kind goes out unaudited
    refused = api.http.get(f"/v1/persons/{PERSON}", headers=api.headers(api.ungranted))
    assert refused.status_code == 503
    assert api.http.get(f"/v1/persons/{PERSON}").status_code == 503
    # once the store accepts writes again, so does the API
    with api.http.app.state.hub.audit.engine.begin() as conn:
        conn.execute(text("DROP TRIGGER audit_refused"))
    r = api.http.get(f"/v1/persons/{PERSON}", headers=api.headers())
    assert r.status_code == 200 and r.json()["fields"]["name"]["value"] == PERSON_NAME


def test_openapi_documents_503_and_the_per_process_rate_limit(api: Api) -> None:
    doc = api.http.get("/openapi.json").json()
    assert "503" in doc["paths"]["/v1/persons/{id}"]["get"]["responses"]
    assert "one process" in doc["info"]["description"]
