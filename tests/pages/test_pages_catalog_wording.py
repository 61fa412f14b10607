"""The catalogue as a clerk reads it: statuses in Chinese and English, Beijing time, a failed
upload's reason on the page, and no one-dot "trend" charts."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from api.pages.accounts import StaffAccounts
from api.pages.web import cst
from hub.settings import Settings
from hub.wiring import api_app
from storage.library import engine_for

PASSWORD = "correct horse battery"
DATASET = "ps_household"


@pytest.fixture
def hub_one_run(settings: Settings) -> Any:
    from hub.synth import generate
    from hub.wiring import ingest_services
    from pipeline.run import run_pipeline

    hub = ingest_services(settings)
    synth = generate(settings.home / "departments", city="3404", persons=60, entities=5, seed=3)
    data = synth.files[DATASET].read_bytes()
    run_pipeline(hub, DATASET, data, "household.csv", fail_on_breach=False)
    return hub


@pytest.fixture
def client(settings: Settings, hub_one_run: Any) -> Iterator[TestClient]:
    cheap = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)
    StaffAccounts(engine_for(settings.db_url), cheap).add("clerk", "publisher", PASSWORD)
    with TestClient(api_app(settings, background=False)) as c:
        page = c.get("/login").text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert token
        signed = c.post(
            "/login",
            data={"csrf_token": token.group(1), "username": "clerk", "password": PASSWORD},
            follow_redirects=False,
        )
        assert signed.status_code == 303
        yield c


def test_times_are_china_standard_time() -> None:
    assert cst(dt.datetime(2026, 1, 5, 16, 30)) == "2026-01-06 00:30"  # stored naive UTC
    assert cst(dt.datetime(2026, 1, 5, 16, 30, tzinfo=dt.UTC)) == "2026-01-06 00:30"


def test_statuses_and_times_in_chinese_and_english(client: TestClient, hub_one_run: Any) -> None:
    (run,) = hub_one_run.library.list_runs(DATASET)
    catalogue = client.get("/catalog").text
    assert "北京时间 UTC+8" in catalogue
    assert "已发布" in catalogue and "published" in catalogue
    assert cst(run["received_at"]) in catalogue
    page = client.get(f"/catalog/{DATASET}").text
    runs = page[page.index('class="runs"') :]
    assert "接收时间" in runs and "状态" in runs and "Status" in runs
    assert "已发布" in runs and cst(run["received_at"]) in runs
    utc = run["received_at"].strftime("%Y-%m-%d %H:%M")
    assert utc == cst(run["received_at"]) or utc not in runs  # never the UTC time shown bare


def test_one_run_draws_no_trend_charts(client: TestClient) -> None:
    page = client.get(f"/catalog/{DATASET}").text
    assert "<svg" not in page
    assert 'id="no-trend"' in page and "至少 2 次" in page
    assert "完整性" in page  # the scorecard table, with the dimensions' Chinese names


def test_two_runs_draw_the_trend(settings: Settings, client: TestClient, hub_one_run: Any) -> None:
    from hub.synth import generate
    from pipeline.run import run_pipeline

    again = generate(settings.home / "again", city="3404", persons=50, entities=5, seed=4)
    run_pipeline(
        hub_one_run, DATASET, again.files[DATASET].read_bytes(), "h2.csv", fail_on_breach=False
    )
    page = client.get(f"/catalog/{DATASET}").text
    assert page.count("<svg") >= 2 and 'id="no-trend"' not in page


def test_a_failed_upload_shows_its_reason(client: TestClient, hub_one_run: Any) -> None:
    from pipeline import steps as ingest
    from schemas.readers import ReadError

    ref = ingest.land(hub_one_run, DATASET, b"\xff\xfe not a table at all\n", "broken.csv")
    with pytest.raises(ReadError):
        ingest.check(hub_one_run, ref)
    failed = hub_one_run.library.get_run(ref["run_id"])
    assert failed["status"] == "failed" and failed["message"]
    reason = failed["message"]
    page = client.get(f"/catalog/{DATASET}").text
    assert 'id="latest-failed"' in page and "最近一次入库失败" in page
    assert reason[:40] in page.replace("&#39;", "'").replace("&quot;", '"')
    row = page[page.index(f'data-run="{ref["run_id"]}"') :]
    assert "失败" in row[:600] and "原因 Reason" in row[:2000]
    catalogue = client.get("/catalog").text
    assert "失败" in catalogue and "原因 Reason" in catalogue


def test_an_upload_is_spooled_to_disk_and_a_too_large_one_leaves_nothing(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The catalogue's upload form copies the file to disk a chunk at a time (never read whole
    into memory); an empty or too large file is refused and leaves no spool file behind."""
    import asyncio
    import io

    from starlette.datastructures import UploadFile

    from api.pages import catalog

    monkeypatch.setattr(catalog, "MAX_UPLOAD", 3 * 1024 * 1024)
    body = b"x" * (3 * 1024 * 1024)
    path = asyncio.run(catalog._spool(UploadFile(io.BytesIO(body), filename="a.csv"), tmp_path))
    assert path is not None and path.read_bytes() == body
    path.unlink()
    for refused in (b"", body + b"y"):
        upload = UploadFile(io.BytesIO(refused), filename="b.csv")
        assert asyncio.run(catalog._spool(upload, tmp_path)) is None
    assert list(tmp_path.iterdir()) == []
