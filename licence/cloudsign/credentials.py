"""Credential lifecycle of the cloud-signature service: enrol, bind, info, unlock, PIN, revoke.

The base of :class:`licence.cloudsign.service.CloudSignService`, which sets the attributes
declared here and implements the authentication these operations share with authorisation
(``_authenticate``, ``_locked_for``, ``remaining_attempts``).
"""

from __future__ import annotations

import datetime as dt
import secrets
from abc import abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import and_, delete, insert, select, update

from licence import ca, ltv, signers
from licence.cloudsign import envelope, store, totp
from licence.cloudsign.audit import CloudSignAudit
from licence.cloudsign.errors import (
    CredentialLockedError,
    InvalidRequestError,
    KeyUnavailableError,
    NotInLibraryError,
    UnknownCredentialError,
    WrongOTPError,
)
from licence.cloudsign.keys import CaKeys, CredentialKeys
from licence.cloudsign.oids import (
    EC_PUBLIC_KEY_OID,
    ECDSA_SHA256_OID,
    P256_OID,
    SM2_KEY_OID,
    SM2_SM3_OID,
)
from licence.cloudsign.store import driver_sql, now_utc, take_otp_step

PROFILES = ("standard", "national")
ISSUER = "省级政务服务平台 Cloud Signature"


class PersonDirectory(Protocol):
    """The population library as seen from here: the golden name per resident ID."""

    def names(self, id_numbers: Iterable[str]) -> dict[str, str]: ...


class CertObjects(Protocol):
    def put(self, key: str, data: bytes) -> bool: ...

    def get(self, key: str) -> bytes: ...

    def exists(self, key: str) -> bool: ...


@dataclass(frozen=True)
class Enrolment:
    credential_id: str
    otp_uri: str  # shown to the holder once, to add to an authenticator app
    certificate: x509.Certificate


def check_pin(pin: str) -> None:
    if not (pin.isdigit() and 6 <= len(pin) <= 12):
        raise InvalidRequestError("the PIN must be 6 to 12 digits")


class CredentialLifecycle(CloudSignAudit):
    """The credential half of the cloud-signature service (its audit is the base's)."""

    keys: CaKeys
    objects: CertObjects
    persons: PersonDirectory
    backend: CredentialKeys
    pin_params: envelope.PinParams
    crypto_profile: str  # "standard" (P-256) or "national" (SM2)
    ltv_url: str  # the TSA/OCSP/CRL service certificates name ("" = none)
    cert_years: int
    multisign: int  # signatures one SAD may authorise
    _master: bytes
    _algorithms: dict[str, str]  # credential -> key algorithm (certificates never change)

    @abstractmethod
    def _locked_for(self, credential_id: str, via: str) -> bool:
        """True if client ``via`` used up its PIN/OTP attempts on this credential."""

    @abstractmethod
    def remaining_attempts(self, credential_id: str, via: str = "local") -> int:
        """PIN/OTP attempts client ``via`` has left on this credential."""

    @abstractmethod
    def _authenticate(
        self,
        credential_id: str,
        pin: str,
        otp: str,
        event: str,
        digests: Sequence[bytes] = (),
        via: str = "local",
    ) -> tuple[envelope.PinSecrets, int]:
        """Check PIN then OTP; the PIN secrets and the OTP's time step."""

    def signing_ca(self) -> x509.Certificate:
        return ca.ensure_signing_ca(self.keys, self.objects, crl_url=ltv.root_crl_url(self.ltv_url))

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
        check_pin(pin)
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
            sm2_point, material = self.backend.create_sm2(credential_id, pin_secrets.pin_key)
        else:
            public, material = self.backend.create(credential_id, pin_secrets.pin_key)
        revocation = ltv.person_revocation_urls(self.ltv_url)
        try:
            now = now_utc(self.clock)
            validity = (
                now - dt.timedelta(minutes=5),
                now + dt.timedelta(days=365 * self.cert_years),
            )
            if sm2_point is not None:
                cert = ca.issue_sm2_person_certificate(
                    self.keys, sign_ca, sm2_point, name, id_number, *validity, revocation
                )
            else:
                cert = ca.issue_person_certificate(
                    self.keys, sign_ca, public, name, id_number, *validity, revocation
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
                        created_at=now_utc(self.clock).replace(tzinfo=None),
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
            row = driver_sql(
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
            row = driver_sql(
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

    def change_pin(
        self, credential_id: str, pin: str, otp: str, new_pin: str, via: str = "local"
    ) -> None:
        """The holder replaces their PIN (old PIN + OTP); outstanding SADs become void."""
        check_pin(new_pin)
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
            pin_columns = {
                "pin_params": self.pin_params.encode(),
                "pin_salt": salt,
                "pin_verifier": new.verifier,
                "key_material": material,
            }
            if not take_otp_step(conn, credential_id, step, pin_columns):
                raise WrongOTPError("wrong one-time password (already used)")
            driver_sql(
                conn, "DELETE FROM cloudsign_attempts WHERE credential_id = ?", credential_id
            )
            driver_sql(
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
            driver_sql(
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
