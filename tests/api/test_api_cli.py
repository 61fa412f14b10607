"""The operator's view: `hub client add|grant|list|revoke` and `hub serve` answering on loopback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from hub.settings import Settings
from tests.api.conftest import PERSON, PERSON_NAME, seed_library

HUB = str(Path(sys.executable).with_name("hub"))


def _env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env["HUB_HOME"] = str(settings.home)
    env["HUB_KEY_PASSPHRASE"] = settings.key_passphrase
    return env


def _hub(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [HUB, *args], env=_env(settings), capture_output=True, text=True, timeout=120
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_client_commands_and_serve(settings: Settings) -> None:
    seed_library(settings)
    added = _hub(settings, "client", "add", "approvals-x", "--name", "审批系统 X")
    assert added.returncode == 0, added.stderr
    key = added.stdout.strip()
    assert key.startswith("hub_") and "only its hash is kept" in added.stderr
    assert _hub(settings, "client", "add", "approvals-x", "--name", "again").returncode == 1
    granted = _hub(
        settings,
        "client",
        "grant",
        "approvals-x",
        "--scope",
        "population",
        "--purpose",
        "社会救助审核",  # a registered purpose's Chinese title: stored as its code
        "--fields",
        "name",
        "--until",
        "2099-01-01",
    )
    assert granted.returncode == 0, granted.stderr
    bad = _hub(settings, "client", "grant", "approvals-x", "--scope", "everything")
    assert bad.returncode != 0
    free_text = _hub(
        settings,
        *["client", "grant", "approvals-x", "--scope", "population", "--until", "2099-01-01"],
        "--purpose",
        "housing-subsidy",
    )
    assert free_text.returncode != 0
    assert "unregistered purpose 'housing-subsidy'" in free_text.stderr
    assert "social-assistance-review (社会救助审核 / Social assistance review)" in free_text.stderr
    listed = _hub(settings, "client", "list")
    assert "approvals-x  active" in listed.stdout
    assert "purpose=social-assistance-review (社会救助审核 / Social assistance review)" in (
        listed.stdout
    )
    assert key not in listed.stdout

    port = _free_port()
    server = subprocess.Popen(
        [HUB, "serve", "--port", str(port), "--no-background"],
        env=_env(settings),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(150):
            try:
                httpx.get(f"{base}/v1/health", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        headers = {"Authorization": f"Bearer {key}", "X-Purpose": "social-assistance-review"}
        r = httpx.get(f"{base}/v1/persons/{PERSON}", headers=headers, timeout=10)
        assert r.status_code == 200, r.text
        assert r.json()["fields"]["name"]["value"] == PERSON_NAME
        assert set(r.json()["fields"]) == {"name"}
        assert httpx.get(f"{base}/openapi.json", timeout=10).json()["paths"]["/v1/persons/{id}"]
        assert _hub(settings, "client", "revoke", "approvals-x").returncode == 0
        time.sleep(2.5)  # the server's client cache lives 2 s
        r = httpx.get(f"{base}/v1/persons/{PERSON}", headers=headers, timeout=10)
        assert r.status_code == 401
    finally:
        server.terminate()
        _, err = server.communicate(timeout=30)
    assert PERSON not in err  # no ID numbers in the server's log
    # who looked at this person, asked with the 15-digit form of the number: the purposes are
    # shown with their titles
    trail = _hub(settings, "audit", "query", "--subject", "110105491231002")
    assert trail.returncode == 0, trail.stderr
    assert "purpose=social-assistance-review (社会救助审核 / Social assistance review)" in (
        trail.stdout
    )
    assert "GET /v1/persons/{id}  ok  fields=name" in trail.stdout
