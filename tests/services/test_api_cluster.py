"""The API tier as a cluster: the rate limit shared between instances on PostgreSQL, and (with
``scripts/services.sh up api``) two ``hub serve`` instances behind HAProxy surviving a kill -9."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from servicekit import api_cluster, libpq_url, service_env, services_settings

from hub.settings import PROJECT_ROOT

pytestmark = pytest.mark.services


def test_two_limiters_on_one_database_share_each_clients_bucket(tmp_path: Path) -> None:
    """Two API processes each hold a SharedRateLimiter on the hub's database: a client gets
    its burst (twice its rate) once in all, not once per instance; another client is not
    held by it."""
    from sqlalchemy import create_engine

    from api.ratelimit import SharedRateLimiter

    url = services_settings(tmp_path).db_url
    one, two = SharedRateLimiter(create_engine(url)), SharedRateLimiter(create_engine(url))
    try:
        rate = 0.01  # refills one token in 100 s: nothing comes back during the test
        client = f"cluster-{tmp_path.name}"
        admitted = [(one if i % 2 else two).take(client, rate, burst=4.0) == 0.0 for i in range(10)]
        assert admitted == [True] * 4 + [False] * 6
        assert one.waiting(client, rate, burst=4.0) > 50  # the wait is the bucket's, shared
        assert two.take(f"other-{tmp_path.name}", rate, burst=4.0) == 0.0
        # a batch may leave the bucket in debt, which every instance then sees
        debtor = f"batch-{tmp_path.name}"
        assert one.take(debtor, rate, cost=10, burst=4.0) == 0.0
        assert two.take(debtor, rate, burst=4.0) > 500
    finally:
        one.close()
        two.close()


PURPOSE = "identity-verification"
CLAIM = json.dumps({"id": "11010519491231002X", "name": "张三"}).encode()


def _client(db_url: str, label: str, rate: float) -> tuple[str, dict[str, str]]:
    """A client allowed POST /v1/verify/person at ``rate``/s in the cluster's hub; its id and
    request headers."""
    from sqlalchemy import create_engine

    from api.clients import ClientStore

    engine = create_engine(db_url)
    try:
        store = ClientStore(engine)
        cid = f"{label}-{time.time_ns()}"
        key = store.add(cid, f"cluster test ({label})", rate_limit=rate)
        store.grant(cid, "verify-person", PURPOSE, datetime.now(UTC) + timedelta(days=1), ["*"])
    finally:
        engine.dispose()
    return cid, {
        "Authorization": f"Bearer {key}",
        "X-Purpose": PURPOSE,
        "Content-Type": "application/json",
    }


def _post(conn: http.client.HTTPConnection, headers: dict[str, str]) -> tuple[int, str]:
    conn.request("POST", "/v1/verify/person", body=CLAIM, headers=headers)
    r = conn.getresponse()
    r.read()
    return r.status, r.getheader("X-Hub-Instance") or ""


def _gone(port: int) -> float:
    """The moment the killed instance's port refuses connections: its sockets are closed (the
    process may still be exiting, its threads one by one), so nothing reaches it after this."""
    import socket

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except ConnectionRefusedError:
            break
        except OSError:
            pass
        time.sleep(0.001)
    return time.monotonic()


@pytest.fixture
def cluster() -> Iterator[tuple[str, str]]:
    """HAProxy's host:port and the hub database URL; every instance is brought back after."""
    url, script_env = api_cluster()
    yield urlsplit(url).netloc, service_env()["HUB_DATABASE_URL"]
    up = subprocess.run(
        ["bash", str(PROJECT_ROOT / "scripts" / "services.sh"), "up", "api"],
        env=script_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert up.returncode == 0, up.stdout + up.stderr


def test_rate_limit_holds_whichever_instance_answers(cluster: tuple[str, str]) -> None:
    """A client with a bucket of one request gets that one request from the whole cluster:
    every later one is 429, answered by each instance in turn."""
    front, db_url = cluster
    _, headers = _client(db_url, "slow", rate=0.01)  # burst 1, refills in 100 s
    host, port = front.rsplit(":", 1)
    answers = []
    for _ in range(10):
        conn = http.client.HTTPConnection(host, int(port), timeout=10)  # a new one each time
        try:
            answers.append(_post(conn, headers))
        finally:
            conn.close()
    statuses = [s for s, _ in answers]
    assert statuses.count(200) == 1 and statuses.count(429) == 9, statuses
    assert {who for s, who in answers if s == 429} == {"api1", "api2"}, answers


def test_kill_one_instance_under_load(cluster: tuple[str, str]) -> None:
    """Load through HAProxy from several connections; kill -9 one instance mid-way. The only
    requests that fail are those in flight on it at the kill: unanswered when the kill was
    sent, and sent before its port closed (a killed process takes some milliseconds to close
    its sockets, its threads exiting one by one; what reaches it meanwhile is lost with it).
    Every 200 the client got has its audit row."""
    front, db_url = cluster
    host, port = front.rsplit(":", 1)
    cid, headers = _client(db_url, "load", rate=100_000)
    pid = int((PROJECT_ROOT / "var" / "services" / "run" / "api1.pid").read_text())
    port_of_1 = int(port) + 1  # scripts/services/api.sh: instance N on the front's port + N
    threads, stop = 6, threading.Event()
    results: list[tuple[float, float, int | str, str]] = []  # start, end, status, instance
    lock = threading.Lock()

    def load() -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        mine = []
        while not stop.is_set():
            t0 = time.monotonic()
            try:
                status, who = _post(conn, headers)
            except (OSError, http.client.HTTPException) as exc:
                status, who = type(exc).__name__, ""
                conn.close()
                conn = http.client.HTTPConnection(host, int(port), timeout=30)
            mine.append((t0, time.monotonic(), status, who))
        conn.close()
        with lock:
            results.extend(mine)

    workers = [threading.Thread(target=load) for _ in range(threads)]
    begun = time.monotonic()
    for w in workers:
        w.start()
    time.sleep(3)
    killed = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    dead = _gone(port_of_1)
    time.sleep(4)
    stop.set()
    for w in workers:
        w.join(60)
    took = time.monotonic() - begun

    failed = [r for r in results if r[2] != 200]
    # in flight at the kill: sent before the instance was gone, unanswered when it was killed
    in_flight = [r for r in failed if r[0] <= dead and r[1] >= killed]
    print(
        f"{len(results)} requests in {took:.1f} s ({len(results) / took:.0f}/s), "
        f"kill took {1000 * (dead - killed):.0f} ms, {len(failed)} failed: "
        f"{[(round(1000 * (a - killed)), round(1000 * (b - killed)), s) for a, b, s, _ in failed]}"
    )
    assert failed == in_flight, failed  # nothing sent after the instance was gone failed
    served = {r[3] for r in results if r[2] == 200}
    assert served == {"api1", "api2"}  # both answered before the kill
    assert {r[3] for r in results if r[2] == 200 and r[0] > dead} == {"api2"}

    ok = sum(1 for r in results if r[2] == 200)
    import psycopg

    with psycopg.connect(libpq_url(db_url)) as conn:
        audited = conn.execute(
            "SELECT count(*) FROM api_audit WHERE client_id = %s AND status = 200", (cid,)
        ).fetchone()
    assert audited is not None
    # every answered 200 has its row; a killed request may have its row without its answer
    assert ok <= audited[0] <= ok + len(in_flight)


def test_digest_waits_for_another_instances_audit_batch(tmp_path: Path) -> None:
    """Two API instances write the audit of one PostgreSQL database: one has a batch in flight
    (its ids drawn, not yet committed) when the other commits a row and digests. The digest
    must wait for that batch, or it covers the later id without the earlier one and `hub audit
    verify` reports the earlier row as covered by no digest (a false alarm of tampering)."""
    from api.audit_verify import verify
    from hub.wiring import api_app

    settings = services_settings(tmp_path)
    one = api_app(settings, background=False).state.hub
    two = api_app(settings, background=False).state.hub
    one.audit.digest()  # whatever an earlier test left is covered first
    row = ("cluster-test", PURPOSE, "POST", "/v1/verify/person", None, (), "no-match", 200)
    in_flight = one.audit.engine.connect()
    one.audit._insert(in_flight, [one.audit.row(*row)])  # instance one, mid-commit
    two.audit.submit([two.audit.row(*row)])
    two.audit.flush()
    digested: list[object] = []
    digesting = threading.Thread(target=lambda: digested.append(two.audit.digest()))
    digesting.start()
    time.sleep(0.5)  # let the digest run into the batch in flight
    in_flight.commit()
    in_flight.close()
    digesting.join(30)
    one.audit.digest()
    one.ledger.sequence()
    report = verify(one.audit.engine, one.ledger)
    assert report.ok, report.problems
    assert report.rows_pending == 0
