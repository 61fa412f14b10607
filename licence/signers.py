"""Signers behind one interface: ECDSA P-256 (default profile) and SM2-with-SM3 (national).

``cryptography`` refuses SM2 keys, so SM2 goes through the system OpenSSL 3 (ctypes, in
``licence.sm2_openssl``) when usable, else ``gmssl`` (pure Python, ten times slower); both give
raw ``r‖s`` signatures, each cross-checks the other in the tests, and the GB/T 32918.5 Annex A
vector runs through both. Verification functions take the public key and algorithm name so a
verifier needs no private material.
"""

from __future__ import annotations

import secrets
import weakref
from typing import Protocol

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from gmssl import sm2 as gm_sm2

from licence import sm2_openssl

ECDSA_P256 = "ecdsa-p256-sha256"
SM2_SM3 = "sm2-sm3"
SM2_DEFAULT_ID = b"1234567812345678"
SM2_CURVE_OID = "1.2.156.10197.1.301"  # GB/T 33560: the SM2 curve (namedCurve of id-ecPublicKey)
# SubjectPublicKeyInfo DER up to the point: id-ecPublicKey, namedCurve SM2, BIT STRING of 66 bytes
_SM2_SPKI_PREFIX = bytes.fromhex("3059301306072a8648ce3d020106082a811ccf5501822d034200")
_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())  # immutable: built once, not per signature


def sm2_backend() -> str:
    """Which SM2 implementation signs and verifies here: "openssl" or "gmssl"."""
    return "openssl" if sm2_openssl.backend() is not None else "gmssl"


class SignatureError(ValueError):
    """A signature does not verify, or the algorithm is unknown."""


class Signer(Protocol):
    """Something that signs bytes with one private key."""

    algorithm: str

    def sign(self, data: bytes) -> bytes: ...

    def public_key_bytes(self) -> bytes: ...


class EcdsaP256Signer:
    """ECDSA P-256 with SHA-256; DER-encoded signatures."""

    algorithm = ECDSA_P256

    def __init__(self, key: ec.EllipticCurvePrivateKey) -> None:
        if not isinstance(key.curve, ec.SECP256R1):
            raise SignatureError(f"expected a P-256 key, got {key.curve.name}")
        self.key = key

    def sign(self, data: bytes) -> bytes:
        return self.key.sign(data, _ECDSA_SHA256)

    def public_key_bytes(self) -> bytes:
        """Uncompressed SEC1 point."""
        return self.key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )


def _sm2_z_and_e(public_hex: str, data: bytes, user_id: bytes) -> bytes:
    """e = SM3(Z_A ‖ M) with Z_A = SM3(ENTL ‖ ID ‖ a ‖ b ‖ xG ‖ yG ‖ xA ‖ yA) (GB/T 32918.2)."""
    t = gm_sm2.default_ecc_table
    z_input = (
        (len(user_id) * 8).to_bytes(2, "big")
        + user_id
        + bytes.fromhex(t["a"] + t["b"] + t["g"] + public_hex)
    )
    z = _sm3(z_input)
    return _sm3(z + data)


def sm2_digest(public_key: bytes, data: bytes, user_id: bytes = SM2_DEFAULT_ID) -> bytes:
    """e = SM3(Z_A ‖ M) for the SM2 key ``04‖x‖y`` (what a remote signer is asked to sign)."""
    if len(public_key) == 65:
        public_key = public_key[1:]
    return _sm2_z_and_e(public_key.hex(), data, user_id)


def _sm3(data: bytes) -> bytes:
    h = hashes.Hash(hashes.SM3())
    h.update(data)
    return h.finalize()


def _crypt(private_hex: str, public_hex: str) -> gm_sm2.CryptSM2:
    c = gm_sm2.CryptSM2(private_key=private_hex, public_key="00")
    # gmssl's constructor lstrip("04")s the key, which also eats leading 0/4 digits: set it here
    c.public_key = public_hex
    return c


def sm2_point_on_curve(public_key: bytes) -> bool:
    """True if ``public_key`` (``04‖x‖y``, 65 bytes) is a point of the SM2 curve (not infinity).

    gmssl does not check this; a verifier must, or a crafted "key" could make it misbehave."""
    if len(public_key) != 65 or public_key[0] != 4:
        return False
    t = gm_sm2.default_ecc_table
    p, a, b = int(t["p"], 16), int(t["a"], 16), int(t["b"], 16)
    x, y = int.from_bytes(public_key[1:33], "big"), int.from_bytes(public_key[33:], "big")
    if not (0 <= x < p and 0 <= y < p) or (x == 0 and y == 0):
        return False
    return (y * y - (x * x * x + a * x + b)) % p == 0


def sm2_public_from_private(private_hex: str) -> str:
    """Public point x‖y (128 hex digits) of an SM2 private scalar."""
    c = _crypt(private_hex, "")
    return str(c._kg(int(private_hex, 16), gm_sm2.default_ecc_table["g"])).zfill(128)


def _openssl_sign_e(ossl: sm2_openssl.OpenSslSm2, pkey: int, e: bytes) -> bytes:
    """DER SM2 signature over the digest ``e`` itself: OpenSSL 3's EVP_PKEY_sign on an SM2 key
    signs its input as e (the Z_A step belongs to EVP_DigestSign only), in constant time."""
    import ctypes

    lib = ossl._lib
    if not getattr(lib, "_hub_sign_e_ready", False):
        vp = ctypes.c_void_p
        lib.EVP_PKEY_sign_init.argtypes = [vp]
        lib.EVP_PKEY_sign.argtypes = [
            vp,
            ctypes.c_char_p,
            ctypes.POINTER(ctypes.c_size_t),
            ctypes.c_char_p,
            ctypes.c_size_t,
        ]
        lib._hub_sign_e_ready = True
    pctx = lib.EVP_PKEY_CTX_new(pkey, None)
    if not pctx:
        raise SignatureError("libcrypto cannot set up an SM2 signing context")
    try:
        out = ctypes.create_string_buffer(80)
        size = ctypes.c_size_t(80)
        ok = lib.EVP_PKEY_sign_init(pctx) == 1
        ok = ok and lib.EVP_PKEY_sign(pctx, out, ctypes.byref(size), e, len(e)) == 1
        if not ok:
            lib.ERR_clear_error()
            raise SignatureError("libcrypto failed to sign the SM2 digest")
        return bytes(out.raw[: size.value])
    finally:
        lib.EVP_PKEY_CTX_free(pctx)


class Sm2Signer:
    """SM2 with SM3 (GB/T 32918.2), raw 64-byte r‖s signatures."""

    algorithm = SM2_SM3

    def __init__(
        self, private_hex: str, user_id: bytes = SM2_DEFAULT_ID, *, use_openssl: bool = True
    ) -> None:
        self.private_hex = private_hex.lower()
        self.public_hex = sm2_public_from_private(self.private_hex)
        self.user_id = user_id
        self._c = _crypt(self.private_hex, self.public_hex)
        self._ossl = sm2_openssl.backend() if use_openssl else None
        self._pkey = 0
        if self._ossl is not None:
            from storage.keys import sm2_private_key_info

            der = sm2_private_key_info(self.private_bytes(), self.public_key_bytes())
            self._pkey = self._ossl.load_private(der)
            weakref.finalize(self, self._ossl.free, self._pkey)

    @classmethod
    def generate(cls) -> Sm2Signer:
        n = int(gm_sm2.default_ecc_table["n"], 16)
        return cls(format(secrets.randbelow(n - 2) + 1, "064x"))

    def sign(self, data: bytes, k_hex: str | None = None) -> bytes:
        """Sign ``data``; ``k_hex`` fixes the nonce (only for standard test vectors: gmssl)."""
        if self._ossl is not None and k_hex is None:
            der = self._ossl.sign(self._pkey, data, self.user_id)
            return sm2_openssl.raw_signature(der)
        e = _sm2_z_and_e(self.public_hex, data, self.user_id)
        k = k_hex or format(
            secrets.randbelow(int(gm_sm2.default_ecc_table["n"], 16) - 1) + 1, "064x"
        )
        return bytes.fromhex(str(self._c.sign(e, k)).zfill(128))

    def public_key_bytes(self) -> bytes:
        return b"\x04" + bytes.fromhex(self.public_hex)

    def sign_digest(self, e: bytes) -> bytes:
        """Raw ``r‖s`` over a precomputed ``e = SM3(Z_A ‖ M)`` (a remote-signing client sends
        e, not M: the Z_A step is its own): OpenSSL 3 when usable, else gmssl."""
        if len(e) != 32:
            raise SignatureError(f"an SM2 digest e is 32 bytes (SM3), got {len(e)}")
        if self._ossl is not None:
            return sm2_openssl.raw_signature(_openssl_sign_e(self._ossl, self._pkey, e))
        n = int(gm_sm2.default_ecc_table["n"], 16)
        while True:  # gmssl returns None for the rare k with r = 0, r + k = n or s = 0
            sig = self._c.sign(e, format(secrets.randbelow(n - 1) + 1, "064x"))
            if sig is not None:
                return bytes.fromhex(str(sig).zfill(128))

    def private_bytes(self) -> bytes:
        """The 32-byte private scalar: only for the encrypted key store, never to be logged."""
        return bytes.fromhex(self.private_hex.zfill(64))


class Sm2PrehashedKey:
    """Signs SM2 digests e = SM3(Z_A ‖ M) with a key given as PKCS#8 DER, DER SEQUENCE{r, s}.

    Built for one signHash: OpenSSL 3 loads the DER (which carries the public point) without
    the pure-Python point multiplication :class:`Sm2Signer` does (8 ms); gmssl otherwise."""

    def __init__(self, pkcs8_der: bytes) -> None:
        self._ossl = sm2_openssl.backend()
        self._pkey = 0
        self._gm: Sm2Signer | None = None
        if self._ossl is not None:
            self._pkey = self._ossl.load_private(pkcs8_der)
            weakref.finalize(self, self._ossl.free, self._pkey)
        else:
            from storage.keys import sm2_scalar_from_pkcs8

            self._gm = Sm2Signer(sm2_scalar_from_pkcs8(pkcs8_der).hex(), use_openssl=False)

    def sign_der(self, e: bytes) -> bytes:
        if len(e) != 32:
            raise SignatureError(f"an SM2 digest e is 32 bytes (SM3), got {len(e)}")
        if self._ossl is not None:
            return _openssl_sign_e(self._ossl, self._pkey, e)
        if self._gm is None:
            raise SignatureError("no SM2 implementation holds this key")
        raw = self._gm.sign_digest(e)
        return sm2_openssl.der_signature(
            int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
        )


def sm2_public_key_from_spki(spki_der: bytes) -> bytes:
    """The SM2 point (``04‖x‖y``) of a SubjectPublicKeyInfo: id-ecPublicKey, namedCurve SM2.

    ``cryptography`` cannot load such a key, so it is read with asn1crypto (pyHanko's parser)."""
    from asn1crypto import keys as asn1_keys

    try:
        spki = asn1_keys.PublicKeyInfo.load(spki_der)
        alg = spki["algorithm"]
        params = alg["parameters"]
        curve = params.chosen.dotted if alg["algorithm"].native == "ec" else None
        point = bytes(spki["public_key"].native) if curve == SM2_CURVE_OID else b""
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise SignatureError(f"unreadable public key: {exc}") from None
    if not point:
        raise SignatureError("not an SM2 public key (id-ecPublicKey with the SM2 curve)")
    if not sm2_point_on_curve(point):
        raise SignatureError("SM2 public key is not a point of the SM2 curve")
    return point


_CERT_KEYS: dict[bytes, tuple[str, bytes]] = {}  # TBSCertificate DER -> key (seals are few)


def certificate_key(cert: x509.Certificate) -> tuple[str, bytes]:
    """(signature algorithm, uncompressed point) of a seal certificate's key: P-256 or SM2."""
    tbs_der = cert.tbs_certificate_bytes
    hit = _CERT_KEYS.get(tbs_der)
    if hit is not None:
        return hit
    try:
        public = cert.public_key()
    except UnsupportedAlgorithm:
        from asn1crypto import x509 as asn1_x509

        tbs = asn1_x509.TbsCertificate.load(tbs_der)
        spki = tbs["subject_public_key_info"].dump()
        hit = (SM2_SM3, sm2_public_key_from_spki(spki))
    else:
        if not (
            isinstance(public, ec.EllipticCurvePublicKey) and isinstance(public.curve, ec.SECP256R1)
        ):
            raise SignatureError("the certificate key is neither ECDSA P-256 nor SM2")
        point = public.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        hit = (ECDSA_P256, point)
    if len(_CERT_KEYS) >= 4096:
        _CERT_KEYS.clear()
    _CERT_KEYS[tbs_der] = hit
    return hit


def sm2_verify(
    public_key: bytes, r: int, s: int, signature: bytes, data: bytes, *, use_openssl: bool = True
) -> bool:
    """SM2 verification (default signer ID) of a checked point and in-range r, s."""
    ossl = sm2_openssl.backend() if use_openssl else None
    if ossl is not None:
        key = ossl.public(_SM2_SPKI_PREFIX + public_key)
        return ossl.verify(key, sm2_openssl.der_signature(r, s), data, SM2_DEFAULT_ID)
    e = _sm2_z_and_e(public_key[1:].hex(), data, SM2_DEFAULT_ID)
    return bool(_crypt("00", public_key[1:].hex()).verify(signature.hex(), e))


def verify(algorithm: str, public_key: bytes, signature: bytes, data: bytes) -> None:
    """Raise SignatureError unless ``signature`` over ``data`` verifies under ``public_key``."""
    if algorithm == ECDSA_P256:
        key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), public_key)
        try:
            key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            raise SignatureError("ECDSA P-256 seal signature does not verify") from None
        return
    if algorithm == SM2_SM3:
        if len(public_key) == 64:  # bare x‖y
            public_key = b"\x04" + public_key
        if not sm2_point_on_curve(public_key):
            raise SignatureError("SM2 public key is not a point of the SM2 curve")
        n = int(gm_sm2.default_ecc_table["n"], 16)
        r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        if len(signature) != 64 or not (0 < r < n and 0 < s < n):  # GB/T 32918.2 §7.1 B1, B2
            raise SignatureError("SM2 signature is not r‖s with 0 < r, s < n")
        if not sm2_verify(public_key, r, s, signature, data):
            raise SignatureError("SM2 seal signature does not verify")
        return
    raise SignatureError(f"unknown signature algorithm {algorithm!r}")
