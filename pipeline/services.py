"""What the ingest steps work with, handed to them: the object store, the library, contracts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from pipeline.refs import IngestError
from schemas.contracts import Contract
from storage.library import LibraryStore
from storage.objects import ObjectStore


@dataclass(frozen=True)
class IngestServices:
    """The services of the ingest steps (built from settings by ``hub.wiring``)."""

    objects: ObjectStore
    library: LibraryStore
    contracts: dict[str, Contract] = field(default_factory=dict)

    def contract(self, dataset: str) -> Contract:
        """The contract of ``dataset``; :class:`IngestError` naming the known ones if none."""
        try:
            return self.contracts[dataset]
        except KeyError:
            known = ", ".join(sorted(self.contracts)) or "none"
            raise IngestError(f"unknown dataset {dataset!r} (contracts: {known})") from None


def fail_run(
    hub: IngestServices, run_id: str, exc: Exception, step: str, retry: str
) -> IngestError:
    """Mark the run failed because ``step`` raised ``exc``; the error to raise in its place.

    An :class:`IngestError` keeps its message (it names the run and the problem); any other
    error is named by its kind only, as its text may quote the data, with what a retry does
    (``retry``)."""
    if isinstance(exc, IngestError):
        message = str(exc)
    else:
        message = f"{step} step failed ({type(exc).__name__}); {retry}"
    when = datetime.now(UTC).replace(tzinfo=None)
    hub.library.set_run(run_id, status="failed", message=message, finished_at=when)
    return exc if isinstance(exc, IngestError) else IngestError(f"run {run_id}: {message}")
