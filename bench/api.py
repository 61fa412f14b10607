"""Benchmark: ``GET /v1/persons/{id}`` with auth, grants and audit, against a bare floor.

A library of N persons (1,000,000 full, 20,000 with ``--quick``) is merged as one run (the
library's own bulk merge) and kept under ``.cache/bench/`` for later runs. A uvicorn server (one
process, uvloop + httptools, loopback) serves the real app — API key lookup, grant check, field
filtering, per-client rate limit, one audit row per request committed before its answer is sent
(group commit), the periodic audit digest and ledger sequencer — plus, for this benchmark only,
two floors reading the same golden row with no auth, grants or audit: ``GET /bare/persons/{id}``,
an ordinary FastAPI route (the floor of issue 10, the ``ratio``), and ``GET
/direct/persons/{id}``, a plain Starlette route, answered without FastAPI's dependency solving
like the gated record reads (:class:`api.gated.GatedOperation`), so ours over it (the figure
``ours_over_direct``) is what the gate and the durable audit cost. A separate load-generator
process (raw asyncio sockets, HTTP/1.1 keep-alive, C connections) requests random known IDs for
D seconds per endpoint (30 s, 5 s with ``--quick``) and reports requests/s, p50/p99 latency and
the server's CPU time per request for all three in the same run.

Then presentations (亮证码, issue 27): a holder app makes codes for one citizen's licence
(``POST /v1/presentations`` with a fresh ES256 assertion each) for D seconds, and an approval
system redeems every code it made (``POST /v1/presentations/{code}/redeem``: the disclosed
licence, its receipt and the online verdict), each with C connections: requests/s and p50/p99.
Then forms (零填报, issue 28): an approval system prefills the 高龄津贴 form
(``POST /v1/forms/elderly-allowance/prefill``, grants of the form, population and licences) for
random known persons for D seconds with C connections: requests/s and p50/p99 (target p99 <
50 ms at 16 connections).
Usage: ``python -m bench.api [--quick] [--persons N] [--seconds D] [--connections C]``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
import typing
from pathlib import Path

from fastapi import FastAPI, Request, Response

from bench import _http as httpkit
from bench._common import report

PASSPHRASE = "bench-api"
PURPOSE = "system-testing"  # a registered purpose (api/purposes.yaml)
CLIENT = "bench-client"
GRANTED = ("name", "sex", "birth_date")  # of the 4 fields loaded; mobile is not granted


# ---- data ---------------------------------------------------------------------------------


def load(home: Path, n: int) -> list[str]:
    """Create (once) a hub home with ``n`` persons in the library; returns their IDs."""
    import datetime as dt
    from collections.abc import Iterator
    from typing import Any

    from hub.settings import Settings
    from storage.library import POPULATION, LibraryStore, engine_for

    ids_file = home / "ids.txt"
    if ids_file.exists():
        return ids_file.read_text().split()
    settings = Settings(home=home, key_passphrase=PASSPHRASE)
    settings.ensure_dirs()
    ids = httpkit.ids(n)
    rng = random.Random(1)
    surnames = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
    given = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英"
    t = time.perf_counter()
    store = LibraryStore(engine_for(settings.db_url))

    def chunks(size: int = 50_000) -> Iterator[tuple[list[str | None], dict[str, list[Any]]]]:
        for lo in range(0, len(ids), size):
            part: list[str | None] = list(ids[lo : lo + size])
            yield (
                part,
                {
                    "birth_date": [f"{i[6:10]}-{i[10:12]}-{i[12:14]}" for i in ids[lo : lo + size]],
                    "mobile": [f"13{rng.randint(0, 999999999):09d}" for _ in part],
                    "name": [
                        rng.choice(surnames) + rng.choice(given) + rng.choice(given) for _ in part
                    ],
                    "sex": ["1" if int(i[16]) % 2 else "2" for i in ids[lo : lo + size]],
                },
            )

    store.merge_chunks(
        POPULATION,
        "bench-1",
        "ps_household",
        dt.datetime(2026, 1, 10, 8, tzinfo=dt.UTC),
        chunks(),
        ["name", "birth_date", "sex", "mobile"],
    )
    print(f"loaded {n:,} persons ({4 * n:,} golden fields) in {time.perf_counter() - t:.1f} s")
    ids_file.write_text("\n".join(ids))
    return ids


def setup_client(home: Path, suffix: str = "") -> str:
    """A fresh client with a population grant (3 of the 4 fields) and no practical rate limit."""
    import datetime as dt

    from api.clients import ClientStore
    from storage.library import engine_for

    store = ClientStore(engine_for(f"sqlite:///{home / 'hub.db'}"))
    cid = f"{CLIENT}-{os.getpid()}{suffix}"
    key = store.add(cid, "benchmark client", rate_limit=1e9)
    until = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    store.grant(cid, "population", PURPOSE, until, list(GRANTED))
    return key


# ---- server -------------------------------------------------------------------------------


def serve(home: Path, port: int) -> None:
    import uvicorn

    from api.problems import Problem
    from api.records import normalise_subject, record_response
    from hub.settings import Settings
    from hub.wiring import api_app
    from storage.library import POPULATION

    settings = Settings(home=home, key_passphrase=PASSPHRASE, audit_interval=10.0)
    app: FastAPI = api_app(settings, background=True)

    shown = frozenset(GRANTED).__contains__

    @app.get("/bare/persons/{id}", include_in_schema=False)
    async def bare(id: str, request: Request) -> Response:
        state = request.app.state.hub
        found = record_response(state, POPULATION, normalise_subject(POPULATION, id), None, shown)
        if found is None:
            raise Problem(404, "not-found", "no such person")
        return Response(found[0], media_type="application/json")

    async def direct(request: Request) -> Response:
        # the same read as `bare`, as a plain Starlette route: no FastAPI dependency solving,
        # like the gated operations (api.gated.GatedOperation), so ours-over-this isolates what
        # auth, grants, rate limit and the durable audit cost
        state = request.app.state.hub
        subject = normalise_subject(POPULATION, request.path_params["id"])
        found = record_response(state, POPULATION, subject, None, shown)
        if found is None:
            raise Problem(404, "not-found", "no such person")
        return Response(found[0], media_type="application/json")

    app.add_route("/direct/persons/{id}", direct, include_in_schema=False)

    from hub.commands.serve import settle_heap

    settle_heap()  # as `hub serve` does
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
    )
    (home / "audit-stats.json").write_text(json.dumps(app.state.hub.audit.stats()))


# ---- load generator -----------------------------------------------------------------------


def _load(
    port: int, prefix: str, ids: list[str], key: str, seconds: float, conns: int
) -> typing.Coroutine[typing.Any, typing.Any, dict[str, typing.Any]]:
    headers = f"Authorization: Bearer {key}\r\nX-Purpose: {PURPOSE}\r\n".encode()
    paths = [f"{prefix}{i}".encode() for i in ids]

    def request_of(rng: random.Random) -> bytes:
        return httpkit.get_request(paths[rng.randrange(len(paths))], headers)

    return httpkit.load(port, request_of, seconds, conns)


def loadgen(port: int, prefix: str, home: Path, key: str, seconds: float, conns: int) -> None:
    import uvloop

    ids = (home / "ids.txt").read_text().split()
    result = uvloop.run(_load(port, prefix, ids, key, seconds, conns))
    print(json.dumps({**result, "non_200": httpkit.answered_other_than(result)}))


# ---- presentations ------------------------------------------------------------------------
APP = "bench-holder-app"
REDEEMER = "bench-redeemer"
PREFILLER = "bench-prefill"
APP_PURPOSE = "holder-service"


def _app_key() -> typing.Any:
    """The benchmark holder app's signing key: derived from a constant in each process (a
    throwaway key of this benchmark, never written anywhere)."""
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.derive_private_key(0xBE7C4A11, ec.SECP256R1())


def setup_presentations(home: Path) -> dict[str, str]:
    """A qualification certificate for the first person of the library (issued once and
    anchored), the holder app's key registered, and fresh keys of the app (holder-app grant)
    and of a redeemer (presentations grant)."""
    import datetime as dt

    from cryptography.hazmat.primitives import serialization

    from api.clients import ClientStore
    from holder.assertions import HolderApps
    from hub.settings import Settings
    from storage.library import POPULATION, engine_for

    settings = Settings(home=home, key_passphrase=PASSPHRASE)
    engine = engine_for(settings.db_url)
    state = home / "presentation.json"
    if state.exists():
        found = dict(json.loads(state.read_text()))
    else:
        from hub.wiring import library_store, licence_service
        from licence.issuance import Holder
        from licence.receipts import ledger_receipts

        holder = (home / "ids.txt").read_text().split()[0]
        name = str(library_store(settings).record(POPULATION, holder).fields["name"].value)
        svc = licence_service(settings)
        svc.ensure_ca()
        authority = "114300000061427127"  # 湖南省人力资源和社会保障厅
        if svc.store.active_seal(authority, dt.datetime.now(dt.UTC)) is None:
            svc.create_seal(authority)
        doc = svc.issue(
            "professional_qualification",
            authority,
            Holder(holder, name),
            {
                "occupation": "电工",
                "level": "四级/中级工",
                "certificate_number": "S3404000000001",
                "assessed_on": "2025-06-30",
            },
        )
        svc.ledger.sequence()
        svc.attach_receipts(ledger_receipts(svc.ledger))
        found = {"holder": holder, "licence_id": doc["header"]["licence_id"]}
        state.write_text(json.dumps(found))
    pem = (
        _app_key()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    store = ClientStore(engine)
    until = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    prefill = f"{PREFILLER}-{os.getpid()}"  # forms (issue 28): the form and what it reads
    found[PREFILLER] = store.add(prefill, "benchmark prefill", rate_limit=1e9)
    for scope in ("forms", "population", "licences"):
        store.grant(prefill, scope, PURPOSE, until)
    for cid, scope, purpose in (
        (APP, "holder-app", APP_PURPOSE),
        (REDEEMER, "presentations", PURPOSE),
    ):
        mine = f"{cid}-{os.getpid()}"
        found[cid] = store.add(mine, "benchmark " + cid, rate_limit=1e9)
        store.grant(mine, scope, purpose, until)
        if cid == APP:
            HolderApps(engine).register(mine, pem)
            found["app_id"] = mine
    return found


async def _present_load(
    port: int, phase: str, setup: dict[str, str], seconds: float, conns: int, codes_file: Path
) -> dict[str, typing.Any]:
    import uuid

    import jwt

    key = _app_key()
    made: list[bytes] | None = None
    if phase == "create":
        made = []
        body = json.dumps(
            {"licence_id": setup["licence_id"], "disclose": ["occupation", "level"]}
        ).encode()
        app_headers = {"Authorization": f"Bearer {setup[APP]}", "X-Purpose": APP_PURPOSE}

        def request_of(_rng: random.Random) -> bytes | None:
            now = int(time.time())
            claims = {
                "iss": setup["app_id"],
                "sub": setup["holder"],
                "aud": "https://hub.example.gov.cn",
                "iat": now,
                "exp": now + 60,
                "jti": uuid.uuid4().hex,
            }
            token = jwt.encode(claims, key, algorithm="ES256")
            return httpkit.post_request(
                "/v1/presentations", {**app_headers, "X-Holder-Assertion": token}, body
            )

    elif phase == "prefill":
        ids = (codes_file.parent / "ids.txt").read_text().split()
        rng = random.Random(28)
        filler = {"Authorization": f"Bearer {setup[PREFILLER]}", "X-Purpose": PURPOSE}

        def request_of(_rng: random.Random) -> bytes | None:
            body = json.dumps({"applicant": ids[rng.randrange(len(ids))]}).encode()
            return httpkit.post_request("/v1/forms/elderly-allowance/prefill", filler, body)

    else:
        pending = codes_file.read_text().split()
        redeemer = {"Authorization": f"Bearer {setup[REDEEMER]}", "X-Purpose": PURPOSE}

        def request_of(_rng: random.Random) -> bytes | None:
            if not pending:
                return None
            return httpkit.post_request(f"/v1/presentations/{pending.pop()}/redeem", redeemer, b"")

    result = await httpkit.load(port, request_of, seconds, conns, made)
    if made is not None:
        codes_file.write_text("\n".join(json.loads(b)["code"] for b in made))
    return {**result, "non_2xx": httpkit.answered_other_than(result, (200, 201))}


def present_loadgen(port: int, phase: str, home: Path, seconds: float, conns: int) -> None:
    import uvloop

    setup = json.loads(os.environ["BENCH_PRESENT_SETUP"])
    codes_file = home / f"codes-{os.getppid()}.txt"
    result = uvloop.run(_present_load(port, phase, setup, seconds, conns, codes_file))
    print(json.dumps(result))


def _present_phase(
    port: int, phase: str, home: Path, setup: dict[str, str], secs: float, conns: int
) -> dict[str, float]:
    out = subprocess.run(
        _child("--present", str(port), phase, str(home), str(secs), str(conns)),
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "BENCH_PRESENT_SETUP": json.dumps(setup)},
    )
    got = json.loads(out.stdout.strip().splitlines()[-1])
    return {**httpkit.latency_figures(got["lat_us"], got["wall"]), "non_2xx": got["non_2xx"]}


# ---- driver -------------------------------------------------------------------------------


def _child(*args: str) -> list[str]:
    return [sys.executable, "-m", "bench.api", *args]


def _run_load(
    port: int, prefix: str, home: Path, key: str, secs: float, conns: int
) -> dict[str, typing.Any]:
    out = subprocess.run(
        _child("--loadgen", str(port), prefix, str(home), key, str(secs), str(conns)),
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "BENCH_API_KEY": key},
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def _measure(
    pid: int,
    port: int,
    endpoints: dict[str, str],
    home: Path,
    key: str,
    secs: float,
    conns: int,
    rounds: int,
    audited: str,
) -> dict[str, dict[str, float]]:
    """Each endpoint under load for ``secs`` in all, in ``rounds`` interleaved slices (the order
    rotating each round), so a change in how busy the shared machine is falls on all of them
    alike; with the server's CPU time per request, which depends on that even less.

    The event loop's CPU time is counted to the endpoint it served in each slice; the server's
    other threads (audit writer, periodic audit digest, ledger sequencer) work only for the
    audited endpoint, whenever they run, so all their time is counted to ``audited``.
    """
    acc: dict[str, dict[str, typing.Any]] = {
        label: {"wall": 0.0, "cpu": 0.0, "non_200": 0, "lat": []} for label in endpoints
    }
    order = list(endpoints)
    background = 0.0
    for r in range(rounds):
        for label in order[r % len(order) :] + order[: r % len(order)]:
            main0, others0 = httpkit.cpu_seconds(pid)
            out = _run_load(port, endpoints[label], home, key, secs / rounds, conns)
            main1, others1 = httpkit.cpu_seconds(pid)
            a = acc[label]
            a["cpu"] += main1 - main0
            background += others1 - others0
            a["wall"] += out["wall"]
            a["non_200"] += out["non_200"]
            a["lat"].extend(out["lat_us"])
    acc[audited]["cpu"] += background
    results: dict[str, dict[str, float]] = {}
    for label, a in acc.items():
        n = max(1, len(a["lat"]))
        results[label] = {
            **httpkit.latency_figures(a["lat"], a["wall"]),
            "non_200": a["non_200"],
            "cpu_ms": round(1000 * a["cpu"] / n, 3),
        }
    return results


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        serve(Path(sys.argv[2]), int(sys.argv[3]))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--present":
        a = sys.argv[2:7]
        present_loadgen(int(a[0]), a[1], Path(a[2]), float(a[3]), int(a[4]))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--loadgen":
        a = sys.argv[2:8]
        loadgen(int(a[0]), a[1], Path(a[2]), a[3], float(a[4]), int(a[5]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--persons", type=int, default=None)
    parser.add_argument("--seconds", type=float, default=None)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument(
        "--rounds", type=int, default=None, help="interleaved slices per endpoint (6; 5 quick)"
    )
    args = parser.parse_args()
    n = args.persons or (20_000 if args.quick else 1_000_000)
    secs = args.seconds or (5.0 if args.quick else 30.0)
    args.rounds = args.rounds or (5 if args.quick else 6)
    root = Path(__file__).resolve().parents[1]
    home = root / ".cache" / "bench" / f"api-{n}-records"  # one golden row per person
    home.mkdir(parents=True, exist_ok=True)
    load(home, n)
    warm_key = setup_client(home)
    key = setup_client(home, "-measured")
    present = setup_presentations(home)
    port = httpkit.free_port()
    server = subprocess.Popen(_child("--serve", str(home), str(port)))
    try:
        httpkit.wait_up(port)
        _run_load(port, "/v1/persons/", home, warm_key, 2.0, args.connections)  # warm-up
        endpoints = {
            "floor": "/bare/persons/",
            "direct": "/direct/persons/",
            "ours": "/v1/persons/",
        }
        runs = _measure(
            server.pid, port, endpoints, home, key, secs, args.connections, args.rounds, "ours"
        )
        floor, direct, ours = runs["floor"], runs["direct"], runs["ours"]
        # presentations: every code made is redeemed once (the redeem phase ends when the
        # codes run out, or after the same time); a warm-up first opens the licence service
        # and the holder's stores, which the first requests would otherwise wait for
        _present_phase(port, "create", home, present, 1.0, args.connections)
        _present_phase(port, "redeem", home, present, 1.0, args.connections)
        create = _present_phase(port, "create", home, present, secs, args.connections)
        redeem = _present_phase(port, "redeem", home, present, secs, args.connections)
        _present_phase(port, "prefill", home, present, 1.0, args.connections)  # warm-up
        prefill = _present_phase(port, "prefill", home, present, secs, args.connections)
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
    audited = _audit_rows(home, key)
    commits = json.loads((home / "audit-stats.json").read_text())
    n_commits = commits["loop_commits"] + commits["thread_commits"]
    n_rows = commits["loop_rows"] + commits["thread_rows"]
    print(
        f"persons in library: {n:,}; {secs:g} s per endpoint in {args.rounds} interleaved "
        f"slices; {args.connections} connections"
    )
    for label, r in (
        ("floor (FastAPI route)", floor),
        ("floor (direct route)", direct),
        ("ours (auth+grants+audit)", ours),
    ):
        print(
            f"{label:26s} {r['rps']:8.1f} req/s  p50 {r['p50_ms']:6.2f} ms  "
            f"p99 {r['p99_ms']:6.2f} ms  server CPU {r['cpu_ms']:.3f} ms/req "
            f"(= {1000 / r['cpu_ms'] if r['cpu_ms'] else 0:,.0f} req/s per core)  "
            f"non-200 {r['non_200']}"
        )
    for label, r in (
        ("present: create", create),
        ("present: redeem", redeem),
        ("forms: prefill", prefill),
    ):
        print(
            f"{label:26s} {r['rps']:8.1f} req/s  p50 {r['p50_ms']:6.2f} ms  "
            f"p99 {r['p99_ms']:6.2f} ms  requests {r['requests']:,}  non-2xx {r['non_2xx']}"
        )
    print(f"audit rows written for this run's client: {audited:,} (requests: {ours['requests']:,})")
    print(
        f"audit group commits: {n_commits:,} for {n_rows:,} rows "
        f"({n_rows / max(1, n_commits):.1f} rows per commit; "
        f"{commits['thread_commits']:,} by the writer thread, the rest by the event loop)"
    )
    figures = {
        "persons": n,
        "seconds": secs,
        "connections": args.connections,
        "rounds": args.rounds,
        "ours_rps": ours["rps"],
        "ours_p50_ms": ours["p50_ms"],
        "ours_p99_ms": ours["p99_ms"],
        "floor_rps": floor["rps"],
        "floor_p50_ms": floor["p50_ms"],
        "floor_p99_ms": floor["p99_ms"],
        "ours_server_cpu_ms_per_req": ours["cpu_ms"],
        "floor_server_cpu_ms_per_req": floor["cpu_ms"],
        "direct_rps": direct["rps"],
        "direct_p50_ms": direct["p50_ms"],
        "direct_p99_ms": direct["p99_ms"],
        "direct_server_cpu_ms_per_req": direct["cpu_ms"],
        "ours_over_direct": round(ours["rps"] / direct["rps"], 3) if direct["rps"] else 0.0,
        "load_average_1min": round(os.getloadavg()[0], 2),
        "non_200": ours["non_200"] + floor["non_200"] + direct["non_200"],
        "audit_rows": audited,
        "audit_commits": n_commits,
        "audit_rows_per_commit": round(n_rows / max(1, n_commits), 2),
        "audit_thread_commits": commits["thread_commits"],
        "present_create_rps": create["rps"],
        "present_create_p99_ms": create["p99_ms"],
        "present_redeem_rps": redeem["rps"],
        "present_redeem_p99_ms": redeem["p99_ms"],
        "present_non_2xx": create["non_2xx"] + redeem["non_2xx"],
        "prefill_rps": prefill["rps"],
        "prefill_p50_ms": prefill["p50_ms"],
        "prefill_p99_ms": prefill["p99_ms"],
        "prefill_non_2xx": prefill["non_2xx"],
    }
    report(
        "api",
        figures,
        "bare FastAPI endpoint reading the same golden row without auth, grants or audit (same "
        "server); ours_over_direct: against the same read on a plain Starlette route",
        ours["rps"] / floor["rps"] if floor["rps"] else 0.0,
    )


def _audit_rows(home: Path, key: str) -> int:
    from api.clients import key_hash

    con = sqlite3.connect(home / "hub.db")
    try:
        (cid,) = con.execute(
            "SELECT client_id FROM api_clients WHERE key_sha256 = ?", (key_hash(key),)
        ).fetchone()
        (count,) = con.execute(
            "SELECT count(*) FROM api_audit WHERE client_id = ? AND outcome = 'ok'", (cid,)
        ).fetchone()
    finally:
        con.close()
    return int(count)


if __name__ == "__main__":
    main()
