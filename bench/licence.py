"""Benchmark: sealed licence issuance (sealed, stored, logged, sequenced) and sealed PDFs,
against OpenAttestation wrapping and signing the same documents in the same run.

    python -m bench.licence            # 100,000 licences, 200 PDFs, 10,000 OpenAttestation docs
    python -m bench.licence --quick    # 2,000 / 20 / 1,000

Licences are issued through ``LicenceService.issue_batches``: batch k+1 is checked, numbered and
sealed in this thread while batch k is written and committed in one writer thread (one process,
two threads, on the 2 cores). The sequencer runs after every 10 batches in the writer, inside the
timed loop (as the background sequencer would, attaching the receipts each checkpoint gives), so
the queue never exceeds its limit; each checkpoint also commits the authority's status list.
PDFs are measured in this process and again with two worker processes (each warmed by one PDF
first, as a long-running service would be); both figures are printed.

Next to the issuance figure it prints its floors, measured in the same run over (a sample of)
the same licences: bare ECDSA P-256 signing of their signed headers (through
``licence.signers``), bare SHA-256 of their sealed bytes, bare SQLite inserts of their index
rows and log entries (one transaction per batch, the log's pragmas), and bare durable writes of
their sealed bytes (one file each, one ``os.sync`` per batch, as the object store syncs the file
system once per batch: on a shared machine that sync also waits for other processes' writes).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import shutil
import sqlite3
import subprocess
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench._common import parse_args, peak_rss_mb, report
from hub.commands.licence import open_service
from hub.settings import Settings
from licence import seals
from licence.issuance import Holder, IssueRequest
from licence.pdf import render_pdf
from licence.receipts import ledger_receipts
from schemas import uscc
from storage.library import LibraryStore
from storage.library import engine_for as library_engine

ROOT = Path(__file__).resolve().parents[1]
AUTHORITY = "11430000006122244L"
BATCH = 1000
SEQUENCE_EVERY = 10  # batches between sequencer runs
PDF_WORKERS = 2

_worker: dict[str, Any] = {}


def _pdf_worker_init(home: str, cache: str, warm_id: str, ready: Any) -> None:
    """Worker process: its own service over the same stores, warmed by one PDF."""
    _worker["svc"] = open_service(Settings(home=Path(home), key_passphrase="bench"))
    _worker["cache"] = Path(cache)
    _worker["ready"] = ready
    render_pdf(_worker["svc"], warm_id, _worker["cache"])


def _pdf_worker_ready(_: int) -> None:
    # every worker blocks here until all have started and warmed up (one task each)
    _worker["ready"].wait(timeout=300)


def _pdf_worker_render(lid: str) -> int:
    return len(render_pdf(_worker["svc"], lid, _worker["cache"]))


def _pdfs_in_workers(settings: Settings, cache: Path, ids: list[str]) -> tuple[float, float]:
    """(seconds to start and warm the workers, seconds to render ``ids`` across them)."""
    ctx = multiprocessing.get_context("spawn")
    start = time.perf_counter()
    with ProcessPoolExecutor(
        PDF_WORKERS,
        mp_context=ctx,
        initializer=_pdf_worker_init,
        initargs=(str(settings.home), str(cache), ids[0], ctx.Barrier(PDF_WORKERS)),
    ) as pool:
        list(pool.map(_pdf_worker_ready, range(PDF_WORKERS)))
        warm = time.perf_counter() - start
        start = time.perf_counter()
        sizes = list(pool.map(_pdf_worker_render, ids, chunksize=max(1, len(ids) // 8)))
        run = time.perf_counter() - start
    assert all(n > 10_000 for n in sizes)
    return warm, run


def synth_holders(n: int) -> list[tuple[str, str]]:
    out = []
    for i in range(n):
        org = f"MA{i:06d}"
        body = "91430100" + org + uscc.org_code_check(org)
        out.append((body + uscc.check_character(body), f"长沙第{i}号商贸有限公司"))
    return out


def synth_fields(i: int) -> dict[str, str]:
    return {
        "entity_type": "有限责任公司（自然人投资或控股）",
        "legal_representative": "张三",
        "registered_capital": f"人民币{i % 900 + 100}万元整",
        "established": "2020-05-18",
        "address": f"湖南省长沙市岳麓区麓谷大道{i % 999 + 1}号",
        "business_scope": "食品销售；餐饮服务；日用百货销售。",
    }


FLOOR_SAMPLE = 10_000  # licences the floors are measured over


def _floors(svc: Any, work: Path, n: int) -> dict[str, float]:
    """Per-licence rates of the bare operations issuance cannot avoid, over the same licences."""
    from licence import document
    from storage import ledger_store as db

    rows = svc.store.licences()[: min(n, FLOOR_SAMPLE)]
    raws = [svc.objects.get(r["object_key"]) for r in rows]
    headers = [document.canonical(json.loads(raw)["header"]) for raw in raws]
    seal = svc.store.seal(rows[0]["seal_id"])
    signer = seals.load_signer(svc.keys, seal["key_name"], seal["algorithm"])
    start = time.perf_counter()
    for h in headers:
        signer.sign(h)
    sign_s = time.perf_counter() - start
    start = time.perf_counter()
    for raw in raws:
        hashlib.sha256(raw).digest()
    sha_s = time.perf_counter() - start
    with svc.ledger.engine.connect() as conn:
        entries = db.entries_by_id(conn, [r["ledger_entry_id"] for r in rows])
    con = sqlite3.connect(work / "floor.db", isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    cols = list(rows[0])
    con.execute(f"CREATE TABLE licences ({', '.join(cols)}, PRIMARY KEY (licence_id))")
    con.execute(
        "CREATE TABLE entries (idx INTEGER PRIMARY KEY, entry_id INTEGER NOT NULL UNIQUE, "
        "leaf BLOB NOT NULL, data BLOB NOT NULL)"
    )
    values = [tuple(str(v) if isinstance(v, datetime) else v for v in r.values()) for r in rows]
    logged = [(i, e, leaf, data) for e, i, leaf, data in entries]
    licence_sql = f"INSERT INTO licences VALUES ({', '.join('?' * len(cols))})"
    start = time.perf_counter()
    for lo in range(0, len(rows), BATCH):
        con.execute("BEGIN")
        con.executemany(licence_sql, values[lo : lo + BATCH])
        con.executemany("INSERT INTO entries VALUES (?, ?, ?, ?)", logged[lo : lo + BATCH])
        con.execute("COMMIT")
    insert_s = time.perf_counter() - start
    con.close()
    folder = work / "floor-objects"
    folder.mkdir()
    start = time.perf_counter()
    for lo in range(0, len(raws), BATCH):
        for k, raw in enumerate(raws[lo : lo + BATCH], start=lo):
            (folder / f"{k}.json").write_bytes(raw)
        os.sync()
    write_s = time.perf_counter() - start
    k = len(rows)
    return {
        "ecdsa_sign_per_s": k / sign_s,
        "sha256_per_s": k / sha_s,
        "sqlite_insert_per_s": k / insert_s,
        "durable_write_per_s": k / write_s,
    }


def _openattestation(docs: list[dict[str, str]], work: Path) -> dict[str, float]:
    subprocess.run(["bash", str(ROOT / "bench/openattestation/setup.sh")], check=True)
    path = work / "oa.jsonl"
    path.write_text("\n".join(json.dumps(d, ensure_ascii=False) for d in docs) + "\n")
    env = {**os.environ, "NODE_PATH": str(ROOT / ".cache/node/node_modules")}
    out = subprocess.run(
        ["node", str(ROOT / "bench/openattestation/wrap_sign.js"), str(path)],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    ).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def main() -> None:
    def extra(p: argparse.ArgumentParser) -> None:
        p.add_argument("--licences", type=int, help="licences to issue (a size between)")
        p.add_argument(
            "--work-dir",
            type=Path,
            default=None,
            help="folder for the benchmark's HUB_HOME (default: the system temporary folder)",
        )

    args = parse_args(__doc__ or "", extra)
    n, n_pdf, n_oa = (2_000, 20, 1_000) if args.quick else (100_000, 200, 10_000)
    n = args.licences or n
    if args.work_dir is not None:
        args.work_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="bench-licence-", dir=args.work_dir))
    try:
        settings = Settings(home=work / "hub", key_passphrase="bench")
        svc = open_service(settings)
        svc.ensure_ca()
        svc.create_seal(AUTHORITY)
        holders = synth_holders(n)
        LibraryStore(library_engine(settings.db_url)).merge(
            "legal-entity",
            "bench",
            "samr.entities",
            datetime.now(UTC),
            [h for h, _ in holders],
            {"entity_name": [name for _, name in holders]},
        )
        batches = (
            [
                IssueRequest("business_licence", AUTHORITY, Holder(*holders[i]), synth_fields(i))
                for i in range(lo, min(n, lo + BATCH))
            ]
            for lo in range(0, n, BATCH)
        )

        receipts = ledger_receipts(svc.ledger)
        attached = 0

        def sequence_now_and_then(k: int) -> None:
            # as the background sequencer would: a checkpoint, then the receipts it gives
            nonlocal attached
            if (k + 1) % SEQUENCE_EVERY == 0:
                svc.ledger.sequence()
                attached += svc.attach_receipts(receipts)

        start = time.perf_counter()
        issued = svc.issue_batches(batches, sequence_now_and_then)
        svc.ledger.sequence()
        attached += svc.attach_receipts(receipts)
        issue_s = time.perf_counter() - start
        assert issued == attached == n, f"{issued} issued, {attached} receipts for {n} licences"
        rate = n / issue_s
        print(
            f"issued {n} sealed licences (stored, logged, sequenced, receipts) in "
            f"{issue_s:.1f} s: {rate:,.0f} licences/s; peak RSS {peak_rss_mb():.0f} MiB"
        )
        floor = _floors(svc, work, n)
        print(
            f"  floors over {min(n, FLOOR_SAMPLE)} of the same licences: bare ECDSA P-256 sign "
            f"of the headers {floor['ecdsa_sign_per_s']:,.0f}/s; bare SHA-256 of the sealed "
            f"bytes {floor['sha256_per_s']:,.0f}/s; bare SQLite inserts of the index rows and "
            f"log entries {floor['sqlite_insert_per_s']:,.0f}/s; bare durable writes of the "
            f"sealed bytes {floor['durable_write_per_s']:,.0f}/s"
        )

        ids = [r["licence_id"] for r in svc.store.licences()[:n_pdf]]
        cache = settings.home / "cache" / "fonts"
        render_pdf(svc, ids[0], cache)  # warm the font cache (one-off per installation)
        start = time.perf_counter()
        for lid in ids:
            render_pdf(svc, lid, cache)
        pdf_s = time.perf_counter() - start
        print(
            f"rendered and PAdES-signed {n_pdf} PDFs in {pdf_s:.1f} s: {n_pdf / pdf_s:.1f} PDFs/s"
            " (1 process)"
        )
        warm_s, pdf2_s = _pdfs_in_workers(settings, cache, ids)
        print(
            f"rendered and PAdES-signed {n_pdf} PDFs in {pdf2_s:.1f} s: "
            f"{n_pdf / pdf2_s:.1f} PDFs/s ({PDF_WORKERS} worker processes, started and warmed "
            f"in {warm_s:.1f} s beforehand, not counted)"
        )

        docs = [
            {
                "licence": lid,
                **{k: v for k, v in synth_fields(i).items()},
                "holder": holders[i][1],
                "holder_id": holders[i][0],
            }
            for i, lid in enumerate(r["licence_id"] for r in svc.store.licences()[:n_oa])
        ]
        oa = _openattestation(docs, work)
        oa_rate = oa["docs"] / (oa["wrap_s"] + oa["sign_s"])
        print(
            f"baseline OpenAttestation v2: wrapped {oa['docs']} in {oa['wrap_s']:.1f} s, "
            f"signed in {oa['sign_s']:.1f} s: {oa_rate:,.0f} docs/s (wrap + sign only; "
            "no storage, no log)"
        )
        print(f"ratio (ours / OpenAttestation, per document): {rate / oa_rate:.2f}")
        report(
            "licence",
            {
                "licences": n,
                "licences_per_s": round(rate, 1),
                "floor_ecdsa_sign_per_s": round(floor["ecdsa_sign_per_s"], 1),
                "floor_sha256_per_s": round(floor["sha256_per_s"], 1),
                "floor_sqlite_insert_per_s": round(floor["sqlite_insert_per_s"], 1),
                "floor_durable_write_per_s": round(floor["durable_write_per_s"], 1),
                "peak_rss_mib": round(peak_rss_mb(), 1),
                "pdfs": n_pdf,
                "pdfs_per_s": round(n_pdf / pdf_s, 2),
                "pdfs_per_s_2_processes": round(n_pdf / pdf2_s, 2),
                "openattestation_docs": oa["docs"],
                "openattestation_docs_per_s": round(oa_rate, 1),
            },
            "OpenAttestation 6.9 (npm) wrapDocuments + signDocument (secp256k1), same documents",
            rate / oa_rate,
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
