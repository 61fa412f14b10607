"""Department publishing: ``POST /v1/datasets/{id}/uploads`` lands a file and starts its ingest;
``GET /v1/runs/{id}`` reports the run.

The upload is landed (stored write-once, run opened) before answering, so the run id returned is
final. The rest of the pipeline runs in the background: through the Airflow REST API when a
scheduler runs (``HUB_AIRFLOW_API_URL`` set), otherwise in a thread of this process — both by
:func:`api.publish.start_ingest`, which the ``/catalog`` upload form uses too.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field

from api.deps import Access, HubState, gate, hub_state
from api.problems import Problem, responses
from api.records import UtcDatetime

router = APIRouter(tags=["publishing"])
MAX_UPLOAD = 512 * 1024 * 1024


class RunOut(BaseModel):
    run_id: str = Field(examples=["ps_household-3f2a9c0d11e4b7a2"])
    dataset: str = Field(examples=["ps_household"])
    status: str = Field(examples=["published"])
    rows_in: int | None = None
    rows_accepted: int | None = None
    rows_quarantined: int | None = None
    received_at: UtcDatetime
    finished_at: UtcDatetime | None = None
    message: str | None = None
    started_by: str | None = Field(
        default=None, description="'airflow' or 'in-process' (uploads only)"
    )
    dag_run_id: str | None = Field(default=None, description="the Airflow DAG run, if any")


def _run_out(
    run: dict[str, Any], started_by: str | None = None, dag_run_id: str | None = None
) -> RunOut:
    values = {k: run.get(k) for k in RunOut.model_fields}
    return RunOut.model_validate({**values, "started_by": started_by, "dag_run_id": dag_run_id})


@router.post(
    "/v1/datasets/{id}/uploads",
    response_model=RunOut,
    status_code=202,
    responses=responses(400, 401, 403, 404, 413, 422, 429, 503),
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "the department file (CSV, JSON, Parquet or XLSX per the contract)",
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        }
    },
)
async def upload(
    id: Annotated[
        str, Path(description="dataset id (contract)", examples=["ps_household"], max_length=64)
    ],
    request: Request,
    access: Annotated[Access, gate("datasets")],
    state: Annotated[HubState, Depends(hub_state)],
    filename: Annotated[
        str,
        Query(
            description="original file name (its suffix selects the reader)",
            max_length=200,
            examples=["household.csv"],
        ),
    ] = "upload.csv",
) -> RunOut:
    """Land the file and start the dataset's ingest; answers the run (status ``landed``)."""
    from starlette.concurrency import run_in_threadpool

    from api.publish import SchedulerUnavailable, start_ingest

    if not access.allows(id):
        raise Problem(403, "not-granted", f"dataset {id!r} is outside the client's grant")
    if id not in state.ingest.contracts:
        raise Problem(404, "unknown-dataset", f"no dataset contract {id!r}")
    data = await request.body()
    if not data:
        raise Problem(400, "empty-upload", "the request body (the file) is empty")
    if len(data) > MAX_UPLOAD:
        raise Problem(413, "too-large", f"uploads are limited to {MAX_UPLOAD} bytes")
    try:
        started = await run_in_threadpool(
            start_ingest, state.settings, state.ingest, id, data, filename
        )
    except SchedulerUnavailable as exc:
        raise Problem(503, "scheduler-unavailable", str(exc)) from exc
    access.fields = {id}
    access.status = 202
    return _run_out(started.run, started.started_by, started.dag_run_id)


@router.get("/v1/runs/{id}", response_model=RunOut, responses=responses(401, 403, 404, 422, 429))
def get_run(
    id: Annotated[str, Path(max_length=80, examples=["ps_household-3f2a9c0d11e4b7a2"])],
    access: Annotated[Access, gate("datasets")],
    state: Annotated[HubState, Depends(hub_state)],
) -> RunOut:
    """An ingest run: status and row counts (rows_in = accepted + quarantined)."""
    from storage.library import LibraryError

    try:
        run = state.library.get_run(id)
    except LibraryError:
        raise Problem(404, "unknown-run", "no ingest run with this id") from None
    if not access.allows(run["dataset"]):
        raise Problem(404, "unknown-run", "no ingest run with this id")
    access.fields = {run["dataset"]}
    return _run_out(run)
