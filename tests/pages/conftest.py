"""Fixtures for the staff pages: a small seeded hub served by uvicorn, and headless Chromium.

The hub (a few hundred persons, four licences, one revoked) is built once per module; the app
is the real one (``hub.wiring.api_app``) on a free loopback port; the browser is Debian's
``chromium`` driven by Playwright (no browser download: the executable path is set).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from pages_site import Site, chromium_path, free_port, seed

from hub.settings import Settings


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    import uvicorn

    from hub.wiring import api_app

    settings = Settings(
        home=tmp_path_factory.mktemp("pages") / "hub", key_passphrase="test-passphrase"
    )
    settings.ensure_dirs()
    (settings.home / "demo").mkdir()
    seeded = seed(settings)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            api_app(settings, background=False),
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
