"""C2SP signed notes (Ed25519) and tlog-checkpoint bodies: sign, parse, verify.

A checkpoint body is ``origin\\nsize\\nbase64(root)\\n`` plus optional extension lines; the
signed note appends a blank line and one ``— name base64(keyid || signature)`` line per
signature. Key id = SHA-256(name || 0x0A || 0x01 || public key)[:4]; a verifier key string is
``name+hexid+base64(0x01 || public key)``. Parsing rejects every malformed note.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ALG_ED25519 = 0x01
SIG_PREFIX = "\u2014 "  # em dash and space
MAX_SIGNATURES = 100
_NAME = re.compile(r"^[^\s+]+$")
_SIZE = re.compile(r"^(0|[1-9][0-9]{0,19})$")


class NoteError(ValueError):
    """A note or checkpoint is malformed, or no trusted signature verifies it."""


def _b64decode(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise NoteError(f"{what} is not valid base64") from exc


def key_id(name: str, public_key: bytes, alg: int = ALG_ED25519) -> bytes:
    """The 4-byte key id of a signed-note key."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([alg]) + public_key).digest()[:4]


def parse_vkey(vkey: str, alg: int, what: str) -> tuple[str, bytes]:
    """(name, raw 32-byte Ed25519 public key) of a signed-note verifier key
    ``name+hexid+base64(alg||key)`` of algorithm ``alg``, whose id must match name and key."""
    parts = vkey.strip().split("+", 2)
    if len(parts) != 3:
        raise NoteError(f"{what} must be name+hexid+base64key")
    name, hexid, b64 = parts
    check_name(name)
    raw = _b64decode(b64, what)
    if len(raw) != 33 or raw[0] != alg:
        raise NoteError(f"{what} is not an Ed25519 (type 0x{alg:02x}) key")
    if not re.fullmatch(r"[0-9a-f]{8}", hexid) or bytes.fromhex(hexid) != key_id(
        name, raw[1:], alg
    ):
        raise NoteError(f"{what} id {hexid!r} does not match name and key")
    return name, raw[1:]


def check_name(name: str) -> None:
    if not name or not _NAME.match(name):
        raise NoteError(f"invalid key name {name!r}: non-empty, no spaces and no '+'")


def raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


class Signer:
    """Signs note bodies with an Ed25519 key under a key name."""

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        check_name(name)
        self.name = name
        self._key = private_key
        self.public_key = raw_public(private_key.public_key())
        self.key_id = key_id(name, self.public_key)

    def sign(self, body: bytes) -> bytes:
        return self._key.sign(body)

    def verifier(self) -> Verifier:
        return Verifier(self.name, self.public_key)

    def vkey(self) -> str:
        return self.verifier().vkey()


@dataclass(frozen=True)
class Verifier:
    """A trusted note key: its name and raw 32-byte Ed25519 public key."""

    name: str
    public_key: bytes
    key_id: bytes = field(init=False)

    def __post_init__(self) -> None:
        check_name(self.name)
        if len(self.public_key) != 32:
            raise NoteError(f"Ed25519 public key must be 32 bytes, got {len(self.public_key)}")
        object.__setattr__(self, "key_id", key_id(self.name, self.public_key))

    @classmethod
    def from_vkey(cls, vkey: str) -> Verifier:
        """Parse ``name+hexid+base64(0x01||key)``; the id must match the key."""
        name, key = parse_vkey(vkey, ALG_ED25519, "verifier key")
        return cls(name, key)

    def vkey(self) -> str:
        raw = bytes([ALG_ED25519]) + self.public_key
        return f"{self.name}+{self.key_id.hex()}+{base64.b64encode(raw).decode()}"

    def verify(self, body: bytes, signature: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, body)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True)
class NoteSignature:
    name: str
    key_id: bytes
    signature: bytes


def _check_text(body: str) -> None:
    for ch in body:
        if ch != "\n" and (ord(ch) < 0x20 or ord(ch) == 0x7F):
            raise NoteError("note text contains a control character")


def sign_note(body: bytes, signers: Sequence[Signer]) -> bytes:
    """The signed note: body, blank line, one signature line per signer."""
    if not body.endswith(b"\n"):
        raise NoteError("note text must end with a newline")
    _check_text(body.decode("utf-8"))
    lines = []
    for s in signers:
        sig = base64.b64encode(s.key_id + s.sign(body)).decode()
        lines.append(f"{SIG_PREFIX}{s.name} {sig}\n")
    return body + b"\n" + "".join(lines).encode()


def parse_note(note: bytes) -> tuple[bytes, list[NoteSignature]]:
    """Split a signed note into body and signatures, rejecting malformed input."""
    try:
        text = note.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NoteError("note is not valid UTF-8") from exc
    _check_text(text)
    cut = text.rfind("\n\n")
    if cut < 0:
        raise NoteError("note has no blank line before its signatures")
    body, sigs = text[: cut + 1], text[cut + 2 :]
    if not sigs.endswith("\n"):
        raise NoteError("signature block must end with a newline")
    out: list[NoteSignature] = []
    for line in sigs[:-1].split("\n"):
        if not line.startswith(SIG_PREFIX):
            raise NoteError("signature line must start with an em dash and a space")
        parts = line[len(SIG_PREFIX) :].split(" ")
        if len(parts) != 2:
            raise NoteError("signature line must be '— name signature'")
        name, b64 = parts
        check_name(name)
        raw = _b64decode(b64, "signature")
        if len(raw) < 5:
            raise NoteError("signature is too short")
        out.append(NoteSignature(name, raw[:4], raw[4:]))
    if not out:
        raise NoteError("note has no signatures")
    if len(out) > MAX_SIGNATURES:
        raise NoteError(f"note has more than {MAX_SIGNATURES} signatures")
    return body.encode(), out


def open_note(note: bytes, verifiers: Iterable[Verifier]) -> bytes:
    """The note body if at least one trusted key signed it; a bad known signature rejects."""
    body, sigs = parse_note(note)
    known = {(v.name, v.key_id): v for v in verifiers}
    verified = 0
    for sig in sigs:
        verifier = known.get((sig.name, sig.key_id))
        if verifier is None:
            continue  # signatures by unknown keys are ignored, per signed-note
        if not verifier.verify(body, sig.signature):
            raise NoteError(f"signature by {sig.name} does not verify")
        verified += 1
    if not verified:
        raise NoteError("note is not signed by any trusted key")
    return body


def restrict_note(note: bytes, verifiers: Iterable[Verifier]) -> bytes:
    """The note with only the signature lines of ``verifiers``' keys (in their order): what
    the signer itself wrote, before witnesses or others added their cosignatures. Comparing
    this (or the body) instead of the whole note lets extra signatures be ignored, as the
    signed-note specification says. The signatures are not verified here."""
    body, sigs = parse_note(note)
    known = {(v.name, v.key_id) for v in verifiers}
    lines = [
        f"{SIG_PREFIX}{s.name} {base64.b64encode(s.key_id + s.signature).decode()}\n"
        for s in sigs
        if (s.name, s.key_id) in known
    ]
    return body + b"\n" + "".join(lines).encode()


@dataclass(frozen=True)
class Checkpoint:
    """A C2SP tlog-checkpoint: origin, tree size, root hash and optional extension lines."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def to_note_body(self) -> bytes:
        if not self.origin or "\n" in self.origin:
            raise NoteError("checkpoint origin must be one non-empty line")
        ext = "".join(f"{line}\n" for line in self.extensions)
        root = base64.b64encode(self.root).decode()
        return f"{self.origin}\n{self.size}\n{root}\n{ext}".encode()

    @classmethod
    def from_note_body(cls, body: bytes) -> Checkpoint:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise NoteError("checkpoint is not valid UTF-8") from exc
        if not text.endswith("\n"):
            raise NoteError("checkpoint must end with a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise NoteError("checkpoint needs origin, size and root lines")
        origin, size, root, *ext = lines
        if not origin:
            raise NoteError("checkpoint origin is empty")
        if not _SIZE.match(size) or int(size) >= 1 << 64:
            raise NoteError(f"checkpoint size {size!r} is not a decimal 64-bit number")
        raw = _b64decode(root, "checkpoint root")
        if len(raw) != 32:
            raise NoteError(f"checkpoint root is {len(raw)} bytes, expected 32")
        if any(not line for line in ext):
            raise NoteError("checkpoint extension lines must not be empty")
        return cls(origin, int(size), raw, tuple(ext))


def sign_checkpoint(checkpoint: Checkpoint, signers: Signer | Sequence[Signer]) -> bytes:
    """The checkpoint as a signed note."""
    group = [signers] if isinstance(signers, Signer) else list(signers)
    return sign_note(checkpoint.to_note_body(), group)


def open_checkpoint(
    note: bytes, verifiers: Iterable[Verifier], origin: str | None = None
) -> Checkpoint:
    """Verify and parse a signed checkpoint; optionally require its origin."""
    cp = Checkpoint.from_note_body(open_note(note, verifiers))
    if origin is not None and cp.origin != origin:
        raise NoteError(f"checkpoint origin {cp.origin!r} is not the expected {origin!r}")
    return cp
