"""Envelope encryption of credential keys, bound to the holder's PIN and the platform master key.

Per credential: a random data key (DEK) encrypts the PKCS#8 private key (AES-256-GCM); the DEK is
wrapped under a key-encryption key derived (HKDF-SHA-256) from the platform master key *and* the
PIN key. The PIN key comes from Argon2id over the PIN, peppered with the master key, so:

- whoever has the database and the key files (master key included) but not the PIN holds only
  ciphertext: the DEK cannot be unwrapped (sole control);
- whoever has the PIN but not the master key cannot even test a guess offline.

Argon2id parameters (``PinParams``): the verifier is keyed by the master key, so a stolen database
permits no guessing at all; with the master key too, a 6-digit PIN (10^6 values) falls to any
affordable Argon2 setting (even 100 ms each is under 14 hours on 2 cores), so the real defences
are the pepper, the 5-attempt lock and the TOTP second factor. The default (t=1, 2 MiB, p=1,
a few ms) keeps memory-hardness against GPU guessing while letting a 2-core server authorise
hundreds of signatures a second; deployments may raise it per credential (stored with it).

A SAD (signature activation data) carries the PIN key to ``signHash`` without the server keeping
it: the server stores the PIN key encrypted under a key derived from the SAD, and only the SAD's
holder can present it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass

from argon2.low_level import Type, hash_secret_raw
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

NONCE = 12


class EnvelopeError(Exception):
    """Ciphertext does not open with this key material (wrong PIN key, master key or SAD)."""


@dataclass(frozen=True)
class PinParams:
    """Argon2id cost: time (passes), memory (KiB), lanes."""

    time_cost: int = 1
    memory_kib: int = 2048
    parallelism: int = 1

    def encode(self) -> str:
        return f"argon2id$t={self.time_cost},m={self.memory_kib},p={self.parallelism}"

    @classmethod
    def decode(cls, text: str) -> PinParams:
        _, _, body = text.partition("$")
        parts = dict(item.split("=", 1) for item in body.split(","))
        return cls(int(parts["t"]), int(parts["m"]), int(parts["p"]))


@dataclass(frozen=True)
class PinSecrets:
    """What a PIN yields: a verifier (stored) and a PIN key (never stored in clear)."""

    verifier: bytes
    pin_key: bytes


def _hkdf(ikm: bytes, info: bytes, length: int = 32) -> bytes:
    return HKDF(hashes.SHA256(), length, salt=None, info=info).derive(ikm)


def derive_pin(
    master_key: bytes, credential_id: str, pin: str, salt: bytes, params: PinParams
) -> PinSecrets:
    """Argon2id over the master-key-peppered PIN; split into verifier and PIN key."""
    peppered = hmac.new(master_key, f"pin|{credential_id}|{pin}".encode(), "sha256").digest()
    raw = hash_secret_raw(
        peppered,
        salt,
        time_cost=params.time_cost,
        memory_cost=params.memory_kib,
        parallelism=params.parallelism,
        hash_len=32,
        type=Type.ID,
    )
    return PinSecrets(
        verifier=hmac.new(raw, b"verify", "sha256").digest(),
        pin_key=hmac.new(raw, b"unlock", "sha256").digest(),
    )


def pin_matches(stored_verifier: bytes, candidate: PinSecrets) -> bool:
    return hmac.compare_digest(stored_verifier, candidate.verifier)


def seal(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """AES-256-GCM: nonce ‖ ciphertext ‖ tag."""
    nonce = os.urandom(NONCE)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def open_sealed(key: bytes, blob: bytes, aad: bytes, what: str) -> bytes:
    try:
        return AESGCM(key).decrypt(blob[:NONCE], blob[NONCE:], aad)
    except (InvalidTag, ValueError):
        raise EnvelopeError(f"{what} does not open with this key material") from None


def kek(master_key: bytes, pin_key: bytes, credential_id: str) -> bytes:
    """Key-encryption key of one credential: needs both the master key and the PIN key."""
    return _hkdf(master_key + pin_key, f"cloudsign kek|{credential_id}".encode())


def seal_private_key(
    key: ec.EllipticCurvePrivateKey, master_key: bytes, pin_key: bytes, credential_id: str
) -> bytes:
    """The stored envelope: len(wrapped DEK) ‖ wrapped DEK ‖ encrypted PKCS#8 key."""
    dek = AESGCM.generate_key(256)
    der = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    aad = credential_id.encode()
    wrapped = seal(kek(master_key, pin_key, credential_id), dek, aad + b"|dek")
    body = seal(dek, der, aad + b"|key")
    return len(wrapped).to_bytes(2, "big") + wrapped + body


def open_private_key(
    envelope: bytes, master_key: bytes, pin_key: bytes, credential_id: str
) -> ec.EllipticCurvePrivateKey:
    """Unwrap the DEK with (master key, PIN key), then decrypt the private key."""
    n = int.from_bytes(envelope[:2], "big")
    wrapped, body = envelope[2 : 2 + n], envelope[2 + n :]
    aad = credential_id.encode()
    dek = open_sealed(kek(master_key, pin_key, credential_id), wrapped, aad + b"|dek", "data key")
    der = open_sealed(dek, body, aad + b"|key", "private key")
    key = serialization.load_der_private_key(der, None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise EnvelopeError(f"credential {credential_id} does not hold an EC key")
    return key


def seal_key_der(der: bytes, master_key: bytes, pin_key: bytes, credential_id: str) -> bytes:
    """The envelope of :func:`seal_private_key` over a PKCS#8 DER given as bytes: SM2 keys,
    which ``cryptography`` cannot hold, are sealed this way (same format, same keys)."""
    dek = AESGCM.generate_key(256)
    aad = credential_id.encode()
    wrapped = seal(kek(master_key, pin_key, credential_id), dek, aad + b"|dek")
    body = seal(dek, der, aad + b"|key")
    return len(wrapped).to_bytes(2, "big") + wrapped + body


def open_key_der(envelope: bytes, master_key: bytes, pin_key: bytes, credential_id: str) -> bytes:
    """The PKCS#8 DER inside an envelope (any key type); the caller parses it."""
    n = int.from_bytes(envelope[:2], "big")
    wrapped, body = envelope[2 : 2 + n], envelope[2 + n :]
    aad = credential_id.encode()
    dek = open_sealed(kek(master_key, pin_key, credential_id), wrapped, aad + b"|dek", "data key")
    return open_sealed(dek, body, aad + b"|key", "private key")


def sad_hash(sad: str) -> str:
    """Database key of a SAD: its SHA-256 (the SAD itself is never stored)."""
    return hashlib.sha256(sad.encode()).hexdigest()


def sad_key(sad: str) -> bytes:
    return _hkdf(sad.encode(), b"cloudsign sad")


def hmac_sha256(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, "sha256").digest()
