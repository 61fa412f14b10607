"""Where credential private keys live: envelopes in the database, or a PKCS#11 token."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Any, Protocol

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from licence import signers
from licence.cloudsign import envelope
from licence.cloudsign.errors import (
    KeyAlgorithmNotSupportedError,
    KeyUnavailableError,
)

MASTER_KEY = "cloudsign-master"


class CaKeys(Protocol):
    """The key store of the platform CA plus the envelope master secret."""

    def save(self, name: str, key: Any) -> None: ...

    def load(self, name: str) -> Any: ...

    def exists(self, name: str) -> bool: ...

    def secret(self, name: str) -> bytes: ...


DigestSigner = Callable[[bytes], bytes]


class CredentialKeys(Protocol):
    """Where credential private keys live; a key is usable only with the holder's PIN key."""

    name: str

    def create(self, credential_id: str, pin_key: bytes) -> tuple[ec.EllipticCurvePublicKey, bytes]:
        """Generate a P-256 key; returns the public key and the material to store."""
        ...

    def signer(self, credential_id: str, stored: bytes, pin_key: bytes) -> DigestSigner:
        """A function signing SHA-256 digests (DER ECDSA); raises KeyUnavailableError."""
        ...

    def create_sm2(self, credential_id: str, pin_key: bytes) -> tuple[bytes, bytes]:
        """Generate an SM2 key (national profile); returns the public point and the material
        to store. KeyAlgorithmNotSupportedError where the store cannot hold SM2 keys."""
        ...

    def sm2_signer(self, credential_id: str, stored: bytes, pin_key: bytes) -> DigestSigner:
        """A function signing with the credential's SM2 key; raises KeyUnavailableError."""
        ...

    def discard(self, credential_id: str) -> None:
        """Remove a key (failed enrolment, revocation)."""
        ...

    def rewrap(
        self, credential_id: str, stored: bytes, old_pin_key: bytes, new_pin_key: bytes
    ) -> bytes:
        """The stored material bound to a new PIN key (PIN change)."""
        ...


class EnvelopeKeys:
    """Default back end: the key is an envelope in the database (DEK under master + PIN key)."""

    name = "envelope"

    def __init__(self, master_key: bytes) -> None:
        self._master = master_key

    def create(self, credential_id: str, pin_key: bytes) -> tuple[ec.EllipticCurvePublicKey, bytes]:
        key = ec.generate_private_key(ec.SECP256R1())
        sealed = envelope.seal_private_key(key, self._master, pin_key, credential_id)
        return key.public_key(), sealed

    def signer(self, credential_id: str, stored: bytes, pin_key: bytes) -> DigestSigner:
        try:
            key = envelope.open_private_key(stored, self._master, pin_key, credential_id)
        except envelope.EnvelopeError as exc:
            raise KeyUnavailableError(
                f"the key of credential {credential_id} cannot be unlocked: {exc}"
            ) from None
        algorithm = ec.ECDSA(Prehashed(hashes.SHA256()))
        return lambda digest: key.sign(digest, algorithm)

    def discard(self, credential_id: str) -> None:
        """Envelopes live only in the credential row: nothing outside it to remove."""

    def rewrap(
        self, credential_id: str, stored: bytes, old_pin_key: bytes, new_pin_key: bytes
    ) -> bytes:
        try:
            # the PKCS#8 bytes move unchanged to the new envelope: P-256 and SM2 alike
            der = envelope.open_key_der(stored, self._master, old_pin_key, credential_id)
        except envelope.EnvelopeError as exc:
            raise KeyUnavailableError(f"the key cannot be unlocked: {exc}") from None
        return envelope.seal_key_der(der, self._master, new_pin_key, credential_id)

    def create_sm2(self, credential_id: str, pin_key: bytes) -> tuple[bytes, bytes]:
        """Generate an SM2 key (national profile); returns its point ``04‖x‖y`` and the
        envelope (PKCS#8 with the SM2 curve, sealed exactly like a P-256 key)."""
        from storage.keys import sm2_private_key_info

        key = signers.Sm2Signer.generate()
        point = key.public_key_bytes()
        der = sm2_private_key_info(key.private_bytes(), point)
        return point, envelope.seal_key_der(der, self._master, pin_key, credential_id)

    def sm2_signer(self, credential_id: str, stored: bytes, pin_key: bytes) -> DigestSigner:
        """A function signing SM2 digests e = SM3(Z‖M): DER SEQUENCE{r, s} (GM/T 0009)."""
        from licence.sm2_openssl import OpenSslError
        from storage.keys import KeyStoreError

        try:
            der = envelope.open_key_der(stored, self._master, pin_key, credential_id)
            key = signers.Sm2PrehashedKey(der)
        except (envelope.EnvelopeError, KeyStoreError, OpenSslError) as exc:
            raise KeyUnavailableError(
                f"the key of credential {credential_id} cannot be unlocked: {exc}"
            ) from None
        return key.sign_der


class Pkcs11Keys:
    """PKCS#11 back end: the key is generated and used inside the token (non-extractable).

    The token holds the key, so the database keeps only a binding tag: HMAC(master key, PIN
    key). signHash proceeds only when the SAD yields the PIN key that matches it, so a SAD row
    forged in the database activates nothing; the HSM's own user PIN guards the token itself.
    """

    name = "pkcs11"

    def __init__(self, token: Any, master_key: bytes) -> None:
        self.token = token  # storage.pkcs11.Pkcs11Token
        self._master = master_key

    def _tag(self, credential_id: str, pin_key: bytes) -> bytes:
        return envelope.hmac_sha256(self._master, f"pkcs11|{credential_id}|".encode() + pin_key)

    def create(self, credential_id: str, pin_key: bytes) -> tuple[ec.EllipticCurvePublicKey, bytes]:
        public = self.token.generate_ec(credential_id)
        return public, self._tag(credential_id, pin_key)

    def signer(self, credential_id: str, stored: bytes, pin_key: bytes) -> DigestSigner:
        if not hmac.compare_digest(stored, self._tag(credential_id, pin_key)):
            raise KeyUnavailableError(
                f"the key of credential {credential_id} cannot be unlocked: wrong activation data"
            )
        return lambda digest: bytes(self.token.sign_digest(credential_id, digest))

    def discard(self, credential_id: str) -> None:
        self.token.destroy(credential_id)

    def rewrap(
        self, credential_id: str, stored: bytes, old_pin_key: bytes, new_pin_key: bytes
    ) -> bytes:
        if not hmac.compare_digest(stored, self._tag(credential_id, old_pin_key)):
            raise KeyUnavailableError("the key cannot be unlocked: wrong activation data")
        return self._tag(credential_id, new_pin_key)

    def create_sm2(self, credential_id: str, pin_key: bytes) -> tuple[bytes, bytes]:
        raise KeyAlgorithmNotSupportedError(_NO_SM2_ON_TOKEN)

    def sm2_signer(self, credential_id: str, stored: bytes, pin_key: bytes) -> DigestSigner:
        raise KeyAlgorithmNotSupportedError(_NO_SM2_ON_TOKEN)


_NO_SM2_ON_TOKEN = (
    "the PKCS#11 key store cannot hold SM2 keys (SoftHSM2 has no SM2 mechanism): enrol under "
    "the standard profile (ECDSA P-256), or use the envelope key store "
    "(HUB_CLOUDSIGN_KEYS=envelope) for the national profile"
)
