"""C2SP tlog-cosignature, Ed25519 ``cosignature/v1``: what a witness signs and how it is read.

A cosignature is a signed-note signature line on a checkpoint, by a witness key (algorithm byte
0x04), whose signature bytes are ``u64 timestamp (big-endian) || Ed25519 signature`` over::

    cosignature/v1
    time <timestamp>
    <the checkpoint's note body, final newline included>

Key id = SHA-256(name || 0x0A || 0x04 || public key)[:4]; a verifier key string is
``name+hexid+base64(0x04 || public key)``. The statement a v1 cosignature makes: as of its time,
the largest consistent tree head the witness has seen for the checkpoint's origin has this root.
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ledger.note import (
    SIG_PREFIX,
    NoteError,
    check_name,
    key_id,
    parse_note,
    parse_vkey,
    raw_public,
)

ALG_COSIGNATURE_V1 = 0x04
HEADER = b"cosignature/v1\n"
MAX_TIMESTAMP = 2**63 - 1


def signed_message(body: bytes, timestamp: int) -> bytes:
    """The bytes a ``cosignature/v1`` signs for a checkpoint note body at ``timestamp``."""
    if not 0 <= timestamp <= MAX_TIMESTAMP:
        raise NoteError(f"cosignature time {timestamp} is outside 0..2^63-1")
    if not body.endswith(b"\n"):
        raise NoteError("checkpoint body must end with a newline")
    return HEADER + b"time %d\n" % timestamp + body


class Cosigner:
    """A witness key: cosigns checkpoint bodies under its name."""

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        check_name(name)
        self.name = name
        self._key = private_key
        self.public_key = raw_public(private_key.public_key())
        self.key_id = key_id(name, self.public_key, ALG_COSIGNATURE_V1)

    def cosign(self, body: bytes, timestamp: int) -> str:
        """One signature line (``— name base64(keyid || u64 time || sig)``, newline-ended)."""
        signature = self._key.sign(signed_message(body, timestamp))
        raw = self.key_id + struct.pack(">Q", timestamp) + signature
        return f"{SIG_PREFIX}{self.name} {base64.b64encode(raw).decode()}\n"

    def verifier(self) -> CosignatureVerifier:
        return CosignatureVerifier(self.name, self.public_key)


@dataclass(frozen=True)
class Cosignature:
    """A cosignature that verified: who made it and when (POSIX seconds)."""

    name: str
    timestamp: int


@dataclass(frozen=True)
class CosignatureVerifier:
    """A known witness: its name and raw 32-byte Ed25519 public key."""

    name: str
    public_key: bytes
    key_id: bytes = field(init=False)

    def __post_init__(self) -> None:
        check_name(self.name)
        if len(self.public_key) != 32:
            raise NoteError(f"Ed25519 public key must be 32 bytes, got {len(self.public_key)}")
        object.__setattr__(self, "key_id", key_id(self.name, self.public_key, ALG_COSIGNATURE_V1))

    @classmethod
    def from_vkey(cls, vkey: str) -> CosignatureVerifier:
        """Parse ``name+hexid+base64(0x04||key)``; the id must match the key."""
        name, key = parse_vkey(vkey, ALG_COSIGNATURE_V1, "witness key")
        return cls(name, key)

    def vkey(self) -> str:
        raw = bytes([ALG_COSIGNATURE_V1]) + self.public_key
        return f"{self.name}+{self.key_id.hex()}+{base64.b64encode(raw).decode()}"

    def check(self, body: bytes, signature: bytes) -> int:
        """The timestamp of a valid cosignature (the bytes after the key id) of ``body``;
        NoteError when it does not verify."""
        if len(signature) != 8 + 64:
            raise NoteError(f"cosignature by {self.name} is {len(signature)} bytes, not 72")
        (timestamp,) = struct.unpack(">Q", signature[:8])
        if timestamp > MAX_TIMESTAMP:
            raise NoteError(f"cosignature by {self.name} has a time beyond 2^63-1")
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(
                signature[8:], signed_message(body, timestamp)
            )
        except InvalidSignature:
            raise NoteError(f"cosignature by {self.name} does not verify") from None
        return int(timestamp)


def cosignatures(note: bytes, witnesses: Iterable[CosignatureVerifier]) -> list[Cosignature]:
    """The valid cosignatures of known ``witnesses`` on a signed checkpoint note, one per
    witness at most (its latest). Lines by unknown keys are ignored, as the signed-note format
    says; a known witness's line that does not verify is an error (it was altered)."""
    body, sigs = parse_note(note)
    known = {(w.name, w.key_id): w for w in witnesses}
    found: dict[str, int] = {}
    for sig in sigs:
        witness = known.get((sig.name, sig.key_id))
        if witness is None:
            continue
        timestamp = witness.check(body, sig.signature)
        found[witness.name] = max(timestamp, found.get(witness.name, -1))
    return [Cosignature(name, t) for name, t in sorted(found.items())]


def require_cosigners(
    note: bytes, witnesses: Sequence[CosignatureVerifier], quorum: int
) -> list[Cosignature]:
    """The cosignatures of a note when at least ``quorum`` of ``witnesses`` cosigned it;
    NoteError naming how many did otherwise."""
    got = cosignatures(note, witnesses)
    if len(got) < quorum:
        names = ", ".join(c.name for c in got) or "none"
        raise NoteError(
            f"cosigned by {len(got)} of {len(witnesses)} known witnesses ({names}); "
            f"the policy requires {quorum}"
        )
    return got


def add_cosignatures(note: bytes, lines: str) -> bytes:
    """The note with witness signature lines (a witness's answer) appended, each once."""
    parse_note(note)  # the note itself must be well formed
    have = note.decode("utf-8").split("\n")
    extra = [line for line in lines.split("\n") if line and line not in have]
    for line in extra:
        if not line.startswith(SIG_PREFIX):
            raise NoteError("a witness answer line must start with an em dash and a space")
    out = note + "".join(f"{line}\n" for line in extra).encode()
    parse_note(out)  # the lines must parse as signature lines
    return out
