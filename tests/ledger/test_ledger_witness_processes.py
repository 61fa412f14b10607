"""Two hubs on one machine, each its own HUB_HOME and process: hub A serves its witness over
HTTP (``hub serve``), hub B's ``hub ledger checkpoint`` has it cosigned, and a forked
checkpoint of B's is refused by A with the evidence kept."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hub.settings import Settings
from ledger.cosignature import CosignatureVerifier, cosignatures
from ledger.note import Checkpoint, sign_checkpoint
from ledger.service import LOG_KEY_NAME, load_signer
from ledger.witness import format_request
from storage.keys import EncryptedFileKeyStore

pytestmark = pytest.mark.slow
HUB = str(Path(sys.executable).with_name("hub"))  # the installed command, as a user runs it


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(home: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "HUB_HOME": str(home), "HUB_KEY_PASSPHRASE": "pass-" + home.name, **extra}


def hub(home: Path, *args: str, **extra: str) -> str:
    done = subprocess.run(
        [HUB, *args],
        env=_env(home, **extra),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def hub_a(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    home, port = tmp_path / "a", _free_port()
    extra = {"HUB_WITNESS_NAME": "hub-a.test/witness"}
    hub(home, "ledger", "key", **extra)  # creates the hub's folders and keys
    server = subprocess.Popen(
        [HUB, "serve", "--port", str(port)],
        env=_env(home, **extra),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/v1/witness"
    try:
        for _ in range(300):
            try:
                if httpx.get(url, timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise RuntimeError("hub A did not start")
        yield home, url
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_a_peer_hub_witnesses_our_log_and_refuses_our_fork(
    hub_a: tuple[Path, str], tmp_path: Path
) -> None:
    home_a, url = hub_a
    home_b = tmp_path / "b"
    b = {"HUB_LEDGER_ORIGIN": "hub-b.test/log"}
    a = {"HUB_WITNESS_NAME": "hub-a.test/witness"}
    hub(
        home_a,
        "ledger",
        "witness",
        "watch",
        "hub-b.test/log",
        hub(home_b, "ledger", "key", **b).strip(),
        **a,
    )
    witness_key = hub(home_a, "ledger", "witness", "key", **a).strip()
    hub(home_b, "ledger", "witness", "add", url, witness_key, **b)
    for i in range(3):
        hub(home_b, "ledger", "append", f"entry {i}", **b)
        hub(home_b, "ledger", "checkpoint", **b)

    # B's latest checkpoint note carries A's cosignature, which verifies under A's key
    settings_b = Settings(home=home_b, key_passphrase="pass-b", ledger_origin="hub-b.test/log")
    from hub.wiring import ledger_service

    log_b = ledger_service(settings_b)
    latest = log_b.latest_checkpoint()
    assert latest is not None
    (cosig,) = cosignatures(latest[1], [CosignatureVerifier.from_vkey(witness_key)])
    assert cosig.name == "hub-a.test/witness"
    seen = json.loads(hub(home_a, "ledger", "witnesses", "--json", **a))["watched_logs"]
    assert [(log["origin"], log["size"]) for log in seen] == [("hub-b.test/log", 3)]

    # B's key signs another tree of size 3: A's witness refuses it and keeps the evidence
    signer = load_signer(EncryptedFileKeyStore(settings_b.keys_path, "pass-b"), "hub-b.test/log")
    assert EncryptedFileKeyStore(settings_b.keys_path, "pass-b").exists(LOG_KEY_NAME)
    forged = sign_checkpoint(Checkpoint("hub-b.test/log", 3, b"\x42" * 32), signer)
    answer = httpx.post(f"{url}/add-checkpoint", content=format_request(3, [], forged))
    assert answer.status_code == 409
    seen = json.loads(hub(home_a, "ledger", "witnesses", "--json", **a))["watched_logs"]
    (evidence,) = seen[0]["evidence"]
    assert evidence["kind"] == "fork" and evidence["note"] == forged.decode()
