"""Two hubs on one machine, as two provinces run them: each its own HUB_HOME, its own `hub
serve` on its own port, configured with the `hub` command only. They witness each other's
logs; hub A trusts hub B as a federation peer and verifies B's licence online and offline with
B's checkpoint cosigned by A; B revokes it and A sees it after `hub trust refresh`; a forked
checkpoint of B's is refused by A's witness with the evidence kept; a stale bundle of B's is
INDETERMINATE at A."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from hub.settings import Settings
from ledger.note import Checkpoint, sign_checkpoint
from ledger.service import load_signer
from ledger.witness import format_request
from storage.keys import EncryptedFileKeyStore
from tests.licence.licence_fixtures import ISSUE_ARGS, register_entity

pytestmark = pytest.mark.slow
HUB = str(Path(sys.executable).with_name("hub"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Hub:
    name: str
    home: Path
    port: int
    server: subprocess.Popen[bytes] | None = None

    @property
    def origin(self) -> str:
        return f"{self.name}.test/log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self, **extra: str) -> dict[str, str]:
        return {
            **os.environ,
            "HUB_HOME": str(self.home),
            "HUB_KEY_PASSPHRASE": f"pass-{self.name}",
            "HUB_LEDGER_ORIGIN": self.origin,
            "HUB_WITNESS_NAME": f"{self.name}.test/witness",
            **extra,
        }

    def run(self, *args: str, expect: int = 0, **extra: str) -> str:
        done = subprocess.run(
            [HUB, *args], env=self.env(**extra), capture_output=True, text=True, timeout=300
        )
        assert done.returncode == expect, f"hub {' '.join(args)}: {done.stdout}\n{done.stderr}"
        return done.stdout

    def start(self) -> None:
        self.server = subprocess.Popen(
            [HUB, "serve", "--port", str(self.port)],
            env=self.env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(600):
            try:
                if httpx.get(f"{self.url}/v1/witness", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError(f"hub {self.name} did not start")

    def stop(self) -> None:
        if self.server is not None:
            self.server.terminate()
            self.server.wait(timeout=30)

    @property
    def settings(self) -> Settings:
        return Settings(
            home=self.home, key_passphrase=f"pass-{self.name}", ledger_origin=self.origin
        )


@pytest.fixture
def hubs(tmp_path: Path) -> Iterator[tuple[Hub, Hub]]:
    a, b = Hub("hub-a", tmp_path / "a", _free_port()), Hub("hub-b", tmp_path / "b", _free_port())
    try:
        for hub in (a, b):
            hub.run("init")
            hub.start()
        # each hub's witness watches the other's log; each log asks the other's witness
        for me, other in ((a, b), (b, a)):
            me.run("ledger", "witness", "watch", other.origin, other.run("ledger", "key").strip())
            key = other.run("ledger", "witness", "key").strip()
            me.run("ledger", "witness", "add", f"{other.url}/v1/witness", key)
        yield a, b
    finally:
        a.stop()
        b.stop()


def _verdict(out: str) -> dict:
    return json.loads(out)


def _check(report: dict, name: str) -> dict:
    return next(c for c in report["checks"] if c["check"] == name)


def test_two_hubs_recognise_each_others_licences(hubs: tuple[Hub, Hub], tmp_path: Path) -> None:
    a, b = hubs
    # B issues a business licence and sequences it: its checkpoint goes to A's witness
    register_entity(b.settings.db_url)
    lid = b.run(*ISSUE_ARGS).strip()
    b.run("ledger", "checkpoint")
    licence_file = tmp_path / "b-licence.json"
    b.run("trust", "receipt", lid, "-o", str(licence_file))
    note = json.loads(licence_file.read_text(encoding="utf-8"))["receipt"]["checkpoint"]
    assert "\u2014 hub-a.test/witness " in note  # cosigned by A

    # A trusts B as a peer, from B's served bundle and B's log key obtained out of band
    b_key = b.run("ledger", "key").strip()
    a.run("trust", "add-peer", f"{b.url}/v1/trust/bundle", "--name", "B省平台", "--log-key", b_key)
    assert "hub-b.test/log" in a.run("trust", "peers")
    online = _verdict(a.run("verify", str(licence_file), "--json", HUB_WITNESS_QUORUM="1"))
    assert online["verdict"] == "TOTAL_PASSED", online
    assert "B省平台" in _check(online, "issuing_hub")["en"]
    assert "cosigned by hub-a.test/witness" in _check(online, "checkpoint")["en"]
    bundle_file = tmp_path / "b-bundle.json"
    bundle_file.write_bytes(httpx.get(f"{b.url}/v1/trust/bundle", timeout=30).content)
    offline = _verdict(
        a.run(
            "verify", str(licence_file), "--offline", "--trust", str(bundle_file),
            "--witnesses", "1", "--json",
        )
    )  # fmt: skip
    assert offline["verdict"] == "TOTAL_PASSED", offline
    assert "B省平台" in _check(offline, "issuing_hub")["en"]

    # a stale bundle of B's is not a pass at A
    stale = _verdict(
        a.run("verify", str(licence_file), "--json", expect=2, HUB_VERIFY_MAX_AGE_HOURS="0.000001")
    )
    assert stale["verdict"] == "INDETERMINATE"

    # B revokes it; A sees the revocation once it refreshes B's bundle
    b.run("licence", "revoke", lid, "--reason", "以欺骗手段取得", "--code", "FRAUD")
    b.run("ledger", "checkpoint")
    assert "checkpoint" in a.run("trust", "refresh")
    revoked = _verdict(a.run("verify", str(licence_file), "--json", expect=1))
    assert revoked["verdict"] == "TOTAL_FAILED"
    assert _check(revoked, "status")["status"] == "FAILED"

    # B's key signs another tree of a size A's witness cosigned: refused, evidence kept
    seen = json.loads(a.run("ledger", "witnesses", "--json"))["watched_logs"]
    size = next(log["size"] for log in seen if log["origin"] == b.origin)
    keys = EncryptedFileKeyStore(b.settings.keys_path, b.settings.key_passphrase)
    forged = sign_checkpoint(Checkpoint(b.origin, size, b"\x42" * 32), load_signer(keys, b.origin))
    answer = httpx.post(
        f"{a.url}/v1/witness/add-checkpoint", content=format_request(size, [], forged), timeout=30
    )
    assert answer.status_code == 409
    seen = json.loads(a.run("ledger", "witnesses", "--json"))["watched_logs"]
    evidence = next(log for log in seen if log["origin"] == b.origin)["evidence"]
    assert [e["kind"] for e in evidence] == ["fork"]
