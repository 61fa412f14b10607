"""Fast checks of the Fabric Gateway client's message building and low-S signatures."""

from __future__ import annotations

import hashlib

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from fabric_protos.common import common_pb2
from fabric_protos.msp import identities_pb2
from fabric_protos.peer import chaincode_pb2, proposal_pb2

from ledger.fabric_gateway import P256_ORDER, Identity, build_proposal, sign_low_s


def test_signatures_are_low_s_and_verify() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    for i in range(64):  # about half of raw ECDSA signatures are high-S
        message = f"envelope {i}".encode()
        der = sign_low_s(key, message)
        _, s = decode_dss_signature(der)
        assert s <= P256_ORDER // 2
        key.public_key().verify(der, message, ec.ECDSA(hashes.SHA256()))


def test_proposal_carries_channel_chaincode_args_and_derived_tx_id() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    identity = Identity(
        "Org1MSP", b"-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n", key
    )
    tx_id, proposal = build_proposal(identity, "anchors", "loganchor", "Latest", [b"origin"])

    header = common_pb2.Header.FromString(proposal.header)
    channel = common_pb2.ChannelHeader.FromString(header.channel_header)
    signature_header = common_pb2.SignatureHeader.FromString(header.signature_header)
    assert channel.type == common_pb2.HeaderType.Value("ENDORSER_TRANSACTION")
    assert channel.channel_id == "anchors"
    assert channel.tx_id == tx_id
    assert tx_id == hashlib.sha256(signature_header.nonce + signature_header.creator).hexdigest()
    assert len(signature_header.nonce) == 24
    creator = identities_pb2.SerializedIdentity.FromString(signature_header.creator)
    assert creator.mspid == "Org1MSP"
    extension = proposal_pb2.ChaincodeHeaderExtension.FromString(channel.extension)
    assert extension.chaincode_id.name == "loganchor"

    payload = proposal_pb2.ChaincodeProposalPayload.FromString(proposal.payload)
    spec = chaincode_pb2.ChaincodeInvocationSpec.FromString(payload.input)
    assert list(spec.chaincode_spec.input.args) == [b"Latest", b"origin"]
    # A fresh nonce per proposal gives a fresh transaction id.
    assert build_proposal(identity, "anchors", "loganchor", "Latest", [])[0] != tx_id
