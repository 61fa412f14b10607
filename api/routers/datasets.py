"""Department publishing: ``POST /v1/datasets/{id}/uploads`` lands a file and starts its ingest;
``GET /v1/runs/{id}`` reports the run.

The upload is landed (stored write-once, run opened) before answering, so the run id returned is
final. The body is the raw file or a multipart form with the file in part ``file``; either way
it is spooled to disk as it arrives (413 as soon as it crosses the limit), never held in memory
or parsed in this process. A worker process lands it and runs the rest of the pipeline
(through the Airflow REST API when a scheduler runs, ``HUB_AIRFLOW_API_URL`` set) — both by
:func:`api.publish.start_ingest`, which the ``/catalog`` upload form uses too.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field

from api.deps import PRINTABLE, Access, gate
from api.problems import Problem, responses
from api.records import UtcDatetime
from api.state import HubState, hub_state

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
        default=None,
        description="'airflow', or 'worker' (an ingest worker process of this hub); uploads only",
    )
    dag_run_id: str | None = Field(default=None, description="the Airflow DAG run, if any")


def _run_out(
    run: dict[str, Any], started_by: str | None = None, dag_run_id: str | None = None
) -> RunOut:
    values = {k: run.get(k) for k in RunOut.model_fields}
    return RunOut.model_validate({**values, "started_by": started_by, "dag_run_id": dag_run_id})


UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": (
            "the department file (CSV, JSON, Parquet or XLSX per the contract): the raw bytes "
            "as the body, or a multipart form whose part 'file' holds it (`curl -F file=@…`)"
        ),
        "content": {
            "application/octet-stream": {
                "schema": {"type": "string", "format": "binary", "minLength": 1}
            },
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary", "minLength": 1}},
                    "required": ["file"],
                }
            },
        },
    }
}
CHUNK = 1024 * 1024


class _Spool:
    """An upload written to a file under HOME/uploads/incoming as it arrives (never held in
    memory), refused as soon as it crosses ``MAX_UPLOAD``."""

    def __init__(self, folder: Any) -> None:
        import os
        import tempfile
        from pathlib import Path

        fd, name = tempfile.mkstemp(dir=folder, suffix=".upload")
        self.path = Path(name)
        self.file = os.fdopen(fd, "wb")
        self.size = 0

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > MAX_UPLOAD:
            raise Problem(413, "too-large", f"uploads are limited to {MAX_UPLOAD} bytes")
        self.file.write(chunk)

    def discard(self) -> None:
        self.file.close()
        self.path.unlink(missing_ok=True)


async def _spool(request: Request, folder: Any) -> tuple[Any, str | None]:
    """The uploaded file spooled to disk, and the file name its multipart part gave (if any)."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    spool = _Spool(folder)
    try:
        part_name: str | None = None
        if ctype == "multipart/form-data":
            from starlette.datastructures import UploadFile

            try:
                form = await request.form(max_files=1, max_fields=10)
            except Problem:
                raise
            except Exception as exc:  # python-multipart's or starlette's parse errors
                if getattr(exc, "status_code", None) == 413:
                    raise
                raise Problem(400, "bad-multipart", "the multipart body cannot be parsed") from None
            try:
                part = form.get("file")
                if not isinstance(part, UploadFile):
                    raise Problem(400, "no-file", "send the file as the multipart part 'file'")
                part_name = part.filename
                while chunk := await part.read(CHUNK):
                    spool.write(chunk)
            finally:
                await form.close()
        else:
            async for chunk in request.stream():
                spool.write(chunk)
        spool.file.close()
        if spool.size == 0:
            raise Problem(400, "empty-upload", "the uploaded file is empty")
        return spool.path, part_name
    except BaseException:
        spool.discard()
        raise


@router.post(
    "/v1/datasets/{id}/uploads",
    response_model=RunOut,
    status_code=202,
    responses=responses(400, 401, 403, 404, 413, 422, 429, 503),
    openapi_extra=UPLOAD_BODY,
)
async def upload(
    id: Annotated[
        str, Path(description="dataset id (contract)", examples=["ps_household"], max_length=64)
    ],
    request: Request,
    access: Annotated[Access, gate("datasets")],
    state: Annotated[HubState, Depends(hub_state)],
    filename: Annotated[
        str | None,
        Query(
            description="original file name (its suffix selects the reader); default: the "
            "multipart part's file name, else upload.csv",
            max_length=200,
            examples=["household.csv"],
        ),
    ] = None,
) -> RunOut:
    """Spool the file to disk, have a worker process land it and run the dataset's ingest;
    answers the run (status ``landed``). The file is never parsed in the server's process."""
    from starlette.concurrency import run_in_threadpool

    from api.publish import SchedulerUnavailable, WorkerFailed, incoming, start_ingest

    if not access.allows(id):
        raise Problem(403, "not-granted", f"dataset {id!r} is outside the client's grant")
    if id not in state.ingest.contracts:
        raise Problem(404, "unknown-dataset", f"no dataset contract {id!r}")
    path, part_name = await _spool(request, incoming(state.config.uploads))
    name = filename or part_name or "upload.csv"
    try:
        started = await run_in_threadpool(
            start_ingest, state.config.uploads, state.ingest, id, path, name
        )
    except SchedulerUnavailable as exc:
        raise Problem(503, "scheduler-unavailable", str(exc)) from exc
    except WorkerFailed as exc:
        raise Problem(503, "ingest-unavailable", str(exc)) from exc
    finally:
        path.unlink(missing_ok=True)
    access.fields = {id}
    access.status = 202
    return _run_out(started.run, started.started_by, started.dag_run_id)


@router.get("/v1/runs/{id}", response_model=RunOut, responses=responses(401, 403, 404, 422, 429))
def get_run(
    id: Annotated[
        str,
        Path(
            min_length=1,
            max_length=80,
            pattern=PRINTABLE,
            examples=["ps_household-3f2a9c0d11e4b7a2"],
        ),
    ],
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


class PullPosition(BaseModel):
    dataset: str = Field(examples=["ps_household"])
    position: str | None = Field(
        description="where the last merged batch ended (its watermark); null before the first",
        examples=["int:1024"],
    )
    unfinished: list[str] = Field(
        description="runs of batches landed and not yet published (the hub finishes them)"
    )


def _pulled(id: str, access: Access, state: HubState) -> None:
    if not access.allows(id):
        raise Problem(403, "not-granted", f"dataset {id!r} is outside the client's grant")
    if id not in state.ingest.contracts:
        raise Problem(404, "unknown-dataset", f"no dataset contract {id!r}")


DATASET_ID = Path(description="dataset id (contract)", examples=["ps_household"], max_length=64)


@router.get(
    "/v1/datasets/{id}/pulls",
    response_model=PullPosition,
    responses=responses(401, 403, 404, 422, 429),
)
def pull_position(
    id: Annotated[str, DATASET_ID],
    access: Annotated[Access, gate("datasets")],
    state: Annotated[HubState, Depends(hub_state)],
) -> PullPosition:
    """Where a department's edge worker reads from next: the watermark of the last batch whose
    merge committed."""
    from pipeline.pull.run import unfinished

    _pulled(id, access, state)
    access.fields = {id}
    return PullPosition(
        dataset=id,
        position=state.library.pull_position(id),
        unfinished=unfinished(state.ingest, id),
    )


PULL_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": (
            "a batch an edge worker read: the changed rows as a file of the contract's format "
            "(part 'file', absent when there are only tombstones), the watermark it was read "
            "after ('since', absent for the first) and the one it ends at ('position'), and the "
            "subjects the department deleted ('tombstones', a JSON list)"
        ),
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "since": {"type": "string"},
                        "position": {"type": "string", "minLength": 1},
                        "tombstones": {"type": "string"},
                    },
                    "required": ["position"],
                    "additionalProperties": False,
                }
            }
        },
    }
}


@router.post(
    "/v1/datasets/{id}/pulls",
    response_model=RunOut,
    status_code=202,
    responses=responses(400, 401, 403, 404, 409, 413, 422, 429),
    openapi_extra=PULL_BODY,
)
async def pull_batch(
    id: Annotated[str, DATASET_ID],
    request: Request,
    access: Annotated[Access, gate("datasets")],
    state: Annotated[HubState, Depends(hub_state)],
) -> RunOut:
    """Land a batch a department's edge worker read from its own system (the hub's worker
    then checks and merges it); 409 when it was read after another position than the hub's,
    or while another batch is unfinished."""
    import json

    from starlette.concurrency import run_in_threadpool
    from starlette.datastructures import UploadFile

    from pipeline.pull.edge import BatchRefused, accept, edge_ready
    from pipeline.refs import IngestError

    _pulled(id, access, state)
    try:
        edge_ready(state.ingest.contract(id))
    except BatchRefused as exc:
        raise Problem(exc.status, exc.code, str(exc)) from None
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != (
        "multipart/form-data"
    ):
        raise Problem(400, "bad-multipart", "send the batch as a multipart form")
    try:
        form = await request.form(max_files=1, max_fields=10, max_part_size=64 * 1024 * 1024)
    except Exception as exc:  # python-multipart's or starlette's parse errors
        if getattr(exc, "status_code", None) == 413:
            raise
        raise Problem(400, "bad-multipart", "the multipart body cannot be parsed") from None
    try:
        values: dict[str, str] = {}
        for name in ("since", "position", "tombstones"):
            value = form.get(name)
            if value is not None and not isinstance(value, str):
                raise Problem(400, "bad-field", f"{name} is a text field")
            if value is not None:
                values[name] = value
        part = form.get("file")
        data: bytes | None = None
        if part is not None:
            if not isinstance(part, UploadFile):
                raise Problem(400, "no-file", "send the rows as the multipart part 'file'")
            data = await part.read(MAX_UPLOAD + 1)
            if len(data) > MAX_UPLOAD:
                raise Problem(413, "too-large", f"batches are limited to {MAX_UPLOAD} bytes")
            data = data or None
    finally:
        await form.close()
    try:
        tombstones = json.loads(values.get("tombstones") or "[]")
    except ValueError:
        tombstones = None
    if not isinstance(tombstones, list) or not all(isinstance(t, str) for t in tombstones):
        raise Problem(400, "bad-tombstones", "tombstones is a JSON list of subject ids")
    try:
        ref = await run_in_threadpool(
            accept,
            state.ingest,
            id,
            values.get("since"),
            values.get("position", ""),
            data,
            tombstones,
        )
    except BatchRefused as exc:
        raise Problem(exc.status, exc.code, str(exc)) from None
    except IngestError as exc:
        raise Problem(400, "bad-batch", str(exc)) from None
    access.fields = {id}
    access.status = 202
    return _run_out(state.library.get_run(ref["run_id"]), "edge")
