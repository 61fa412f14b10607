"""The cloud-signature service: authorise (PIN + TOTP → SAD) and signHash, over its credentials.

The service class gathers its halves: :mod:`.credentials` (enrol, bindings, info, unlock, PIN
change, revoke) and :mod:`.audit` (audit rows, batched onto the ledger); key back ends live in
:mod:`.keys`, algorithm identifiers in :mod:`.oids`.

Sole control (EN 419 241-1): a signature happens only inside :meth:`CloudSignService.sign_hash`,
which needs a SAD that the holder obtained with their PIN and a fresh OTP, bound to exactly the
hashes presented, used at most once and within ``sad_ttl`` seconds. The PIN key travels inside the
SAD's encryption (see :mod:`.envelope`), so the database alone cannot mint one. Every
authorisation, signature and refusal is an audit row whose canonical JSON is a ledger entry.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NoReturn

from sqlalchemy import Connection, Engine, and_, insert, select, update
from sqlalchemy.exc import IntegrityError

from licence import signers
from licence.cloudsign import envelope, store, totp
from licence.cloudsign.audit import EventLog
from licence.cloudsign.credentials import (
    CertObjects,
    CredentialLifecycle,
    PersonDirectory,
)
from licence.cloudsign.errors import (
    CloudSignError,
    CredentialLockedError,
    HashAlgorithmMismatchError,
    HashNotAuthorisedError,
    InvalidRequestError,
    InvalidSADError,
    KeyUnavailableError,
    MissingSADError,
    SADExpiredError,
    SADReusedError,
    UnknownCredentialError,
    WrongOTPError,
    WrongPINError,
)
from licence.cloudsign.keys import MASTER_KEY, CaKeys, CredentialKeys, EnvelopeKeys
from licence.cloudsign.oids import (
    EC_PUBLIC_KEY_OID,
    ECDSA_SHA256_OID,
    SHA256_OID,
    SM2_KEY_OID,
    SM2_SM3_OID,
    SM3_OID,
)
from licence.cloudsign.store import driver_sql, take_otp_step

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Authorisation:
    sad: str
    expires_in: int


class CloudSignService(CredentialLifecycle):
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
        ltv_url: str = "",
    ) -> None:
        self.engine = engine
        self.crypto_profile = crypto_profile
        # the TSA/OCSP/CRL service (licence.ltv) new certificates name; "" = none
        self.ltv_url = ltv_url
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
            row = driver_sql(
                conn,
                "SELECT locked FROM cloudsign_attempts WHERE credential_id = ? AND client_id = ?",
                credential_id,
                via,
            ).first()
        return bool(row is not None and row.locked)

    def remaining_attempts(self, credential_id: str, via: str = "local") -> int:
        with self.engine.connect() as conn:
            row = driver_sql(
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
            if not take_otp_step(conn, credential_id, step):
                raise WrongOTPError("wrong one-time password (already used)")
            driver_sql(
                conn,
                "DELETE FROM cloudsign_attempts WHERE credential_id = ? AND client_id = ?",
                credential_id,
                via,
            )
            driver_sql(
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

    def sign_in(self, id_number: str, pin: str, otp: str, via: str) -> str:
        """The holder proves control of their credential (PIN + a fresh OTP) without signing:
        what signing in to the holder's pages takes. The same checks, attempt counting per
        client ``via``, lock and audit as :meth:`authorize`; the OTP's step is used up.
        Returns the credential used (the newest one not revoked); UnknownCredentialError if
        the person holds none."""
        found = None
        with self.engine.connect() as conn:
            for row in driver_sql(
                conn,
                "SELECT credential_id, status FROM cloudsign_credentials "
                "WHERE id_number = ? ORDER BY created_at DESC",
                id_number,
            ):
                if found is None or (found[1] == "revoked" and row.status != "revoked"):
                    found = (str(row.credential_id), str(row.status))
        if found is None:
            raise UnknownCredentialError("no cloud-signature credential for this person")
        credential_id = found[0]
        _, step = self._authenticate(credential_id, pin, otp, "sign-in", via=via)
        with self.engine.begin() as conn:
            if not take_otp_step(conn, credential_id, step):
                raise self._refuse(
                    WrongOTPError("wrong one-time password (already used)"),
                    "sign-in",
                    credential_id,
                    via=via,
                )
            driver_sql(
                conn,
                "DELETE FROM cloudsign_attempts WHERE credential_id = ? AND client_id = ?",
                credential_id,
                via,
            )
            self._audit_in(conn, "sign-in", credential_id, "ok", via=via)
        self._maybe_flush()
        return credential_id

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
            grant = driver_sql(
                conn, "SELECT * FROM cloudsign_sads WHERE sad_hash = ?", sad_id
            ).first()
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
                    sign = self.backend.sm2_signer(credential_id, row.key_material, pin_key)
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
            return bool(driver_sql(conn, sql, True, b"", sad_id, False).rowcount == 1)
        with self.engine.begin() as own:
            return bool(driver_sql(own, sql, True, b"", sad_id, False).rowcount == 1)

    def erase_expired_sads(self) -> int:
        """Erase the sealed PIN key of every expired SAD (run with each audit flush)."""
        with self.engine.begin() as conn:
            return int(
                driver_sql(
                    conn,
                    "UPDATE cloudsign_sads SET sealed_pin_key = ? "
                    "WHERE expires_at < ? AND length(sealed_pin_key) > 0",
                    b"",
                    self.clock(),
                ).rowcount
            )


def _sad_context(sad_id: str, via: str) -> bytes:
    """What a SAD's sealed PIN key is bound to: the SAD itself and the client (front end) that
    relayed its authorisation, so only that client can spend it."""
    return f"{sad_id}\x00{via}".encode()
