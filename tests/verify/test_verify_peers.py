"""Federation (跨地区互认): hub A trusts hub B as a peer from B's signed bundle and B's log key,
verifies B's licences with B's bundle (the report naming B), follows B's revocations after a
refresh, refuses a bundle that does not extend what it saw, and says INDETERMINATE for a stale
one. B's bundle is served by B's own API app (``GET /v1/trust/bundle``)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from verify_fixtures import result
from verify_world import World, make_service

from hub.settings import Settings
from hub.wiring import api_app
from licence.peers import PeerError, add_peer, peers, refresh
from licence.trust import verify_online
from licence.verify import INDETERMINATE, PASSED, TOTAL_FAILED, TOTAL_PASSED

URL = "http://hub-b.test/v1/trust/bundle"


@pytest.fixture
def hub_b(tmp_path: Path) -> World:
    settings = Settings(home=tmp_path / "b", key_passphrase="b", ledger_origin="hub-b.test/log")
    settings.ensure_dirs()
    return World(make_service(settings), settings)


@pytest.fixture
def fetch(hub_b: World):
    http = TestClient(api_app(hub_b.svc_settings, background=False))

    def get(url: str) -> bytes:
        answer = http.get(url.removeprefix("http://hub-b.test"))
        assert answer.status_code == 200, answer.text
        return answer.content

    return get


def _file(world: World, lid: str) -> bytes:
    return json.dumps(world.bundle(lid), ensure_ascii=False).encode()


def test_a_peers_licence_verifies_here_and_names_the_peer(world, hub_b, fetch) -> None:
    trust_dir = world.svc_settings.trust_path
    with pytest.raises(PeerError, match="refused"):  # not B's key: refused
        add_peer(trust_dir, URL, "B", (world.svc.ledger.verifier_key(),), fetch)
    peer = add_peer(trust_dir, URL, "湖南B平台", (hub_b.svc.ledger.verifier_key(),), fetch)
    assert peer.origin == "hub-b.test/log" and [p.name for p in peers(trust_dir)] == ["湖南B平台"]
    report = verify_online(world.svc, _file(hub_b, hub_b.valid), peers_dir=trust_dir)
    assert report.verdict == TOTAL_PASSED, report.to_text()
    named = result(report, "issuing_hub")
    assert named.status == PASSED and "湖南B平台" in named.en
    assert report.summary["issuing_origin"] == "hub-b.test/log"
    # our own licences still verify against our own stores
    own = verify_online(world.svc, _file(world, world.valid), peers_dir=trust_dir)
    assert own.verdict == TOTAL_PASSED and "issuing_hub" not in {c.check for c in own.checks}


def test_a_revocation_at_the_peer_is_seen_after_refresh(world, hub_b, fetch) -> None:
    trust_dir = world.svc_settings.trust_path
    add_peer(trust_dir, URL, "B", (hub_b.svc.ledger.verifier_key(),), fetch)
    hub_b.svc.revoke(hub_b.valid, "FRAUD", "以欺骗手段取得")
    hub_b.svc.ledger.sequence()
    before = verify_online(world.svc, _file(hub_b, hub_b.valid), peers_dir=trust_dir)
    assert before.verdict == TOTAL_PASSED  # as of the bundle A holds
    ((name, what),) = refresh(trust_dir, fetch)
    assert name == "B" and what.startswith("checkpoint ")
    after = verify_online(world.svc, _file(hub_b, hub_b.valid), peers_dir=trust_dir)
    assert after.verdict == TOTAL_FAILED
    assert result(after, "status").reason != "OK"


def test_a_bundle_that_does_not_extend_what_was_seen_is_refused(world, hub_b, fetch) -> None:
    trust_dir = world.svc_settings.trust_path
    add_peer(trust_dir, URL, "B", (hub_b.svc.ledger.verifier_key(),), fetch)
    held = next((trust_dir / "peers").glob("*.json"))
    obj = json.loads(held.read_text(encoding="utf-8"))
    obj["root"] = "00" * 32  # A had seen another history of B's log at that size
    held.write_text(json.dumps(obj, ensure_ascii=False), encoding="utf-8")
    hub_b.svc.ledger.append(b"more")
    hub_b.svc.ledger.sequence()
    ((_, what),) = refresh(trust_dir, fetch)
    assert what.startswith("refused and kept as evidence")
    assert list((trust_dir / "peers" / "evidence").glob("*.jsonl"))
    assert peers(trust_dir)[0].root == "00" * 32  # nothing replaced


def test_a_stale_peer_bundle_gives_indeterminate(world, hub_b, fetch) -> None:
    trust_dir = world.svc_settings.trust_path
    add_peer(trust_dir, URL, "B", (hub_b.svc.ledger.verifier_key(),), fetch)
    report = verify_online(
        world.svc,
        _file(hub_b, hub_b.valid),
        peers_dir=trust_dir,
        max_age=dt.timedelta(microseconds=1),
    )
    assert report.verdict == INDETERMINATE
    assert result(report, "freshness").status == INDETERMINATE


def test_the_bundle_endpoint_carries_a_consistency_proof(hub_b, fetch) -> None:
    first = json.loads(fetch(URL))
    size = int(first["status"]["size"])
    hub_b.svc.ledger.append(b"later")
    later = json.loads(fetch(f"{URL}?since={size}"))
    assert later["consistency"]["from"] == size and later["consistency"]["path"]


def test_the_verify_page_checks_a_peers_licence_with_its_bundle(world, hub_b, fetch) -> None:
    from types import SimpleNamespace

    from api.pages.verify import verify_file

    trust_dir = world.svc_settings.trust_path
    add_peer(trust_dir, URL, "湖南B平台", (hub_b.svc.ledger.verifier_key(),), fetch)
    config = SimpleNamespace(trust_dir=trust_dir, verify_max_age_hours=12.0)
    outcome = verify_file(world.svc, _file(hub_b, hub_b.valid), config)
    assert outcome.verdict == TOTAL_PASSED
    assert any(line.check == "issuing_hub" and "湖南B平台" in line.en for line in outcome.checks)
