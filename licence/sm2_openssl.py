"""SM2-with-SM3 through the system OpenSSL 3 ``libcrypto`` (ctypes), when it is there.

``cryptography`` bundles OpenSSL but exposes no SM2, and ``gmssl`` is pure Python (about 16 ms a
signature, 22 ms a verification on our machines). OpenSSL 3's SM2 (GB/T 32918, with the signer ID
and SM3 digest set through the EVP interface) is about ten times faster, uses OpenSSL's
side-channel-hardened scalar multiplication and releases the GIL while it works. It is optional:
:func:`backend` answers ``None`` when no usable ``libcrypto.so.3`` is found, or when it fails the
GB/T 32918.5 Annex A self-test (a build without SM2, as some distributions ship), and
``licence.signers`` then uses gmssl. Signatures here are DER ``SEQUENCE {r, s}`` like OpenSSL's;
``licence.signers`` converts to and from the raw ``r‖s`` the licences carry.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
from typing import Any

_VP = ctypes.c_void_p

# GB/T 32918.5-2017 Annex A: public key of d = 3945208F…, signature of "message digest"
_VECTOR_SPKI = bytes.fromhex(
    "3059301306072a8648ce3d020106082a811ccf5501822d03420004"
    "09f9df311e5421a150dd7d161e4bc5c672179fad1833fc076bb08ff356f35020"
    "ccea490ce26775a52dc6ea718cc1aa600aed05fbf35e084a6632f6072da9ad13"
)
_VECTOR_R = 0xF5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3
_VECTOR_S = 0xB1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA
_VECTOR_ID = b"1234567812345678"


class OpenSslError(RuntimeError):
    """libcrypto refused an SM2 operation (a key it cannot read, an internal failure)."""


def der_signature(r: int, s: int) -> bytes:
    """DER ``SEQUENCE { INTEGER r, INTEGER s }``."""

    def integer(v: int) -> bytes:
        body = v.to_bytes((v.bit_length() + 8) // 8 or 1, "big")  # leading 0 keeps it positive
        return b"\x02" + bytes([len(body)]) + body

    content = integer(r) + integer(s)
    return b"\x30" + bytes([len(content)]) + content


def raw_signature(der: bytes) -> bytes:
    """``r‖s`` (64 bytes) of a DER SM2 signature."""
    if len(der) < 8 or der[0] != 0x30 or der[1] != len(der) - 2:
        raise OpenSslError("malformed DER signature from libcrypto")
    pos, out = 2, b""
    for _ in range(2):
        if der[pos] != 0x02:
            raise OpenSslError("malformed DER signature from libcrypto")
        size = der[pos + 1]
        out += int.from_bytes(der[pos + 2 : pos + 2 + size], "big").to_bytes(32, "big")
        pos += 2 + size
    return out


class OpenSslSm2:
    """SM2 sign and verify over one loaded ``libcrypto``; keys are ``EVP_PKEY`` handles."""

    def __init__(self, lib: Any) -> None:
        self._lib = lib
        lib.OpenSSL_version_num.restype = ctypes.c_ulong
        lib.d2i_AutoPrivateKey.restype = _VP
        lib.d2i_AutoPrivateKey.argtypes = [_VP, ctypes.POINTER(ctypes.c_char_p), ctypes.c_long]
        lib.d2i_PUBKEY.restype = _VP
        lib.d2i_PUBKEY.argtypes = [_VP, ctypes.POINTER(ctypes.c_char_p), ctypes.c_long]
        lib.EVP_PKEY_free.argtypes = [_VP]
        lib.EVP_MD_CTX_new.restype = _VP
        lib.EVP_MD_CTX_free.argtypes = [_VP]
        lib.EVP_PKEY_CTX_new.restype = _VP
        lib.EVP_PKEY_CTX_new.argtypes = [_VP, _VP]
        lib.EVP_PKEY_CTX_free.argtypes = [_VP]
        lib.EVP_PKEY_CTX_set1_id.argtypes = [_VP, ctypes.c_char_p, ctypes.c_int]
        lib.EVP_MD_CTX_set_pkey_ctx.argtypes = [_VP, _VP]
        lib.EVP_sm3.restype = _VP
        lib.EVP_DigestSignInit.argtypes = [_VP, _VP, _VP, _VP, _VP]
        lib.EVP_DigestSign.argtypes = [
            _VP,
            ctypes.c_char_p,
            ctypes.POINTER(ctypes.c_size_t),
            ctypes.c_char_p,
            ctypes.c_size_t,
        ]
        lib.EVP_DigestVerifyInit.argtypes = [_VP, _VP, _VP, _VP, _VP]
        lib.EVP_DigestVerify.argtypes = [
            _VP,
            ctypes.c_char_p,
            ctypes.c_size_t,
            ctypes.c_char_p,
            ctypes.c_size_t,
        ]
        lib.ERR_clear_error.argtypes = []
        if lib.OpenSSL_version_num() < 0x30000000:
            raise OpenSslError("OpenSSL 3 is needed for SM2 through EVP")
        self._sm3 = lib.EVP_sm3()
        self._public: dict[bytes, int] = {}
        self._lock = threading.Lock()

    def load_private(self, pkcs8_der: bytes) -> int:
        """An ``EVP_PKEY`` handle for an (unencrypted, in memory only) SM2 PKCS#8 key."""
        buf = ctypes.c_char_p(pkcs8_der)
        handle = self._lib.d2i_AutoPrivateKey(None, ctypes.byref(buf), len(pkcs8_der))
        if not handle:
            self._lib.ERR_clear_error()
            raise OpenSslError("libcrypto cannot read the SM2 private key")
        return int(handle)

    def free(self, handle: int) -> None:
        self._lib.EVP_PKEY_free(handle)

    def public(self, spki_der: bytes) -> int:
        """An ``EVP_PKEY`` for a SubjectPublicKeyInfo, cached (seals are few)."""
        with self._lock:
            handle = self._public.get(spki_der)
            if handle is None:
                buf = ctypes.c_char_p(spki_der)
                handle = self._lib.d2i_PUBKEY(None, ctypes.byref(buf), len(spki_der))
                if not handle:
                    self._lib.ERR_clear_error()
                    raise OpenSslError("libcrypto cannot read the SM2 public key")
                if len(self._public) >= 4096:  # bound the cache; keys are freed with it
                    for old in self._public.values():
                        self._lib.EVP_PKEY_free(old)
                    self._public.clear()
                self._public[spki_der] = int(handle)
            return int(handle)

    def _context(self, pkey: int, user_id: bytes) -> tuple[int, int]:
        md = self._lib.EVP_MD_CTX_new()
        pctx = self._lib.EVP_PKEY_CTX_new(pkey, None)
        if not md or not pctx or self._lib.EVP_PKEY_CTX_set1_id(pctx, user_id, len(user_id)) != 1:
            self._release(md, pctx)
            raise OpenSslError("libcrypto cannot set up an SM2 context")
        self._lib.EVP_MD_CTX_set_pkey_ctx(md, pctx)
        return int(md), int(pctx)

    def _release(self, md: int | None, pctx: int | None) -> None:
        if md:
            self._lib.EVP_MD_CTX_free(md)
        if pctx:
            self._lib.EVP_PKEY_CTX_free(pctx)

    def sign(self, pkey: int, data: bytes, user_id: bytes) -> bytes:
        """DER signature over ``data`` (Z_A with ``user_id``, SM3)."""
        md, pctx = self._context(pkey, user_id)
        try:
            out = ctypes.create_string_buffer(80)
            size = ctypes.c_size_t(80)
            ok = self._lib.EVP_DigestSignInit(md, None, self._sm3, None, pkey) == 1
            ok = ok and self._lib.EVP_DigestSign(md, out, ctypes.byref(size), data, len(data)) == 1
            if not ok:
                self._lib.ERR_clear_error()
                raise OpenSslError("libcrypto failed to sign with SM2")
            return out.raw[: size.value]
        finally:
            self._release(md, pctx)

    def verify(self, pkey: int, der_sig: bytes, data: bytes, user_id: bytes) -> bool:
        md, pctx = self._context(pkey, user_id)
        try:
            if self._lib.EVP_DigestVerifyInit(md, None, self._sm3, None, pkey) != 1:
                self._lib.ERR_clear_error()
                raise OpenSslError("libcrypto cannot verify with this SM2 key")
            ok = self._lib.EVP_DigestVerify(md, der_sig, len(der_sig), data, len(data)) == 1
            if not ok:
                self._lib.ERR_clear_error()
            return bool(ok)
        finally:
            self._release(md, pctx)


_backend: OpenSslSm2 | None = None
_probed = False
_probe_lock = threading.Lock()


def _self_test(sm2: OpenSslSm2) -> bool:
    key = sm2.public(_VECTOR_SPKI)
    good = der_signature(_VECTOR_R, _VECTOR_S)
    bad = der_signature(_VECTOR_R, _VECTOR_S ^ 1)
    return sm2.verify(key, good, b"message digest", _VECTOR_ID) and not sm2.verify(
        key, bad, b"message digest", _VECTOR_ID
    )


def backend() -> OpenSslSm2 | None:
    """The OpenSSL SM2 backend, or None (then gmssl is used); probed once per process."""
    global _backend, _probed
    with _probe_lock:
        if not _probed:
            _probed = True
            name = ctypes.util.find_library("crypto")
            try:
                sm2 = OpenSslSm2(ctypes.CDLL(name)) if name else None
                _backend = sm2 if sm2 is not None and _self_test(sm2) else None
            except (OSError, AttributeError, OpenSslError):
                _backend = None  # no libcrypto, too old, or built without SM2
    return _backend
