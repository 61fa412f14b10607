"""``/docs``: Swagger UI served by the hub itself, under the pages' CSP (no CDN).

FastAPI's own ``/docs`` loads Swagger UI from a public CDN: blank on a service network without
internet access, and a third-party script running beside staff sessions. Here the page, its
start-up script and Swagger UI's files all come from the hub: the files are those vendored by
the ``fastapi-offline`` package (Swagger UI 5, which renders OpenAPI 3.1), served from its
installed directory, and the page carries no inline script, so ``script-src 'self'`` holds.
"""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

from api.pages import web

router = APIRouter(route_class=web.PagesRoute, include_in_schema=False)

ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon.png": "image/png",
}

PAGE = """<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · API</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
<link rel="icon" href="/docs/assets/favicon.png">
</head>
<body>
<div id="swagger-ui" data-openapi="{openapi}"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/pages/static/docs.js"></script>
</body>
</html>
"""


@cache
def assets_dir() -> Path:
    """Where the installed ``fastapi-offline`` keeps Swagger UI's files (not imported)."""
    spec = importlib.util.find_spec("fastapi_offline")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("fastapi-offline is not installed: run `make env`")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


@router.get("/docs")
def docs(request: Request) -> Response:
    from html import escape

    title = escape(str(getattr(request.app, "title", "Hub")))
    openapi = escape(str(getattr(request.app, "openapi_url", None) or "/openapi.json"))
    return web.secure(HTMLResponse(PAGE.format(title=title, openapi=openapi)))


@router.get("/docs/assets/{name}")
def asset(name: str) -> Response:
    if name not in ASSETS:
        return Response(status_code=404)
    return FileResponse(
        assets_dir() / name,
        media_type=ASSETS[name],
        headers={"Cache-Control": "max-age=86400"},
    )
