"""The upload-ingest worker: ``python -m hub.publish_worker``, run by :mod:`api.publish`.

A process entry point, so it builds its own services (:mod:`hub.wiring`) from the settings the
server hands it on stdin, under the resource limits :mod:`api.publish` declares; the server
never parses an uploaded file itself.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from pathlib import Path
from typing import Any

from api.publish import WORKER_CPU_SECONDS, WORKER_MEMORY
from hub.settings import Settings


def _limits() -> None:
    """In the worker, before it reads anything: its resource limits and a lower priority (set
    by the worker itself: a ``preexec_fn`` is unsafe in the server, which runs threads)."""
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (WORKER_MEMORY, WORKER_MEMORY))
    resource.setrlimit(resource.RLIMIT_CPU, (WORKER_CPU_SECONDS, WORKER_CPU_SECONDS + 1))
    os.nice(5)


def _work(argv: list[str]) -> int:
    """``python -m hub.publish_worker DATASET FILE NAME [--land-only]``, settings as JSON on stdin:
    land FILE, print the land reference as one JSON line, then (unless ``--land-only``) run its
    other steps. A failure is recorded on the run and exits 1."""
    import resource

    _limits()
    from hub.wiring import ingest_services
    from pipeline import steps as ingest

    land_only = "--land-only" in argv
    dataset, file, name = [a for a in argv if a != "--land-only"][:3]
    settings = Settings.model_validate_json(sys.stdin.read())
    hub = ingest_services(settings)
    try:
        ref = ingest.land(hub, dataset, Path(file).read_bytes(), name)
    except MemoryError:
        print("the file is larger than the ingest worker's memory limit", file=sys.stderr)
        return 1
    limits = {
        "memory": resource.getrlimit(resource.RLIMIT_AS)[0],
        "cpu_seconds": resource.getrlimit(resource.RLIMIT_CPU)[0],
        "pid": os.getpid(),
    }
    print(json.dumps({**ref, "worker": limits}), flush=True)
    if land_only or ref["already_done"]:
        return 0
    try:
        ref = ingest.check(hub, ref)
        ref = ingest.quarantine(hub, ref)
        ref = ingest.merge(hub, ref)
        ref = ingest.measure_accuracy(hub, ref)
        ingest.publish(hub, ref)
    except Exception as exc:  # the run row carries the failure; log only the kind
        if isinstance(exc, MemoryError) or isinstance(exc.__cause__, MemoryError):
            # (a step marks its run failed by the error's kind; this says what to do)
            memory = "the file needs more memory than the ingest worker's limit"
            _failed(hub, ref["run_id"], memory, replace=True)
            return 1
        print(f"ingest run {ref['run_id']} failed: {type(exc).__name__}", file=sys.stderr)
        _failed(hub, ref["run_id"], str(exc)[:500])
        return 1
    return 0


def _failed(hub: Any, run_id: str, message: str, *, replace: bool = False) -> None:
    """Mark the run failed with ``message``, unless a step did already (``replace``: anyway)."""
    run = hub.library.get_run(run_id)
    if replace or run["status"] != "failed":
        hub.library.set_run(
            run_id,
            status="failed",
            message=message,
            finished_at=dt.datetime.now(dt.UTC).replace(tzinfo=None),
        )


if __name__ == "__main__":
    sys.exit(_work(sys.argv[1:]))
