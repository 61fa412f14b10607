"""Encrypted key files: private keys at rest under the key folder, never in clear.

The embedded default keeps each private key as a PKCS#8 PEM encrypted with one passphrase (and
symmetric master secrets AES-GCM-sealed under a scrypt key from it). Where that passphrase comes
from decides what protects the keys:

====================================  ======================================================
source (first that is set)            what a copy of ``HUB_HOME`` (a backup, a stolen disk) gets
====================================  ======================================================
``HUB_KEY_PASSPHRASE``                the key files only: the passphrase lives in the service's
(environment, e.g. a systemd          environment (a credential store, a secrets manager), not
credential or a secrets manager)      on the data disk
``HUB_KEY_PASSPHRASE_FILE``           the key files only, if the file is outside ``HUB_HOME``
(a file outside ``HUB_HOME``, mode    (refused inside it) on another volume with its own access
0600, e.g. ``/etc/hub/``)             control
``HUB_KEY_PASSPHRASE_FROM=pkcs11``    the key files only: the passphrase is a private data
(the PKCS#11 token)                   object in the token, readable only after login with the
                                      token's user PIN (``HUB_PKCS11_PIN``)
none (demo default)                   **everything**: ``keys/master.secret`` (random, mode
                                      0600) sits beside the keys it unlocks; it protects only
                                      against other local users, not against a copy of the
                                      folder
====================================  ======================================================

Threat model. The passphrase protects the keys against whoever obtains the *files*: a backup
of ``HUB_HOME``, a copied or discarded disk, an object-store or file-share leak. It does not
protect against someone who controls the running service (root on the host, or the service's
own account): they can read its environment or memory; against that, keep the keys in an HSM
(PKCS#11: ``HUB_CLOUDSIGN_KEYS=pkcs11``) where they are non-extractable. The default file is
kept so a fresh checkout works with one command, and existing hubs keep working; move off it
with ``hub init --move-passphrase file:/etc/hub/key.passphrase`` (or ``pkcs11``, or ``env``),
which writes the passphrase to the new place, checks it unlocks the keys, then deletes
``keys/master.secret``.
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

if TYPE_CHECKING:
    from storage.pkcs11 import Pkcs11Token

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
MASTER_SECRET_FILE = "master.secret"


PASSPHRASE_LABEL = "hub-key-passphrase"  # the PKCS#11 data object holding the passphrase
MOVE_TARGETS = ("env", "pkcs11", "file:PATH")


class KeyStoreError(Exception):
    """A key could not be stored or loaded (missing, exists already, wrong passphrase)."""


def write_new(path: Path, data: bytes) -> None:
    """Write ``data`` to a new file only its owner can read (mode 0600, made so at creation,
    never widened). FileExistsError if the file exists: a key or secret is never overwritten,
    and of two processes creating it at once exactly one succeeds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _inside(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder.resolve())


class PassphraseConfig(Protocol):
    """Where the key-store passphrase comes from (the hub's settings have these fields)."""

    @property
    def home(self) -> Path: ...
    @property
    def keys_path(self) -> Path: ...
    @property
    def key_passphrase(self) -> str: ...
    @property
    def key_passphrase_file(self) -> Path | None: ...
    @property
    def key_passphrase_from(self) -> str: ...
    @property
    def pkcs11_module(self) -> str: ...
    @property
    def pkcs11_token(self) -> str: ...
    @property
    def pkcs11_pin(self) -> str: ...


def _outside_home(path: Path, settings: PassphraseConfig) -> None:
    for folder in (settings.home, settings.keys_path):
        if _inside(path, folder):
            raise KeyStoreError(
                f"the passphrase file {path} is inside {folder}: a copy of that folder would "
                "carry the keys' protection with them; keep it elsewhere (e.g. /etc/hub/)"
            )


def _token(settings: PassphraseConfig) -> Pkcs11Token:
    from storage.pkcs11 import Pkcs11Token

    return Pkcs11Token(settings.pkcs11_module, settings.pkcs11_token, settings.pkcs11_pin)


def resolve_passphrase(settings: PassphraseConfig) -> str:
    """The key-store passphrase from ``HUB_KEY_PASSPHRASE_FILE`` or the PKCS#11 token (see
    the table above); raises :class:`KeyStoreError` saying what is wrong."""
    if settings.key_passphrase_file:
        path = Path(settings.key_passphrase_file)
        _outside_home(path, settings)
        try:
            text = path.read_text().strip()
        except OSError as exc:
            raise KeyStoreError(
                f"HUB_KEY_PASSPHRASE_FILE {path} cannot be read: {exc.strerror}"
            ) from None
        if path.stat().st_mode & 0o077:
            raise KeyStoreError(
                f"HUB_KEY_PASSPHRASE_FILE {path} is readable by others: chmod 600 it"
            )
        if not text:
            raise KeyStoreError(f"HUB_KEY_PASSPHRASE_FILE {path} is empty")
        return text
    if settings.key_passphrase_from == "pkcs11":
        from storage.pkcs11 import Pkcs11Error

        try:
            token = _token(settings)
            try:
                value = token.get_data(PASSPHRASE_LABEL)
            finally:
                token.close()
        except Pkcs11Error as exc:
            raise KeyStoreError(
                f"the key passphrase cannot be read from the token: {exc}"
            ) from None
        if value is None:
            raise KeyStoreError(
                f"the PKCS#11 token holds no {PASSPHRASE_LABEL!r} object: "
                "run `hub init --move-passphrase pkcs11` first"
            )
        return str(value.decode())
    return str(settings.key_passphrase)


def move_passphrase(settings: PassphraseConfig, target: str) -> str:
    """Move the demo default ``keys/master.secret`` to ``target`` ("file:PATH", "pkcs11" or
    "env"): write it there, check it still unlocks the key store, delete the file. Returns
    what to set in the service's environment (for "env": the passphrase itself, shown once)."""
    secret = settings.keys_path / MASTER_SECRET_FILE
    if not secret.exists():
        raise KeyStoreError(
            f"no {MASTER_SECRET_FILE} under the key folder: the passphrase is already taken "
            "from HUB_KEY_PASSPHRASE, HUB_KEY_PASSPHRASE_FILE or the token"
        )
    value = secret.read_text().strip()
    store = EncryptedFileKeyStore(settings.keys_path, value)
    store.check()
    if target.startswith("file:"):
        path = Path(target[len("file:") :]).expanduser()
        _outside_home(path, settings)
        try:
            write_new(path, (value + "\n").encode())
        except FileExistsError:
            raise KeyStoreError(f"{path} exists already: choose a new file") from None
        advice = f"HUB_KEY_PASSPHRASE_FILE={path.resolve()}"
    elif target == "pkcs11":
        from storage.pkcs11 import Pkcs11Error

        try:
            token = _token(settings)
            try:
                token.put_data(PASSPHRASE_LABEL, value.encode())
            finally:
                token.close()
        except Pkcs11Error as exc:
            raise KeyStoreError(f"the passphrase cannot be stored in the token: {exc}") from None
        advice = "HUB_KEY_PASSPHRASE_FROM=pkcs11"
    elif target == "env":
        advice = f"HUB_KEY_PASSPHRASE={value}"
    else:
        raise KeyStoreError(
            f"unknown passphrase target {target!r}: use one of {', '.join(MOVE_TARGETS)}"
        )
    secret.unlink()
    return advice


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
        if any(folder.glob("*.key.pem")) or any(folder.glob("*.secret.bin")):
            # never invent a new passphrase beside keys sealed under another one
            raise KeyStoreError(
                f"the key folder {folder} holds keys but no passphrase is configured: set "
                "HUB_KEY_PASSPHRASE, HUB_KEY_PASSPHRASE_FILE or HUB_KEY_PASSPHRASE_FROM=pkcs11 "
                "as when they were made"
            )
        write_new(secret, secrets.token_urlsafe(32).encode())
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
        try:
            write_new(path, pem)
        except FileExistsError:
            raise KeyStoreError(
                f"key {name!r} exists already; keys are never overwritten"
            ) from None

    def load(self, name: str) -> PrivateKeyTypes:
        path = self._path(name)
        if not path.exists():
            raise KeyStoreError(f"no key named {name!r} in the key store")
        try:
            return serialization.load_pem_private_key(path.read_bytes(), self._passphrase)
        except ValueError as exc:
            raise KeyStoreError(f"key {name!r} cannot be decrypted: wrong passphrase?") from exc

    def check(self) -> None:
        """Raise :class:`KeyStoreError` unless the passphrase opens the keys already stored."""
        for path in sorted(self.folder.glob("*.secret.bin"))[:1]:
            self.secret(path.name.removesuffix(".secret.bin"))
        for path in sorted(self.folder.glob("*.key.pem"))[:1]:
            if b"BEGIN ENCRYPTED PRIVATE KEY" in path.read_bytes()[:64]:
                try:
                    serialization.load_pem_private_key(path.read_bytes(), self._passphrase)
                except ValueError:
                    raise KeyStoreError(
                        f"key {path.name} cannot be decrypted: wrong passphrase?"
                    ) from None
                except Exception:  # an SM2 key: cryptography cannot parse it; try PBES2
                    decrypt_pkcs8(path.read_bytes(), self._passphrase)

    def secret(self, name: str) -> bytes:
        """A 32-byte symmetric secret (random, created once), AES-GCM-encrypted under a scrypt
        key from the passphrase, mode 0600, write-once: e.g. an envelope-encryption master key."""
        return _open_or_create_secret(self, name)


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
        try:
            write_new(path, _SECRET_MAGIC + salt + nonce + sealed)
        except FileExistsError:
            return _open_or_create_secret(store, name)  # another process created it first
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
        try:
            write_new(path, pem_bytes)
        except FileExistsError:
            raise KeyStoreError(
                f"key {name!r} exists already; keys are never overwritten"
            ) from None

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
