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


# ---- SM2 private keys (national profile) ---------------------------------------------------
# ``cryptography`` refuses SM2 keys, so they are written here as the same kind of file as every
# other key: an RFC 5958 EncryptedPrivateKeyInfo PEM, PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC) under
# the key-store passphrase, wrapping an RFC 5915 ECPrivateKey whose curve is SM2 (id-ecPublicKey
# with namedCurve 1.2.156.10197.1.301, as OpenSSL 3 and Tongsuo write SM2 keys); so
# ``openssl pkey -in seal-X.key.pem`` reads it with the passphrase. Mode 0600, write-once.
SM2_CURVE_OID = "1.2.156.10197.1.301"
SM2_PBKDF2_ITERATIONS = 100_000  # more than cryptography's 2048 for other keys: loaded once


def register_sm2_curve() -> None:
    """Teach asn1crypto the SM2 curve's name and key size (idempotent)."""
    from asn1crypto import keys as asn1_keys

    asn1_keys.NamedCurve.register("sm2p256v1", SM2_CURVE_OID, 32)


def sm2_private_key_info(scalar: bytes, public_point: bytes) -> bytes:
    """Unencrypted PKCS#8 DER of an SM2 key (only ever handed to :func:`encrypt_pkcs8`)."""
    from asn1crypto import keys as asn1_keys

    register_sm2_curve()
    if len(scalar) != 32 or len(public_point) != 65 or public_point[0] != 4:
        raise KeyStoreError("an SM2 key is a 32-byte scalar and a 65-byte uncompressed point")
    curve = asn1_keys.ECDomainParameters(name="named", value=SM2_CURVE_OID)
    ec_key = asn1_keys.ECPrivateKey(
        {
            "version": "ecPrivkeyVer1",
            "private_key": int.from_bytes(scalar, "big"),
            "parameters": curve,
            "public_key": public_point,
        }
    )
    info = asn1_keys.PrivateKeyInfo(
        {
            "version": 0,
            "private_key_algorithm": {"algorithm": "ec", "parameters": curve},
            "private_key": ec_key,
        }
    )
    return bytes(info.dump())


def encrypt_pkcs8(der: bytes, passphrase: bytes) -> bytes:
    """PEM ``ENCRYPTED PRIVATE KEY``: PBES2 with PBKDF2-HMAC-SHA256 and AES-256-CBC (RFC 8018)."""
    from asn1crypto import algos as asn1_algos
    from asn1crypto import keys as asn1_keys
    from asn1crypto import pem
    from cryptography.hazmat.primitives import padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    from cryptography.hazmat.primitives.hashes import SHA256
    from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

    salt, iv = secrets.token_bytes(16), secrets.token_bytes(16)
    kek = PBKDF2HMAC(SHA256(), 32, salt, SM2_PBKDF2_ITERATIONS).derive(passphrase)
    padder = padding.PKCS7(128).padder()
    plain = padder.update(der) + padder.finalize()
    encryptor = Cipher(algorithms.AES(kek), modes.CBC(iv)).encryptor()
    sealed = encryptor.update(plain) + encryptor.finalize()
    info = asn1_keys.EncryptedPrivateKeyInfo(
        {
            "encryption_algorithm": {
                "algorithm": "pbes2",
                "parameters": {
                    "key_derivation_func": {
                        "algorithm": "pbkdf2",
                        "parameters": {
                            "salt": asn1_algos.Pbkdf2Salt({"specified": salt}),
                            "iteration_count": SM2_PBKDF2_ITERATIONS,
                            "prf": {"algorithm": "sha256"},
                        },
                    },
                    "encryption_scheme": {"algorithm": "aes256_cbc", "parameters": iv},
                },
            },
            "encrypted_data": sealed,
        }
    )
    return bytes(pem.armor("ENCRYPTED PRIVATE KEY", info.dump()))


def decrypt_pkcs8(data: bytes, passphrase: bytes) -> bytes:
    """The PKCS#8 DER inside an :func:`encrypt_pkcs8` PEM; KeyStoreError if it cannot be read."""
    from asn1crypto import keys as asn1_keys
    from asn1crypto import pem
    from cryptography.hazmat.primitives import padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    from cryptography.hazmat.primitives.hashes import SHA256
    from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

    try:
        kind, _headers, der = pem.unarmor(data)
        if kind != "ENCRYPTED PRIVATE KEY":
            raise ValueError(f"a {kind} PEM, not an encrypted private key")
        info = asn1_keys.EncryptedPrivateKeyInfo.load(der)
        alg = info["encryption_algorithm"]
        params = alg["parameters"]
        kdf, scheme = params["key_derivation_func"], params["encryption_scheme"]
        ok = (
            alg["algorithm"].native == "pbes2"
            and kdf["algorithm"].native == "pbkdf2"
            and kdf["parameters"]["prf"]["algorithm"].native == "sha256"
            and scheme["algorithm"].native == "aes256_cbc"
        )
        if not ok:
            raise ValueError("not PBES2 with PBKDF2-HMAC-SHA256 and AES-256-CBC")
        kdf_params = kdf["parameters"]
        kek = PBKDF2HMAC(
            SHA256(), 32, kdf_params["salt"].native, kdf_params["iteration_count"].native
        ).derive(passphrase)
        decryptor = Cipher(algorithms.AES(kek), modes.CBC(scheme["parameters"].native)).decryptor()
        plain = decryptor.update(info["encrypted_data"].native) + decryptor.finalize()
        unpadder = padding.PKCS7(128).unpadder()
        return bytes(unpadder.update(plain) + unpadder.finalize())
    except (ValueError, TypeError, KeyError) as exc:
        raise KeyStoreError(f"encrypted key cannot be read: wrong passphrase? ({exc})") from None


def sm2_scalar_from_pkcs8(der: bytes) -> bytes:
    """The 32-byte private scalar of an SM2 PKCS#8 DER (the curve must be SM2)."""
    from asn1crypto import keys as asn1_keys

    register_sm2_curve()
    try:
        info = asn1_keys.PrivateKeyInfo.load(der)
        alg = info["private_key_algorithm"]
        curve = alg["parameters"].chosen.dotted if alg["algorithm"].native == "ec" else None
        if curve != SM2_CURVE_OID:
            raise ValueError("not an SM2 key")
        scalar = int(info["private_key"].parsed["private_key"].native)
    except (ValueError, TypeError, KeyError) as exc:
        raise KeyStoreError(f"not an SM2 private key, or wrong passphrase ({exc})") from None
    return scalar.to_bytes(32, "big")


class Sm2KeyFiles:
    """SM2 private keys in the folder of an :class:`EncryptedFileKeyStore`, same passphrase,
    same ``<name>.key.pem`` naming (so ``exists`` and write-once cover both kinds)."""

    def __init__(self, store: EncryptedFileKeyStore) -> None:
        self.store = store

    def save(self, name: str, scalar: bytes, public_point: bytes) -> None:
        path = self.store._path(name)
        pem_bytes = encrypt_pkcs8(
            sm2_private_key_info(scalar, public_point), self.store._passphrase
        )
        self.store.folder.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise KeyStoreError(
                f"key {name!r} exists already; keys are never overwritten"
            ) from None
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem_bytes)

    def load(self, name: str) -> bytes:
        """The private scalar (32 bytes)."""
        path = self.store._path(name)
        if not path.exists():
            raise KeyStoreError(f"no key named {name!r} in the key store")
        try:
            der = decrypt_pkcs8(path.read_bytes(), self.store._passphrase)
        except KeyStoreError:
            raise KeyStoreError(f"key {name!r} cannot be decrypted: wrong passphrase?") from None
        return sm2_scalar_from_pkcs8(der)
