"""Fixtures: a licence service over the real SQLite stores, local object store and ledger."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from licence_fixtures import ENTITY_USCC, PERSON_ID

from hub.settings import Settings
from ledger.service import LedgerService
from licence.issuance import LibraryHolders
from licence.service import LicenceService
from licence.store import LicenceStore
from licence.tables import engine_for
from storage.keys import EncryptedFileKeyStore
from storage.library import LibraryStore
from storage.library import engine_for as library_engine
from storage.objects import LocalObjectStore


@pytest.fixture
def ledger(settings: Settings) -> LedgerService:
    return LedgerService.open(settings)


@pytest.fixture
def library(settings: Settings) -> LibraryStore:
    lib = LibraryStore(library_engine(settings.db_url))
    now = datetime(2026, 1, 5, tzinfo=UTC)
    lib.merge("population", "run-p", "police.residents", now, [PERSON_ID], {"name": ["张三"]})
    lib.merge(
        "legal-entity",
        "run-e",
        "samr.entities",
        now,
        [ENTITY_USCC],
        {"entity_name": ["长沙星辰餐饮有限公司"]},
    )
    return lib


@pytest.fixture
def service(settings: Settings, ledger: LedgerService, library: LibraryStore) -> LicenceService:
    svc = LicenceService(
        LicenceStore(engine_for(settings.db_url)),
        LocalObjectStore(settings.objects_path),
        EncryptedFileKeyStore(settings.keys_path, settings.key_passphrase),
        ledger,
        LibraryHolders(library),
    )
    svc.ensure_ca()
    return svc
