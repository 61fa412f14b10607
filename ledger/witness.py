"""A C2SP tlog-witness: cosigns a log's checkpoints after checking they extend what it saw.

``add-checkpoint`` requests are answered exactly as the specification says:

- 400 the request is malformed, or the old size is larger than the checkpoint's;
- 404 the checkpoint's origin is not a log this witness watches;
- 403 no signature of the log's known key verifies;
- 409 the old size is not the size this witness last cosigned for the origin (the body is that
  size and a newline, ``text/x.tlog.size``), or the sizes match and the roots do not;
- 422 the consistency proof from the old size does not hold;
- 200 the cosignature line(s), after the new checkpoint is persisted.

The check of the old size and the write of the new state are one compare-and-swap on the stored
(size, root), so two requests racing can never roll the witness back. A checkpoint that shows
the log misbehaving (another root for a size already cosigned, a tree smaller than one already
cosigned, a proof that fails) is refused and kept as evidence with both notes.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from ledger.cosignature import Cosigner
from ledger.merkle import ProofError, hash_size, verify_consistency
from ledger.note import Checkpoint, NoteError, Verifier, open_note, parse_note
from storage import witness_store as tables
from storage.keys import KeyStore, KeyStoreError

WITNESS_KEY_NAME = "ledger-witness"
MAX_PROOF_LINES = 63
MAX_REQUEST = 64 * 1024  # bytes: a checkpoint, 63 hashes and a few hundred signatures fit
SIZE_TYPE = "text/x.tlog.size"


def load_cosigner(keys: KeyStore, name: str) -> Cosigner:
    """The witness's Ed25519 key (its own, never the log's: a witness key signs only
    cosignatures), created encrypted in the key store on first use."""
    if not keys.exists(WITNESS_KEY_NAME):
        # another process may create it first: then theirs is used
        with contextlib.suppress(KeyStoreError):
            keys.save(WITNESS_KEY_NAME, Ed25519PrivateKey.generate())
    key = keys.load(WITNESS_KEY_NAME)
    if not isinstance(key, Ed25519PrivateKey):
        raise NoteError(f"key {WITNESS_KEY_NAME!r} is not an Ed25519 key")
    return Cosigner(name, key)


@dataclass(frozen=True)
class WitnessAnswer:
    """The HTTP answer to an add-checkpoint request: status, body and its content type."""

    status: int
    body: str
    content_type: str = "text/plain; charset=utf-8"


@dataclass(frozen=True)
class AddCheckpoint:
    """A parsed add-checkpoint request body."""

    old_size: int
    proof: tuple[bytes, ...]
    note: bytes


class RequestError(ValueError):
    """The request body is not ``old N``, proof lines, a blank line and a checkpoint."""


def parse_request(body: bytes) -> AddCheckpoint:
    if len(body) > MAX_REQUEST:
        raise RequestError(f"request is larger than {MAX_REQUEST} bytes")
    head, sep, note = body.partition(b"\n\n")
    if not sep:
        raise RequestError("no blank line between the proof and the checkpoint")
    lines = head.split(b"\n")
    first = lines[0]
    if not first.startswith(b"old "):
        raise RequestError("the first line must be 'old <size>'")
    digits = first[4:]
    if not digits.isdigit() or (digits.startswith(b"0") and digits != b"0") or len(digits) > 20:
        raise RequestError("the old size must be a decimal number without leading zeros")
    if len(lines) - 1 > MAX_PROOF_LINES:
        raise RequestError(f"more than {MAX_PROOF_LINES} consistency proof lines")
    proof = []
    for line in lines[1:]:
        try:
            proof.append(base64.b64decode(line, validate=True))
        except (binascii.Error, ValueError):
            raise RequestError("a consistency proof line is not base64") from None
    return AddCheckpoint(int(digits), tuple(proof), note)


def format_request(old_size: int, proof: Sequence[bytes], note: bytes) -> bytes:
    """The add-checkpoint body a log sends (the client side of :func:`parse_request`)."""
    lines = [f"old {old_size}\n"] + [base64.b64encode(h).decode() + "\n" for h in proof]
    return "".join(lines).encode() + b"\n" + note


@dataclass(frozen=True)
class WitnessedLog:
    origin: str
    vkey: str
    size: int | None  # the size last cosigned, None before the first
    cosigned_at: int | None


class Witness:
    """The hub's witness over its SQL store: the logs it watches and what it cosigned."""

    def __init__(
        self,
        engine: Engine,
        cosigner: Cosigner,
        hash_name: str = "sha256",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.cosigner = cosigner
        self.hash_name = hash_name
        self.clock = clock
        tables.create_tables(engine)

    # ---- configuration --------------------------------------------------------------------
    def watch(self, origin: str, vkey: str) -> None:
        """Watch the log ``origin`` whose checkpoints its key ``vkey`` signs (replaces the key
        of an origin already watched; what was cosigned stays)."""
        verifier = Verifier.from_vkey(vkey)  # refuses a malformed key
        if not origin or "\n" in origin:
            raise NoteError("a log origin is one non-empty line")
        with self.engine.begin() as conn:
            done = conn.execute(
                update(tables.logs).where(tables.logs.c.origin == origin).values(vkey=vkey)
            ).rowcount
            if not done:
                conn.execute(insert(tables.logs).values(origin=origin, vkey=verifier.vkey()))

    def logs(self) -> list[WitnessedLog]:
        """Every watched log with the size it last cosigned."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(
                    tables.logs.c.origin,
                    tables.logs.c.vkey,
                    tables.state.c.size,
                    tables.state.c.cosigned_at,
                )
                .select_from(
                    tables.logs.outerjoin(
                        tables.state, tables.logs.c.origin == tables.state.c.origin
                    )
                )
                .order_by(tables.logs.c.origin)
            ).all()
        return [WitnessedLog(r.origin, r.vkey, r.size, r.cosigned_at) for r in rows]

    def evidence(self, origin: str | None = None) -> list[dict[str, Any]]:
        """What this witness refused that shows a log misbehaving, oldest first."""
        query = select(tables.evidence).order_by(tables.evidence.c.id)
        if origin is not None:
            query = query.where(tables.evidence.c.origin == origin)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    # ---- the protocol ---------------------------------------------------------------------
    def add_checkpoint(self, body: bytes) -> WitnessAnswer:
        """Answer one ``add-checkpoint`` request (see the module's docstring)."""
        try:
            request = parse_request(body)
            note_body, _sigs = parse_note(request.note)
            cp = Checkpoint.from_note_body(note_body)
        except (RequestError, NoteError) as exc:
            return WitnessAnswer(400, f"malformed request: {exc}\n")
        with self.engine.connect() as conn:
            vkey = conn.execute(
                select(tables.logs.c.vkey).where(tables.logs.c.origin == cp.origin)
            ).scalar()
        if vkey is None:
            return WitnessAnswer(404, "unknown log origin\n")
        try:
            open_note(request.note, [Verifier.from_vkey(vkey)])
        except NoteError:
            return WitnessAnswer(403, "no signature by the log's known key verifies\n")
        if request.old_size > cp.size:
            return WitnessAnswer(400, "the old size is larger than the checkpoint's size\n")
        if any(len(h) != hash_size(self.hash_name) for h in request.proof):
            return WitnessAnswer(400, "a consistency proof line is not one hash\n")
        return self._advance(cp, request)

    def _advance(self, cp: Checkpoint, request: AddCheckpoint) -> WitnessAnswer:
        with self.engine.connect() as conn:
            last = conn.execute(
                select(tables.state).where(tables.state.c.origin == cp.origin)
            ).first()
        size = 0 if last is None else int(last.size)
        if last is not None and cp.size < size:
            self._keep(cp, request.note, "rollback", last, f"size {cp.size} after {size}")
        elif last is not None and cp.size == size and cp.root != bytes(last.root):
            self._keep(cp, request.note, "fork", last, f"a second root for size {size}")
            return WitnessAnswer(409, "a different root for a size already cosigned\n")
        if request.old_size != size:
            return WitnessAnswer(409, f"{size}\n", SIZE_TYPE)
        try:
            if last is None or size == 0:  # every tree extends the empty one
                if request.proof:
                    raise ProofError("the proof from size 0 must be empty")
            else:
                verify_consistency(
                    size, cp.size, bytes(last.root), cp.root, request.proof, self.hash_name
                )
        except ProofError as exc:
            self._keep(cp, request.note, "inconsistent", last, str(exc))
            return WitnessAnswer(422, f"the consistency proof does not hold: {exc}\n")
        now = int(self.clock())
        line = self.cosigner.cosign(cp.to_note_body(), now)
        values = {
            "size": cp.size,
            "root": cp.root,
            "note": request.note + line.encode(),
            "cosigned_at": now,
        }
        with self.engine.begin() as conn:
            if last is None:
                try:
                    conn.execute(insert(tables.state).values(origin=cp.origin, **values))
                    swapped = True
                except IntegrityError:
                    swapped = False
            else:
                swapped = (
                    conn.execute(
                        update(tables.state)
                        .where(
                            tables.state.c.origin == cp.origin,
                            tables.state.c.size == size,
                            tables.state.c.root == bytes(last.root),
                        )
                        .values(**values)
                    ).rowcount
                    == 1
                )
        if not swapped:  # another request moved the state between our read and our write
            with self.engine.connect() as conn:
                now_size = conn.execute(
                    select(tables.state.c.size).where(tables.state.c.origin == cp.origin)
                ).scalar()
            return WitnessAnswer(409, f"{now_size}\n", SIZE_TYPE)
        return WitnessAnswer(200, line)

    def _keep(self, cp: Checkpoint, note: bytes, kind: str, last: Any, detail: str) -> None:
        """Keep a refused checkpoint once per (origin, kind, size, signed body): a replayed one
        adds nothing, so nobody can fill the table by sending the same note again."""
        body = parse_note(note)[0]
        with self.engine.begin() as conn:
            kept = conn.execute(
                select(tables.evidence.c.note).where(
                    tables.evidence.c.origin == cp.origin,
                    tables.evidence.c.kind == kind,
                    tables.evidence.c.size == cp.size,
                )
            ).scalars()
            if any(parse_note(bytes(n))[0] == body for n in kept):
                return
            conn.execute(
                insert(tables.evidence).values(
                    origin=cp.origin,
                    kind=kind,
                    size=cp.size,
                    note=note,
                    cosigned_note=None if last is None else bytes(last.note),
                    detail=detail,
                )
            )
