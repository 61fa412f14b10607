"""Fixtures: a cloud-signature service over the real SQLite stores, key files and ledger."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from cloudsign_fixtures import OTHER_ID, PERSON_ID, Clock

from hub.settings import Settings
from ledger.service import LedgerService
from licence.cloudsign.service import CloudSignService
from storage.keys import EncryptedFileKeyStore
from storage.library import LibraryStore, engine_for
from storage.objects import LocalObjectStore


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def cs_ledger(settings: Settings) -> LedgerService:
    return LedgerService.open(settings)


@pytest.fixture
def population(settings: Settings) -> LibraryStore:
    lib = LibraryStore(engine_for(settings.db_url))
    lib.merge(
        "population",
        "run-p",
        "police.residents",
        datetime(2026, 1, 5, tzinfo=UTC),
        [PERSON_ID, OTHER_ID],
        {"name": ["张三", "李四"]},
    )
    return lib


@pytest.fixture
def cloudsign(
    settings: Settings, cs_ledger: LedgerService, population: LibraryStore, clock: Clock
) -> CloudSignService:
    return CloudSignService(
        population.engine,
        EncryptedFileKeyStore(settings.keys_path, settings.key_passphrase),
        LocalObjectStore(settings.objects_path),
        cs_ledger,
        population,
        clock=clock,
    )
