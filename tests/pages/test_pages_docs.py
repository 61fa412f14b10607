"""``/docs`` works on a network without internet: Swagger UI from the hub, under the pages' CSP."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.pages.web import CSP
from hub.settings import Settings
from hub.wiring import api_app


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(api_app(settings, background=False)) as c:
        yield c


def test_docs_load_nothing_from_elsewhere(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    html = page.text
    assert "cdn" not in html.lower() and "http://" not in html and "https://" not in html
    assert "//" not in re.sub(r"<!doctype html>", "", html, flags=re.I)  # no protocol-relative
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, flags=re.S)
    assert scripts and all('src="/' in attrs and not body.strip() for attrs, body in scripts)
    assert page.headers["content-security-policy"] == CSP
    assert "script-src 'self'" in CSP
    for url in re.findall(r'(?:src|href)="(/[^"]+)"', html):
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 20, url
    bundle = client.get("/docs/assets/swagger-ui-bundle.js")
    assert bundle.headers["content-type"].startswith("text/javascript")
    assert b"SwaggerUIBundle" in bundle.content
    assert client.get("/openapi.json").json()["openapi"].startswith("3.1")


def test_only_the_swagger_files_are_served(client: TestClient) -> None:
    assert client.get("/docs/assets/__init__.py").status_code == 404
    assert client.get("/docs/assets/..%2f__init__.py").status_code == 404
    assert client.get("/redoc").status_code == 404  # FastAPI's CDN page is gone
