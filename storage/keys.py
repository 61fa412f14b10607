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
