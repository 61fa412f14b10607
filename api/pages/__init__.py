"""Staff web pages: ``/verify`` (open), ``/catalog`` (signed in), sign-in and ``/docs``.

Server-rendered HTML (Jinja2 templates in ``api/templates``, CSS in ``api/static``, nothing from
a CDN). One router, ``api.pages.router``, listed in ``api.app.ROUTERS``.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import FileResponse, Response

from api.pages import auth, catalog, docs, verify, web

router = APIRouter(route_class=web.PagesRoute, include_in_schema=False)
router.include_router(verify.router)
router.include_router(catalog.router)
router.include_router(auth.router)
router.include_router(docs.router)


@router.get("/pages/static/{name}")
def static(name: str) -> Response:
    """The pages' own CSS, served locally (service windows may have no internet access)."""
    files = {p.name: p for p in web.STATIC.iterdir() if p.is_file()}
    if name not in files:
        return Response(status_code=404)
    return FileResponse(files[name], headers={"Cache-Control": "max-age=3600"})
