"""Starting a dataset's ingest from an uploaded file: one function for the API and the pages.

:func:`start_ingest` lands the file (stored write-once, run opened) before it returns, so the run
id it gives is final, then starts the rest of the pipeline: through the Airflow REST API when a
scheduler is configured (``HUB_AIRFLOW_API_URL``), otherwise in a thread of this process. Both
``POST /v1/datasets/{id}/uploads`` and the ``/catalog`` upload form call it, so a file published
either way takes the same path.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from hub.settings import Settings

log = logging.getLogger(__name__)


class SchedulerUnavailable(Exception):
    """The file is landed but the Airflow REST API refused (or did not answer) the run."""


@dataclass(frozen=True)
class Started:
    """An ingest run opened by an upload, and what runs it."""

    run: dict[str, Any]  # the run row (status "landed", or "published" if already ingested)
    started_by: str  # "airflow", "in-process" or "none: already ingested"
    dag_run_id: str | None = None


def start_ingest(settings: Settings, hub: Any, dataset: str, data: bytes, filename: str) -> Started:
    """Land ``data`` as a file of ``dataset`` and start its ingest (blocking: call it from a
    worker thread). ``hub`` is a :class:`hub.ingest.Hub`. Raises
    :class:`SchedulerUnavailable` when Airflow is configured but refuses the run (the file stays
    landed, so retrying the same upload resumes the same run)."""
    from hub import ingest

    name = PurePath(filename).name or "upload.csv"
    ref = ingest.land(hub, dataset, data, name)
    run = hub.library.get_run(ref["run_id"])
    if ref["already_done"]:
        return Started(run, "none: already ingested")
    if settings.airflow_api_url:
        try:
            dag_run = _airflow(settings, dataset, data, PurePath(name).suffix, ref["run_id"])
        except Exception as exc:  # httpx errors quote URLs only; still log just the kind
            log.error("airflow trigger failed: %s", type(exc).__name__)
            raise SchedulerUnavailable(
                "the file is landed but Airflow refused the run; retry the upload"
            ) from exc
        return Started(run, "airflow", dag_run)
    threading.Thread(target=_in_process, args=(hub, ref), daemon=True, name="ingest").start()
    return Started(run, "in-process")


def _in_process(hub: Any, ref: dict[str, Any]) -> None:
    """The pipeline after landing, task by task as the DAG runs it (the contract's on_breach)."""
    from hub import ingest

    try:
        ref = ingest.check(hub, ref)
        ref = ingest.merge(hub, ref)
        ingest.publish(hub, ref)
    except Exception as exc:  # the run row carries the failure; log only the kind
        log.error("ingest run %s failed: %s", ref["run_id"], type(exc).__name__)
        run = hub.library.get_run(ref["run_id"])
        if run["status"] != "failed":
            hub.library.set_run(
                ref["run_id"],
                status="failed",
                message=str(exc)[:500],
                finished_at=dt.datetime.now(dt.UTC).replace(tzinfo=None),
            )


def _airflow(settings: Settings, dataset: str, data: bytes, suffix: str, run_id: str) -> str:
    """Trigger ``ingest_<dataset>`` through the Airflow 3 REST API; returns the dag run id."""
    import httpx

    folder = settings.home / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{run_id}{suffix}"
    if not path.exists():
        path.write_bytes(data)
    base = settings.airflow_api_url.rstrip("/")
    with httpx.Client(timeout=30) as http:
        tok = http.post(
            f"{base}/auth/token",
            json={"username": settings.airflow_username, "password": settings.airflow_password},
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
