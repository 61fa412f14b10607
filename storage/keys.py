"""Encrypted key files: private keys at rest under the key folder, never in clear.

The embedded default keeps each private key as a PKCS#8 PEM encrypted with a passphrase
(``HUB_KEY_PASSPHRASE``). When no passphrase is configured, ``hub init`` creates a random
master secret file readable only by its owner (mode 0600) and that secret is the passphrase:
acceptable for one machine, while production keeps keys in a PKCS#11 HSM.
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path
from typing import Protocol

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
MASTER_SECRET_FILE = "master.secret"


class KeyStoreError(Exception):
    """A key could not be stored or loaded (missing, exists already, wrong passphrase)."""


class KeyStore(Protocol):
    """Where private keys live; implementations never write a key unencrypted."""

    def save(self, name: str, key: PrivateKeyTypes) -> None: ...

    def load(self, name: str) -> PrivateKeyTypes: ...

    def exists(self, name: str) -> bool: ...


def _passphrase(folder: Path, configured: str) -> bytes:
    if configured:
        return configured.encode()
    secret = folder / MASTER_SECRET_FILE
    if not secret.exists():
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(32))
    return secret.read_text().strip().encode()


class EncryptedFileKeyStore:
    """Private keys as passphrase-encrypted PKCS#8 PEM files (mode 0600), write-once."""

    def __init__(self, folder: Path, passphrase: str = "") -> None:
        self.folder = folder
        self._passphrase = _passphrase(folder, passphrase)

    def _path(self, name: str) -> Path:
        if not _NAME.match(name):
            raise KeyStoreError(f"invalid key name {name!r}: use letters, digits, . _ -")
        return self.folder / f"{name}.key.pem"

    def exists(self, name: str) -> bool:
        return self._path(name).exists()

    def save(self, name: str, key: PrivateKeyTypes) -> None:
        path = self._path(name)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(self._passphrase),
        )
        self.folder.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise KeyStoreError(
                f"key {name!r} exists already; keys are never overwritten"
            ) from None
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)

    def load(self, name: str) -> PrivateKeyTypes:
        path = self._path(name)
        if not path.exists():
            raise KeyStoreError(f"no key named {name!r} in the key store")
        try:
            return serialization.load_pem_private_key(path.read_bytes(), self._passphrase)
        except ValueError as exc:
            raise KeyStoreError(f"key {name!r} cannot be decrypted: wrong passphrase?") from exc

    def secret(self, name: str) -> bytes:
        """A 32-byte symmetric secret (random, created once), AES-GCM-encrypted under a scrypt
        key from the passphrase, mode 0600, write-once: e.g. an envelope-encryption master key."""
        return _open_or_create_secret(self, name)


class SecretStore(Protocol):
    """Where symmetric master keys live (envelope encryption); never written in clear."""

    def secret(self, name: str) -> bytes: ...


_SECRET_MAGIC = b"hub-secret-v1\n"


def _secret_kek(passphrase: bytes, salt: bytes) -> bytes:
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    return Scrypt(salt=salt, length=32, n=2**15, r=8, p=1).derive(passphrase)


def _secret_path(store: EncryptedFileKeyStore, name: str) -> Path:
    if not _NAME.match(name):
        raise KeyStoreError(f"invalid secret name {name!r}: use letters, digits, . _ -")
    return store.folder / f"{name}.secret.bin"


def _open_or_create_secret(store: EncryptedFileKeyStore, name: str) -> bytes:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    path = _secret_path(store, name)
    aad = _SECRET_MAGIC + name.encode()
    if not path.exists():
        value, salt, nonce = (
            secrets.token_bytes(32),
            secrets.token_bytes(16),
            secrets.token_bytes(12),
        )
        sealed = AESGCM(_secret_kek(store._passphrase, salt)).encrypt(nonce, value, aad)
        store.folder.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return _open_or_create_secret(store, name)  # another process created it first
        with os.fdopen(fd, "wb") as handle:
            handle.write(_SECRET_MAGIC + salt + nonce + sealed)
        return value
    blob = path.read_bytes()
    if not blob.startswith(_SECRET_MAGIC):
        raise KeyStoreError(f"secret {name!r} is not a hub secret file")
    body = blob[len(_SECRET_MAGIC) :]
    salt, nonce, sealed = body[:16], body[16:28], body[28:]
    try:
        return AESGCM(_secret_kek(store._passphrase, salt)).decrypt(nonce, sealed, aad)
    except InvalidTag:
        raise KeyStoreError(f"secret {name!r} cannot be decrypted: wrong passphrase?") from None
