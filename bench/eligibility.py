"""Benchmark: one eligibility policy (高龄津贴, ``elderly-allowance``) judged over N persons with
the quality engine's vectorised rules, against a plain SQL query of the same rule on the same
store, in the same run.

N persons (1,000,000 full, 50,000 with ``--quick``) with birth date, household division, death
flag and date are written once to an SQLite table (a fresh temporary file). The baseline is one
``SELECT`` of the rule over that table (a full scan: birth date bound, division prefix, not dead).
The vectorised side reads the same table's columns into Arrow, types them once as the library
schema says (dates parsed by the quality engine's coercion, :func:`sharing.eligibility.typed`,
as the DAG's read does) and runs :func:`sharing.eligibility.eligible_mask` (each condition a
contract rule through :func:`quality.engine.passes`); its figure ``vectorised_s`` is the
judgement alone, ``read_s`` the read and typing, both reported. The two eligible sets must be
equal (checked). Target (issue 28): < 5 s per million and faster than SQL. Ends with the JSON
line.
Usage: ``python -m bench.eligibility [--quick] [--persons N]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sqlite3
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa

from bench._common import parse_args, peak_rss_mb, report, timed

ON = dt.date(2026, 3, 1)  # the 1st of the period the rule is judged on
SQL = """
SELECT subject FROM persons
WHERE birth_date <= :born_by
  AND household_division LIKE '3404%'
  AND (deceased IS NULL OR deceased NOT IN ('1', 'true'))
  AND (death_date IS NULL OR death_date = '')
"""


def _people(n: int, seed: int = 28) -> dict[str, list[str | None]]:
    """Synthetic golden values: ages 0-100, a third in Huainan (3404), 3 % dead."""
    rng = np.random.default_rng(seed)
    born = np.datetime64("1926-01-01") + rng.integers(0, 100 * 365, n).astype("timedelta64[D]")
    counties = np.array(["340402", "340403", "340404", "340421", "110101", "320102"] * 1)
    division = counties[rng.integers(0, len(counties), n)]
    dead = rng.random(n) < 0.03
    unknown = rng.random(n) < 0.10  # no death registration record at all
    died = np.where(dead, "2025-06-01", None)
    return {
        "subject": [f"P{i:09d}" for i in range(n)],
        "birth_date": born.astype(str).tolist(),
        "household_division": division.tolist(),
        "deceased": np.where(unknown, None, np.where(dead, "1", "0")).tolist(),
        "death_date": died.tolist(),
    }


def build(path: Path, n: int) -> None:
    cols = _people(n)
    con = sqlite3.connect(path)
    con.execute(
        "CREATE TABLE persons (subject TEXT PRIMARY KEY, birth_date TEXT, "
        "household_division TEXT, deceased TEXT, death_date TEXT)"
    )
    rows = zip(*(cols[k] for k in cols), strict=True)
    con.executemany("INSERT INTO persons VALUES (?, ?, ?, ?, ?)", rows)
    con.commit()
    con.close()


def read_arrow(path: Path) -> pa.Table:
    """The store's columns as a typed Arrow table (what the DAG judges)."""
    from sharing.eligibility import typed

    con = sqlite3.connect(path)
    names = ["subject", "birth_date", "household_division", "deceased", "death_date"]
    rows = con.execute(f"SELECT {', '.join(names)} FROM persons").fetchall()
    con.close()
    columns = list(zip(*rows, strict=True)) if rows else [[] for _ in names]
    text = pa.table({n: pa.array(c, pa.string()) for n, c in zip(names, columns, strict=True)})
    return typed(text, "population")


def sql_eligible(path: Path) -> set[str]:
    from sharing.eligibility import years_before

    con = sqlite3.connect(path)
    found = {s for (s,) in con.execute(SQL, {"born_by": years_before(ON, 80).isoformat()})}
    con.close()
    return found


def main() -> None:
    def extra(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--persons", type=int, default=None, help="number of persons")

    args = parse_args(__doc__.splitlines()[0], extra)
    n = args.persons or (50_000 if args.quick else 1_000_000)
    from schemas import policies
    from sharing.eligibility import eligible_mask

    policy = policies.get("elderly-allowance")
    with tempfile.TemporaryDirectory(prefix="bench-eligibility-") as tmp:
        path = Path(tmp) / "store.db"
        build_s, _ = timed(lambda: build(path, n))
        read_s, table = timed(lambda: read_arrow(path))
        eligible_mask(policy, table.slice(0, 1000), ON, {})  # warm caches (division table, regex)
        vec_s, mask = timed(lambda: eligible_mask(policy, table, ON, {}), repeat=3)
        sql_s, by_sql = timed(lambda: sql_eligible(path), repeat=3)
    subjects = np.asarray(table.column("subject").to_pylist(), dtype=object)
    by_engine = set(subjects[mask].tolist())
    if by_engine != by_sql:
        raise SystemExit(
            f"the eligible sets differ: engine {len(by_engine)}, SQL {len(by_sql)} "
            f"({len(by_engine ^ by_sql)} disagree)"
        )
    per_million = vec_s * 1_000_000 / n
    print(f"persons: {n:,}; eligible: {len(by_engine):,} (equal sets)")
    print(f"store built in {build_s:.1f} s; columns read into Arrow and typed in {read_s:.2f} s")
    print(f"vectorised rule: {vec_s:.3f} s ({per_million:.2f} s per million), median of 3")
    print(f"SQL query:       {sql_s:.3f} s, median of 3")
    report(
        "eligibility",
        {
            "persons": n,
            "eligible": len(by_engine),
            "vectorised_s": round(vec_s, 3),
            "vectorised_s_per_million": round(per_million, 3),
            "read_s": round(read_s, 3),
            "sql_s": round(sql_s, 3),
            "peak_rss_mb": round(peak_rss_mb(), 1),
        },
        "plain SQL query of the same rule on the same SQLite store",
        sql_s / vec_s if vec_s else 0.0,
    )


if __name__ == "__main__":
    main()
