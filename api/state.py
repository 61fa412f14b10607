"""What the API is handed (its services and plain settings) and the state one process shares.

The API never reads the hub's settings: ``hub serve`` (through :func:`hub.wiring.api_services`)
builds an :class:`ApiServices` and passes it to :func:`api.app.create_app`. :class:`HubState`
opens what is built from those services once per app and is reachable as ``app.state.hub``; the
ledger, licence and cloud-signature services are built on first use (their factories are handed
in) so an app that never touches them does not pay for their keys.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import Request

from api.clients import ClientStore, RateLimiter
from api.purposes import Purposes, registry

if TYPE_CHECKING:
    from api.audit import AuditLog
    from api.publish import Uploads
    from api.ratelimit import LayeredLimiter, SharedRateLimiter
    from api.records import GoldenReader
    from ledger.service import LedgerService
    from ledger.witness import Witness
    from licence.cloudsign.service import CloudSignService
    from licence.service import LicenceService
    from pipeline.services import IngestServices
    from sharing.service import ClaimService
    from storage.keys import KeyStore
    from storage.library import LibraryStore
    from storage.replica import ReadRouting

# requests/s per network address that fail authentication (bursts twice that): a stranger
# guessing keys, or flooding the audit, is held to this before any key is even hashed
STRANGER_RATE = 5.0
# public look-ups (``GET /verify?id=&d=``, ``POST /v1/licences/verify``) per address: a
# window's queue may scan a few dozen licences at once, a harvester gets one a second
PUBLIC_RATE = 1.0
PUBLIC_BURST = 30.0


@dataclass(frozen=True)
class ApiConfig:
    """The plain values the API reads (from the hub's settings, by ``hub.wiring``)."""

    home: Path  # the hub's state folder: purposes, the pages' session key
    rate_limit: float  # requests/s per client without a rate of its own (burst twice that)
    stranger_rate: float  # requests/s per address failing authentication
    public_rate: float  # public look-ups per address and second
    audit_interval: float  # seconds between audit digests (background work)
    uploads: Uploads  # where uploads are spooled, the worker, the scheduler
    trust_dir: Path | None = None  # trust anchors and federation peers (HUB_TRUST_DIR)
    verify_max_age_hours: float = 12.0  # how old a peer's trust bundle may be
    # a streaming replica of the hub database (HUB_DATABASE_REPLICA_URL): golden record reads
    # go to it while it trails by at most replica_max_lag seconds (storage.replica)
    replica_url: str | None = None
    replica_max_lag: float = 5.0


@dataclass(frozen=True)
class ApiServices:
    """Everything the API is handed: its config, the shared stores and factories of the
    services it opens on first use."""

    config: ApiConfig
    ingest: IngestServices  # .objects, .library, .contracts
    keys: KeyStore  # the audit's subject key
    ledger: Callable[[], LedgerService]
    licences: Callable[[], LicenceService]
    cloudsign: Callable[[LedgerService], CloudSignService]  # built with the app's ledger
    witness: Callable[[], Witness]  # the hub's C2SP witness of peer logs
    # claims with receipts, built with the app's ledger, licence service and point reads
    claims: Callable[[LedgerService, LicenceService, GoldenReader], ClaimService] | None = None


@dataclass
class HubState:
    """The services one API process shares between requests."""

    services: ApiServices
    clients: ClientStore
    audit: AuditLog
    golden: GoldenReader  # point reads of golden records
    reads: ReadRouting  # the engine of reads that may trail: a replica's, or the primary's
    # per client: in memory (one process, SQLite), or shared in PostgreSQL (api.ratelimit)
    limiter: RateLimiter | SharedRateLimiter = field(default_factory=RateLimiter)
    # per network address: failed authentications (before any key is looked up) and public
    # look-ups (licence verification, which needs no key)
    strangers: RateLimiter | LayeredLimiter = field(default_factory=RateLimiter)
    stranger_rate: float = STRANGER_RATE
    public_rate: float = PUBLIC_RATE
    public_burst: float = PUBLIC_BURST
    purposes: Purposes = field(default_factory=registry)
    _noted: dict[str, float] = field(default_factory=dict)  # address -> last 429 audited
    _ledger: LedgerService | None = None
    _licences: LicenceService | None = None
    _witness: Witness | None = None
    _claims: ClaimService | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _sequencing: bool = False

    @classmethod
    def open(cls, services: ApiServices) -> HubState:
        from api.audit import AuditLog, subject_key
        from api.records import GoldenReader
        from holder.corrections import move_to_disputes
        from licence.store import LicenceStore
        from storage.findings import DisputeStore
        from storage.replica import ReadRouting

        config = services.config
        hub = services.ingest
        purposes = registry(config.home)
        clients = ClientStore(
            hub.library.engine, purposes=purposes, contracts=hub.contracts.values()
        )
        LicenceStore(hub.library.engine)  # the licence index tables, on a fresh hub too
        DisputeStore(hub.library.engine)  # the disputes table: golden reads look into it
        move_to_disputes(hub.library.engine)  # correction requests stored before are disputes
        # the audit's digests go to the state's ledger, opened when the first digest is due
        audit = AuditLog(
            hub.library.engine, subject_key(services.keys), lambda data: state.ledger.append(data)
        )
        reads = ReadRouting(hub.library.engine, config.replica_url, max_lag=config.replica_max_lag)
        state = cls(
            services,
            clients,
            audit,
            GoldenReader(hub.library, reads if reads.replica is not None else None),
            reads,
            purposes=purposes,
            stranger_rate=config.stranger_rate,
            public_rate=config.public_rate,
        )
        from api.ratelimit import LayeredLimiter, SharedRateLimiter

        if SharedRateLimiter.suits(hub.library.engine):  # PostgreSQL: every instance shares it
            state.limiter = SharedRateLimiter(hub.library.engine)
            # an address's budgets hold over every instance, refused here first when they can
            state.strangers = LayeredLimiter(state.limiter)
        return state

    @property
    def config(self) -> ApiConfig:
        return self.services.config

    @property
    def ingest(self) -> IngestServices:
        """The ingest pipeline's services: ``.objects``, ``.library``, ``.contracts``."""
        return self.services.ingest

    @property
    def library(self) -> LibraryStore:
        return self.services.ingest.library

    @property
    def ledger(self) -> LedgerService:
        with self._lock:
            if self._ledger is None:
                self._ledger = self.services.ledger()
            return self._ledger

    @property
    def licences(self) -> LicenceService:
        with self._lock:
            if self._licences is None:
                self._licences = self.services.licences()
            return self._licences

    @property
    def witness(self) -> Witness:
        with self._lock:
            if self._witness is None:
                self._witness = self.services.witness()
            return self._witness

    @property
    def claims(self) -> ClaimService:
        """Claims and their receipts (the verification seal is created on first use)."""
        built = self._claims
        if built is not None:
            return built
        factory = self.services.claims
        if factory is None:
            raise RuntimeError("this API was not handed a claim service (hub.wiring)")
        ledger, licences = self.ledger, self.licences
        with self._lock:
            if self._claims is None:
                self._claims = factory(ledger, licences, self.golden)
            return self._claims

    def start_background(self, sequencer: bool = True) -> None:
        """Digest audit rows every ``config.audit_interval`` s and (optionally) run the
        ledger's batch sequencer so digests reach a signed checkpoint."""
        self.audit.start(self.config.audit_interval)
        if sequencer:
            self.ledger.start()
            self._sequencing = True

    def close(self) -> None:
        """Stop periodic work and commit the audit rows still queued."""
        self.audit.stop()
        done = getattr(self.limiter, "close", None)
        if done is not None:  # the shared limiter's connections
            done()
        if self._claims is not None:
            self._claims.close()  # the receipts still queued are written
        if self._sequencing:
            self.ledger.stop()
            self._sequencing = False


async def hub_state(request: Request) -> HubState:
    """Dependency: the app's :class:`HubState` (async: no thread-pool hop per request)."""
    state: HubState = request.app.state.hub
    return state
