"""Benchmark: department person rows CSV -> SQLite library, end to end (land -> publish).

Ours: ``pipeline.run.run_pipeline`` on a synthetic ``ps_household`` file (12 columns, ~1 % dirt):
land, read into Arrow, quality check, quarantine, merge statements + golden records. Baseline,
measured in the same run: ``pandas.read_csv`` + one SQLAlchemy ORM object per row into a 12-column
table (no provenance, no quality checks) on the same rows, as the issue asks (``--baseline-rows K``
runs it on the first K rows only and extrapolates rows/s, which favours the baseline: per-row ORM
slows as its session grows). Each side runs in its own child process so peak memory (the process's
VmHWM) is its own. Usage: ``python -m bench.ingest [--quick] [--rows N] [--baseline-rows K]``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench._common import peak_rss_mb

DATASET = "ps_household"


def _child_ours(file: Path, home: Path) -> dict[str, float]:
    from hub.settings import Settings
    from hub.wiring import ingest_services
    from pipeline.run import run_pipeline

    hub = ingest_services(Settings(home=home))
    data = file.read_bytes()
    t = time.perf_counter()
    ref = run_pipeline(hub, DATASET, data, file.name, fail_on_breach=False)
    secs = time.perf_counter() - t
    assert ref["rows_in"] == ref["rows_accepted"] + ref["rows_quarantined"]
    return {
        "seconds": secs,
        "rows": ref["rows_in"],
        "accepted": ref["rows_accepted"],
        "quarantined": ref["rows_quarantined"],
        "facts": ref["facts"],
        "maxrss_mib": peak_rss_mb(),
    }


def _child_baseline(file: Path, home: Path, limit: int) -> dict[str, float]:
    import pandas as pd
    from sqlalchemy import String, create_engine
    from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

    class Base(DeclarativeBase):
        pass

    cols = pd.read_csv(file, nrows=0, encoding="gb18030").columns.tolist()
    attrs = {"__tablename__": "person", "id": mapped_column(String(18), primary_key=True)}
    attrs["__annotations__"] = {"id": Mapped[str]}
    for c in cols[1:]:
        attrs[c] = mapped_column(String, nullable=True)
        attrs["__annotations__"][c] = Mapped[str | None]
    person = type("Person", (Base,), attrs)
    engine = create_engine(f"sqlite:///{home / 'baseline.db'}")
    Base.metadata.create_all(engine)
    t = time.perf_counter()
    df = pd.read_csv(file, dtype=str, encoding="gb18030", nrows=limit, keep_default_na=False)
    df = df.drop_duplicates(subset=[cols[0]])
    with Session(engine) as session:
        for rec in df.to_dict("records"):
            session.add(person(id=rec[cols[0]], **{c: rec[c] for c in cols[1:]}))
        session.commit()
    secs = time.perf_counter() - t
    return {
        "seconds": secs,
        "rows": len(df),
        "maxrss_mib": peak_rss_mb(),
    }


def _run_child(*args: str) -> dict[str, float]:
    proc = subprocess.run(
        [sys.executable, "-m", "bench.ingest", "--child", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="20,000 rows instead of 1,000,000")
    ap.add_argument("--rows", type=int, default=None)
    ap.add_argument(
        "--baseline-rows", type=int, default=None, help="baseline on the first K rows only"
    )
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        kind, file, home, *rest = args.child
        if kind == "ours":
            out = _child_ours(Path(file), Path(home))
        else:
            out = _child_baseline(Path(file), Path(home), int(rest[0]))
        print(json.dumps(out))
        return

    rows = args.rows or (20_000 if args.quick else 1_000_000)
    from hub.synth import generate
    from schemas.contracts import load_contracts

    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        root = Path(tmp)
        contract = {DATASET: load_contracts()[DATASET]}
        t = time.perf_counter()
        res = generate(root / "files", persons=rows, entities=1, seed=1, contracts=contract)
        file = res.files[DATASET]
        print(
            f"generated {res.rows[DATASET]} rows ({file.stat().st_size / 2**20:.1f} MiB) "
            f"in {time.perf_counter() - t:.1f}s"
        )
        (root / "ours").mkdir()
        (root / "base").mkdir()
        ours = _run_child("ours", str(file), str(root / "ours"))
        limit = min(rows, args.baseline_rows or rows)
        base = _run_child("baseline", str(file), str(root / "base"), str(limit))

    ours_rps = ours["rows"] / ours["seconds"]
    base_rps = base["rows"] / base["seconds"]
    print(
        f"ours     {ours['rows']:>9} rows  {ours['seconds']:8.2f}s  {ours_rps:10.0f} rows/s  "
        f"{ours['facts']} facts  quarantined {ours['quarantined']}  "
        f"peak {ours['maxrss_mib']:.0f} MiB"
    )
    print(
        f"baseline {base['rows']:>9} rows  {base['seconds']:8.2f}s  {base_rps:10.0f} rows/s  "
        f"peak {base['maxrss_mib']:.0f} MiB"
        + (f"  (first {limit} rows; rows/s extrapolates)" if limit < rows else "  (the same rows)")
    )
    figures = {
        "rows": ours["rows"],
        "ours_rows_per_s": round(ours_rps),
        "ours_seconds": round(ours["seconds"], 2),
        "ours_facts": ours["facts"],
        "ours_peak_mib": round(ours["maxrss_mib"]),
        "baseline_rows": base["rows"],
        "baseline_rows_per_s": round(base_rps),
        "baseline_peak_mib": round(base["maxrss_mib"]),
    }
    print(
        json.dumps(
            {
                "bench": "ingest",
                "figures": figures,
                "baseline": "pandas read_csv + per-row SQLAlchemy ORM inserts (one wide row "
                "per person, no checks, no provenance) of "
                + ("the same rows" if limit >= rows else f"the first {limit} rows")
                + ", same machine, same run",
                "ratio": round(ours_rps / base_rps, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
