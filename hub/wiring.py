"""The one place that builds the hub's services from its settings.

The command line, the API (``hub serve`` hands :func:`api_services` to
``api.app.create_app``) and the DAG tasks all take their services
from here: the library store, the ingest pipeline's services, the ledger, the licence service
and the cloud-signature service. Rooms below ``hub/`` never read the settings themselves; they
are handed these services (or plain values). Heavy modules are imported inside each builder, so
importing this module costs nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from hub.settings import Settings

if TYPE_CHECKING:
    from typing import Any

    from api.publish import Uploads
    from api.state import ApiServices
    from ledger.service import LedgerService
    from ledger.witness import Witness
    from licence.cloudsign.keys import CaKeys, CredentialKeys
    from licence.cloudsign.service import CloudSignService
    from licence.service import LicenceService
    from pipeline.services import IngestServices
    from schemas.contracts import Contract
    from sharing.service import ClaimService
    from storage.library import LibraryStore


def library_store(settings: Settings) -> LibraryStore:
    """The population and legal-entity libraries (and the run and quarantine index)."""
    from storage.library import LibraryStore, engine_for
    from storage.library.snapshot import FOLDER

    settings.ensure_dirs()
    # a PostgreSQL library keeps its columnar snapshots in the hub's home (SQLite: beside it)
    return LibraryStore(engine_for(settings.db_url), snapshots=settings.home / FOLDER)


def contracts(settings: Settings, contracts_dir: Path | None = None) -> dict[str, Contract]:
    """The dataset contracts: those of ``contracts_dir`` (default the project's), then those of
    ``HUB_CONTRACTS_EXTRA`` if set (a dataset id in both is refused)."""
    from schemas.contracts import ContractError, load_contracts

    found = load_contracts(contracts_dir)
    extra = settings.contracts_extra
    if extra is not None and extra.is_dir():
        for dataset, contract in load_contracts(extra).items():
            if dataset in found:
                raise ContractError(
                    contract.source, 1, "dataset_id", f"{dataset!r} also in {found[dataset].source}"
                )
            found[dataset] = contract
    return found


def ingest_services(settings: Settings, contracts_dir: Path | None = None) -> IngestServices:
    """What the ingest steps work with: the object store, the library and the contracts
    (those of ``contracts_dir``, or the project's, and ``HUB_CONTRACTS_EXTRA``'s)."""
    from pipeline.services import IngestServices
    from storage.objects import object_store

    settings.ensure_dirs()
    return IngestServices(
        object_store(settings), library_store(settings), contracts(settings, contracts_dir)
    )


def ledger_service(settings: Settings) -> LedgerService:
    """The transparency log with its signer and the configured anchor."""
    from ledger.service import LedgerService
    from ledger.witness_client import WitnessPool
    from licence.status_snapshot import status_snapshot

    ledger = LedgerService.open(settings)
    # every checkpoint commits the licence status lists of the state it covers, whichever
    # process sequences it (the log itself knows nothing of licences)
    ledger.add_snapshot_source(status_snapshot)
    # the witnesses `hub ledger witness add` configured cosign each new checkpoint
    ledger.witnesses = WitnessPool(ledger.engine)
    return ledger


def witness(settings: Settings) -> Witness:
    """The hub's C2SP witness: its own Ed25519 key, its state in the hub's SQL store."""
    from ledger.witness import Witness, load_cosigner
    from storage.engine import make_engine
    from storage.keys import EncryptedFileKeyStore

    settings.ensure_dirs()
    keys = EncryptedFileKeyStore(settings.keys_path, settings.key_passphrase)
    hash_name = "sm3" if settings.crypto_profile == "national" else "sha256"
    return Witness(
        make_engine(settings.db_url), load_cosigner(keys, settings.witness_name), hash_name
    )


def licence_service(settings: Settings, ledger: LedgerService | None = None) -> LicenceService:
    """The licence service wired to the configured stores (licences in the write-once
    ``licences`` bucket on MinIO) and the ledger (``ledger``, or one opened here)."""
    from licence.issuance import LibraryHolders
    from licence.service import LicenceService
    from licence.store import LicenceStore
    from licence.tables import engine_for
    from storage.keys import EncryptedFileKeyStore
    from storage.objects import object_store

    settings.ensure_dirs()
    return LicenceService(
        LicenceStore(engine_for(settings.db_url)),
        object_store(settings, bucket="licences"),  # object lock on MinIO
        EncryptedFileKeyStore(settings.keys_path, settings.key_passphrase),
        ledger or ledger_service(settings),
        LibraryHolders(library_store(settings)),
        ltv_url=settings.ltv_url,
    )


def cloudsign_keys(settings: Settings, keys: CaKeys) -> CredentialKeys | None:
    """Where credential keys live: the PKCS#11 token ``HUB_CLOUDSIGN_KEYS=pkcs11`` names, or
    None for the default (envelopes sealed under the hub's master secret)."""
    if settings.cloudsign_keys != "pkcs11":
        return None
    from licence.cloudsign.keys import MASTER_KEY, Pkcs11Keys
    from storage.pkcs11 import Pkcs11Token

    token = Pkcs11Token(settings.pkcs11_module, settings.pkcs11_token, settings.pkcs11_pin)
    return Pkcs11Keys(token, keys.secret(MASTER_KEY))


def cloudsign_service(
    settings: Settings,
    *,
    ledger: LedgerService | None = None,
    ingest: IngestServices | None = None,
    backend: CredentialKeys | None = None,
) -> CloudSignService:
    """The cloud-signature service on the configured stores, library and ledger (``ledger``
    and ``ingest``'s object store and library when the caller has them open already), with
    the configured key back end unless ``backend`` is given."""
    from licence.cloudsign.service import CloudSignService
    from storage.keys import EncryptedFileKeyStore

    ingest = ingest or ingest_services(settings)
    keys = EncryptedFileKeyStore(settings.keys_path, settings.key_passphrase)
    return CloudSignService(
        ingest.library.engine,
        keys,
        ingest.objects,
        ledger or ledger_service(settings),
        ingest.library,
        backend or cloudsign_keys(settings, keys),
        crypto_profile=settings.crypto_profile,
        ltv_url=settings.ltv_url,
    )


def claim_service(
    settings: Settings,
    ledger: LedgerService | None = None,
    licences: LicenceService | None = None,
    *,
    golden: Any = None,
    ingest: IngestServices | None = None,
) -> ClaimService:
    """Claims (核验) over the libraries and the licence index, with receipts sealed by the
    platform's verification seal (created on first use) and logged in ``ledger``."""
    from licence.seals import algorithm_for
    from sharing.service import ClaimService
    from storage.keys import EncryptedFileKeyStore

    ledger = ledger or ledger_service(settings)
    licences = licences or licence_service(settings, ledger)
    library = (ingest or ingest_services(settings)).library
    keys = EncryptedFileKeyStore(settings.keys_path, settings.key_passphrase)
    algorithm = algorithm_for(settings.crypto_profile)
    return ClaimService.open(library, golden, ledger, licences, keys, algorithm)


def uploads_config(settings: Settings) -> Uploads:
    """What the API's uploads need: the spool folder, the worker (``python -m
    hub.publish_worker``, handed these settings on stdin) and the scheduler."""
    import sys

    from api.publish import Uploads

    return Uploads(
        home=settings.home,
        worker=(sys.executable, "-m", "hub.publish_worker"),
        worker_input=settings.model_dump_json(),
        airflow_api_url=settings.airflow_api_url,
        airflow_username=settings.airflow_username,
        airflow_password=settings.airflow_password,
    )


def api_services(settings: Settings) -> ApiServices:
    """What ``api.app.create_app`` is handed: the API's config, the ingest services and the
    key store, and factories of the ledger, licence and cloud-signature services (the API
    builds each on first use, so start-up stays cheap)."""
    from api.state import ApiConfig, ApiServices
    from storage.keys import EncryptedFileKeyStore

    ingest = ingest_services(settings)

    def cloudsign(ledger: LedgerService) -> CloudSignService:
        return cloudsign_service(settings, ledger=ledger, ingest=ingest)

    def claims(ledger: LedgerService, licences: LicenceService, golden: Any) -> ClaimService:
        return claim_service(settings, ledger, licences, golden=golden, ingest=ingest)

    config = ApiConfig(
        home=settings.home,
        rate_limit=settings.api_rate_limit,
        stranger_rate=settings.api_stranger_rate,
        public_rate=settings.api_public_rate,
        audit_interval=settings.audit_interval,
        uploads=uploads_config(settings),
        trust_dir=settings.trust_path,
        verify_max_age_hours=settings.verify_max_age_hours,
        replica_url=settings.database_replica_url,
        replica_max_lag=settings.database_replica_max_lag,
    )
    return ApiServices(
        config=config,
        ingest=ingest,
        keys=EncryptedFileKeyStore(settings.keys_path, settings.key_passphrase),
        ledger=lambda: ledger_service(settings),
        licences=lambda: licence_service(settings),
        cloudsign=cloudsign,
        witness=lambda: witness(settings),
        claims=claims,
    )


def api_app(settings: Settings, *, background: bool = True) -> Any:
    """The API application for ``settings``: :func:`api_services` handed to
    ``api.app.create_app`` (what ``hub serve`` runs; tests and benchmarks use it too)."""
    from api.app import create_app

    return create_app(api_services(settings), background=background)
