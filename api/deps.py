"""Shared state of the API process and the dependencies handlers use (state, client, grants).

:class:`HubState` opens the services once per app and is reachable as ``app.state.hub``; the
ledger and licence services are opened on first use so an app that never touches them does not
pay for their keys.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request

from hub.settings import Settings


@dataclass
class HubState:
    """The services one API process shares between requests."""

    settings: Settings
    ingest: Any  # hub.ingest.Hub
    _ledger: Any = None
    _licences: Any = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def open(cls, settings: Settings) -> HubState:
        from hub.ingest import Hub

        return cls(settings, Hub.open(settings))

    @property
    def library(self) -> Any:
        return self.ingest.library

    @property
    def ledger(self) -> Any:
        with self._lock:
            if self._ledger is None:
                from ledger.service import LedgerService

                self._ledger = LedgerService.open(self.settings)
            return self._ledger

    @property
    def licences(self) -> Any:
        with self._lock:
            if self._licences is None:
                from hub.commands.licence import open_service

                self._licences = open_service(self.settings)
            return self._licences

    def start_background(self) -> None:
        """Start periodic work (audit digests) while the app is served."""

    def close(self) -> None:
        """Stop periodic work and flush what is buffered."""


def hub_state(request: Request) -> HubState:
    """Dependency: the app's :class:`HubState`."""
    state: HubState = request.app.state.hub
    return state
