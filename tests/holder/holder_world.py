"""A platform for the holder tests: a citizen and a company in the libraries, licences issued
to both, sequenced with receipts, over the real SQLite stores and ledger."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hub.settings import Settings
from ledger.service import LedgerService
from licence.issuance import Holder, LibraryHolders
from licence.receipts import ledger_receipts
from licence.service import LicenceService
from licence.store import LicenceStore
from licence.tables import engine_for
from schemas import resident_id, uscc
from storage.keys import EncryptedFileKeyStore
from storage.library import LibraryStore
from storage.library import engine_for as library_engine
from storage.objects import LocalObjectStore

PROVINCE_MR = "11430000006122244L"  # 湖南省市场监督管理局
PROVINCE_HR = "114300000061427127"  # 湖南省人力资源和社会保障厅
PERSON_BODY = "43010219900307123"
PERSON_ID = PERSON_BODY + resident_id.check_character(PERSON_BODY)
OTHER_BODY = "43010219851111002"
OTHER_ID = OTHER_BODY + resident_id.check_character(OTHER_BODY)
ENTITY_BODY = "91430100MA4L1234" + uscc.org_code_check("MA4L1234")
ENTITY_USCC = ENTITY_BODY + uscc.check_character(ENTITY_BODY)
ENTITY_NAME = "长沙星辰餐饮有限公司"
PERSON_NAME = "张三"
QUALIFICATION = {
    "occupation": "电工",
    "level": "四级/中级工",
    "certificate_number": "S3404000000001",
    "assessed_on": "2025-06-30",
}
BUSINESS_FIELDS = {
    "entity_type": "有限责任公司（自然人投资或控股）",
    "legal_representative": "张三",
    "registered_capital": "人民币壹佰万元整",
    "established": "2020-05-18",
    "address": "湖南省长沙市岳麓区麓谷大道100号",
    "business_scope": "餐饮服务；食品销售。",
}


def make_library(settings: Settings) -> LibraryStore:
    lib = LibraryStore(library_engine(settings.db_url))
    now = datetime(2026, 1, 5, tzinfo=UTC)
    lib.merge(
        "population",
        "run-p",
        "ps_household",
        now,
        [PERSON_ID, OTHER_ID],
        {"name": [PERSON_NAME, "李四"]},
    )
    lib.merge(
        "legal-entity", "run-e", "mr_enterprise", now, [ENTITY_USCC], {"entity_name": [ENTITY_NAME]}
    )
    return lib


def make_service(settings: Settings, lib: LibraryStore | None = None) -> LicenceService:
    svc = LicenceService(
        LicenceStore(engine_for(settings.db_url)),
        LocalObjectStore(settings.objects_path),
        EncryptedFileKeyStore(settings.keys_path, settings.key_passphrase),
        LedgerService.open(settings),
        LibraryHolders(lib or make_library(settings)),
    )
    svc.ensure_ca()
    return svc


class World:
    """A citizen's qualification certificate and a company's business licence, with receipts."""

    def __init__(self, svc: LicenceService) -> None:
        self.svc = svc
        svc.create_seal(PROVINCE_MR)
        svc.create_seal(PROVINCE_HR)
        self.qualification = svc.issue(
            "professional_qualification", PROVINCE_HR, Holder(PERSON_ID, PERSON_NAME), QUALIFICATION
        )["header"]["licence_id"]
        self.business = svc.issue(
            "business_licence", PROVINCE_MR, Holder(ENTITY_USCC, ENTITY_NAME), BUSINESS_FIELDS
        )["header"]["licence_id"]
        svc.ledger.sequence()
        svc.attach_receipts(ledger_receipts(svc.ledger))

    def holder_copy(self, lid: str) -> dict[str, Any]:
        """What the holder downloads: the sealed licence and its receipt."""
        from licence.trust import licence_with_receipt

        return licence_with_receipt(self.svc, lid)

    def anchors(self) -> Any:
        from licence.trust_anchors import TrustAnchors, own_anchor

        return TrustAnchors((own_anchor(self.svc),))
