"""Benchmark: the person ingest on PostgreSQL (COPY merge) against SQLite and a bare COPY floor.

One synthetic ``ps_household`` file (12 columns, ~1 % dirt, GB18030) is ingested end to end
(land -> check -> quarantine -> merge -> publish) three ways, each in its own child
process so peak memory (the process's VmHWM) is its own, all in the same run on the same machine:

- ``postgres``: ``pipeline.run.run_pipeline`` with the library on PostgreSQL (a fresh database
  created for this run and dropped at the end) — the merge streams the rows with ``COPY``;
- ``sqlite``: the same pipeline on the embedded SQLite library;
- ``copy``: the floor — one bare ``COPY`` of the same file's rows into a bare 12-column text
  table (no keys, no checks, no provenance) on the same PostgreSQL server. A second floor for
  the merge alone: one bare ``COPY`` of the statements the merge wrote (exported from the library
  first, untimed) into an unindexed table of their shape.

The PostgreSQL pipeline and the floors run ``--repeat`` times (5 by default), each pair in a
fresh database, each run once autovacuum is done and the disk flushed; the figures are their
medians and the ratio the median of each pair's ratio.
Beside the seconds, the CPU seconds the whole machine spent over each timed run (PostgreSQL's
processes included): the pipeline's divided by the cores is the least it could take there.

The object store is the local folder for both pipelines, so the difference is the database.
PostgreSQL comes from ``--database-url``, ``HUB_DATABASE_URL`` or ``var/services/env``
(``make services-up``). Usage: ``python -m bench.postgres [--quick] [--rows N] [--repeat N]``.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._common import peak_rss_mb, services_env

DATASET = "ps_household"
ENV_FILE = Path(__file__).resolve().parents[1] / "var" / "services" / "env"


class BenchSetupError(RuntimeError):
    """PostgreSQL is not configured or reachable for the benchmark."""


def _server_url(explicit: str | None) -> str:
    """The hub's PostgreSQL URL (SQLAlchemy form) from the flag, the environment or services."""
    url = explicit or os.environ.get("HUB_DATABASE_URL", "")
    url = url or services_env(ENV_FILE).get("HUB_DATABASE_URL", "")
    if not url.startswith("postgresql"):
        raise BenchSetupError(
            "no PostgreSQL URL: pass --database-url, set HUB_DATABASE_URL or run "
            "`make services-up` (writes var/services/env)"
        )
    return url


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def _machine_cpu_seconds() -> float:
    """CPU time spent by every process of the machine so far (user + system, all cores): the
    database server's work counts, and so would another tenant's (an upper bound, then)."""
    with open("/proc/stat", encoding="ascii") as fh:
        ticks = [int(v) for v in fh.readline().split()[1:9]]
    busy = sum(ticks) - ticks[3] - ticks[4]  # minus idle and iowait
    return busy / os.sysconf("SC_CLK_TCK")


def server_cpu_seconds() -> float | None:
    """CPU time of the services' PostgreSQL server so far: its postmaster, the children it has
    reaped and the live ones (backends, writers); None when the server is not the local one
    ``services.sh`` runs (its ``postmaster.pid``)."""
    pidfile = ENV_FILE.parent / "postgres" / "postmaster.pid"
    try:
        master = int(pidfile.read_text(encoding="ascii").split()[0])
    except (OSError, ValueError, IndexError):
        return None
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        pid, ppid = int(entry.name), int(fields[1])
        if pid == master:
            total += sum(int(v) for v in fields[11:15])  # its own and its reaped children's
        elif ppid == master:
            total += int(fields[11]) + int(fields[12])
    return total / tick


def ingest_steps(
    file: Path, home: Path, database_url: str, dataset: str = DATASET
) -> dict[str, Any]:
    """One end-to-end ingest of ``file`` as ``dataset`` by ``run_pipeline`` (the rows handed
    from step to step in memory, as a user's ``hub ingest`` runs), timed step by step; the
    object store is the one the ``HUB_*`` environment names."""
    from hub.settings import Settings
    from hub.wiring import ingest_services
    from pipeline import run as pipeline_run

    settings = Settings(home=home, database_url=database_url or None)
    hub = ingest_services(settings)
    data = file.read_bytes()
    steps: dict[str, float] = {}

    def timed(step: str, call: Any) -> Any:
        def run(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return call(*args, **kwargs)
            finally:
                steps[step] = steps.get(step, 0.0) + time.perf_counter() - t0

        return run

    # the library write alone: the merge step also runs post-merge quality queries
    hub.library.merge_chunks = timed("library_merge", hub.library.merge_chunks)  # type: ignore[method-assign]
    for step, name in (
        ("land", "land"),
        ("check", "check_in_memory"),
        ("check", "quarantine"),
        ("merge", "merge"),
        ("merge", "measure_accuracy"),
        ("publish", "publish"),
    ):
        setattr(pipeline_run, name, timed(step, getattr(pipeline_run, name)))
    cpu = _machine_cpu_seconds()
    server = server_cpu_seconds() if database_url else None
    own = time.process_time()
    start = time.perf_counter()
    ref = pipeline_run.run_pipeline(hub, dataset, data, file.name, fail_on_breach=False)
    secs = time.perf_counter() - start
    own = time.process_time() - own
    cpu = _machine_cpu_seconds() - cpu
    server_after = server_cpu_seconds() if server is not None else None
    server = None if server is None or server_after is None else server_after - server
    steps["library_merge"] = steps.pop("library_merge")  # printed after the steps
    assert ref["rows_in"] == ref["rows_accepted"] + ref["rows_quarantined"]
    facts = hub.library.fact_count()
    hub.library.engine.dispose()
    return {
        "seconds": secs,
        "cpu_seconds": cpu,
        "own_cpu_seconds": own,
        "server_cpu_seconds": server,
        "steps": steps,
        "rows": ref["rows_in"],
        "accepted": ref["rows_accepted"],
        "facts": ref["facts"],
        "facts_in_db": facts,
        "maxrss_mib": peak_rss_mb(),
    }


def _child_copy(file: Path, database_url: str, scratch: Path) -> dict[str, Any]:
    """The floors: the file's bytes, then the library's statements, each through one bare COPY."""
    import psycopg
    from psycopg import sql

    with file.open("rb") as fh:
        header = fh.readline().decode("gb18030").lstrip("\ufeff").strip()
    names = header.split(",")
    with psycopg.connect(_libpq(database_url)) as conn:
        conn.execute(
            sql.SQL("CREATE TABLE bare_persons ({})").format(
                sql.SQL(", ").join(sql.SQL("{} text").format(sql.Identifier(n)) for n in names)
            )
        )
        conn.commit()
        cpu = _machine_cpu_seconds()
        secs, rows = _timed_copy(
            conn, "COPY bare_persons FROM STDIN (FORMAT csv, HEADER true, ENCODING 'GB18030')", file
        )
        cpu = _machine_cpu_seconds() - cpu
        # the statements the merge wrote, exported untimed, then copied into a keyless table
        dump = scratch / "statements.copy"
        with (
            conn.cursor() as cur,
            dump.open("wb") as out,
            # partitioned: COPY reads a query of it, not the table itself
            cur.copy("COPY (SELECT * FROM library_statements) TO STDOUT") as copy,
        ):
            for chunk in copy:
                out.write(chunk)
        conn.execute("CREATE TABLE bare_facts (LIKE library_statements)")  # no keys, no indexes
        conn.commit()
        fact_secs, fact_rows = _timed_copy(conn, "COPY bare_facts FROM STDIN", dump)
        dump.unlink()
    return {
        "seconds": secs,
        "cpu_seconds": cpu,
        "rows": rows,
        "fact_seconds": fact_secs,
        "fact_rows": fact_rows,
        "maxrss_mib": peak_rss_mb(),
    }


def _timed_copy(conn: Any, statement: str, source: Path) -> tuple[float, int]:
    """Seconds and rows of one COPY FROM STDIN of a file (streamed in 1 MiB chunks), committed."""
    t = time.perf_counter()
    with conn.cursor() as cur, source.open("rb") as fh:
        with cur.copy(statement) as copy:
            while chunk := fh.read(1 << 20):
                copy.write(chunk)
        rows = int(cur.rowcount)
    conn.commit()
    return time.perf_counter() - t, rows


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run of median duration (the lower middle one of an even count)."""
    ordered = sorted(runs, key=lambda r: float(r["seconds"]))
    return ordered[(len(ordered) - 1) // 2]


def _run_child(*args: str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "bench.postgres", "--child", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def create_database(server_url: str, prefix: str = "bench_pg") -> str:
    """A fresh, empty database on the server of ``server_url`` (its URL): the hub role may
    create databases (scripts/services/postgres.sh)."""
    import psycopg

    name = f"{prefix}_{secrets.token_hex(4)}"
    try:
        with psycopg.connect(_libpq(server_url), autocommit=True, connect_timeout=10) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        raise BenchSetupError(f"PostgreSQL not reachable ({exc}); run `make services-up`") from exc
    return server_url.rsplit("/", 1)[0] + "/" + name


def settle(db_url: str, timeout: float = 120.0) -> None:
    """Wait until no autovacuum worker is busy in the database (one starts on a freshly
    loaded table, and would otherwise slow the next timed run down), then flush the OS's
    dirty pages, so each timed run starts on a quiet server and disk."""
    import psycopg

    name = db_url.rsplit("/", 1)[1]
    deadline = time.monotonic() + timeout
    with psycopg.connect(_libpq(db_url), autocommit=True) as conn:
        while time.monotonic() < deadline:
            busy = conn.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE backend_type = 'autovacuum worker' AND datname = %s",
                (name,),
            ).fetchone()
            if not busy or not busy[0]:
                break
            time.sleep(0.5)
    os.sync()


def drop_database(server_url: str, db_url: str) -> None:
    import psycopg

    name = db_url.rsplit("/", 1)[1]
    with psycopg.connect(_libpq(server_url), autocommit=True) as conn:
        for attempt in range(30):
            try:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                return
            except (psycopg.errors.InsufficientPrivilege, psycopg.errors.ObjectInUse):
                # an autovacuum worker (the server's own role, which FORCE may not end) is
                # working on the freshly loaded tables: it ends by itself soon
                if attempt == 29:
                    raise
                time.sleep(2)


def _line(label: str, r: dict[str, Any]) -> str:
    rps = r["rows"] / r["seconds"]
    steps = r.get("steps")
    detail = (
        "  [" + " ".join(f"{k} {v:.2f}s" for k, v in steps.items()) + f"]  {r['facts']} facts"
        if steps
        else ""
    )
    return (
        f"{label:<9}{r['rows']:>9} rows {r['seconds']:8.2f}s {rps:10.0f} rows/s  "
        f"peak {r['maxrss_mib']:.0f} MiB{detail}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="20,000 rows instead of 1,000,000")
    ap.add_argument("--rows", type=int, default=None)
    ap.add_argument("--database-url", default=None, help="PostgreSQL (SQLAlchemy URL)")
    ap.add_argument(
        "--repeat", type=int, default=None, help="PostgreSQL runs and floors (default 5, quick 1)"
    )
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        kind, file, *rest = args.child
        if kind == "pipeline":
            out = ingest_steps(Path(file), Path(rest[0]), rest[1] if len(rest) > 1 else "")
        else:
            out = _child_copy(Path(file), rest[0], Path(rest[1]))
        print(json.dumps(out))
        return

    rows = args.rows or (20_000 if args.quick else 1_000_000)
    repeat = max(1, args.repeat or (1 if args.quick else 5))
    server = _server_url(args.database_url)
    from hub.synth import generate
    from schemas.contracts import load_contracts

    with tempfile.TemporaryDirectory(prefix="bench-postgres-") as tmp:
        root = Path(tmp)
        contract = {DATASET: load_contracts()[DATASET]}
        t = time.perf_counter()
        res = generate(root / "files", persons=rows, entities=1, seed=1, contracts=contract)
        file = res.files[DATASET]
        print(
            f"generated {res.rows[DATASET]} rows ({file.stat().st_size / 2**20:.1f} MiB) "
            f"in {time.perf_counter() - t:.1f}s"
        )
        lite_home = root / "lite"
        lite_home.mkdir()
        lite = _run_child("pipeline", str(file), str(lite_home))
        pgs: list[dict[str, Any]] = []
        floors: list[dict[str, Any]] = []
        for i in range(repeat):  # a fresh database each time: every run is a first load
            db = create_database(server)
            try:
                (root / f"pg{i}").mkdir()
                settle(db)
                pgs.append(_run_child("pipeline", str(file), str(root / f"pg{i}"), db))
                settle(db)
                floors.append(_run_child("copy", str(file), db, str(root)))
            finally:
                drop_database(server, db)

    for pg in pgs:
        assert pg["facts_in_db"] == lite["facts_in_db"], "PostgreSQL and SQLite libraries differ"
    ratios = [pg["seconds"] / floor["seconds"] for pg, floor in zip(pgs, floors, strict=True)]
    pg = _median_run(pgs)
    floor = _median_run(floors)
    ratio = statistics.median(ratios)
    pg_rps = pg["rows"] / pg["seconds"]
    lite_rps = lite["rows"] / lite["seconds"]
    floor_rps = floor["rows"] / floor["seconds"]
    cores = os.cpu_count() or 1
    cpu_bound = pg["cpu_seconds"] / cores / floor["seconds"]
    print(_line("postgres", pg))
    print(_line("sqlite", lite))
    print(_line("bare COPY", floor))
    print(
        f"postgres ingest takes {ratio:.2f}x the bare COPY (median of {repeat}: "
        f"{', '.join(f'{r:.2f}' for r in ratios)}; target: within 2x); "
        f"{pg_rps / lite_rps:.2f}x SQLite's speed; "
        f"library merge alone {pg['steps']['library_merge'] / floor['seconds']:.1f}x the bare COPY"
    )
    print(
        f"statements floor: bare COPY of the {floor['fact_rows']} statements "
        f"{floor['fact_seconds']:.2f}s; the merge (statements + golden records, keys, precedence) "
        "takes "
        f"{pg['steps']['library_merge'] / floor['fact_seconds']:.1f}x that"
    )
    print(
        f"CPU: the postgres ingest used {pg['cpu_seconds']:.1f} CPU-seconds machine-wide "
        f"(all processes, PostgreSQL's included), the bare COPY {floor['cpu_seconds']:.1f}; on "
        f"{cores} cores the ingest cannot take less than {cpu_bound:.2f}x the bare COPY"
    )
    # its own processes only (another tenant's work left out): the pipeline's and the server's
    own_cpu = pg["own_cpu_seconds"] + (pg["server_cpu_seconds"] or 0.0)
    own_bound = own_cpu / cores / floor["seconds"]
    server_cpu = pg["server_cpu_seconds"]
    print(
        f"CPU of the ingest's own processes: pipeline {pg['own_cpu_seconds']:.2f}s, PostgreSQL "
        + (
            "not measured (not the local services server)"
            if server_cpu is None
            else f"{server_cpu:.2f}s"
        )
        + f"; on {cores} cores at least {own_bound:.2f}x the bare COPY"
    )
    figures = {
        "rows": pg["rows"],
        "facts": pg["facts"],
        "repeats": repeat,
        "postgres_rows_per_s": round(pg_rps),
        "postgres_seconds": round(pg["seconds"], 2),
        "postgres_merge_seconds": round(pg["steps"]["merge"], 2),
        "postgres_library_merge_seconds": round(pg["steps"]["library_merge"], 2),
        "postgres_peak_mib": round(pg["maxrss_mib"]),
        "postgres_cpu_seconds": round(pg["cpu_seconds"], 2),
        "postgres_pipeline_cpu_seconds": round(pg["own_cpu_seconds"], 2),
        "postgres_server_cpu_seconds": None if server_cpu is None else round(server_cpu, 2),
        "postgres_own_cpu_bound_over_bare_copy_time": round(own_bound, 2),
        "sqlite_rows_per_s": round(lite_rps),
        "sqlite_seconds": round(lite["seconds"], 2),
        "sqlite_merge_seconds": round(lite["steps"]["merge"], 2),
        "sqlite_library_merge_seconds": round(lite["steps"]["library_merge"], 2),
        "sqlite_peak_mib": round(lite["maxrss_mib"]),
        "bare_copy_rows_per_s": round(floor_rps),
        "bare_copy_seconds": round(floor["seconds"], 2),
        "bare_copy_cpu_seconds": round(floor["cpu_seconds"], 2),
        "bare_fact_copy_seconds": round(floor["fact_seconds"], 2),
        "postgres_library_merge_over_bare_fact_copy_time": round(
            pg["steps"]["library_merge"] / floor["fact_seconds"], 2
        ),
        "postgres_over_bare_copy_time": round(ratio, 2),
        "postgres_over_bare_copy_time_each": [round(r, 2) for r in ratios],
        "cores": cores,
        "postgres_cpu_bound_over_bare_copy_time": round(cpu_bound, 2),
        "postgres_over_sqlite_speed": round(pg_rps / lite_rps, 3),
    }
    print(
        json.dumps(
            {
                "bench": "postgres",
                "figures": figures,
                "baseline": "one bare COPY of the same file's rows into a bare 12-column text "
                "table on the same PostgreSQL (the floor), after each PostgreSQL run; medians "
                "of the repeats; SQLite pipeline in figures; same run",
                "ratio": round(1 / ratio, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
