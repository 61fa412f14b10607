"""Bitstring status lists committed to the log: building, reading and proving them (pure).

With every checkpoint the log receives one ``status_list`` entry per issuing authority that
has licences: two bitstrings (W3C Bitstring Status List layout, bit i = licence with status
index i, most significant bit first) for the purposes ``revocation`` (revoked, expired or
superseded: no longer to be relied on) and ``suspension``. The entry names the tree size whose
state it reflects (``state_size``: every lifecycle entry before that position is in it) and
the checkpoint it is sequenced under (``checkpoint_size``; only other snapshot entries lie
between the two). A licence's issue entry names its ``status_index``; so a licence, its issue
receipt and the status list entry's receipt prove "not revoked as of checkpoint N" with no
database: :func:`prove_status`.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import zlib
from collections.abc import Callable, Iterable, Mapping, MutableSet, Sequence
from dataclasses import dataclass

from ledger import strict_json
from ledger.note import Checkpoint, NoteError, Verifier
from ledger.receipt import Receipt, ReceiptError, prove_in, verify_receipt
from licence.document import canonical

EVENT = "status_list"
PURPOSES = ("revocation", "suspension")
HITS: Mapping[str, frozenset[str]] = {
    "revocation": frozenset({"revoked", "expired", "superseded"}),
    "suspension": frozenset({"suspended"}),
}
MAX_BITS = 1 << 27  # 16 MiB per list: refuse to inflate anything larger (a gzip bomb)


class StatusListError(ValueError):
    """A status list entry or its proof cannot be read or does not hold."""


class SnapshotTooOldError(StatusListError):
    """The licence was logged after the status snapshot given: a later one can tell."""


class StatusIndexUnknownError(StatusListError):
    """Neither the issue entry nor the caller names the licence's status index."""


def bitstring(size: int, statuses: Iterable[tuple[int, str]], purpose: str) -> bytes:
    """The ``purpose`` bitstring of ``size`` positions from (status index, status) pairs."""
    bits = bytearray((size + 7) // 8)
    hit = HITS[purpose]
    for i, status in statuses:
        if status in hit and 0 <= i < size:
            bits[i // 8] |= 0x80 >> (i % 8)
    return bytes(bits)


def bit(bits: bytes, index: int) -> bool:
    """Bit ``index`` (most significant bit of each byte first)."""
    return bool(bits[index // 8] & (0x80 >> (index % 8)))


def _encode(bits: bytes) -> dict[str, str]:
    gz = zlib.compressobj(9, zlib.DEFLATED, 31)  # gzip framing, no file name or time: stable
    packed = gz.compress(bits) + gz.flush()
    return {
        "sha256": hashlib.sha256(bits).hexdigest(),
        "encoded": base64.b64encode(packed).decode(),
    }


def _decode(obj: object, size: int) -> bytes:
    if not isinstance(obj, dict):
        raise StatusListError("status list entry lacks a bitstring")
    try:
        packed = base64.b64decode(str(obj["encoded"]), validate=True)
        inflater = zlib.decompressobj(31)
        want = (size + 7) // 8
        bits = inflater.decompress(packed, want + 1)
    except (KeyError, binascii.Error, zlib.error) as exc:
        raise StatusListError(f"status list bitstring cannot be read: {exc}") from exc
    if len(bits) != want:
        raise StatusListError(f"status list holds {len(bits)} bytes, not {want}")
    if hashlib.sha256(bits).hexdigest() != obj.get("sha256"):
        raise StatusListError("status list bitstring does not match its SHA-256")
    return bits


def snapshot_entry(
    authority: str,
    size: int,
    statuses: Sequence[tuple[int, str]],
    state_size: int,
    checkpoint_size: int,
    time: str,
) -> bytes:
    """The canonical (RFC 8785) ``status_list`` log entry of one authority."""
    entry: dict[str, object] = {
        "event": EVENT,
        "authority": authority,
        "size": size,
        "state_size": state_size,
        "checkpoint_size": checkpoint_size,
        "time": time,
    }
    for purpose in PURPOSES:
        entry[purpose] = _encode(bitstring(size, statuses, purpose))
    return canonical(entry)


@dataclass(frozen=True)
class StatusSnapshot:
    """One authority's status lists as committed to the log."""

    authority: str
    size: int
    state_size: int
    checkpoint_size: int
    time: str
    lists: Mapping[str, bytes]

    def status(self, index: int) -> str:
        """``revoked`` (revocation bit: revoked, expired or superseded), ``suspended``,
        ``valid``, or ``unknown`` for an index beyond the list."""
        if not 0 <= index < self.size:
            return "unknown"
        if bit(self.lists["revocation"], index):
            return "revoked"
        if bit(self.lists["suspension"], index):
            return "suspended"
        return "valid"


def parse_entry(data: bytes) -> StatusSnapshot:
    """Read a ``status_list`` entry; StatusListError if it is not one or does not hold.

    Memoised by the entry's exact bytes (every licence of an authority is checked against the
    same list, and decoding it cost more than the rest of the proof): other bytes, however
    close, are another key and are read afresh."""
    return _parse_entry(bytes(data))


@functools.lru_cache(maxsize=64)
def _parse_entry(data: bytes) -> StatusSnapshot:
    try:
        obj = strict_json.loads(data)
    except ValueError as exc:
        raise StatusListError(f"status list entry is not JSON: {exc}") from exc
    if not isinstance(obj, dict) or obj.get("event") != EVENT:
        raise StatusListError("the entry is not a status list")
    try:
        size = int(obj["size"])
        state_size = int(obj["state_size"])
        checkpoint_size = int(obj["checkpoint_size"])
        authority, time = str(obj["authority"]), str(obj["time"])
    except (KeyError, TypeError, ValueError) as exc:
        raise StatusListError(f"status list entry lacks {exc} (an older format?)") from exc
    if not 0 <= size <= MAX_BITS or not 0 <= state_size <= checkpoint_size:
        raise StatusListError("status list entry has impossible sizes")
    lists = {p: _decode(obj.get(p), size) for p in PURPOSES}
    return StatusSnapshot(authority, size, state_size, checkpoint_size, time, lists)


@dataclass(frozen=True)
class ProvenStatus:
    """What a licence's issue receipt and a status list receipt prove together."""

    licence_id: str
    authority: str
    status_index: int
    status: str  # revoked | suspended | valid
    checkpoint_size: int  # "as of checkpoint N"
    list_index: int  # where the status list entry is in the log
    issue_index: int  # where the licence's issue entry is in the log


def _proven(
    receipt: Receipt,
    verifiers: Sequence[Verifier],
    open_note: Callable[[bytes], Checkpoint] | None = None,
    included: MutableSet[Receipt] | None = None,
) -> Checkpoint:
    """The receipt's entry, with its data, is in its checkpoint, signed by a trusted log key
    (opened with ``open_note`` when the caller keeps opened checkpoints). ``included`` holds
    receipts whose inclusion proof already held against their own checkpoint's tree (keyed by
    the whole receipt, its note bytes included): their proof is not walked again."""
    if receipt.data is None:
        raise StatusListError(f"entry {receipt.index}: the receipt carries no entry data")
    try:
        if open_note is None:
            return verify_receipt(receipt, verifiers)
        try:
            cp = open_note(receipt.checkpoint)
        except NoteError as exc:
            raise ReceiptError(f"receipt checkpoint rejected: {exc}") from exc
        if included is None or receipt not in included:
            prove_in(receipt, cp)
            if included is not None:
                included.add(receipt)
        return cp
    except ReceiptError as exc:
        raise StatusListError(str(exc)) from exc


@dataclass(frozen=True)
class IssueBinding:
    """What a licence's issue entry in the log binds: its id, document digest, authority and,
    for entries that carry one, its index in the authority's status list."""

    licence_id: str
    document_digest: str
    authority: str
    status_index: int | None


def issue_binding(data: bytes) -> IssueBinding:
    """The binding of an issue entry; StatusListError if the entry is not one.

    Read with the one strict JSON reader, and memoised by the entry's exact bytes: one
    verification reads its licence's entry for the ledger check and twice for the status
    check, and decoding it was a sixth of the whole verdict's time. Other bytes, however close,
    are another key and are read afresh; the answer is immutable."""
    return _issue_binding(bytes(data))


@functools.lru_cache(maxsize=16)
def _issue_binding(data: bytes) -> IssueBinding:
    try:
        obj = strict_json.loads(data)
    except ValueError as exc:
        raise StatusListError(f"issue entry is not JSON: {exc}") from exc
    if not isinstance(obj, dict) or obj.get("event") != "licence.issue":
        raise StatusListError("the licence's receipt is not for an issue entry")
    lid, digest, authority = obj.get("licence_id"), obj.get("document_digest"), obj.get("authority")
    if not (isinstance(lid, str) and isinstance(digest, str) and isinstance(authority, str)):
        raise StatusListError("the issue entry lacks its licence id, digest or authority")
    index = obj.get("status_index")
    return IssueBinding(
        lid,
        digest,
        authority,
        index if isinstance(index, int) and not isinstance(index, bool) else None,
    )


def prove_status(
    licence_id: str,
    document_digest: str,
    issue: Receipt,
    status_list: Receipt,
    log_keys: Sequence[str | Verifier],
    status_index: int | None = None,
    open_note: Callable[[bytes], Checkpoint] | None = None,
    included: MutableSet[Receipt] | None = None,
) -> ProvenStatus:
    """The licence's status as of the checkpoint its authority's status list was committed
    with, from two receipts and the trusted log keys alone. ``status_index`` is used only when
    the issue entry predates status indices in issue entries (the platform says it then).
    ``open_note(note)`` opens a checkpoint with the trusted keys (a verifier's memo of opened
    notes, keyed by their exact bytes); by default each receipt's note is opened afresh.
    ``included``: a verifier's memo of receipts already proven in their checkpoint's tree.
    Raises StatusListError when the proofs do not hold or do not fit together."""
    verifiers = [k if isinstance(k, Verifier) else Verifier.from_vkey(k) for k in log_keys]
    _proven(issue, verifiers, open_note, included)
    cp = _proven(status_list, verifiers, open_note, included)
    assert issue.data is not None and status_list.data is not None  # checked by _proven
    binding = issue_binding(issue.data)
    authority, bound = binding.authority, binding.status_index
    if (binding.licence_id, binding.document_digest) != (licence_id, document_digest):
        raise StatusListError("the issue entry is for another document")
    snap = parse_entry(status_list.data)
    if snap.authority != authority:
        raise StatusListError(f"the status list is {snap.authority}'s, not {authority}'s")
    if not status_list.index < snap.checkpoint_size <= cp.size:
        raise StatusListError("the status list entry is not where its checkpoint size says")
    if status_list.index < snap.state_size:
        raise StatusListError("the status list entry lies inside the state it describes")
    if issue.index >= snap.state_size:
        raise SnapshotTooOldError(
            f"the licence was logged (index {issue.index}) after this status snapshot "
            f"(state size {snap.state_size}): use a later one"
        )
    index = bound if bound is not None else status_index
    if index is None:
        raise StatusIndexUnknownError("the licence's status index is not known")
    status = snap.status(index)
    if status == "unknown":
        raise StatusListError(f"status index {index} is beyond the list ({snap.size})")
    return ProvenStatus(
        licence_id, authority, index, status, snap.checkpoint_size, status_list.index, issue.index
    )
