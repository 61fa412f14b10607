"""Vectorised resident-ID and USCC validation against a per-value Python loop, same data, same run.

Target (issue 2): 1 M resident IDs validated in under 0.5 s on 2 cores, at least 10x the loop.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from bench._common import parse_args, peak_rss_mb, report, timed
from schemas import resident_id, uscc
from schemas.divisions import division_table


def _strings(mat: np.ndarray) -> pa.StringArray:
    n, width = mat.shape
    offsets = pa.py_buffer((np.arange(n + 1, dtype=np.int32) * width).tobytes())
    arr: pa.StringArray = pa.Array.from_buffers(
        pa.string(), n, [None, offsets, pa.py_buffer(np.ascontiguousarray(mat).tobytes())]
    )
    return arr


def synthetic_resident_ids(n: int, seed: int = 7, dirt: float = 0.01) -> pa.StringArray:
    """``n`` resident IDs for Anhui divisions, a fraction ``dirt`` with a wrong check character."""
    rng = np.random.default_rng(seed)
    codes = np.array([int(c) for c in division_table().codes("34") if not c.endswith("00")])
    division = rng.choice(codes, n)
    days = rng.integers(-20_000, 19_000, n).astype("datetime64[D]")
    ymd = np.char.replace(np.datetime_as_string(days), "-", "").astype("S8")
    seq = rng.integers(0, 1000, n)
    mat = np.zeros((n, 18), dtype=np.uint8)
    for i, scale in enumerate([100000, 10000, 1000, 100, 10, 1]):
        mat[:, i] = 48 + division // scale % 10
    mat[:, 6:14] = np.frombuffer(ymd.tobytes(), dtype=np.uint8).reshape(n, 8)
    for i, scale in enumerate([100, 10, 1]):
        mat[:, 14 + i] = 48 + seq // scale % 10
    digits = mat[:, :17].astype(np.int64) - 48
    mat[:, 17] = np.frombuffer(b"10X98765432", dtype=np.uint8)[
        (digits @ np.array(resident_id.WEIGHTS)) % 11
    ]
    bad = rng.random(n) < dirt
    mat[bad, 17] = np.where(mat[bad, 17] == ord("0"), ord("1"), ord("0"))
    return _strings(mat)


def synthetic_usccs(n: int, seed: int = 11, dirt: float = 0.01) -> pa.StringArray:
    """``n`` enterprise USCCs registered in Anhui, a fraction ``dirt`` with a wrong check."""
    rng = np.random.default_rng(seed)
    charset = np.frombuffer(uscc.CHARSET.encode(), dtype=np.uint8)
    codes = np.array([c for c in division_table().codes("34") if not c.endswith("00")], dtype="S6")
    mat = np.zeros((n, 18), dtype=np.uint8)
    mat[:, 0] = ord("9")
    mat[:, 1] = ord("1")
    mat[:, 2:8] = np.frombuffer(rng.choice(codes, n).tobytes(), dtype=np.uint8).reshape(n, 6)
    mat[:, 8:16] = charset[rng.integers(0, 31, (n, 8))]
    org_values = np.where(mat[:, 8:16] <= ord("9"), mat[:, 8:16] - 48, mat[:, 8:16] - 55).astype(
        np.int64
    )
    org = 11 - (org_values @ np.array(uscc.ORG_WEIGHTS)) % 11
    mat[:, 16] = np.frombuffer(b"0123456789X0", dtype=np.uint8)[org]
    lookup = np.full(256, 0, dtype=np.int64)
    lookup[charset] = np.arange(31)
    total = lookup[mat[:, :17]] @ np.array(uscc.WEIGHTS)
    mat[:, 17] = charset[(31 - total % 31) % 31]
    bad = rng.random(n) < dirt
    mat[bad, 17] = charset[(lookup[mat[bad, 17]] + 1) % 31]
    return _strings(mat)


def main() -> None:
    args = parse_args(__doc__ or "")
    n = 100_000 if args.quick else 1_000_000
    ids = synthetic_resident_ids(n)
    codes = synthetic_usccs(n)
    id_values = ids.to_pylist()
    code_values = codes.to_pylist()

    t_ids, id_reasons = timed(lambda: resident_id.validate_array(ids), repeat=3)
    t_ids_loop, id_loop = timed(lambda: [resident_id.validate(v).reason for v in id_values])
    t_uscc, uscc_reasons = timed(lambda: uscc.validate_array(codes), repeat=3)
    t_uscc_loop, uscc_loop = timed(lambda: [uscc.validate(v).reason for v in code_values])
    assert id_reasons.to_pylist() == id_loop, "vectorised and loop disagree on resident IDs"
    assert uscc_reasons.to_pylist() == uscc_loop, "vectorised and loop disagree on USCCs"
    invalid_ids = n - id_reasons.null_count
    print(
        f"{n:,} resident IDs ({invalid_ids:,} invalid): vectorised {t_ids:.3f} s, "
        f"loop {t_ids_loop:.3f} s, x{t_ids_loop / t_ids:.1f}"
    )
    print(
        f"{n:,} USCCs ({n - uscc_reasons.null_count:,} invalid): vectorised {t_uscc:.3f} s, loop "
        f"{t_uscc_loop:.3f} s, x{t_uscc_loop / t_uscc:.1f}"
    )
    print(f"peak memory {peak_rss_mb():.0f} MiB")
    report(
        "identifiers",
        {
            "rows": n,
            "resident_id_vectorised_s": round(t_ids, 3),
            "resident_id_loop_s": round(t_ids_loop, 3),
            "resident_id_per_s": round(n / t_ids),
            "uscc_vectorised_s": round(t_uscc, 3),
            "uscc_loop_s": round(t_uscc_loop, 3),
            "uscc_ratio": round(t_uscc_loop / t_uscc, 2),
            "peak_rss_mb": round(peak_rss_mb()),
        },
        "per-value Python loop over schemas.*.validate on the same arrays",
        t_ids_loop / t_ids,
    )


if __name__ == "__main__":
    main()
