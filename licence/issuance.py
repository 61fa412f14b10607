"""Checking, numbering and sealing a batch of licence requests, before anything is written.

Every request of a batch is checked first (its type, the authority's right to issue it and
active seal, the holder against the libraries, its fields); then serials and status-list
positions are reserved and every licence is sealed. :class:`BatchPreparer` does all of this and
writes nothing but the counters: ``LicenceService`` stores the prepared batch, so one bad
request refuses the whole batch with nothing issued.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from licence import authorities, document, seals
from licence.errors import (
    HolderError,
    InvalidFieldsError,
    LicenceError,
    NoActiveSealError,
    NotAllowedError,
    UnknownTypeError,
)
from licence.signers import Signer
from licence.store import LicenceStore
from schemas import licence_id, licence_types, resident_id, uscc
from schemas.identifiers import IdCheck
from storage.keys import KeyStore

HOLDER_CODE_TYPES = {"person": "111", "entity": "001"}  # GB/T 36903 持证主体代码类型


class HolderDirectory(Protocol):
    """Look up a holder's registered name: kind ``person`` (resident ID) or ``entity`` (USCC)."""

    def holder_name(self, kind: str, identifier: str) -> str | None: ...

    def holder_names(self, kind: str, identifiers: list[str]) -> dict[str, str]:
        """Registered names of many holders of one kind in one read; unknown ones absent."""
        ...


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
    """A licence holder as the request names them: identifier and name."""

    identifier: str
    name: str


@dataclass(frozen=True)
class IssueRequest:
    """One licence to issue: its type, issuing authority, holder, fields and end of validity."""

    type_name: str
    authority: str
    holder: Holder
    fields: dict[str, str]
    valid_until: dt.date | None = None


@dataclass(frozen=True)
class Checked:
    """A request that passed every check, with what its checks found."""

    lt: licence_types.LicenceType
    auth: authorities.Authority
    seal: dict[str, Any]
    holder_id: str
    holder_name: str
    fields: dict[str, str]
    valid_until: dt.date | None


def issue_entry(lid: str, digest: str, authority: str, status_index: int, time: str) -> bytes:
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


def _validate_holder_ids(kind: str, identifiers: list[str]) -> dict[str, IdCheck]:
    """The checks of many holder identifiers of one kind in one vectorised pass (the schemas'
    ``scan_array``: the reason ``validate`` gives and the normalised form), without the
    details ``validate`` derives for display (division names, entity type) that issuance
    does not use."""
    if kind == "entity":
        codes, keys = uscc.scan_array(identifiers)
        reasons = uscc.REASONS
    else:
        codes, _, _, keys = resident_id.scan_array(identifiers, None)
        reasons = resident_id.REASONS
    out = {}
    for ident, code, key in zip(identifiers, codes.tolist(), keys.to_pylist(), strict=True):
        reason = reasons[code]
        out[ident] = IdCheck(ident, reason is None, reason, key if reason is None else None)
    return out


@dataclass
class Prepared:
    """A checked, numbered and sealed batch, not yet written anywhere."""

    docs: list[dict[str, Any]]
    rows: list[dict[str, Any]]
    entries: list[bytes]
    written: list[tuple[str, bytes]]  # object key, sealed bytes
    # what governance compares with the libraries later: the name (and legal representative)
    # each licence was issued to
    basis: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Prefetched:
    """A batch's holder identifiers checked once and their registered names read in bulk."""

    names: dict[str, dict[str, str]]  # holder kind -> identifier -> registered name
    checks: dict[tuple[str, str], Any]  # (holder kind, identifier as given) -> its check


def utc_now() -> dt.datetime:
    """Now in UTC, to the second (the time licences and log entries carry)."""
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


@functools.lru_cache(maxsize=64)
def iso_utc(t: dt.datetime) -> str:
    """``t`` as ``YYYY-MM-DDTHH:MM:SSZ``."""
    # cached: a whole batch is issued at one time (strftime per licence showed in profiles)
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@functools.lru_cache(maxsize=64)
def _ymd(t: dt.date) -> str:
    return t.strftime("%Y%m%d")


class BatchPreparer:
    """Checks, numbers and seals batches of requests for one licence store and key store."""

    def __init__(self, store: LicenceStore, keys: KeyStore, holders: HolderDirectory) -> None:
        self.store = store
        self.keys = keys
        self.holders = holders
        self._signers: dict[str, Signer] = {}

    def _check_holder(
        self,
        lt: licence_types.LicenceType,
        holder: Holder,
        pre: Prefetched | None = None,
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

    def _prefetch_holders(self, requests: list[IssueRequest]) -> Prefetched | None:
        """Registered names of a batch's holders, one bulk read per holder kind (None for a
        single request: it looks its holder up on its own)."""
        if len(requests) < 2:
            return None
        given: dict[str, dict[str, None]] = {}  # holder kind -> identifiers, each once
        for req in requests:
            try:
                kind = licence_types.get(req.type_name).holder_kind
            except licence_types.LicenceTypeError:
                continue  # reported in order by _check
            given.setdefault(kind, {})[req.holder.identifier] = None
        wanted: dict[str, list[str]] = {}
        checks: dict[tuple[str, str], Any] = {}
        for kind, idents in given.items():
            for ident, check in _validate_holder_ids(kind, list(idents)).items():
                checks[(kind, ident)] = check
                if check.valid and check.normalised is not None:
                    wanted.setdefault(kind, []).append(check.normalised)
        names = {kind: dict(self.holders.holder_names(kind, ids)) for kind, ids in wanted.items()}
        return Prefetched(names, checks)

    def _check(
        self,
        req: IssueRequest,
        now: dt.datetime,
        seals_cache: dict[str, Any],
        pre: Prefetched | None = None,
    ) -> Checked:
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
        return Checked(lt, auth, seal, holder_id, req.holder.name.strip(), clean, valid_until)

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

    def refusals(
        self, requests: list[IssueRequest], now: dt.datetime | None = None
    ) -> list[LicenceError | None]:
        """Check every request on its own, writing nothing: per request, the LicenceError
        that would refuse it, or None if it would be issued."""
        now = now or utc_now()
        seals_cache: dict[str, dict[str, Any] | None] = {}
        pre = self._prefetch_holders(requests)
        out: list[LicenceError | None] = []
        for req in requests:
            try:
                self._check(req, now, seals_cache, pre)
            except LicenceError as exc:
                out.append(exc)
            else:
                out.append(None)
        return out

    def prepare(
        self,
        requests: list[IssueRequest],
        now: dt.datetime | None,
        _version: int,
        _serial: str | None,
    ) -> Prepared:
        """Check every request, reserve serials and status positions, seal every licence:
        everything of a batch but writing it (no object, row or log entry yet)."""
        now = now or utc_now()
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
        basis: list[dict[str, Any]] = []
        when = iso_utc(now)
        entropy = document.Entropy()  # the batch's salts: a few CSPRNG reads, not one each
        for c in checked:
            serial = _serial
            if serial is None:
                serial = f"{now.year}{serial_next[c.auth.uscc] + 1:07d}"
                serial_next[c.auth.uscc] += 1
            status_index = status_next[c.auth.uscc]
            status_next[c.auth.uscc] += 1
            lid = licence_id.build(c.lt.code, c.auth.uscc, serial, _version)
            content = {**self._metadata(c, lid, serial, _version, now), **c.fields}
            doc, raw = self.seal_raw(lid, content, c.seal, now, entropy)
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
            entries.append(issue_entry(lid, digest, c.auth.uscc, status_index, when))
            basis.append(
                {
                    "licence_id": lid,
                    "holder_name": c.holder_name,
                    "legal_rep": c.fields.get("legal_representative"),
                }
            )
        return Prepared(docs, rows, entries, written, basis)

    @staticmethod
    def _metadata(
        c: Checked, lid: str, serial: str, version: int, now: dt.datetime
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

    def seal_raw(
        self,
        lid: str,
        content: dict[str, Any],
        seal: dict[str, Any],
        now: dt.datetime,
        entropy: document.Entropy | None = None,
    ) -> tuple[dict[str, Any], bytes]:
        """The sealed document and its canonical (JCS) bytes, as stored (the salts drawn from
        ``entropy`` when given, else read for this licence alone)."""
        alg = "sha256"
        fields, root, fields_json = document.seal_fields(content, alg, entropy=entropy)
        header = document.signed_header(lid, root, alg, seal["seal_id"], iso_utc(now))
        header_json = document.canonical(header)
        signer = self._signer(seal)
        signature = {
            "algorithm": signer.algorithm,
            "value": base64.b64encode(signer.sign(header_json)).decode(),
            "certificate": seal["cert_pem"],
        }
        doc = {"header": header, "signature": signature, "fields": fields}
        return doc, document.sealed_bytes(fields_json, header_json, signature)

    def _signer(self, seal: dict[str, Any]) -> Signer:
        signer = self._signers.get(seal["seal_id"])
        if signer is None:
            signer = seals.load_signer(self.keys, seal["key_name"], seal["algorithm"])
            self._signers[seal["seal_id"]] = signer
        return signer
