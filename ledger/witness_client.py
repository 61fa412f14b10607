"""The log's side of C2SP tlog-witness: ask the configured witnesses to cosign each checkpoint.

After the sequencer signs a checkpoint it sends it to every witness with the consistency proof
from the size that witness last cosigned (a 409 answer names that size: the request is sent
once more from there). The cosignature lines that verify under the witness's known key are
appended to the stored checkpoint note, so receipts and trust bundles carry them. A witness
that cannot be reached or refuses is recorded with its error and asked again with the next
checkpoint; the log never waits on it to go on signing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import Engine, insert, select, update

from ledger.cosignature import CosignatureVerifier, add_cosignatures, cosignatures
from ledger.note import Checkpoint, NoteError, parse_note
from ledger.witness import SIZE_TYPE, format_request
from storage import witness_store as tables

log = logging.getLogger(__name__)

# (url, body) -> (status, body, content type); httpx by default, a test's app otherwise
Post = Callable[[str, bytes], tuple[int, str, str]]


def http_post(timeout: float = 5.0) -> Post:
    import httpx  # imported when a log has witnesses

    client = httpx.Client(timeout=timeout)

    def post(url: str, body: bytes) -> tuple[int, str, str]:
        answer = client.post(url, content=body)
        return answer.status_code, answer.text, answer.headers.get("content-type", "")

    return post


@dataclass(frozen=True)
class WitnessPeer:
    name: str
    url: str
    vkey: str
    size: int  # the size it last cosigned
    cosigned_at: int | None
    last_error: str | None


class WitnessPool:
    """The witnesses a log asks, in the log's SQL store."""

    def __init__(self, engine: Engine, post: Post | None = None, retry_after: float = 30.0) -> None:
        self.engine = engine
        self._post = post
        self.retry_after = retry_after  # seconds an unreachable witness is left alone
        self._resting: dict[str, float] = {}  # witness -> monotonic time to ask it again
        self._asked: dict[str, tuple[int, bytes]] = {}  # witness -> checkpoint last asked about
        tables.create_tables(engine)

    def add(self, url: str, vkey: str) -> WitnessPeer:
        """Ask the witness at ``url`` (its submission prefix) whose key is ``vkey``."""
        verifier = CosignatureVerifier.from_vkey(vkey)
        if not url.startswith(("http://", "https://")):
            raise NoteError(f"witness URL {url!r} is not http(s)")
        with self.engine.begin() as conn:
            conn.execute(tables.peers.delete().where(tables.peers.c.name == verifier.name))
            conn.execute(
                insert(tables.peers).values(
                    name=verifier.name, url=url.rstrip("/"), vkey=verifier.vkey(), size=0
                )
            )
        return self.peers()[[p.name for p in self.peers()].index(verifier.name)]

    def remove(self, name: str) -> bool:
        with self.engine.begin() as conn:
            return bool(
                conn.execute(tables.peers.delete().where(tables.peers.c.name == name)).rowcount
            )

    def peers(self) -> list[WitnessPeer]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(tables.peers).order_by(tables.peers.c.name)).all()
        return [
            WitnessPeer(r.name, r.url, r.vkey, int(r.size), r.cosigned_at, r.last_error)
            for r in rows
        ]

    def verifiers(self) -> list[CosignatureVerifier]:
        return [CosignatureVerifier.from_vkey(p.vkey) for p in self.peers()]

    def cosign(
        self,
        note: bytes,
        prove: Callable[[int, int], Sequence[bytes]],
        only_missing: bool = False,
    ) -> bytes:
        """``note`` with the cosignatures of every witness that cosigned it now; ``prove(old,
        new)`` gives the log's consistency proof between two sizes. ``only_missing``: ask only
        the witnesses whose cosignature the note lacks and that this pool has not asked for
        this checkpoint yet (a checkpoint another process signed, before receipts are made)."""
        peers = self.peers()
        if not peers:
            return note
        cp = Checkpoint.from_note_body(parse_note(note)[0])
        if only_missing:
            present = {c.name for c in cosignatures(note, self.verifiers())}
            peers = [
                p
                for p in peers
                if p.name not in present and self._asked.get(p.name) != (cp.size, cp.root)
            ]
            if not peers:
                return note
        if self._post is None:
            self._post = http_post()
        out = note
        for peer in peers:
            if self._resting.get(peer.name, 0.0) > time.monotonic():
                continue
            self._asked[peer.name] = (cp.size, cp.root)
            line, size, error = self._ask(peer, note, cp, prove)
            if error is not None and error.startswith("unreachable"):
                self._resting[peer.name] = time.monotonic() + self.retry_after
            if line:
                try:
                    out = add_cosignatures(out, line)
                except NoteError as exc:
                    line, error = "", f"unreadable answer: {exc}"
            with self.engine.begin() as conn:
                values: dict[str, object] = {"last_error": error}
                if line:
                    (got,) = cosignatures(out, [CosignatureVerifier.from_vkey(peer.vkey)])
                    values |= {"size": cp.size, "cosigned_at": got.timestamp}
                elif size is not None:
                    values["size"] = size
                conn.execute(
                    update(tables.peers).where(tables.peers.c.name == peer.name).values(**values)
                )
        return out

    def _ask(
        self,
        peer: WitnessPeer,
        note: bytes,
        cp: Checkpoint,
        prove: Callable[[int, int], Sequence[bytes]],
    ) -> tuple[str, int | None, str | None]:
        """(cosignature lines that verify, the witness's size if it named one, error)."""
        assert self._post is not None
        verifier = CosignatureVerifier.from_vkey(peer.vkey)
        old = peer.size if peer.size <= cp.size else 0
        for _attempt in range(2):
            proof = list(prove(old, cp.size)) if 0 < old < cp.size else []
            try:
                status, body, ctype = self._post(
                    f"{peer.url}/add-checkpoint", format_request(old, proof, note)
                )
            except Exception as exc:
                log.warning("witness %s unreachable: %s", peer.name, type(exc).__name__)
                return "", None, f"unreachable: {type(exc).__name__}"
            if status == 409 and ctype.startswith(SIZE_TYPE) and body.strip().isdigit():
                named = int(body.strip())
                if named > cp.size:
                    return "", named, f"the witness has cosigned size {named}, beyond ours"
                old = named
                continue
            if status != 200:
                return "", None, f"refused with {status}: {body.strip()[:200]}"
            mine = [line for line in body.split("\n") if line and _is_from(line, verifier, note)]
            if not mine:
                return "", None, "no cosignature by the witness's known key in its answer"
            return "\n".join(mine) + "\n", None, None
        return "", old, "the witness's size moved while we asked"


def _is_from(line: str, verifier: CosignatureVerifier, note: bytes) -> bool:
    try:
        return bool(cosignatures(add_cosignatures(note, line + "\n"), [verifier]))
    except NoteError:
        return False
