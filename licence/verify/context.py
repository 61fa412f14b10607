"""What the checks may consult: the :class:`VerifyContext`, seal states, and the memo of pure
results a context keeps (each keyed by the exact input it was computed from).

Built by ``licence.trust`` either online (from the running stores) or offline (from a trust
bundle checked against pinned anchors); a check never reaches for anything else.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping, MutableSet, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from ledger.anchor import AnchorReference
from ledger.cosignature import Cosignature, CosignatureVerifier, cosignatures
from ledger.note import Checkpoint, NoteError, Verifier
from ledger.receipt import Receipt
from licence.verify.results import CheckResult, as_utc

VALIDITY_END = "证照有效期截止日期"
VALIDITY_START = "证照有效期起始日期"
# how old a trust bundle may be before offline verdicts turn INDETERMINATE (a service window
# is online most of the time: a revocation must not stay unseen for days); per verifier
DEFAULT_MAX_AGE_HOURS = 12.0


@dataclass(frozen=True)
class SealState:
    """What the platform knows about a seal: validity, certificates, status history.

    ``events`` are (status, since) pairs in time order (``active`` at creation, then
    ``suspended`` / ``active`` / ``revoked``), so the status at any signing time can be told.
    """

    seal_id: str
    authority: str
    status: str
    valid_from: dt.datetime
    valid_to: dt.datetime
    cert_sha256: tuple[str, ...] = ()
    events: tuple[tuple[str, dt.datetime], ...] = ()

    def status_at(self, when: dt.datetime) -> tuple[str, dt.datetime | None]:
        """The seal's status at ``when`` and since when (None if the history is unknown)."""
        state: tuple[str, dt.datetime | None] = ("active", None)
        if not self.events:
            return (self.status, None)
        for status, since in self.events:
            if since <= when:
                state = (status, since)
        return state


class Included(MutableSet[Receipt]):
    """Receipts whose inclusion proof held against their own checkpoint's tree.

    Keyed by the whole receipt (index, leaf hash, path, note bytes, entry data): a receipt
    that differs in any byte is another key and is proven afresh. Bounded: a verifier that
    reads a million licences keeps at most ``limit`` of them (the issue receipt of the licence
    being verified and its authority's status list are what repeat)."""

    def __init__(self, limit: int = 1024) -> None:
        self._seen: set[Receipt] = set()
        self.limit = limit

    def __contains__(self, receipt: object) -> bool:
        return receipt in self._seen

    def __iter__(self) -> Iterator[Receipt]:
        return iter(self._seen)

    def __len__(self) -> int:
        return len(self._seen)

    def add(self, receipt: Receipt) -> None:
        if len(self._seen) >= self.limit:
            self._seen.clear()
        self._seen.add(receipt)

    def discard(self, receipt: Receipt) -> None:
        self._seen.discard(receipt)


@dataclass
class _Caches:
    """Memoised pure results (a certificate's chain, a checkpoint's signature) per context."""

    certs: dict[str, tuple[x509.Certificate, bytes]] = field(default_factory=dict)
    der_sha256: dict[str, str] = field(default_factory=dict)  # PEM -> SHA-256 of its DER
    cert_uscc: dict[str, str | None] = field(default_factory=dict)  # PEM -> its owner's USCC
    keys: dict[str, ec.EllipticCurvePublicKey] = field(default_factory=dict)
    notes: dict[bytes, Checkpoint] = field(default_factory=dict)
    chains: dict[tuple[str, str], CheckResult] = field(default_factory=dict)
    checkpoints: dict[bytes, Checkpoint | NoteError] = field(default_factory=dict)
    included: Included = field(default_factory=Included)
    verifiers: list[Verifier] | None = None
    # a checkpoint note's valid cosignatures by the context's witnesses (or why none count)
    cosigned: dict[bytes, list[Cosignature] | NoteError] = field(default_factory=dict)
    witnesses: list[CosignatureVerifier] | None = None


@dataclass(frozen=True)
class VerifyContext:
    """What the checks may consult. Unset lookups make their checks INDETERMINATE.

    - ``log_keys``: trusted C2SP verifier keys of the ledger.
    - ``status_of(licence_id)``: the licence's index row (``status``, ``reason_code``,
      ``reason_text``, ``updated_at``) or None if the platform does not know it.
    - ``trust_roots``: platform CA certificates (root and seal CA) seal certificates chain to.
    - ``seal_of(seal_id)``: the seal's :class:`SealState`, or None if unknown;
      ``seal_for_cert(sha256 of DER)`` the same by certificate (PDF signatures).
    - ``receipt_of(licence_id)``: the ledger receipt when the input carries none.
    - ``document_of(licence_id)``: the sealed licence (QR payload lookup), None if unknown.
    - ``root_at(size)``: the log's root hash at ``size`` (fork check), None if unknown.
    - ``verify_anchor(reference, note)``: raises ``AnchorError``/``LookupError`` on mismatch,
      ``ConnectionError`` if the backend cannot be reached.
    - ``status_list_of(authority)``: the receipt of the authority's latest status list entry
      (committed with every checkpoint), None if none; the ``status_list`` check proves the
      licence's status as of that checkpoint from it, the licence's receipt and the log keys.
    - ``status_size``: the tree size the status answers are as of (offline snapshot); entries
      logged at or after it are too new for the snapshot.
    - ``verification_url``: what the QR codes on PDFs point at (to re-draw and compare them);
      a QR payload naming another host than its, or than one of ``trusted_hosts`` (federation
      peers), fails ``qr_host``.
    - ``as_of`` / ``max_age``: when the (offline) trust material was exported, and how old it
      may be before the freshness check turns INDETERMINATE.
    """

    log_keys: Sequence[str]
    status_of: Callable[[str], Mapping[str, Any] | None] | None = None
    today: dt.date = field(default_factory=dt.date.today)
    trust_roots: Sequence[x509.Certificate] = ()
    seal_of: Callable[[str], SealState | None] | None = None
    seal_for_cert: Callable[[str], SealState | None] | None = None
    receipt_of: Callable[[str], Receipt | None] | None = None
    document_of: Callable[[str], dict[str, Any] | None] | None = None
    root_at: Callable[[int], bytes | None] | None = None
    verify_anchor: Callable[[AnchorReference, bytes], None] | None = None
    status_size: int | None = None
    status_list_of: Callable[[str], Receipt | None] | None = None
    as_of: dt.datetime | None = None
    max_age: dt.timedelta = dt.timedelta(hours=DEFAULT_MAX_AGE_HOURS)
    offline: bool = False
    now: dt.datetime | None = None
    verification_url: str = "https://hub.example.gov.cn/verify"
    trusted_hosts: Sequence[str] = ()
    show_recorded: bool = False  # name registered values of altered fields (entitled staff)
    witnesses: Sequence[str] = ()  # cosignature/v1 keys of the log's witnesses
    witness_quorum: int = 0  # how many of them must have cosigned a receipt's checkpoint
    caches: _Caches = field(default_factory=_Caches, compare=False, repr=False)

    def current_time(self) -> dt.datetime:
        return self.now or dt.datetime.now(dt.UTC)

    def verifiers(self) -> list[Verifier]:
        if self.caches.verifiers is None:
            self.caches.verifiers = [Verifier.from_vkey(k) for k in self.log_keys]
        return self.caches.verifiers

    def cosigners(self, note: bytes) -> list[Cosignature]:
        """The valid cosignatures of this context's witnesses on a checkpoint note (memoised
        by the note's exact bytes); NoteError when a known witness's line does not verify."""
        hit = self.caches.cosigned.get(note)
        if hit is None:
            if self.caches.witnesses is None:
                self.caches.witnesses = [CosignatureVerifier.from_vkey(k) for k in self.witnesses]
            try:
                hit = cosignatures(note, self.caches.witnesses)
            except NoteError as exc:
                hit = exc
            self.caches.cosigned[note] = hit
        if isinstance(hit, NoteError):
            raise hit
        return hit


Check = Callable[[dict[str, Any], Receipt | None, VerifyContext], CheckResult]


def parse_time(text: str) -> dt.datetime:
    """An ISO time as an aware UTC datetime (``Z`` suffix accepted)."""
    return as_utc(dt.datetime.fromisoformat(text.replace("Z", "+00:00")))


def field_value(doc: Mapping[str, Any], name: str) -> Any:
    """A disclosed field's value, None when the field is absent or hidden."""
    entry = doc["fields"].get(name)
    return None if entry is None else entry.get("value")


def report_time(ctx: VerifyContext) -> dict[str, Any]:
    """When the verdict holds (``Report`` keywords): the trust bundle's checkpoint time and its
    age offline, now online."""
    if ctx.as_of is None:
        return {"as_of": ctx.current_time(), "age": None}
    as_of = as_utc(ctx.as_of)
    return {"as_of": as_of, "age": max(ctx.current_time() - as_of, dt.timedelta(0))}
