"""Crash safety with a real SIGKILL: no acknowledged entry is lost, the root matches the leaves."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import select

from hub.settings import Settings
from ledger import merkle
from ledger.merkle import MemoryTree
from ledger.service import LedgerService
from storage import ledger_store as db

REPO = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).with_name("ledger_crash_worker.py")


def _kill_after(home: Path, seconds: float) -> set[int]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, str(WORKER), str(home)], stdout=subprocess.PIPE, env=env, cwd=REPO
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()  # the worker is up and has acknowledged its first batch
    time.sleep(seconds)
    proc.send_signal(signal.SIGKILL)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    lines = [first, *out.splitlines()]
    return {int(line) for line in lines if line.strip().isdigit()}


def test_sigkill_loses_no_acknowledged_entry(tmp_path: Path) -> None:
    home = tmp_path / "hub"
    rng = random.Random(5)
    acked: set[int] = set()
    for _ in range(3):
        acked |= _kill_after(home, 0.3 + rng.random())
        svc = LedgerService.open(Settings(home=home, key_passphrase="crash-test"))
        with svc.engine.connect() as conn:
            rows = conn.execute(select(db.entries.c.idx, db.entries.c.data).order_by("idx")).all()
            ids = db.entry_id_map(conn)
        assert acked <= {ids.id_of(r.idx) for r in rows}, "an acknowledged entry was lost"
        latest = svc.latest_checkpoint()
        signed = 0 if latest is None else latest[0].size
        assert signed <= len(rows)
        tree = MemoryTree(merkle.leaf_hash(bytes(r.data)) for r in rows[:signed])
        # the sequencer commits nodes and checkpoint together: they agree with the entries
        # after a kill, and the entries after the checkpoint are the queue, still unsigned
        if latest is not None:
            assert latest[0].root == tree.root() == svc.root()
        assert all(svc.entry_index(ids.id_of(r.idx)) is None for r in rows[signed:])
    assert len(acked) > 50
    svc.sequence()
    assert all(svc.entry_index(i) is not None for i in acked)
