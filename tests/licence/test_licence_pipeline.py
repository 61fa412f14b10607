"""``issue_batches``: the two-stage issuance pipeline gives what ``issue_many`` batch after batch
gives, stops at the first bad batch, and keeps the log and the status lists right."""

from __future__ import annotations

import json
from typing import Any

import pytest
from licence_fixtures import BUSINESS_FIELDS, ENTITY_USCC, PROVINCE_MR

from ledger.receipt import Receipt, verify_receipt
from ledger.service import LedgerService
from licence.document import canonical
from licence.errors import HolderError
from licence.issuance import Holder, IssueRequest
from licence.receipts import ledger_receipts
from licence.service import LicenceService, check_sealed

ENTITY = Holder(ENTITY_USCC, "长沙星辰餐饮有限公司")


def _batch(n: int, holder: Holder = ENTITY) -> list[IssueRequest]:
    return [IssueRequest("business_licence", PROVINCE_MR, holder, BUSINESS_FIELDS)] * n


def test_pipeline_issues_every_batch_logged_and_sequenced(
    service: LicenceService, ledger: LedgerService
) -> None:
    service.create_seal(PROVINCE_MR)
    after: list[int] = []

    def sequence_every_second(k: int) -> None:
        after.append(k)
        if k % 2 == 1:
            ledger.sequence()

    issued = service.issue_batches(
        iter([_batch(3), [], _batch(2), _batch(4)]), sequence_every_second
    )
    assert issued == 9 and after == [0, 2, 3]
    ledger.sequence()
    assert service.attach_receipts(ledger_receipts(ledger)) == 9
    rows = service.store.licences()
    serials = sorted(r["serial"] for r in rows)
    assert len(set(serials)) == 9 and len({r["status_index"] for r in rows}) == 9
    key = ledger.verifier_key()
    for row in rows:
        lid = row["licence_id"]
        raw = service.raw(lid)
        doc = json.loads(raw)
        assert raw == canonical(doc)
        check_sealed(doc)
        receipt = Receipt.from_dict(service.receipt(lid) or {})
        verify_receipt(receipt, [key])
        entry = json.loads(receipt.data or b"")
        assert (entry["licence_id"], entry["status_index"]) == (lid, row["status_index"])
        assert service.status_proof(lid)["status"] == "valid"


def test_pipeline_stops_at_the_first_bad_batch(
    service: LicenceService, ledger: LedgerService
) -> None:
    service.create_seal(PROVINCE_MR)
    wrong = Holder(ENTITY_USCC, "别的公司")
    with pytest.raises(HolderError):
        service.issue_batches([_batch(2), _batch(1, wrong), _batch(2)])
    # the batch before the bad one was committed whole; nothing of the bad one or after it
    assert len(service.store.licences()) == 2
    ledger.sequence()
    assert service.attach_receipts(ledger_receipts(ledger)) == 2


def test_sequencing_retries_a_busy_database(
    service: LicenceService, ledger: LedgerService, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy.exc import OperationalError

    service.create_seal(PROVINCE_MR)
    service.issue_many(_batch(2))
    real = ledger._sequence_batch
    calls: list[int] = []

    def busy_once() -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("INSERT", {}, Exception("database is locked"))
        return real()

    monkeypatch.setattr(ledger, "_sequence_batch", busy_once)
    signed = ledger.sequence()
    assert signed is not None and len(calls) >= 2
    assert service.attach_receipts(ledger_receipts(ledger)) == 2
