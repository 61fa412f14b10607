"""The verifier online and offline over PostgreSQL (seal history read with bytea LIKE)."""

from __future__ import annotations

import json
import time

import pytest
from verify_fixtures import result, run
from verify_world import World, make_service

from licence.trust import export_bundle, offline_context
from licence.verify import FAILED, TOTAL_PASSED, verify_input
from tests.servicekit import services_settings

pytestmark = pytest.mark.services


def test_verify_on_postgresql(tmp_path) -> None:
    world = World(make_service(services_settings(tmp_path)), services_settings(tmp_path))
    report = run(world.svc, world.bundle())
    assert report.verdict == TOTAL_PASSED, report.to_text()
    assert result(run(world.svc, world.bundle(world.revoked)), "status").reason == "REVOKED"
    # the status list committed with the checkpoint proves it too, on PostgreSQL
    listed = result(run(world.svc, world.bundle(world.revoked)), "status")
    assert "revoked, expired or superseded as of checkpoint" in listed.en, listed
    time.sleep(1.1)
    world.svc.set_seal_status(world.mr_seal["seal_id"], "suspended", "audit")
    report = run(world.svc, world.bundle())
    assert result(report, "seal_status").status == "PASSED", report.to_text()
    bundle = json.loads(json.dumps(export_bundle(world.svc)))
    seal = next(s for s in bundle["seals"] if s["seal_id"] == world.mr_seal["seal_id"])
    assert [e[0] for e in seal["events"]] == ["active", "suspended"]
    offline = verify_input(
        json.dumps(world.bundle(world.suspended), ensure_ascii=False).encode(),
        offline_context(bundle, [world.svc.ledger.verifier_key()]),
    )
    r = result(offline, "status")
    assert (r.status, r.reason) == (FAILED, "SUSPENDED"), offline.to_text()
