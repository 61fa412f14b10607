"""Benchmark: an incremental pull of 1 % changed rows vs a full reload of the same table.

A department's table of N residents (1M; ``--quick`` 100k) in its own SQLite database (a
SQLAlchemy URL like any other; the watermark column ``seq`` indexed, as a department's DBA
would), pulled once into a hub. Then 1 % of the rows change, three times. Ours (the median of
the three): ``pipeline.pull.run.pull`` reads only the rows past the watermark and takes them
through the pipeline (check, merge, publish). Baseline, in the same run on a copy of the hub
taken after the first pull: the full reload, i.e. the whole table read again and ingested as
one run (what a pipeline without a watermark does). The two libraries must then hold the same
golden values (checked). Usage: ``python -m bench.pull [--quick] [--rows N]``.
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import statistics
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from bench._common import peak_rss_mb, report

CONTRACT = """\
dataset_id: bench_residents
title: bench residents
department: 基准县公安局
library: population
format: csv
encoding: utf-8
key: [id_number]
subject_column: id_number
authoritative_for: [name, birth_date]
cadence_days: 1
source: {kind: sql, connection: bench_dept, table: residents, watermark: seq, deleted: is_deleted}
columns:
  - {name: id_number, type: string, required: true, field: id_number, rules: [resident_id]}
  - {name: name, type: string, required: true, field: name, rules: [{max_length: 50}]}
  - {name: birth_date, type: date, field: birth_date}
  - {name: mobile, type: string, field: mobile, rules: [{regex: '^1[3-9]\\d{9}$'}]}
  - {name: household_address, type: string, field: household_address}
"""
DATASET = "bench_residents"
ROUNDS = 3


def _department(path: Path, n: int) -> None:
    """N residents with valid, distinct ID numbers; ``seq`` the change sequence (indexed)."""
    from schemas.resident_id import check_character

    start = date(1950, 1, 1)
    con = sqlite3.connect(path)
    con.execute(
        "CREATE TABLE residents (id_number TEXT PRIMARY KEY, name TEXT NOT NULL, "
        "birth_date TEXT, mobile TEXT, household_address TEXT, seq INTEGER NOT NULL, "
        "is_deleted INTEGER NOT NULL DEFAULT 0)"
    )
    rows = []
    for i in range(n):
        born = start + timedelta(days=i // 500)
        body = f"340102{born:%Y%m%d}{(i % 500) * 2:03d}"
        rows.append(
            (
                body + check_character(body),
                f"居民{i}",
                born.isoformat(),
                f"139{i:08d}",
                f"安徽省合肥市庐阳区{i % 997}号",
                i + 1,
            )
        )
    con.executemany("INSERT INTO residents VALUES (?, ?, ?, ?, ?, ?, 0)", rows)
    con.execute("CREATE INDEX residents_seq ON residents (seq)")
    con.commit()
    con.close()


def _change(path: Path, share: float, round_no: int) -> int:
    """Change ``share`` of the rows (spread over the table, other rows each round), each with
    the next ``seq``."""
    con = sqlite3.connect(path)
    step = max(1, round(1 / share))
    top = con.execute("SELECT max(seq) FROM residents").fetchone()[0]
    ids = [r[0] for r in con.execute("SELECT id_number FROM residents ORDER BY rowid")]
    ids = ids[round_no % step :: step]
    con.executemany(
        "UPDATE residents SET name = ?, mobile = ?, seq = ? WHERE id_number = ?",
        [
            (f"改名{round_no}-{k}", f"13{round_no}{k:08d}", top + k + 1, p)
            for k, p in enumerate(ids)
        ],
    )
    con.commit()
    con.close()
    return len(ids)


def _values(home: Path, contracts: Path) -> list[tuple[str, str, str]]:
    from hub.settings import Settings
    from hub.wiring import ingest_services

    hub = ingest_services(Settings(home=home), contracts)
    return [(s, f, v) for _, s, f, v, *_ in hub.library.golden_snapshot()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="100,000 rows instead of 1,000,000")
    ap.add_argument("--rows", type=int, default=0, help="rows in the department's table")
    args = ap.parse_args()
    n = args.rows or (100_000 if args.quick else 1_000_000)

    from hub.settings import Settings
    from hub.wiring import ingest_services
    from pipeline.pull.connections import from_environment
    from pipeline.pull.run import finish, land_batch, pull
    from pipeline.pull.sources import read_sql

    with tempfile.TemporaryDirectory(prefix="bench-pull-") as tmp:
        root = Path(tmp)
        contracts = root / "contracts"
        contracts.mkdir()
        (contracts / "bench.yaml").write_text(CONTRACT, encoding="utf-8")
        dept = root / "dept.sqlite"
        t = time.perf_counter()
        _department(dept, n)
        print(f"department table: {n:,} rows in {time.perf_counter() - t:.1f} s", flush=True)
        conns = from_environment({"AIRFLOW_CONN_BENCH_DEPT": f"sqlite:///{dept}"})
        ours_home, base_home = root / "ours", root / "baseline"
        hub = ingest_services(Settings(home=ours_home), contracts)
        t = time.perf_counter()
        first = pull(hub, DATASET, conns, fail_on_breach=False)
        load = time.perf_counter() - t
        print(f"first pull: {first.runs[0]['rows_in']:,} rows in {load:.1f} s", flush=True)
        hub.library.engine.dispose()
        shutil.copytree(ours_home, base_home)  # the same hub, for the baseline

        times = []
        for round_no in range(ROUNDS):  # a median: a busy machine slows a short run most
            changed = _change(dept, 0.01, round_no)
            t = time.perf_counter()
            incremental = pull(hub, DATASET, conns, fail_on_breach=False)
            times.append(time.perf_counter() - t)
            read = incremental.runs[0]["rows_in"]
            print(f"incremental pull: {read:,} rows in {times[-1]:.2f} s", flush=True)
        ours = statistics.median(times)

        base = ingest_services(Settings(home=base_home), contracts)
        contract = base.contract(DATASET)
        t = time.perf_counter()
        whole = read_sql(contract, f"sqlite:///{dept}", None)  # no watermark: everything
        assert whole.position is not None
        ref = land_batch(base, contract, whole, None, whole.position)
        done = finish(base, ref["run_id"], False, lambda _step: None)
        full = time.perf_counter() - t
        print(f"full reload: {done['rows_in']:,} rows in {full:.2f} s", flush=True)

        same = _values(ours_home, contracts) == _values(base_home, contracts)
        print(f"libraries identical after both: {same}", flush=True)
        if not same:
            raise SystemExit("the incremental pull and the full reload disagree")
    report(
        "pull",
        {
            "rows": n,
            "changed": changed,
            "rows_read": read,
            "incremental_s": round(ours, 3),
            "incremental_runs_s": [round(x, 3) for x in times],
            "full_reload_s": round(full, 3),
            "first_load_s": round(load, 2),
            "identical": same,
            "maxrss_mib": round(peak_rss_mb()),
        },
        f"full reload of the same {n:,}-row table in the same run",
        full / ours,
    )


if __name__ == "__main__":
    main()
