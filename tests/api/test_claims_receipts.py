"""Claim receipts (核验凭证): sealed by the platform's verification seal, logged, served with
their inclusion proof, verified online and offline with the licences' explained report; a
tampered receipt fails the check that guards what was changed."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from hub.settings import Settings
from licence.trust import export_bundle, offline_context, verify_online
from licence.verify import verify_json
from sharing.receipts import SEAL_ID
from tests.sharing.claims_api_kit import ClaimsApi, claims_api
from tests.sharing.claims_fixtures import ALIVE, DEAD, LEGACY, LEGACY_15


@pytest.fixture(name="capi")
def _capi(settings: Settings) -> Iterator[ClaimsApi]:
    yield from claims_api(settings)


def _receipt_file(capi: ClaimsApi, subject: str = ALIVE) -> tuple[dict[str, Any], Any]:
    r = capi.ask(
        {
            "subject": subject,
            "claims": [
                {"type": "person.alive"},
                {"type": "person.household_in", "params": {"division": "3404"}},
            ],
        }
    )
    assert r.status_code == 200, r.text
    rid = r.json()["receipt_id"]
    state = capi.app.state.hub
    # before the sequencer ran: served without a proof, the answer did not wait for it
    early = capi.http.get(f"/v1/claims/receipts/{rid}", headers=capi.headers())
    assert early.status_code == 200 and early.json()["receipt"] is None
    state.ledger.sequence()
    got = capi.http.get(f"/v1/claims/receipts/{rid}", headers=capi.headers())
    assert got.status_code == 200
    return got.json(), state


def test_a_receipt_states_the_question_and_answers_without_naming_the_subject(
    capi: ClaimsApi,
) -> None:
    doc, state = _receipt_file(capi)
    fields = {k: v["value"] for k, v in doc["document"]["fields"].items()}
    assert fields["client"] == "approvals-a"
    assert fields["purpose"] == "social-assistance-review"
    assert [c["holds"] for c in fields["claims"]] == [True, True]
    assert fields["library_runs"] == ["ca_marriage_death-1", "ps_household-1"]
    assert ALIVE not in json.dumps(doc)
    assert state.claims.is_about(doc["document"]["fields"], ALIVE)
    assert not state.claims.is_about(doc["document"]["fields"], DEAD)
    assert doc["document"]["header"]["seal_id"] == SEAL_ID
    assert doc["receipt"]["index"] >= 0


def test_receipts_are_served_only_to_the_client_they_were_given_to(capi: ClaimsApi) -> None:
    doc, _ = _receipt_file(capi)
    rid = doc["document"]["header"]["receipt_id"]
    other = capi.http.get(f"/v1/claims/receipts/{rid}", headers=capi.headers(capi.partial))
    assert other.status_code == 404
    missing = capi.http.get("/v1/claims/receipts/CR20260101FFFF", headers=capi.headers())
    assert missing.status_code == 404


def test_a_receipt_of_a_15_digit_subject_is_about_either_form(capi: ClaimsApi) -> None:
    doc, state = _receipt_file(capi, LEGACY_15)
    assert state.claims.is_about(doc["document"]["fields"], LEGACY)
    assert state.claims.is_about(doc["document"]["fields"], LEGACY_15)


def test_a_receipt_verifies_online_and_offline(capi: ClaimsApi) -> None:
    doc, state = _receipt_file(capi)
    svc = state.licences
    report = verify_online(svc, json.dumps(doc, ensure_ascii=False).encode())
    assert report.verdict == "TOTAL_PASSED", report.to_text()
    assert report.kind == "claim-receipt"
    assert [c.check for c in report.checks] == [
        "identifier",
        "integrity",
        "seal_signature",
        "seal_certificate",
        "seal_status",
        "ledger_inclusion",
        "checkpoint",
        "anchor",
    ]
    assert "receipt:" in report.to_text()
    bundle = json.loads(json.dumps(export_bundle(svc)))
    ctx = offline_context(bundle, [svc.ledger.verifier_key()])
    offline = verify_json(doc, ctx)
    assert offline.verdict == "TOTAL_PASSED", offline.to_text()
    assert "freshness" in [c.check for c in offline.checks]


def _flip_answer(doc: dict[str, Any]) -> None:
    doc["document"]["fields"]["claims"]["value"][0]["holds"] = False


def _swap_subject(doc: dict[str, Any]) -> None:
    doc["document"]["fields"]["subject_hmac"]["value"] = "0" * 64


def _edit_claims(doc: dict[str, Any]) -> None:
    doc["document"]["fields"]["claims"]["value"][1]["params"]["division"] = "34"


def _alter_proof(doc: dict[str, Any]) -> None:
    path = doc["receipt"]["path"]
    if path:
        path[0] = "00" * 32
    else:
        doc["receipt"]["leaf_hash"] = "00" * 32


def _swap_entry(doc: dict[str, Any]) -> None:
    doc["document"]["header"]["document_digest"] = "00" * 32


TAMPERS = [
    (_flip_answer, "integrity", "FIELD_ALTERED"),
    (_swap_subject, "integrity", "FIELD_ALTERED"),
    (_edit_claims, "integrity", "FIELD_ALTERED"),
    (_alter_proof, "ledger_inclusion", "PROOF_INVALID"),
    (_swap_entry, "seal_signature", "SIG_CRYPTO_FAILURE"),
]


@pytest.mark.parametrize(
    ("tamper", "check", "reason"), TAMPERS, ids=[t[0].__name__ for t in TAMPERS]
)
def test_a_tampered_receipt_fails_the_right_check(
    capi: ClaimsApi, tamper: Any, check: str, reason: str
) -> None:
    doc, state = _receipt_file(capi)
    bad = copy.deepcopy(doc)
    tamper(bad)
    report = verify_online(state.licences, json.dumps(bad, ensure_ascii=False).encode())
    assert report.verdict == "TOTAL_FAILED"
    failed = {c.check: c.reason for c in report.failed()}
    assert failed.get(check) == reason, report.to_text()


def test_hub_verify_checks_a_receipt_file_online_and_offline(
    capi: ClaimsApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hub.cli import main

    doc, state = _receipt_file(capi)
    path = tmp_path / "receipt.json"
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    import hub.settings

    monkeypatch.setattr(hub.settings, "_settings", capi.settings)
    runner = CliRunner()
    online = runner.invoke(main, ["verify", str(path)])
    assert online.exit_code == 0, online.output
    assert "TOTAL_PASSED" in online.output and "receipt:" in online.output
    bundle = tmp_path / "bundle.json"
    bundle.write_text(json.dumps(export_bundle(state.licences)), encoding="utf-8")
    key = state.ledger.verifier_key()
    offline = runner.invoke(
        main, ["verify", str(path), "--offline", "--trust", str(bundle), "--log-key", key]
    )
    assert offline.exit_code == 0, offline.output
    bad = copy.deepcopy(doc)
    _flip_answer(bad)
    path.write_text(json.dumps(bad, ensure_ascii=False), encoding="utf-8")
    failed = runner.invoke(main, ["verify", str(path)])
    assert failed.exit_code == 1, failed.output
    assert "FIELD_ALTERED" in failed.output


def test_the_public_verify_endpoint_accepts_a_receipt(capi: ClaimsApi) -> None:
    doc, _ = _receipt_file(capi)
    r = capi.http.post("/v1/licences/verify", json=doc)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["verdict"], body["kind"]) == ("TOTAL_PASSED", "claim-receipt")
    bad = copy.deepcopy(doc)
    _flip_answer(bad)
    failed = capi.http.post("/v1/licences/verify", json=bad).json()
    assert failed["verdict"] == "TOTAL_FAILED" and failed["sub_indication"] == "FIELD_ALTERED"


def test_a_receipt_missing_its_parts_is_refused_plainly(capi: ClaimsApi) -> None:
    doc, state = _receipt_file(capi)
    bad = copy.deepcopy(doc)
    del bad["document"]["header"]["document_digest"]
    report = verify_online(state.licences, json.dumps(bad, ensure_ascii=False).encode())
    assert report.verdict == "TOTAL_FAILED"
    assert [(c.check, c.reason) for c in report.checks] == [("format", "MALFORMED_INPUT")]
    assert "document_digest" in report.checks[0].en


def test_under_the_national_profile_the_verification_seal_is_sm2(tmp_path: Path) -> None:
    from licence.signers import SM2_SM3

    national = Settings(home=tmp_path / "hub", key_passphrase="test-passphrase")
    national = national.model_copy(update={"crypto_profile": "national"})
    national.ensure_dirs()
    api = claims_api(national)
    capi = next(api)
    try:
        doc, state = _receipt_file(capi)
        assert doc["document"]["signature"]["algorithm"] == SM2_SM3
        report = verify_online(state.licences, json.dumps(doc, ensure_ascii=False).encode())
        assert report.verdict == "TOTAL_PASSED", report.to_text()
        bad = copy.deepcopy(doc)
        _flip_answer(bad)
        failed = verify_online(state.licences, json.dumps(bad, ensure_ascii=False).encode())
        assert {c.check for c in failed.failed()} == {"integrity"}
    finally:
        api.close()


def test_the_client_can_ask_whether_a_receipt_is_about_a_subject(capi: ClaimsApi) -> None:
    doc, state = _receipt_file(capi, LEGACY_15)
    rid = doc["document"]["header"]["receipt_id"]
    path = f"/v1/claims/receipts/{rid}/subject"

    def about(subject: str, key: str | None = None) -> Any:
        return capi.http.post(path, json={"subject": subject}, headers=capi.headers(key))

    assert about(LEGACY).json() == {"about": True}
    assert about(LEGACY_15).json() == {"about": True}
    assert about(DEAD).json() == {"about": False}
    assert about(LEGACY, capi.partial).status_code == 404  # another client's receipt
    row = capi.audit()[-2]  # the last answered question: audited under the subject asked about
    assert row["subject_hash"] == state.audit.subject_hash(DEAD)
