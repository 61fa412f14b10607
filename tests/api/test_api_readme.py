"""The README's API example runs as written: its shell block is read from README.md and run by
bash against a real `hub serve` (embedded default, a temporary HUB_HOME, a free loopback port),
so the test breaks when the README drifts from what the service does."""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from hub.settings import PROJECT_ROOT, Settings

BIN = Path(sys.executable).parent
SECTION = "## The API and the pages"
README_PORT = "127.0.0.1:8000"


def readme_block() -> str:
    """The first ```sh block of the README's API section."""
    text = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index(SECTION) :]
    found = re.search(r"```sh\n(.*?)```", section, re.S)
    assert found, "the README's API section has no ```sh block"
    return found.group(1)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _script(block: str, port: int) -> str:
    """The block as written, with: the port of this test's server, a wait after `hub serve &`
    until it answers, each curl's status printed after its body, and the server stopped."""
    lines = []
    for line in block.replace(README_PORT, f"127.0.0.1:{port}").splitlines():
        lines.append(line)
        if line.strip() == "hub serve &":
            lines.append(
                "SERVER=$!; trap 'kill $SERVER; wait $SERVER || true' EXIT; "
                f"for _ in $(seq 300); do command curl -s -o /dev/null "
                f"http://127.0.0.1:{port}/v1/health && break; sleep 0.2; done"
            )
    head = [
        "set -euo pipefail",
        "curl() { command curl -sS -w '\\n@@status %{http_code}\\n' \"$@\"; echo '@@end'; }",
    ]
    return "\n".join([*head, *lines, ""])


def _answers(out: str) -> list[tuple[int, str]]:
    """(status, body) of each curl the block ran, in order."""
    found = []
    for chunk in out.split("@@end")[:-1]:
        body, _, status = chunk.rpartition("@@status ")
        found.append((int(status.strip()), body.strip().splitlines()[-1] if body.strip() else ""))
    return found


@pytest.mark.skipif(not Path("/usr/bin/curl").exists(), reason="curl is not installed")
def test_the_readme_api_example_runs_as_written(settings: Settings, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "HUB_HOME": str(settings.home),
        "HUB_KEY_PASSPHRASE": settings.key_passphrase,
    }

    def hub(*args: str, cwd: Path = tmp_path) -> None:
        done = subprocess.run(
            ["hub", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stderr

    # "a hub with the demo's data": the population library holds the README's person
    hub("synth", "-o", str(tmp_path / "demo"))
    hub("ingest", str(tmp_path / "demo" / "ps_household.csv"), "-d", "ps_household")
    # "a folder holding ps_household.csv": a new file, so the upload starts a new run
    work = tmp_path / "work"
    hub("synth", "--dirt", "0", "-o", str(work))
    port = _free_port()
    env["HUB_API_PORT"] = str(port)  # `hub serve` as written, on this test's port
    script = _script(readme_block(), port)
    done = subprocess.run(
        ["bash", "-c", script], env=env, cwd=work, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-2000:]
    answers = _answers(done.stdout)
    assert [status for status, _ in answers] == [200, 200, 200, 403, 202], done.stdout[-3000:]
    person, match, licences, entity, upload = (json.loads(body) for _, body in answers)
    assert person["subject"] == "340402193504178790"
    assert set(person["fields"]) <= {"name", "sex", "birth_date", "household_division"}
    assert match == {"match": True}
    assert licences["holder"] == "340402193504178790"
    assert entity["type"].endswith("/not-granted")
    # the file landed is the file, not the multipart envelope curl -F sends
    expected = hashlib.sha256((work / "ps_household.csv").read_bytes()).hexdigest()
    assert upload["run_id"] == f"ps_household-{expected[:16]}"
    assert upload["status"] == "landed" and upload["started_by"] == "worker"
