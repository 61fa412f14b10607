"""Client systems and their grants: API keys stored only as hashes, grants per scope and purpose.

A *client* is an approval system (or a department publishing data). Its API key is shown once
when created; only SHA-256 of the key is stored (the key is 32 random bytes, so a fast hash is
enough: there is nothing to brute-force). A *grant* lets a client use one scope for one declared
purpose until it expires:

==============  =============================================  ===========================
scope           what it opens                                  ``fields``
==============  =============================================  ===========================
population      ``GET /v1/persons/{id}``, batch                field names, or ``*``
legal-entity    ``GET /v1/entities/{uscc}``, batch             field names, or ``*``
verify-person   ``POST /v1/verify/person``, batch              ``*``
verify-entity   ``POST /v1/verify/entity``, batch              ``*``
licences        ``GET /v1/holders/{id}/licences``, batch       licence type codes, or ``*``
ledger          ``GET /v1/ledger/...``                         ``*``
datasets        ``POST /v1/datasets/{id}/uploads``, runs       dataset ids, or ``*``
cloudsign       ``POST /csc/v2/credentials/...``, signHash     ``*`` (and the client must
                                                               be bound to the credential)
claims          ``POST /v1/claims/verify``, batch, receipts    claim type ids, or ``*``
                (``claim:<type>`` grants one claim type)
holder-app      ``POST /v1/presentations`` for a citizen       ``*`` (and a registered key:
                (a holder app's signed assertion)              ``hub holder app-key``)
presentations   ``POST /v1/presentations/{code}/redeem``       ``*``
issue           ``POST /v1/licences``, batch, lifecycle        licence types (code or
                (the client must be bound to an authority)     name), or ``*``
forms           ``POST /v1/forms/{form}/prefill`` (each field  form ids, or ``*``
                also needs the grant of what it reads)
policies        ``GET /v1/policies/{id}/applications``         policy ids, or ``*``
materials       ``POST /v1/materials``, a holder's materials,  material types, or ``*``
                ``GET /v1/materials/{id}``; prefill links
==============  =============================================  ===========================
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    insert,
    select,
    update,
)

from api.purposes import Purposes, registry

if TYPE_CHECKING:
    from schemas.contracts import Contract
    from schemas.sharing import Sharing
    from sharing.access import Approval

SCOPES = (
    "population",
    "legal-entity",
    "verify-person",
    "verify-entity",
    "licences",
    "ledger",
    "datasets",
    "cloudsign",
    "claims",
    "holder-app",
    "presentations",
    "issue",
    "forms",
    "policies",
    "materials",
)
CLAIM_SCOPE = "claim:"  # ``claim:<type>``: scope claims, that one claim type
KEY_PREFIX = "hub_"

metadata = MetaData()

clients = Table(
    "api_clients",
    metadata,
    Column("client_id", String(64), primary_key=True),
    Column("name", Text, nullable=False),
    Column("key_sha256", String(64), nullable=False, unique=True),
    Column("rate_limit", Float),  # requests/s; NULL = the settings default
    Column("created_at", DateTime, nullable=False),
    Column("revoked_at", DateTime),
)

grants = Table(
    "api_grants",
    metadata,
    Column("grant_id", Integer, primary_key=True, autoincrement=True),
    Column("client_id", String(64), nullable=False, index=True),
    Column("scope", String(32), nullable=False),
    Column("fields", Text, nullable=False),  # comma-separated, or "*"
    # the 有条件共享 fields an approved access request opened (comma-separated); NULL: none,
    # as for every grant stored before the catalogue (added to older databases on opening)
    Column("approved", Text),
    Column("purpose", String(64), nullable=False),
    Column("expires_at", DateTime, nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("revoked_at", DateTime),
)


class ClientError(Exception):
    """A client or grant operation was refused (unknown client, bad scope, duplicate)."""


@dataclass(frozen=True)
class Grant:
    grant_id: int
    scope: str
    fields: frozenset[str]  # {"*"} = every field
    purpose: str
    expires_at: datetime
    approved: frozenset[str] = frozenset()  # conditional fields an approval opened

    def allows(self, name: str) -> bool:
        return "*" in self.fields or name in self.fields


@dataclass(frozen=True)
class Permit:
    """What a client may do under one scope for one purpose right now: its live grants, the
    field names they open together, and when the first of them expires."""

    grants: tuple[Grant, ...]
    fields: frozenset[str] | None  # None = every field (a "*" grant)
    until: float  # POSIX time the earliest of these grants expires

    def allows(self, name: str) -> bool:
        return self.fields is None or name in self.fields


@dataclass(frozen=True)
class Client:
    client_id: str
    name: str
    rate_limit: float | None
    grants: tuple[Grant, ...]
    # library scope -> the fields the catalogue lets any grant open (all but 不予共享): a
    # grant, even a "*" one stored before the catalogue, never opens another
    shareable: Mapping[str, frozenset[str]] = field(default_factory=dict, compare=False)
    # library scope -> its 有条件共享 fields: a grant opens one only if an approval did
    # (``Grant.approved``), whatever the grant's age
    conditional: Mapping[str, frozenset[str]] = field(default_factory=dict, compare=False)
    # permits by (scope, purpose), worked out once per cached Client (see ClientStore)
    _permits: dict[tuple[str, str], Permit] = field(default_factory=dict, compare=False, repr=False)

    def purposes(self, now: float | None = None) -> list[str]:
        """The purposes of the client's live grants (any scope), sorted."""
        now = time.time() if now is None else now
        return sorted(
            {g.purpose for g in self.grants if now < g.expires_at.replace(tzinfo=UTC).timestamp()}
        )

    def permit(self, scope: str, purpose: str, now: float | None = None) -> Permit | None:
        """The client's live grants of ``scope`` for ``purpose`` at POSIX time ``now``
        (default: the current time), or None if there is none."""
        now = time.time() if now is None else now
        known = self._permits.get((scope, purpose))
        if known is not None and now < known.until:
            return known
        live = tuple(
            g
            for g in self.grants
            if g.scope == scope
            and g.purpose == purpose
            and now < g.expires_at.replace(tzinfo=UTC).timestamp()
        )
        if not live:
            return None
        within = self.shareable.get(scope)
        if within is None:
            every = any("*" in g.fields for g in live)
            names = None if every else frozenset().union(*(g.fields for g in live))
        else:  # a library scope: each grant opens what the catalogue lets it, on every read
            barred = self.conditional.get(scope, frozenset())
            names = frozenset().union(
                *(
                    (within if "*" in g.fields else g.fields & within) - (barred - g.approved)
                    for g in live
                )
            )
        until = min(g.expires_at.replace(tzinfo=UTC).timestamp() for g in live)
        found = Permit(live, names, until)
        self._permits[(scope, purpose)] = found
        return found


def key_hash(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class ClientStore:
    """Clients and grants in the hub database, with a short-lived in-process cache for lookups.

    Authentication happens on every request, so resolved clients are cached for
    ``cache_seconds``: a revocation made by ``hub client revoke`` in another process takes
    effect within that time.
    """

    def __init__(
        self,
        engine: Engine,
        cache_seconds: float = 2.0,
        purposes: Purposes | None = None,
        contracts: Iterable[Contract] | None = None,
    ) -> None:
        self.engine = engine
        self.cache_seconds = cache_seconds
        self.purposes = purposes if purposes is not None else registry()
        self._contracts = tuple(contracts) if contracts is not None else None
        self._sharing: dict[str, dict[str, Sharing]] = {}
        self._cache: dict[str, tuple[float, Client | None]] = {}
        self._lock = threading.Lock()
        metadata.create_all(engine)
        self._add_approved_column()
        self.upgraded = self._upgrade_purposes()

    def _upgrade_purposes(self) -> dict[str, str]:
        """Rewrite grants stored under a purpose's title (``社会救助审核``, as hubs before the
        registry accepted) to its code; returns {old: code}. A grant under free text that names
        no registered purpose is left as it was: the gate refuses its requests (400 naming the
        registered purposes) until it is granted again under a code, or the code is declared
        in the site's ``purposes.yaml``; ``hub client list`` marks it."""
        with self.engine.connect() as conn:
            stored = conn.execute(select(grants.c.purpose).distinct()).scalars().all()
        renames = {
            old: code
            for old in stored
            if old not in self.purposes and (code := self.purposes.resolve(old)) is not None
        }
        if renames:
            with self.engine.begin() as conn:
                for old, code in renames.items():
                    conn.execute(update(grants).where(grants.c.purpose == old).values(purpose=code))
        return renames

    def sharing(self, library: str) -> dict[str, Sharing]:
        """The catalogue's sharing attribute of every field of ``library`` (the contracts this
        store was given, else the project's, narrow the library's declarations)."""
        found = self._sharing.get(library)
        if found is None:
            from schemas.sharing import library_sharing

            if self._contracts is None:
                from schemas.contracts import load_contracts

                self._contracts = tuple(load_contracts().values())
            found = self._sharing[library] = library_sharing(library, self._contracts)
        return found

    def shareable(self) -> dict[str, frozenset[str]]:
        """Library scope -> the fields a grant may open at all (all but 不予共享)."""
        from sharing.access import LIBRARY_SCOPES, shareable

        return {scope: shareable(self.sharing(scope)) for scope in LIBRARY_SCOPES}

    def conditional(self) -> dict[str, frozenset[str]]:
        """Library scope -> its 有条件共享 fields (opened only under an approval)."""
        from sharing.access import LIBRARY_SCOPES

        return {
            scope: frozenset(
                n for n, rule in self.sharing(scope).items() if rule.attribute == "conditional"
            )
            for scope in LIBRARY_SCOPES
        }

    def _add_approved_column(self) -> None:
        """Databases made before grants recorded their approval get the column (NULL: no
        approval, so their grants open no conditional field)."""
        from sqlalchemy import inspect, text
        from sqlalchemy.exc import DBAPIError

        def present() -> bool:
            columns = inspect(self.engine).get_columns("api_grants")
            return "approved" in {c["name"] for c in columns}

        if not present():
            try:
                with self.engine.begin() as conn:
                    conn.execute(text("ALTER TABLE api_grants ADD COLUMN approved TEXT"))
            except DBAPIError:
                if not present():  # not another process adding it at the same moment
                    raise

    # ---- administration -----------------------------------------------------------------
    def add(self, client_id: str, name: str, rate_limit: float | None = None) -> str:
        """Register a client; returns its API key (shown once, stored only as a hash)."""
        if not client_id or len(client_id) > 64 or not client_id.replace("-", "").isalnum():
            raise ClientError(f"invalid client id {client_id!r}: letters, digits and - only")
        api_key = KEY_PREFIX + secrets.token_urlsafe(32)
        with self.engine.begin() as conn:
            if conn.execute(
                select(clients.c.client_id).where(clients.c.client_id == client_id)
            ).first():
                raise ClientError(f"client {client_id!r} exists already (see `hub client list`)")
            conn.execute(
                insert(clients).values(
                    client_id=client_id,
                    name=name,
                    key_sha256=key_hash(api_key),
                    rate_limit=rate_limit,
                    created_at=_now(),
                )
            )
        return api_key

    def rotate(self, client_id: str) -> str:
        """Replace an active client's API key; returns the new key (the old one stops working)."""
        api_key = KEY_PREFIX + secrets.token_urlsafe(32)
        with self.engine.begin() as conn:
            n = conn.execute(
                update(clients)
                .where(and_(clients.c.client_id == client_id, clients.c.revoked_at.is_(None)))
                .values(key_sha256=key_hash(api_key))
            ).rowcount
        if n == 0:
            raise ClientError(f"no active client {client_id!r} (see `hub client list`)")
        self.invalidate()
        return api_key

    def grant(
        self,
        client_id: str,
        scope: str,
        purpose: str,
        expires_at: datetime,
        fields: list[str] | None = None,
        approval: Approval | None = None,
    ) -> int:
        """Add a grant; returns its id. ``claim:<type>`` is scope ``claims`` for one claim
        type; claim grants name only claim types of the catalogue. A grant of a library scope
        holds only what the data catalogue allows (:func:`sharing.access.grant_fields`): no
        不予共享 field, a 有条件共享 one only under the ``approval`` of its owning
        department(s), ``*`` written out as the fields it stands for."""
        if scope.startswith(CLAIM_SCOPE):
            scope, fields = "claims", [scope.removeprefix(CLAIM_SCOPE), *(fields or [])]
            fields = [f for f in fields if f.strip() and f.strip() != "*"]
        if scope == "claims":
            from schemas import claims as catalogue

            unknown = sorted({f.strip() for f in fields or [] if f.strip()} - {"*"})
            unknown = [f for f in unknown if f not in catalogue.catalogue()]
            if unknown:
                raise ClientError(
                    f"unknown claim type(s) {', '.join(unknown)}; known: "
                    f"{', '.join(catalogue.catalogue())}"
                )
        if scope not in SCOPES:
            raise ClientError(f"unknown scope {scope!r}; expected one of {', '.join(SCOPES)}")
        code = self.purposes.resolve(purpose)
        if code is None:
            known = "; ".join(self.purposes.label(c) for c in self.purposes.codes())
            raise ClientError(
                f"unregistered purpose {purpose.strip()!r}: give a registered code (or its "
                f"Chinese or English title): {known}"
            )
        names = sorted({f.strip() for f in (fields or ["*"]) if f.strip()}) or ["*"]
        from sharing.access import LIBRARY_SCOPES, GrantRefused, grant_fields

        approved = None
        if scope in LIBRARY_SCOPES:
            try:
                names = grant_fields(scope, names, code, self.sharing(scope), approval)
            except GrantRefused as exc:
                raise ClientError(f"grant refused by the data catalogue: {exc}") from None
            opened = sorted(set(names) & self.conditional()[scope])
            approved = ",".join(opened) if opened else None
        expires = (
            expires_at.astimezone(UTC).replace(tzinfo=None) if expires_at.tzinfo else expires_at
        )
        with self.engine.begin() as conn:
            if not conn.execute(
                select(clients.c.client_id).where(clients.c.client_id == client_id)
            ).first():
                raise ClientError(f"unknown client {client_id!r} (see `hub client list`)")
            result = conn.execute(
                insert(grants).values(
                    client_id=client_id,
                    scope=scope,
                    fields=",".join(names),
                    approved=approved,
                    purpose=code,
                    expires_at=expires,
                    created_at=_now(),
                )
            )
        self.invalidate()
        key = result.inserted_primary_key
        assert key is not None
        return int(key[0])

    def revoke(self, client_id: str, grant_id: int | None = None) -> int:
        """Revoke one grant, or the client itself (all its access); returns rows changed."""
        now = _now()
        with self.engine.begin() as conn:
            if grant_id is None:
                n = conn.execute(
                    update(clients)
                    .where(and_(clients.c.client_id == client_id, clients.c.revoked_at.is_(None)))
                    .values(revoked_at=now)
                ).rowcount
            else:
                n = conn.execute(
                    update(grants)
                    .where(
                        and_(
                            grants.c.grant_id == grant_id,
                            grants.c.client_id == client_id,
                            grants.c.revoked_at.is_(None),
                        )
                    )
                    .values(revoked_at=now)
                ).rowcount
        if n == 0:
            what = f"grant {grant_id} of client" if grant_id is not None else "active client"
            raise ClientError(f"no {what} {client_id!r} to revoke (see `hub client list`)")
        self.invalidate()
        return int(n)

    def list(self) -> list[dict[str, Any]]:
        """Every client with its grants (no key material)."""
        with self.engine.connect() as conn:
            rows = [
                dict(r._mapping)
                for r in conn.execute(select(clients).order_by(clients.c.client_id))
            ]
            gs = [
                dict(r._mapping) for r in conn.execute(select(grants).order_by(grants.c.grant_id))
            ]
        for g in gs:
            found = self.purposes.get(g["purpose"])
            g["purpose_title"] = {"zh": found.zh, "en": found.en} if found else None
        for row in rows:
            row.pop("key_sha256")
            row["grants"] = [g for g in gs if g["client_id"] == row["client_id"]]
        return rows

    # ---- authentication -----------------------------------------------------------------
    def invalidate(self) -> None:
        with self._lock:
            self._cache.clear()

    def authenticate(self, api_key: str) -> Client | None:
        """The active client holding ``api_key`` with its live grants, or None."""
        digest = key_hash(api_key)
        now = time.monotonic()
        hit = self._cache.get(digest)
        if hit is not None and now - hit[0] < self.cache_seconds:
            return hit[1]
        client = self._load(digest)
        with self._lock:
            if len(self._cache) > 10_000:  # unknown keys must not grow the cache without bound
                self._cache.clear()
            self._cache[digest] = (now, client)
        return client

    def known(self, api_key: str) -> Client | None:
        """The client holding ``api_key`` if this process has it cached (no database look-up),
        else None: what an address over its strangers' budget may still get through with."""
        hit = self._cache.get(key_hash(api_key))
        if hit is not None and time.monotonic() - hit[0] < self.cache_seconds:
            return hit[1]
        return None

    def _load(self, digest: str) -> Client | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(clients).where(
                    and_(clients.c.key_sha256 == digest, clients.c.revoked_at.is_(None))
                )
            ).first()
            if row is None:
                return None
            gs = conn.execute(
                select(grants).where(
                    and_(grants.c.client_id == row.client_id, grants.c.revoked_at.is_(None))
                )
            ).all()
        return Client(
            row.client_id,
            row.name,
            row.rate_limit,
            tuple(
                Grant(
                    g.grant_id,
                    g.scope,
                    frozenset(g.fields.split(",")),
                    g.purpose,
                    g.expires_at,
                    frozenset(g.approved.split(",")) if g.approved else frozenset(),
                )
                for g in gs
            ),
            self.shareable(),
            self.conditional(),
        )


class RateLimiter:
    """Token bucket per key: ``rate`` requests/s on average, bursts up to twice that.

    A request may cost more than one token (a batch costs one per subject): it is admitted
    while the bucket holds at least one token and may leave it in debt, so a batch larger than
    the burst is possible but the key then waits until the debt is paid back. At most
    ``max_keys`` buckets are kept (keys are client ids or network addresses): past that the
    full ones are forgotten, so a spray of new addresses cannot grow memory without bound.
    """

    def __init__(self, max_keys: int = 100_000) -> None:
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()
        self.max_keys = max_keys

    def take(self, key: str, rate: float, cost: float = 1.0, burst: float | None = None) -> float:
        """0.0 if a request costing ``cost`` may proceed, else the seconds to wait (``burst``:
        the bucket's size, default twice the rate)."""
        burst = max(1.0, 2.0 * rate) if burst is None else burst
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (burst, now))
            tokens = min(burst, tokens + (now - last) * rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - cost, now)
                if len(self._buckets) > self.max_keys:
                    self._forget(now, rate)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / rate if rate > 0 else 60.0

    def waiting(self, key: str, rate: float, burst: float | None = None) -> float:
        """The seconds ``key`` must still wait (0.0 if a request would be admitted now),
        without taking anything."""
        now = time.monotonic()
        with self._lock:
            found = self._buckets.get(key)
        if found is None:
            return 0.0
        size = max(1.0, 2.0 * rate) if burst is None else burst
        tokens = min(size, found[0] + (now - found[1]) * rate)
        if tokens >= 1.0:
            return 0.0
        return (1.0 - tokens) / rate if rate > 0 else 60.0

    def _forget(self, now: float, rate: float) -> None:
        # caller holds the lock: drop the buckets that have refilled (nothing owed)
        burst = max(1.0, 2.0 * rate)
        full = [
            k
            for k, (tokens, last) in self._buckets.items()
            if tokens + (now - last) * rate >= burst
        ]
        for k in full:
            del self._buckets[k]
        if len(self._buckets) > self.max_keys:  # still too many: start afresh
            self._buckets.clear()
