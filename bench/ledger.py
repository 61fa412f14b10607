"""Ledger benchmark: append through the sequencer, then inclusion proofs at growing sizes.

Compared in the same run with ``pymerkle.SqliteTree`` (leaf table on SQLite, subroot cache),
apples to apples: the same entries (22 bytes each) in the same batches, one transaction per
batch on both sides, and the same pragmas: pymerkle's database is created and opened with
every pragma the hub's engine runs (``storage.engine.SQLITE_PRAGMAS``: 16 KiB pages, WAL,
synchronous=NORMAL, the page cache), so on both sides an acknowledged batch survives a killed
process (not a power cut). Ours appends through the sequencer: it also hashes every interior
node, stores those from ``NODE_LEVEL`` up and signs a checkpoint per batch; pymerkle's append
stores each entry with its leaf hash and no interior node. The floors, measured in the same
run: bare SHA-256 of the same entries and bare SQLite inserts of the rows the log writes
(index, entry: one table, one B-tree, in multi-row statements). Each side runs in its own
forked process so its peak RSS is its own. ``--quick`` is small.
Ends with one JSON line: {"bench": "ledger", "figures": ..., "baseline": ..., "ratio": ...}.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import random
import resource
import shutil
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

WORK = Path(".cache") / "bench-ledger"


def _entries(n: int) -> list[bytes]:
    return [f"licence-event-{i:08d}".encode() for i in range(n)]


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def ours(total: int, batch: int, sizes: list[int], proofs: int) -> dict[str, Any]:
    from hub.settings import Settings
    from ledger.merkle import verify_inclusion
    from ledger.service import LedgerService

    settings = Settings(
        home=WORK / "ours",
        key_passphrase="bench",
        ledger_queue_limit=batch,
        ledger_anchor="embedded",
    )
    svc = LedgerService.open(settings)
    data = _entries(total)
    t0 = time.perf_counter()
    for start in range(0, total, batch):
        svc.append_many(data[start : start + batch])
        svc.sequence()
    append_s = time.perf_counter() - t0
    out: dict[str, Any] = {"append_per_s": total / append_s, "append_s": append_s}
    rng = random.Random(1)
    for size in sizes:
        root = svc.root(size)
        indices = [rng.randrange(size) for _ in range(proofs)]
        t0 = time.perf_counter()
        for i in indices:
            leaf, path = svc.prove(i, size)
            verify_inclusion(i, size, leaf, path, root)
        out[f"proofs_per_s@{size}"] = proofs / (time.perf_counter() - t0)
    out["peak_mb"] = _peak_mb()
    return out


def baseline(total: int, batch: int, sizes: list[int], proofs: int) -> dict[str, Any]:
    from pymerkle import SqliteTree, verify_inclusion

    from storage.engine import configure_sqlite

    path = WORK / "pymerkle.db"
    # the hub engine's pragmas, the page size before pymerkle creates its table: the same
    # durability class (survives kill -9) and the same pages and cache as the log's
    con = sqlite3.connect(path)
    configure_sqlite(con)
    con.close()
    tree = SqliteTree(str(path))
    configure_sqlite(tree.con)
    data = _entries(total)
    t0 = time.perf_counter()
    for start in range(0, total, batch):
        tree.append_entries(data[start : start + batch])
    append_s = time.perf_counter() - t0
    out: dict[str, Any] = {"append_per_s": total / append_s, "append_s": append_s}
    rng = random.Random(1)
    for size in sizes:
        root = tree.get_root(size)
        indices = [rng.randrange(size) for _ in range(proofs)]
        t0 = time.perf_counter()
        for i in indices:
            proof = tree.prove_inclusion(i + 1, size)  # pymerkle counts leaves from one
            verify_inclusion(tree.get_leaf(i + 1), root, proof)
        out[f"proofs_per_s@{size}"] = proofs / (time.perf_counter() - t0)
    out["peak_mb"] = _peak_mb()
    tree.close()
    return out


def floors(total: int, batch: int) -> dict[str, Any]:
    """Bare SHA-256 of the entries, and bare SQLite inserts of the rows the log appends
    (index, entry: one table, one B-tree) with the log's pragmas, one transaction per batch,
    in multi-row statements as the log writes them."""
    from storage.engine import configure_sqlite

    data = _entries(total)
    sha = hashlib.sha256
    t0 = time.perf_counter()
    leaves = [sha(b"\x00" + d).digest() for d in data]
    sha_s = time.perf_counter() - t0
    assert len(leaves) == total
    con = sqlite3.connect(WORK / "floor.db", isolation_level=None)
    configure_sqlite(con)
    con.execute("CREATE TABLE entries (idx INTEGER PRIMARY KEY, data BLOB NOT NULL)")
    per = 999 // 2  # rows per statement

    def sql(rows: int) -> str:
        return "INSERT INTO entries VALUES " + ", ".join(["(?, ?)"] * rows)

    t0 = time.perf_counter()
    for start in range(0, total, batch):
        stop = min(total, start + batch)
        flat = [v for i in range(start, stop) for v in (i, data[i])]
        whole = len(flat) // (2 * per) * (2 * per)
        con.execute("BEGIN")
        con.executemany(sql(per), [flat[k : k + 2 * per] for k in range(0, whole, 2 * per)])
        if whole < len(flat):
            con.execute(sql((len(flat) - whole) // 2), flat[whole:])
        con.execute("COMMIT")
    insert_s = time.perf_counter() - t0
    con.close()
    return {"sha256_per_s": total / sha_s, "sqlite_insert_per_s": total / insert_s}


def _child(fn: Callable[..., dict[str, Any]], args: tuple[Any, ...], q: Any) -> None:
    q.put(fn(*args))


def _run(fn: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    ctx = multiprocessing.get_context("fork")
    q = ctx.Queue()
    proc = ctx.Process(target=_child, args=(fn, args, q))
    proc.start()
    result: dict[str, Any] = q.get()
    proc.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (seconds)")
    parser.add_argument("--proofs", type=int, help="inclusion proofs per size")
    args = parser.parse_args()
    if args.quick:
        total, batch, sizes, proofs = 20_000, 5_000, [1_000, 10_000, 20_000], 1_000
    else:
        total, batch, sizes, proofs = 1_000_000, 100_000, [10_000, 100_000, 1_000_000], 10_000
    proofs = args.proofs or proofs
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    a = _run(ours, total, batch, sizes, proofs)
    b = _run(baseline, total, batch, sizes, proofs)
    floor = _run(floors, total, batch)
    print(f"entries={total} batch={batch} proofs/size={proofs}")
    from storage.engine import SQLITE_PRAGMAS

    pragmas = ", ".join(p.removeprefix("PRAGMA ") for p in SQLITE_PRAGMAS)
    print(
        f"same pragmas on both sides ({pragmas}), one commit per batch: an acknowledged "
        "batch survives kill -9"
    )
    print(
        f"floors: bare SHA-256 of the entries {floor['sha256_per_s']:,.0f}/s; bare SQLite "
        f"inserts of the same rows {floor['sqlite_insert_per_s']:,.0f}/s"
    )
    print(f"{'figure':<24}{'ours':>14}{'pymerkle':>14}{'ratio':>10}")
    figures: dict[str, Any] = {}
    for key in a:
        ratio = a[key] / b[key] if b[key] else float("nan")
        if key.endswith("_s") and not key.endswith("per_s"):
            ratio = b[key] / a[key]
        print(f"{key:<24}{a[key]:>14.1f}{b[key]:>14.1f}{ratio:>10.2f}")
        figures[key] = round(a[key], 2)
        figures[f"pymerkle_{key}"] = round(b[key], 2)
    figures["floor_sha256_per_s"] = round(floor["sha256_per_s"], 2)
    figures["floor_sqlite_insert_per_s"] = round(floor["sqlite_insert_per_s"], 2)
    figures["append_ratio"] = round(a["append_per_s"] / b["append_per_s"], 2)
    small, large = f"proofs_per_s@{sizes[0]}", f"proofs_per_s@{sizes[-1]}"
    figures["proof_time_large_over_small"] = round(a[small] / a[large], 2)
    shutil.rmtree(WORK, ignore_errors=True)
    result = {
        "bench": "ledger",
        "figures": figures,
        "baseline": "pymerkle 7 SqliteTree, same entries and batches, same pragmas (16 KiB "
        "pages, WAL, synchronous=NORMAL, cache), same proof indices, same machine and run",
        "ratio": round(a[large] / b[large], 2),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
