"""Pulls split between a department and the hub: an Edge worker reads, the hub lands.

Departments do not open their databases to the hub's network. The ``pull_<dataset>`` DAG of a
source on a department's queue runs :func:`extract` on that department's Edge worker: it asks
the hub's API where the last merged batch ended (``GET /v1/datasets/{id}/pulls``), reads the
department's source past it, and sends the batch (the rows as a file of the contract's format,
the tombstones, the watermark it was read after and the one it ends at) to the hub's API
(``POST /v1/datasets/{id}/pulls``), which lands it with :func:`accept`. The hub's own worker
then finishes the run (:func:`pipeline.pull.run.finish`). The worker holds only the
department's connection and its API key for the hub; the hub never reaches into the
department's network.

:func:`accept` refuses a batch read after another position than the hub's (a stale read: the
worker reads again) or sent while another batch is unfinished, so the watermark's guarantees
(no change skipped or merged twice) hold across the two sides.
"""

from __future__ import annotations

import json
import secrets
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pipeline.files import SUFFIX, contract_file
from pipeline.pull.connections import Connection, Resolver
from pipeline.pull.errors import PullError
from pipeline.pull.run import land_batch, unfinished
from pipeline.pull.sources import Batch, read_http, read_sql
from pipeline.refs import RunRef
from pipeline.services import IngestServices
from schemas.contracts import Contract

PURPOSE = "dataset-publishing"


class BatchRefused(PullError):
    """The hub refused a batch; ``status`` is the HTTP status it answers with."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


def edge_ready(contract: Contract) -> None:
    """Refuse a source an Edge worker cannot read alone (it needs hub state to compare with)."""
    source = contract.pull
    if source is None or source.kind == "prefix" or source.snapshot:
        raise BatchRefused(
            409,
            "not-edge-pulled",
            f"{contract.dataset_id}: only a sql or http source with a watermark is read by an "
            "edge worker",
        )


def accept(
    hub: IngestServices,
    dataset: str,
    since: str | None,
    position: str,
    data: bytes | None,
    tombstones: list[str],
    received_at: datetime | None = None,
) -> RunRef:
    """Land a batch an Edge worker read (hub side; see the module). The same batch sent again
    is the same run."""
    contract = hub.contract(dataset)
    edge_ready(contract)
    if not position.strip():
        raise BatchRefused(400, "no-position", "say where the batch ends (position)")
    if data is None and not tombstones:
        raise BatchRefused(400, "empty-batch", "a batch holds rows, tombstones or both")
    current = hub.library.pull_position(dataset)
    waiting = [
        b for b in hub.library.pull_batches(dataset) if b["run_id"] in set(unfinished(hub, dataset))
    ]
    same = [b for b in waiting if (b["since"], b["position"]) == (since, position)]
    if waiting and not same:
        raise BatchRefused(
            409, "batch-unfinished", f"{dataset}: a batch is still being ingested; send later"
        )
    if not same and since != current:
        raise BatchRefused(
            409,
            "stale-position",
            f"{dataset}: the batch was read after {since!r}, the hub is at {current!r}: read again",
        )
    filename = f"pull-{dataset}{SUFFIX[contract.format]}"
    batch = Batch(rows=[], tombstones=list(tombstones), data=data, filename=filename)
    return land_batch(hub, contract, batch, since, position, received_at)


# ---- the department's side ----------------------------------------------------------------
@dataclass(frozen=True)
class HubApi:
    """The hub's API as a department's worker reaches it: base URL and the client's key (from
    an Airflow Connection of type http whose password is the key)."""

    base_url: str
    key: str

    @classmethod
    def from_connection(cls, conn: Connection) -> HubApi:
        return cls(conn.base_url(), conn.password)

    def _call(self, request: urllib.request.Request) -> dict[str, Any]:
        request.add_header("Authorization", f"Bearer {self.key}")
        request.add_header("X-Purpose", PURPOSE)
        try:
            with urllib.request.urlopen(request, timeout=300) as response:
                answer: dict[str, Any] = json.loads(response.read())
                return answer
        except urllib.error.HTTPError as exc:
            try:
                body = json.loads(exc.read())
            except ValueError:
                body = {}
            raise BatchRefused(
                exc.code,
                str(body.get("type", "")).rsplit("/", 1)[-1],
                f"the hub answered HTTP {exc.code}: {body.get('detail', '')}",
            ) from None
        except (urllib.error.URLError, OSError) as exc:
            raise PullError(f"the hub's API could not be reached ({type(exc).__name__})") from None

    def position(self, dataset: str) -> str | None:
        url = f"{self.base_url.rstrip('/')}/v1/datasets/{dataset}/pulls"
        got = self._call(urllib.request.Request(url))
        position = got.get("position")
        return None if position is None else str(position)

    def send(
        self,
        dataset: str,
        since: str | None,
        position: str,
        data: bytes | None,
        filename: str,
        tombstones: list[str],
    ) -> dict[str, Any]:
        """POST the batch as a multipart form (``file``, ``since``, ``position``,
        ``tombstones``)."""
        boundary = "pull-" + secrets.token_hex(16)
        parts: list[bytes] = []

        def field(name: str, value: str) -> None:
            parts.append(
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
                + value.encode()
                + b"\r\n"
            )

        if since is not None:
            field("since", since)
        field("position", position)
        field("tombstones", json.dumps(tombstones, ensure_ascii=False))
        if data is not None:
            parts.append(
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
                f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'.encode()
                + data
                + b"\r\n"
            )
        body = b"".join(parts) + f"--{boundary}--\r\n".encode()
        url = f"{self.base_url.rstrip('/')}/v1/datasets/{dataset}/pulls"
        request = urllib.request.Request(url, data=body, method="POST")
        request.add_header("Content-Type", f"multipart/form-data; boundary={boundary}")
        return self._call(request)


def extract(contract: Contract, connections: Resolver, hub: HubApi) -> dict[str, Any]:
    """The department's side of a pull: read past the hub's position, send the batch. Returns
    the run the hub opened (``run_id`` None when nothing changed)."""
    edge_ready(contract)
    source = contract.pull
    assert source is not None and source.connection is not None
    dataset = contract.dataset_id
    since = hub.position(dataset)
    conn = connections(source.connection)
    if source.kind == "sql":
        batch = read_sql(contract, conn.sqlalchemy_url(), since)
    else:
        auth = (conn.login, conn.password) if conn.login else None
        batch = read_http(contract, conn.base_url(), auth, since)
    if batch.empty or batch.position is None or batch.position == since:
        return {"dataset": dataset, "run_id": None, "position": since}
    data = None
    if batch.rows:
        data = contract_file(contract, batch.rows)[0]
    run = hub.send(
        dataset,
        since,
        batch.position,
        data,
        f"pull-{dataset}{SUFFIX[contract.format]}",
        batch.tombstones,
    )
    return {"dataset": dataset, "run_id": run["run_id"], "position": batch.position}
