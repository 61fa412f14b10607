"""What the platform's OCSP responder and CRLs state about the certificates its issuing CAs
issued (:mod:`licence.ltv` serves it): each certificate good, revoked from a time, or on hold
while its seal is suspended, read from the licence store, the ledger's seal events and the
cloud signature's credentials."""

from __future__ import annotations

import datetime as dt
from typing import Any, NamedTuple

from cryptography import x509


class Issued(NamedTuple):
    """A certificate one issuing CA issued, and whether it stands: revoked from ``revoked_at``
    for ``reason`` (``certificate_hold``: suspended, good again once reinstated; RFC 5280
    §5.3.1), or good (``revoked_at`` None)."""

    cert: x509.Certificate
    revoked_at: dt.datetime | None = None
    reason: x509.ReasonFlags = x509.ReasonFlags.unspecified


# serial -> what one issuing CA has issued
Registry = dict[int, Issued]


def person_registry(engine: Any) -> Registry:
    """The personal signing certificates of the cloud signature (its credentials table in
    ``engine``), a revoked credential's certificate revoked from when its revocation was
    audited; none before the cloud signature's tables exist."""
    import json

    from sqlalchemy import inspect, select

    from licence.cloudsign import store

    if not inspect(engine).has_table(store.credentials.name):
        return {}
    creds, audit = store.credentials.c, store.audit.c
    with engine.connect() as conn:
        rows = conn.execute(select(creds.credential_id, creds.status, creds.certificate)).all()
        revoked_at = {
            r.credential_id: dt.datetime.fromisoformat(json.loads(r.record)["at"])
            for r in conn.execute(
                select(audit.credential_id, audit.record).where(
                    audit.event == "revoke", audit.outcome == "ok"
                )
            )
        }
    out: Registry = {}
    for r in rows:
        cert = x509.load_pem_x509_certificate(str(r.certificate).encode())
        at = None
        if r.status == "revoked":
            at = revoked_at.get(r.credential_id, dt.datetime.now(dt.UTC))
        out[cert.serial_number] = Issued(cert, at)
    return out


def seal_standing(
    cert: x509.Certificate, status: str, history: list[tuple[str, dt.datetime]]
) -> Issued:
    """A seal certificate as OCSP and the CRL state it: revoked from its revocation, on hold
    (``certificateHold``) from the suspension it is still under, good while active. The times
    are the ledger's (``history``: the seal's (status, time) in time order); a status with no
    logged event yet counts from now."""
    if status not in ("revoked", "suspended"):
        return Issued(cert)
    times = [t for s, t in history if s == status]
    if status == "revoked":
        return Issued(cert, times[0] if times else dt.datetime.now(dt.UTC))
    at = times[-1] if times else dt.datetime.now(dt.UTC)  # the latest suspension
    return Issued(cert, at, x509.ReasonFlags.certificate_hold)
