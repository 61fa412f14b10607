"""The embedded anchor: signed checkpoints kept in the SQL store, each checked for consistency."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError

from ledger.anchor import AnchorError, AnchorReference
from ledger.merkle import ProofError, verify_consistency
from ledger.note import Checkpoint, NoteError, parse_note
from storage.ledger_store import anchors


class EmbeddedAnchor:
    """Anchor backend on the ``ledger_anchors`` table; refuses forks and shrinking logs."""

    name = "embedded"

    def __init__(self, engine: Engine, hash_name: str = "sha256") -> None:
        self.engine = engine
        self.hash_name = hash_name

    def anchor(
        self, note: bytes, size: int, root: bytes, proof: Sequence[bytes]
    ) -> AnchorReference:
        try:
            cp = Checkpoint.from_note_body(parse_note(note)[0])
        except NoteError as exc:
            raise AnchorError(f"refused: malformed checkpoint note: {exc}") from exc
        if cp.size != size or cp.root != root:
            raise AnchorError(f"refused: note says size {cp.size}, caller says {size}")
        with self.engine.begin() as conn:
            last = conn.execute(
                select(anchors.c.id, anchors.c.size, anchors.c.root)
                .order_by(anchors.c.size.desc())
                .limit(1)
            ).first()
            # the refusals say what the Fabric chaincode says (ledger/chaincode/anchor)
            if last is not None:
                if size == last.size and root == bytes(last.root):
                    return AnchorReference(self.name, str(last.id), size)
                if size == last.size:
                    raise AnchorError(
                        f"fork detected: checkpoint of size {size} has a different root than "
                        "the anchored one"
                    )
                if size < last.size:
                    raise AnchorError(
                        f"checkpoint size {size} is not larger than the anchored size {last.size}"
                        " (the log shrank)"
                    )
                try:
                    verify_consistency(
                        int(last.size), size, bytes(last.root), root, proof, self.hash_name
                    )
                except ProofError as exc:
                    raise AnchorError(
                        f"consistency proof from size {last.size} to {size} rejected "
                        f"(not consistent with the anchored checkpoint): {exc}"
                    ) from exc
            elif proof:
                raise AnchorError("first checkpoint of a log takes no consistency proof")
            try:
                row = conn.execute(
                    anchors.insert().values(size=size, root=root, note=note)
                ).inserted_primary_key
            except IntegrityError as exc:
                raise AnchorError(f"refused: size {size} was anchored concurrently") from exc
        assert row is not None
        return AnchorReference(self.name, str(row[0]), size)

    def latest(self) -> tuple[bytes, int] | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(anchors.c.note, anchors.c.size).order_by(anchors.c.size.desc()).limit(1)
            ).first()
        return None if row is None else (bytes(row.note), int(row.size))

    def at_size(self, size: int) -> tuple[AnchorReference, bytes] | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(anchors.c.id, anchors.c.note).where(anchors.c.size == size)
            ).first()
        return (
            None
            if row is None
            else (AnchorReference(self.name, str(row.id), size), bytes(row.note))
        )

    def verify(self, reference: AnchorReference, note: bytes) -> None:
        if reference.backend != self.name:
            raise AnchorError(f"reference is for backend {reference.backend!r}, not embedded")
        with self.engine.connect() as conn:
            row = conn.execute(
                select(anchors.c.note, anchors.c.size).where(
                    anchors.c.id == int(reference.reference)
                )
            ).first()
        if row is None:
            raise AnchorError(f"no anchored checkpoint with id {reference.reference}")
        if bytes(row.note) != note or int(row.size) != reference.size:
            raise AnchorError(f"anchored checkpoint {reference.reference} differs from the note")
