"""The atheris fuzz target runs cleanly for a bounded number of inputs (a brief smoke run)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TARGET = Path(__file__).with_name("fuzz_ledger.py")


def test_fuzz_target_runs_briefly() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, str(TARGET), "-atheris_runs=3000", "-seed=1"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Done 3000" in done.stderr
