"""Fixtures for the staff pages: a small seeded hub served by uvicorn, and headless Chromium.

The hub (a few hundred persons, four licences, one revoked) is built once per module; the app
is the real one (``api.app.create_app``) on a free loopback port; the browser is Debian's
``chromium`` driven by Playwright (no browser download: the executable path is set).
"""

from __future__ import annotations

import contextlib
import copy
import json
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hub.settings import PROJECT_ROOT, Settings

PASSWORD = "correct horse battery"
SCREENSHOTS = PROJECT_ROOT / "var" / "screenshots"
FONTS = PROJECT_ROOT / ".cache" / "fonts"  # the subset CJK font, shared with the licence tests


@dataclass
class Site:
    """A served, seeded hub and the files a member of staff would be handed."""

    url: str
    settings: Settings
    files: Path
    valid_id: str
    revoked_id: str
    qr_payload: str


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _seed(settings: Settings) -> dict[str, Any]:
    from api.pages.accounts import StaffAccounts
    from hub.demo import HUAINAN_HR, issue_licences
    from hub.ingest import Hub, run_pipeline
    from hub.synth import generate
    from licence.pdf import qr_payload
    from licence.service import Holder, ledger_receipts, render_pdf
    from storage.library import engine_for

    # in process (the DAGs' own task functions): Airflow is not what these tests are about
    hub = Hub.open(settings)
    synth = generate(settings.home / "departments", city="3404", persons=300, entities=40, seed=1)
    for dataset, path in sorted(synth.files.items()):
        run_pipeline(hub, dataset, path.read_bytes(), path.name, fail_on_breach=False)
    svc, issued = issue_licences(settings, hub, 2)
    valid_id, revoked_id = issued[0], issued[1]
    svc.revoke(revoked_id, "FRAUD", "以欺骗手段取得许可")
    svc.ledger.sequence()
    svc.attach_receipts(ledger_receipts(svc.ledger))
    # issued after the last checkpoint: not yet in the ledger, so its verdict is INDETERMINATE
    person = svc.document(issued[2])["fields"]
    pending = svc.issue(
        "professional_qualification",
        HUAINAN_HR,
        Holder(person["持证主体代码"]["value"], person["持证主体"]["value"]),
        {
            "occupation": "焊工",
            "level": "五级/初级工",
            "certificate_number": "S3404000000999",
            "assessed_on": "2025-06-30",
        },
    )
    files = settings.home / "handed"
    files.mkdir()
    (files / "valid.json").write_bytes(svc.raw(valid_id))
    tampered = copy.deepcopy(svc.document(valid_id))
    tampered["fields"]["legal_representative"]["value"] = "李四"
    (files / "tampered.json").write_text(json.dumps(tampered, ensure_ascii=False))
    (files / "revoked.json").write_bytes(svc.raw(revoked_id))
    (files / "truncated.json").write_bytes(svc.raw(valid_id)[:300])
    (files / "pending.json").write_text(json.dumps(pending, ensure_ascii=False))
    (files / "valid.pdf").write_bytes(render_pdf(svc, valid_id, FONTS))
    # a second delivery of the household extract, for a publisher to publish through the page
    again = generate(settings.home / "again", city="3404", persons=120, entities=10, seed=2)
    shutil.copy(again.files["ps_household"], files / "ps_household-2.csv")
    accounts = StaffAccounts(engine_for(settings.db_url))
    accounts.add("alice", "publisher", PASSWORD, "王丽 Alice")
    accounts.add("victor", "verifier", PASSWORD, "赵伟 Victor")
    return {
        "files": files,
        "valid_id": valid_id,
        "revoked_id": revoked_id,
        "qr": qr_payload(svc.document(valid_id), svc.verification_url),
    }


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    import uvicorn

    from api.app import create_app

    settings = Settings(
        home=tmp_path_factory.mktemp("pages") / "hub", key_passphrase="test-passphrase"
    )
    settings.ensure_dirs()
    (settings.home / "demo").mkdir()
    seeded = _seed(settings)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, background=False),
            host="127.0.0.1",
            port=port,
            log_level="warning",
        )
    )
    thread = threading.Thread(target=server.run, name="pages-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"uvicorn did not start on 127.0.0.1:{port}")
        time.sleep(0.05)
    try:
        yield Site(
            f"http://127.0.0.1:{port}",
            settings,
            seeded["files"],
            seeded["valid_id"],
            seeded["revoked_id"],
            seeded["qr"],
        )
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        raise RuntimeError(
            "Debian's chromium is not installed: run `bash scripts/system-deps.sh` (make env)"
        )
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=chromium_path(), args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        try:
            yield chromium
        finally:
            with contextlib.suppress(Exception):  # the browser may already be gone at exit
                chromium.close()


@pytest.fixture
def phone(browser: Any) -> Iterator[Any]:
    """A fresh phone-sized browser context (no cookies shared between tests)."""
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, device_scale_factor=1, locale="zh-CN"
    )
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture
def desk(browser: Any) -> Iterator[Any]:
    """A fresh desktop-sized browser context."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    try:
        yield context.new_page()
    finally:
        context.close()


def screenshot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
