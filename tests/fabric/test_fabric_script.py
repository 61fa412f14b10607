"""Fast checks of scripts/fabric.sh's settings (no network started)."""

from __future__ import annotations

import os
import subprocess

import pytest
from fabrickit import SCRIPT

from hub.settings import PROJECT_ROOT


@pytest.mark.parametrize("base", ["abc", "80", "65500", "17000x"])
def test_a_port_base_that_is_not_a_usable_port_is_refused_by_name(base: str) -> None:
    proc = subprocess.run(
        ["bash", str(SCRIPT), "status"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "FABRIC_PORT_BASE": base},
        timeout=60,
    )
    assert proc.returncode == 1
    assert f"FABRIC_PORT_BASE must be a port number from 1024 to 65436, not '{base}'" in (
        proc.stderr
    )
    assert proc.stdout == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["stop-peer", "county"], "unknown organisation 'county' (bureau or city)"),
        (["start-peer", "Bureau"], "unknown organisation 'Bureau' (bureau or city)"),
        (["stop-orderer", "4"], "which orderer? 1, 2 or 3, not '4'"),
        (["start-orderer"], "which orderer? 1, 2 or 3, not ''"),
    ],
)
def test_a_fault_action_on_a_node_the_network_lacks_is_refused_by_name(
    args: list[str], message: str
) -> None:
    proc = subprocess.run(
        ["bash", str(SCRIPT), *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1 and f"fabric: ERROR: {message}" in proc.stderr
