"""The local Fabric network's shape and operations (scripts/fabric.sh)."""

from __future__ import annotations

import os

import pytest
from fabrickit import ENV_FILE, run_script

pytestmark = pytest.mark.services


def test_a_network_refuses_to_come_up_on_other_ports(fabric_network: dict[str, str]) -> None:
    """The channel's configuration names the ports the network was made with: `up` with another
    FABRIC_PORT_BASE says so instead of starting nodes that the channel does not know."""
    made_with = os.environ.get("FABRIC_PORT_BASE", "")
    other = "18100" if made_with == "18000" else "18000"
    before = ENV_FILE.read_text(encoding="utf-8")
    proc = run_script("up", env={"FABRIC_PORT_BASE": other}, timeout=300)
    assert proc.returncode == 1
    assert (
        f"var/fabric was made with FABRIC_PORT_BASE={made_with or 'default'}, not {other}: "
        "use that base, or run scripts/fabric.sh clean first"
    ) in proc.stderr
    assert ENV_FILE.read_text(encoding="utf-8") == before
    assert run_script("status").returncode == 0  # the network runs on, untouched
