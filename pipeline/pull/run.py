"""One pull of a dataset: finish what an earlier pull left, read what changed, land and merge it.

A pulled batch is landed like a delivered file (its rows written in the contract's format, the
raw bytes stored write-once) and recorded with the watermark it was read after and the one it
ends at (``pull_batches``). Its run is identified by the source, that starting watermark and
the content, so a batch read again after a crash is the same run, and a value changed back and
forth is a new one. The steps are the ingest's: check, quarantine, merge (with the batch's
tombstones, in the merge's one transaction), accuracy, publish. The next pull starts from the
position of the last batch whose merge committed; a batch that was landed but not finished is
finished first, so a pull killed at any step and run again neither skips nor duplicates a row.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from pipeline.accuracy import measure_accuracy
from pipeline.check import check
from pipeline.files import contract_file
from pipeline.land import run_id_for
from pipeline.merge import merge
from pipeline.publish import publish
from pipeline.pull.connections import Resolver
from pipeline.pull.errors import PullError
from pipeline.pull.sources import (
    Batch,
    BucketFiles,
    FolderFiles,
    read_http,
    read_sql,
    snapshot_changes,
)
from pipeline.quarantine import quarantine
from pipeline.refs import RunRef
from pipeline.services import IngestServices
from pipeline.work import ACCEPTED_COLUMN, CHECKED, arrow_bytes, put_once, work_key
from schemas.contracts import Contract
from schemas.pull_source import PullSource
from storage.objects import landing_key, sha256_hex

# a test's hook, called with each step's name as it ends (to kill the process there)
StepHook = Callable[[str], None]


@dataclass
class PullResult:
    """What a pull did: the runs it finished (earlier ones first) and where it ends."""

    dataset: str
    runs: list[RunRef] = field(default_factory=list)
    position: str | None = None
    message: str = ""

    def summary(self) -> dict[str, Any]:
        keys = ("run_id", "status", "rows_in", "rows_accepted", "rows_quarantined", "withdrawn")
        return {
            "dataset": self.dataset,
            "message": self.message,
            "position": self.position,
            "runs": [{k: v for k, v in r.items() if k in keys} for r in self.runs],
        }


def _source(hub: IngestServices, dataset: str) -> tuple[Contract, PullSource]:
    contract = hub.contract(dataset)
    if contract.pull is None:
        raise PullError(f"{dataset}: its contract names no source to pull from (source: ...)")
    return contract, contract.pull


def pull(
    hub: IngestServices,
    dataset: str,
    connections: Resolver,
    *,
    fail_on_breach: bool | None = None,
    received_at: datetime | None = None,
    after_step: StepHook | None = None,
) -> PullResult:
    """Pull ``dataset`` from its contract's source once (see the module); ``connections``
    resolves its Airflow Connection id. ``received_at``: the time new runs take (now)."""
    contract, source = _source(hub, dataset)
    step = after_step or (lambda _name: None)
    result = PullResult(dataset)
    result.runs += settle(hub, dataset, fail_on_breach, step)
    if source.kind == "prefix":
        files = _files(source, connections, dataset)
        seen = {b["position"] for b in hub.library.pull_batches(dataset)}
        for name in files.names(dataset):
            if name in seen:
                continue
            data = files.get(name)
            step("read")
            ref = land_batch(
                hub, contract, Batch(data=data, filename=name), None, name, received_at
            )
            step("land")
            result.runs.append(finish(hub, ref["run_id"], fail_on_breach, step))
        result.position = hub.library.pull_position(dataset)
        result.message = f"{len(result.runs)} file(s) ingested" if result.runs else "no new file"
        return result
    since = hub.library.pull_position(dataset)
    position: str | None
    if source.snapshot:
        batch, position = _snapshot(hub, contract, _read(contract, connections, None), since)
    else:
        batch = _read(contract, connections, since)
        position = batch.position
    step("read")
    if batch.empty or position is None or position == since:
        result.position = since
        result.message = "nothing changed since the last pull"
        return result
    ref = land_batch(hub, contract, batch, since, position, received_at)
    step("land")
    result.runs.append(finish(hub, ref["run_id"], fail_on_breach, step))
    result.position = hub.library.pull_position(dataset)
    result.message = "pulled"
    return result


def unfinished(hub: IngestServices, dataset: str) -> list[str]:
    """The runs of batches landed but not yet published (oldest first): a pull killed
    before its end left them; the next pull finishes them before it reads anything."""
    out = []
    for batch in hub.library.pull_batches(dataset):
        merged = batch["run_no"] is not None
        if (not merged and batch["status"] in ("landed", "checked")) or (
            merged and batch["status"] == "merged"
        ):
            out.append(batch["run_id"])
    return out


def settle(
    hub: IngestServices,
    dataset: str,
    fail_on_breach: bool | None = None,
    step: StepHook | None = None,
) -> list[RunRef]:
    """Finish the batches an earlier pull left unfinished (:func:`unfinished`)."""
    return [
        finish(hub, run_id, fail_on_breach, step or (lambda _name: None))
        for run_id in unfinished(hub, dataset)
    ]


def finish_landed(
    hub: IngestServices, dataset: str, run_id: str | None, fail_on_breach: bool | None = None
) -> list[RunRef]:
    """The hub's side after an edge worker landed ``run_id`` (None: nothing new): the
    unfinished batches, then that run, even if it failed before (checked again, so a batch
    that breaches a threshold fails the task each time instead of being skipped quietly)."""
    done = settle(hub, dataset, fail_on_breach)
    if run_id is not None and run_id not in {r["run_id"] for r in done}:
        done.append(finish(hub, run_id, fail_on_breach, lambda _name: None))
    return done


def _read(contract: Contract, connections: Resolver, since: str | None) -> Batch:
    source = contract.pull
    assert source is not None and source.connection is not None
    conn = connections(source.connection)
    if source.kind == "sql":
        return read_sql(contract, conn.sqlalchemy_url(), since)
    auth = (conn.login, conn.password) if conn.login else None
    return read_http(contract, conn.base_url(), auth, since)


def _files(source: PullSource, connections: Resolver, dataset: str) -> FolderFiles | BucketFiles:
    if source.folder is not None:
        return FolderFiles(source.folder)
    assert source.connection is not None and source.bucket is not None
    endpoint, access, secret, secure = connections(source.connection).s3()
    return BucketFiles(endpoint, access, secret, secure, source.bucket, source.prefix)


def _snapshot(
    hub: IngestServices, contract: Contract, whole: Batch, since: str | None
) -> tuple[Batch, str]:
    """A whole snapshot as the changes since the previous one; its digests are stored
    write-once and their key is the batch's position."""
    previous: dict[str, str] = {}
    if since is not None:
        previous = json.loads(hub.objects.get(since))
    batch, digests = snapshot_changes(contract, whole, previous)
    data = json.dumps(digests, sort_keys=True, separators=(",", ":")).encode()
    key = f"pull/{contract.dataset_id}/snapshots/{sha256_hex(data)}.json"
    put_once(hub.objects, key, lambda: data)
    return batch, key


def land_batch(
    hub: IngestServices,
    contract: Contract,
    batch: Batch,
    since: str | None,
    position: str,
    received_at: datetime | None = None,
) -> RunRef:
    """Store a batch write-once and open its run (or find it: the same batch read again)."""
    dataset = contract.dataset_id
    source = contract.pull
    assert source is not None
    if batch.data is not None:
        data, filename = batch.data, batch.filename.rsplit("/", 1)[-1]
    else:
        data, suffix = contract_file(contract, batch.rows)
        filename = f"pull-{dataset}{suffix}"
    tombstones = json.dumps(sorted(batch.tombstones), ensure_ascii=False).encode()
    identity = json.dumps(
        [source.kind, since, position, sha256_hex(data), sha256_hex(tombstones)]
    ).encode()
    digest = sha256_hex(identity)
    key = landing_key(dataset, sha256_hex(data))
    hub.objects.put(key, data)
    tomb_key = None
    if batch.tombstones:
        tomb_key = f"pull/{dataset}/tombstones/{sha256_hex(tombstones)}.json"
        put_once(hub.objects, tomb_key, lambda: tombstones)
    run = hub.library.find_run(dataset, digest)
    if run is None:
        when = (received_at or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None)
        run = hub.library.open_run(
            run_id_for(dataset, digest), dataset, digest, key, filename, when
        )
        if not batch.rows and batch.data is None:  # tombstones only: nothing to read or check
            _nothing_to_check(hub, contract, run["run_id"])
    hub.library.open_pull_batch(run["run_id"], dataset, source.kind, since, position, tomb_key)
    return _ref(run)


def _nothing_to_check(hub: IngestServices, contract: Contract, run_id: str) -> None:
    """A batch of tombstones only: an empty checked work file and the run checked."""
    schema = contract.arrow_schema().append(pa.field(ACCEPTED_COLUMN, pa.bool_()))
    put_once(hub.objects, work_key(run_id, CHECKED), lambda: arrow_bytes(schema.empty_table()))
    hub.library.set_run(run_id, status="checked", rows_in=0, rows_accepted=0, rows_quarantined=0)


def _ref(run: dict[str, Any]) -> RunRef:
    return {
        "run_id": run["run_id"],
        "dataset": run["dataset"],
        "object_key": run["object_key"],
        "sha256": run["sha256"],
        "status": run["status"],
        "already_done": run["status"] == "published",
    }


def _tombstones(hub: IngestServices, run_id: str) -> Sequence[str]:
    for batch in hub.library.pull_batches(hub.library.get_run(run_id)["dataset"]):
        if batch["run_id"] == run_id and batch["tombstones"]:
            return list(json.loads(hub.objects.get(batch["tombstones"])))
    return []


def finish(hub: IngestServices, run_id: str, fail_on_breach: bool | None, step: StepHook) -> RunRef:
    """Take a landed batch's run through the ingest steps, from where it stands."""
    run = hub.library.get_run(run_id)
    ref = _ref(run)
    if run["status"] == "published":
        return {**ref, "message": "already ingested: nothing changed"}
    if run["status"] != "merged":
        if run["rows_in"] == 0 and run["status"] == "checked":  # tombstones only
            ref = {**ref, "rows_in": 0, "rows_accepted": 0, "rows_quarantined": 0}
        else:
            ref = check(hub, ref)  # again after a crash: its work files are written once
        step("check")
        ref = quarantine(hub, ref, fail_on_breach=fail_on_breach)
        step("quarantine")
    withdrawn = _tombstones(hub, run_id)
    ref = merge(hub, ref, withdrawn=withdrawn)
    step("merge")
    ref = measure_accuracy(hub, ref, fail_on_breach=fail_on_breach)
    ref = publish(hub, ref)
    step("publish")
    return {**ref, "withdrawn": len(withdrawn), "message": "ingested"}
