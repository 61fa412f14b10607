"""A hub's sequencer asks the witnesses it was given to cosign each checkpoint: here hub B's log
and hub A's witness (A's API app, in process), both built by the hub's own wiring."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hub.settings import Settings
from hub.wiring import api_app, ledger_service
from ledger.cosignature import CosignatureVerifier, cosignatures
from ledger.service import LedgerService
from ledger.witness_client import WitnessPool

PREFIX = "http://hub-a.test/v1/witness"


@pytest.fixture
def hub_a(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(home=tmp_path / "a", key_passphrase="a", witness_name="hub-a.test/witness")
    with TestClient(api_app(settings, background=False)) as http:
        yield http


@pytest.fixture
def hub_b(tmp_path: Path, hub_a: TestClient) -> LedgerService:
    settings = Settings(home=tmp_path / "b", key_passphrase="b", ledger_origin="hub-b.test/log")
    ledger = ledger_service(settings)

    def post(url: str, body: bytes) -> tuple[int, str, str]:
        answer = hub_a.post(url.removeprefix("http://hub-a.test"), content=body)
        return answer.status_code, answer.text, answer.headers.get("content-type", "")

    ledger.witnesses = WitnessPool(ledger.engine, post=post)
    return ledger


def _witness_of(hub_a: TestClient) -> CosignatureVerifier:
    return CosignatureVerifier.from_vkey(hub_a.get("/v1/witness").json()["vkey"])


def test_each_new_checkpoint_carries_the_peer_witness_cosignature(
    hub_a: TestClient, hub_b: LedgerService
) -> None:
    witness = _witness_of(hub_a)
    hub_a.app.state.hub.witness.watch("hub-b.test/log", hub_b.signer.vkey())
    assert hub_b.witnesses is not None
    hub_b.witnesses.add(PREFIX, witness.vkey())
    for round_ in range(3):
        hub_b.append_many([b"entry %d-%d" % (round_, i) for i in range(5)])
        signed = hub_b.sequence()
        assert signed is not None
        (cosig,) = cosignatures(signed.note, [witness])
        assert cosig.name == "hub-a.test/witness"
        stored = hub_b.latest_checkpoint()
        assert stored is not None and stored[1] == signed.note  # kept with the checkpoint
    (peer,) = hub_b.witnesses.peers()
    assert (peer.size, peer.last_error) == (signed.checkpoint.size, None)
    # what A's witness holds is what B's log signed
    assert hub_a.get("/v1/witness").json()["logs"][0]["size"] == signed.checkpoint.size


def test_a_log_that_forgot_the_witness_size_catches_up_after_409(
    hub_a: TestClient, hub_b: LedgerService
) -> None:
    witness = _witness_of(hub_a)
    hub_a.app.state.hub.witness.watch("hub-b.test/log", hub_b.signer.vkey())
    assert hub_b.witnesses is not None
    hub_b.witnesses.add(PREFIX, witness.vkey())
    hub_b.append(b"one")
    hub_b.sequence()
    hub_b.witnesses.add(PREFIX, witness.vkey())  # re-added: the pool thinks size 0
    hub_b.append(b"two")
    signed = hub_b.sequence()
    assert signed is not None and cosignatures(signed.note, [witness])


def test_a_witness_that_refuses_or_is_unreachable_never_stops_the_log(
    hub_a: TestClient, hub_b: LedgerService, tmp_path: Path
) -> None:
    witness = _witness_of(hub_a)
    assert hub_b.witnesses is not None
    hub_b.witnesses.add(PREFIX, witness.vkey())  # A does not watch B: 404
    hub_b.append(b"one")
    signed = hub_b.sequence()
    assert signed is not None and cosignatures(signed.note, [witness]) == []
    assert hub_b.witnesses.peers()[0].last_error.startswith("refused with 404")

    def down(url: str, body: bytes) -> tuple[int, str, str]:
        raise ConnectionError("connection refused")

    hub_b.witnesses = WitnessPool(hub_b.engine, post=down)
    hub_b.append(b"two")
    signed = hub_b.sequence()
    assert signed is not None and signed.checkpoint.size == 2
    assert hub_b.witnesses.peers()[0].last_error == "unreachable: ConnectionError"


def test_a_checkpoint_signed_without_witnesses_is_completed_once_before_receipts(
    hub_a: TestClient, hub_b: LedgerService
) -> None:
    # another process sequenced it and had not cosigned it yet when receipts were wanted: the
    # next sequence() call (what `hub ledger checkpoint` runs before attaching receipts)
    # collects the missing cosignature, and asks each witness once per checkpoint
    witness = _witness_of(hub_a)
    hub_a.app.state.hub.witness.watch("hub-b.test/log", hub_b.signer.vkey())
    pool = hub_b.witnesses
    hub_b.witnesses = None
    hub_b.append(b"signed elsewhere")
    signed = hub_b.sequence()
    assert signed is not None and cosignatures(signed.note, [witness]) == []
    asked = []

    def post(url: str, body: bytes) -> tuple[int, str, str]:
        asked.append(url)
        answer = hub_a.post(url.removeprefix("http://hub-a.test"), content=body)
        return answer.status_code, answer.text, answer.headers.get("content-type", "")

    assert pool is not None
    hub_b.witnesses = WitnessPool(hub_b.engine, post=post)
    hub_b.witnesses.add(PREFIX, witness.vkey())
    again = hub_b.sequence()
    assert again is not None and again.checkpoint == signed.checkpoint
    assert [c.name for c in cosignatures(again.note, [witness])] == ["hub-a.test/witness"]
    stored = hub_b.latest_checkpoint()
    assert stored is not None and cosignatures(stored[1], [witness])
    hub_b.sequence()
    assert len(asked) == 1  # not asked again for the same checkpoint
