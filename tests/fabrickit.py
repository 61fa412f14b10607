"""How tests reach the local Fabric network started by ``scripts/fabric.sh up``.

``fabric(command, *args)`` runs the script (failing the test with its output); ``fabric_settings()``
adds a test's own fields to the network's (``ledger.fabric_anchor.network_settings`` of
``var/fabric/hub.env``).
The session fixtures ``fabric_network`` and ``fabric_script`` (tests/conftest.py) use them.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from typing import Any

import pytest

from hub.settings import PROJECT_ROOT

SCRIPT = PROJECT_ROOT / "scripts" / "fabric.sh"
ENV_FILE = PROJECT_ROOT / "var" / "fabric" / "hub.env"


def run_script(
    command: str, *args: str, timeout: float = 1200, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run scripts/fabric.sh COMMAND ARGS... (with these environment variables added)."""
    return subprocess.run(
        ["bash", str(SCRIPT), command, *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def fabric(command: str, *args: str, timeout: float = 1200) -> subprocess.CompletedProcess[str]:
    """Run scripts/fabric.sh COMMAND ARGS..., failing the test with its output if it fails."""
    proc = run_script(command, *args, timeout=timeout)
    if proc.returncode != 0:
        what = " ".join((command, *args))
        pytest.fail(f"scripts/fabric.sh {what} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def build_or_skip() -> None:
    """Build Fabric when needed. Only the build may excuse the Fabric tests: the Go module
    proxy is the one source of the Fabric modules."""
    build = subprocess.run(
        ["bash", str(SCRIPT), "build"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if build.returncode != 0:
        pytest.skip(f"Fabric binaries cannot be built here: {build.stderr.strip()[-400:]}")


def fabric_settings(network: dict[str, str], **extra: Any) -> dict[str, Any]:
    """Settings fields anchoring the ledger on the local network (``Settings(**these)``)."""
    return {**network, **extra}


def raft_leader() -> int:
    """The number (1 to 3) of the orderer that leads the channel's Raft now."""
    return int(fabric("leader", timeout=60).stdout.strip())


def wait_for(what: str, done: Callable[[], bool], seconds: float = 120) -> None:
    """Poll until done() holds, failing the test with ``what`` after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not done():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {seconds:.0f} s")
        time.sleep(0.2)
