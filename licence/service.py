"""Issuance and lifecycle of electronic licences, and seal management, over small interfaces.

``LicenceService`` checks everything before writing anything: an unknown type, an authority not
allowed to issue it, no active seal, a holder missing from the library (or with another name), or
bad fields raise a specific error and leave the object store, the licence store and the ledger
untouched. Each accepted event (issue, suspend, reinstate, revoke, change, expire, seal events)
is one ledger entry; the licence's receipt is attached once the ledger has sequenced it.
Checking, numbering and sealing a batch is ``licence.issuance``; the refusals are
``licence.errors``; status lists and receipts are ``licence.status_service``; a stored
licence's PDF is ``licence.pdf.render_pdf``.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Protocol

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from licence import authorities, ca, document, ltv, seals
from licence.errors import LicenceError, LicenceNotFoundError, LifecycleError
from licence.issuance import (
    BatchPreparer,
    Holder,
    HolderDirectory,
    IssueRequest,
    Prepared,
    iso_utc,
    utc_now,
)
from licence.signers import ECDSA_P256, SignatureError, certificate_key, verify
from licence.status_service import StatusReadings
from licence.store import LicenceStore
from schemas import licence_types
from storage.keys import KeyStore
from storage.objects import ObjectStore

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine

    from ledger.service import SignedCheckpoint, SnapshotSource

STATUS_LABELS = {
    "valid": "有效",
    "suspended": "暂扣",
    "revoked": "吊销",
    "superseded": "注销",
    "expired": "失效",
}
REVOCATION_REASONS = {
    "ILLEGAL_OPERATION": "违法经营被依法吊销",
    "FRAUD": "以欺骗、贿赂等不正当手段取得",
    "ISSUED_IN_ERROR": "颁发错误",
    "HOLDER_REQUEST": "持证主体申请注销",
    "HOLDER_DISSOLVED": "持证主体终止",
    "OTHER": "其他",
}


class EventLog(Protocol):
    """The ledger as seen from here (``ledger.service.LedgerService``): append entries, alone or
    in the caller's transaction when both share a database, sequence a checkpoint, and commit
    the status lists with each checkpoint."""

    def append(self, data: bytes) -> int: ...

    def append_many(self, items: Sequence[bytes]) -> list[int]: ...

    def shares_database(self, engine: Engine) -> bool: ...

    def append_many_in(self, conn: Connection, items: Sequence[bytes]) -> list[int]: ...

    def sequence(self) -> SignedCheckpoint | None: ...

    def add_snapshot_source(self, source: SnapshotSource) -> None: ...

    def entry_index(self, entry_id: int) -> int | None: ...


class LicenceService(StatusReadings):
    """Seals, issuance and lifecycle; all collaborators are passed in."""

    def __init__(
        self,
        store: LicenceStore,
        objects: ObjectStore,
        keys: KeyStore,
        ledger: EventLog,
        holders: HolderDirectory,
        verification_url: str = "https://hub.example.gov.cn/verify",
        ltv_url: str = "",
    ) -> None:
        self.store = store
        self.objects = objects
        self.keys = keys
        self.ledger = ledger
        self.holders = holders
        self.verification_url = verification_url
        # the TSA/OCSP/CRL service (licence.ltv) new certificates name; "" = none
        self.ltv_url = ltv_url
        self.preparer = BatchPreparer(store, keys, holders)
        self._platform_ca: ca.PlatformCA | None = None
        # a log opened without LedgerService.open (tests, embedding) still commits the status
        # lists with each checkpoint; registering twice is a no-op
        from licence.status_snapshot import status_snapshot

        ledger.add_snapshot_source(status_snapshot)

    # ---- platform CA --------------------------------------------------------------------
    def ensure_ca(self) -> ca.PlatformCA:
        """Create the platform root and seal CA once; later calls return the stored ones."""
        if self.objects.exists("ca/root.pem"):
            return self.platform_ca()
        if self.keys.exists(ca.ROOT_KEY):
            # keys without certificates: the object store was switched (e.g. to MinIO) and the
            # licence objects were not copied; a second CA would orphan every seal and licence
            raise ca.CertificateAuthorityError(
                "the platform CA key exists but ca/root.pem is not in the object store: copy "
                "the licence objects (ca/, seals/, licences/) from the previous store into this "
                "one (on MinIO the 'licences' bucket)"
            )
        pca = ca.create_platform_ca(self.keys, crl_url=ltv.root_crl_url(self.ltv_url))
        self.objects.put("ca/root.pem", ca.pem(pca.root).encode())
        self.objects.put("ca/seal-ca.pem", ca.pem(pca.seal_ca).encode())
        return pca

    def platform_ca(self) -> ca.PlatformCA:
        """The platform root and seal CA, read once: they are made once per platform and never
        replaced (:meth:`ensure_ca` refuses to mint a second), and every online verdict asks."""
        if self._platform_ca is not None:
            return self._platform_ca
        if not self.objects.exists("ca/root.pem"):
            raise ca.CertificateAuthorityError("no platform CA yet: run `hub init`")
        self._platform_ca = ca.PlatformCA(
            x509.load_pem_x509_certificate(self.objects.get("ca/root.pem")),
            x509.load_pem_x509_certificate(self.objects.get("ca/seal-ca.pem")),
        )
        return self._platform_ca

    def _log(self, event: dict[str, Any]) -> int:
        return self.ledger.append(document.canonical(event))

    # ---- seals --------------------------------------------------------------------------
    def create_seal(
        self,
        authority_uscc: str,
        name: str | None = None,
        seal_type: str = "licence",
        years: int = 5,
        now: dt.datetime | None = None,
        algorithm: str = ECDSA_P256,
    ) -> dict[str, Any]:
        """Create an active seal for a registered authority and log a ``seal.create`` entry;
        ``algorithm`` SM2_SM3 makes an SM2 seal (national profile)."""
        auth = authorities.get(authority_uscc)
        pca = self.platform_ca()
        now = now or utc_now()
        with self.store.engine.begin() as conn:
            n = self.store.next_value(f"seal:{auth.uscc}", conn)
        seal_id = f"{auth.uscc}{n + 1:04d}"
        ca_key = self.keys.load(ca.SEAL_CA_KEY)
        assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
        made = seals.build_seal(
            seal_id,
            auth.uscc,
            auth.name,
            name or f"{auth.name}电子证照专用章",
            seal_type,
            pca.seal_ca,
            ca_key,
            self.keys,
            now,
            now + dt.timedelta(days=365 * years),
            algorithm,
            revocation=ltv.seal_revocation_urls(self.ltv_url),
        )
        key_name = f"seal-{seal_id}"
        seals.save_seal_key(self.keys, key_name, made)
        prefix = f"seals/{seal_id}"
        self.objects.put(f"{prefix}/seal.json", document.canonical(made.document))
        self.objects.put(f"{prefix}/picture.png", made.png)
        self.objects.put(f"{prefix}/picture.svg", made.svg.encode())
        cert_pem = ca.pem(made.certificate)
        self.objects.put(f"{prefix}/certificate.pem", cert_pem.encode())
        row = {
            "seal_id": seal_id,
            "authority": auth.uscc,
            "name": made.info.name,
            "algorithm": made.algorithm,
            "key_name": key_name,
            "cert_pem": cert_pem,
            "picture_sha256": made.info.picture_sha256,
            "valid_from": now.replace(tzinfo=None),
            "valid_to": (now + dt.timedelta(days=365 * years)).replace(tzinfo=None),
            "status": "active",
            "created_at": now.replace(tzinfo=None),
        }
        self.store.add_seal(**row)
        self._log(
            {
                "event": "seal.create",
                "seal_id": seal_id,
                "authority": auth.uscc,
                "certificate_sha256": made.info.cert_list[0],
                "time": iso_utc(now),
            }
        )
        return row

    def set_seal_status(self, seal_id: str, status: str, reason: str = "") -> None:
        """Suspend, reactivate or revoke a seal (revoked is final); logged."""
        row = self.store.seal(seal_id)
        if row is None:
            raise seals.SealError(f"no seal {seal_id}")
        allowed = {"active": {"suspended", "revoked"}, "suspended": {"active", "revoked"}}
        if status not in allowed.get(row["status"], set()):
            raise seals.SealError(f"seal {seal_id} is {row['status']}; cannot make it {status}")
        self.store.set_seal_status(seal_id, status)
        self._log(
            {
                "event": f"seal.{status}",
                "seal_id": seal_id,
                "reason": reason,
                "time": iso_utc(utc_now()),
            }
        )

    # ---- issuance -----------------------------------------------------------------------
    def issue(
        self,
        type_name: str,
        authority_uscc: str,
        holder: Holder,
        fields: dict[str, str],
        valid_until: dt.date | None = None,
        now: dt.datetime | None = None,
        *,
        _version: int = 1,
        _serial: str | None = None,
    ) -> dict[str, Any]:
        """Issue a sealed licence; returns the sealed document (also stored and logged)."""
        req = IssueRequest(type_name, authority_uscc, holder, fields, valid_until)
        return self.issue_many([req], now, _version=_version, _serial=_serial)[0]

    def issue_many(
        self,
        requests: list[IssueRequest],
        now: dt.datetime | None = None,
        *,
        _version: int = 1,
        _serial: str | None = None,
        on_commit: Callable[[list[dict[str, Any]], Connection], None] | None = None,
    ) -> list[dict[str, Any]]:
        """Issue a batch: every request is checked first (one bad request refuses the whole
        batch, nothing written); then one transaction for the index rows and one ledger append.
        ``on_commit(docs, conn)`` runs in the transaction that commits the index rows.
        """
        if not requests:
            return []
        prepared = self.preparer.prepare(requests, now, _version, _serial)
        return self._store_batch(prepared, on_commit)

    def issue_each(
        self,
        requests: list[IssueRequest],
        now: dt.datetime | None = None,
        on_commit: Callable[[list[dict[str, Any] | LicenceError], Connection], None] | None = None,
    ) -> list[dict[str, Any] | LicenceError]:
        """Issue the requests that pass every check and refuse the others, each with its own
        reason: one result per request, in order (the sealed document, or the LicenceError
        refusing it). The accepted ones are issued as one ``issue_many`` batch (all or
        nothing). ``on_commit(results, conn)`` runs in the transaction that commits them (in
        a transaction of its own when every request was refused): the API records its answer
        to an Idempotency-Key there, so a licence is never committed without it."""
        now = now or utc_now()
        refused = self.preparer.refusals(requests, now)
        good = [r for r, e in zip(requests, refused, strict=True) if e is None]

        def merge(docs: list[dict[str, Any]]) -> list[dict[str, Any] | LicenceError]:
            it = iter(docs)
            return [e if e is not None else next(it) for e in refused]

        hook: Callable[[list[dict[str, Any]], Connection], None] | None = None
        if on_commit is not None:
            then = on_commit

            def hook(docs: list[dict[str, Any]], conn: Connection) -> None:
                then(merge(docs), conn)

        results = merge(self.issue_many(good, now, on_commit=hook) if good else [])
        if not good and on_commit is not None:
            with self.store.engine.begin() as conn:
                on_commit(results, conn)
        return results

    def issue_batches(
        self,
        batches: Iterable[list[IssueRequest]],
        after_batch: Callable[[int], None] | None = None,
    ) -> int:
        """Issue many batches, each exactly as ``issue_many`` would (checked as a whole, then
        stored, then committed with its log entries), as a two-stage pipeline: batch k+1 is
        checked, numbered and sealed here while batch k's objects are written and its rows
        and entries committed in a writer thread (the object writes wait on the disk with the
        GIL released, so sealing goes on meanwhile). ``after_batch(k)`` runs in the writer
        after batch k committed (the bench sequences the log there). Stops at the first
        error, which is raised; batches committed before it stay issued (a batch already
        sealed but not yet written leaves a gap in the serials, as a failed batch does).
        Returns the number of licences issued."""
        issued = 0

        def store(k: int, prepared: Prepared) -> int:
            self._store_batch(prepared)
            if after_batch is not None:
                after_batch(k)
            return len(prepared.docs)

        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="licence-writer") as writer:
            pending: Future[int] | None = None
            for k, requests in enumerate(batches):
                prepared = self.preparer.prepare(requests, None, 1, None) if requests else None
                if pending is not None:
                    issued += pending.result()  # re-raises the writer's error
                    pending = None
                if prepared is not None:
                    pending = writer.submit(store, k, prepared)
            if pending is not None:
                issued += pending.result()
        return issued

    def _store_batch(
        self,
        prepared: Prepared,
        on_commit: Callable[[list[dict[str, Any]], Connection], None] | None = None,
    ) -> list[dict[str, Any]]:
        """Write a prepared batch's objects, then its index rows and log entries
        (``on_commit(docs, conn)`` in the transaction of the index rows)."""
        docs, rows, entries, written = (
            prepared.docs,
            prepared.rows,
            prepared.entries,
            prepared.written,
        )
        self.objects.put_many(written)  # the first failed write raises: no row, no log entry
        if self.ledger.shares_database(self.store.engine):
            # same database as the log: index rows and log entries commit together, so a
            # failure leaves neither (and one commit instead of three per batch)

            def extra(conn: Connection) -> None:
                self.store.add_basis(prepared.basis, conn)
                if on_commit is not None:
                    on_commit(docs, conn)

            self._commit_with_log(rows, entries, extra)
            return docs
        with self.store.engine.begin() as conn:
            self.store.add_licences(rows, conn)
            self.store.add_basis(prepared.basis, conn)
            if on_commit is not None:
                on_commit(docs, conn)
        entry_ids = self.ledger.append_many(entries)
        self.store.set_entry_ids(
            [(r["licence_id"], e) for r, e in zip(rows, entry_ids, strict=True)]
        )
        return docs

    def _commit_with_log(
        self,
        rows: list[dict[str, Any]],
        entries: list[bytes],
        extra: Callable[[Connection], None] | None = None,
    ) -> None:
        """Insert the index rows and queue their log entries in one transaction, retried like
        the log's own append when another writer took the same entry ids (PostgreSQL) or held
        the write lock too long (SQLite); a failed attempt leaves nothing."""
        from sqlalchemy.exc import IntegrityError, OperationalError

        for attempt in range(5):
            try:
                with self.store.engine.begin() as conn:
                    ids = self.ledger.append_many_in(conn, entries)
                    self.store.add_licences(
                        [{**r, "ledger_entry_id": e} for r, e in zip(rows, ids, strict=True)],
                        conn,
                    )
                    if extra is not None:
                        extra(conn)
                return
            except (IntegrityError, OperationalError):
                if attempt == 4:
                    raise
                time.sleep(0.01 * (attempt + 1))

    # ---- reading ------------------------------------------------------------------------
    def row(self, lid: str) -> dict[str, Any]:
        row = self.store.licence(lid)
        if row is None:
            raise LicenceNotFoundError(f"no licence {lid}")
        return row

    def raw(self, lid: str) -> bytes:
        """The stored sealed document, byte for byte."""
        return self.objects.get(self.row(lid)["object_key"])

    def document(self, lid: str) -> dict[str, Any]:
        return dict(json.loads(self.raw(lid)))

    def receipt(self, lid: str) -> dict[str, Any] | None:
        row = self.row(lid)
        return dict(json.loads(row["receipt"])) if row["receipt"] else None

    # ---- lifecycle ----------------------------------------------------------------------
    def _transition(
        self,
        lid: str,
        event: str,
        to: str,
        allowed_from: set[str],
        reason_code: str = "",
        reason_text: str = "",
        **extra: Any,
    ) -> dict[str, Any]:
        row = self.row(lid)
        if row["status"] not in allowed_from:
            raise LifecycleError(
                f"licence {lid} is {row['status']} ({STATUS_LABELS.get(row['status'], '')}); "
                f"cannot {event}"
            )
        now = utc_now()
        values = {
            "status": to,
            "reason_code": reason_code or None,
            "reason_text": reason_text or None,
            "updated_at": now.replace(tzinfo=None),
            **extra,
        }
        entry = {
            "event": f"licence.{event}",
            "licence_id": lid,
            "authority": row["authority"],
            "status": to,
            "reason_code": reason_code,
            "reason": reason_text,
            "time": iso_utc(now),
        }
        if self.ledger.shares_database(self.store.engine):
            # the row and its log entry commit together: a status list snapshot (read in the
            # sequencing transaction) shows the change exactly when its entry precedes it
            self._update_with_log(lid, values, document.canonical(entry))
            return entry
        self.store.update_licence(lid, **values)
        self._log(entry)
        return entry

    def _update_with_log(self, lid: str, values: dict[str, Any], entry: bytes) -> None:
        """Update one index row and queue its log entry in one transaction, retried like
        ``_commit_with_log``; a failed attempt leaves neither."""
        from sqlalchemy.exc import IntegrityError, OperationalError

        for attempt in range(5):
            try:
                with self.store.engine.begin() as conn:
                    self.store.update_licence(lid, conn, **values)
                    self.ledger.append_many_in(conn, [entry])
                return
            except (IntegrityError, OperationalError):
                if attempt == 4:
                    raise
                time.sleep(0.01 * (attempt + 1))

    def suspend(self, lid: str, reason_text: str, reason_code: str = "OTHER") -> dict[str, Any]:
        return self._transition(lid, "suspend", "suspended", {"valid"}, reason_code, reason_text)

    def reinstate(self, lid: str, reason_text: str = "") -> dict[str, Any]:
        return self._transition(lid, "reinstate", "valid", {"suspended"}, "", reason_text)

    def revoke(self, lid: str, reason_code: str, reason_text: str) -> dict[str, Any]:
        if reason_code not in REVOCATION_REASONS:
            raise LifecycleError(
                f"unknown revocation reason {reason_code!r}; use one of "
                + ", ".join(REVOCATION_REASONS)
            )
        return self._transition(
            lid, "revoke", "revoked", {"valid", "suspended"}, reason_code, reason_text
        )

    def change(self, lid: str, fields: dict[str, str], reason_text: str) -> dict[str, Any]:
        """Issue the next version with changed fields; the old one becomes superseded."""
        row = self.row(lid)
        if row["status"] != "valid":
            raise LifecycleError(f"licence {lid} is {row['status']}; only a valid one can change")
        old = document.values(self.document(lid))
        lt = licence_types.get(row["type_code"])
        merged = {f.key: old[f.key] for f in lt.fields if f.key in old}
        merged.update(fields)
        holder = Holder(old["持证主体代码"], old["持证主体"])
        until = dt.date.fromisoformat(row["valid_to"]) if row["valid_to"] else None
        doc = self.issue(
            lt.code,
            row["authority"],
            holder,
            merged,
            until,
            _version=row["version"] + 1,
            _serial=row["serial"],
        )
        new_id = doc["header"]["licence_id"]
        self._transition(
            lid, "supersede", "superseded", {"valid"}, "CHANGED", reason_text, superseded_by=new_id
        )
        return doc

    def expire_due(self, today: dt.date | None = None) -> list[str]:
        """Mark licences past their end of validity as expired (the daily DAG calls this)."""
        today = today or utc_now().date()
        done = []
        for lid in self.store.due_for_expiry(today):
            self._transition(
                lid, "expire", "expired", {"valid", "suspended"}, "EXPIRED", "有效期届满"
            )
            done.append(lid)
        return done

    # ---- disclosure and checking --------------------------------------------------------
    def disclose(self, lid: str, hide: list[str]) -> dict[str, Any]:
        return document.disclose(self.document(lid), hide)


def check_sealed(doc: dict[str, Any]) -> None:
    """Integrity and seal signature of a (possibly redacted) licence; raises on failure."""
    header = doc["header"]
    document.check_integrity(doc["fields"], header["document_digest"], header["digest_alg"])
    if header["licence_id"] != doc["fields"]["证照标识"].get("value", header["licence_id"]):
        raise document.IntegrityError("identifier in the fields differs from the signed header")
    cert = x509.load_pem_x509_certificate(doc["signature"]["certificate"].encode())
    _key_alg, raw = certificate_key(cert)  # P-256 or SM2
    verify(
        doc["signature"]["algorithm"],
        raw,
        base64.b64decode(doc["signature"]["value"]),
        document.canonical(header),
    )


__all__ = ["LicenceService", "SignatureError", "check_sealed"]
