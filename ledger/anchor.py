"""Anchor backends: where signed checkpoints are witnessed (embedded SQL table or Fabric).

Every backend implements :class:`Anchor`; it refuses a checkpoint that is not consistent
with (or is smaller than) the latest one it anchored, so a forked or rolled-back log is caught.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


class AnchorError(Exception):
    """The anchor refused the checkpoint or is unreachable; the message says which."""


class AnchorUnavailableError(AnchorError):
    """The anchor backend could not be reached (after its retries): nothing was refused, the
    checkpoint stays queued and is anchored when the backend is back."""


@dataclass(frozen=True)
class AnchorReference:
    backend: str  # "embedded" | "fabric"
    reference: str  # row id (embedded) / transaction id (fabric)
    size: int  # tree size of the anchored checkpoint
    block: int | None = None


class Anchor(Protocol):
    name: str

    def anchor(
        self, note: bytes, size: int, root: bytes, proof: Sequence[bytes]
    ) -> AnchorReference:
        """Anchor the signed checkpoint `note` (exact C2SP signed-note bytes) of `size`/`root`;
        `proof` is the RFC 9162 consistency proof from the latest anchored size to `size`
        (empty when nothing is anchored yet). Refuses forks and shrinking logs."""
        ...

    def latest(self) -> tuple[bytes, int] | None:
        """The latest anchored note and its size, or None."""
        ...

    def at_size(self, size: int) -> tuple[AnchorReference, bytes] | None:
        """The reference and note anchored for `size`, or None."""
        ...

    def verify(self, reference: AnchorReference, note: bytes) -> None:
        """Raise AnchorError unless `note` is what `reference` anchored."""
        ...


class FabricConfig(Protocol):
    """The connection values the anchor needs (the hub's settings have them as ``fabric_*``)."""

    @property
    def fabric_peer(self) -> str: ...
    @property
    def fabric_channel(self) -> str: ...
    @property
    def fabric_chaincode(self) -> str: ...
    @property
    def fabric_msp_id(self) -> str: ...
    @property
    def fabric_tls_ca(self) -> Path | None: ...
    @property
    def fabric_cert(self) -> Path | None: ...
    @property
    def fabric_key(self) -> Path | None: ...
    @property
    def fabric_retry_seconds(self) -> float: ...
