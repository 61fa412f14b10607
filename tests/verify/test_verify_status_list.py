"""The `status_list` check: "not revoked as of checkpoint N" proven by the committed status list,
online, offline from a trust bundle, and through `hub verify`; the default policies use it inside
the `status` check."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from verify_fixtures import PROVINCE_HR, anchors, result

import hub.settings
from hub.cli import main
from ledger.receipt import Receipt
from licence.trust import export_bundle, offline_context, online_context
from licence.verify import (
    DEFAULT_POLICY,
    FAILED,
    INDETERMINATE,
    PASSED,
    TOTAL_PASSED,
    policy_of,
    verify_input,
)

# the default checks and the status list on its own
POLICY = {**DEFAULT_POLICY, **policy_of(["status_list"])}


def _online(world, lid: str, ctx=None):
    ctx = ctx or online_context(world.svc)
    return verify_input(json.dumps(world.bundle(lid), ensure_ascii=False).encode(), ctx, POLICY)


def _offline(world, lid: str, bundle):
    ctx = offline_context(json.loads(json.dumps(bundle)), anchors(world.svc))
    return verify_input(json.dumps(world.bundle(lid), ensure_ascii=False).encode(), ctx, POLICY)


def test_online_valid_and_revoked_as_of_the_latest_checkpoint(world) -> None:
    size = world.svc.ledger.latest_checkpoint()[0].size
    valid = _online(world, world.valid)
    assert valid.verdict == TOTAL_PASSED, valid.to_text()
    check = result(valid, "status_list")
    assert (check.status, check.reason) == (PASSED, "OK")
    assert f"as of checkpoint {size}" in check.en
    # the default status check carries the log's word
    status = result(valid, "status")
    assert status.reason == "OK" and f"as of checkpoint {size}" in status.en
    report = _online(world, world.revoked)
    revoked = result(report, "status_list")
    assert (revoked.status, revoked.reason) == (FAILED, "REVOKED_AS_OF_CHECKPOINT")
    assert result(report, "status").reason == "REVOKED"  # what tools act on, unchanged
    suspended = result(_online(world, world.suspended), "status_list")
    assert (suspended.status, suspended.reason) == (FAILED, "SUSPENDED_AS_OF_CHECKPOINT")


def test_online_reinstated_after_the_checkpoint_is_not_failed(world) -> None:
    world.svc.reinstate(world.suspended, "整改完成")  # queued, not yet in a checkpoint
    report = _online(world, world.suspended)
    assert result(report, "status_list").reason == "SUSPENSION_LIFTED"
    assert report.verdict == TOTAL_PASSED, report.to_text()


def test_offline_bundle_proves_the_status_from_the_log(world) -> None:
    bundle = export_bundle(world.svc)
    assert set(bundle["status_lists"]) == {world.mr_seal["authority"]}  # HR issued none
    assert result(_offline(world, world.valid, bundle), "status_list").status == PASSED
    revoked = result(_offline(world, world.revoked, bundle), "status_list")
    assert (revoked.status, revoked.reason) == (FAILED, "REVOKED_AS_OF_CHECKPOINT")
    assert f"checkpoint {bundle['status']['size']}" in revoked.en


def test_forged_or_missing_status_list_is_never_passed(world) -> None:
    ctx = online_context(world.svc)
    real = ctx.status_list_of
    assert real is not None
    listed = real(world.mr_seal["authority"])
    assert listed is not None
    entry = json.loads(listed.data or b"")
    entry["revocation"]["sha256"] = "0" * 64
    forged = Receipt(
        listed.index,
        listed.leaf_hash,
        listed.path,
        listed.checkpoint,
        json.dumps(entry).encode(),
    )
    report = _online(
        world, world.revoked, dataclasses.replace(ctx, status_list_of=lambda a: forged)
    )
    check = result(report, "status_list")
    assert (check.status, check.reason) == (FAILED, "STATUS_LIST_INVALID")
    # a doctored list that would hide the revocation fails the status check too
    assert result(report, "status").reason == "STATUS_LIST_INVALID"
    # another authority's list for this licence
    report = _online(world, world.valid, dataclasses.replace(ctx, status_list_of=lambda a: None))
    assert result(report, "status_list").reason == "NO_STATUS_LIST"
    assert report.verdict == INDETERMINATE
    unavailable = dataclasses.replace(ctx, status_list_of=None)
    report = _online(world, world.valid, unavailable)
    assert result(report, "status_list").reason == "STATUS_LIST_UNAVAILABLE"
    assert real(PROVINCE_HR) is None  # an authority that issued nothing has no list


def test_hub_verify_reports_the_status_list_check(world, monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setattr(hub.settings, "_settings", world.svc_settings)
    path = tmp_path / "revoked.json"
    path.write_text(json.dumps(world.bundle(world.revoked), ensure_ascii=False), encoding="utf-8")
    out = CliRunner().invoke(main, ["verify", str(path), "--json"])
    assert out.exit_code == 1, out.output
    checks = {c["check"]: c for c in json.loads(out.output)["checks"]}
    assert checks["status"]["reason"] == "REVOKED"
    assert "revoked, expired or superseded as of checkpoint" in checks["status"]["en"]
    out = CliRunner().invoke(main, ["verify", str(path), "--json", "--policy", "status_list"])
    only = json.loads(out.output)["checks"]
    assert [(c["check"], c["reason"]) for c in only] == [
        ("status_list", "REVOKED_AS_OF_CHECKPOINT")
    ]
    # `hub licence status` prints the proof a holder or relying party can check offline
    out = CliRunner().invoke(main, ["licence", "status", world.revoked])
    assert out.exit_code == 0, out.output
    proof = json.loads(out.output)
    assert proof["status"] == "revoked" and proof["licence_id"] == world.revoked


def test_a_list_contradicting_the_platform_fails_the_status_check(world) -> None:
    """The platform's row says valid while the committed list says revoked: not passed."""
    ctx = online_context(world.svc)
    real = ctx.status_of
    assert real is not None

    def lying(lid: str):
        row = real(lid)
        return None if row is None else {**row, "status": "valid"}

    report = _online(world, world.revoked, dataclasses.replace(ctx, status_of=lying))
    status = result(report, "status")
    assert (status.status, status.reason) == (FAILED, "STATUS_LIST_CONFLICT")


def test_a_read_status_list_is_never_served_for_other_bytes() -> None:
    """Status list entries are memoised by their exact bytes: an entry with one bit set, read
    after the genuine one, reads as itself, and a corrupted copy is refused, not served."""
    from licence.status_list import StatusListError, parse_entry, snapshot_entry

    genuine = snapshot_entry("AUTH", 16, [], 10, 12, "2026-01-01T00:00:00Z")
    revoked = snapshot_entry("AUTH", 16, [(3, "revoked")], 10, 12, "2026-01-01T00:00:00Z")
    assert parse_entry(genuine).status(3) == "valid"
    assert parse_entry(revoked).status(3) == "revoked"
    assert parse_entry(genuine).status(3) == "valid"
    corrupted = genuine.replace(b'"size":16', b'"size":17')
    with pytest.raises(StatusListError):
        parse_entry(corrupted)
