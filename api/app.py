"""Application factory: one FastAPI app built from settings, one router per resource.

Each resource lives in its own module exposing ``router`` (a ``fastapi.APIRouter``); it is
listed once in :data:`ROUTERS` (``"module:attribute"``) and imported when the app is built, so
``hub --help`` never pays for FastAPI.
"""

from __future__ import annotations

import importlib
from typing import Any

from hub.settings import Settings

# "module:attribute" of every router the app serves, in order.
ROUTERS: list[str] = []


def create_app(settings: Settings) -> Any:
    """The FastAPI application for ``settings`` (state shared through ``app.state``)."""
    from fastapi import FastAPI

    app = FastAPI(
        title="Data sharing hub and e-licence ledger",
        version="0.1.0",
        description="Verified records for approval systems, electronic licences, seals and "
        "cloud signatures, anchored on a tamper-evident ledger.",
    )
    app.state.settings = settings
    for spec in ROUTERS:
        module, _, attr = spec.partition(":")
        app.include_router(getattr(importlib.import_module(module), attr or "router"))
    return app
