"""SQL tables of the cloud-signature service: credentials, SADs (by hash only) and the audit trail.

Nothing here is usable without the holder: private keys are envelopes (see :mod:`.envelope`), the
OTP key is encrypted under the master key, and a SAD row holds the PIN key encrypted under the SAD,
which only the client has.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    DateTime,
    Float,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

credentials = Table(
    "cloudsign_credentials",
    metadata,
    Column("credential_id", String(40), primary_key=True),
    # personal data: used to list a person's credentials, never logged or put in the ledger
    Column("id_number", String(18), nullable=False, index=True),
    Column("status", String(16), nullable=False),  # active | locked | revoked
    Column("backend", String(16), nullable=False),  # envelope | pkcs11
    Column("certificate", Text, nullable=False),  # PEM
    Column("pin_params", String(64), nullable=False),
    Column("pin_salt", LargeBinary, nullable=False),
    Column("pin_verifier", LargeBinary, nullable=False),
    Column("failures", Integer, nullable=False, default=0),
    Column("otp_key", LargeBinary, nullable=False),  # sealed under the master key
    Column("otp_last_step", Integer, nullable=False, default=-1),
    Column("key_material", LargeBinary, nullable=False),  # envelope, or PKCS#11 binding tag
    Column("created_at", DateTime, nullable=False),
)

sads = Table(
    "cloudsign_sads",
    metadata,
    Column("sad_hash", String(64), primary_key=True),
    Column("credential_id", String(40), nullable=False),
    Column("hashes", Text, nullable=False),  # sorted hex digests, comma-separated
    Column("expires_at", Float, nullable=False),
    Column("used", Boolean, nullable=False, default=False),
    Column("sealed_pin_key", LargeBinary, nullable=False),
)

audit = Table(
    "cloudsign_audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("credential_id", String(40), nullable=False, index=True),
    Column("event", String(24), nullable=False),
    Column("outcome", String(32), nullable=False),
    # SHA-256 over the sorted hashes the event concerns: finds the trail of a signed document
    Column("hashes_root", String(64), nullable=True, index=True),
    Column("record", Text, nullable=False),  # canonical JSON, exactly the ledger entry's data
    Column("sha256", String(64), nullable=False, index=True),
    Column("entry_id", Integer, nullable=True),  # ledger entry id
)

# which API clients may act on a credential: the holder's own app or a signing service the holder
# enrolled with (``hub cloudsign enrol --client``, ``hub cloudsign bind``); no other client can
# list, read, authorise or sign with it, nor spend its PIN attempts
bindings = Table(
    "cloudsign_bindings",
    metadata,
    Column("credential_id", String(40), primary_key=True),
    Column("client_id", String(64), primary_key=True),
    Column("created_at", DateTime, nullable=False),
    Column("created_by", String(64), nullable=False),  # officer, or "holder" (PIN + OTP)
)

# wrong PIN/OTP attempts per (credential, client): one client exhausting its attempts locks the
# credential for itself only, and the lock names it
attempts = Table(
    "cloudsign_attempts",
    metadata,
    Column("credential_id", String(40), primary_key=True),
    Column("client_id", String(64), primary_key=True),
    Column("failures", Integer, nullable=False, default=0),
    Column("locked", Boolean, nullable=False, default=False),
)


def now_utc(clock: Callable[[], float]) -> dt.datetime:
    """The time ``clock`` (seconds since the epoch) says, in UTC."""
    return dt.datetime.fromtimestamp(clock(), dt.UTC)


def take_otp_step(
    conn: Connection, credential_id: str, step: int, also: dict[str, Any] | None = None
) -> bool:
    """Accept an OTP time step once (RFC 6238 §5.2), race-free across processes: the
    credential's last accepted step moves to ``step`` only if it was below it, failures reset,
    and the columns of ``also`` (fixed names from the caller) change in the same statement.
    False when another request took this step (or a later one) first."""
    sets = "".join(f"{name} = ?, " for name in also or {})
    return bool(
        driver_sql(
            conn,
            f"UPDATE cloudsign_credentials SET {sets}otp_last_step = ?, failures = 0 "
            "WHERE credential_id = ? AND otp_last_step < ?",
            *(also or {}).values(),
            step,
            credential_id,
            step,
        ).rowcount
        == 1
    )


def driver_sql(conn: Connection, statement: str, *params: Any) -> Any:
    """A hot-path statement straight to the driver (qmark or format placeholders).

    Building SQLAlchemy Core statements per call cost more than the database work on the
    authorise/sign path; these few fixed statements skip it.
    """
    if conn.dialect.paramstyle != "qmark":
        statement = statement.replace("?", "%s")
    return conn.exec_driver_sql(statement, tuple(params))
