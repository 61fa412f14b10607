"""Tamper corpus: each kind of forgery or bad state is caught by the right check and reason."""

from __future__ import annotations

import base64
import copy
import dataclasses
import datetime as dt
import json
import time

import pytest
from verify_fixtures import ENTITY_USCC, PROVINCE_HR, forge, resign, result, run

from ledger.merkle import root_from_inclusion_proof
from ledger.note import Checkpoint, Signer, parse_note, sign_checkpoint
from ledger.service import LOG_KEY_NAME
from licence import document
from licence.ca import create_platform_ca
from licence.issuance import Holder
from licence.trust import online_context
from licence.verify import (
    FAILED,
    INDETERMINATE,
    PASSED,
    TOTAL_FAILED,
    TOTAL_PASSED,
    policy_of,
    verify,
    verify_input,
)
from schemas import licence_id
from storage.keys import EncryptedFileKeyStore


def _valid(world):
    return world.bundle()


def _fails(report, check: str, reason: str) -> None:
    r = result(report, check)
    assert (r.status, r.reason) == (FAILED, reason), report.to_text()
    assert report.verdict == TOTAL_FAILED
    assert r.zh and r.en


def test_untampered_licence_passes(world) -> None:
    report = run(world.svc, _valid(world))
    assert report.verdict == TOTAL_PASSED, report.to_text()
    assert report.exit_code == 0


# ---- content ---------------------------------------------------------------------------------


def test_changed_field_value(world) -> None:
    b = _valid(world)
    b["licence"]["fields"]["legal_representative"]["value"] = "李四"
    _fails(run(world.svc, b), "integrity", "FIELD_ALTERED")


def test_hidden_field_digest_altered(world) -> None:
    b = _valid(world)
    b["licence"] = document.disclose(b["licence"], ["address"])
    b["licence"]["fields"]["address"]["digest"] = "00" * 32
    _fails(run(world.svc, b), "integrity", "DIGEST_MISMATCH")


def test_disclosed_licence_still_passes(world) -> None:
    b = _valid(world)
    b["licence"] = document.disclose(b["licence"], ["address", "legal_representative"])
    report = run(world.svc, b)
    assert report.verdict == TOTAL_PASSED, report.to_text()
    assert report.kind == "disclosed"


def test_field_added(world) -> None:
    b = _valid(world)
    extra = document.commit_fields({"备注": "无违法记录"})
    b["licence"]["fields"].update(extra)
    _fails(run(world.svc, b), "integrity", "DIGEST_MISMATCH")


def test_field_removed(world) -> None:
    b = _valid(world)
    del b["licence"]["fields"]["business_scope"]
    _fails(run(world.svc, b), "integrity", "DIGEST_MISMATCH")


def test_signed_header_changed(world) -> None:
    b = _valid(world)
    b["licence"]["header"]["signed_at"] = "2020-01-01T00:00:00Z"
    _fails(run(world.svc, b), "seal_signature", "SIG_CRYPTO_FAILURE")


def test_wrong_identifier_check_character(world) -> None:
    b = _valid(world)
    lid = b["licence"]["header"]["licence_id"]
    wrong = lid[:-1] + ("A" if lid[-1] != "A" else "B")
    b["licence"]["header"]["licence_id"] = wrong
    report = run(world.svc, b)
    r = result(report, "identifier")
    assert r.status == FAILED and r.reason == "ID_CHECKSUM", report.to_text()


def test_truncated_file(world) -> None:
    data = json.dumps(_valid(world), ensure_ascii=False).encode()
    _fails(run(world.svc, data[: len(data) // 2]), "format", "MALFORMED_INPUT")


def test_not_a_licence(world) -> None:
    _fails(run(world.svc, {"hello": "world"}), "format", "MALFORMED_INPUT")


# ---- seals -----------------------------------------------------------------------------------


def test_swapped_seal_certificate(world) -> None:
    """Another seal's certificate pasted in: the signature no longer verifies."""
    b = _valid(world)
    b["licence"]["signature"]["certificate"] = world.hr_seal["cert_pem"]
    report = run(world.svc, b)
    _fails(report, "seal_signature", "SIG_CRYPTO_FAILURE")
    assert result(report, "seal_status").reason == "SEAL_CERT_MISMATCH"


def test_seal_from_another_authority(world) -> None:
    """Re-sealed by another authority with its own (valid) seal."""
    b = _valid(world)
    b["licence"] = resign(world.svc, b["licence"], world.hr_seal, seal_id=world.hr_seal["seal_id"])
    report = run(world.svc, b)
    assert result(report, "seal_signature").status == PASSED
    assert result(report, "seal_certificate").status == PASSED
    _fails(report, "authority", "SEAL_AUTHORITY_MISMATCH")


def test_seal_id_claims_another_seal(world) -> None:
    """Signed with seal B's key while the header names seal A: certificate not A's."""
    b = _valid(world)
    b["licence"] = resign(world.svc, b["licence"], world.hr_seal)
    _fails(run(world.svc, b), "seal_status", "SEAL_CERT_MISMATCH")


def test_certificate_from_a_foreign_ca(world, tmp_path) -> None:
    """A seal certificate made by someone else's CA with the same names."""
    from cryptography.hazmat.primitives.asymmetric import ec

    from licence import ca

    keys = EncryptedFileKeyStore(tmp_path / "rogue", "pw")
    rogue = create_platform_ca(keys)
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = ca.issue_seal_certificate(
        keys,
        rogue.seal_ca,
        key.public_key(),
        world.mr_seal["authority"],
        "湖南省市场监督管理局",
        "伪造章",
        b"\0" * 32,
        now - dt.timedelta(days=1),
        now + dt.timedelta(days=30),
    )
    keys.save("rogue-seal", key)
    row = {
        "seal_id": world.mr_seal["seal_id"],
        "key_name": "rogue-seal",
        "cert_pem": ca.pem(cert),
    }
    svc_keys = world.svc.keys
    world.svc.keys = keys
    try:
        b = _valid(world)
        b["licence"] = resign(world.svc, b["licence"], row)
    finally:
        world.svc.keys = svc_keys
    _fails(run(world.svc, b), "seal_certificate", "CHAIN_UNTRUSTED")


def test_seal_certificate_expired_at_signing(world) -> None:
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=800)
    old = world.svc.create_seal(PROVINCE_HR, name="旧章", years=1, now=past)
    doc = world.svc.document(world.valid)
    signed_at = (past + dt.timedelta(days=400)).strftime("%Y-%m-%dT%H:%M:%SZ")
    forged = resign(world.svc, doc, old, seal_id=old["seal_id"], signed_at=signed_at)
    report = run(world.svc, {"licence": forged})
    _fails(report, "seal_certificate", "CERT_EXPIRED")
    assert result(report, "seal_status").reason == "SEAL_OUTSIDE_VALIDITY"


def test_revoked_seal_used_after_revocation(world) -> None:
    world.svc.set_seal_status(world.mr_seal["seal_id"], "revoked", "key compromised")
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    b = _valid(world)
    b["licence"] = resign(world.svc, b["licence"], world.mr_seal, signed_at=later)
    _fails(run(world.svc, b), "seal_status", "SEAL_REVOKED")


def test_licence_sealed_before_seal_revocation_still_passes(world) -> None:
    """Status at signing time: a later revocation of the seal does not void what it sealed."""
    time.sleep(1.1)  # event times have one-second resolution; a tie counts as revoked
    world.svc.set_seal_status(world.mr_seal["seal_id"], "revoked", "retired")
    report = run(world.svc, _valid(world))
    r = result(report, "seal_status")
    assert r.status == PASSED and "revoked" in r.en, report.to_text()


def test_suspended_seal_used_while_suspended(world) -> None:
    world.svc.set_seal_status(world.mr_seal["seal_id"], "suspended", "audit")
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    b = _valid(world)
    b["licence"] = resign(world.svc, b["licence"], world.mr_seal, signed_at=later)
    _fails(run(world.svc, b), "seal_status", "SEAL_SUSPENDED")


def test_unregistered_seal(world) -> None:
    b = _valid(world)
    b["licence"] = resign(world.svc, b["licence"], world.mr_seal, seal_id="X" * 22)
    _fails(run(world.svc, b), "seal_status", "SEAL_UNKNOWN")


def test_type_the_authority_may_not_issue(world) -> None:
    """The human-resources department seals a business licence with its own valid seal."""
    values = document.values(world.svc.document(world.valid))
    lt_code = values["证照类型代码"]
    lid = licence_id.build(lt_code, PROVINCE_HR, "20269999999", 1)
    values["证照颁发机构代码"] = PROVINCE_HR
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    forged = forge(world.svc, values, world.hr_seal, lid, now)
    _fails(run(world.svc, {"licence": forged}), "authority", "TYPE_NOT_ALLOWED")


def test_unregistered_issuer(world) -> None:
    values = document.values(world.svc.document(world.valid))
    lid = licence_id.build(values["证照类型代码"], ENTITY_USCC, "20269999999", 1)
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    forged = forge(world.svc, values, world.mr_seal, lid, now)
    _fails(run(world.svc, {"licence": forged}), "authority", "AUTHORITY_UNREGISTERED")


# ---- ledger ----------------------------------------------------------------------------------


def test_forged_receipt_path(world) -> None:
    b = _valid(world)
    b["receipt"]["path"][0] = "11" * 32
    _fails(run(world.svc, b), "ledger_inclusion", "PROOF_INVALID")


def test_forged_entry_data(world) -> None:
    b = _valid(world)
    entry = json.loads(bytes.fromhex(b["receipt"]["data"]))
    entry["time"] = "2000-01-01T00:00:00Z"
    b["receipt"]["data"] = document.canonical(entry).hex()
    _fails(run(world.svc, b), "ledger_inclusion", "PROOF_INVALID")


def test_receipt_of_another_licence(world) -> None:
    b = _valid(world)
    b["receipt"] = world.bundle(world.spare)["receipt"]
    _fails(run(world.svc, b), "ledger_inclusion", "ENTRY_MISMATCH")


def test_checkpoint_signed_by_unknown_key(world) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    b = _valid(world)
    note = b["receipt"]["checkpoint"].encode()
    cp = Checkpoint.from_note_body(parse_note(note)[0])
    origin_name = parse_note(note)[1][0].name
    rogue = Signer(origin_name, Ed25519PrivateKey.generate())
    b["receipt"]["checkpoint"] = sign_checkpoint(cp, rogue).decode()
    report = run(world.svc, b)
    assert result(report, "ledger_inclusion").status == PASSED
    _fails(report, "checkpoint", "CHECKPOINT_UNTRUSTED_KEY")


def test_forked_checkpoint(world) -> None:
    """The log key signed a second tree of the same size that also contains the entry."""
    b = _valid(world)
    r = b["receipt"]
    path = [bytes.fromhex(h) for h in r["path"]]
    path[-1] = b"\x42" * 32  # another history for the rest of the tree
    leaf = bytes.fromhex(r["leaf_hash"])
    cp = Checkpoint.from_note_body(parse_note(r["checkpoint"].encode())[0])
    fork_root = root_from_inclusion_proof(r["index"], cp.size, leaf, path)
    key = world.svc.keys.load(LOG_KEY_NAME)
    signer = Signer(parse_note(r["checkpoint"].encode())[1][0].name, key)
    r["checkpoint"] = sign_checkpoint(Checkpoint(cp.origin, cp.size, fork_root), signer).decode()
    r["path"] = [h.hex() for h in path]
    r.pop("anchor", None)
    report = run(world.svc, b)
    assert result(report, "ledger_inclusion").status == PASSED, report.to_text()
    _fails(report, "checkpoint", "CHECKPOINT_FORK")


def test_anchor_reference_to_another_checkpoint(world) -> None:
    world.svc.issue(
        "business_licence",
        world.mr_seal["authority"],
        Holder(ENTITY_USCC, "长沙星辰餐饮有限公司"),
        {
            "entity_type": "有限责任公司",
            "legal_representative": "张三",
            "registered_capital": "人民币壹佰万元整",
            "established": "2020-05-18",
            "address": "湖南省长沙市",
            "business_scope": "餐饮服务",
        },
    )
    world.svc.ledger.sequence()  # a second anchored checkpoint
    b = _valid(world)
    anchor = b["receipt"]["anchor"]
    anchor["reference"] = str(int(anchor["reference"]) + 1)
    _fails(run(world.svc, b), "anchor", "ANCHOR_MISMATCH")


def test_fabric_anchor_unreachable_is_indeterminate(world) -> None:
    b = _valid(world)
    b["receipt"]["anchor"] = {"backend": "fabric", "reference": "tx1", "size": 3, "block": 1}
    report = run(world.svc, b)
    r = result(report, "anchor")
    assert (r.status, r.reason) == (INDETERMINATE, "ANCHOR_BACKEND_UNAVAILABLE")
    assert report.verdict == INDETERMINATE and report.exit_code == 2


# ---- status and validity ---------------------------------------------------------------------


def test_revoked_licence(world) -> None:
    report = run(world.svc, world.bundle(world.revoked))
    _fails(report, "status", "REVOKED")
    r = result(report, "status")
    assert (
        "已吊销" in r.zh and "以欺骗手段取得" in r.zh and "决定机关：湖南省市场监督管理局" in r.zh
    )
    assert dt.date.today().isoformat() in r.zh
    assert PROVINCE_HR not in r.en and world.mr_seal["authority"] in r.en


def test_suspended_licence(world) -> None:
    report = run(world.svc, world.bundle(world.suspended))
    _fails(report, "status", "SUSPENDED")
    assert "已暂扣" in result(report, "status").zh


def test_expired_licence(world) -> None:
    ctx = dataclasses.replace(online_context(world.svc), today=dt.date(2099, 1, 1))
    doc = world.svc.issue(
        "professional_qualification",
        "114300000061427127",
        Holder(world.person_id, "张三"),
        world.qualification_fields,
        dt.date.today() + dt.timedelta(days=30),
    )
    report = verify_input(json.dumps(doc, ensure_ascii=False).encode(), ctx)
    _fails(report, "validity_period", "EXPIRED")


def test_superseded_licence(world) -> None:
    world.svc.change(world.spare, {"address": "湖南省长沙市天心区"}, "迁址")
    report = run(world.svc, world.bundle(world.spare))
    _fails(report, "status", "SUPERSEDED")


def test_unknown_licence_online(world) -> None:
    values = document.values(world.svc.document(world.valid))
    lid = licence_id.build(values["证照类型代码"], world.mr_seal["authority"], "20261234567", 1)
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    forged = forge(world.svc, values, world.mr_seal, lid, now)
    report = run(world.svc, {"licence": forged})
    _fails(report, "status", "UNKNOWN_LICENCE")
    assert result(report, "ledger_inclusion").reason == "NO_RECEIPT"


# ---- QR payloads -----------------------------------------------------------------------------


def test_qr_payload_valid(world) -> None:
    from licence.pdf import qr_payload

    report = run(
        world.svc, qr_payload(world.svc.document(world.valid), world.svc.verification_url).encode()
    )
    assert report.verdict == TOTAL_PASSED and report.kind == "qr", report.to_text()


def test_qr_payload_for_unknown_licence(world) -> None:
    payload = f"/verify?id=1.2.156.3005.2.X.Y.1.001.Q&d=sha256:{'ab' * 32}"
    _fails(run(world.svc, payload.encode()), "qr_lookup", "QR_NO_MATCH")


def test_qr_payload_digest_mismatch_reveals_nothing_of_the_licence(world) -> None:
    payload = f"{world.svc.verification_url}?id={world.valid}&d=sha256:{'ab' * 32}"
    report = run(world.svc, payload.encode())
    _fails(report, "qr_lookup", "QR_NO_MATCH")
    # the same answer as for an identifier that does not exist: no summary, no other check
    assert [c.check for c in report.checks] == ["qr_lookup"] and not report.summary
    text = report.to_json()
    assert "湖南" not in text and "长沙" not in text and "seal" not in text


def test_qr_payload_naming_another_host_is_refused(world) -> None:
    from licence.pdf import qr_payload

    doc = world.svc.document(world.valid)
    report = run(world.svc, qr_payload(doc, "https://verify.example.com/verify").encode())
    _fails(report, "qr_host", "QR_FOREIGN_HOST")
    assert "verify.example.com" in result(report, "qr_host").en


# ---- policy ----------------------------------------------------------------------------------


def test_empty_policy_is_refused(world) -> None:
    with pytest.raises(ValueError, match="empty"):
        verify(world.svc.document(world.valid), None, online_context(world.svc), {})
    with pytest.raises(ValueError, match="empty"):
        policy_of([])
    with pytest.raises(ValueError, match="unknown checks"):
        policy_of(["integrity", "astrology"])


def test_policy_selects_checks(world) -> None:
    b = _valid(world)
    b["receipt"]["path"][0] = "11" * 32
    ctx = online_context(world.svc)
    data = json.dumps(b, ensure_ascii=False).encode()
    report = verify_input(data, ctx, policy_of(["integrity", "seal_signature"]))
    assert report.verdict == TOTAL_PASSED
    assert [c.check for c in report.checks] == ["integrity", "seal_signature"]


def test_report_json_is_complete(world) -> None:
    b = _valid(world)
    b["licence"]["fields"]["legal_representative"]["value"] = "李四"
    obj = json.loads(run(world.svc, b).to_json())
    assert obj["verdict"] == TOTAL_FAILED and obj["sub_indication"] == "FIELD_ALTERED"
    assert {"check", "status", "reason", "en", "zh"} <= set(obj["checks"][0])
    assert ENTITY_USCC not in json.dumps(obj)  # no holder identifiers in the report


def test_base64_signature_garbage(world) -> None:
    b = _valid(world)
    b["licence"]["signature"]["value"] = "!!not base64!!"
    _fails(run(world.svc, b), "seal_signature", "SIG_MALFORMED")


def test_copy_is_not_mutated(world) -> None:
    b = _valid(world)
    before = copy.deepcopy(b)
    run(world.svc, b)
    assert b == before
    assert base64.b64decode(b["licence"]["signature"]["value"])
