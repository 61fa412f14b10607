"""Private, throw-away PostgreSQL and MinIO servers for fault tests.

Fault tests stop and restart servers; the shared loopback services (``scripts/services.sh up``)
are in use by everyone else, so each fault test starts its own instance from the same binaries
(PostgreSQL's ``initdb``/``pg_ctl`` from Debian's packages, the MinIO binary that
``scripts/services/minio.sh`` builds into ``.cache/bin``) on a free loopback port with its data
in a temporary folder, and removes it afterwards.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from hub.settings import PROJECT_ROOT

MINIO_BIN = PROJECT_ROOT / ".cache" / "bin" / "minio"
PG_ROOT = Path("/usr/lib/postgresql")  # Debian's layout: one bin/ per major version


class PrivateServerError(RuntimeError):
    """A private server could not be started or stopped; the message carries its log tail."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


def _wait(check: object, timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise PrivateServerError(f"{what} not ready within {timeout:.0f}s; log:\n{_tail(log)}")


class PrivatePostgres:
    """A PostgreSQL cluster in a temporary folder, trust auth on 127.0.0.1 only.

    ``initdb`` refuses to run as root, so under root the cluster belongs to Debian's
    ``postgres`` OS user (the same arrangement as ``scripts/services/postgres.sh``).
    """

    def __init__(self) -> None:
        bins = sorted(PG_ROOT.glob("*/bin"), key=lambda p: int(p.parent.name))
        if not bins:
            raise PrivateServerError(
                f"PostgreSQL server binaries not found under {PG_ROOT} "
                "(run scripts/system-deps.sh or `make services-up`)"
            )
        self.bin = bins[-1]
        self.port = free_port()
        # not pytest's tmp_path: its parent is private to root and the postgres user must
        # reach the data folder
        self.root = Path(tempfile.mkdtemp(prefix="hub-fault-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self.as_root = os.geteuid() == 0

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.bin / args[0]), *args[1:]]
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)

    def init(self) -> PrivatePostgres:
        self.root.chmod(0o755)
        self.data.mkdir(mode=0o700)
        self.log.touch()
        if self.as_root:
            shutil.chown(self.data, "postgres", "postgres")
            shutil.chown(self.log, "postgres", "postgres")
        res = self._run(
            "initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
            "--no-locale", "--no-sync",
        )  # fmt: skip
        if res.returncode != 0:
            raise PrivateServerError(f"initdb failed: {res.stderr[-2000:]}")
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                "listen_addresses = '127.0.0.1'\n"
                f"port = {self.port}\n"
                "unix_socket_directories = ''\n"
                "max_connections = 30\n"
                "shared_buffers = 32MB\n"
            )
        return self

    def start(self) -> None:
        res = self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60",
                        "start")  # fmt: skip
        if res.returncode != 0:
            raise PrivateServerError(f"pg_ctl start failed: {res.stderr}\n{_tail(self.log)}")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server; ``immediate`` is a crash: no checkpoint, recovery on next start."""
        if not (self.data / "postmaster.pid").exists():
            return
        res = self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")
        if res.returncode != 0:
            raise PrivateServerError(f"pg_ctl stop failed: {res.stderr}\n{_tail(self.log)}")

    def restart_crash(self) -> None:
        """Kill the server as a crash would, then start it again (WAL recovery)."""
        self.stop("immediate")
        self.start()

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        import psycopg

        dsn = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        with psycopg.connect(dsn, autocommit=True, connect_timeout=10) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def cleanup(self) -> None:
        try:
            self.stop("immediate")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


class PrivateMinio:
    """A single-drive MinIO server on a free loopback port with its data in ``root``."""

    def __init__(self, root: Path) -> None:
        if not MINIO_BIN.is_file():
            raise PrivateServerError(
                f"{MINIO_BIN.relative_to(PROJECT_ROOT)} is missing: `make services-up` builds it"
            )
        self.root = root
        self.data = root / "data"
        self.data.mkdir(parents=True, exist_ok=True)
        self.log = root / "minio.log"
        self.port = free_port()
        self.console_port = free_port()
        self.access_key = "faultadmin"
        self.secret_key = secrets.token_hex(16)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _ready(self) -> bool:
        url = f"http://{self.endpoint}/minio/health/ready"
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                return bool(resp.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def start(self) -> None:
        env = {
            **os.environ,
            "MINIO_ROOT_USER": self.access_key,
            "MINIO_ROOT_PASSWORD": self.secret_key,
            "MINIO_BROWSER": "off",
            "MINIO_UPDATE": "off",
        }
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [str(MINIO_BIN), "server", "--quiet", "--address", self.endpoint,
                 "--console-address", f"127.0.0.1:{self.console_port}", str(self.data)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                start_new_session=True,
            )  # fmt: skip
        _wait(self._ready, 60, f"private MinIO on {self.endpoint}", self.log)

    def kill(self) -> None:
        """Stop the server abruptly (SIGKILL), as a crashed or unplugged node would."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(30)
        self.proc = None

    def cleanup(self) -> None:
        self.kill()
