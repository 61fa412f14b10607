"""Offline verification from a trust bundle, and the `hub verify` / `hub trust` commands."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from verify_fixtures import ENTITY_NAME, ENTITY_USCC, PROVINCE_MR, anchors, result

import hub.settings
from hub.cli import main
from licence.issuance import Holder
from licence.receipts import ledger_receipts
from licence.trust import export_bundle, load_bundle, offline_context
from licence.trust_anchors import TrustBundleError
from licence.verify import FAILED, INDETERMINATE, PASSED, TOTAL_PASSED, verify_input


def _offline(world, obj, bundle=None, **kw):
    bundle = bundle or export_bundle(world.svc)
    ctx = offline_context(json.loads(json.dumps(bundle)), anchors(world.svc), **kw)
    return verify_input(json.dumps(obj, ensure_ascii=False).encode(), ctx)


def test_offline_valid_licence_passes_with_freshness_line(world) -> None:
    report = _offline(world, world.bundle())
    assert report.verdict == TOTAL_PASSED, report.to_text()
    fresh = result(report, "freshness")
    assert fresh.status == PASSED and " h old" in fresh.en


def test_offline_revoked_and_suspended_from_the_snapshot(world) -> None:
    bundle = export_bundle(world.svc)
    revoked = _offline(world, world.bundle(world.revoked), bundle)
    assert (result(revoked, "status").status, result(revoked, "status").reason) == (
        FAILED,
        "REVOKED",
    )
    assert "以欺骗手段取得" in result(revoked, "status").zh
    suspended = _offline(world, world.bundle(world.suspended), bundle)
    assert result(suspended, "status").reason == "SUSPENDED"


def test_stale_bundle_is_indeterminate_never_failed(world) -> None:
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=30)
    report = _offline(world, world.bundle(), now=later)
    fresh = result(report, "freshness")
    assert (fresh.status, fresh.reason) == (INDETERMINATE, "BUNDLE_STALE")
    assert report.verdict == INDETERMINATE and report.exit_code == 2


def test_licence_newer_than_bundle_is_indeterminate(world) -> None:
    bundle = export_bundle(world.svc)
    doc = world.svc.issue(
        "business_licence",
        PROVINCE_MR,
        Holder(ENTITY_USCC, ENTITY_NAME),
        {
            "entity_type": "有限责任公司",
            "legal_representative": "张三",
            "registered_capital": "人民币壹佰万元整",
            "established": "2020-05-18",
            "address": "湖南省长沙市",
            "business_scope": "餐饮服务",
        },
    )
    world.svc.ledger.sequence()
    world.svc.attach_receipts(ledger_receipts(world.svc.ledger))
    report = _offline(world, world.bundle(doc["header"]["licence_id"]), bundle)
    assert report.verdict == INDETERMINATE, report.to_text()
    assert not report.failed()
    assert result(report, "status").reason == "STATUS_NEWER_THAN_BUNDLE"
    assert result(report, "checkpoint").reason == "CONSISTENCY_UNKNOWN"


def test_offline_without_receipt_and_qr_are_indeterminate(world) -> None:
    report = _offline(world, world.svc.document(world.valid))
    assert result(report, "ledger_inclusion").reason == "NO_RECEIPT"
    assert report.verdict == INDETERMINATE
    ctx = offline_context(export_bundle(world.svc), anchors(world.svc))
    qr = verify_input(
        f"https://hub.example.gov.cn/verify?id={world.valid}&d=sha256:{'ab' * 32}".encode(), ctx
    )
    assert qr.verdict == INDETERMINATE and qr.checks[0].reason == "QR_LOOKUP_UNAVAILABLE"


def test_tampered_licence_fails_offline(world) -> None:
    b = world.bundle()
    b["licence"]["fields"]["address"]["value"] = "北京市"
    report = _offline(world, b)
    assert result(report, "integrity").reason == "FIELD_ALTERED"


def test_bundle_load_refuses_garbage() -> None:
    with pytest.raises(TrustBundleError):
        load_bundle(b'{"format": "something else"}')
    with pytest.raises(TrustBundleError):
        load_bundle(b'{"format": "egov-hub/trust-bun')


# ---- command line ----------------------------------------------------------------------------


@pytest.fixture
def cli(world, monkeypatch, tmp_path: Path):
    # the verifier's configuration (its trust anchors) lives apart from the hub's state
    settings = world.svc_settings.model_copy(update={"trust_dir": tmp_path / "verifier-trust"})
    monkeypatch.setattr(hub.settings, "_settings", settings)
    return CliRunner()


def test_cli_exit_codes_online_and_offline(world, cli, tmp_path: Path) -> None:
    bundle = tmp_path / "bundle.json"
    out = cli.invoke(main, ["trust", "export", str(bundle)])
    assert out.exit_code == 0, out.output
    # before any anchor is installed, offline verification cannot decide (and says why)
    lic = tmp_path / "licence.json"
    assert cli.invoke(main, ["trust", "receipt", world.valid, "-o", str(lic)]).exit_code == 0
    bare = cli.invoke(main, ["verify", str(lic), "--offline", "--trust", str(bundle), "--json"])
    assert bare.exit_code == 2, bare.output
    assert json.loads(bare.stdout)["sub_indication"] == "NO_TRUST_ANCHOR"
    out = cli.invoke(main, ["trust", "install"])
    assert out.exit_code == 0 and "installed" in out.output, out.output
    assert cli.invoke(main, ["trust", "receipt", world.valid, "-o", str(lic)]).exit_code == 0
    revoked = tmp_path / "revoked.json"
    cli.invoke(main, ["trust", "receipt", world.revoked, "-o", str(revoked)])
    tampered = tmp_path / "tampered.json"
    obj = json.loads(lic.read_text())
    obj["licence"]["fields"]["address"]["value"] = "北京市"
    tampered.write_text(json.dumps(obj, ensure_ascii=False))

    ok = cli.invoke(main, ["verify", str(lic)])
    assert ok.exit_code == 0 and "TOTAL_PASSED" in ok.output, ok.output
    assert cli.invoke(main, ["verify", str(tampered)]).exit_code == 1
    assert cli.invoke(main, ["verify", str(revoked), "--json"]).exit_code == 1

    # offline: the state folder is gone, only the file and the bundle remain
    shutil.rmtree(world.svc_settings.home)
    off = cli.invoke(main, ["verify", str(lic), "--offline", "--trust", str(bundle)])
    assert off.exit_code == 0, off.output
    assert "freshness" in off.output
    assert "as of" in off.output and "北京时间" in off.output
    stale = cli.invoke(
        main, ["verify", str(lic), "--offline", "--trust", str(bundle), "--max-age-hours", "0"]
    )
    assert stale.exit_code == 2 and "BUNDLE_STALE" in stale.output
    key = json.loads(bundle.read_text())["log_keys"][0]
    pinned = cli.invoke(
        main, ["verify", str(lic), "--offline", "--trust", str(bundle), "--log-key", key]
    )
    assert pinned.exit_code == 0, pinned.output
    doctored = tmp_path / "doctored.json"
    obj = json.loads(bundle.read_text())
    obj["status"]["licences"] = {}
    doctored.write_text(json.dumps(obj, ensure_ascii=False))
    refused = cli.invoke(
        main, ["verify", str(revoked), "--offline", "--trust", str(doctored), "--json"]
    )
    assert refused.exit_code == 1, refused.output
    body = json.loads(refused.stdout)
    assert body["verdict"] == "TOTAL_FAILED" and body["sub_indication"] == "BUNDLE_ALTERED"
    assert "changed after it was signed" in body["checks"][0]["en"]
    bad = cli.invoke(main, ["verify", str(tampered), "--offline", "--trust", str(bundle)])
    assert bad.exit_code == 1 and "FIELD_ALTERED" in bad.output
    report = json.loads(
        cli.invoke(
            main, ["verify", str(revoked), "--offline", "--trust", str(bundle), "--json"]
        ).stdout
    )
    assert report["sub_indication"] == "REVOKED"
    assert report["age_hours"] is not None and report["as_of"]
    assert not world.svc_settings.home.exists()


def test_cli_seal_and_qr(world, cli) -> None:
    out = cli.invoke(main, ["verify", "--seal", world.mr_seal["seal_id"]])
    assert out.exit_code == 0, out.output
    assert "seal_picture" in out.output and "seal_document" in out.output
    world.svc.set_seal_status(world.hr_seal["seal_id"], "revoked", "lost")
    out = cli.invoke(main, ["verify", "--seal", world.hr_seal["seal_id"]])
    assert out.exit_code == 1 and "SEAL_REVOKED" in out.output
    assert cli.invoke(main, ["verify", "--seal", "nope"]).exit_code == 1
    doc = world.svc.document(world.valid)
    payload = (
        f"{world.svc.verification_url}?id={world.valid}&d=sha256:{doc['header']['document_digest']}"
    )
    assert cli.invoke(main, ["verify", "--qr", payload]).exit_code == 0


def test_cli_usage_errors(world, cli, tmp_path: Path) -> None:
    out = cli.invoke(main, ["verify", str(tmp_path / "x"), "--offline"])
    assert out.exit_code == 2 and "--trust" in out.output
    assert cli.invoke(main, ["verify"]).exit_code == 2
    f = tmp_path / "l.json"
    f.write_text("{}")
    out = cli.invoke(main, ["verify", str(f), "--policy", ""])
    assert out.exit_code == 1  # "{}" is not a licence: format FAILED
    assert "exit status" in cli.invoke(main, ["verify", "--help"]).output.lower()


def test_bundle_signature_detects_a_doctored_bundle(world) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from ledger.note import Signer, sign_note
    from licence.trust import SIGNATURE_KEY, _bundle_body, check_bundle_signature

    bundle = json.loads(json.dumps(export_bundle(world.svc)))
    log_key = world.svc.ledger.verifier_key()
    assert check_bundle_signature(bundle, anchors(world.svc)).log_keys == (log_key,)
    doctored = json.loads(json.dumps(bundle))
    doctored["status"]["licences"].pop(world.revoked)  # hide a revocation
    with pytest.raises(TrustBundleError, match="changed after it was signed") as altered:
        offline_context(doctored, anchors(world.svc))
    assert altered.value.reason == "BUNDLE_ALTERED"
    # a forger re-signs with their own key and lists it: refused, whatever the bundle lists
    rogue = Signer("hub.example.gov.cn/log", Ed25519PrivateKey.generate())
    doctored["log_keys"] = [rogue.vkey()]
    doctored[SIGNATURE_KEY] = sign_note(_bundle_body(doctored), [rogue]).decode()
    for pins in (anchors(world.svc), [log_key]):
        with pytest.raises(TrustBundleError, match="not by a log key this verifier") as forged:
            offline_context(doctored, pins)
        assert forged.value.reason == "BUNDLE_UNTRUSTED"
    with pytest.raises(TrustBundleError, match="no trust anchor") as none:
        offline_context(doctored)  # nothing pinned: the bundle's own keys are never enough
    assert none.value.reason == "NO_TRUST_ANCHOR"
    unsigned = dict(bundle)
    del unsigned[SIGNATURE_KEY]
    with pytest.raises(TrustBundleError, match="not signed"):
        offline_context(unsigned, anchors(world.svc))


def test_trust_install_from_a_peer_bundle_needs_its_key(world, cli, tmp_path: Path) -> None:
    """A peer's anchor comes from its bundle only with its log key obtained out of band."""
    bundle = tmp_path / "peer.json"
    assert cli.invoke(main, ["trust", "export", str(bundle)]).exit_code == 0
    out = cli.invoke(main, ["trust", "install", "--from", str(bundle)])
    assert out.exit_code == 2 and "--log-key" in out.output
    rogue_key = "rogue.example/log+00000000+" + "A" * 44
    out = cli.invoke(main, ["trust", "install", "--from", str(bundle), "--log-key", rogue_key])
    assert out.exit_code == 2
    key = world.svc.ledger.verifier_key()
    out = cli.invoke(main, ["trust", "install", "--from", str(bundle), "--log-key", key])
    assert out.exit_code == 0 and "2 CA certificate(s)" in out.output, out.output


def test_cli_online_names_the_altered_field_and_what_was_registered(world, cli, tmp_path) -> None:
    """Staff on the command line see the field's title, the value presented and, online, the
    registered value; the public report (API, page) carries only the value presented."""
    from licence.trust import verify_online

    obj = world.bundle()
    obj["licence"]["fields"]["legal_representative"]["value"] = "李四"
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(obj, ensure_ascii=False), encoding="utf-8")
    out = cli.invoke(main, ["verify", str(tampered)])
    assert out.exit_code == 1
    assert "法定代表人" in out.output and "“李四”" in out.output and "“张三”" in out.output
    public = verify_online(world.svc, tampered.read_bytes()).to_json()
    assert "李四" in public and "张三" not in public


@pytest.mark.parametrize(
    "content",
    [b"{", b'{"format": "egov-hub/trust-anchors/v1", "anchors": [1]}', b"[]", b'{"a":1,"a":1}'],
)
def test_damaged_anchors_file_is_refused_with_its_reason(tmp_path: Path, content: bytes) -> None:
    from licence.trust_anchors import ANCHORS_FILE, load_anchors

    (tmp_path / ANCHORS_FILE).write_bytes(content)
    with pytest.raises(TrustBundleError) as refused:
        load_anchors(tmp_path)
    assert refused.value.reason == "ANCHORS_MALFORMED"
    assert refused.value.report().checks[0].reason == "ANCHORS_MALFORMED"
