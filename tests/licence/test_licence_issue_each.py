"""``LicenceService.issue_each``: per-request refusals, and the caller's record committed with
the licences (a failure while recording leaves no licence)."""

from __future__ import annotations

from typing import Any

import pytest
from licence_fixtures import BUSINESS_FIELDS, ENTITY_NAME, ENTITY_USCC, PROVINCE_MR

from licence.errors import HolderError, InvalidFieldsError
from licence.issuance import Holder, IssueRequest
from licence.service import LicenceService


def _req(name: str = ENTITY_NAME, **fields: str) -> IssueRequest:
    return IssueRequest(
        "business_licence", PROVINCE_MR, Holder(ENTITY_USCC, name), {**BUSINESS_FIELDS, **fields}
    )


def test_each_request_refused_on_its_own(service: LicenceService) -> None:
    service.create_seal(PROVINCE_MR)
    out = service.issue_each([_req(), _req(name="别人"), _req(established="no"), _req()])
    assert isinstance(out[1], HolderError) and isinstance(out[2], InvalidFieldsError)
    issued = [d for d in out if isinstance(d, dict)]
    assert len(issued) == 2
    assert {r["licence_id"] for r in service.store.licences()} == {
        d["header"]["licence_id"] for d in issued
    }


def test_a_failing_record_leaves_no_licence(service: LicenceService) -> None:
    service.create_seal(PROVINCE_MR)

    def record(results: list[Any], conn: Any) -> None:
        raise RuntimeError("the answer could not be stored")

    with pytest.raises(RuntimeError):
        service.issue_each([_req(), _req()], on_commit=record)
    assert service.store.licences() == []


def test_the_record_sees_every_result_in_order(service: LicenceService) -> None:
    service.create_seal(PROVINCE_MR)
    seen: list[Any] = []
    out = service.issue_each([_req(name="别人"), _req()], on_commit=lambda r, c: seen.extend(r))
    assert seen == out
