"""Offline receipts: an entry, its inclusion path and the signed checkpoint it is proven in.

``verify_receipt`` needs only the receipt and the trusted log keys: no database, no network.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ledger.anchor import AnchorReference
from ledger.merkle import ProofError, leaf_hash, verify_inclusion
from ledger.note import Checkpoint, NoteError, Verifier, open_checkpoint


class ReceiptError(ValueError):
    """A receipt is malformed or does not prove its entry under a trusted checkpoint."""


@dataclass(frozen=True)
class Receipt:
    index: int
    leaf_hash: bytes
    path: tuple[bytes, ...]
    checkpoint: bytes  # the exact signed-note bytes
    data: bytes | None = None
    hash_name: str = "sha256"
    anchor: AnchorReference | None = None  # where the checkpoint was anchored, if known

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "index": self.index,
            "leaf_hash": self.leaf_hash.hex(),
            "path": [h.hex() for h in self.path],
            "checkpoint": self.checkpoint.decode("utf-8"),
            "hash": self.hash_name,
        }
        if self.data is not None:
            out["data"] = self.data.hex()
        if self.anchor is not None:
            a = self.anchor
            out["anchor"] = {
                "backend": a.backend,
                "reference": a.reference,
                "size": a.size,
                "block": a.block,
            }
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_dict(cls, obj: dict[str, Any]) -> Receipt:
        try:
            data = obj.get("data")
            a = obj.get("anchor")
            anchor = None
            if a is not None:
                block = a.get("block")
                anchor = AnchorReference(
                    str(a["backend"]),
                    str(a["reference"]),
                    int(a["size"]),
                    None if block is None else int(block),
                )
            return cls(
                index=int(obj["index"]),
                leaf_hash=bytes.fromhex(obj["leaf_hash"]),
                path=tuple(map(bytes.fromhex, obj["path"])),
                checkpoint=str(obj["checkpoint"]).encode("utf-8"),
                data=None if data is None else bytes.fromhex(data),
                hash_name=str(obj.get("hash", "sha256")),
                anchor=anchor,
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ReceiptError(f"malformed receipt: {exc}") from exc

    @classmethod
    def from_json(cls, text: str | bytes) -> Receipt:
        try:
            obj = json.loads(text)
        except ValueError as exc:
            raise ReceiptError(f"receipt is not JSON: {exc}") from exc
        if not isinstance(obj, dict):
            raise ReceiptError("receipt must be a JSON object")
        return cls.from_dict(obj)


def verify_receipt(
    receipt: Receipt, trusted_log_keys: Iterable[str | Verifier], origin: str | None = None
) -> Checkpoint:
    """Check signature, entry and inclusion path; returns the checkpoint it is proven in."""
    verifiers = [k if isinstance(k, Verifier) else Verifier.from_vkey(k) for k in trusted_log_keys]
    try:
        cp = open_checkpoint(receipt.checkpoint, verifiers, origin)
    except NoteError as exc:
        raise ReceiptError(f"receipt checkpoint rejected: {exc}") from exc
    if receipt.data is not None and leaf_hash(receipt.data, receipt.hash_name) != receipt.leaf_hash:
        raise ReceiptError(f"entry {receipt.index}: data does not match its leaf hash")
    try:
        verify_inclusion(
            receipt.index, cp.size, receipt.leaf_hash, receipt.path, cp.root, receipt.hash_name
        )
    except ProofError as exc:
        raise ReceiptError(f"entry {receipt.index} not proven in checkpoint: {exc}") from exc
    return cp
