"""Fixture for the Fabric tier: one local network per session, started by scripts/fabric.sh."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "fabric.sh"


def fabric(command: str, timeout: float = 1200) -> subprocess.CompletedProcess[str]:
    """Run scripts/fabric.sh COMMAND, failing the test with its output if it fails."""
    proc = subprocess.run(
        ["bash", str(SCRIPT), command],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        pytest.fail(f"scripts/fabric.sh {command} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def read_env(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        key, _, value = line.partition("=")
        out[key.removeprefix("HUB_").lower()] = value
    return out


@pytest.fixture(scope="session")
def fabric_network() -> Iterator[dict[str, str]]:
    """Start the network (building Fabric when needed) and yield its HUB_FABRIC_* settings."""
    build = subprocess.run(
        ["bash", str(SCRIPT), "build"], cwd=REPO, capture_output=True, text=True, timeout=1800
    )
    if build.returncode != 0:
        # Only the build is allowed to excuse the tier: the Fabric Go modules may be unreachable.
        pytest.skip(f"Fabric binaries cannot be built here: {build.stderr.strip()[-400:]}")
    fabric("up")
    try:
        yield read_env(REPO / "var" / "fabric" / "hub.env")
    finally:
        fabric("down", timeout=120)


@pytest.fixture
def fabric_script() -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run `scripts/fabric.sh COMMAND` (e.g. restart) from a test."""
    return fabric
