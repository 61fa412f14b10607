"""Fast checks of how the Fabric Gateway client tells a network that is away from a refusal,
hands over between peers, and broadcasts again a transaction that an orderer lost."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fabric_protos.common import common_pb2
from fabric_protos.gateway import gateway_pb2
from fabric_protos.peer import transaction_pb2
from google.protobuf import any_pb2
from google.rpc import status_pb2

from ledger.anchor import AnchorError, AnchorUnavailableError
from ledger.fabric_anchor import FabricAnchor
from ledger.fabric_gateway import Gateway, GatewayError, Identity, peer_endpoints

BUREAU, CITY = "127.0.0.1:7051", "127.0.0.1:7151"
# what the Fabric 2.5 gateway says when the City's peer is away or refuses (its own wording)
CITY_AWAY = (
    "rpc error: code = Unavailable desc = connection error: desc = "
    '"transport: Error while dialing: dial tcp 127.0.0.1:7151: connect: connection refused"'
)
NO_COMBINATION = (
    "no combination of peers can be derived which satisfy the endorsement policy: "
    "no peer combination can satisfy the endorsement policy"
)
COLLECT = "failed to collect enough transaction endorsements, see attached details for more info"
FIRST = "failed to endorse transaction, see attached details for more info"
EVALUATE = "failed to evaluate transaction, see attached details for more info"
CHAINCODE_AWAY = (
    "error in simulation: failed to execute transaction 116c: could not launch chaincode "
    "loganchor_1:be65: connection to loganchor_1:be65 failed: error cannot create connection "
    "for loganchor_1:be65: error creating grpc connection to 127.0.0.1:9999: dial tcp "
    "127.0.0.1:9999: connect: connection refused"
)


class FakeRpcError(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode, text: str, details: tuple[str, ...] = ()) -> None:
        self._code, self._text = code, text
        status = status_pb2.Status(code=code.value[0], message=text)
        for message in details:
            packed = any_pb2.Any()
            packed.Pack(gateway_pb2.ErrorDetail(address=CITY, msp_id="CityMSP", message=message))
            status.details.append(packed)
        self._trailers = (("grpc-status-details-bin", status.SerializeToString()),)

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._text

    def trailing_metadata(self) -> tuple[tuple[str, bytes], ...]:
        return self._trailers


Answer = Callable[[Any], Any] | FakeRpcError | Any


class FakeStub:
    """A peer's Gateway service answering each method from a script of answers or errors."""

    def __init__(self, name: str, log: list[str], **script: list[Answer]) -> None:
        self.name, self.log, self.script = name, log, script

    def _answer(self, method: str, request: Any) -> Any:
        self.log.append(f"{method}@{self.name}")
        answers = self.script.get(method) or [FakeRpcError(grpc.StatusCode.UNAVAILABLE, "down")]
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        if isinstance(answer, FakeRpcError):
            raise answer
        return answer

    def __getattr__(self, method: str) -> Callable[..., Any]:
        return lambda request, timeout=None: self._answer(method, request)


def prepared() -> gateway_pb2.EndorseResponse:
    payload = common_pb2.Payload(data=transaction_pb2.Transaction().SerializeToString())
    return gateway_pb2.EndorseResponse(
        prepared_transaction=common_pb2.Envelope(payload=payload.SerializeToString())
    )


def committed(block: int) -> gateway_pb2.CommitStatusResponse:
    return gateway_pb2.CommitStatusResponse(
        result=transaction_pb2.TxValidationCode.Value("VALID"), block_number=block
    )


def gateway(tmp_path: Path, *stubs: FakeStub, retry_for: float = 5.0) -> Gateway:
    ca = tmp_path / "ca.pem"
    ca.write_bytes(b"")
    identity = Identity("BureauMSP", b"cert", ec.generate_private_key(ec.SECP256R1()))
    gw = Gateway(
        ",".join(s.name for s in stubs), ca, identity, "anchors", "loganchor",
        retry_for=retry_for, commit_wait=0.1,
    )  # fmt: skip
    gw._stubs = list(stubs)  # type: ignore[assignment]
    return gw


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("ledger.fabric_gateway.time.sleep", lambda seconds: None)


def test_peers_are_listed_in_order_and_a_malformed_one_is_named() -> None:
    assert peer_endpoints(f" {BUREAU}, {CITY} ") == [BUREAU, CITY]
    assert peer_endpoints([BUREAU]) == [BUREAU]
    with pytest.raises(GatewayError, match="HUB_FABRIC_PEER is empty"):
        peer_endpoints(" , ")
    with pytest.raises(GatewayError, match=r"'127.0.0.1' is not host:port"):
        peer_endpoints(f"{BUREAU},127.0.0.1")


def test_reads_go_to_the_next_peer_while_the_first_is_away(tmp_path: Path) -> None:
    log: list[str] = []
    result = gateway_pb2.EvaluateResponse()
    result.result.payload = b"latest"
    gw = gateway(tmp_path, FakeStub(BUREAU, log), FakeStub(CITY, log, Evaluate=[result]))
    assert gw.evaluate("Latest", b"origin") == b"latest"
    assert log == [f"Evaluate@{BUREAU}", f"Evaluate@{CITY}"]
    assert gw.peer == CITY  # and stays there while it answers
    gw.evaluate("Latest", b"origin")
    assert log[-1] == f"Evaluate@{CITY}"


@pytest.mark.parametrize(
    ("error", "unavailable"),
    [
        # the City's peer away: discovery no longer offers it, or it cannot be dialled
        (FakeRpcError(grpc.StatusCode.FAILED_PRECONDITION, NO_COMBINATION), True),
        (FakeRpcError(grpc.StatusCode.ABORTED, COLLECT, (CITY_AWAY,)), True),
        # the chaincode server away
        (FakeRpcError(grpc.StatusCode.ABORTED, FIRST, (CHAINCODE_AWAY,)), True),
        # the chaincode refused (a fork) on the gateway's own peer: a refusal, at once
        (
            FakeRpcError(
                grpc.StatusCode.ABORTED, FIRST, ("chaincode response 500, fork detected at 17",)
            ),
            False,
        ),
        (FakeRpcError(grpc.StatusCode.FAILED_PRECONDITION, "creator is malformed"), False),
    ],
)
def test_an_organisation_away_queues_and_a_refusal_does_not(
    tmp_path: Path, error: FakeRpcError, unavailable: bool
) -> None:
    log: list[str] = []
    gw = gateway(tmp_path, FakeStub(BUREAU, log, Endorse=[error]), retry_for=0.5)
    anchor = FabricAnchor(gw, "test.hub.local/log", "vkey")
    anchor._registered = True
    with pytest.raises(AnchorError) as raised:
        anchor.anchor(*note_args())
    assert isinstance(raised.value, AnchorUnavailableError) is unavailable
    assert (len(log) > 1) is unavailable  # retried while unavailable, never after a refusal


def test_endorsements_that_disagree_are_tried_again(tmp_path: Path) -> None:
    """The Bureau's peer endorsed, the City's, not caught up with the last block yet, answered
    otherwise: the same proposal a moment later is endorsed by both."""
    log: list[str] = []
    stale = FakeRpcError(
        grpc.StatusCode.ABORTED, COLLECT, ("chaincode response 500, log is not registered",)
    )
    bureau = FakeStub(
        BUREAU, log, Endorse=[stale, prepared()], Submit=[gateway_pb2.SubmitResponse()],
        CommitStatus=[committed(7)],
    )  # fmt: skip
    city = FakeStub(CITY, log, CommitStatus=[committed(7)])
    _, _, block = gateway(tmp_path, bureau, city).submit("AnchorCheckpoint", b"note")
    # again at the Bureau's gateway: the City's would endorse first on its stale state
    assert block == 7 and log[:2] == [f"Endorse@{BUREAU}"] * 2


def test_a_transaction_an_orderer_lost_is_broadcast_again(tmp_path: Path) -> None:
    """The Raft leader stopped after taking the transaction: no commit comes, so the same
    envelope goes out again (to any orderer the gateway picks), and the commit is seen."""
    log: list[str] = []
    lost = FakeRpcError(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded")
    bureau = FakeStub(
        BUREAU, log, Endorse=[prepared()], Submit=[gateway_pb2.SubmitResponse()],
        CommitStatus=[lost, committed(9)],
    )  # fmt: skip
    city = FakeStub(CITY, log, CommitStatus=[committed(9)])
    _, _, block = gateway(tmp_path, bureau, city).submit("AnchorCheckpoint", b"note")
    assert block == 9
    assert log == [
        f"Endorse@{BUREAU}",
        f"Submit@{BUREAU}",
        f"CommitStatus@{BUREAU}",
        f"Submit@{BUREAU}",  # the same envelope again
        f"CommitStatus@{BUREAU}",
        f"CommitStatus@{CITY}",  # the City's peer has it too before the next transaction
    ]


def note_args() -> tuple[bytes, int, bytes, list[bytes]]:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from ledger.merkle import MemoryTree
    from ledger.note import Checkpoint, Signer, sign_checkpoint

    signer = Signer("test.hub.local/log", Ed25519PrivateKey.generate())
    tree = MemoryTree()
    for i in range(3):
        tree.append(f"entry {i}".encode())
    note = sign_checkpoint(Checkpoint("test.hub.local/log", 3, tree.root(3)), signer)
    return note, 3, tree.root(3), []


@pytest.mark.parametrize(
    ("detail", "unavailable"),
    [(CHAINCODE_AWAY, True), ('chaincode response 500, log "x" is not registered', False)],
)
def test_a_read_while_the_chaincode_server_is_away_queues(
    tmp_path: Path, detail: str, unavailable: bool
) -> None:
    error = FakeRpcError(grpc.StatusCode.ABORTED, EVALUATE, (detail,))
    anchor = FabricAnchor(
        gateway(tmp_path, FakeStub(BUREAU, [], Evaluate=[error]), retry_for=0.5),
        "test.hub.local/log",
        "vkey",
    )
    with pytest.raises(AnchorError) as raised:
        anchor.latest()
    assert isinstance(raised.value, AnchorUnavailableError) is unavailable
