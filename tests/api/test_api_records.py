"""Licences instead of paper, ledger proofs that verify, and department uploads that ingest."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

from api.clients import ClientStore
from ledger.merkle import verify_consistency, verify_inclusion
from licence.issuance import Holder
from schemas import uscc
from storage.library import LEGAL_ENTITY
from tests.api.conftest import PURPOSE, Api

PROVINCE_MR = "11430000006122244L"  # may issue business licences (licence/authorities)
BODY = "91430100MA4L1234" + uscc.org_code_check("MA4L1234")
HOLDER = BODY + uscc.check_character(BODY)
HOLDER_NAME = "长沙星辰餐饮有限公司"
BUSINESS_FIELDS = {
    "entity_type": "有限责任公司（自然人投资或控股）",
    "legal_representative": "张三",
    "registered_capital": "人民币壹佰万元整",
    "established": "2020-05-18",
    "address": "湖南省长沙市岳麓区麓谷大道100号",
    "business_scope": "餐饮服务；食品销售。",
}


def _issue(api: Api) -> tuple[str, str]:
    state = api.http.app.state.hub
    state.library.merge(
        LEGAL_ENTITY,
        "mr-2",
        "mr_enterprise",
        dt.datetime(2026, 1, 5, tzinfo=dt.UTC),
        [HOLDER],
        {"entity_name": [HOLDER_NAME]},
    )
    svc = state.licences
    svc.ensure_ca()
    svc.create_seal(PROVINCE_MR)
    doc = svc.issue("business_licence", PROVINCE_MR, Holder(HOLDER, HOLDER_NAME), BUSINESS_FIELDS)
    return doc["header"]["licence_id"], svc.row(doc["header"]["licence_id"])["type_code"]


def test_holder_valid_licences_replace_paper_copies(api: Api) -> None:
    lid, type_code = _issue(api)
    h = api.headers()
    r = api.http.get(f"/v1/holders/{HOLDER}/licences", headers=h)
    assert r.status_code == 200, r.text
    [lic] = r.json()["licences"]
    assert lic["licence_id"] == lid and lic["status"] == "valid"
    assert lic["type_code"] == type_code and lic["type_name"]
    assert api.http.get(f"/v1/holders/{HOLDER}/licences?type={type_code}", headers=h).json()[
        "licences"
    ]
    other = api.http.get(f"/v1/holders/{HOLDER}/licences?type=X{type_code[1:]}", headers=h)
    assert other.json()["licences"] == []
    batch = api.http.post("/v1/batch/holders/licences", json={"ids": [HOLDER]}, headers=h)
    assert batch.json()["results"][0]["licences"][0]["licence_id"] == lid
    # a client granted only another licence type sees nothing of this one
    store: ClientStore = api.clients
    until = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    store.grant("approvals-b", "licences", PURPOSE, until, ["X" * 21])
    narrow = api.http.get(f"/v1/holders/{HOLDER}/licences", headers=api.headers(api.ungranted))
    assert narrow.status_code == 200 and narrow.json()["licences"] == []
    # revoked licences are no longer an answer
    api.http.app.state.hub.licences.revoke(lid, "OTHER", "test")
    after = api.http.get(f"/v1/holders/{HOLDER}/licences", headers=h)
    assert after.json()["licences"] == []


def test_ledger_checkpoint_and_proofs_verify(api: Api) -> None:
    h = api.headers()
    assert api.http.get("/v1/ledger/checkpoint", headers=h).status_code == 404
    ledger = api.http.app.state.hub.ledger
    ledger.append_many([b"a", b"b", b"c"])
    ledger.sequence()
    ledger.append_many([b"d", b"e"])
    ledger.sequence()
    cp = api.http.get("/v1/ledger/checkpoint", headers=h).json()
    assert cp["size"] == 5 and cp["note"].startswith(cp["origin"] + "\n5\n")
    proof = api.http.get("/v1/ledger/proof/3?size=5", headers=h).json()
    verify_inclusion(
        3,
        5,
        bytes.fromhex(proof["leaf_hash"]),
        [bytes.fromhex(x) for x in proof["path"]],
        bytes.fromhex(cp["root"]),
    )
    old_root = ledger.root(3)
    cons = api.http.get("/v1/ledger/consistency?from=3&to=5", headers=h).json()
    verify_consistency(
        3, 5, old_root, bytes.fromhex(cp["root"]), [bytes.fromhex(x) for x in cons["path"]]
    )
    assert api.http.get("/v1/ledger/proof/9", headers=h).status_code == 400
    assert api.http.get("/v1/ledger/proof/0?size=4", headers=h).status_code == 404


def test_upload_lands_and_ingests_in_a_worker(api: Api, tmp_path: Path) -> None:
    from hub.synth import generate

    files = generate(tmp_path / "synth", persons=30, entities=3, dirt=0.0).files
    data = files["ps_household"].read_bytes()
    h = api.headers()
    r = api.http.post(
        "/v1/datasets/ps_household/uploads?filename=household.csv", content=data, headers=h
    )
    assert r.status_code == 202, r.text
    run = r.json()
    assert run["status"] == "landed" and run["started_by"] == "worker"
    for _ in range(200):
        got = api.http.get(f"/v1/runs/{run['run_id']}", headers=h).json()
        if got["status"] in ("published", "failed"):
            break
        time.sleep(0.1)
    assert got["status"] == "published", got
    assert got["rows_in"] == got["rows_accepted"] + got["rows_quarantined"] == 30
    again = api.http.post("/v1/datasets/ps_household/uploads", content=data, headers=h)
    assert again.json()["run_id"] == run["run_id"] and again.json()["status"] == "published"
    # the grant names datasets: another dataset is refused, an unknown one too
    other = files["hrss_insurance"].read_bytes()
    assert (
        api.http.post("/v1/datasets/hrss_insurance/uploads", content=other, headers=h).status_code
        == 403
    )
    assert (
        api.http.post("/v1/datasets/ps_household/uploads", content=b"", headers=h).status_code
        == 400
    )
