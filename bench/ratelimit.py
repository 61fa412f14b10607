"""Benchmark: one rate-limit take on the hot path, shared in PostgreSQL against in memory.

Measures :meth:`api.ratelimit.SharedRateLimiter.take` (one ``INSERT … ON CONFLICT DO UPDATE …
RETURNING`` on an unlogged table, asynchronous commit) from one thread and from several threads
taking from one client's bucket at once (the row lock serialises them), and
:meth:`api.clients.RateLimiter.take` (a dict under a lock) for scale. PostgreSQL comes from
``--database-url``, ``HUB_DATABASE_URL`` or ``var/services/env`` (``make services-up``).

Usage: ``python -m bench.ratelimit [--quick] [--takes N] [--threads N]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time


def _server_url(explicit: str | None) -> str:
    """The hub's PostgreSQL URL from the flag, the environment or ``var/services/env``."""
    import os

    from bench._common import services_env

    url = (
        explicit
        or os.environ.get("HUB_DATABASE_URL", "")
        or services_env().get("HUB_DATABASE_URL", "")
    )
    if not url.startswith("postgresql"):
        raise SystemExit("no PostgreSQL URL: pass --database-url or run `make services-up`")
    return url


def _timed(take: object, n: int) -> list[float]:
    out = []
    for i in range(n):
        t = time.perf_counter()
        take(f"bench-{i % 8}", 1e9)  # type: ignore[operator]
        out.append(time.perf_counter() - t)
    return out


def main(argv: list[str] | None = None) -> dict[str, float]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--database-url", default=None)
    p.add_argument("--takes", type=int, default=5000)
    p.add_argument("--threads", type=int, default=4)
    p.add_argument("--quick", action="store_true", help="1,000 takes")
    args = p.parse_args(argv)
    if args.quick:
        args.takes = 1000

    from sqlalchemy import create_engine

    from api.clients import RateLimiter
    from api.ratelimit import SharedRateLimiter

    shared = SharedRateLimiter(create_engine(_server_url(args.database_url)))
    shared.take("warm-up", 1e9)
    one = _timed(shared.take, args.takes)
    memory = _timed(RateLimiter().take, args.takes)

    contended: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        got = []
        for _ in range(args.takes // args.threads):
            t = time.perf_counter()
            shared.take("bench-hot", 1e9)
            got.append(time.perf_counter() - t)
        with lock:
            contended.extend(got)

    threads = [threading.Thread(target=worker) for _ in range(args.threads)]
    wall = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - wall
    shared.close()

    def q(xs: list[float], f: float) -> float:
        return round(sorted(xs)[int(f * (len(xs) - 1))] * 1e6, 1)

    result = {
        "postgres_take_median_us": round(statistics.median(one) * 1e6, 1),
        "postgres_take_p99_us": q(one, 0.99),
        "postgres_one_bucket_threads": args.threads,
        "postgres_one_bucket_median_us": round(statistics.median(contended) * 1e6, 1),
        "postgres_one_bucket_p99_us": q(contended, 0.99),
        "postgres_one_bucket_takes_per_s": round(len(contended) / wall),
        "memory_take_median_us": round(statistics.median(memory) * 1e6, 2),
    }
    print(json.dumps(result, indent=2))
    print(
        json.dumps(
            {
                "bench": "ratelimit",
                "figures": result,
                "baseline": "in-memory token bucket of one process",
                "ratio": round(
                    result["memory_take_median_us"] / result["postgres_take_median_us"], 4
                ),
            }
        )
    )
    return result


if __name__ == "__main__":
    main()
