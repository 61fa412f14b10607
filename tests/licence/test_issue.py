"""Issuance end to end over the real stores and ledger, and every refusal of bad input."""

from __future__ import annotations

import json

import pytest
from licence_fixtures import (
    BUSINESS_FIELDS,
    ENTITY_USCC,
    PERSON_ID,
    PROVINCE_HR,
    PROVINCE_MR,
)

from ledger.service import LedgerService
from licence.document import IntegrityError, canonical
from licence.errors import (
    HolderError,
    InvalidFieldsError,
    LicenceNotFoundError,
    LifecycleError,
    NoActiveSealError,
    NotAllowedError,
    UnknownTypeError,
)
from licence.issuance import Holder
from licence.receipts import ledger_receipts
from licence.service import LicenceService, check_sealed
from licence.signers import SignatureError
from schemas import licence_id

ENTITY = Holder(ENTITY_USCC, "长沙星辰餐饮有限公司")


def _entries(ledger: LedgerService) -> int:
    ledger.sequence()
    return ledger.size()


def test_issue_seals_stores_logs_and_attaches_receipt(
    service: LicenceService, ledger: LedgerService
) -> None:
    service.create_seal(PROVINCE_MR)
    doc = service.issue("business_licence", PROVINCE_MR, ENTITY, BUSINESS_FIELDS)
    lid = doc["header"]["licence_id"]
    assert licence_id.validate(lid).valid
    assert lid.endswith(".001." + lid[-1]) and ".20" in lid
    # stored write-once and read back byte-identical
    assert service.raw(lid) == canonical(doc)
    check_sealed(json.loads(service.raw(lid)))
    # the ledger has the seal and the issue entries; the receipt arrives once sequenced
    assert service.receipt(lid) is None
    ledger.sequence()
    assert service.attach_receipts(ledger_receipts(ledger)) == 1
    receipt = service.receipt(lid)
    assert receipt is not None
    logged = json.loads(bytes.fromhex(receipt["data"]))
    assert logged["event"] == "licence.issue"
    assert logged["document_digest"] == doc["header"]["document_digest"]


def test_tampered_field_or_header_fails(service: LicenceService) -> None:
    service.create_seal(PROVINCE_MR)
    doc = service.issue("business_licence", PROVINCE_MR, ENTITY, BUSINESS_FIELDS)
    bad = json.loads(canonical(doc))
    bad["fields"]["持证主体"]["value"] = "别的公司"
    with pytest.raises(IntegrityError):
        check_sealed(bad)
    bad = json.loads(canonical(doc))
    bad["header"]["signed_at"] = "2030-01-01T00:00:00Z"
    with pytest.raises(SignatureError):
        check_sealed(bad)


def test_selective_disclosure_still_verifies(service: LicenceService) -> None:
    service.create_seal(PROVINCE_MR)
    doc = service.issue("business_licence", PROVINCE_MR, ENTITY, BUSINESS_FIELDS)
    lid = doc["header"]["licence_id"]
    red = service.disclose(lid, ["registered_capital", "legal_representative"])
    assert "value" not in red["fields"]["registered_capital"]
    assert "人民币壹佰万元整" not in canonical(red).decode()
    assert red["header"] == doc["header"] and red["signature"] == doc["signature"]
    check_sealed(red)
    with pytest.raises(KeyError):
        service.disclose(lid, ["no_such_field"])


def test_person_licence(service: LicenceService) -> None:
    service.create_seal(PROVINCE_HR)
    doc = service.issue(
        "职业资格证书",
        PROVINCE_HR,
        Holder(PERSON_ID, "张三"),
        {
            "occupation": "电工",
            "level": "三级/高级工",
            "certificate_number": "S000043010000123",
            "assessed_on": "2025-11-02",
        },
    )
    assert doc["fields"]["持证主体代码类型"]["value"] == "111"


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"type_name": "驾驶证"}, UnknownTypeError),
        ({"authority": PROVINCE_HR}, NotAllowedError),
        ({"authority": "11430000006122245X"}, NotAllowedError),
        ({"holder": Holder(ENTITY_USCC, "别的公司")}, HolderError),
        ({"holder": Holder("91430100MA4L99999X", "某公司")}, HolderError),
        ({"holder": Holder("914301000000000001", "某公司")}, HolderError),
        ({"fields": {**BUSINESS_FIELDS, "established": "2020-13-40"}}, InvalidFieldsError),
        (
            {"fields": {k: v for k, v in BUSINESS_FIELDS.items() if k != "address"}},
            InvalidFieldsError,
        ),
        ({"fields": {**BUSINESS_FIELDS, "colour": "red"}}, InvalidFieldsError),
    ],
)
def test_bad_input_issues_and_logs_nothing(
    service: LicenceService, ledger: LedgerService, kwargs: dict[str, object], error: type
) -> None:
    service.create_seal(PROVINCE_MR)
    service.create_seal(PROVINCE_HR)
    before = _entries(ledger)
    args: dict[str, object] = {
        "type_name": "business_licence",
        "authority": PROVINCE_MR,
        "holder": ENTITY,
        "fields": BUSINESS_FIELDS,
    }
    args.update(kwargs)
    with pytest.raises(error):
        service.issue(
            str(args["type_name"]),
            str(args["authority"]),
            args["holder"],  # type: ignore[arg-type]
            args["fields"],  # type: ignore[arg-type]
        )
    assert _entries(ledger) == before
    assert service.store.licences() == []
    assert service.objects.list("licences/") == []


def test_no_active_seal(service: LicenceService, ledger: LedgerService) -> None:
    with pytest.raises(NoActiveSealError):
        service.issue("business_licence", PROVINCE_MR, ENTITY, BUSINESS_FIELDS)
    seal = service.create_seal(PROVINCE_MR)
    service.set_seal_status(seal["seal_id"], "suspended", "key ceremony")
    before = _entries(ledger)
    with pytest.raises(NoActiveSealError):
        service.issue("business_licence", PROVINCE_MR, ENTITY, BUSINESS_FIELDS)
    assert _entries(ledger) == before


def test_lifecycle(service: LicenceService, ledger: LedgerService) -> None:
    service.create_seal(PROVINCE_MR)
    lid = service.issue("business_licence", PROVINCE_MR, ENTITY, BUSINESS_FIELDS)["header"][
        "licence_id"
    ]
    service.suspend(lid, "整改期间暂扣")
    assert service.row(lid)["status"] == "suspended"
    assert service.status_list(PROVINCE_MR, "suspension")[0] & 0x80
    service.reinstate(lid, "整改完成")
    assert service.row(lid)["status"] == "valid"
    new = service.change(lid, {"address": "湖南省长沙市天心区芙蓉中路1号"}, "住所变更")
    new_id = new["header"]["licence_id"]
    assert ".002." in new_id and licence_id.validate(new_id).valid
    assert service.row(lid)["status"] == "superseded"
    assert service.row(lid)["superseded_by"] == new_id
    service.revoke(new_id, "ILLEGAL_OPERATION", "无证经营被查处")
    assert service.row(new_id)["status"] == "revoked"
    before = _entries(ledger)
    with pytest.raises(LifecycleError):
        service.revoke(new_id, "ILLEGAL_OPERATION", "again")
    with pytest.raises(LicenceNotFoundError):
        service.revoke(lid[:-1] + "Z", "OTHER", "no such licence")
    assert _entries(ledger) == before
    bits = service.status_list(PROVINCE_MR, "revocation")
    assert bits[0] == 0b11000000  # superseded v1 and revoked v2
    committed = service.commit_status_lists()
    assert len(committed) == 1  # one authority has licences: one status list entry
    # the lifecycle entries, then the status list, last under the new checkpoint
    assert ledger.size() == committed[0] + 1


def test_expiry(service: LicenceService) -> None:
    import datetime as dt

    service.create_seal(PROVINCE_MR)
    doc = service.issue(
        "food_business_permit",
        PROVINCE_MR,
        ENTITY,
        {
            "legal_representative": "张三",
            "address": "长沙市岳麓区麓谷大道100号",
            "main_format": "餐饮服务经营者",
            "business_items": "热食类食品制售",
            "permit_number": "JY24301040012345",
        },
    )
    lid = doc["header"]["licence_id"]
    assert service.expire_due() == []
    later = dt.date.today() + dt.timedelta(days=365 * 6)
    assert service.expire_due(later) == [lid]
    assert service.row(lid)["status"] == "expired"
