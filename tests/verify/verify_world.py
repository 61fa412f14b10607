"""A platform with seals and issued licences over the real SQLite stores and ledger."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from verify_fixtures import (
    BUSINESS_FIELDS,
    ENTITY_NAME,
    ENTITY_USCC,
    PERSON_ID,
    PROVINCE_HR,
    PROVINCE_MR,
)

from hub.settings import Settings
from ledger.service import LedgerService
from licence.issuance import Holder, LibraryHolders
from licence.receipts import ledger_receipts
from licence.service import LicenceService
from licence.store import LicenceStore
from licence.tables import engine_for
from storage.keys import EncryptedFileKeyStore
from storage.library import LibraryStore
from storage.library import engine_for as library_engine
from storage.objects import LocalObjectStore


def make_service(settings: Settings) -> LicenceService:
    lib = LibraryStore(library_engine(settings.db_url))
    now = datetime(2026, 1, 5, tzinfo=UTC)
    lib.merge("population", "run-p", "police.residents", now, [PERSON_ID], {"name": ["张三"]})
    lib.merge(
        "legal-entity", "run-e", "samr.entities", now, [ENTITY_USCC], {"entity_name": [ENTITY_NAME]}
    )
    svc = LicenceService(
        LicenceStore(engine_for(settings.db_url)),
        LocalObjectStore(settings.objects_path),
        EncryptedFileKeyStore(settings.keys_path, settings.key_passphrase),
        LedgerService.open(settings),
        LibraryHolders(lib),
    )
    svc.ensure_ca()
    return svc


class World:
    """A platform with seals for two authorities and three issued, sequenced licences."""

    def __init__(self, svc: LicenceService, settings: Settings) -> None:
        self.svc = svc
        self.svc_settings = settings
        self.person_id = PERSON_ID
        self.qualification_fields = {
            "occupation": "电工",
            "level": "四级/中级工",
            "certificate_number": "S3404000000001",
            "assessed_on": "2025-06-30",
        }
        self.mr_seal = svc.create_seal(PROVINCE_MR)
        self.hr_seal = svc.create_seal(PROVINCE_HR)
        docs = [
            svc.issue(
                "business_licence",
                PROVINCE_MR,
                Holder(ENTITY_USCC, ENTITY_NAME),
                dict(BUSINESS_FIELDS),
            )
            for _ in range(4)
        ]
        self.valid, self.revoked, self.suspended, self.spare = (
            d["header"]["licence_id"] for d in docs
        )
        svc.ledger.sequence()
        svc.attach_receipts(ledger_receipts(svc.ledger))
        svc.revoke(self.revoked, "FRAUD", "以欺骗手段取得")
        svc.suspend(self.suspended, "责令停业整顿")
        svc.ledger.sequence()

    def bundle(self, lid: str | None = None) -> dict[str, Any]:
        from licence.trust import licence_with_receipt

        return licence_with_receipt(self.svc, lid or self.valid)
