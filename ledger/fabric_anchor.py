"""The `fabric` anchor backend: witnesses signed checkpoints in the `loganchor` chaincode.

The chaincode (ledger/chaincode) verifies the C2SP signature against the log's registered key and
the RFC 9162 consistency proof from the last anchored checkpoint, so a forked or shrinking log is
refused by the ledger itself, not only by this client. Refusals surface as AnchorError carrying
the chaincode's message.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ledger.anchor import AnchorError, AnchorReference, AnchorUnavailableError, FabricConfig
from ledger.fabric_gateway import Gateway, GatewayError, Identity
from ledger.note import Checkpoint, NoteError, parse_note

# Chaincode function names (see ledger/chaincode/cmd/loganchor).
FN_REGISTER = "RegisterLog"
FN_ANCHOR = "AnchorCheckpoint"
FN_LATEST = "Latest"
FN_BY_SIZE = "BySize"


def network_settings(env_file: Path) -> dict[str, str]:
    """The hub settings' fields in a network's env file, as ``Settings(**these)`` takes
    them: ``scripts/fabric.sh up`` writes ``HUB_LEDGER_ANCHOR=fabric`` and the ``HUB_FABRIC_*``
    lines of the local network to var/fabric/hub.env."""
    fields = {}
    for line in env_file.read_text(encoding="utf-8").splitlines():
        key, sep, value = line.partition("=")
        if sep and key.startswith("HUB_"):
            fields[key.removeprefix("HUB_").lower()] = value
    return fields


class FabricAnchor:
    """Anchor checkpoints of one log (identified by its origin) on a Fabric channel."""

    name = "fabric"

    def __init__(self, gateway: Gateway, origin: str, vkey: str) -> None:
        self.gateway = gateway
        self.origin = origin
        self.vkey = vkey
        self._registered = False

    @classmethod
    def from_settings(cls, settings: FabricConfig, origin: str, vkey: str) -> FabricAnchor:
        """Connect using the `fabric_*` values (written by scripts/fabric.sh for the test net)."""
        tls_ca, cert, key = settings.fabric_tls_ca, settings.fabric_cert, settings.fabric_key
        if tls_ca is None or cert is None or key is None:
            missing = [
                name
                for name, value in (("tls_ca", tls_ca), ("cert", cert), ("key", key))
                if value is None
            ]
            raise AnchorError(
                f"fabric anchor needs HUB_FABRIC_{', HUB_FABRIC_'.join(missing).upper()}; "
                "`scripts/fabric.sh up` writes them to var/fabric/hub.env for the local network"
            )
        identity = Identity.from_files(settings.fabric_msp_id, Path(cert), Path(key))
        gateway = Gateway(
            settings.fabric_peer,
            Path(tls_ca),
            identity,
            settings.fabric_channel,
            settings.fabric_chaincode,
            retry_for=settings.fabric_retry_seconds,
        )
        return cls(gateway, origin, vkey)

    def close(self) -> None:
        self.gateway.close()

    def register(self) -> None:
        """Register the log's verifier key (idempotent in the chaincode)."""
        try:
            self.gateway.submit(FN_REGISTER, self.origin.encode(), self.vkey.encode())
        except GatewayError as err:
            raise _error(f"registering log {self.origin!r} failed", err) from err
        self._registered = True

    def anchor(
        self, note: bytes, size: int, root: bytes, proof: Sequence[bytes]
    ) -> AnchorReference:
        try:
            checkpoint = Checkpoint.from_note_body(parse_note(note)[0])
        except NoteError as err:
            raise AnchorError(f"not a signed checkpoint: {err}") from err
        if (checkpoint.origin, checkpoint.size, checkpoint.root) != (self.origin, size, root):
            raise AnchorError(
                "note does not match the size/root/origin given to anchor(): "
                f"note has {checkpoint.origin!r} size {checkpoint.size}"
            )
        if not self._registered:
            self.register()
        proof_arg = json.dumps([base64.b64encode(p).decode() for p in proof]).encode()
        try:
            tx_id, _payload, block = self.gateway.submit(FN_ANCHOR, note, proof_arg)
        except GatewayError as err:
            raise _error(f"fabric refused checkpoint of size {size}", err) from err
        return AnchorReference(self.name, tx_id, size, block)

    def _record(self, function: str, *args: bytes) -> dict[str, Any] | None:
        try:
            raw = self.gateway.evaluate(function, *args)
        except GatewayError as err:
            raise _error(f"fabric query {function} failed", err) from err
        if not raw:
            return None
        record: dict[str, Any] = json.loads(raw)
        return record

    def latest(self) -> tuple[bytes, int] | None:
        record = self._record(FN_LATEST, self.origin.encode())
        if record is None:
            return None
        return str(record["note"]).encode(), int(record["size"])

    def at_size(self, size: int) -> tuple[AnchorReference, bytes] | None:
        """The transaction that anchored this log's checkpoint of ``size`` and its note, or
        None: how a sequencer finds out that an anchoring whose answer it lost did commit."""
        record = self._record(FN_BY_SIZE, self.origin.encode(), str(size).encode())
        if record is None:
            return None
        ref = AnchorReference(self.name, str(record["txid"]), int(record["size"]))
        return ref, str(record["note"]).encode()

    def verify(self, reference: AnchorReference, note: bytes) -> None:
        if reference.backend != self.name:
            raise AnchorError(f"reference is for backend {reference.backend!r}, not fabric")
        found = self.at_size(reference.size)
        if found is None:
            raise AnchorError(f"no checkpoint of size {reference.size} is anchored on fabric")
        if found[0].reference != reference.reference:
            raise AnchorError(
                f"checkpoint of size {reference.size} was anchored by transaction "
                f"{found[0].reference}, not {reference.reference}"
            )
        if found[1] != note:
            raise AnchorError(f"anchored note of size {reference.size} differs from the given one")


def _error(what: str, err: GatewayError) -> AnchorError:
    """An unreachable peer, or endorsements that cannot be gathered because an organisation's
    peers are away (after the gateway's retries), is not a refusal: callers queue."""
    kind = AnchorUnavailableError if err.unavailable else AnchorError
    return kind(f"{what}: {err}")
