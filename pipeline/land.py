"""The land step: the raw bytes stored write-once, the run opened (or found)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from pipeline.refs import RunRef
from pipeline.services import IngestServices
from storage.objects import landing_key, sha256_hex


def run_id_for(dataset: str, digest: str) -> str:
    """The run id of a file: the same file for the same dataset is always the same run."""
    return f"{dataset}-{digest[:16]}"


def land(
    hub: IngestServices,
    dataset: str,
    data: bytes,
    filename: str,
    received_at: datetime | None = None,
) -> RunRef:
    """Store the raw bytes under ``landing/<dataset>/<sha256>`` and open (or find) the run."""
    hub.contract(dataset)
    digest = sha256_hex(data)
    key = landing_key(dataset, digest)
    hub.objects.put(key, data)
    existing = hub.library.find_run(dataset, digest)
    if existing is None:
        when = (received_at or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None)
        existing = hub.library.open_run(
            run_id_for(dataset, digest), dataset, digest, key, Path(filename).name, when
        )
    return {
        "run_id": existing["run_id"],
        "dataset": dataset,
        "object_key": key,
        "sha256": digest,
        "status": existing["status"],
        "already_done": existing["status"] == "published",
    }
