"""PKCS#11 key store (an HSM; SoftHSM2 in tests): EC P-256 keys generated and used in the token.

A thin ``ctypes`` binding of the few Cryptoki v2.40 calls the hub needs (no third-party wrapper):
the module's exported ``C_*`` functions with Linux LP64 types (``CK_ULONG`` = ``unsigned long``).
Private keys are created sensitive and non-extractable; :class:`Pkcs11KeyStore` also satisfies
:class:`storage.keys.KeyStore` (``save`` imports a key, ``load`` returns a handle that signs in
the token and refuses to export).
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Sequence
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    Prehashed,
    encode_dss_signature,
)

CK_ULONG = ctypes.c_ulong
CKR_OK = 0x0
CKR_CRYPTOKI_ALREADY_INITIALIZED = 0x191
CKR_USER_ALREADY_LOGGED_IN = 0x100
CKF_RW_SESSION, CKF_SERIAL_SESSION, CKF_OS_LOCKING_OK = 0x2, 0x4, 0x2
CKU_USER = 1
CKO_DATA, CKO_PUBLIC_KEY, CKO_PRIVATE_KEY = 0, 2, 3
CKK_EC = 3
CKA_CLASS, CKA_TOKEN, CKA_PRIVATE, CKA_LABEL, CKA_VALUE = 0x0, 0x1, 0x2, 0x3, 0x11
CKA_KEY_TYPE, CKA_ID, CKA_SENSITIVE, CKA_SIGN, CKA_VERIFY = 0x100, 0x102, 0x103, 0x108, 0x10A
CKA_EXTRACTABLE, CKA_EC_PARAMS, CKA_EC_POINT = 0x162, 0x180, 0x181
CKM_EC_KEY_PAIR_GEN, CKM_ECDSA = 0x1040, 0x1041
P256_PARAMS = bytes.fromhex("06082a8648ce3d030107")  # DER OID 1.2.840.10045.3.1.7


class Pkcs11Error(Exception):
    """A Cryptoki call failed (with its CKR_ code) or the token/key is not there."""


class _Attribute(ctypes.Structure):
    _fields_ = [("type", CK_ULONG), ("pValue", ctypes.c_void_p), ("ulValueLen", CK_ULONG)]


class _Mechanism(ctypes.Structure):
    _fields_ = [
        ("mechanism", CK_ULONG),
        ("pParameter", ctypes.c_void_p),
        ("ulParameterLen", CK_ULONG),
    ]


class _InitArgs(ctypes.Structure):
    _fields_ = [
        ("CreateMutex", ctypes.c_void_p),
        ("DestroyMutex", ctypes.c_void_p),
        ("LockMutex", ctypes.c_void_p),
        ("UnlockMutex", ctypes.c_void_p),
        ("flags", CK_ULONG),
        ("pReserved", ctypes.c_void_p),
    ]


def _value(v: Any) -> bytes:
    if isinstance(v, bool):
        return b"\x01" if v else b"\x00"
    if isinstance(v, int):
        return bytes(CK_ULONG(v))
    if isinstance(v, str):
        return v.encode()
    return bytes(v)


class _Template:
    """A CK_ATTRIBUTE array whose value buffers stay alive as long as the template."""

    def __init__(self, attrs: Sequence[tuple[int, Any]]) -> None:
        self.buffers = [ctypes.create_string_buffer(_value(v), len(_value(v))) for _, v in attrs]
        self.array = (_Attribute * len(attrs))(
            *[
                _Attribute(t, ctypes.cast(b, ctypes.c_void_p), len(b.raw))
                for (t, _), b in zip(attrs, self.buffers, strict=True)
            ]
        )
        self.count = CK_ULONG(len(attrs))


def _der_octets(der: bytes) -> bytes:
    """The content of a DER OCTET STRING (CKA_EC_POINT wraps the point in one)."""
    if not der or der[0] != 0x04:
        raise Pkcs11Error("CKA_EC_POINT is not a DER OCTET STRING")
    length, pos = der[1], 2
    if length & 0x80:
        n = length & 0x7F
        length, pos = int.from_bytes(der[2 : 2 + n], "big"), 2 + n
    return der[pos : pos + length]


class Pkcs11Token:
    """One logged-in session on the token labelled ``token_label`` (calls are serialised).

    PKCS#11 login state belongs to the application: while another session of this process is
    logged in, ``C_Login`` answers "already logged in" without checking the PIN again.
    """

    def __init__(self, module: str, token_label: str, pin: str) -> None:
        if not module:
            raise Pkcs11Error("no PKCS#11 module configured (HUB_PKCS11_MODULE)")
        try:
            self.lib = ctypes.CDLL(module)
        except OSError as exc:
            raise Pkcs11Error(f"cannot load PKCS#11 module {module}: {exc}") from None
        self._lock = threading.Lock()
        args = _InitArgs(None, None, None, None, CKF_OS_LOCKING_OK, None)
        self._check(
            self.lib.C_Initialize(ctypes.byref(args)),
            "C_Initialize",
            CKR_CRYPTOKI_ALREADY_INITIALIZED,
        )
        slot = self._find_slot(token_label)
        self.session = CK_ULONG()
        self._check(
            self.lib.C_OpenSession(
                slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, None, None, ctypes.byref(self.session)
            ),
            "C_OpenSession",
        )
        pin_bytes = pin.encode()
        self._check(
            self.lib.C_Login(self.session, CKU_USER, pin_bytes, CK_ULONG(len(pin_bytes))),
            "C_Login (wrong user PIN?)",
            CKR_USER_ALREADY_LOGGED_IN,
        )

    @staticmethod
    def _check(rv: int, call: str, *also_ok: int) -> None:
        if rv != CKR_OK and rv not in also_ok:
            raise Pkcs11Error(f"{call} failed: CKR 0x{rv & 0xFFFFFFFF:x}")

    def _find_slot(self, label: str) -> CK_ULONG:
        count = CK_ULONG()
        self._check(self.lib.C_GetSlotList(1, None, ctypes.byref(count)), "C_GetSlotList")
        slots = (CK_ULONG * max(1, count.value))()
        self._check(self.lib.C_GetSlotList(1, slots, ctypes.byref(count)), "C_GetSlotList")
        for slot in slots[: count.value]:
            info = ctypes.create_string_buffer(512)  # CK_TOKEN_INFO starts with label[32]
            self._check(self.lib.C_GetTokenInfo(CK_ULONG(slot), info), "C_GetTokenInfo")
            if info.raw[:32].decode("utf-8", "replace").rstrip() == label:
                return CK_ULONG(slot)
        raise Pkcs11Error(f"no initialised token labelled {label!r} in the PKCS#11 module")

    def close(self) -> None:
        with self._lock:
            self.lib.C_Logout(self.session)
            self.lib.C_CloseSession(self.session)

    # ---- objects ------------------------------------------------------------------------
    def _find(self, attrs: Sequence[tuple[int, Any]]) -> list[int]:
        template = _Template(attrs)
        found = (CK_ULONG * 16)()
        n = CK_ULONG()
        with self._lock:
            self._check(
                self.lib.C_FindObjectsInit(self.session, template.array, template.count),
                "C_FindObjectsInit",
            )
            try:
                self._check(
                    self.lib.C_FindObjects(self.session, found, CK_ULONG(16), ctypes.byref(n)),
                    "C_FindObjects",
                )
            finally:
                self.lib.C_FindObjectsFinal(self.session)
        return [int(h) for h in found[: n.value]]

    def _handle(self, label: str, cls: int) -> int:
        handles = self._find([(CKA_CLASS, cls), (CKA_LABEL, label)])
        if not handles:
            kind = "private" if cls == CKO_PRIVATE_KEY else "public"
            raise Pkcs11Error(f"no {kind} key labelled {label!r} in the token")
        return handles[0]

    def exists(self, label: str) -> bool:
        return bool(self._find([(CKA_CLASS, CKO_PRIVATE_KEY), (CKA_LABEL, label)]))

    def _attribute(self, handle: int, attr: int) -> bytes:
        probe = _Attribute(attr, None, 0)
        with self._lock:
            self._check(
                self.lib.C_GetAttributeValue(
                    self.session, CK_ULONG(handle), ctypes.byref(probe), CK_ULONG(1)
                ),
                "C_GetAttributeValue",
            )
            buf = ctypes.create_string_buffer(probe.ulValueLen)
            probe.pValue = ctypes.cast(buf, ctypes.c_void_p)
            self._check(
                self.lib.C_GetAttributeValue(
                    self.session, CK_ULONG(handle), ctypes.byref(probe), CK_ULONG(1)
                ),
                "C_GetAttributeValue",
            )
        return buf.raw[: probe.ulValueLen]

    def _private_template(self, label: str) -> list[tuple[int, Any]]:
        return [
            (CKA_TOKEN, True),
            (CKA_PRIVATE, True),
            (CKA_SENSITIVE, True),
            (CKA_EXTRACTABLE, False),
            (CKA_SIGN, True),
            (CKA_LABEL, label),
            (CKA_ID, label),
        ]

    def generate_ec(self, label: str) -> ec.EllipticCurvePublicKey:
        """A new P-256 key pair in the token (private part sensitive, non-extractable)."""
        if self.exists(label):
            raise Pkcs11Error(f"a key labelled {label!r} exists already; keys are never replaced")
        public = _Template(
            [
                (CKA_TOKEN, True),
                (CKA_EC_PARAMS, P256_PARAMS),
                (CKA_VERIFY, True),
                (CKA_LABEL, label),
                (CKA_ID, label),
            ]
        )
        private = _Template(self._private_template(label))
        mech = _Mechanism(CKM_EC_KEY_PAIR_GEN, None, 0)
        h_pub, h_priv = CK_ULONG(), CK_ULONG()
        with self._lock:
            self._check(
                self.lib.C_GenerateKeyPair(
                    self.session,
                    ctypes.byref(mech),
                    public.array,
                    public.count,
                    private.array,
                    private.count,
                    ctypes.byref(h_pub),
                    ctypes.byref(h_priv),
                ),
                "C_GenerateKeyPair",
            )
        return self.public_key(label)

    def import_ec(self, label: str, key: ec.EllipticCurvePrivateKey) -> None:
        """Put an existing P-256 private key (and its public half) into the token."""
        if not isinstance(key.curve, ec.SECP256R1):
            raise Pkcs11Error(f"only P-256 keys are supported, not {key.curve.name}")
        if self.exists(label):
            raise Pkcs11Error(f"a key labelled {label!r} exists already; keys are never replaced")
        scalar = key.private_numbers().private_value.to_bytes(32, "big")
        point = key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        for attrs in (
            [
                (CKA_CLASS, CKO_PRIVATE_KEY),
                (CKA_KEY_TYPE, CKK_EC),
                (CKA_EC_PARAMS, P256_PARAMS),
                (CKA_VALUE, scalar),
                *self._private_template(label),
            ],
            [
                (CKA_CLASS, CKO_PUBLIC_KEY),
                (CKA_KEY_TYPE, CKK_EC),
                (CKA_TOKEN, True),
                (CKA_EC_PARAMS, P256_PARAMS),
                (CKA_EC_POINT, b"\x04" + bytes([len(point)]) + point),
                (CKA_VERIFY, True),
                (CKA_LABEL, label),
                (CKA_ID, label),
            ],
        ):
            template = _Template(attrs)
            handle = CK_ULONG()
            with self._lock:
                self._check(
                    self.lib.C_CreateObject(
                        self.session, template.array, template.count, ctypes.byref(handle)
                    ),
                    "C_CreateObject",
                )

    def put_data(self, label: str, value: bytes) -> None:
        """Store a private data object (readable only after login with the user PIN)."""
        if self.get_data(label) is not None:
            raise Pkcs11Error(f"a data object labelled {label!r} exists already")
        template = _Template(
            [
                (CKA_CLASS, CKO_DATA),
                (CKA_TOKEN, True),
                (CKA_PRIVATE, True),
                (CKA_LABEL, label),
                (CKA_VALUE, value),
            ]
        )
        handle = CK_ULONG()
        with self._lock:
            self._check(
                self.lib.C_CreateObject(
                    self.session, template.array, template.count, ctypes.byref(handle)
                ),
                "C_CreateObject",
            )

    def get_data(self, label: str) -> bytes | None:
        """The value of the private data object ``label``, or None if there is none."""
        handles = self._find([(CKA_CLASS, CKO_DATA), (CKA_LABEL, label)])
        return self._attribute(handles[0], CKA_VALUE) if handles else None

    def public_key(self, label: str) -> ec.EllipticCurvePublicKey:
        point = _der_octets(self._attribute(self._handle(label, CKO_PUBLIC_KEY), CKA_EC_POINT))
        return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)

    def extractable(self, label: str) -> bool:
        """Whether the token would ever export the private key (never, for keys made here)."""
        return self._attribute(self._handle(label, CKO_PRIVATE_KEY), CKA_EXTRACTABLE) != b"\x00"

    def sign_digest(self, label: str, digest: bytes) -> bytes:
        """ECDSA over a precomputed digest, inside the token; DER-encoded like ``cryptography``."""
        handle = self._handle(label, CKO_PRIVATE_KEY)
        mech = _Mechanism(CKM_ECDSA, None, 0)
        out = ctypes.create_string_buffer(132)
        n = CK_ULONG(len(out))
        with self._lock:
            self._check(
                self.lib.C_SignInit(self.session, ctypes.byref(mech), CK_ULONG(handle)),
                "C_SignInit",
            )
            self._check(
                self.lib.C_Sign(self.session, digest, CK_ULONG(len(digest)), out, ctypes.byref(n)),
                "C_Sign",
            )
        raw = out.raw[: n.value]
        half = len(raw) // 2
        return encode_dss_signature(
            int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big")
        )

    def destroy(self, label: str) -> None:
        """Remove a key pair (tests and credential revocation)."""
        for cls in (CKO_PRIVATE_KEY, CKO_PUBLIC_KEY):
            for handle in self._find([(CKA_CLASS, cls), (CKA_LABEL, label)]):
                with self._lock:
                    self._check(
                        self.lib.C_DestroyObject(self.session, CK_ULONG(handle)), "C_DestroyObject"
                    )


class Pkcs11PrivateKey(ec.EllipticCurvePrivateKey):
    """A P-256 private key that lives in the token: signs there, never exports."""

    def __init__(self, token: Pkcs11Token, label: str) -> None:
        self._token = token
        self._label = label
        self._public = token.public_key(label)

    @property
    def curve(self) -> ec.EllipticCurve:
        return ec.SECP256R1()

    @property
    def key_size(self) -> int:
        return 256

    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self._public

    def sign(
        self,
        data: bytes | bytearray | memoryview,
        signature_algorithm: ec.EllipticCurveSignatureAlgorithm,
    ) -> bytes:
        data = bytes(data)
        algorithm = signature_algorithm.algorithm
        if isinstance(algorithm, Prehashed):
            return self._token.sign_digest(self._label, data)
        if not isinstance(algorithm, hashes.SHA256):
            raise Pkcs11Error(f"only SHA-256 ECDSA is supported, not {algorithm.name}")
        h = hashes.Hash(hashes.SHA256())
        h.update(data)
        return self._token.sign_digest(self._label, h.finalize())

    def exchange(self, algorithm: ec.ECDH, peer_public_key: ec.EllipticCurvePublicKey) -> bytes:
        raise Pkcs11Error("key agreement is not allowed with signing keys")

    def private_numbers(self) -> ec.EllipticCurvePrivateNumbers:
        raise Pkcs11Error("the private key is non-extractable: it never leaves the token")

    def private_bytes(
        self,
        encoding: serialization.Encoding,
        format: serialization.PrivateFormat,
        encryption_algorithm: serialization.KeySerializationEncryption,
    ) -> bytes:
        raise Pkcs11Error("the private key is non-extractable: it never leaves the token")

    def __copy__(self) -> Pkcs11PrivateKey:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Pkcs11PrivateKey:
        return self


class Pkcs11KeyStore:
    """:class:`storage.keys.KeyStore` on a token: EC P-256 keys, imported once, used in place."""

    def __init__(self, token: Pkcs11Token) -> None:
        self.token = token

    def save(self, name: str, key: Any) -> None:
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise Pkcs11Error("the PKCS#11 key store holds EC P-256 keys only")
        self.token.import_ec(name, key)

    def load(self, name: str) -> Pkcs11PrivateKey:
        return Pkcs11PrivateKey(self.token, name)

    def exists(self, name: str) -> bool:
        return self.token.exists(name)
