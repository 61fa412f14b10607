"""Benchmark: sealed licence issuance (sealed, stored, logged, sequenced) and sealed PDFs,
against OpenAttestation wrapping and signing the same documents in the same run.

    python -m bench.licence            # 100,000 licences, 200 PDFs, 10,000 OpenAttestation docs
    python -m bench.licence --quick    # 2,000 / 20 / 1,000
    python -m bench.licence --api-only # only the API path below (20,000 over HTTP; 2,000 quick)
    python -m bench.licence --governance   # governance: 1,000,000 persons, 100,000 licences
    python -m bench.licence --governance --quick   # 100,000 persons, 10,000 licences

The API path: a real ``hub serve``-like uvicorn server (a child process, the audit and the
ledger's sequencer running in the background as in production) and an issuing client bound to
the authority: ``POST /v1/batch/licences`` with 1,000 licences per request and an
Idempotency-Key (sealed, stored, logged, audited per holder), one request after the other,
then single ``POST /v1/licences`` requests one after the other for their latency (p50, p99).

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
their sealed bytes (one file per batch, fsynced with its folder: the two fsyncs the embedded
object store's pack of a batch costs).
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
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import _http as httpkit
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


def issue_all(svc: Any, batches: Iterable[list[Any]], n: int) -> float:
    """Issue every batch (stored, logged), sequencing and attaching receipts every
    :data:`SEQUENCE_EVERY` batches as the background sequencer would; the seconds it took, all
    ``n`` licences with their receipts (checked)."""
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
    seconds = time.perf_counter() - start
    assert issued == attached == n, f"{issued} issued, {attached} receipts for {n} licences"
    return seconds


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
    con.execute("CREATE TABLE entries (idx INTEGER PRIMARY KEY, data BLOB NOT NULL)")
    values = [tuple(str(v) if isinstance(v, datetime) else v for v in r.values()) for r in rows]
    logged = [(i, data) for _, i, data in entries]
    licence_sql = f"INSERT INTO licences VALUES ({', '.join('?' * len(cols))})"
    start = time.perf_counter()
    for lo in range(0, len(rows), BATCH):
        con.execute("BEGIN")
        con.executemany(licence_sql, values[lo : lo + BATCH])
        con.executemany("INSERT INTO entries VALUES (?, ?)", logged[lo : lo + BATCH])
        con.execute("COMMIT")
    insert_s = time.perf_counter() - start
    con.close()
    folder = work / "floor-objects"
    folder.mkdir()
    dir_fd = os.open(folder, os.O_RDONLY)
    start = time.perf_counter()
    for lo in range(0, len(raws), BATCH):
        with open(folder / f"{lo}.batch", "wb") as fh:
            fh.writelines(raws[lo : lo + BATCH])
            fh.flush()
            os.fsync(fh.fileno())
        os.fsync(dir_fd)
    write_s = time.perf_counter() - start
    os.close(dir_fd)
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


def _serve(home: Path, port: int) -> None:
    """Child process: the API over the benchmark's hub, as ``hub serve`` runs it."""
    import uvicorn

    from hub.wiring import api_app

    app = api_app(Settings(home=home, key_passphrase="bench"), background=True)
    uvicorn.run(app, host="127.0.0.1", port=port, access_log=False, log_level="warning")


def _api_path(
    settings: Settings, svc: Any, holders: list[tuple[str, str]], n: int, singles: int
) -> dict[str, float]:
    """Batch issuance over HTTP (licences/s) and single issuance latency (ms), on a server."""
    import datetime as dt
    import signal
    import statistics
    import sys

    import httpx

    from api.clients import ClientStore

    clients = ClientStore(library_engine(settings.db_url))
    client_id = f"bench-issuer-{os.getpid()}"
    key = clients.add(client_id, "benchmark issuing system", rate_limit=1e9)
    until = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    clients.grant(client_id, "issue", "licence-issuance", until, ["business_licence"])
    svc.store.bind_client(client_id, AUTHORITY)

    def item(i: int) -> dict[str, Any]:
        holder, name = holders[i % len(holders)]
        return {
            "type": "business_licence",
            "holder": {"id": holder, "name": name},
            "fields": synth_fields(i),
        }

    port = httpkit.free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "bench.licence", "--serve", str(settings.home), str(port)]
    )
    headers = {"Authorization": f"Bearer {key}", "X-Purpose": "licence-issuance"}
    try:
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=300
        ) as http:
            deadline = time.time() + 60
            while True:
                try:
                    if http.get("/v1/health").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.time() > deadline:
                    raise RuntimeError("the API server did not come up")
                time.sleep(0.2)
            warm = http.post("/v1/batch/licences", json={"items": [item(0)] * 10})
            assert warm.status_code == 200, warm.text
            start = time.perf_counter()
            for lo in range(0, n, BATCH):
                items = [item(i) for i in range(lo, min(n, lo + BATCH))]
                r = http.post(
                    "/v1/batch/licences",
                    json={"items": items},
                    headers={"Idempotency-Key": f"bench-{os.getpid()}-{lo}"},
                )
                assert r.status_code == 200 and r.json()["issued"] == len(items), r.text[:300]
            batch_s = time.perf_counter() - start
            latencies = []
            for i in range(singles):
                t0 = time.perf_counter()
                r = http.post(
                    "/v1/licences",
                    json=item(i),
                    headers={"Idempotency-Key": f"bench-{os.getpid()}-one-{i}"},
                )
                latencies.append((time.perf_counter() - t0) * 1000)
                assert r.status_code == 201, r.text[:300]
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
    latencies.sort()
    return {
        "http_batch_licences_per_s": n / batch_s,
        "http_single_p50_ms": statistics.median(latencies),
        "http_single_p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
    }


def _api_only(args: argparse.Namespace) -> None:
    n, singles = (2_000, 100) if args.quick else (20_000, 1_000)
    if args.work_dir is not None:
        args.work_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="bench-licence-api-", dir=args.work_dir))
    try:
        settings = Settings(home=work / "hub", key_passphrase="bench")
        svc = open_service(settings)
        svc.ensure_ca()
        svc.create_seal(AUTHORITY)
        holders = synth_holders(min(n, 10_000))
        LibraryStore(library_engine(settings.db_url)).merge(
            "legal-entity",
            "bench",
            "samr.entities",
            datetime.now(UTC),
            [h for h, _ in holders],
            {"entity_name": [name for _, name in holders]},
        )
        api = _api_path(settings, svc, holders, n, singles)
        _print_api(n, singles, api)
        report(
            "licence-api",
            {"licences": n, "singles": singles, **{k: round(v, 1) for k, v in api.items()}},
            "the same issuance in process (python -m bench.licence)",
            1.0,
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _governance(args: argparse.Namespace) -> None:
    """A governance run over the population library and valid licences held by persons, with
    1 % deaths and 1 % renames planted after issue: the run's time, and every planted change
    found (nothing else)."""
    import random

    from licence.governance import HOLDER_DIED, NAME_CHANGED
    from licence.governance_run import run_governance
    from licence.samples import HUAINAN_ISSUERS, sample_fields
    from storage.library import POPULATION

    persons, n = (100_000, 10_000) if args.quick else (1_000_000, 100_000)
    if args.work_dir is not None:
        args.work_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="bench-governance-", dir=args.work_dir))
    try:
        settings = Settings(home=work / "hub", key_passphrase="bench")
        svc = open_service(settings)
        svc.ensure_ca()
        issuer = HUAINAN_ISSUERS["household_register"]
        svc.create_seal(issuer)
        library = LibraryStore(library_engine(settings.db_url))
        ids = httpkit.ids(persons)
        rng = random.Random(7)
        names = {i: "王李张刘陈"[k % 5] + "建华秀英志强"[k % 6] + str(k) for k, i in enumerate(ids)}
        t = time.perf_counter()

        def chunks(size: int = 50_000) -> Any:
            for lo in range(0, len(ids), size):
                part = ids[lo : lo + size]
                yield list(part), {"name": [names[i] for i in part]}

        library.merge_chunks(
            POPULATION, "ps-1", "ps_household", datetime(2026, 1, 5, tzinfo=UTC), chunks(), ["name"]
        )
        load_s = time.perf_counter() - t
        holders = rng.sample(ids, n)
        t = time.perf_counter()
        batches = (
            [
                IssueRequest(
                    "household_register",
                    issuer,
                    Holder(h, names[h]),
                    sample_fields("household_register", k, h),
                )
                for k, h in enumerate(holders[lo : lo + BATCH], start=lo)
            ]
            for lo in range(0, n, BATCH)
        )
        svc.issue_batches(
            batches, lambda k: svc.ledger.sequence() if (k + 1) % SEQUENCE_EVERY == 0 else None
        )
        svc.ledger.sequence()
        issue_s = time.perf_counter() - t
        dead = holders[: n // 100]
        renamed = holders[n // 100 : n // 50]
        library.merge(
            POPULATION,
            "ca-2",
            "ca_marriage_death",
            datetime(2026, 2, 5, tzinfo=UTC),
            sorted(dead),
            {"deceased": ["1"] * len(dead)},
            ["deceased"],
        )
        library.merge(
            POPULATION,
            "ps-2",
            "ps_household",
            datetime(2026, 2, 6, tzinfo=UTC),
            sorted(renamed),
            {"name": [names[h] + "新" for h in sorted(renamed)]},
            ["name"],
        )
        t = time.perf_counter()
        result = run_governance(svc, library)
        gov_s = time.perf_counter() - t
        found = {(f.holder_id, f.kind) for f in result.findings}
        planted = {(h, HOLDER_DIED) for h in dead} | {(h, NAME_CHANGED) for h in renamed}
        assert found == planted, f"{len(found ^ planted)} findings differ from those planted"
        print(
            f"governance: {persons:,} persons (loaded in {load_s:.1f} s), {n:,} valid licences "
            f"(issued in {issue_s:.1f} s), {len(planted):,} planted changes all found and nothing "
            f"else, in {gov_s:.1f} s (read, compare, store the findings with their evidence)"
        )
        report(
            "licence-governance",
            {
                "persons": persons,
                "licences": n,
                "findings": len(result.findings),
                "governance_s": round(gov_s, 2),
            },
            "none (the issue's target: 1,000,000 persons and 100,000 licences in < 30 s)",
            gov_s / 30.0,
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _print_api(n: int, singles: int, api: dict[str, float]) -> None:
    print(
        f"API: issued {n} licences over HTTP in batches of {BATCH} (POST /v1/batch/licences, "
        f"Idempotency-Key, audited per holder): {api['http_batch_licences_per_s']:,.0f} "
        f"licences/s; {singles} single POST /v1/licences one after the other: p50 "
        f"{api['http_single_p50_ms']:.1f} ms, p99 {api['http_single_p99_ms']:.1f} ms"
    )


def main() -> None:
    import sys

    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        _serve(Path(sys.argv[2]), int(sys.argv[3]))
        return

    def extra(p: argparse.ArgumentParser) -> None:
        p.add_argument("--api-only", action="store_true", help="only the API path")
        p.add_argument("--governance", action="store_true", help="only the governance run")
        p.add_argument("--licences", type=int, help="licences to issue (a size between)")
        p.add_argument(
            "--work-dir",
            type=Path,
            default=None,
            help="folder for the benchmark's HUB_HOME (default: the system temporary folder)",
        )

    args = parse_args(__doc__ or "", extra)
    if args.api_only:
        _api_only(args)
        return
    if args.governance:
        _governance(args)
        return
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

        issue_s = issue_all(svc, batches, n)
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

        n_api, singles = (2_000, 100) if args.quick else (20_000, 1_000)
        api = _api_path(settings, svc, holders, n_api, singles)
        _print_api(n_api, singles, api)

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
                **{k: round(v, 1) for k, v in api.items()},
            },
            "OpenAttestation 6.9 (npm) wrapDocuments + signDocument (secp256k1), same documents",
            rate / oa_rate,
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
