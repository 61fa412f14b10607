"""Minimal Hyperledger Fabric Gateway client: evaluate and submit chaincode transactions over gRPC.

Follows the flow of the official clients (hyperledger/fabric-gateway): build a signed proposal,
Evaluate it for reads, or Endorse → sign the prepared envelope → Submit → wait on CommitStatus.
Every signature is ECDSA P-256 over SHA-256, DER-encoded with low S, because peers reject high-S
signatures and `cryptography` does not normalise them.
"""

from __future__ import annotations

import hashlib
import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import grpc
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from fabric_protos.common import common_pb2
from fabric_protos.gateway import gateway_pb2, gateway_pb2_grpc
from fabric_protos.msp import identities_pb2
from fabric_protos.peer import chaincode_pb2, proposal_pb2, proposal_response_pb2, transaction_pb2
from google.protobuf import timestamp_pb2
from google.rpc import status_pb2

# Order of the P-256 group: signatures with s > n/2 are rewritten as n - s (low-S form).
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551

T = TypeVar("T")

_UNAVAILABLE_CODES = ("UNAVAILABLE", "DEADLINE_EXCEEDED")
# How an endorser that could not be reached shows in the gateway's error details (the gRPC error
# of the peer-to-peer call, or the chaincode server the peer dials), and how the gateway says the
# peers it knows cannot satisfy the endorsement policy (an organisation's only peer is away).
_UNREACHABLE_DETAILS = ("code = Unavailable", "code = DeadlineExceeded", "connection refused")
_NO_ENDORSERS = "no combination of peers can be derived which satisfy the endorsement policy"
_ENDORSING_FAILED = (
    "failed to collect enough transaction endorsements",
    "failed to endorse",
    "failed to evaluate",
)


class GatewayError(Exception):
    """A Fabric Gateway call failed; `details` holds the per-peer chaincode messages if any.

    ``unavailable`` says the network could not be reached or could not gather the endorsements
    the policy needs (a peer, an organisation or the ordering service away): worth retrying and
    then queueing, unlike a chaincode's refusal. ``retriable`` adds endorsements that disagree
    (the gateway's own organisation accepted, another's peer answered otherwise: a peer that has
    not committed the latest block yet), which a moment later agree.
    """

    def __init__(
        self,
        message: str,
        code: str = "",
        details: Sequence[str] = (),
        *,
        unavailable: bool | None = None,
        retriable: bool = False,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.details = list(details)
        self.unavailable = code in _UNAVAILABLE_CODES if unavailable is None else unavailable
        self.retriable = retriable or self.unavailable


class TransactionInvalid(GatewayError):
    """The transaction was ordered but the peer marked it invalid at commit (e.g. MVCC conflict)."""


@dataclass(frozen=True)
class Identity:
    """An MSP member: MSP id, PEM certificate and its P-256 private key."""

    msp_id: str
    cert_pem: bytes
    key: ec.EllipticCurvePrivateKey

    @classmethod
    def from_files(
        cls, msp_id: str, cert: Path, key: Path, password: bytes | None = None
    ) -> Identity:
        private = serialization.load_pem_private_key(key.read_bytes(), password)
        if not isinstance(private, ec.EllipticCurvePrivateKey):
            raise GatewayError(f"{key} is not an EC private key; Fabric identities use P-256")
        return cls(msp_id, cert.read_bytes(), private)

    def creator(self) -> bytes:
        """Serialized msp.SerializedIdentity, the creator field of every header."""
        return identities_pb2.SerializedIdentity(
            mspid=self.msp_id, id_bytes=self.cert_pem
        ).SerializeToString()

    def sign(self, message: bytes) -> bytes:
        return sign_low_s(self.key, message)


def sign_low_s(key: ec.EllipticCurvePrivateKey, message: bytes) -> bytes:
    """ECDSA P-256/SHA-256 DER signature with S normalised to the lower half of the group order."""
    r, s = decode_dss_signature(key.sign(message, ec.ECDSA(hashes.SHA256())))
    if s > P256_ORDER // 2:
        s = P256_ORDER - s
    return encode_dss_signature(r, s)


def transaction_id(nonce: bytes, creator: bytes) -> str:
    """Fabric transaction id: lower-case hex SHA-256(nonce || creator)."""
    return hashlib.sha256(nonce + creator).hexdigest()


def build_proposal(
    identity: Identity, channel: str, chaincode: str, function: str, args: Sequence[bytes]
) -> tuple[str, proposal_pb2.Proposal]:
    """Build an endorser-transaction proposal; returns (transaction id, proposal)."""
    creator = identity.creator()
    nonce = os.urandom(24)
    tx_id = transaction_id(nonce, creator)
    now = time.time_ns()
    channel_header = common_pb2.ChannelHeader(
        type=common_pb2.HeaderType.Value("ENDORSER_TRANSACTION"),
        timestamp=timestamp_pb2.Timestamp(seconds=now // 1_000_000_000, nanos=now % 1_000_000_000),
        channel_id=channel,
        tx_id=tx_id,
        extension=proposal_pb2.ChaincodeHeaderExtension(
            chaincode_id=chaincode_pb2.ChaincodeID(name=chaincode)
        ).SerializeToString(),
    )
    header = common_pb2.Header(
        channel_header=channel_header.SerializeToString(),
        signature_header=common_pb2.SignatureHeader(
            creator=creator, nonce=nonce
        ).SerializeToString(),
    )
    spec = chaincode_pb2.ChaincodeInvocationSpec(
        chaincode_spec=chaincode_pb2.ChaincodeSpec(
            type=chaincode_pb2.ChaincodeSpec.Type.Value("GOLANG"),
            chaincode_id=chaincode_pb2.ChaincodeID(name=chaincode),
            input=chaincode_pb2.ChaincodeInput(args=[function.encode(), *args]),
        )
    )
    payload = proposal_pb2.ChaincodeProposalPayload(input=spec.SerializeToString())
    proposal = proposal_pb2.Proposal(
        header=header.SerializeToString(), payload=payload.SerializeToString()
    )
    return tx_id, proposal


def error_details(err: grpc.RpcError) -> list[str]:
    """Decode `gateway.ErrorDetail` messages carried in the gRPC status details."""
    out: list[str] = []
    trailers = err.trailing_metadata() if hasattr(err, "trailing_metadata") else None
    for key, value in trailers or ():
        if key != "grpc-status-details-bin":
            continue
        status = status_pb2.Status.FromString(value)
        for any_detail in status.details:
            detail = gateway_pb2.ErrorDetail()
            if any_detail.Unpack(detail):
                out.append(detail.message)
    return out


def endorsers_unavailable(code: str, text: str, details: Sequence[str]) -> bool:
    """Whether a gateway error means that the endorsements could not be gathered because peers
    are away, rather than that a chaincode refused: the gateway reports both as ABORTED (or
    FAILED_PRECONDITION once discovery has dropped the peer), told apart by the details.
    A chaincode's own answer ("chaincode response 500, ...") is never taken for absence."""
    if code == "FAILED_PRECONDITION":
        return _NO_ENDORSERS in text
    if code != "ABORTED" or not text.startswith(_ENDORSING_FAILED) or not details:
        return False
    return all(
        not d.startswith("chaincode response") and any(u in d for u in _UNREACHABLE_DETAILS)
        for d in details
    )


def endorsers_disagree(code: str, text: str) -> bool:
    """The gateway's first endorser (its own organisation's peer) accepted the proposal but the
    other organisations' peers did not all give the same answer: their world states differ for
    the moment (one has not committed the latest block), not a refusal of the proposal, which
    the first endorser would have made (``failed to endorse transaction``)."""
    return code == "ABORTED" and text.startswith(_ENDORSING_FAILED[0])


def _wrap(err: grpc.RpcError, action: str) -> GatewayError:
    code = err.code().name if hasattr(err, "code") and err.code() else "UNKNOWN"
    text = (err.details() if hasattr(err, "details") else str(err)) or ""
    details = error_details(err)
    message = f"{action} failed ({code}): {text}"
    if details:
        message += "; " + "; ".join(details)
    unavailable = code in _UNAVAILABLE_CODES or endorsers_unavailable(code, text, details)
    retriable = endorsers_disagree(code, text)
    return GatewayError(message, code, details, unavailable=unavailable, retriable=retriable)


def peer_endpoints(peers: str | Sequence[str]) -> list[str]:
    """The gateway peers to use, in order of preference: ``host:port`` items, as a list or
    comma-separated (``HUB_FABRIC_PEER=127.0.0.1:7051,127.0.0.1:7151``)."""
    items = peers.split(",") if isinstance(peers, str) else list(peers)
    endpoints = [p.strip() for p in items if p.strip()]
    if not endpoints:
        raise GatewayError("no Fabric peer given (HUB_FABRIC_PEER is empty)")
    for endpoint in endpoints:
        host, sep, port = endpoint.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise GatewayError(f"Fabric peer {endpoint!r} is not host:port (HUB_FABRIC_PEER)")
    return endpoints


class Gateway:
    """A connection to a peer's Gateway service, bound to a channel and chaincode.

    Several peers may be given (their TLS CAs in one bundle): calls go to the first; a peer that
    cannot be reached, or that cannot gather the endorsements, hands over to the next one, in
    turn, until ``retry_for`` runs out.
    """

    def __init__(
        self,
        peer: str | Sequence[str],
        tls_ca: Path,
        identity: Identity,
        channel: str,
        chaincode: str,
        *,
        timeout: float = 30.0,
        retry_for: float = 60.0,
        commit_wait: float = 8.0,
    ) -> None:
        self.peers = peer_endpoints(peer)
        self.tls_ca = tls_ca
        creds = grpc.ssl_channel_credentials(root_certificates=tls_ca.read_bytes())
        self._channels = [grpc.secure_channel(p, creds) for p in self.peers]
        self._stubs = [gateway_pb2_grpc.GatewayStub(c) for c in self._channels]
        self._current = 0
        self.identity = identity
        self.channel_id = channel
        self.chaincode = chaincode
        self.timeout = timeout
        self.retry_for = retry_for
        self.commit_wait = commit_wait

    @property
    def peer(self) -> str:
        """The peer the next call goes to."""
        return self.peers[self._current]

    def close(self) -> None:
        for channel in self._channels:
            channel.close()

    def __enter__(self) -> Gateway:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _retry(self, action: str, call: Callable[[gateway_pb2_grpc.GatewayStub], T]) -> T:
        """Run call on the current peer; while the network is unavailable (a peer restarting or
        away, Raft electing) retry with backoff, on the next peer each time. Endorsements that
        disagree are asked for again of the same peer, whose organisation accepted: another
        peer would endorse first on its own state, which may be the one a block behind."""
        deadline = time.monotonic() + self.retry_for
        delay = 0.2
        while True:
            try:
                return call(self._stubs[self._current])
            except grpc.RpcError as err:
                wrapped = _wrap(err, f"{action} at {self.peer}")
                if not wrapped.retriable or time.monotonic() + delay > deadline:
                    raise wrapped from err
            if wrapped.unavailable:
                self._current = (self._current + 1) % len(self._stubs)
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 3.0)

    def _signed(
        self, function: str, args: Sequence[bytes]
    ) -> tuple[str, proposal_pb2.SignedProposal]:
        tx_id, proposal = build_proposal(
            self.identity, self.channel_id, self.chaincode, function, args
        )
        raw = proposal.SerializeToString()
        return tx_id, proposal_pb2.SignedProposal(
            proposal_bytes=raw, signature=self.identity.sign(raw)
        )

    def evaluate(self, function: str, *args: bytes) -> bytes:
        """Run a read-only transaction on the peer and return the chaincode's payload."""

        def call(stub: gateway_pb2_grpc.GatewayStub) -> bytes:
            tx_id, signed = self._signed(function, args)
            request = gateway_pb2.EvaluateRequest(
                transaction_id=tx_id, channel_id=self.channel_id, proposed_transaction=signed
            )
            response = stub.Evaluate(request, timeout=self.timeout)
            return bytes(response.result.payload)

        return self._retry(f"evaluate {function}", call)

    def submit(self, function: str, *args: bytes) -> tuple[str, bytes, int]:
        """Endorse, order and wait for commit; returns (tx id, chaincode payload, block number)."""
        tx_id, signed = self._signed(function, args)
        endorse = gateway_pb2.EndorseRequest(
            transaction_id=tx_id, channel_id=self.channel_id, proposed_transaction=signed
        )
        envelope = self._retry(
            f"endorse {function}", lambda stub: stub.Endorse(endorse, timeout=self.timeout)
        ).prepared_transaction
        envelope.signature = self.identity.sign(envelope.payload)
        submit = gateway_pb2.SubmitRequest(
            transaction_id=tx_id, channel_id=self.channel_id, prepared_transaction=envelope
        )

        def broadcast() -> None:
            # Submitting the same signed envelope twice is safe: peers keep the first of two
            # transactions with one id and mark the other invalid (DUPLICATE_TXID).
            self._retry(
                f"submit {function}", lambda stub: stub.Submit(submit, timeout=self.timeout)
            )

        broadcast()
        status_request = gateway_pb2.CommitStatusRequest(
            transaction_id=tx_id, channel_id=self.channel_id, identity=self.identity.creator()
        ).SerializeToString()
        signed_status = gateway_pb2.SignedCommitStatusRequest(
            request=status_request, signature=self.identity.sign(status_request)
        )
        status = self._commit_status(function, signed_status, broadcast)
        if status.result != transaction_pb2.TxValidationCode.Value("VALID"):
            name = transaction_pb2.TxValidationCode.Name(status.result)
            raise TransactionInvalid(f"transaction {tx_id} committed as invalid: {name}", name)
        self._await_other_peers(signed_status)
        return tx_id, _payload_of(envelope), int(status.block_number)

    def _commit_status(
        self,
        function: str,
        signed_status: gateway_pb2.SignedCommitStatusRequest,
        broadcast: Callable[[], None],
    ) -> gateway_pb2.CommitStatusResponse:
        """Wait for the transaction's commit. An orderer that accepted it may stop before it is
        ordered (a Raft leader, or a follower that forwarded it to a leader that stopped), and
        the transaction is lost: when no commit comes within ``commit_wait`` (several batch
        timeouts plus a Raft election), the same envelope is broadcast again."""
        deadline = time.monotonic() + max(self.retry_for, self.timeout)
        delay = 0.2
        while True:
            try:
                status: gateway_pb2.CommitStatusResponse = self._stubs[self._current].CommitStatus(
                    signed_status, timeout=self.commit_wait
                )
                return status
            except grpc.RpcError as err:
                wrapped = _wrap(err, f"commit status {function} at {self.peer}")
                if not wrapped.unavailable or time.monotonic() >= deadline:
                    raise wrapped from err
                if wrapped.code == "DEADLINE_EXCEEDED":
                    broadcast()
                    continue
            self._current = (self._current + 1) % len(self._stubs)
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 3.0)

    def _await_other_peers(self, signed_status: gateway_pb2.SignedCommitStatusRequest) -> None:
        """Wait until the other listed peers that can be reached have committed the transaction
        too, so that the next transaction's endorsements (each organisation simulates it on its
        own peer's state) start from it everywhere. A peer away is not waited for."""
        for index, stub in enumerate(self._stubs):
            if index == self._current:
                continue
            try:
                stub.CommitStatus(signed_status, timeout=self.commit_wait)
            except grpc.RpcError:
                continue


def _payload_of(envelope: common_pb2.Envelope) -> bytes:
    """Extract the chaincode response payload from a prepared endorser-transaction envelope."""
    payload = common_pb2.Payload.FromString(envelope.payload)
    tx = transaction_pb2.Transaction.FromString(payload.data)
    if not tx.actions:
        return b""
    action_payload = transaction_pb2.ChaincodeActionPayload.FromString(tx.actions[0].payload)
    return proposal_response_payload(action_payload.action.proposal_response_payload)


def proposal_response_payload(raw: bytes) -> bytes:
    """The chaincode's response payload inside a serialized ProposalResponsePayload."""
    prp = proposal_response_pb2.ProposalResponsePayload.FromString(raw)
    action = proposal_pb2.ChaincodeAction.FromString(prp.extension)
    return bytes(action.response.payload)
