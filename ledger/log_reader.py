"""The log's read side: sizes, roots, checkpoints, proofs and receipts from the stored tree.

:class:`LogReader` answers from what the sequencer committed: perfect-subtree hashes are read
(those below ``NODE_LEVEL`` folded from their leaves) and the upper levels cached, as they
never change once committed; a receipt carries the inclusion path, the checkpoint note and
where that checkpoint was anchored. :class:`ledger.service.LedgerService` is a reader that
also writes: appends, sequencing, anchoring. A caller that only proves (licence checks, the
cloud-signature audit) needs no more than the methods here.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, Engine, select

from ledger.anchor import Anchor, AnchorReference
from ledger.embedded_anchor import EmbeddedAnchor
from ledger.merkle import (
    Node,
    assemble,
    consistency_ranges,
    fold,
    hasher,
    inclusion_ranges,
    leaf_hash,
    leaf_hashes,
    proof_nodes,
    range_nodes,
)
from ledger.note import Checkpoint, Signer, open_checkpoint
from ledger.receipt import Receipt
from storage import ledger_store as db


class LedgerError(Exception):
    """The log refused an operation (full queue, conflicting sequencer, unknown size)."""


class LogReader:
    """Reads the log kept in ``engine``'s ledger tables, hashed with ``hash_name``; checkpoints
    are opened with ``signer``'s key, and ``anchor`` says where a checkpoint was anchored."""

    def __init__(
        self, engine: Engine, signer: Signer, hash_name: str, anchor: Anchor | None
    ) -> None:
        self.engine = engine
        self.signer = signer
        self.hash_name = hash_name
        self.anchor = anchor
        # perfect-subtree hashes never change once committed: cache the upper levels (at most
        # n/2^CACHE_LEVEL of them) so a proof reads only its few low-level nodes
        self._node_cache: dict[tuple[int, int], bytes] = {}
        # the root of the first ``size`` entries never changes either (an append-only log)
        self._roots: dict[int, bytes] = {}

    CACHE_LEVEL = db.NODE_LEVEL  # the stored levels; those below are folded from leaves

    def _get_nodes(self, conn: Connection, wanted: list[Node]) -> dict[Node, bytes]:
        """Perfect-subtree hashes: stored ones read, those below ``db.NODE_LEVEL`` hashed up
        from their leaves (one ``get_nodes`` for all; a node shared by several wanted ones,
        as in bulk receipts, is hashed once)."""
        low = [(lv, i) for lv, i in wanted if 0 < lv < db.NODE_LEVEL]
        if not low:
            return db.get_nodes(conn, wanted, self._hash_leaves)
        below: list[set[int]] = [set() for _ in range(db.NODE_LEVEL)]  # indices per level
        for lv, i in low:
            for level in range(lv):
                below[level].update(range(i << (lv - level), (i + 1) << (lv - level)))
        read = [n for n in wanted if not 0 < n[0] < db.NODE_LEVEL]
        stored = set(read)
        leaves = [(0, j) for j in sorted(below[0]) if (0, j) not in stored]
        got = db.get_nodes(conn, read + leaves, self._hash_leaves)
        h = hasher(self.hash_name)
        for level in range(1, db.NODE_LEVEL):
            for j in below[level] | {i for lv, i in low if lv == level}:
                got[(level, j)] = h(b"\x01" + got[(level - 1, 2 * j)] + got[(level - 1, 2 * j + 1)])
        return got

    def _hash_leaves(self, data: list[bytes]) -> list[bytes]:
        return leaf_hashes(data, self.hash_name)

    def _read_nodes(
        self, conn: Connection, wanted: list[tuple[int, int]]
    ) -> dict[tuple[int, int], bytes]:
        cache = self._node_cache
        got = {n: cache[n] for n in wanted if n in cache}
        missing = [n for n in wanted if n not in got]
        if missing:
            fetched = self._get_nodes(conn, missing)
            got.update(fetched)
            for n, h in fetched.items():
                if n[0] >= self.CACHE_LEVEL:
                    cache[n] = h
        return got

    def size(self) -> int:
        with self.engine.connect() as conn:
            return db.tree_size(conn)

    def latest_checkpoint(self) -> tuple[Checkpoint, bytes] | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(db.checkpoints.c.note).order_by(db.checkpoints.c.size.desc()).limit(1)
            ).first()
        if row is None:
            return None
        note = bytes(row.note)
        return open_checkpoint(note, [self.signer.verifier()]), note

    def checkpoint_note(self, size: int) -> bytes | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(db.checkpoints.c.note).where(db.checkpoints.c.size == size)
            ).first()
        return None if row is None else bytes(row.note)

    def verifier_key(self) -> str:
        return self.signer.vkey()

    def _check_size(self, conn: Connection, size: int) -> None:
        have = db.tree_size(conn)
        if not 0 <= size <= have:
            raise LedgerError(f"tree size {size} is beyond the log's {have} entries")

    ROOTS_KEPT = 4096  # roots of past sizes remembered (online verifiers ask for a few)

    def root(self, size: int | None = None) -> bytes:
        if size is not None and size in self._roots:
            return self._roots[size]
        with self.engine.connect() as conn:
            size = db.tree_size(conn) if size is None else size
            self._check_size(conn, size)
            wanted = range_nodes(0, size)
            got = self._read_nodes(conn, wanted)
        found = fold([got[n] for n in wanted], self.hash_name)
        if len(self._roots) >= self.ROOTS_KEPT:
            self._roots.pop(next(iter(self._roots)))
        self._roots[size] = found
        return found

    def _consistency(self, conn: Connection, size1: int, size2: int) -> list[bytes]:
        ranges = consistency_ranges(size1, size2)
        return assemble(ranges, self._get_nodes(conn, proof_nodes(ranges)), self.hash_name)

    def consistency_proof(self, size1: int, size2: int) -> list[bytes]:
        with self.engine.connect() as conn:
            self._check_size(conn, size2)
            return self._consistency(conn, size1, size2)

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        with self.engine.connect() as conn:
            self._check_size(conn, size)
            ranges = inclusion_ranges(index, size)
            return assemble(ranges, self._read_nodes(conn, proof_nodes(ranges)), self.hash_name)

    def prove(self, index: int, size: int) -> tuple[bytes, list[bytes]]:
        """Leaf hash and inclusion path of ``index`` at ``size`` in one connection."""
        with self.engine.connect() as conn:
            ranges = inclusion_ranges(index, size)
            wanted = proof_nodes(ranges)
            if (0, index) not in wanted:
                wanted.append((0, index))
            got = self._read_nodes(conn, wanted)
        return got[(0, index)], assemble(ranges, got, self.hash_name)

    def entry_index(self, entry_id: int) -> int | None:
        """The entry's leaf index once a checkpoint covers it (None while it is queued)."""
        with self.engine.connect() as conn:
            idx = db.entry_id_map(conn).index_of(entry_id)
            if idx is None or idx >= db.tree_size(conn):
                return None
        return idx

    def receipt(self, index: int, size: int | None = None) -> Receipt | None:
        """Receipt of leaf ``index`` under the latest (or the given) checkpoint; None if the
        entry is not yet covered by a checkpoint."""
        with self.engine.connect() as conn:
            q = select(db.checkpoints.c.size, db.checkpoints.c.note)
            q = q.where(db.checkpoints.c.size == size) if size is not None else q
            cp = conn.execute(q.order_by(db.checkpoints.c.size.desc()).limit(1)).first()
            entry = conn.execute(select(db.entries.c.data).where(db.entries.c.idx == index)).first()
            if cp is None or entry is None or index >= int(cp.size):
                return None
            ranges = inclusion_ranges(index, int(cp.size))
            path = assemble(ranges, self._read_nodes(conn, proof_nodes(ranges)), self.hash_name)
            anchor = self._anchor_ref(conn, int(cp.size))
        return Receipt(
            index,
            leaf_hash(bytes(entry.data), self.hash_name),
            tuple(path),
            bytes(cp.note),
            bytes(entry.data),
            self.hash_name,
            anchor,
        )

    def receipts_for_entries(self, entry_ids: Sequence[int]) -> dict[int, Receipt]:
        """Receipts of many entries (by entry id) under the latest checkpoint, in one
        connection with bulk reads; entries not yet sequenced or covered are left out.

        Same receipts as ``receipt(entry_index(e))`` for each entry, without two queries and
        a proof read per entry (attaching receipts to a batch of licences was dominated by them).
        """
        out: dict[int, Receipt] = {}
        if not entry_ids:
            return out
        with self.engine.connect() as conn:
            cp = conn.execute(
                select(db.checkpoints.c.size, db.checkpoints.c.note)
                .order_by(db.checkpoints.c.size.desc())
                .limit(1)
            ).first()
            if cp is None:
                return out
            size, note = int(cp.size), bytes(cp.note)
            rows = [r for r in db.entries_by_id(conn, entry_ids) if r[1] < size]
            ranges = {idx: inclusion_ranges(idx, size) for _, idx, _ in rows}
            # neighbouring leaves share most of their paths: each distinct subtree range is
            # read and folded once for the whole list, not once per receipt
            distinct = {r: range_nodes(*r) for rs in ranges.values() for r in rs}
            wanted = sorted({n for nodes in distinct.values() for n in nodes})
            got = self._read_nodes(conn, wanted)
            anchor = self._anchor_ref(conn, size)
        hn = self.hash_name
        folded = {r: fold([got[n] for n in nodes], hn) for r, nodes in distinct.items()}
        leaves = leaf_hashes([data for _, _, data in rows], hn)
        for (entry_id, idx, data), leaf in zip(rows, leaves, strict=True):
            path = tuple(folded[r] for r in ranges[idx])
            out[entry_id] = Receipt(idx, leaf, path, note, data, hn, anchor)
        return out

    def _anchor_ref(self, conn: Connection, size: int) -> AnchorReference | None:
        """Where the checkpoint of ``size`` was anchored, if it was."""
        if isinstance(self.anchor, EmbeddedAnchor):
            anchored = conn.execute(
                select(db.anchors.c.id).where(db.anchors.c.size == size)
            ).scalar()
            return (
                None if anchored is None else AnchorReference(self.anchor.name, str(anchored), size)
            )
        row = conn.execute(
            select(
                db.anchor_queue.c.backend, db.anchor_queue.c.reference, db.anchor_queue.c.block
            ).where(db.anchor_queue.c.size == size)
        ).first()
        if row is None or row.reference is None:
            return None
        block = None if row.block is None else int(row.block)
        return AnchorReference(str(row.backend), str(row.reference), size, block)
