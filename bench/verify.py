"""Benchmark: verifying sealed JSON licences (integrity + seal signature + ledger receipt and
checkpoint) from a trust bundle, against OpenAttestation's ``verifySignature`` on the same
number of documents of the same content, in the same run.

    python -m bench.verify            # 10,000 licences
    python -m bench.verify --quick    # 1,000

Each verification starts from the bytes a verifier receives (the licence with its receipt as
JSON) and ends with the report; the context is the offline one (no database, no network), as at
a service window. Also measured: two worker processes (the machine has two cores) and the full
policy (every check, including certificate chain, seal status, authority and status snapshot).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench._common import parse_args, peak_rss_mb, report, timed
from bench.licence import AUTHORITY, BATCH, _fields, _holders
from hub.commands.licence import open_service
from hub.settings import Settings
from licence.service import Holder, IssueRequest, ledger_receipts
from licence.trust import export_bundle, offline_context
from licence.verify import CORE_POLICY, OFFLINE_POLICY, TOTAL_PASSED, verify_input
from storage.library import LibraryStore
from storage.library import engine_for as library_engine

ROOT = Path(__file__).resolve().parents[1]
ROUNDS = 3
_worker_ctx: Any = None


def _openattestation(docs: list[dict[str, str]], work: Path) -> dict[str, float]:
    """OpenAttestation wraps and signs (untimed), then times verifySignature per document."""
    subprocess.run(["bash", str(ROOT / "bench/openattestation/setup.sh")], check=True)
    path = work / "oa.jsonl"
    path.write_text("\n".join(json.dumps(d, ensure_ascii=False) for d in docs) + "\n")
    env = {**os.environ, "NODE_PATH": str(ROOT / ".cache/node/node_modules")}
    out = subprocess.run(
        ["node", str(ROOT / "bench/openattestation/verify.js"), str(path), str(ROUNDS)],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    ).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


_worker_files: list[bytes] = []


def _init_worker(bundle: dict[str, Any], files: list[bytes]) -> None:
    global _worker_ctx, _worker_files
    _worker_ctx = offline_context(bundle, bundle["log_keys"])  # the bench's own export
    _worker_files = files  # sent once per worker; each task then names a slice only


def _verify_chunk(bounds: tuple[int, int]) -> int:
    return sum(
        verify_input(d, _worker_ctx, CORE_POLICY).verdict == TOTAL_PASSED
        for d in _worker_files[bounds[0] : bounds[1]]
    )


def _issue(svc: Any, settings: Settings, n: int) -> list[str]:
    holders = _holders(n)
    LibraryStore(library_engine(settings.db_url)).merge(
        "legal-entity",
        "bench",
        "samr.entities",
        datetime.now(UTC),
        [h for h, _ in holders],
        {"entity_name": [name for _, name in holders]},
    )
    ids: list[str] = []
    for lo in range(0, n, BATCH):
        docs = svc.issue_many(
            [
                IssueRequest("business_licence", AUTHORITY, Holder(*holders[i]), _fields(i))
                for i in range(lo, min(n, lo + BATCH))
            ]
        )
        ids += [d["header"]["licence_id"] for d in docs]
    svc.ledger.sequence()
    svc.attach_receipts(ledger_receipts(svc.ledger))
    return ids


def main() -> None:
    args = parse_args(__doc__ or "")
    n = 1_000 if args.quick else 10_000
    work = Path(tempfile.mkdtemp(prefix="bench-verify-"))
    try:
        settings = Settings(home=work / "hub", key_passphrase="bench")
        svc = open_service(settings)
        svc.ensure_ca()
        svc.create_seal(AUTHORITY)
        t = time.perf_counter()
        ids = _issue(svc, settings, n)
        print(f"set-up: issued and sequenced {n:,} licences in {time.perf_counter() - t:.1f} s")
        # what `hub trust receipt` writes for each licence (read in bulk: the index has them)
        receipts = {r["licence_id"]: r["receipt"] for r in svc.store.licences()}
        files = [
            json.dumps(
                {"licence": svc.document(lid), "receipt": json.loads(receipts[lid])},
                ensure_ascii=False,
            ).encode()
            for lid in ids
        ]
        bundle = json.loads(json.dumps(export_bundle(svc)))
        mean_kib = sum(map(len, files)) / len(files) / 1024

        ctx = offline_context(bundle, bundle["log_keys"])  # pinned: the bench's own export
        verify_input(files[0], ctx, CORE_POLICY)  # warm: certificate and checkpoint caches

        def one_pass() -> int:
            return sum(verify_input(d, ctx, CORE_POLICY).verdict == TOTAL_PASSED for d in files)

        # the machine is shared: the median of ROUNDS passes, as on the OpenAttestation side
        one_s, passed = timed(one_pass, ROUNDS)
        assert passed == n, f"only {passed} of {n} passed"
        rate = n / one_s
        print(
            f"ours, 1 process (median of {ROUNDS}): {n:,} licences ({mean_kib:.1f} KiB each) "
            "verified (integrity, seal signature, receipt, checkpoint) in "
            f"{one_s:.2f} s: {rate:,.0f}/s, "
            f"{one_s / n * 1e6:.0f} µs each"
        )

        workers = 2
        chunks = [(i, min(n, i + 500)) for i in range(0, n, 500)]
        with ProcessPoolExecutor(
            workers, initializer=_init_worker, initargs=(bundle, files)
        ) as pool:
            list(pool.map(_verify_chunk, chunks[:workers]))  # start and warm the workers
            par_s, passed = timed(lambda: sum(pool.map(_verify_chunk, chunks)), ROUNDS)
        assert passed == n
        par_rate = n / par_s
        print(
            f"ours, {workers} processes: {par_s:.2f} s: {par_rate:,.0f}/s "
            f"({par_s / n * 1e6:.0f} µs each)"
        )

        sample = files[: min(n, 2_000)]
        full_ctx = offline_context(bundle, bundle["log_keys"])
        start = time.perf_counter()
        for d in sample:
            full = verify_input(d, full_ctx, OFFLINE_POLICY)
        full_s = time.perf_counter() - start
        assert full.verdict == TOTAL_PASSED, full.to_text()
        full_rate = len(sample) / full_s
        print(
            f"ours, every check (offline policy, 12 checks), 1 process: {full_rate:,.0f}/s "
            f"({full_s / len(sample) * 1e6:.0f} µs each)"
        )

        holders = _holders(n)
        docs = [
            {
                "licence": lid,
                **_fields(i),
                "holder": holders[i][1],
                "holder_id": holders[i][0],
            }
            for i, lid in enumerate(ids)
        ]
        oa = _openattestation(docs, work)
        assert oa["valid"] == oa["docs"] == n
        oa_rate = oa["docs"] / oa["verify_s"]
        print(
            f"baseline OpenAttestation v2 verifySignature (node, 1 process, median of {ROUNDS}): "
            f"{oa['docs']:,} "
            f"in {oa['verify_s']:.2f} s: {oa_rate:,.0f}/s ({oa['verify_s'] / n * 1e6:.0f} µs "
            "each; integrity only: no signature, no ledger proof)"
        )
        print(f"ratio (ours / OpenAttestation, 1 process each): {rate / oa_rate:.2f}")
        print(f"peak RSS {peak_rss_mb():.0f} MiB")
        report(
            "verify",
            {
                "licences": n,
                "per_s_1_process": round(rate, 1),
                "us_each_1_process": round(one_s / n * 1e6, 1),
                f"per_s_{workers}_processes": round(par_rate, 1),
                "per_s_all_checks_1_process": round(full_rate, 1),
                "openattestation_per_s": round(oa_rate, 1),
                "openattestation_us_each": round(oa["verify_s"] / n * 1e6, 1),
                "peak_rss_mib": round(peak_rss_mb(), 1),
            },
            "OpenAttestation 6.9 (npm) verifySignature, same documents, same run, 1 process, "
            f"median of {ROUNDS} passes each",
            rate / oa_rate,
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
