"""The cloud-signature service: enrol, list, info, authorise (PIN + TOTP → SAD), signHash, audit.

Sole control (EN 419 241-1): a signature happens only inside :meth:`CloudSignService.sign_hash`,
which needs a SAD that the holder obtained with their PIN and a fresh OTP, bound to exactly the
hashes presented, used at most once and within ``sad_ttl`` seconds. The PIN key travels inside the
SAD's encryption (see :mod:`.envelope`), so the database alone cannot mint one. Every
authorisation, signature and refusal is an audit row whose canonical JSON is a ledger entry.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn, Protocol

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from sqlalchemy import Connection, Engine, and_, bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from ledger.service import LedgerError
from licence import ca, signers
from licence.cloudsign import envelope, store, totp
from licence.cloudsign.errors import (
    CloudSignError,
    CredentialLockedError,
    HashAlgorithmMismatchError,
    HashNotAuthorisedError,
    InvalidRequestError,
    InvalidSADError,
    KeyAlgorithmNotSupportedError,
    KeyUnavailableError,
    MissingSADError,
    NotInLibraryError,
    SADExpiredError,
    SADReusedError,
    UnknownCredentialError,
    WrongOTPError,
    WrongPINError,
)
from licence.document import canonical

log = logging.getLogger(__name__)

SHA256_OID = "2.16.840.1.101.3.4.2.1"
ECDSA_SHA256_OID = "1.2.840.10045.4.3.2"
EC_PUBLIC_KEY_OID = "1.2.840.10045.2.1"
P256_OID = "1.2.840.10045.3.1.7"
# national profile (GB/T 33560): SM2 key (the curve of id-ecPublicKey), SM2-with-SM3, SM3
SM2_KEY_OID = "1.2.156.10197.1.301"
SM2_SM3_OID = "1.2.156.10197.1.501"
SM3_OID = "1.2.156.10197.1.401"
PROFILES = ("standard", "national")
MASTER_KEY = "cloudsign-master"
ISSUER = "省级政务服务平台 Cloud Signature"


class PersonDirectory(Protocol):
    """The population library as seen from here: the golden name per resident ID."""

    def names(self, id_numbers: Iterable[str]) -> dict[str, str]: ...


class EventLog(Protocol):
    def append_many(self, items: Sequence[bytes]) -> list[int]: ...


class CertObjects(Protocol):
    def put(self, key: str, data: bytes) -> bool: ...

    def get(self, key: str) -> bytes: ...

    def exists(self, key: str) -> bool: ...


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
        raise KeyAlgorithmNotSupportedError(
            "the PKCS#11 key store cannot hold SM2 keys (SoftHSM2 has no SM2 mechanism): "
            "enrol under the standard profile (ECDSA P-256), or use the envelope key store "
            "(HUB_CLOUDSIGN_KEYS=envelope) for the national profile"
        )


@dataclass(frozen=True)
class Enrolment:
    credential_id: str
    otp_uri: str  # shown to the holder once, to add to an authenticator app
    certificate: x509.Certificate


@dataclass(frozen=True)
class Authorisation:
    sad: str
    expires_in: int


def _now_utc(clock: Callable[[], float]) -> dt.datetime:
    return dt.datetime.fromtimestamp(clock(), dt.UTC)


def _check_pin(pin: str) -> None:
    if not (pin.isdigit() and 6 <= len(pin) <= 12):
        raise InvalidRequestError("the PIN must be 6 to 12 digits")


def _sql(conn: Connection, sql: str, *params: Any) -> Any:
    """A hot-path statement straight to the driver (qmark or format placeholders).

    Building SQLAlchemy Core statements per call cost more than the database work on the
    authorise/sign path; these few fixed statements skip it.
    """
    if conn.dialect.paramstyle != "qmark":
        sql = sql.replace("?", "%s")
    return conn.exec_driver_sql(sql, tuple(params))


def hashes_root(digests: Sequence[bytes]) -> str:
    """SHA-256 over the sorted digests: one value naming the set an event concerns."""
    return hashlib.sha256(b"".join(sorted(digests))).hexdigest()


class CloudSignService:
    """CSC v2 operations over the credential store, with audit entries on the ledger."""

    def __init__(
        self,
        engine: Engine,
        keys: CaKeys,
        objects: CertObjects,
        ledger: EventLog,
        persons: PersonDirectory,
        backend: CredentialKeys | None = None,
        *,
        pin_params: envelope.PinParams | None = None,
        clock: Callable[[], float] = time.time,
        sad_ttl: int = 300,
        max_attempts: int = 5,
        multisign: int = 1000,
        cert_years: int = 3,
        audit_batch: int = 256,
        audit_interval: float = 0.5,
        crypto_profile: str = "standard",
    ) -> None:
        self.engine = engine
        self.crypto_profile = crypto_profile
        self._algorithms: dict[str, str] = {}  # credential -> key algorithm (certs never change)
        self.keys = keys
        self.objects = objects
        self.ledger = ledger
        self.persons = persons
        self._master = keys.secret(MASTER_KEY)
        self.backend: CredentialKeys = backend or EnvelopeKeys(self._master)
        self.pin_params = pin_params or envelope.PinParams()
        self.clock = clock
        self.sad_ttl = sad_ttl
        self.max_attempts = max_attempts
        self.multisign = multisign
        self.cert_years = cert_years
        self.audit_batch = audit_batch
        self.audit_interval = audit_interval
        self._unflushed = 0
        self._last_flush = float("-inf")
        self._flush_lock = threading.RLock()
        self._timer: threading.Timer | None = None
        store.metadata.create_all(engine)

    # ---- audit ------------------------------------------------------------------------
    def _audit_in(
        self,
        conn: Connection,
        event: str,
        credential_id: str,
        outcome: str,
        digests: Sequence[bytes] = (),
        **extra: Any,
    ) -> None:
        """Write one audit row in the caller's transaction (atomic with what it records).

        The row is an outbox entry: :meth:`flush_audit` appends its canonical JSON to the ledger
        in batches and stores the entry id, so the audit never disagrees with the state change
        and the ledger pays one transaction per batch, not per event.
        """
        record: dict[str, Any] = {
            "type": f"cloudsign.{event}",
            "credential": credential_id,
            "outcome": outcome,
            "at": _now_utc(self.clock).isoformat(timespec="milliseconds"),
            **extra,
        }
        root = hashes_root(digests) if digests else None
        if digests:
            record["hashes_root"] = root
            record["count"] = len(digests)
        data = canonical(record)
        _sql(
            conn,
            "INSERT INTO cloudsign_audit "
            "(credential_id, event, outcome, hashes_root, record, sha256) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            credential_id,
            event,
            outcome,
            root,
            data.decode(),
            hashlib.sha256(data).hexdigest(),
        )
        self._unflushed += 1

    def _audit(
        self,
        event: str,
        credential_id: str,
        outcome: str,
        digests: Sequence[bytes] = (),
        **extra: Any,
    ) -> None:
        with self.engine.begin() as conn:
            self._audit_in(conn, event, credential_id, outcome, digests, **extra)
        self._maybe_flush()

    def _maybe_flush(self) -> None:
        """Flush when a batch is full or the interval passed; else make sure a timer will."""
        due = time.monotonic() - self._last_flush >= self.audit_interval
        if due or self._unflushed >= self.audit_batch:
            self._flush_quietly()
            return
        with self._flush_lock:
            if self._timer is None or not self._timer.is_alive():
                self._timer = threading.Timer(self.audit_interval, self._flush_quietly)
                self._timer.daemon = True
                self._timer.start()

    def _flush_quietly(self) -> None:
        # the operation that triggered this is committed (its audit row included): a busy or
        # full ledger must not turn it into an error; the rows wait for the next flush
        try:
            self.flush_audit()
        except (LedgerError, SQLAlchemyError) as exc:
            log.warning("cloudsign audit rows not yet on the ledger, will retry: %s", exc)

    def flush_audit(self) -> int:
        """Append every audit row not yet on the ledger, oldest first, ``audit_batch`` rows per
        ledger transaction; returns how many were appended.

        Rows are durable before this runs: a crash between the two steps, or a full ledger
        queue, only delays their entries to the next flush (of any process); batches already
        appended keep their entry ids. Two processes flushing the very same rows at once may
        append a record twice; the row keeps the first entry id.
        """
        done = 0
        with self._flush_lock:
            with self.engine.connect() as conn:
                rows = conn.execute(
                    select(store.audit.c.id, store.audit.c.record)
                    .where(store.audit.c.entry_id.is_(None))
                    .order_by(store.audit.c.id)
                    .limit(10_000)
                ).all()
            for start in range(0, len(rows), self.audit_batch):
                batch = rows[start : start + self.audit_batch]
                entry_ids = self.ledger.append_many([r.record.encode() for r in batch])
                with self.engine.begin() as conn:
                    conn.execute(
                        update(store.audit)
                        .where(store.audit.c.id == bindparam("audit_id"))
                        .where(store.audit.c.entry_id.is_(None))
                        .values(entry_id=bindparam("entry")),
                        [
                            {"audit_id": r.id, "entry": e}
                            for r, e in zip(batch, entry_ids, strict=True)
                        ],
                    )
                done += len(batch)
            self._unflushed = 0
            self._last_flush = time.monotonic()
        self.erase_expired_sads()
        return done

    def _refuse(
        self,
        exc: CloudSignError,
        event: str,
        credential_id: str,
        digests: Sequence[bytes] = (),
        via: str = "local",
    ) -> CloudSignError:
        self._audit(
            event,
            credential_id,
            f"refused:{exc.code}",
            digests,
            reason=type(exc).__name__,
            via=via,
        )
        return exc

    def audit_trail(self, credential_id: str) -> list[dict[str, Any]]:
        """The audit rows of a credential, oldest first (records carry no personal data)."""
        self.flush_audit()
        stmt = (select(store.audit).where(store.audit.c.credential_id == credential_id)).order_by(
            store.audit.c.id
        )
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(stmt)]

    def audit_for_hash(self, digest: bytes) -> list[dict[str, Any]]:
        """Audit rows about exactly this one hash (a single-document authorisation/signature)."""
        self.flush_audit()
        stmt = select(store.audit).where(store.audit.c.hashes_root == hashes_root([digest]))
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(stmt.order_by(store.audit.c.id))]

    # ---- credentials ------------------------------------------------------------------
    def signing_ca(self) -> x509.Certificate:
        return ca.ensure_signing_ca(self.keys, self.objects)

    def chain(self) -> list[x509.Certificate]:
        """Signing CA then root: what a verifier needs besides the signer's certificate."""
        root = x509.load_pem_x509_certificate(self.objects.get(ca.ROOT_OBJECT))
        return [self.signing_ca(), root]

    def enrol(self, id_number: str, pin: str, profile: str | None = None) -> Enrolment:
        """Create a credential for a person of the population library, protected by ``pin``.

        ``profile`` (default: the service's ``crypto_profile``): "standard" makes an ECDSA
        P-256 key, "national" an SM2 key, both under the same envelope encryption and
        certified by the same signing CA with the same subject."""
        profile = profile or self.crypto_profile
        if profile not in PROFILES:
            raise InvalidRequestError(f"unknown profile {profile!r}: use one of {PROFILES}")
        _check_pin(pin)
        name = self.persons.names([id_number]).get(id_number)
        if name is None:
            raise NotInLibraryError(
                "no person with this ID number in the population library: "
                "credentials are issued only to registered residents"
            )
        sign_ca = self.signing_ca()
        credential_id = f"cs-{secrets.token_hex(10)}"
        salt = secrets.token_bytes(16)
        pin_secrets = envelope.derive_pin(self._master, credential_id, pin, salt, self.pin_params)
        sm2_point: bytes | None = None
        if profile == "national":
            create_sm2 = getattr(self.backend, "create_sm2", None)
            if create_sm2 is None:
                raise KeyAlgorithmNotSupportedError(
                    f"the {self.backend.name} key store cannot hold SM2 keys"
                )
            sm2_point, material = create_sm2(credential_id, pin_secrets.pin_key)
        else:
            public, material = self.backend.create(credential_id, pin_secrets.pin_key)
        try:
            now = _now_utc(self.clock)
            validity = (
                now - dt.timedelta(minutes=5),
                now + dt.timedelta(days=365 * self.cert_years),
            )
            if sm2_point is not None:
                cert = ca.issue_sm2_person_certificate(
                    self.keys, sign_ca, sm2_point, name, id_number, *validity
                )
            else:
                cert = ca.issue_person_certificate(
                    self.keys, sign_ca, public, name, id_number, *validity
                )
            otp_key = totp.new_secret()
            with self.engine.begin() as conn:
                conn.execute(
                    insert(store.credentials).values(
                        credential_id=credential_id,
                        id_number=id_number,
                        status="active",
                        backend=self.backend.name,
                        certificate=cert.public_bytes(serialization.Encoding.PEM).decode(),
                        pin_params=self.pin_params.encode(),
                        pin_salt=salt,
                        pin_verifier=pin_secrets.verifier,
                        failures=0,
                        otp_key=envelope.seal(
                            self._master, otp_key, f"otp|{credential_id}".encode()
                        ),
                        otp_last_step=-1,
                        key_material=material,
                        created_at=now.replace(tzinfo=None),
                    )
                )
                self._audit_in(
                    conn,
                    "enrol",
                    credential_id,
                    "ok",
                    certificate_serial=format(cert.serial_number, "x"),
                )
        except BaseException:
            # no half-made credential: a key without its row would be unusable forever
            self.backend.discard(credential_id)
            raise
        self._algorithms[credential_id] = signers.SM2_SM3 if sm2_point else signers.ECDSA_P256
        self._maybe_flush()
        account = ca.mask_id_number(id_number)
        return Enrolment(credential_id, totp.provisioning_uri(otp_key, account, ISSUER), cert)

    def list_credentials(self, id_number: str) -> list[str]:
        stmt = (
            select(store.credentials.c.credential_id)
            .where(store.credentials.c.id_number == id_number)
            .order_by(store.credentials.c.created_at)
        )
        with self.engine.connect() as conn:
            return [r for (r,) in conn.execute(stmt)]

    # ---- bindings: which API clients may act on a credential ------------------------------
    def bind(self, credential_id: str, client_id: str, by: str) -> None:
        """Let API client ``client_id`` (the holder's app or a signing service the holder chose)
        use the credential; ``by`` names who recorded it (an officer, or ``holder``)."""
        if not client_id or len(client_id) > 64:
            raise InvalidRequestError(f"invalid client id {client_id!r}")
        row = self._row(credential_id)
        if row.status == "revoked":
            raise CredentialLockedError(f"credential {credential_id} is revoked")
        with self.engine.begin() as conn:
            known = conn.execute(
                select(store.bindings.c.client_id).where(
                    and_(
                        store.bindings.c.credential_id == credential_id,
                        store.bindings.c.client_id == client_id,
                    )
                )
            ).first()
            if known is None:
                conn.execute(
                    insert(store.bindings).values(
                        credential_id=credential_id,
                        client_id=client_id,
                        created_at=_now_utc(self.clock).replace(tzinfo=None),
                        created_by=by[:64],
                    )
                )
                self._audit_in(conn, "bind", credential_id, "ok", client=client_id, by=by)
        self._maybe_flush()

    def unbind(self, credential_id: str, client_id: str, by: str) -> bool:
        """Withdraw a client's use of the credential; False if it was not bound."""
        with self.engine.begin() as conn:
            gone = conn.execute(
                delete(store.bindings).where(
                    and_(
                        store.bindings.c.credential_id == credential_id,
                        store.bindings.c.client_id == client_id,
                    )
                )
            ).rowcount
            if gone:
                self._audit_in(conn, "unbind", credential_id, "ok", client=client_id, by=by)
        self._maybe_flush()
        return bool(gone)

    def bound_clients(self, credential_id: str) -> list[str]:
        stmt = select(store.bindings.c.client_id).where(
            store.bindings.c.credential_id == credential_id
        )
        with self.engine.connect() as conn:
            return sorted(r for (r,) in conn.execute(stmt))

    def holder_if_bound(self, credential_id: str, client_id: str) -> tuple[str | None, bool]:
        """The credential's holder (None if there is no such credential) and whether
        ``client_id`` is bound to it: one query, so a refusal costs what an answer does."""
        with self.engine.connect() as conn:
            row = _sql(
                conn,
                "SELECT c.id_number, b.client_id FROM cloudsign_credentials c "
                "LEFT JOIN cloudsign_bindings b "
                "ON b.credential_id = c.credential_id AND b.client_id = ? "
                "WHERE c.credential_id = ?",
                client_id,
                credential_id,
            ).first()
        if row is None:
            return None, False
        return str(row.id_number), row.client_id is not None

    def bound_credentials(self, id_number: str, client_id: str) -> list[str]:
        """The holder's credentials that ``client_id`` is bound to, oldest first."""
        c, b = store.credentials, store.bindings
        stmt = (
            select(c.c.credential_id)
            .join(b, b.c.credential_id == c.c.credential_id)
            .where(and_(c.c.id_number == id_number, b.c.client_id == client_id))
            .order_by(c.c.created_at)
        )
        with self.engine.connect() as conn:
            return [r for (r,) in conn.execute(stmt)]

    def _row(self, credential_id: str) -> Any:
        with self.engine.connect() as conn:
            row = _sql(
                conn, "SELECT * FROM cloudsign_credentials WHERE credential_id = ?", credential_id
            ).first()
        if row is None:
            raise UnknownCredentialError(f"no credential {credential_id!r}")
        return row

    def certificate(self, credential_id: str) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self._row(credential_id).certificate.encode())

    def key_algorithm(self, credential_id: str, row: Any = None) -> str:
        """``signers.ECDSA_P256`` or ``signers.SM2_SM3``: read from the credential's certificate
        (no schema change; certificates never change, so it is remembered)."""
        algorithm = self._algorithms.get(credential_id)
        if algorithm is None:
            row = row if row is not None else self._row(credential_id)
            cert = x509.load_pem_x509_certificate(row.certificate.encode())
            algorithm = signers.certificate_key(cert)[0]
            self._algorithms[credential_id] = algorithm
        return algorithm

    def info(self, credential_id: str, via: str = "local") -> dict[str, Any]:
        """``credentials/info`` (CSC v2): key, certificate chain and authorisation objects, as
        client ``via`` sees them (its own remaining attempts and lock)."""
        row = self._row(credential_id)
        usable = row.status == "active" and not self._locked_for(credential_id, via)
        cert = x509.load_pem_x509_certificate(row.certificate.encode())
        chain = [cert, *self.chain()]
        key: dict[str, Any] = {
            "status": "enabled" if usable else "disabled",
            "algo": [ECDSA_SHA256_OID, EC_PUBLIC_KEY_OID],
            "len": 256,
            "curve": P256_OID,
        }
        if self.key_algorithm(credential_id, row) == signers.SM2_SM3:
            key.update(algo=[SM2_SM3_OID, SM2_KEY_OID], curve=SM2_KEY_OID)

        def b64(c: x509.Certificate) -> str:
            import base64

            return base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode()

        return {
            "description": "个人电子云签 personal cloud signature",
            "key": key,
            "cert": {
                "status": "valid",
                "certificates": [b64(c) for c in chain],
                "issuerDN": cert.issuer.rfc4514_string(),
                "serialNumber": format(cert.serial_number, "x"),
                "subjectDN": cert.subject.rfc4514_string(),
                "validFrom": cert.not_valid_before_utc.strftime("%Y%m%d%H%M%SZ"),
                "validTo": cert.not_valid_after_utc.strftime("%Y%m%d%H%M%SZ"),
            },
            "auth": {
                "mode": "explicit",
                "objects": [
                    {"type": "Password", "id": "PIN", "format": "N", "label": "PIN"},
                    {"type": "Password", "id": "OTP", "format": "N", "generator": "totp"},
                ],
            },
            "SCAL": "SCAL2",
            "multisign": self.multisign,
            "lang": "zh-CN",
            "status": row.status if row.status != "active" or usable else "locked",
            "remainingAttempts": self.remaining_attempts(credential_id, via),
        }

    def unlock(self, credential_id: str, officer: str) -> None:
        """Reset a locked credential after the holder proved their identity in person."""
        if self._row(credential_id).status == "revoked":
            raise CredentialLockedError(
                f"credential {credential_id} is revoked for good: enrol again for a new one"
            )
        with self.engine.begin() as conn:
            conn.execute(
                update(store.credentials)
                .where(store.credentials.c.credential_id == credential_id)
                .values(status="active", failures=0)
            )
            conn.execute(
                delete(store.attempts).where(store.attempts.c.credential_id == credential_id)
            )
            self._audit_in(conn, "unlock", credential_id, "ok", officer=officer)
        self._maybe_flush()

    # ---- authorise --------------------------------------------------------------------
    def _check_hashes(
        self, digests: Sequence[bytes], hash_algo: str, credential_id: str | None = None
    ) -> None:
        if hash_algo not in (SHA256_OID, SM3_OID):
            raise InvalidRequestError(
                f"hash algorithm {hash_algo} not supported; use SHA-256 ({SHA256_OID})"
            )
        if not digests:
            raise InvalidRequestError("no hashes given")
        if len(digests) > self.multisign:
            raise InvalidRequestError(
                f"{len(digests)} hashes exceed the {self.multisign} allowed per authorisation"
            )
        name = "SHA-256" if hash_algo == SHA256_OID else "SM3"
        for i, d in enumerate(digests):
            if len(d) != 32:
                raise InvalidRequestError(f"hash {i} is {len(d)} bytes; {name} gives 32")
        if credential_id is not None:
            sm2 = self.key_algorithm(credential_id) == signers.SM2_SM3
            if sm2 and hash_algo != SM3_OID:
                raise HashAlgorithmMismatchError(
                    f"credential {credential_id} holds an SM2 key: hashAlgorithmOID must be SM3 "
                    f"({SM3_OID}) and each hash e = SM3(Z‖M) with the default signer ID"
                )
            if not sm2 and hash_algo != SHA256_OID:
                raise HashAlgorithmMismatchError(
                    f"credential {credential_id} holds an ECDSA P-256 key: hashAlgorithmOID "
                    f"must be SHA-256 ({SHA256_OID})"
                )

    def _fail_attempt(
        self,
        credential_id: str,
        exc_type: type[CloudSignError],
        what: str,
        event: str,
        via: str,
        digests: Sequence[bytes] = (),
    ) -> NoReturn:
        """Count a failed PIN/OTP for (credential, client ``via``); that client's
        ``max_attempts``-th consecutive failure locks the credential for it (other bound
        clients, e.g. the holder's own app, keep theirs), and the lock's audit names it."""
        attempts = store.attempts
        pair = and_(attempts.c.credential_id == credential_id, attempts.c.client_id == via)
        with self.engine.begin() as conn:
            counted = conn.execute(
                update(attempts).where(pair).values(failures=attempts.c.failures + 1)
            ).rowcount
            if counted == 0:
                try:
                    with conn.begin_nested():
                        conn.execute(
                            insert(attempts).values(
                                credential_id=credential_id, client_id=via, failures=1, locked=False
                            )
                        )
                except IntegrityError:  # a concurrent first failure of the same pair
                    conn.execute(
                        update(attempts).where(pair).values(failures=attempts.c.failures + 1)
                    )
            failures = conn.execute(select(attempts.c.failures).where(pair)).scalar_one()
            if failures >= self.max_attempts:
                conn.execute(update(attempts).where(pair).values(locked=True))
        left = max(0, self.max_attempts - failures)
        suffix = (
            f"{left} attempt(s) left"
            if left
            else "the credential is now locked; ask the service desk to reset it"
        )
        exc = exc_type(f"wrong {what}: {suffix}")
        if not left:
            log.warning(
                "cloudsign credential %s locked for client %s after %d failures",
                credential_id,
                via,
                failures,
            )
            self._audit("lock", credential_id, "locked", reason=exc_type.__name__, via=via)
        raise self._refuse(exc, event, credential_id, digests, via=via)

    def _locked_for(self, credential_id: str, via: str) -> bool:
        """True if client ``via`` used up its PIN/OTP attempts on this credential."""
        with self.engine.connect() as conn:
            row = _sql(
                conn,
                "SELECT locked FROM cloudsign_attempts WHERE credential_id = ? AND client_id = ?",
                credential_id,
                via,
            ).first()
        return bool(row is not None and row.locked)

    def remaining_attempts(self, credential_id: str, via: str = "local") -> int:
        with self.engine.connect() as conn:
            row = _sql(
                conn,
                "SELECT failures FROM cloudsign_attempts WHERE credential_id = ? AND client_id = ?",
                credential_id,
                via,
            ).first()
        return max(0, self.max_attempts - (row.failures if row is not None else 0))

    def _authenticate(
        self,
        credential_id: str,
        pin: str,
        otp: str,
        event: str,
        digests: Sequence[bytes] = (),
        via: str = "local",
    ) -> tuple[envelope.PinSecrets, int]:
        """Check PIN then OTP (each failure counts towards client ``via``'s lock); the PIN
        secrets and the OTP's time step, which the caller must claim atomically with what it
        does."""
        row = self._row(credential_id)
        if row.status == "active" and self._locked_for(credential_id, via):
            raise self._refuse(
                CredentialLockedError(
                    f"credential {credential_id} is locked for this client after "
                    f"{self.max_attempts} wrong attempts: ask the service desk to reset it"
                ),
                event,
                credential_id,
                digests,
                via=via,
            )
        if row.status != "active":
            advice = (
                "enrol again for a new credential"
                if row.status == "revoked"
                else "ask the service desk to reset it"
            )
            raise self._refuse(
                CredentialLockedError(f"credential {credential_id} is {row.status}: {advice}"),
                event,
                credential_id,
                digests,
                via=via,
            )
        params = envelope.PinParams.decode(row.pin_params)
        candidate = envelope.derive_pin(self._master, credential_id, pin, row.pin_salt, params)
        if not envelope.pin_matches(row.pin_verifier, candidate):
            self._fail_attempt(credential_id, WrongPINError, "PIN", event, via, digests)
        otp_key = envelope.open_sealed(
            self._master, row.otp_key, f"otp|{credential_id}".encode(), "OTP key"
        )
        step = totp.match_step(otp_key, otp.strip(), self.clock())
        if step is None or step <= row.otp_last_step:
            self._fail_attempt(
                credential_id,
                WrongOTPError,
                "one-time password" if step is None else "one-time password (already used)",
                event,
                via,
                digests,
            )
        return candidate, step

    def change_pin(
        self, credential_id: str, pin: str, otp: str, new_pin: str, via: str = "local"
    ) -> None:
        """The holder replaces their PIN (old PIN + OTP); outstanding SADs become void."""
        _check_pin(new_pin)
        old, step = self._authenticate(credential_id, pin, otp, "pin-change", via=via)
        row = self._row(credential_id)
        salt = secrets.token_bytes(16)
        new = envelope.derive_pin(self._master, credential_id, new_pin, salt, self.pin_params)
        try:
            material = self.backend.rewrap(
                credential_id, row.key_material, old.pin_key, new.pin_key
            )
        except KeyUnavailableError as exc:
            raise self._refuse(exc, "pin-change", credential_id) from None
        with self.engine.begin() as conn:
            taken = _sql(
                conn,
                "UPDATE cloudsign_credentials SET pin_params = ?, pin_salt = ?, "
                "pin_verifier = ?, key_material = ?, otp_last_step = ?, failures = 0 "
                "WHERE credential_id = ? AND otp_last_step < ?",
                self.pin_params.encode(),
                salt,
                new.verifier,
                material,
                step,
                credential_id,
                step,
            ).rowcount
            if taken != 1:
                raise WrongOTPError("wrong one-time password (already used)")
            _sql(conn, "DELETE FROM cloudsign_attempts WHERE credential_id = ?", credential_id)
            _sql(
                conn,
                "UPDATE cloudsign_sads SET used = ?, sealed_pin_key = ? "
                "WHERE credential_id = ? AND used = ?",
                True,
                b"",
                credential_id,
                False,
            )
            self._audit_in(conn, "pin-change", credential_id, "ok")
        self._maybe_flush()

    def revoke(self, credential_id: str, officer: str, reason: str) -> None:
        """End a credential for good (forgotten PIN, lost phone, death): key destroyed."""
        row = self._row(credential_id)
        if row.status == "revoked":
            return
        with self.engine.begin() as conn:
            _sql(
                conn,
                "UPDATE cloudsign_credentials SET status = ?, key_material = ? "
                "WHERE credential_id = ?",
                "revoked",
                b"",
                credential_id,
            )
            self._audit_in(conn, "revoke", credential_id, "ok", officer=officer, reason=reason)
        self.backend.discard(credential_id)
        self._maybe_flush()

    def authorize(
        self,
        credential_id: str,
        pin: str,
        otp: str,
        digests: Sequence[bytes],
        hash_algo: str = SHA256_OID,
        via: str = "local",
    ) -> Authorisation:
        """PIN + OTP + the exact hashes → a single-use SAD valid for ``sad_ttl`` seconds.

        ``via`` names the front end (API client id) that relayed the request, for the audit.
        """
        self._check_hashes(digests, hash_algo, credential_id)
        candidate, step = self._authenticate(credential_id, pin, otp, "authorise", digests, via=via)
        sad = secrets.token_urlsafe(32)
        sad_id = envelope.sad_hash(sad)
        with self.engine.begin() as conn:
            # single acceptance of an OTP (RFC 6238 §5.2), race-free across processes
            taken = _sql(
                conn,
                "UPDATE cloudsign_credentials SET otp_last_step = ?, failures = 0 "
                "WHERE credential_id = ? AND otp_last_step < ?",
                step,
                credential_id,
                step,
            ).rowcount
            if taken != 1:
                raise WrongOTPError("wrong one-time password (already used)")
            _sql(
                conn,
                "DELETE FROM cloudsign_attempts WHERE credential_id = ? AND client_id = ?",
                credential_id,
                via,
            )
            _sql(
                conn,
                "INSERT INTO cloudsign_sads "
                "(sad_hash, credential_id, hashes, expires_at, used, sealed_pin_key) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                sad_id,
                credential_id,
                ",".join(sorted(d.hex() for d in digests)),
                self.clock() + self.sad_ttl,
                False,
                envelope.seal(envelope.sad_key(sad), candidate.pin_key, _sad_context(sad_id, via)),
            )
            self._audit_in(
                conn, "authorise", credential_id, "ok", digests, sad=sad_id[:16], via=via
            )
        self._maybe_flush()
        return Authorisation(sad, self.sad_ttl)

    # ---- sign -------------------------------------------------------------------------
    def sign_hash(
        self,
        credential_id: str,
        sad: str | None,
        digests: Sequence[bytes],
        hash_algo: str = SHA256_OID,
        sign_algo: str = ECDSA_SHA256_OID,
        via: str = "local",
    ) -> list[bytes]:
        """``signatures/signHash``: consume the SAD and sign exactly the authorised hashes."""
        if sign_algo not in (ECDSA_SHA256_OID, EC_PUBLIC_KEY_OID, SM2_SM3_OID, SM2_KEY_OID):
            raise InvalidRequestError(f"signature algorithm {sign_algo} not supported")
        self._check_hashes(digests, hash_algo, credential_id)
        row = self._row(credential_id)
        sm2 = self.key_algorithm(credential_id, row) == signers.SM2_SM3
        if sm2 != (sign_algo in (SM2_SM3_OID, SM2_KEY_OID)):
            expected = SM2_SM3_OID if sm2 else ECDSA_SHA256_OID
            raise HashAlgorithmMismatchError(
                f"signature algorithm {sign_algo} does not fit credential {credential_id}: "
                f"use {expected}"
            )
        if not sad:
            raise self._refuse(
                MissingSADError("no SAD: authorise the hashes first (credentials/authorize)"),
                "sign",
                credential_id,
                digests,
                via=via,
            )
        sad_id = envelope.sad_hash(sad)
        with self.engine.connect() as conn:
            grant = _sql(conn, "SELECT * FROM cloudsign_sads WHERE sad_hash = ?", sad_id).first()
        if grant is None or grant.credential_id != credential_id:
            raise self._refuse(
                InvalidSADError("unknown SAD for this credential"),
                "sign",
                credential_id,
                digests,
                via=via,
            )
        if grant.used:
            raise self._refuse(
                SADReusedError("this SAD was already used: authorise again"),
                "sign",
                credential_id,
                digests,
                via=via,
            )
        problem: CloudSignError | None = None
        if self.clock() > grant.expires_at:
            problem = SADExpiredError(f"the SAD expired ({self.sad_ttl} s after authorisation)")
        elif sorted(d.hex() for d in digests) != grant.hashes.split(","):
            problem = HashNotAuthorisedError(
                "these hashes are not the ones the SAD authorised; the SAD is now void"
            )
        elif row.status != "active":
            problem = CredentialLockedError(f"credential {credential_id} is {row.status}")
        else:
            try:
                # the PIN key is sealed to (SAD, client): a SAD authorised through one
                # front end activates nothing when another front end presents it
                pin_key = envelope.open_sealed(
                    envelope.sad_key(sad), grant.sealed_pin_key, _sad_context(sad_id, via), "SAD"
                )
            except envelope.EnvelopeError:
                pin_key = None
                problem = InvalidSADError("this SAD was not authorised through this client")
        if problem is None and pin_key is not None:
            try:
                if sm2:
                    sign = self.backend.sm2_signer(  # type: ignore[attr-defined]
                        credential_id, row.key_material, pin_key
                    )
                else:
                    sign = self.backend.signer(credential_id, row.key_material, pin_key)
            except (envelope.EnvelopeError, KeyUnavailableError) as exc:
                problem = KeyUnavailableError(f"the key cannot be activated with this SAD: {exc}")
        if problem is not None:
            # a SAD presented late, with other hashes or that activates nothing is burnt
            self._consume(sad_id)
            raise self._refuse(problem, "sign", credential_id, digests, via=via)
        signatures = [sign(d) for d in digests]
        # the SAD is consumed and the signature audited in one transaction; signatures are
        # released only if this request is the one that consumed it
        with self.engine.begin() as conn:
            if self._consume(sad_id, conn):
                self._audit_in(
                    conn,
                    "sign",
                    credential_id,
                    "ok",
                    digests,
                    sad=sad_id[:16],
                    via=via,
                    signatures_sha256=hashlib.sha256(b"".join(signatures)).hexdigest(),
                )
                consumed = True
            else:
                consumed = False
        if not consumed:
            raise self._refuse(
                SADReusedError("this SAD was already used: authorise again"),
                "sign",
                credential_id,
                digests,
                via=via,
            )
        self._maybe_flush()
        return signatures

    def _consume(self, sad_id: str, conn: Connection | None = None) -> bool:
        """Mark a SAD used and erase its sealed PIN key; True only for the caller that did it.

        The row stays (so a second presentation is told "already used"), its key material not.
        """
        sql = (
            "UPDATE cloudsign_sads SET used = ?, sealed_pin_key = ? WHERE sad_hash = ? AND used = ?"
        )
        if conn is not None:
            return bool(_sql(conn, sql, True, b"", sad_id, False).rowcount == 1)
        with self.engine.begin() as own:
            return bool(_sql(own, sql, True, b"", sad_id, False).rowcount == 1)

    def erase_expired_sads(self) -> int:
        """Erase the sealed PIN key of every expired SAD (run with each audit flush)."""
        with self.engine.begin() as conn:
            return int(
                _sql(
                    conn,
                    "UPDATE cloudsign_sads SET sealed_pin_key = ? "
                    "WHERE expires_at < ? AND length(sealed_pin_key) > 0",
                    b"",
                    self.clock(),
                ).rowcount
            )


def open_cloudsign(settings: Any, backend: CredentialKeys | None = None) -> CloudSignService:
    """The service wired to the embedded (or configured) stores, library and ledger."""
    from ledger.service import LedgerService
    from licence.status_snapshot import status_snapshot
    from storage.keys import EncryptedFileKeyStore
    from storage.library import LibraryStore, engine_for
    from storage.objects import object_store

    settings.ensure_dirs()
    engine = engine_for(settings.db_url)
    keys = EncryptedFileKeyStore(settings.keys_path, settings.key_passphrase)
    ledger = LedgerService.open(settings)
    ledger.add_snapshot_source(status_snapshot)  # its checkpoints commit the status lists too
    return CloudSignService(
        engine,
        keys,
        object_store(settings),
        ledger,
        LibraryStore(engine),
        backend or backend_for(settings, keys),
        crypto_profile=settings.crypto_profile,
    )


def backend_for(settings: Any, keys: CaKeys) -> CredentialKeys | None:
    """The key back end ``settings.cloudsign_keys`` selects (None: the default envelopes)."""
    if settings.cloudsign_keys != "pkcs11":
        return None
    from storage.pkcs11 import Pkcs11Token

    token = Pkcs11Token(settings.pkcs11_module, settings.pkcs11_token, settings.pkcs11_pin)
    return Pkcs11Keys(token, keys.secret(MASTER_KEY))


def _sad_context(sad_id: str, via: str) -> bytes:
    """What a SAD's sealed PIN key is bound to: the SAD itself and the client (front end) that
    relayed its authorisation, so only that client can spend it."""
    return f"{sad_id}\x00{via}".encode()
