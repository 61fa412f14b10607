"""Benchmark: the fast quality path against Great Expectations COMPLETE on the same rules and rows.

1,000,000 household-registration rows x 12 columns (``--quick``: 50,000) with ~1 % dirt, all rules
of the ``ps_household`` contract. The fast path gives per-row reason codes; GX runs the mirrored
suite with ``unexpected_index_column_names``. Both must flag the same rows for every rule.
Also measured: one rule (mobile regex) in pyarrow.compute against pandas ``str.match``, the
reason the engine is written over Arrow.
"""

from __future__ import annotations

import datetime as dt
import time

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from bench._common import parse_args, peak_rss_mb, report, timed
from schemas.contracts import load_contracts
from schemas.divisions import division_table
from schemas.library import code_table

WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2])
CHECK = np.array(list("10X98765432"))


def synthetic(n: int, seed: int = 7, dirt: float = 0.01) -> tuple[pa.Table, int]:
    """``n`` population rows as text (like a CSV read), ~``dirt`` of them with one bad cell."""
    rng = np.random.default_rng(seed)
    table = division_table()
    counties = np.array(
        [c for c in table.codes() if c[4:] != "00" and table.valid_in(c, 2024)][:3000]
    )
    division = counties[rng.integers(0, len(counties), n)]
    born = np.datetime64("1930-01-01") + rng.integers(0, 32000, n).astype("timedelta64[D]")
    iso = np.datetime_as_string(born, unit="D")
    compact = np.char.replace(iso, "-", "")
    seq_num = rng.integers(0, 1000, n)
    seq = np.char.zfill(seq_num.astype(str), 3)
    body = np.char.add(np.char.add(division, compact), seq)
    digits = np.frombuffer(body.astype("S17").tobytes(), dtype=np.uint8).reshape(n, 17) - 48
    ids = np.char.add(body, CHECK[(digits.astype(np.int64) @ WEIGHTS) % 11])
    sex = np.where(seq_num % 2 == 1, "1", "2")
    ethnic = np.array(list(code_table("ethnic_group")))[
        rng.integers(0, 56, n) * (rng.random(n) < 0.1)
    ]
    cols = {
        "id_number": ids.astype(object),
        "name": np.char.add("测试", (np.arange(n) % 9973).astype(str)).astype(object),
        "sex": sex.astype(object),
        "ethnic_group": ethnic.astype(object),
        "birth_date": iso.astype(object),
        "household_division": division.astype(object),
        "household_address": np.full(n, "某省某市某区某街道1号", dtype=object),
        "mobile": np.char.add(
            "139", np.char.zfill(rng.integers(0, 10**8, n).astype(str), 8)
        ).astype(object),
        "marital_status": np.array(["10", "20", "30", "40"])[rng.integers(0, 4, n)].astype(object),
        "education": np.array(["20", "30", "60", "70"])[rng.integers(0, 4, n)].astype(object),
        "family_size": rng.integers(1, 8, n).astype(str).astype(object),
        "updated_on": np.full(n, "2025-06-01", dtype=object),
    }
    dirty = np.flatnonzero(rng.random(n) < dirt)
    kinds = rng.integers(0, 10, len(dirty))
    for i, k in zip(dirty.tolist(), kinds.tolist(), strict=True):
        if k == 0:
            cols["id_number"][i] = cols["id_number"][i][:-1] + (
                "0" if cols["id_number"][i][-1] != "0" else "1"
            )
        elif k == 1:
            cols["sex"][i] = "3"
        elif k == 2:
            cols["name"][i] = None
        elif k == 3:
            cols["birth_date"][i] = "1990-02-30"
        elif k == 4:
            cols["household_division"][i] = "999999"
        elif k == 5:
            cols["mobile"][i] = "1234"
        elif k == 6:
            cols["family_size"][i] = "99"
        elif k == 7:
            cols["sex"][i] = "2" if cols["sex"][i] == "1" else "1"
        elif k == 8:
            cols["household_division"][i] = "341400"  # Chaohu: abolished in 2011
        else:
            cols["ethnic_group"][i] = "77"
    return pa.table({k: pa.array(v, type=pa.string()) for k, v in cols.items()}), len(dirty)


def _division_at_timings(table: pa.Table) -> tuple[float, float]:
    """The division_at rule's lookup, vectorised vs the scalar table per distinct pair."""
    from quality.engine import division_ints, divisions_in_force

    division = table.column("household_division").combine_chunks()
    years = np.random.default_rng(3).integers(1990, 2026, len(division))
    codes = division_ints(division)
    vec_s, vec = timed(lambda: divisions_in_force(division_ints(division), years), repeat=3)
    lookup = division_table()

    def scalar() -> np.ndarray:
        pairs = codes * 10_000 + years
        distinct, inverse = np.unique(pairs, return_inverse=True)
        ok = np.array([lookup.valid_in(f"{p // 10_000:06d}", int(p % 10_000)) for p in distinct])
        return ok[inverse]

    scalar_s, expected = timed(scalar, repeat=1)
    assert (vec == expected).all(), "vectorised division_at disagrees with DivisionTable.valid_in"
    return vec_s, scalar_s


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    n = 50_000 if args.quick else 1_000_000
    contract = load_contracts()["ps_household"]
    as_of = dt.date(2025, 6, 30)
    start = time.perf_counter()
    table, dirtied = synthetic(n)
    print(
        f"generated {n:,} rows x {table.num_columns} columns ({dirtied:,} dirtied) in "
        f"{time.perf_counter() - start:.1f} s"
    )

    from quality.engine import check_table

    check_table(table.slice(0, 1000), contract, as_of=as_of)  # warm caches (division table)
    fast_s, result = timed(lambda: check_table(table, contract, as_of=as_of), repeat=3)
    fast_rss = peak_rss_mb()
    print(
        f"fast path: {fast_s:.2f} s ({fast_s / n * 1e6:.2f} s per million rows), "
        f"{result.rows_quarantined:,} rows quarantined, peak RSS {fast_rss:.0f} MiB"
    )

    mobile = table.column("mobile").combine_chunks()
    arrow_s, _ = timed(lambda: pc.match_substring_regex(mobile, r"^1[3-9]\d{9}$"), repeat=3)
    series = mobile.to_pandas()
    pandas_s, _ = timed(lambda: series.str.match(r"^1[3-9]\d{9}$"), repeat=3)
    print(
        f"one regex rule: pyarrow.compute {arrow_s * 1000:.0f} ms vs pandas str.match "
        f"{pandas_s * 1000:.0f} ms"
    )

    in_force_s, scalar_s = _division_at_timings(table)
    print(
        f"division in force at a date (random years): numpy period matrix {in_force_s * 1000:.0f}"
        f" ms vs DivisionTable.valid_in per distinct (code, year) {scalar_s * 1000:.0f} ms"
    )

    start = time.perf_counter()
    from quality import gx

    gx._custom()
    import_s = time.perf_counter() - start
    gx_s, run = timed(lambda: gx.validate(contract, result.typed, as_of=as_of))
    gx_rss = peak_rss_mb()
    print(
        f"great expectations COMPLETE: {gx_s:.2f} s (+{import_s:.1f} s import, not counted), "
        f"peak RSS {gx_rss:.0f} MiB"
    )

    differ = gx.disagreements(result, run)
    assert not differ, f"GX and the fast path disagree on {sorted(differ)}"
    failing = sum(1 for rows in run.failing.values() if rows)
    print(f"same failing rows for all {len(run.failing)} mirrored rules ({failing} with failures)")
    ratio = gx_s / fast_s
    print(f"speed-up: {ratio:.1f}x")
    report(
        "quality",
        {
            "rows": n,
            "fast_s": round(fast_s, 3),
            "fast_s_per_million": round(fast_s / n * 1e6, 3),
            "gx_complete_s": round(gx_s, 3),
            "gx_import_s": round(import_s, 1),
            "peak_rss_fast_mib": round(fast_rss),
            "peak_rss_after_gx_mib": round(gx_rss),
            "rows_quarantined": result.rows_quarantined,
            "regex_pyarrow_ms": round(arrow_s * 1000, 1),
            "regex_pandas_ms": round(pandas_s * 1000, 1),
            "division_at_numpy_ms": round(in_force_s * 1000, 1),
            "division_at_scalar_ms": round(scalar_s * 1000, 1),
        },
        "Great Expectations 1.24 COMPLETE with unexpected_index_column_names, same rules and rows",
        ratio,
    )


if __name__ == "__main__":
    main()
