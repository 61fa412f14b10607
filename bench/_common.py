"""Shared helpers for benchmarks: argument parsing, timing medians, peak memory, the JSON line."""

from __future__ import annotations

import argparse
import json
import resource
import shlex
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def parse_args(
    description: str, extra: Callable[[argparse.ArgumentParser], None] | None = None
) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="small size for a smoke run")
    if extra:
        extra(parser)
    return parser.parse_args()


def timed(fn: Callable[[], Any], repeat: int = 1) -> tuple[float, Any]:
    """Median wall time over ``repeat`` runs and the last result."""
    times = []
    result = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB.

    Linux's ``ru_maxrss`` keeps the high-water mark across fork and exec, so a benchmark child
    started by a big parent would report the parent's peak; the kernel's ``VmHWM`` belongs to
    this process's own address space. ``ru_maxrss`` where /proc is missing.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def report(
    name: str, figures: dict[str, Any], baseline: str | dict[str, Any], ratio: float
) -> None:
    """Print the closing JSON line every benchmark ends with (``baseline``: what the figures
    are compared with, or that baseline's own figures)."""
    print(
        json.dumps(
            {"bench": name, "figures": figures, "baseline": baseline, "ratio": round(ratio, 2)},
            ensure_ascii=False,
        )
    )


SERVICES_ENV = Path(__file__).resolve().parents[1] / "var" / "services" / "env"


def services_env(path: Path = SERVICES_ENV) -> dict[str, str]:
    """The ``export NAME='value'`` lines of the services tier's env file (written by
    ``scripts/services.sh up``) as a mapping; empty when the file is missing."""
    env: dict[str, str] = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            words = shlex.split(line, comments=True)
            if len(words) == 2 and words[0] == "export" and "=" in words[1]:
                name, value = words[1].split("=", 1)
                env[name] = value
    return env
