"""Issuance and lifecycle of electronic licences, and seal management, over small interfaces.

``LicenceService`` checks everything before writing anything: an unknown type, an authority not
allowed to issue it, no active seal, a holder missing from the library (or with another name), or
bad fields raise a specific error and leave the object store, the licence store and the ledger
untouched. Each accepted event (issue, suspend, reinstate, revoke, change, expire, seal events)
is one ledger entry; the licence's receipt is attached once the ledger has sequenced it.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import json
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from licence import authorities, ca, document, seals, status_list
from licence.signers import ECDSA_P256, SM2_SM3, SignatureError, Signer, certificate_key, verify
from licence.store import LicenceStore
from schemas import licence_id, licence_types, resident_id, uscc
from storage.keys import KeyStore
from storage.objects import ObjectStore

RECEIPT_CHUNK = 5000  # entries per bulk receipt read when attaching receipts
HOLDER_CODE_TYPES = {"person": "111", "entity": "001"}  # GB/T 36903 持证主体代码类型
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


class LicenceError(Exception):
    """Base class: a licence operation was refused; nothing was issued or logged."""


class UnknownTypeError(LicenceError):
    pass


class NotAllowedError(LicenceError):
    pass


class NoActiveSealError(LicenceError):
    pass


class HolderError(LicenceError):
    pass


class InvalidFieldsError(LicenceError):
    pass


class LicenceNotFoundError(LicenceError):
    pass


class LifecycleError(LicenceError):
    """The requested transition is not possible from the licence's current status."""


class EventLog(Protocol):
    """The ledger as seen from here: append an entry, get its receipt once sequenced."""

    def append(self, data: bytes) -> int: ...

    def append_many(self, items: list[bytes]) -> list[int]: ...


class HolderDirectory(Protocol):
    """Look up a holder's registered name: kind ``person`` (resident ID) or ``entity`` (USCC)."""

    def holder_name(self, kind: str, identifier: str) -> str | None: ...


class LibraryHolders:
    """HolderDirectory over the population and legal-entity golden records."""

    def __init__(self, library: Any) -> None:
        self.library = library

    def holder_name(self, kind: str, identifier: str) -> str | None:
        if kind == "person":
            rec = self.library.person(identifier)
            return rec.value("name") if rec else None
        rec = self.library.entity(identifier)
        return rec.value("entity_name") if rec else None

    def holder_names(self, kind: str, identifiers: list[str]) -> dict[str, str]:
        """Registered names of many holders in bulk reads of the golden records (the winning
        value per field, as ``holder_name`` returns); unknown holders are absent."""
        from storage.library import LEGAL_ENTITY, POPULATION

        library, field = (POPULATION, "name") if kind == "person" else (LEGAL_ENTITY, "entity_name")
        return dict(self.library.field_values(library, field, identifiers))


@dataclass(frozen=True)
class Holder:
    identifier: str
    name: str


@dataclass(frozen=True)
class IssueRequest:
    type_name: str
    authority: str
    holder: Holder
    fields: dict[str, str]
    valid_until: dt.date | None = None


@dataclass(frozen=True)
class _Checked:
    lt: licence_types.LicenceType
    auth: authorities.Authority
    seal: dict[str, Any]
    holder_id: str
    holder_name: str
    fields: dict[str, str]
    valid_until: dt.date | None


def _issue_entry(lid: str, digest: str, authority: str, status_index: int, time: str) -> bytes:
    """The canonical (JCS) ``licence.issue`` log entry."""
    return document.canonical(
        {
            "authority": authority,
            "document_digest": digest,
            "event": "licence.issue",
            "licence_id": lid,
            "status_index": int(status_index),
            "time": time,
        }
    )


def _validate_holder_id(kind: str, identifier: str) -> Any:
    """The holder identifier's check: USCC for entities, resident ID for persons."""
    return (uscc if kind == "entity" else resident_id).validate(identifier)


@dataclass
class _Prepared:
    """A checked, numbered and sealed batch, not yet written anywhere."""

    docs: list[dict[str, Any]]
    rows: list[dict[str, Any]]
    entries: list[bytes]
    written: list[tuple[str, bytes]]  # object key, sealed bytes


@dataclass
class _Prefetched:
    """A batch's holder identifiers checked once and their registered names read in bulk."""

    names: dict[str, dict[str, str]]  # holder kind -> identifier -> registered name
    checks: dict[tuple[str, str], Any]  # (holder kind, identifier as given) -> its check


@functools.lru_cache(maxsize=256)
def _id_prefix_state(type_code: str, authority: str, version: int) -> int:
    """Check a licence type, issuer and version once (licence_id.build raises if bad) and
    return the ISO/IEC 7064 MOD 37,36 state after the type code and issuer, which are the
    same for a whole batch: each licence then runs the check over its serial only."""
    licence_id.build(type_code, authority, "0", version)
    return _mod37_36(36, type_code + authority)


_ALPHA = {c: i for i, c in enumerate(licence_id.ALPHABET)}


def _mod37_36(p: int, data: str) -> int:
    """The running state of ``licence_id.check_character`` (same steps) after ``data``."""
    alpha = _ALPHA
    for char in data:
        t = (p + alpha[char]) % 36
        p = ((t or 36) * 2) % 37
    return p


def _licence_id(type_code: str, authority: str, serial: str, version: int) -> str:
    """``licence_id.build`` for the serials this service makes (digits): the type code and
    issuer USCC, the same for a whole batch, are checked once instead of per licence."""
    if not serial.isdigit() or not serial.isascii():
        return licence_id.build(type_code, authority, serial, version)
    ver = f"{version:03d}"
    p = _mod37_36(_id_prefix_state(type_code, authority, version), serial + ver)
    check = licence_id.ALPHABET[(37 - p) % 36]
    return f"{licence_id.PREFIX}.{type_code}.{authority}.{serial}.{ver}.{check}"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


@functools.lru_cache(maxsize=64)
def _iso(t: dt.datetime) -> str:
    # cached: a whole batch is issued at one time (strftime per licence showed in profiles)
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@functools.lru_cache(maxsize=64)
def _ymd(t: dt.date) -> str:
    return t.strftime("%Y%m%d")


class LicenceService:
    """Seals, issuance and lifecycle; all collaborators are passed in."""

    def __init__(
        self,
        store: LicenceStore,
        objects: ObjectStore,
        keys: KeyStore,
        ledger: EventLog,
        holders: HolderDirectory,
        verification_url: str = "https://hub.example.gov.cn/verify",
    ) -> None:
        self.store = store
        self.objects = objects
        self.keys = keys
        self.ledger = ledger
        self.holders = holders
        self.verification_url = verification_url
        self._signers: dict[str, Signer] = {}
        self._pdf_seals: dict[str, tuple[str, Any, Any]] = {}  # seal id -> PDF signing material
        register = getattr(ledger, "add_snapshot_source", None)
        if register is not None:
            # a log opened without LedgerService.open (tests, embedding) still commits the
            # status lists with each checkpoint; registering twice is a no-op
            from licence.status_snapshot import status_snapshot

            register(status_snapshot)

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
        pca = ca.create_platform_ca(self.keys)
        self.objects.put("ca/root.pem", ca.pem(pca.root).encode())
        self.objects.put("ca/seal-ca.pem", ca.pem(pca.seal_ca).encode())
        return pca

    def platform_ca(self) -> ca.PlatformCA:
        if not self.objects.exists("ca/root.pem"):
            raise ca.CertificateAuthorityError("no platform CA yet: run `hub init`")
        return ca.PlatformCA(
            x509.load_pem_x509_certificate(self.objects.get("ca/root.pem")),
            x509.load_pem_x509_certificate(self.objects.get("ca/seal-ca.pem")),
        )

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
        now = now or _now()
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
                "time": _iso(now),
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
            {"event": f"seal.{status}", "seal_id": seal_id, "reason": reason, "time": _iso(_now())}
        )

    def _signer(self, seal: dict[str, Any]) -> Signer:
        signer = self._signers.get(seal["seal_id"])
        if signer is None:
            signer = seals.load_signer(self.keys, seal["key_name"], seal["algorithm"])
            self._signers[seal["seal_id"]] = signer
        return signer

    # ---- issuance -----------------------------------------------------------------------
    def _check_holder(
        self,
        lt: licence_types.LicenceType,
        holder: Holder,
        pre: _Prefetched | None = None,
    ) -> str:
        check = pre.checks.get((lt.holder_kind, holder.identifier)) if pre else None
        if check is None:
            check = _validate_holder_id(lt.holder_kind, holder.identifier)
        kind = "USCC" if lt.holder_kind == "entity" else "resident ID"
        if not check.valid or check.normalised is None:
            raise HolderError(f"holder {kind} is invalid ({check.reason}); nothing issued")
        ident = str(check.normalised)
        if pre is not None and lt.holder_kind in pre.names:
            registered = pre.names[lt.holder_kind].get(ident)
        else:
            registered = self.holders.holder_name(lt.holder_kind, ident)
        library = "legal-entity" if lt.holder_kind == "entity" else "population"
        if registered is None:
            raise HolderError(f"holder not found in the {library} library; nothing issued")
        if registered.strip() != holder.name.strip():
            raise HolderError(
                f"holder name does not match the {library} library record; nothing issued"
            )
        return ident

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

    def _prefetch_holders(self, requests: list[IssueRequest]) -> _Prefetched | None:
        """Registered names of a batch's holders, one bulk read per holder kind (None when the
        directory has no bulk read: then each request looks its holder up on its own)."""
        bulk = getattr(self.holders, "holder_names", None)
        if bulk is None or len(requests) < 2:
            return None
        wanted: dict[str, list[str]] = {}
        checks: dict[tuple[str, str], Any] = {}
        for req in requests:
            try:
                kind = licence_types.get(req.type_name).holder_kind
            except licence_types.LicenceTypeError:
                continue  # reported in order by _check
            check = checks[(kind, req.holder.identifier)] = _validate_holder_id(
                kind, req.holder.identifier
            )
            if check.valid and check.normalised is not None:
                wanted.setdefault(kind, []).append(check.normalised)
        names = {kind: dict(bulk(kind, ids)) for kind, ids in wanted.items()}
        return _Prefetched(names, checks)

    def _check(
        self,
        req: IssueRequest,
        now: dt.datetime,
        seals_cache: dict[str, Any],
        pre: _Prefetched | None = None,
    ) -> _Checked:
        try:
            lt = licence_types.get(req.type_name)
        except licence_types.LicenceTypeError as exc:
            raise UnknownTypeError(str(exc)) from None
        try:
            auth = authorities.get(req.authority)
            authorities.require_allowed(auth, lt)
        except authorities.AuthorityError as exc:
            raise NotAllowedError(str(exc)) from None
        if auth.uscc not in seals_cache:
            seals_cache[auth.uscc] = self.store.active_seal(auth.uscc, now)
        seal = seals_cache[auth.uscc]
        if seal is None:
            raise NoActiveSealError(
                f"{auth.name} ({auth.uscc}) has no active seal: create one with `hub seal create`"
            )
        holder_id = self._check_holder(lt, req.holder, pre)
        try:
            clean = lt.check_fields(req.fields)
        except licence_types.FieldError as exc:
            raise InvalidFieldsError(str(exc)) from None
        valid_until = req.valid_until
        if valid_until is None and lt.default_years:
            valid_until = now.date().replace(year=now.year + lt.default_years) - dt.timedelta(1)
        if valid_until is None and not lt.long_term_allowed:
            raise InvalidFieldsError(f"{lt.name} needs an end of validity (no long-term validity)")
        if valid_until is not None and valid_until <= now.date():
            raise InvalidFieldsError(f"end of validity {valid_until} is not after the issue date")
        return _Checked(lt, auth, seal, holder_id, req.holder.name.strip(), clean, valid_until)

    def issue_many(
        self,
        requests: list[IssueRequest],
        now: dt.datetime | None = None,
        *,
        _version: int = 1,
        _serial: str | None = None,
    ) -> list[dict[str, Any]]:
        """Issue a batch: every request is checked first (one bad request refuses the whole
        batch, nothing written); then one transaction for the index rows and one ledger append.
        """
        if not requests:
            return []
        return self._store_batch(self._prepare_batch(requests, now, _version, _serial))

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

        def store(k: int, prepared: _Prepared) -> int:
            self._store_batch(prepared)
            if after_batch is not None:
                after_batch(k)
            return len(prepared.docs)

        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="licence-writer") as writer:
            pending: Future[int] | None = None
            for k, requests in enumerate(batches):
                prepared = self._prepare_batch(requests, None, 1, None) if requests else None
                if pending is not None:
                    issued += pending.result()  # re-raises the writer's error
                    pending = None
                if prepared is not None:
                    pending = writer.submit(store, k, prepared)
            if pending is not None:
                issued += pending.result()
        return issued

    def _reserve(self, name_counts: list[tuple[str, int]]) -> dict[str, int]:
        """Reserve ``count`` values of each counter in one short transaction (retried when
        a concurrent writer, such as the pipeline's, committed first)."""
        from sqlalchemy.exc import OperationalError

        for attempt in range(8):
            try:
                with self.store.engine.begin() as conn:
                    return {name: self.store.next_value(name, conn, k) for name, k in name_counts}
            except OperationalError:
                if attempt == 7:
                    raise
                time.sleep(0.005 * (attempt + 1))
        raise AssertionError("unreachable")

    def _prepare_batch(
        self,
        requests: list[IssueRequest],
        now: dt.datetime | None,
        _version: int,
        _serial: str | None,
    ) -> _Prepared:
        """Check every request, reserve serials and status positions, seal every licence:
        everything of a batch but writing it (no object, row or log entry yet)."""
        now = now or _now()
        seals_cache: dict[str, dict[str, Any] | None] = {}
        pre = self._prefetch_holders(requests)
        checked = [self._check(req, now, seals_cache, pre) for req in requests]
        docs: list[dict[str, Any]] = []
        rows: list[dict[str, Any]] = []
        entries: list[bytes] = []
        naive = now.replace(tzinfo=None)
        # serials and status-list positions are reserved in their own short transaction, like
        # a database sequence: a batch that fails later leaves a gap, never a serial that the
        # next batch would reuse for a licence object already written (write-once refuses
        # it), and the write lock is not held while the objects are fsynced
        per_auth: dict[str, int] = {}
        for c in checked:
            per_auth[c.auth.uscc] = per_auth.get(c.auth.uscc, 0) + 1
        got = self._reserve(
            [(f"serial:{a}:{now.year}", k) for a, k in per_auth.items()]
            + [(f"status:{a}", k) for a, k in per_auth.items()]
        )
        serial_next = {a: got[f"serial:{a}:{now.year}"] for a in per_auth}
        status_next = {a: got[f"status:{a}"] for a in per_auth}
        # every licence is sealed before any object is written (a signing failure writes
        # nothing); the objects are then written as a batch and the index rows commit only
        # once all are durable
        written: list[tuple[str, bytes]] = []
        when = _iso(now)
        for c in checked:
            serial = _serial
            if serial is None:
                serial = f"{now.year}{serial_next[c.auth.uscc] + 1:07d}"
                serial_next[c.auth.uscc] += 1
            status_index = status_next[c.auth.uscc]
            status_next[c.auth.uscc] += 1
            lid = _licence_id(c.lt.code, c.auth.uscc, serial, _version)
            content = {**self._metadata(c, lid, serial, _version, now), **c.fields}
            doc, raw = self._seal_raw(lid, content, c.seal, now)
            # one folder per authority and year, not per licence: creating a folder per
            # licence cost more than writing the licence (the row keeps the key, so licences
            # stored as licences/<id>/licence.json before read back as they were)
            key = f"licences/{c.auth.uscc}/{now.year}/{lid}.json"
            written.append((key, raw))
            docs.append(doc)
            digest = doc["header"]["document_digest"]
            rows.append(
                {
                    "licence_id": lid,
                    "type_code": c.lt.code,
                    "authority": c.auth.uscc,
                    "serial": serial,
                    "version": _version,
                    "holder_kind": c.lt.holder_kind,
                    "holder_id": c.holder_id,
                    "status": "valid",
                    "issued_at": naive,
                    "valid_to": c.valid_until.isoformat() if c.valid_until else None,
                    "object_key": key,
                    "document_digest": digest,
                    "seal_id": c.seal["seal_id"],
                    "status_index": status_index,
                    "ledger_entry_id": None,
                    "updated_at": naive,
                }
            )
            # status_index binds the licence to its bit in the authority's status lists
            entries.append(_issue_entry(lid, digest, c.auth.uscc, status_index, when))
        return _Prepared(docs, rows, entries, written)

    def _store_batch(self, prepared: _Prepared) -> list[dict[str, Any]]:
        """Write a prepared batch's objects, then its index rows and log entries."""
        docs, rows, entries, written = (
            prepared.docs,
            prepared.rows,
            prepared.entries,
            prepared.written,
        )
        put_many = getattr(self.objects, "put_many", None)
        if put_many is not None:
            put_many(written)  # a store that makes a whole batch durable at once
        else:
            with ThreadPoolExecutor(max_workers=max(1, min(16, len(written)))) as pool:
                for f in [pool.submit(self.objects.put, k, d) for k, d in written]:
                    f.result()  # re-raises the first failed write: no row, no log entry
        shared = getattr(self.ledger, "shares_database", None)
        if shared is not None and shared(self.store.engine):
            # same database as the log: index rows and log entries commit together, so a
            # failure leaves neither (and one commit instead of three per batch)
            self._commit_with_log(rows, entries)
            return docs
        self.store.add_licences(rows)
        entry_ids = self.ledger.append_many(entries)
        self.store.set_entry_ids(
            [(r["licence_id"], e) for r, e in zip(rows, entry_ids, strict=True)]
        )
        return docs

    def _commit_with_log(self, rows: list[dict[str, Any]], entries: list[bytes]) -> None:
        """Insert the index rows and queue their log entries in one transaction, retried like
        the log's own append when another writer took the same entry ids (PostgreSQL) or held
        the write lock too long (SQLite); a failed attempt leaves nothing."""
        from sqlalchemy.exc import IntegrityError, OperationalError

        for attempt in range(5):
            try:
                with self.store.engine.begin() as conn:
                    ids = self.ledger.append_many_in(conn, entries)  # type: ignore[attr-defined]
                    self.store.add_licences(
                        [{**r, "ledger_entry_id": e} for r, e in zip(rows, ids, strict=True)],
                        conn,
                    )
                return
            except (IntegrityError, OperationalError):
                if attempt == 4:
                    raise
                time.sleep(0.01 * (attempt + 1))

    @staticmethod
    def _metadata(
        c: _Checked, lid: str, serial: str, version: int, now: dt.datetime
    ) -> dict[str, Any]:
        """The GB/T 36903 metadata of a licence."""
        until = c.valid_until
        return {
            "证照标识": lid,
            "证照名称": c.lt.name,
            "证照类型名称": c.lt.name,
            "证照类型代码": c.lt.code,
            "证照编号": f"{serial}-{version:03d}",
            "证照颁发机构": c.auth.name,
            "证照颁发机构代码": c.auth.uscc,
            "证照颁发日期": _ymd(now),
            "证照有效期起始日期": _ymd(now),
            "证照有效期截止日期": _ymd(until) if until else "",
            "证照有效期长期标识": "1" if until is None else "0",
            "持证主体": c.holder_name,
            "持证主体代码": c.holder_id,
            "持证主体代码类型": HOLDER_CODE_TYPES[c.lt.holder_kind],
            "证照所属管辖属地编码": c.auth.division,
        }

    def _seal_raw(
        self, lid: str, content: dict[str, Any], seal: dict[str, Any], now: dt.datetime
    ) -> tuple[dict[str, Any], bytes]:
        """The sealed document and its canonical (JCS) bytes, as stored."""
        alg = "sha256"
        fields, root, fields_json = document.seal_fields(content, alg)
        header = document.signed_header(lid, root, alg, seal["seal_id"], _iso(now))
        header_json = document.canonical(header)
        signer = self._signer(seal)
        signature = {
            "algorithm": signer.algorithm,
            "value": base64.b64encode(signer.sign(header_json)).decode(),
            "certificate": seal["cert_pem"],
        }
        doc = {"header": header, "signature": signature, "fields": fields}
        return doc, document.sealed_bytes(fields_json, header_json, signature)

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
        now = _now()
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
            "time": _iso(now),
        }
        shared = getattr(self.ledger, "shares_database", None)
        if shared is not None and shared(self.store.engine):
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
                    self.ledger.append_many_in(conn, [entry])  # type: ignore[attr-defined]
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
        today = today or _now().date()
        done = []
        for lid in self.store.due_for_expiry(today):
            self._transition(
                lid, "expire", "expired", {"valid", "suspended"}, "EXPIRED", "有效期届满"
            )
            done.append(lid)
        return done

    # ---- status lists and receipts ------------------------------------------------------
    def status_list(self, authority_uscc: str, purpose: str) -> bytes:
        """The authority's current bitstring (bit i = licence with status index i is
        revoked/suspended), as ``licence.status_list`` builds it for the log.

        Bits are MSB-first in each byte (as in the W3C Bitstring Status List); expired and
        superseded licences count as revoked, since they must no longer be relied on.
        """
        rows = self.store.statuses(authority_uscc)
        size = max((i for i, _ in rows), default=-1) + 1
        return status_list.bitstring(size, rows, purpose)

    def commit_status_lists(self) -> list[int]:
        """Produce a checkpoint now; returns the log indices of the status lists committed
        with it (every checkpoint commits them: ``licence.status_snapshot``)."""
        signed = self.ledger.sequence()  # type: ignore[attr-defined]
        if signed is None:
            return []
        size = signed.checkpoint.size
        found = [
            self.store.status_list_at(auth.uscc, size) for auth in authorities.registry().values()
        ]
        return sorted(f[1] for f in found if f is not None)

    def status_proof(self, lid: str, checkpoint_size: int | None = None) -> dict[str, Any]:
        """The licence's status as of a checkpoint (default: the latest with a status list
        of its authority), with the two receipts proving it under that checkpoint: its issue
        entry's and its authority's status list's. ``licence.status_list.prove_status`` checks
        them with the log key alone."""
        from ledger.receipt import Receipt

        row = self.row(lid)
        found = self.store.status_list_at(row["authority"], checkpoint_size)
        if found is None:
            at = "yet" if checkpoint_size is None else f"with checkpoint {checkpoint_size}"
            raise LicenceError(
                f"no status list of {row['authority']} committed {at}: "
                "run `hub ledger checkpoint` (each checkpoint commits them)"
            )
        size, list_index = found
        ledger: Any = self.ledger
        issue_index = (
            None if row["ledger_entry_id"] is None else ledger.entry_index(row["ledger_entry_id"])
        )
        if issue_index is None or issue_index >= size:
            raise LicenceError(
                f"licence {lid} was not yet logged at checkpoint {size}: its status there is "
                "not in the log"
            )
        issue: Receipt | None = ledger.receipt(issue_index, size)
        listed: Receipt | None = ledger.receipt(list_index, size)
        if issue is None or listed is None:
            raise LicenceError(f"checkpoint {size} is not in this log")
        try:
            proven = status_list.prove_status(
                lid,
                row["document_digest"],
                issue,
                listed,
                [ledger.verifier_key()],
                int(row["status_index"]),
            )
        except status_list.StatusListError as exc:
            raise LicenceError(f"the log does not prove {lid}'s status at {size}: {exc}") from exc
        return {
            "licence_id": lid,
            "status": proven.status,
            "as_of_checkpoint": proven.checkpoint_size,
            "status_index": proven.status_index,
            "issue_receipt": issue.to_dict(),
            "status_list_receipt": listed.to_dict(),
            "log_key": ledger.verifier_key(),
        }

    def attach_receipts(self, receipt_for: Any) -> int:
        """Attach receipts of sequenced issue entries; ``receipt_for(entry)`` returns the
        receipt JSON bytes, or None while the entry is pending. Returns the count.

        One transaction per chunk of entries: a receipt is a proof that can be attached again
        at any time, so a stop half-way loses nothing, and memory stays bounded by a chunk
        instead of growing with the backlog.
        """
        attached = 0
        pending = self.store.unreceipted()
        many = getattr(receipt_for, "many", None)
        for lo in range(0, len(pending), RECEIPT_CHUNK):
            part = pending[lo : lo + RECEIPT_CHUNK]
            # a bulk reader answers a whole chunk in one go; a plain callable entry by entry
            found = many([e for _, e in part]) if many is not None else None
            batch = []
            for lid, entry in part:
                data = found.get(entry) if found is not None else receipt_for(entry)
                if data is not None:
                    batch.append((lid, data.decode()))
            if batch:
                self.store.attach_receipts(batch)
                attached += len(batch)
        return attached

    # ---- disclosure and checking --------------------------------------------------------
    def disclose(self, lid: str, hide: list[str]) -> dict[str, Any]:
        return document.disclose(self.document(lid), hide)


class _LedgerReceipts:
    """Entry id -> receipt JSON bytes (None while pending) over a LedgerService; ``many`` reads a
    whole list of entries in one connection when the ledger offers bulk receipts."""

    def __init__(self, ledger: Any) -> None:
        self.ledger = ledger
        if not hasattr(ledger, "receipts_for_entries"):
            self.many = None  # type: ignore[assignment]

    def __call__(self, entry_id: int) -> bytes | None:
        index = self.ledger.entry_index(entry_id)
        receipt = None if index is None else self.ledger.receipt(index)
        return None if receipt is None else str(receipt.to_json()).encode()

    def many(self, entry_ids: list[int]) -> dict[int, bytes]:
        found = self.ledger.receipts_for_entries(entry_ids)
        return {e: str(r.to_json()).encode() for e, r in found.items()}


def ledger_receipts(ledger: Any) -> Any:
    """``receipt_for`` over a LedgerService: entry id -> receipt JSON bytes, or None if pending."""
    return _LedgerReceipts(ledger)


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


def render_pdf(service: LicenceService, lid: str, font_cache: Any) -> bytes:
    """The PAdES-signed PDF of a stored licence, sealed with the seal that sealed it."""
    from licence import pdf, pdf_font

    doc = service.document(lid)
    seal_id = doc["header"]["seal_id"]
    row = service.store.seal(seal_id)
    if row is None:
        raise seals.SealError(f"seal {seal_id} of licence {lid} is not in the store")
    if row["algorithm"] == SM2_SM3:
        raise seals.SealError(
            f"licence {lid} is sealed with the SM2 seal {seal_id}: a PAdES PDF cannot be "
            "sealed with SM2 (pyHanko and the PDF signature standards have no SM2-with-SM3); "
            "hand out the sealed JSON licence, which verifies with `hub verify`"
        )
    # the seal's key, certificates, picture and pyHanko signer are loaded once per seal
    # (decrypting the key and parsing certificates for every PDF cost more than drawing it);
    # keyed by the certificate too, so a store that changed under us is read again
    cached = service._pdf_seals.get(seal_id)
    if cached is None or cached[0] != row["cert_pem"]:
        png = service.objects.get(f"seals/{seal_id}/picture.png")
        key = service.keys.load(row["key_name"])
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        pca = service.platform_ca()
        material = pdf.SealMaterial(
            key,
            x509.load_pem_x509_certificate(row["cert_pem"].encode()),
            [pca.seal_ca, pca.root],
            png,
        )
        cached = (row["cert_pem"], material, pdf.pdf_signer(material))
        service._pdf_seals[seal_id] = cached
    _, material, signer = cached
    unsigned = pdf.render(
        doc, material.picture_png, service.verification_url, pdf_font.font_file(font_cache)
    )
    return pdf.sign(unsigned, material, row["name"], signer)
