"""The claims benchmark's server stops cleanly on the driver's SIGINT: exit status 0 and no
traceback in what it prints beside the figures."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from bench import _http as httpkit


def test_the_bench_server_exits_cleanly_on_sigint(tmp_path: Path) -> None:
    port = httpkit.free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "bench.claims", "--serve", str(tmp_path), str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert server.stdout is not None
        assert server.stdout.readline().strip() == "listening"
        httpkit.wait_up(port)
        server.send_signal(signal.SIGINT)
        _out, err = server.communicate(timeout=60)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert server.returncode == 0
