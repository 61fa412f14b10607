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


def _variants(code: str) -> list[str]:
    """A holder identifier as clerks type it, and broken ones."""
    wide = "".join(chr(ord(c) + 0xFEE0) if c.isalnum() else c for c in code)
    return [
        code,
        code.lower(),
        f" {code} ",
        wide,
        code[:-1] + ("0" if code[-1] != "0" else "1"),  # wrong check character
        code[:-1],
        code + "0",
        "",
        "?" * 18,
    ]


def test_a_batch_checks_each_holder_as_a_single_request_does(service: LicenceService) -> None:
    from licence_fixtures import PERSON_ID, PROVINCE_HR

    service.create_seal(PROVINCE_MR)
    service.create_seal(PROVINCE_HR)
    person_fields = {
        "occupation": "电工",
        "level": "三级/高级工",
        "certificate_number": "S000043010000123",
        "assessed_on": "2025-11-02",
    }
    requests = [
        IssueRequest("business_licence", PROVINCE_MR, Holder(v, ENTITY_NAME), BUSINESS_FIELDS)
        for v in _variants(ENTITY_USCC)
    ] + [
        IssueRequest("职业资格证书", PROVINCE_HR, Holder(v, "张三"), person_fields)
        for v in [*_variants(PERSON_ID), PERSON_ID[:6] + PERSON_ID[8:17]]  # 15 digits
    ]

    def outcome(got: dict[str, Any] | Exception) -> tuple[str, str]:
        if isinstance(got, dict):
            return "issued", got["fields"]["持证主体代码"]["value"]
        return type(got).__name__, str(got)

    together = [outcome(got) for got in service.issue_each(requests)]
    alone = [outcome(service.issue_each([r])[0]) for r in requests]
    assert together == alone
    # four typed forms of each holder, and the 15-digit form of the person's number
    assert [o[0] for o in together].count("issued") == 9
    assert {o[1] for o in together if o[0] == "issued"} == {ENTITY_USCC, PERSON_ID}
