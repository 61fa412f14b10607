"""Offline receipts: an entry, its inclusion path and the signed checkpoint it is proven in.

``verify_receipt`` needs only the receipt and the trusted log keys: no database, no network.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ledger import strict_json
from ledger.anchor import AnchorReference
from ledger.merkle import ProofError, leaf_hash, verify_inclusion
from ledger.note import Checkpoint, NoteError, Verifier, open_checkpoint

MAX_INDEX = 2**63 - 1  # a log position; checkpoint sizes are 64-bit as well
MAX_PATH = 64  # an inclusion path has at most one hash per tree level


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
    def from_dict(cls, obj: Any) -> Receipt:
        """A receipt from its JSON object; ReceiptError (a readable reason) for any other shape.

        Numbers are JSON integers (``2.7``, ``"2"``, ``true`` and ``1e400`` are refused, not
        coerced), hashes lowercase or uppercase hex, the checkpoint a string.
        """
        if not isinstance(obj, dict):
            raise ReceiptError("malformed receipt: a receipt is a JSON object")
        try:
            index = strict_json.integer(obj.get("index"), "receipt index", MAX_INDEX)
            leaf = _hex(obj.get("leaf_hash"), "leaf_hash")
            path = obj.get("path")
            if not isinstance(path, list) or len(path) > MAX_PATH:
                raise ReceiptError(f"path must be a list of at most {MAX_PATH} hashes")
            hashes = tuple(_hex(h, "path entry") for h in path)
            checkpoint = obj.get("checkpoint")
            if not isinstance(checkpoint, str):
                raise ReceiptError("checkpoint must be the signed note as text")
            data = obj.get("data")
            hash_name = obj.get("hash", "sha256")
            if not isinstance(hash_name, str):
                raise ReceiptError("hash must name the hash function")
            a = obj.get("anchor")
            anchor = None
            if a is not None:
                if not isinstance(a, dict):
                    raise ReceiptError("anchor must be an object")
                backend, reference, block = a.get("backend"), a.get("reference"), a.get("block")
                if not isinstance(backend, str) or not isinstance(reference, str | int):
                    raise ReceiptError("anchor must name its backend and reference")
                if isinstance(reference, bool):
                    raise ReceiptError("anchor reference must be text")
                anchor = AnchorReference(
                    backend,
                    str(reference),
                    strict_json.integer(a.get("size"), "anchor size", MAX_INDEX),
                    None
                    if block is None
                    else strict_json.integer(block, "anchor block", MAX_INDEX),
                )
            return cls(
                index=index,
                leaf_hash=leaf,
                path=hashes,
                checkpoint=checkpoint.encode("utf-8"),
                data=None if data is None else _hex(data, "data"),
                hash_name=hash_name,
                anchor=anchor,
            )
        except ReceiptError as exc:
            raise ReceiptError(f"malformed receipt: {exc}") from None
        except (strict_json.StrictJSONError, UnicodeEncodeError) as exc:
            raise ReceiptError(f"malformed receipt: {exc}") from None

    @classmethod
    def from_json(cls, text: str | bytes) -> Receipt:
        try:
            obj = strict_json.loads(text)
        except strict_json.StrictJSONError as exc:
            raise ReceiptError(f"receipt is not JSON: {exc}") from exc
        if not isinstance(obj, dict):
            raise ReceiptError("receipt must be a JSON object")
        return cls.from_dict(obj)


def _hex(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise ReceiptError(f"{what} must be hex text")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise ReceiptError(f"{what} is not hex") from None


def verify_receipt(
    receipt: Receipt, trusted_log_keys: Iterable[str | Verifier], origin: str | None = None
) -> Checkpoint:
    """Check signature, entry and inclusion path; returns the checkpoint it is proven in."""
    verifiers = [k if isinstance(k, Verifier) else Verifier.from_vkey(k) for k in trusted_log_keys]
    try:
        cp = open_checkpoint(receipt.checkpoint, verifiers, origin)
    except NoteError as exc:
        raise ReceiptError(f"receipt checkpoint rejected: {exc}") from exc
    prove_in(receipt, cp)
    return cp


def prove_in(receipt: Receipt, cp: Checkpoint) -> None:
    """The receipt's entry (its data, when it carries it) is in ``cp``'s tree: ReceiptError
    otherwise. ``cp`` is the receipt's checkpoint, already opened with trusted keys."""
    if receipt.data is not None and leaf_hash(receipt.data, receipt.hash_name) != receipt.leaf_hash:
        raise ReceiptError(f"entry {receipt.index}: data does not match its leaf hash")
    try:
        verify_inclusion(
            receipt.index, cp.size, receipt.leaf_hash, receipt.path, cp.root, receipt.hash_name
        )
    except ProofError as exc:
        raise ReceiptError(f"entry {receipt.index} not proven in checkpoint: {exc}") from exc
