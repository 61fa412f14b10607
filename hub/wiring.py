"""The one place that builds the hub's services from its settings.

The command line, the API (through ``hub serve``) and the DAG tasks all take their services
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
    from ledger.service import LedgerService
    from licence.cloudsign.service import CloudSignService
    from licence.service import LicenceService
    from pipeline.services import IngestServices
    from storage.library import LibraryStore


def library_store(settings: Settings) -> LibraryStore:
    """The population and legal-entity libraries (and the run and quarantine index)."""
    from storage.library import LibraryStore, engine_for

    settings.ensure_dirs()
    return LibraryStore(engine_for(settings.db_url))


def ingest_services(settings: Settings, contracts_dir: Path | None = None) -> IngestServices:
    """What the ingest steps work with: the object store, the library and the contracts
    (those of ``contracts_dir``, or the project's)."""
    from pipeline.services import IngestServices
    from schemas.contracts import load_contracts
    from storage.objects import object_store

    settings.ensure_dirs()
    return IngestServices(
        object_store(settings), library_store(settings), load_contracts(contracts_dir)
    )


def ledger_service(settings: Settings) -> LedgerService:
    """The transparency log with its signer and the configured anchor."""
    from ledger.service import LedgerService
    from licence.status_snapshot import status_snapshot

    ledger = LedgerService.open(settings)
    # every checkpoint commits the licence status lists of the state it covers, whichever
    # process sequences it (the log itself knows nothing of licences)
    ledger.add_snapshot_source(status_snapshot)
    return ledger


def licence_service(settings: Settings, ledger: LedgerService | None = None) -> LicenceService:
    """The licence service wired to the configured stores (licences in the write-once
    ``licences`` bucket on MinIO) and the ledger (``ledger``, or one opened here)."""
    from licence.issuance import LibraryHolders
    from licence.service import LicenceService
    from licence.store import LicenceStore, engine_for
    from storage.keys import EncryptedFileKeyStore
    from storage.objects import object_store

    settings.ensure_dirs()
    return LicenceService(
        LicenceStore(engine_for(settings.db_url)),
        object_store(settings, bucket="licences"),  # object lock on MinIO
        EncryptedFileKeyStore(settings.keys_path, settings.key_passphrase),
        ledger or ledger_service(settings),
        LibraryHolders(library_store(settings)),
    )


def cloudsign_service(settings: Settings) -> CloudSignService:
    """The cloud-signature service on the configured stores, library and ledger."""
    from licence.cloudsign.service import open_cloudsign

    return open_cloudsign(settings)
