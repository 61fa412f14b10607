"""Benchmark: the verdict a clerk gets, every check of the offline policy, from a trust bundle,
against OpenAttestation's ``verifySignature`` on the same number of documents of the same
content, in the same run.

    python -m bench.verify            # 10,000 licences
    python -m bench.verify --quick    # 1,000

Each verification starts from the bytes a verifier receives (the licence with its receipt as
JSON) and ends with the report; the context is the offline one (no database, no network), as at
a service window, with the pinned trust anchors. The headline is the full offline policy (12
checks: identifier, integrity, seal signature, certificate chain, seal status, authority, ledger
inclusion, checkpoint, anchor, status as of checkpoint, validity, freshness). Also measured: the
four-check cryptographic core (integrity, seal signature, receipt, checkpoint), two worker
processes (the machine has two cores), and the online policy (``verify_online``: a context over
the live stores per request, as the API builds it). Each figure is printed next to its floor on
this machine in the same run: one bare ECDSA P-256 verification of the same signed header and
one bare SHA-256 of the same file bytes. The machine may be shared: the load average before
and after the timed passes is printed, and the one-process figure also as this process's CPU
time per licence (the wall time includes waiting for a core), next to the bare ECDSA verify's;
OpenAttestation's CPU time is printed too, and the ratio of the two CPU times beside the wall
ratio.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from bench._common import parse_args, peak_rss_mb, report, timed
from bench.licence import AUTHORITY, BATCH, synth_fields, synth_holders
from hub.commands.licence import open_service
from hub.settings import Settings
from licence import document
from licence.issuance import Holder, IssueRequest
from licence.receipts import ledger_receipts
from licence.trust import export_bundle, offline_context, verify_online
from licence.verify import CORE_POLICY, OFFLINE_POLICY, TOTAL_PASSED, load_certificate, verify_input
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
        verify_input(d, _worker_ctx, OFFLINE_POLICY).verdict == TOTAL_PASSED
        for d in _worker_files[bounds[0] : bounds[1]]
    )


def _timed_cpu(fn: Callable[[], Any], repeat: int) -> tuple[float, float, Any]:
    """Median wall time and median CPU time of this process over ``repeat`` runs, and the
    last result: on a shared machine the wall time includes waiting for a core."""
    walls, cpus, result = [], [], None
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        result = fn()
        cpus.append(time.process_time() - cpu)
        walls.append(time.perf_counter() - wall)
    return statistics.median(walls), statistics.median(cpus), result


def _floors(files: list[bytes]) -> tuple[float, float, float]:
    """Seconds per licence of one bare ECDSA P-256 verification of its signed header (key
    loaded once, as a verifier keeps it; wall and CPU time) and of one bare SHA-256 of its
    file bytes (medians)."""
    docs = [json.loads(f)["licence"] for f in files]
    key = load_certificate(docs[0]["signature"]["certificate"]).public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    signed = [
        (base64.b64decode(d["signature"]["value"]), document.canonical(d["header"])) for d in docs
    ]
    ecdsa = ec.ECDSA(hashes.SHA256())

    def verify_all() -> None:
        for sig, data in signed:
            key.verify(sig, data, ecdsa)

    ecdsa_s, ecdsa_cpu, _ = _timed_cpu(verify_all, ROUNDS)
    sha_s, _ = timed(lambda: [hashlib.sha256(f).digest() for f in files], ROUNDS)
    return ecdsa_s / len(files), ecdsa_cpu / len(files), sha_s / len(files)


def _line(label: str, seconds: float, count: int, floor_s: float) -> str:
    each = seconds / count
    return (
        f"{label}: {count / seconds:,.0f}/s ({each * 1e6:.0f} µs each; "
        f"floor {floor_s * 1e6:.0f} µs, {each / floor_s:.1f}× it)"
    )


def _issue(svc: Any, settings: Settings, n: int) -> list[str]:
    holders = synth_holders(n)
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
                IssueRequest("business_licence", AUTHORITY, Holder(*holders[i]), synth_fields(i))
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
        load_start = os.getloadavg()[0]  # the machine may be shared: say how loaded it was
        ecdsa_s, ecdsa_cpu, sha_s = _floors(files)
        floor_s = ecdsa_s + sha_s
        print(
            f"floor on this machine (median of {ROUNDS}): bare ECDSA P-256 verify of the signed "
            f"header {ecdsa_s * 1e6:.0f} µs + bare SHA-256 of the file {sha_s * 1e6:.1f} µs = "
            f"{floor_s * 1e6:.0f} µs ({1 / floor_s:,.0f}/s)"
        )

        def one_pass(policy: Any) -> int:
            return sum(verify_input(d, ctx, policy).verdict == TOTAL_PASSED for d in files)

        # warm: the certificate chain, the opened checkpoints and the status list, which all
        # licences of the run share (memoised per context, keyed by their exact bytes)
        verify_input(files[0], ctx, OFFLINE_POLICY)
        # the machine is shared: the median of ROUNDS passes, as on the OpenAttestation side
        full_s, full_cpu, passed = _timed_cpu(lambda: one_pass(OFFLINE_POLICY), ROUNDS)
        assert passed == n, f"only {passed} of {n} passed every check"
        rate = n / full_s
        print(
            _line(
                f"ours, every check (offline policy, 12 checks), 1 process (median of {ROUNDS}), "
                f"{n:,} licences ({mean_kib:.1f} KiB each)",
                full_s,
                n,
                floor_s,
            )
        )
        print(
            f"  CPU time of this process: {full_cpu / n * 1e6:.0f} µs each ({n / full_cpu:,.0f}/s "
            f"of CPU), against {ecdsa_cpu * 1e6:.0f} µs of CPU for the bare ECDSA verify alone"
        )
        core_s, passed = timed(lambda: one_pass(CORE_POLICY), ROUNDS)
        assert passed == n, f"only {passed} of {n} passed"
        core_rate = n / core_s
        print(
            _line(
                "ours, four checks (integrity, seal signature, receipt, checkpoint), 1 process",
                core_s,
                n,
                floor_s,
            )
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
        print(_line(f"ours, every check, {workers} processes", par_s, n, floor_s / workers))

        sample = files[: min(n, 500)]
        verify_online(svc, sample[0])
        online_s, passed = timed(
            lambda: sum(verify_online(svc, d).verdict == TOTAL_PASSED for d in sample), ROUNDS
        )
        assert passed == len(sample), f"only {passed} of {len(sample)} passed online"
        online_rate = len(sample) / online_s
        print(
            _line(
                f"ours, online policy (11 checks against the live stores, a context per "
                f"request as the API builds it), 1 process, {len(sample):,} licences",
                online_s,
                len(sample),
                floor_s,
            )
        )

        holders = synth_holders(n)
        docs = [
            {
                "licence": lid,
                **synth_fields(i),
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
        oa_cpu = oa["verify_cpu_s"] / n
        cpu_ratio = oa_cpu / (full_cpu / n)
        print(
            f"  its CPU time: {oa_cpu * 1e6:.0f} µs each ({1 / oa_cpu:,.0f}/s of CPU), node's "
            "helper threads included"
        )
        print(
            f"ratio (ours, every check / OpenAttestation, 1 process each): {rate / oa_rate:.2f} "
            f"(four checks: {core_rate / oa_rate:.2f}); by CPU time per document, which a "
            f"loaded machine does not skew: {cpu_ratio:.2f}"
        )
        load_end = os.getloadavg()[0]
        print(
            f"load average (1 min): {load_start:.1f} before the timed passes, {load_end:.1f} after"
        )
        print(f"peak RSS {peak_rss_mb():.0f} MiB")
        report(
            "verify",
            {
                "licences": n,
                "per_s_1_process": round(rate, 1),
                "us_each_1_process": round(full_s / n * 1e6, 1),
                "cpu_us_each_1_process": round(full_cpu / n * 1e6, 1),
                f"per_s_{workers}_processes": round(par_rate, 1),
                "per_s_four_checks_1_process": round(core_rate, 1),
                "per_s_online_1_process": round(online_rate, 1),
                "floor_ecdsa_verify_us": round(ecdsa_s * 1e6, 1),
                "floor_ecdsa_verify_cpu_us": round(ecdsa_cpu * 1e6, 1),
                "floor_sha256_file_us": round(sha_s * 1e6, 2),
                "openattestation_per_s": round(oa_rate, 1),
                "openattestation_us_each": round(oa["verify_s"] / n * 1e6, 1),
                "openattestation_cpu_us_each": round(oa_cpu * 1e6, 1),
                "ratio_by_cpu_time": round(cpu_ratio, 2),
                "peak_rss_mib": round(peak_rss_mb(), 1),
                "load_average_1min": [round(load_start, 1), round(load_end, 1)],
            },
            "OpenAttestation 6.9 (npm) verifySignature, same documents, same run, 1 process, "
            f"median of {ROUNDS} passes each; ours: every check of the offline policy",
            rate / oa_rate,
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
