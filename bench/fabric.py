"""Benchmark the Fabric anchor: latency per checkpoint, and batching many entries per transaction.

Needs the local network (`scripts/fabric.sh up`; its settings are read from var/fabric/hub.env).
Figures: anchor latency median/p95 over N successive checkpoints; one transaction anchoring a
checkpoint that covers 100,000 log entries, against one transaction per entry (50 measured in
the same run, extrapolated to 100,000).
"""

from __future__ import annotations

import statistics
import time
import uuid
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bench._common import parse_args, peak_rss_mb, report
from hub.settings import Settings
from ledger.fabric_anchor import FabricAnchor, network_settings
from ledger.merkle import MemoryTree
from ledger.note import Checkpoint, Signer, sign_checkpoint

REPO = Path(__file__).resolve().parents[1]


def connect(origin: str, signer: Signer) -> FabricAnchor:
    env_file = REPO / "var" / "fabric" / "hub.env"
    if not env_file.exists():
        raise SystemExit("no local Fabric network: run `scripts/fabric.sh up` first")
    settings = Settings(**network_settings(env_file))
    return FabricAnchor.from_settings(settings, origin, signer.vkey())


def anchor_series(entries_per_checkpoint: int, count: int) -> tuple[list[float], int]:
    """Anchor `count` successive checkpoints of a fresh log; returns latencies and final size."""
    origin = f"bench.hub.local/fabric-{uuid.uuid4().hex[:12]}"
    signer = Signer(origin, Ed25519PrivateKey.generate())
    backend = connect(origin, signer)
    backend.register()
    tree = MemoryTree()
    last = 0
    latencies = []
    try:
        for _ in range(count):
            for _ in range(entries_per_checkpoint):
                tree.append(f"licence {tree.size}".encode())
            size = tree.size
            root = tree.root(size)
            note = sign_checkpoint(Checkpoint(origin, size, root), signer)
            proof = tree.consistency_proof(last, size) if last else []
            start = time.perf_counter()
            backend.anchor(note, size, root, proof)
            latencies.append(time.perf_counter() - start)
            last = size
    finally:
        backend.close()
    return latencies, tree.size


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def main() -> None:
    args = parse_args(__doc__ or "")
    checkpoints = 10 if args.quick else 50
    batch = 10_000 if args.quick else 100_000

    # Latency: successive checkpoints each adding a handful of entries.
    latencies, _ = anchor_series(20, checkpoints)
    median, tail = statistics.median(latencies), p95(latencies)
    print(f"anchor latency over {checkpoints} checkpoints: median {median:.3f} s, p95 {tail:.3f} s")

    # Baseline: one transaction per entry (each checkpoint covers one new entry).
    per_entry, _ = anchor_series(1, checkpoints)
    per_entry_s = sum(per_entry) / len(per_entry)
    extrapolated = per_entry_s * batch
    print(
        f"one transaction per entry: {per_entry_s:.3f} s each over {checkpoints} measured; "
        f"{batch:,} entries would take {extrapolated:,.0f} s ({extrapolated / 3600:.1f} h)"
    )

    # Ours: one transaction covering the whole batch (a checkpoint of `batch` entries).
    batched, size = anchor_series(batch, 1)
    print(f"one transaction covering {size:,} entries: {batched[0]:.3f} s")
    print(f"peak memory {peak_rss_mb():.0f} MiB")
    report(
        "fabric",
        {
            "checkpoints": checkpoints,
            "latency_median_s": round(median, 4),
            "latency_p95_s": round(tail, 4),
            "entries_per_batch_tx": size,
            "batch_tx_s": round(batched[0], 4),
            "per_entry_tx_s": round(per_entry_s, 4),
            "per_entry_extrapolated_s": round(extrapolated, 1),
            "peak_rss_mb": round(peak_rss_mb(), 1),
        },
        f"one Fabric transaction per entry ({checkpoints} measured, extrapolated to {batch:,})",
        extrapolated / batched[0],
    )


if __name__ == "__main__":
    main()
