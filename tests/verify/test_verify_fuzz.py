"""The verify_input fuzz target runs for a bounded time and nothing escapes as a crash."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TARGET = Path(__file__).with_name("fuzz_verify.py")
SEEDS = [
    "licence/valid.json",
    "licence/disclosed-with-receipt.json",
    "licence/bare-without-receipt.json",
    "receipt/index-1e400.json",
    "checkpoint/extra-signature-by-unknown-key.json",
    "qr/valid.txt",
]


def test_fuzz_verify_input_briefly(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in SEEDS:  # start from genuine and tampered vectors, so every check is reached
        shutil.copy(REPO / "tests" / "vectors" / name, corpus / name.replace("/", "-"))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [
            sys.executable,
            str(TARGET),
            "-atheris_runs=40000",
            "-max_total_time=25",
            "-seed=1",
            f"-artifact_prefix={tmp_path}/",
            str(corpus),
        ],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Done " in done.stderr
    assert not list(tmp_path.glob("crash-*"))
