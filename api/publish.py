"""Starting a dataset's ingest from an uploaded file: one function for the API and the pages.

No uploaded file is ever read, checked or merged in the server's own process: a file is a
stranger's bytes, and a few kilobytes of a crafted spreadsheet can cost minutes of CPU or
gigabytes of memory. :func:`start_ingest` hands the file (spooled to disk by the caller) to a
**worker process** (the command :attr:`Uploads.worker`: ``python -m hub.publish_worker``) that
runs under resource limits (address space ``WORKER_MEMORY``, CPU time ``WORKER_CPU_SECONDS``,
lower priority), so a hostile file can burn only that worker. The worker lands the file
(stored write-once, run opened) and reports the run before :func:`start_ingest` returns, so the
run id it gives is final; then

- with a scheduler configured (``HUB_AIRFLOW_API_URL``) the worker stops there and the
  ``ingest_<dataset>`` DAG is triggered through the Airflow REST API;
- otherwise the same worker goes on with check → quarantine → merge → publish.

A run that fails carries its message (``GET /v1/runs/{id}``, ``hub runs``), including a worker
stopped by its limits. Both ``POST /v1/datasets/{id}/uploads`` and the ``/catalog`` upload form
call :func:`start_ingest`, so a file published either way takes the same path.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import signal
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any

log = logging.getLogger(__name__)

WORKER_MEMORY = 4 * 1024**3  # bytes of address space (RLIMIT_AS) for one ingest worker
WORKER_CPU_SECONDS = 900  # CPU seconds (RLIMIT_CPU): SIGXCPU past it, SIGKILL a second later
LAND_TIMEOUT = 300.0  # seconds the upload waits for the worker to land the file
INCOMING = "incoming"  # folder under HOME/uploads where uploads are spooled


class SchedulerUnavailable(Exception):
    """The file is landed but the Airflow REST API refused (or did not answer) the run."""


class WorkerFailed(Exception):
    """The worker could not land the file; the message says why (no file content in it)."""


@dataclass(frozen=True)
class Uploads:
    """What starting an upload's ingest needs (built from the hub's settings by
    ``hub.wiring``): where files are spooled, the worker's command and input, the scheduler."""

    home: Path  # uploads are spooled under home/uploads/incoming, kept under home/uploads
    worker: tuple[str, ...]  # the command that runs the ingest worker (arguments follow)
    worker_input: str = field(repr=False)  # written to the worker's stdin (its settings)
    airflow_api_url: str = ""  # the Airflow REST API; empty: no scheduler, the worker ingests
    airflow_username: str = ""
    airflow_password: str = field(default="", repr=False)


@dataclass(frozen=True)
class Started:
    """An ingest run opened by an upload, and what runs it."""

    run: dict[str, Any]  # the run row (status "landed", or "published" if already ingested)
    started_by: str  # "airflow", "worker" or "none: already ingested"
    dag_run_id: str | None = None
    worker_pid: int | None = None


def incoming(uploads: Uploads) -> Path:
    """The folder uploads are spooled to before the worker lands them."""
    folder = uploads.home / "uploads" / INCOMING
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def start_ingest(
    uploads: Uploads, hub: Any, dataset: str, data: bytes | Path, filename: str
) -> Started:
    """Land ``data`` (the file's bytes, or the path of the file spooled under
    :func:`incoming`, which is then consumed) as a file of ``dataset`` in a worker process and
    start its ingest (blocking: call it from a worker thread). ``hub`` is a
    :class:`pipeline.IngestServices`. Raises :class:`pipeline.refs.IngestError` for an unknown
    dataset,
    :class:`WorkerFailed` if the file could not be landed, and :class:`SchedulerUnavailable`
    when Airflow is configured but refuses the run (the file stays landed, so retrying the same
    upload resumes the same run)."""
    name = PurePath(filename).name or "upload.csv"
    hub.contract(dataset)  # IngestError for an unknown dataset, before any work
    if isinstance(data, bytes):
        fd, spooled = tempfile.mkstemp(dir=incoming(uploads), suffix=".upload")
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        path = Path(spooled)
    else:
        path = data
    land_only = bool(uploads.airflow_api_url)
    try:
        worker, ref = _spawn(uploads, dataset, path, name, land_only)
        run = hub.library.get_run(ref["run_id"])
        if ref["already_done"]:
            return Started(run, "none: already ingested", worker_pid=worker.pid)
        if not land_only:
            threading.Thread(
                target=_reap, args=(hub, ref["run_id"], worker), daemon=True, name="ingest-reaper"
            ).start()
            return Started(run, "worker", worker_pid=worker.pid)
        worker.wait()
        keep = uploads.home / "uploads" / f"{ref['run_id']}{PurePath(name).suffix}"
        if not keep.exists():
            os.replace(path, keep)
        try:
            dag_run = _airflow(uploads, dataset, keep)
        except Exception as exc:  # httpx errors quote URLs only; still log just the kind
            log.error("airflow trigger failed: %s", type(exc).__name__)
            raise SchedulerUnavailable(
                "the file is landed but Airflow refused the run; retry the upload"
            ) from exc
        return Started(run, "airflow", dag_run, worker.pid)
    finally:
        path.unlink(missing_ok=True)


def _spawn(
    uploads: Uploads, dataset: str, path: Path, name: str, land_only: bool
) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    """Start the worker and wait until it has landed the file; (worker, its land reference)."""
    args = [*uploads.worker, dataset, str(path), name]
    if land_only:
        args.append("--land-only")
    worker = subprocess.Popen(
        args,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: killed as one if it stalls
    )
    assert worker.stdin is not None and worker.stdout is not None
    worker.stdin.write(uploads.worker_input)
    worker.stdin.close()
    worker.stdin = None  # closed: communicate() must not flush it again
    line = _first_line(worker)
    if not line:
        worker.wait()
        assert worker.stderr is not None
        reason = _reason(worker.returncode, worker.stderr.read())
        raise WorkerFailed(f"the file could not be landed: {reason}")
    return worker, json.loads(line)


def _first_line(worker: subprocess.Popen[str]) -> str:
    """The worker's first line of output, or "" if it ends (or stalls) before writing one."""
    found: list[str] = []
    reader = threading.Thread(
        target=lambda: found.append(worker.stdout.readline() if worker.stdout else ""),
        daemon=True,
    )
    reader.start()
    reader.join(LAND_TIMEOUT)
    if reader.is_alive():
        os.killpg(worker.pid, signal.SIGKILL)
        reader.join()
        return ""
    return found[0] if found else ""


def _reason(returncode: int | None, stderr: str) -> str:
    """Why a worker ended badly, in words (its last error line; no file content)."""
    if returncode is not None and returncode < 0:
        sig = signal.Signals(-returncode)
        if sig in (signal.SIGXCPU, signal.SIGKILL):
            return (
                f"the ingest worker was stopped by {sig.name}: the file needs more than the "
                f"worker's {WORKER_CPU_SECONDS} s of CPU time (or the worker was killed)"
            )
        return f"the ingest worker was stopped by {sig.name}"
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    return lines[-1][:400] if lines else f"the ingest worker exited with status {returncode}"


def _reap(hub: Any, run_id: str, worker: subprocess.Popen[str]) -> None:
    """Wait for the worker; a run it left unfinished is marked failed with the reason."""
    assert worker.stdout is not None and worker.stderr is not None
    _, stderr = worker.communicate()
    record_end(hub, run_id, worker.returncode, stderr)


def record_end(hub: Any, run_id: str, returncode: int | None, stderr: str) -> None:
    """After the worker of ``run_id`` ended: if it left the run neither published nor failed
    (killed by a limit, crashed), mark it failed with the reason."""
    run = hub.library.get_run(run_id)
    if run["status"] in ("published", "failed"):
        return
    hub.library.set_run(
        run_id,
        status="failed",
        message=_reason(returncode, stderr),
        finished_at=dt.datetime.now(dt.UTC).replace(tzinfo=None),
    )


def _airflow(uploads: Uploads, dataset: str, path: Path) -> str:
    """Trigger ``ingest_<dataset>`` through the Airflow 3 REST API; returns the dag run id."""
    import httpx

    base = uploads.airflow_api_url.rstrip("/")
    with httpx.Client(timeout=30) as http:
        tok = http.post(
            f"{base}/auth/token",
            json={"username": uploads.airflow_username, "password": uploads.airflow_password},
        )
        tok.raise_for_status()
        headers = {"Authorization": f"Bearer {tok.json()['access_token']}"}
        dag_id = f"ingest_{dataset}"
        http.patch(f"{base}/api/v2/dags/{dag_id}", json={"is_paused": False}, headers=headers)
        r = http.post(
            f"{base}/api/v2/dags/{dag_id}/dagRuns",
            json={"logical_date": None, "conf": {"file": str(path)}},
            headers=headers,
        )
        r.raise_for_status()
        return str(r.json()["dag_run_id"])
