"""The README's benchmark table is generated from the benchmarks' closing JSON lines."""

from __future__ import annotations

import json
from pathlib import Path

from bench.table import collect, last_result, table


def test_table_rows_come_from_the_last_json_line_of_each_log(tmp_path: Path) -> None:
    old = {"bench": "verify", "figures": {"per_s": 1.0}, "baseline": "OA", "ratio": 0.5}
    new = {
        "bench": "verify",
        "figures": {"per_s": 3337.0},
        "baseline": "OA | 1 process",
        "ratio": 0.99,
    }
    (tmp_path / "verify.log").write_text(
        "warming up\n" + json.dumps(old) + "\nnoise {not json\n" + json.dumps(new) + "\n"
    )
    quick = {"bench": "ingest", "figures": {"rows": 20014}, "baseline": "pandas", "ratio": 0.41}
    (tmp_path / "ingest-quick.log").write_text(json.dumps(quick) + "\n")
    (tmp_path / "broken.log").write_text("Traceback (most recent call last):\n")
    (tmp_path / "verify-experiment.log").write_text(json.dumps(old) + "\n")  # not make's

    rows = table(collect(tmp_path)).splitlines()
    assert len(rows) == 4  # header, rule, two benchmarks; the broken log gives no row
    assert rows[2].startswith("| `ingest` | rows 20,014 | pandas | 0.41 |")
    assert rows[2].endswith("`.venv/bin/python -m bench.ingest --quick` |")
    assert "per_s 3,337" in rows[3] and "| 0.99 |" in rows[3]
    assert "OA / 1 process" in rows[3]  # a pipe in a cell would break the table
    assert rows[3].endswith("`.venv/bin/python -m bench.verify` |")
    assert last_result(["nothing here"]) is None


def test_a_baseline_given_as_figures_shows_them_like_the_figures(tmp_path: Path) -> None:
    # bench.province compares a size with the same stages at a tenth of it: its baseline is
    # that size's figures, shown as figures, not as a Python dict
    result = {
        "bench": "province",
        "figures": {"persons": 1_000_000, "ingest_s": 117.05, "ingest": {"seconds": 117.05}},
        "baseline": {"persons": 100_000, "ingest_s": 13.3, "ingest": {"seconds": 13.3}},
        "ratio": 8.8,
    }
    (tmp_path / "province.log").write_text(json.dumps(result) + "\n")
    row = table(collect(tmp_path)).splitlines()[2]
    assert row.startswith("| `province` | persons 1,000,000; ingest_s 117 | persons 100,000; ")
    assert "ingest_s 13.3 | 8.8 |" in row and "{" not in row
