"""Benchmark: ``POST /v1/claims/verify`` with grants, audit and a sealed, logged receipt, against
the bare endpoint floor, and a 1,000-subject × 3-claim batch.

A library of N persons (1,000,000 full, 20,000 with ``--quick``; birth date, household
division, death flag, all from their authoritative source) is merged once and kept under
``.cache/bench/``. A uvicorn server (one process, uvloop + httptools, loopback) serves the real
app — API key, grant per claim type, rate limit, one audit row per question and the receipt
sealed by the platform's verification seal with its ledger entry, committed together before the
answer (group commit; the answer does not wait for the checkpoint), the periodic audit digest
and ledger sequencer — plus, for this benchmark only, ``POST /bare/claims/verify``: an ordinary
FastAPI route that parses the same body and answers the same three claims from the same golden
row with no auth, grants, audit or receipt (the floor, the ``ratio``). A separate load-generator
process (raw asyncio sockets, HTTP/1.1 keep-alive, C connections) asks about random known
persons for D seconds per endpoint (30 s, 5 s with ``--quick``) in interleaved slices and reports
questions/s and p50/p99 latency for both; then the batch endpoint is timed on 1,000 subjects ×
3 claims (the median of 5). Targets (issue 25): ≥ 2,000 questions/s with p99 < 50 ms, within 2×
of the floor; the batch in < 1 s.
With ``--workers 2`` two server processes share the port (SO_REUSEPORT: the kernel spreads the
connections, as a load balancer spreads clients among ``hub serve`` processes) and serve both
endpoints, so the floor is measured the same way; CPU figures are summed over them. On this
embedded SQLite tier the two processes' audit and receipt commits queue for the database's one
write lock (measured: the floor gains a tenth, ours hardly anything), so the default is one
process (several instances are the PostgreSQL tier's shape). ``--database-url URL`` (a
PostgreSQL server the hub role may create databases on; ``services`` for the one
``scripts/services.sh up postgres`` started) runs the same on the PostgreSQL tier: a fresh
database with the library merged into it, the hub's tables (clients, audit, receipts, ledger,
rate limit) there, dropped at the end; the floor reads the same library. The output names the
tier. The servers start one after another (on a fresh database the first creates the hub's
tables, which processes starting together would race to create), and the first answers one
question (creating the platform's verification seal) before the next starts.
Usage: ``python -m bench.claims [--quick] [--persons N] [--seconds D] [--connections C]
[--workers W] [--database-url URL|services]``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import http.client
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import typing
from pathlib import Path

from fastapi import Request, Response  # the floor route's annotations, resolved by FastAPI

from bench import _http as httpkit
from bench._common import report

PASSPHRASE = "bench-claims"
PURPOSE = "system-testing"
CLAIMS = [
    {"type": "person.alive"},
    {"type": "person.age_at_least", "params": {"years": 18}},
    {"type": "person.household_in", "params": {"division": "3404"}},
]


# ---- data ---------------------------------------------------------------------------------
def load(home: Path, n: int, database_url: str | None = None) -> list[str]:
    """Create (once) a hub home with ``n`` persons in the library (in ``database_url`` if
    given); returns their IDs."""
    from collections.abc import Iterator
    from typing import Any

    from hub.settings import Settings
    from storage.library import POPULATION, LibraryStore, engine_for

    ids_file = home / "ids.txt"
    if ids_file.exists():
        return ids_file.read_text().split()
    settings = Settings(home=home, key_passphrase=PASSPHRASE, database_url=database_url)
    settings.ensure_dirs()
    ids = httpkit.ids(n)
    t = time.perf_counter()
    store = LibraryStore(engine_for(settings.db_url))

    def chunks(size: int = 50_000) -> Iterator[tuple[list[str | None], dict[str, list[Any]]]]:
        for lo in range(0, len(ids), size):
            part = ids[lo : lo + size]
            yield (
                list(part),
                {
                    "birth_date": [f"{i[6:10]}-{i[10:12]}-{i[12:14]}" for i in part],
                    "household_division": [i[:6] for i in part],
                    "deceased": ["1" if int(i[14]) == 9 else "0" for i in part],
                },
            )

    fields = ["birth_date", "household_division", "deceased"]
    store.merge_chunks(
        POPULATION,
        "bench-1",
        "ps_household",
        dt.datetime(2026, 1, 10, tzinfo=dt.UTC),
        chunks(),
        fields,
    )
    print(f"loaded {n:,} persons ({3 * n:,} golden fields) in {time.perf_counter() - t:.1f} s")
    ids_file.write_text("\n".join(ids))
    return ids


def setup_client(home: Path, suffix: str, database_url: str | None = None) -> str:
    """A fresh client granted the three claim types, with no practical rate limit."""
    from api.clients import ClientStore
    from storage.library import engine_for

    store = ClientStore(engine_for(database_url or f"sqlite:///{home / 'hub.db'}"))
    cid = f"bench-claims-{os.getpid()}{suffix}"
    key = store.add(cid, "benchmark client", rate_limit=1e9)
    until = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    store.grant(cid, "claims", PURPOSE, until, [c["type"] for c in CLAIMS])  # type: ignore[misc]
    return key


# ---- server -------------------------------------------------------------------------------
def serve(home: Path, port: int, database_url: str | None = None) -> None:
    """One server process on ``port``, shared (SO_REUSEPORT) with the run's other workers: the
    kernel spreads the connections among them, as a load balancer spreads clients among
    ``hub serve`` processes."""
    import socket

    import uvicorn

    from hub.commands.serve import settle_heap
    from hub.settings import Settings
    from hub.wiring import api_app
    from sharing.service import normalise, parse_claims

    settings = Settings(
        home=home, key_passphrase=PASSPHRASE, audit_interval=10.0, database_url=database_url
    )
    app = api_app(settings, background=True)

    @app.post("/bare/claims/verify", include_in_schema=False)
    async def bare(request: Request) -> Response:
        # the same parse and the same answers from the same golden row: no key, grants, audit
        # or receipt
        body = json.loads(await request.body())
        parsed = parse_claims([(c["type"], c.get("params")) for c in body["claims"]])
        service = request.app.state.hub.claims
        answers, day = service.evaluate(normalise(body["subject"]), parsed, None)
        out = {"as_of": day.isoformat(), "answers": [a.to_json() for a in answers]}
        return Response(json.dumps(out, ensure_ascii=False), media_type="application/json")

    config = uvicorn.Config(
        app, loop="uvloop", http="httptools", access_log=False, log_level="warning"
    )
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", port))  # after the app is built: no connection waits for it
    settle_heap()  # as `hub serve` does
    print("listening", flush=True)
    # uvicorn shuts down gracefully on the driver's SIGINT (the app's lifespan ends: audit
    # flushed, ledger sequencer stopped), then raises the signal again for its caller, which
    # `uvicorn.run` catches too: a clean exit, not a traceback
    with contextlib.suppress(KeyboardInterrupt):
        uvicorn.Server(config).run(sockets=[sock])


# ---- load generator -----------------------------------------------------------------------
def _load(
    port: int, path: str, ids: list[str], key: str, seconds: float, conns: int
) -> typing.Coroutine[typing.Any, typing.Any, dict[str, typing.Any]]:
    headers = {"Authorization": f"Bearer {key}", "X-Purpose": PURPOSE}

    def request_of(rng: random.Random) -> bytes:
        body = json.dumps({"subject": ids[rng.randrange(len(ids))], "claims": CLAIMS}).encode()
        return httpkit.post_request(path, headers, body)

    return httpkit.load(port, request_of, seconds, conns)


def loadgen(port: int, path: str, home: Path, key: str, seconds: float, conns: int) -> None:
    import uvloop

    ids = (home / "ids.txt").read_text().split()
    result = uvloop.run(_load(port, path, ids, key, seconds, conns))
    print(json.dumps({**result, "non_200": httpkit.answered_other_than(result)}))


# ---- driver -------------------------------------------------------------------------------
def _child(*args: str) -> list[str]:
    return [sys.executable, "-m", "bench.claims", *args]


def _run_load(
    port: int, path: str, home: Path, key: str, secs: float, conns: int
) -> dict[str, typing.Any]:
    out = subprocess.run(
        _child("--loadgen", str(port), path, str(home), key, str(secs), str(conns)),
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def _cpu_seconds(pids: list[int]) -> tuple[float, float]:
    """CPU seconds of the servers' event loops and of their other threads, summed."""
    loops = others = 0.0
    for pid in pids:
        main, rest = httpkit.cpu_seconds(pid)
        loops, others = loops + main, others + rest
    return loops, others


def _measure(
    pids: list[int],
    port: int,
    endpoints: dict[str, str],
    home: Path,
    key: str,
    secs: float,
    conns: int,
    rounds: int,
) -> dict[str, dict[str, float]]:
    """Each endpoint under load for ``secs`` in all, in ``rounds`` interleaved slices, so a
    change in how busy the shared machine is falls on both alike; with the server's CPU time
    per question, of its event loop and of its other threads (receipt writer, audit, ledger
    sequencer), which depends on that even less."""
    acc: dict[str, dict[str, typing.Any]] = {
        label: {"wall": 0.0, "non_200": 0, "lat": [], "loop": 0.0, "threads": 0.0}
        for label in endpoints
    }
    order = list(endpoints)
    for r in range(rounds):
        for label in order[r % len(order) :] + order[: r % len(order)]:
            main0, others0 = _cpu_seconds(pids)
            out = _run_load(port, endpoints[label], home, key, secs / rounds, conns)
            main1, others1 = _cpu_seconds(pids)
            a = acc[label]
            a["loop"] += main1 - main0
            a["threads"] += others1 - others0
            a["wall"] += out["wall"]
            a["non_200"] += out["non_200"]
            a["lat"].extend(out["lat_us"])
    results: dict[str, dict[str, float]] = {}
    for label, a in acc.items():
        n = max(1, len(a["lat"]))
        results[label] = {
            **httpkit.latency_figures(a["lat"], a["wall"]),
            "non_200": a["non_200"],
            "loop_cpu_ms": round(1000 * a["loop"] / n, 3),
            "threads_cpu_ms": round(1000 * a["threads"] / n, 3),
        }
    return results


def _ask(port: int, key: str, subject: str) -> None:
    """One question, answered 200."""
    con = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    headers = {"Authorization": f"Bearer {key}", "X-Purpose": PURPOSE}
    con.request(
        "POST",
        "/v1/claims/verify",
        json.dumps({"subject": subject, "claims": CLAIMS}),
        {**headers, "Content-Type": "application/json"},
    )
    resp = con.getresponse()
    resp.read()
    con.close()
    if resp.status != 200:
        sys.exit(f"the first question was answered {resp.status}")


def _batch(port: int, key: str, ids: list[str], repeat: int = 5) -> tuple[float, int]:
    """Median seconds of a 1,000-subject × 3-claim batch, and its status."""
    rng = random.Random(25)
    times, status = [], 0
    for _ in range(repeat):
        body = json.dumps({"subjects": rng.sample(ids, 1000), "claims": CLAIMS})
        con = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        t0 = time.perf_counter()
        con.request(
            "POST",
            "/v1/batch/claims/verify",
            body,
            {
                "Authorization": f"Bearer {key}",
                "X-Purpose": PURPOSE,
                "Content-Type": "application/json",
            },
        )
        resp = con.getresponse()
        resp.read()
        times.append(time.perf_counter() - t0)
        status = resp.status
        con.close()
    return statistics.median(times), status


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        serve(Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4] if len(sys.argv) > 4 else None)
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--loadgen":
        a = sys.argv[2:8]
        loadgen(int(a[0]), a[1], Path(a[2]), a[3], float(a[4]), int(a[5]))
        return
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--persons", type=int, default=None)
    parser.add_argument("--seconds", type=float, default=None)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=None, help="interleaved slices (6; 4 quick)")
    parser.add_argument(
        "--workers", type=int, default=1, help="server processes sharing the port (default 1)"
    )
    parser.add_argument(
        "--database-url",
        default=None,
        help="the PostgreSQL tier: a server URL (SQLAlchemy form), or `services`",
    )
    args = parser.parse_args()
    n = args.persons or (20_000 if args.quick else 1_000_000)
    secs = args.seconds or (5.0 if args.quick else 30.0)
    rounds = args.rounds or (4 if args.quick else 6)
    root = Path(__file__).resolve().parents[1]
    with contextlib.ExitStack() as stack:
        if args.database_url:
            db_url = stack.enter_context(_postgres(args.database_url))
            tier = "PostgreSQL"
            home = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-claims-")))
        else:
            db_url, tier = None, "SQLite"
            home = root / ".cache" / "bench" / f"claims-{n}-persons"
            home.mkdir(parents=True, exist_ok=True)
        ids = load(home, n, db_url)
        runs, batch_s, batch_status = _run(home, ids, db_url, args, secs, rounds)
    _print(n, secs, rounds, tier, args, runs, batch_s, batch_status)


@contextlib.contextmanager
def _postgres(given: str) -> typing.Iterator[str]:
    """A fresh database on the PostgreSQL server ``given`` (``services``: the services tier's),
    dropped when done."""
    from bench._common import services_env
    from bench.postgres import ENV_FILE, create_database, drop_database

    server = given
    if given == "services":
        server = os.environ.get("HUB_DATABASE_URL", "") or services_env(ENV_FILE).get(
            "HUB_DATABASE_URL", ""
        )
    if not server.startswith("postgresql"):
        sys.exit("--database-url: no PostgreSQL URL (run `scripts/services.sh up postgres`)")
    db_url = create_database(server, "bench_claims")
    try:
        yield db_url
    finally:
        drop_database(server, db_url)


def _run(
    home: Path,
    ids: list[str],
    db_url: str | None,
    args: argparse.Namespace,
    secs: float,
    rounds: int,
) -> tuple[dict[str, dict[str, float]], float, int]:
    """Start the servers, measure both endpoints and the batch, stop the servers."""
    warm_key = setup_client(home, "-warm", db_url)
    key = setup_client(home, "-measured", db_url)
    port = httpkit.free_port()
    servers = []
    serve_args = ["--serve", str(home), str(port), *([db_url] if db_url else [])]
    try:
        for _ in range(args.workers):
            # one after the other: the first creates the hub's tables in a fresh database
            server = subprocess.Popen(_child(*serve_args), stdout=subprocess.PIPE)
            servers.append(server)
            assert server.stdout is not None
            for line in server.stdout:  # what it prints before it listens, passed on
                if line.strip() == b"listening":
                    break
                sys.stdout.write(line.decode(errors="replace"))
            else:
                sys.exit("a benchmark server did not start (its error is above)")
            if len(servers) == 1:
                # the first question creates the platform's verification seal: once, before
                # the other processes start (they would race to create it)
                httpkit.wait_up(port)
                _ask(port, warm_key, ids[0])
        httpkit.wait_up(port)
        _run_load(port, "/v1/claims/verify", home, warm_key, 2.0, args.connections)  # warm-up
        endpoints = {"floor": "/bare/claims/verify", "ours": "/v1/claims/verify"}
        pids = [s.pid for s in servers]
        runs = _measure(pids, port, endpoints, home, key, secs, args.connections, rounds)
        batch_s, batch_status = _batch(port, key, ids)
    finally:
        for server in servers:
            server.send_signal(signal.SIGINT)
        for server in servers:
            try:
                server.wait(timeout=60)
            except subprocess.TimeoutExpired:
                server.kill()
    return runs, batch_s, batch_status


def _print(
    n: int,
    secs: float,
    rounds: int,
    tier: str,
    args: argparse.Namespace,
    runs: dict[str, dict[str, float]],
    batch_s: float,
    batch_status: int,
) -> None:
    floor, ours = runs["floor"], runs["ours"]
    print(
        f"persons in library: {n:,}; {secs:g} s per endpoint in {rounds} interleaved slices; "
        f"{args.connections} connections; 3 claims per question; {args.workers} server "
        f"process(es) serving both endpoints; {tier} tier (library, audit, receipts, ledger)"
    )
    for label, r in (
        ("floor (no auth/audit/receipt)", floor),
        ("ours (grant+audit+receipt)", ours),
    ):
        print(
            f"{label:30s} {r['rps']:8.1f} q/s  p50 {r['p50_ms']:6.2f} ms  "
            f"p99 {r['p99_ms']:6.2f} ms  server CPU {r['loop_cpu_ms']:.3f} ms/q on the loops + "
            f"{r['threads_cpu_ms']:.3f} in other threads  non-200 {r['non_200']}"
        )
    print(f"batch 1,000 subjects x 3 claims: {batch_s:.3f} s (median of 5, status {batch_status})")
    figures = {
        "persons": n,
        "seconds": secs,
        "connections": args.connections,
        "rounds": rounds,
        "workers": args.workers,
        "tier": tier,
        "ours_qps": ours["rps"],
        "ours_p50_ms": ours["p50_ms"],
        "ours_p99_ms": ours["p99_ms"],
        "floor_qps": floor["rps"],
        "floor_p50_ms": floor["p50_ms"],
        "floor_p99_ms": floor["p99_ms"],
        "ours_over_floor": round(ours["rps"] / floor["rps"], 3) if floor["rps"] else 0.0,
        "ours_loop_cpu_ms": ours["loop_cpu_ms"],
        "ours_threads_cpu_ms": ours["threads_cpu_ms"],
        "floor_loop_cpu_ms": floor["loop_cpu_ms"],
        "floor_threads_cpu_ms": floor["threads_cpu_ms"],
        "batch_1000x3_s": round(batch_s, 3),
        "batch_status": batch_status,
        "non_200": ours["non_200"] + floor["non_200"],
        "load_average_1min": round(os.getloadavg()[0], 2),
        "target_qps": 2000,
        "target_p99_ms": 50,
        "target_batch_s": 1.0,
    }
    report(
        "claims",
        figures,
        "bare FastAPI endpoint answering the same 3 claims from the same golden row without "
        "auth, grants, audit or receipt (same server)",
        ours["rps"] / floor["rps"] if floor["rps"] else 0.0,
    )


if __name__ == "__main__":
    main()
