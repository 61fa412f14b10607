"""``/catalog``: the datasets departments publish, their fields, cadence, runs and quality.

Every page here needs a signed-in staff member (any role); publishing a file into a dataset's
ingest pipeline needs the publisher (or admin) role; the upload form starts the ingest exactly as
``POST /v1/datasets/{id}/uploads`` does (:func:`api.publish.start_ingest`). The quality trend
charts are the ones ``hub quality report --html`` draws (one inline SVG per dimension, no
JavaScript).
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Request, UploadFile
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from api.pages import web
from api.pages.accounts import Staff

MAX_UPLOAD = 200 * 1024 * 1024
FINISHED = ("published", "failed", "retracted")
FOLLOW_FOR = dt.timedelta(minutes=15)
LIBRARY_ZH = {"population": "人口库", "legal-entity": "法人库"}
# what each run status means to a clerk (storage.library.RUN_STATUSES and the legacy "read"),
# in Chinese and English
RUN_STATUS = {
    "landed": ("已接收", "received"),
    "read": ("已读取", "read"),
    "checked": ("已校验", "checked"),
    "merged": ("已合并入库", "merged"),
    "published": ("已发布", "published"),
    "failed": ("失败", "failed"),
    "retracted": ("已撤回", "retracted by its department"),
}
QUALITY_STATUS = {"ok": ("合格", "within thresholds"), "degraded": ("低于阈值", "below threshold")}
DIMENSION_ZH = {  # GB/T 36344 names
    "completeness": "完整性",
    "conformity": "规范性",
    "consistency": "一致性",
    "accuracy": "准确性",
    "timeliness": "时效性",
    "uniqueness": "唯一性",
}
MIN_TREND_POINTS = 2  # one point is not a trend: a sentence instead of a one-dot chart

router = APIRouter(route_class=web.PagesRoute, include_in_schema=False)


def _engine(request: Request) -> Any:
    return web.ingest_hub(request).library.engine


def _contracts(request: Request) -> dict[str, Any]:
    return dict(web.ingest_hub(request).contracts)


def _runs_by_dataset(request: Request) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for run in web.ingest_hub(request).library.list_runs():
        grouped.setdefault(run["dataset"], []).append(run)
    return grouped


def _overdue(contract: Any, last: dict[str, Any] | None, now: dt.datetime) -> bool:
    """No delivery within the contract's cadence (plus a day's grace)."""
    if last is None:
        return True
    return bool(now - last["received_at"] > dt.timedelta(days=contract.cadence_days + 1))


@router.get("/catalog", response_class=HTMLResponse)
def catalog(request: Request, _staff: web.SignedIn) -> HTMLResponse:
    from quality.metrics import scorecard

    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    runs = _runs_by_dataset(request)
    quality: dict[str, dict[str, Any]] = {}
    for row in scorecard(_engine(request)):
        quality[row["dataset"]] = row  # time order: the last one is the latest
    datasets = []
    for ds, contract in sorted(_contracts(request).items()):
        last = runs.get(ds, [None])[-1]
        datasets.append(
            {
                "id": ds,
                "contract": contract,
                "library_zh": LIBRARY_ZH.get(contract.library, contract.library),
                "last": last,
                "runs": len(runs.get(ds, [])),
                "quality": quality.get(ds),
                "overdue": _overdue(contract, last, now),
            }
        )
    return web.render(request, "catalog.html", {"datasets": datasets, **_wording()})


def _wording() -> dict[str, Any]:
    return {
        "run_status": RUN_STATUS,
        "quality_status": QUALITY_STATUS,
        "dimension_zh": DIMENSION_ZH,
    }


def _dataset_page(
    request: Request, dataset: str, message: dict[str, Any] | None = None, status_code: int = 200
) -> HTMLResponse:
    from quality.charts import svg_trend  # the scorecard's chart, shared on purpose
    from quality.metrics import scorecard
    from schemas.contracts import DIMENSIONS
    from schemas.sharing import contract_sharing

    contract = _contracts(request).get(dataset)
    if contract is None:
        return web.render(
            request,
            "error.html",
            {
                "title_zh": "没有这个数据集",
                "title_en": "No such dataset",
                "message_zh": f"目录中没有数据集 {dataset}。",
                "message_en": f"There is no dataset {dataset!r} in the catalogue.",
            },
            status_code=404,
        )
    runs = _runs_by_dataset(request).get(dataset, [])
    quality = scorecard(_engine(request), dataset=dataset)
    charts = []
    for dim in DIMENSIONS:
        points = [
            (f"{web.cst(r['checked_at'])} {r['run_id']}", r["metrics"][dim])
            for r in quality
            if dim in r["metrics"]
        ]
        if len(points) >= MIN_TREND_POINTS:
            limit = contract.thresholds.get(dim)
            charts.append({"dimension": dim, "threshold": limit, "svg": svg_trend(points, limit)})
    staff: Staff | None = web.signed_in(request)
    # the page follows a run that is still under way (a stalled one stops being followed)
    latest = runs[-1] if runs else None
    following = (
        latest is not None
        and latest["status"] not in FINISHED
        and dt.datetime.now(dt.UTC).replace(tzinfo=None) - latest["received_at"] < FOLLOW_FOR
    )
    return web.render(
        request,
        "dataset.html",
        {
            "contract": contract,
            "sharing": contract_sharing(contract),
            "library_zh": LIBRARY_ZH.get(contract.library, contract.library),
            "runs": list(reversed(runs))[:20],
            "quality": list(reversed(quality))[:20],
            "dimensions": DIMENSIONS,
            "charts": charts,
            "may_publish": staff is not None and staff.may("publisher"),
            "message": message,
            "following": following,
            "latest": latest,
            "min_trend_points": MIN_TREND_POINTS,
            **_wording(),
        },
        status_code=status_code,
    )


@router.get("/catalog/{dataset}", response_class=HTMLResponse)
def dataset_page(request: Request, dataset: str, _staff: web.SignedIn) -> HTMLResponse:
    return _dataset_page(request, dataset)


async def _spool(file: UploadFile, folder: Path) -> Path | None:
    """The uploaded file copied to a file under ``folder`` a chunk at a time (never held in
    memory whole), or None, with nothing left behind, if it is empty or over ``MAX_UPLOAD``."""
    fd, name = tempfile.mkstemp(dir=folder, suffix=".upload")
    path, size = Path(name), 0
    with os.fdopen(fd, "wb") as out:
        while chunk := await file.read(1024 * 1024):
            size += len(chunk)
            if size > MAX_UPLOAD:
                break
            out.write(chunk)
    if size == 0 or size > MAX_UPLOAD:
        path.unlink(missing_ok=True)
        return None
    return path


@router.post("/catalog/{dataset}/upload", response_class=HTMLResponse)
async def upload(
    request: Request,
    dataset: str,
    file: Annotated[UploadFile, File()],
    _staff: web.Publisher,
    _csrf: web.CsrfChecked,
) -> HTMLResponse:
    """Publish a department file: landed, and its ingest started as the upload API starts it
    (Airflow when a scheduler is configured, an ingest worker process otherwise; the file is
    spooled to disk, never held in memory whole); the page then follows
    the run until it ends."""
    from api.publish import SchedulerUnavailable, incoming, start_ingest
    from pipeline.refs import IngestError

    if dataset not in _contracts(request):
        return _dataset_page(request, dataset)
    uploads = request.app.state.config.uploads
    spooled = await _spool(file, incoming(uploads))
    if spooled is None:
        return _dataset_page(
            request,
            dataset,
            {"ok": False, "text": f"文件为空或超过 {MAX_UPLOAD // 2**20} MiB / empty or too large"},
            status_code=400,
        )
    try:
        started = await run_in_threadpool(
            start_ingest,
            uploads,
            web.ingest_hub(request),
            dataset,
            spooled,
            file.filename or "upload",
        )
    except IngestError as exc:
        return _dataset_page(request, dataset, {"ok": False, "text": str(exc)}, status_code=422)
    except SchedulerUnavailable as exc:
        text = f"调度器不可用，文件已接收，请重试 / {exc}"
        return _dataset_page(request, dataset, {"ok": False, "text": text}, status_code=503)
    run = started.run
    if started.dag_run_id:
        how = f"Airflow run {started.dag_run_id}"
    elif started.started_by == "worker":
        how = "in an ingest worker process"
    else:
        how = "already ingested: nothing changed"
    zh, en = RUN_STATUS.get(run["status"], (run["status"], run["status"]))
    if run["status"] == "failed":
        reason = run.get("message") or "no reason recorded"
        text = f"入库失败：{reason} / ingest failed: run {run['run_id']} ({how})"
        return _dataset_page(
            request, dataset, {"ok": False, "text": text, "run": run["run_id"]}, status_code=422
        )
    text = f"已开始入库（{zh}）/ ingest started: run {run['run_id']} ({how}) — status {en}"
    return _dataset_page(request, dataset, {"ok": True, "text": text, "run": run["run_id"]})
