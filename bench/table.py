"""The README's benchmark table, generated from the benchmarks' own closing JSON lines.

Each benchmark ends with ``{"bench", "figures", "baseline", "ratio"}``. ``make bench`` (or
``make bench-full``) keeps every run's output in ``var/bench/<name>.log``; this module reads the
last JSON line of each and prints one Markdown row per benchmark with the command that
reproduces it: ``python -m bench.table [--dir var/bench]``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

LOGS = Path("var") / "bench"


def last_result(lines: Iterable[str]) -> dict[str, Any] | None:
    """The last line that is a benchmark's closing JSON object, if any."""
    found = None
    for line in lines:
        line = line.strip()
        if not (line.startswith("{") and '"bench"' in line):
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict) and {"bench", "figures", "baseline", "ratio"} <= obj.keys():
            found = obj
    return found


def _figures(figures: dict[str, Any]) -> str:
    def fmt(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:,.3g}" if abs(value) < 100 else f"{value:,.0f}"
        if isinstance(value, int):
            return f"{value:,}"
        return str(value)

    return "; ".join(f"{k} {fmt(v)}" for k, v in figures.items() if not isinstance(v, dict))


def table(results: Iterable[tuple[dict[str, Any], str]]) -> str:
    """Markdown rows: bench, figures, baseline, ratio, and the command (``quick`` or full)."""
    rows = [
        "| bench | figures | same-run baseline | ratio | reproduce |",
        "|---|---|---|---|---|",
    ]
    for result, size in results:
        name = result["bench"]
        command = f"`.venv/bin/python -m bench.{name}{' --quick' if size == 'quick' else ''}`"
        cells = [
            f"`{name}`",
            _figures(result["figures"]),
            (
                _figures(result["baseline"])
                if isinstance(result["baseline"], dict)  # the baseline's own figures
                else str(result["baseline"])
            ).replace("|", "/"),
            f"{result['ratio']}",
            command,
        ]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def collect(folder: Path) -> list[tuple[dict[str, Any], str]]:
    """(result, "quick" or "full") for every ``<name>.log`` / ``<name>-quick.log`` in folder."""
    out = []
    for log in sorted(folder.glob("*.log")):
        result = last_result(log.read_text(encoding="utf-8", errors="replace").splitlines())
        if result is None or log.stem not in (result["bench"], f"{result['bench']}-quick"):
            continue  # not a `make bench` / `make bench-full` log
        out.append((result, "quick" if log.stem.endswith("-quick") else "full"))
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=LOGS, help="where the benchmark logs are")
    args = parser.parse_args(argv)
    results = collect(args.dir)
    if not results:
        raise SystemExit(f"no benchmark results under {args.dir}: run `make bench` first")
    print(table(results))


if __name__ == "__main__":
    main()
