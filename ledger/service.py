"""The log service: durable appends, batch sequencer, signed checkpoints, proofs and receipts.

Usage::

    svc = LedgerService.open(settings)        # creates tables and the log key on first use
    entry_id = svc.append(b"licence issued")  # durable at once: placed in log order, committed
    signed = svc.sequence()                   # one batch, one transaction, one checkpoint
    index = svc.entry_index(entry_id)         # leaf index once sequenced
    receipt = svc.receipt(index)              # Receipt; .to_json() to attach it anywhere
    verify_receipt(receipt, [svc.verifier_key()])
    svc.start()  # optional background sequencer every settings.ledger_interval seconds
    svc.stop()

An append writes each entry once, at its final position (its id follows from it, its leaf hash
from its data); the entries after the last checkpoint are the queue (``queue_limit`` of them at
most), and an entry has a leaf index (``entry_index``) and a receipt only once a checkpoint
covers it. The sequencer hashes the queue's leaves and interior nodes level by level, stores
the nodes from ``NODE_LEVEL`` up and signs one checkpoint over the whole queue.

The read side (sizes, roots, proofs, receipts) is :class:`ledger.log_reader.LogReader`, which
the service extends: reading needs no lock, queue or thread.

Snapshot sources: a function ``source(conn, state_size)`` registered with
``add_snapshot_source`` (the composition root, ``hub/wiring.py``, registers the licence status
lists: the log itself knows nothing of licences) is called inside every
sequencing transaction, after the batch's entries are placed (``state_size`` is the tree size
they end at) and before the checkpoint is signed. It returns entry makers; each is called as
``make(checkpoint_size, index)`` and its bytes are sequenced at ``index``, after the batch,
under the checkpoint of ``checkpoint_size``. The licence service commits each authority's
status list this way: checkpoint N covers the status snapshot of the state at N, whichever
process produced the checkpoint.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Connection, Engine, delete, func, select
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError

from ledger.anchor import (
    Anchor,
    AnchorError,
    AnchorReference,
    AnchorUnavailableError,
    FabricConfig,
)
from ledger.cosignature import add_cosignatures
from ledger.embedded_anchor import EmbeddedAnchor
from ledger.log_reader import LedgerError, LogReader
from ledger.merkle import (
    Frontier,
    ProofError,
    leaf_hash,
    leaf_hashes,
    range_nodes,
    verify_consistency,
)
from ledger.note import Checkpoint, Signer, sign_checkpoint
from ledger.witness_client import WitnessPool
from storage import ledger_store as db
from storage.keys import EncryptedFileKeyStore, KeyStore

log = logging.getLogger(__name__)
LOG_KEY_NAME = "ledger-log"
SnapshotMaker = Callable[[int, int], bytes]  # (checkpoint size, its own index) -> entry
SnapshotSource = Callable[[Connection, int], list[SnapshotMaker]]


class ConcurrentSequencerError(LedgerError):
    """Another sequencer (another process on the same log) signed the next checkpoint first:
    this batch rolled back whole, and the next round covers whatever is still queued."""


class QueueFullError(LedgerError):
    """Too many entries wait for sequencing; retry after the sequencer catches up."""


@dataclass(frozen=True)
class SignedCheckpoint:
    checkpoint: Checkpoint
    note: bytes
    anchor: AnchorReference | None = None


def load_signer(keys: KeyStore, origin: str) -> Signer:
    """The log's Ed25519 signer, created in the key store on first use."""
    if not keys.exists(LOG_KEY_NAME):
        keys.save(LOG_KEY_NAME, Ed25519PrivateKey.generate())
    key = keys.load(LOG_KEY_NAME)
    if not isinstance(key, Ed25519PrivateKey):
        raise LedgerError(f"key {LOG_KEY_NAME!r} is not an Ed25519 key")
    return Signer(origin.replace(" ", "_"), key)


class LedgerConfig(FabricConfig, Protocol):
    """The values :meth:`LedgerService.open` reads (the hub's settings have them)."""

    @property
    def db_url(self) -> str: ...
    @property
    def keys_path(self) -> Path: ...
    @property
    def key_passphrase(self) -> str: ...
    @property
    def crypto_profile(self) -> str: ...
    @property
    def ledger_origin(self) -> str: ...
    @property
    def ledger_anchor(self) -> str: ...
    @property
    def ledger_queue_limit(self) -> int: ...
    @property
    def ledger_interval(self) -> float: ...
    def ensure_dirs(self) -> None: ...


class LedgerService(LogReader):
    """The log: a :class:`~ledger.log_reader.LogReader` that also appends, sequences and anchors."""

    def __init__(
        self,
        engine: Engine,
        signer: Signer,
        origin: str,
        hash_name: str = "sha256",
        anchor: Anchor | None = None,
        queue_limit: int = 100_000,
        interval: float = 1.0,
    ) -> None:
        super().__init__(engine, signer, hash_name, anchor)
        self.origin = origin
        self.queue_limit = queue_limit
        self.interval = interval
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._snapshots: list[SnapshotSource] = []
        self.witnesses: WitnessPool | None = None  # who cosigns each new checkpoint
        db.create_tables(engine)
        with engine.begin() as conn:
            row = conn.execute(select(db.meta.c.value).where(db.meta.c.key == "hash")).first()
            if row is None:
                conn.execute(db.meta.insert().values(key="hash", value=hash_name))
            elif row.value != hash_name:
                raise LedgerError(
                    f"this log uses {row.value}, not {hash_name}; a log never changes hash"
                )
            try:
                upgraded = db.upgrade_entries(conn, lambda data: leaf_hash(data, hash_name))
            except ValueError as exc:
                raise LedgerError(str(exc)) from None
            if upgraded:
                log.info("ledger: entry ids moved to id runs (one index per entry)")
            self._adopt_queue(conn)

    @classmethod
    def open(cls, settings: LedgerConfig, anchor: Anchor | None = None) -> LedgerService:
        settings.ensure_dirs()
        engine = db.make_engine(settings.db_url)
        keys = EncryptedFileKeyStore(settings.keys_path, settings.key_passphrase)
        hash_name = "sm3" if settings.crypto_profile == "national" else "sha256"
        signer = load_signer(keys, settings.ledger_origin)
        if anchor is None and settings.ledger_anchor == "embedded":
            anchor = EmbeddedAnchor(engine, hash_name)
        elif anchor is None and settings.ledger_anchor == "fabric":
            from ledger.fabric_anchor import FabricAnchor  # gRPC: imported only when used

            anchor = FabricAnchor.from_settings(settings, settings.ledger_origin, signer.vkey())
        svc = cls(
            engine,
            signer,
            settings.ledger_origin,
            hash_name,
            anchor,
            settings.ledger_queue_limit,
            settings.ledger_interval,
        )
        return svc

    def add_snapshot_source(self, source: SnapshotSource) -> None:
        """Call ``source(conn, state_size)`` in every sequencing transaction; the entries its
        makers return are sequenced after the batch's, under the same checkpoint (a source is
        registered once)."""
        with self._lock:
            if source not in self._snapshots:
                self._snapshots.append(source)

    # --- writing ---------------------------------------------------------------------------

    def append(self, data: bytes) -> int:
        """Queue one entry durably; returns its entry id at once."""
        return self.append_many([data])[0]

    def append_many(self, items: Sequence[bytes]) -> list[int]:
        """Queue entries in one transaction; raises QueueFullError when the queue is full."""
        for attempt in range(5):
            try:
                return self._append_many(items)
            except (IntegrityError, OperationalError) as exc:
                # another process took the same ids (or held the SQLite write lock): retry
                if attempt == 4:
                    raise LedgerError(f"could not queue entries, the store is busy: {exc}") from exc
                time.sleep(0.01 * (attempt + 1))
        raise AssertionError("unreachable")

    def _append_many(self, items: Sequence[bytes]) -> list[int]:
        with self.engine.begin() as conn:
            return self.append_many_in(conn, items)

    def shares_database(self, engine: Engine) -> bool:
        """True if ``engine`` is this log's database, so a caller's transaction can hold its
        writes together with entries queued by ``append_many_in``."""
        return engine is self.engine or engine.url == self.engine.url

    def append_many_in(self, conn: Connection, items: Sequence[bytes]) -> list[int]:
        """Queue entries inside the caller's transaction on this log's database: they commit
        (or roll back) with the caller's own rows. Raises QueueFullError when the queue is full.
        """
        db.lock_head(conn)
        next_idx, next_id = db.log_head(conn)
        waiting = next_idx - db.tree_size(conn)
        if waiting + len(items) > self.queue_limit:
            raise QueueFullError(
                f"ledger queue full ({waiting} waiting, limit {self.queue_limit}): "
                "retry after the sequencer runs (hub ledger checkpoint)"
            )
        self._place(conn, next_idx, list(map(bytes, items)))
        return list(range(next_id, next_id + len(items)))

    def _place(self, conn: Connection, first: int, data: list[bytes]) -> None:
        """Write entries at leaf indices ``first``, ``first + 1``, ... (their ids follow from
        the indices: ``db.EntryIds``; their leaf hashes from their data, when sequenced)."""
        rows = zip(range(first, first + len(data)), data, strict=True)
        db.bulk_insert(conn, db.entries, ("idx", "data"), rows)

    def _adopt_queue(self, conn: Connection) -> None:
        """Place the entries an earlier version left in ``ledger_pending`` (ids kept, queue
        order), so they are sequenced like any appended entry."""
        db.lock_head(conn)
        rows = db.fetch_pending(conn)
        if rows:
            next_idx, _ = db.log_head(conn)
            try:
                db.record_ids(conn, next_idx, [i for i, _ in rows])
            except ValueError as exc:
                raise LedgerError(f"cannot adopt the queue of an earlier version: {exc}") from exc
            self._place(conn, next_idx, [d for _, d in rows])
            conn.execute(delete(db.pending).where(db.pending.c.id <= rows[-1][0]))

    def _frontier(self, conn: Connection, size: int) -> Frontier:
        wanted = range_nodes(0, size)
        got = self._get_nodes(conn, wanted)
        return Frontier(size, [got[n] for n in wanted], self.hash_name)

    def sequence(self) -> SignedCheckpoint | None:
        """Sign every queued entry under one new checkpoint (one transaction).

        Returns it, or the latest existing checkpoint when nothing was queued (None for an
        empty, unsigned log).
        """
        result: SignedCheckpoint | None = None
        with self._lock:
            busy = 0
            while True:
                try:
                    result = self._sequence_batch()
                    break
                except OperationalError:
                    # SQLite: a writer committed between this transaction's first read and
                    # its first write (or held the lock too long); the batch rolled back whole
                    busy += 1
                    if busy == 8:
                        raise
                    time.sleep(0.005 * busy)
        fresh = result is not None
        if result is None:
            latest = self.latest_checkpoint()
            if latest is None:
                return None
            result = SignedCheckpoint(*latest)
        if isinstance(self.anchor, EmbeddedAnchor):  # the same database: never unreachable
            result = SignedCheckpoint(result.checkpoint, result.note, self._anchor(result))
        elif self.anchor is not None:
            size = result.checkpoint.size
            self._queue_anchor(size)
            anchored = self.anchor_queued()
            result = SignedCheckpoint(result.checkpoint, result.note, anchored.get(size))
        if self.witnesses is not None:
            # after anchoring: the anchor keeps the note as the log signed it. A checkpoint
            # another process signed is completed here with the cosignatures it lacks (once
            # per witness and checkpoint), so receipts made after this call carry them
            result = self._cosigned(result, only_missing=not fresh)
        return result

    def _cosigned(self, signed: SignedCheckpoint, only_missing: bool = False) -> SignedCheckpoint:
        """The new checkpoint with the cosignatures of the witnesses that gave one, stored
        with it (outside the sequencing lock: a slow witness never holds up appends)."""
        assert self.witnesses is not None
        note = self.witnesses.cosign(signed.note, self.consistency_proof, only_missing)
        if note == signed.note:
            return signed
        got = note[len(signed.note) :].decode("utf-8")  # the lines the witnesses gave
        where = db.checkpoints.c.size == signed.checkpoint.size
        with self.engine.begin() as conn:
            # merged into the stored note, which another process may have cosigned meanwhile
            stored = conn.execute(select(db.checkpoints.c.note).where(where)).scalar_one()
            note = add_cosignatures(bytes(stored), got)
            conn.execute(db.checkpoints.update().where(where).values(note=note))
        return SignedCheckpoint(signed.checkpoint, note, signed.anchor)

    def _sequence_batch(self) -> SignedCheckpoint | None:
        hn = self.hash_name
        try:
            with self.engine.begin() as conn:
                db.lock_head(conn)
                end, _ = db.log_head(conn)
                last = conn.execute(
                    select(db.checkpoints.c.size, db.checkpoints.c.root)
                    .order_by(db.checkpoints.c.size.desc())
                    .limit(1)
                ).first()
                size = 0 if last is None else int(last.size)
                if end <= size:
                    return None
                frontier = self._frontier(conn, size)
                if last is not None and frontier.root() != bytes(last.root):
                    raise LedgerError(
                        f"stored tree of size {size} does not match the last checkpoint's "
                        "root: refusing to sign"
                    )
                if self._snapshots:
                    end = self._place_snapshots(conn, end)
                data = db.entry_data(conn, size, end)
                if len(data) != end - size:
                    raise LedgerError(
                        f"entries {size}..{end - 1} are not all stored ({len(data)} found): "
                        "refusing to sign"
                    )
                leaves = leaf_hashes(data, hn)
                del data
                key = db.node_key
                # sorted keys: the inserts walk the node index once, front to back
                nodes = sorted(
                    (key(level, idx), h)
                    for level, idx, h in frontier.extend(leaves, lowest=db.NODE_LEVEL)
                )
                db.bulk_insert(conn, db.nodes, ("key", "hash"), nodes)
                new_root = frontier.root()
                if last is not None:  # compare-and-swap: the new tree must extend the last one
                    proof = self._consistency(conn, size, frontier.size)
                    verify_consistency(size, frontier.size, bytes(last.root), new_root, proof, hn)
                cp = Checkpoint(self.origin, frontier.size, new_root)
                note = sign_checkpoint(cp, self.signer)
                conn.execute(db.checkpoints.insert().values(size=cp.size, root=new_root, note=note))
        except IntegrityError as exc:
            raise ConcurrentSequencerError(
                f"another sequencer extended the log concurrently: {exc.orig}"
            ) from exc
        except ProofError as exc:
            raise LedgerError(f"refusing to sign an inconsistent checkpoint: {exc}") from exc
        return SignedCheckpoint(cp, note)

    def _place_snapshots(self, conn: Connection, state_size: int) -> int:
        """Place the snapshot sources' entries for this batch from ``state_size`` on (the
        queue's end), with entry ids after every other; returns the new end of the batch."""
        makers: list[SnapshotMaker] = []
        for source in self._snapshots:
            makers.extend(source(conn, state_size))
        if not makers:
            return state_size
        size = state_size + len(makers)
        data = [bytes(make(size, state_size + k)) for k, make in enumerate(makers)]
        self._place(conn, state_size, data)
        return size

    def _anchor(self, signed: SignedCheckpoint) -> AnchorReference:
        assert self.anchor is not None
        latest = self.anchor.latest()
        proof: list[bytes] = []
        if latest is not None and 0 < latest[1] < signed.checkpoint.size:
            proof = self.consistency_proof(latest[1], signed.checkpoint.size)
        cp = signed.checkpoint
        return self.anchor.anchor(signed.note, cp.size, cp.root, proof)

    # --- a remote anchor's queue -------------------------------------------------------------

    def _queue_anchor(self, size: int) -> None:
        """Queue the checkpoint of ``size`` for the remote anchor (once)."""
        assert self.anchor is not None
        with self.engine.begin() as conn:
            queued = conn.execute(
                select(db.anchor_queue.c.size).where(db.anchor_queue.c.size == size)
            ).first()
            if queued is None:
                try:
                    with conn.begin_nested():
                        conn.execute(
                            db.anchor_queue.insert().values(size=size, backend=self.anchor.name)
                        )
                except IntegrityError:
                    pass  # another sequencer queued it meanwhile

    def anchor_queued(self) -> dict[int, AnchorReference]:
        """Anchor the queued checkpoints, oldest first, each with its consistency proof from
        the one anchored before it; returns {size: reference} of those anchored now.

        A backend that cannot be reached leaves them queued (logged, retried by the next
        sequencing); a refusal (a fork, a rolled-back log) raises :class:`AnchorError`. A
        checkpoint the chain already holds (its answer was lost, or another sequencer got
        there first) is recorded with the chain's transaction, after checking the note.
        """
        anchor = self.anchor
        if anchor is None or isinstance(anchor, EmbeddedAnchor):
            return {}
        q = db.anchor_queue.c
        with self.engine.connect() as conn:
            waiting = conn.execute(
                select(q.size, db.checkpoints.c.root, db.checkpoints.c.note)
                .join(db.checkpoints, db.checkpoints.c.size == q.size)
                .where(q.reference.is_(None))
                .order_by(q.size)
            ).all()
        done: dict[int, AnchorReference] = {}
        if not waiting:
            return done
        try:
            latest = anchor.latest()
            chain = 0 if latest is None else latest[1]
            for row in waiting:
                size, root, note = int(row.size), bytes(row.root), bytes(row.note)
                if size <= chain:
                    ref = self._anchored_already(size, note, chain)
                else:
                    proof = self.consistency_proof(chain, size) if chain else []
                    try:
                        ref = anchor.anchor(note, size, root, proof)
                    except AnchorUnavailableError:
                        raise
                    except AnchorError:
                        # another sequencer of this log may have anchored it since latest()
                        if anchor.at_size(size) is None:
                            raise
                        ref = self._anchored_already(size, note, size)
                    chain = size
                with self.engine.begin() as conn:
                    conn.execute(
                        db.anchor_queue.update()
                        .where(q.size == size)
                        .values(reference=ref.reference, block=ref.block, anchored_at=func.now())
                    )
                done[size] = ref
        except AnchorUnavailableError as exc:
            left = len(waiting) - len(done)
            log.warning(
                "%s anchor unreachable, %d checkpoint(s) stay queued: %s", anchor.name, left, exc
            )
        return done

    def _anchored_already(self, size: int, note: bytes, chain: int) -> AnchorReference:
        """The anchor's reference for a checkpoint it already holds, which must be ours."""
        assert self.anchor is not None
        found = self.anchor.at_size(size)
        if found is None or found[1] != note:
            raise AnchorError(
                f"checkpoint of size {size} is queued but the anchor holds "
                f"{'another note' if found else 'no checkpoint'} of that size "
                f"(it is at size {chain})"
            )
        return found[0]

    def queued_anchors(self) -> list[int]:
        """Sizes of the checkpoints waiting for the remote anchor, oldest first."""
        q = db.anchor_queue.c
        with self.engine.connect() as conn:
            rows = conn.execute(select(q.size).where(q.reference.is_(None)).order_by(q.size))
            return [int(r.size) for r in rows]

    # --- background sequencer ---------------------------------------------------------------

    def start(self) -> None:
        """Run the sequencer every ``interval`` seconds in a daemon thread."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="ledger-sequencer", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.sequence()
            except ConcurrentSequencerError:
                # the expected outcome of two hubs sequencing one log: not a failure
                log.info("ledger sequencer: another process signed this round's checkpoint")
            except (LedgerError, SQLAlchemyError, AnchorError):
                log.exception("ledger sequencer batch failed; will retry")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
