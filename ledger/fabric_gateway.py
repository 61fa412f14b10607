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


class GatewayError(Exception):
    """A Fabric Gateway call failed; `details` holds the per-peer chaincode messages if any."""

    def __init__(self, message: str, code: str = "", details: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.code = code
        self.details = list(details)


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


def _wrap(err: grpc.RpcError, action: str) -> GatewayError:
    code = err.code().name if hasattr(err, "code") and err.code() else "UNKNOWN"
    text = err.details() if hasattr(err, "details") else str(err)
    details = error_details(err)
    message = f"{action} failed ({code}): {text}"
    if details:
        message += "; " + "; ".join(details)
    return GatewayError(message, code, details)


class Gateway:
    """A connection to one peer's Gateway service, bound to a channel and chaincode."""

    def __init__(
        self,
        peer: str,
        tls_ca: Path,
        identity: Identity,
        channel: str,
        chaincode: str,
        *,
        timeout: float = 30.0,
        retry_for: float = 60.0,
    ) -> None:
        creds = grpc.ssl_channel_credentials(root_certificates=tls_ca.read_bytes())
        self._channel = grpc.secure_channel(peer, creds)
        self._stub = gateway_pb2_grpc.GatewayStub(self._channel)
        self.identity = identity
        self.channel_id = channel
        self.chaincode = chaincode
        self.timeout = timeout
        self.retry_for = retry_for

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> Gateway:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _retry(self, action: str, call: Callable[[], T]) -> T:
        """Run call, retrying UNAVAILABLE (peer restarting, Raft electing) with backoff."""
        deadline = time.monotonic() + self.retry_for
        delay = 0.2
        while True:
            try:
                return call()
            except grpc.RpcError as err:
                retriable = err.code() in (
                    grpc.StatusCode.UNAVAILABLE,
                    grpc.StatusCode.DEADLINE_EXCEEDED,
                )
                if not retriable or time.monotonic() + delay > deadline:
                    raise _wrap(err, action) from err
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

        def call() -> bytes:
            tx_id, signed = self._signed(function, args)
            request = gateway_pb2.EvaluateRequest(
                transaction_id=tx_id, channel_id=self.channel_id, proposed_transaction=signed
            )
            response = self._stub.Evaluate(request, timeout=self.timeout)
            return bytes(response.result.payload)

        return self._retry(f"evaluate {function}", call)

    def submit(self, function: str, *args: bytes) -> tuple[str, bytes, int]:
        """Endorse, order and wait for commit; returns (tx id, chaincode payload, block number)."""
        tx_id, signed = self._signed(function, args)
        endorse = gateway_pb2.EndorseRequest(
            transaction_id=tx_id, channel_id=self.channel_id, proposed_transaction=signed
        )
        envelope = self._retry(
            f"endorse {function}", lambda: self._stub.Endorse(endorse, timeout=self.timeout)
        ).prepared_transaction
        envelope.signature = self.identity.sign(envelope.payload)
        submit = gateway_pb2.SubmitRequest(
            transaction_id=tx_id, channel_id=self.channel_id, prepared_transaction=envelope
        )
        # Submitting the same signed envelope twice is safe: the peer drops duplicate tx ids.
        self._retry(f"submit {function}", lambda: self._stub.Submit(submit, timeout=self.timeout))
        status_request = gateway_pb2.CommitStatusRequest(
            transaction_id=tx_id, channel_id=self.channel_id, identity=self.identity.creator()
        ).SerializeToString()
        signed_status = gateway_pb2.SignedCommitStatusRequest(
            request=status_request, signature=self.identity.sign(status_request)
        )
        status = self._retry(
            f"commit status {function}",
            lambda: self._stub.CommitStatus(signed_status, timeout=self.timeout),
        )
        if status.result != transaction_pb2.TxValidationCode.Value("VALID"):
            name = transaction_pb2.TxValidationCode.Name(status.result)
            raise TransactionInvalid(f"transaction {tx_id} committed as invalid: {name}", name)
        return tx_id, _payload_of(envelope), int(status.block_number)


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
