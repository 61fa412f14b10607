"""Answering claim questions with a receipt: parse, evaluate, seal, store and log.

``ClaimService.answer`` is what the API (and ``hub claims check``) call: the subject
normalised as the library keys it, each claim parsed against the catalogue and evaluated as of
the date, and the answer set sealed into a receipt (:mod:`sharing.receipts`) ready for the
:class:`~sharing.receipt_store.ReceiptStore`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from schemas import claims as catalogue
from schemas.claims import ClaimCatalogueError, ClaimParamError, ClaimType, ParamValue
from schemas.library import subject_key
from sharing.claims import Answer, evaluate
from sharing.facts import LibraryReads, PointReads, StoreFacts
from sharing.receipt_store import ReceiptLog, ReceiptStore
from sharing.receipts import (
    SealedReceipt,
    SealHost,
    VerificationSeal,
    ensure_verification_seal,
    receipt_fields,
    seal_receipt,
    subject_hash,
)
from sharing.receipts import subject_key as receipt_subject_key
from storage.keys import KeyStore

MAX_CLAIMS = 20  # claims per question


class ClaimRequestError(ValueError):
    """A question the catalogue cannot take: ``problems`` maps ``claims[i].…`` to a reason."""

    def __init__(self, problems: Mapping[str, str]) -> None:
        self.problems = dict(problems)
        super().__init__("; ".join(f"{k}: {v}" for k, v in self.problems.items()))


@dataclass(frozen=True)
class Parsed:
    """One claim of a question, parsed."""

    claim: ClaimType
    typed: dict[str, Any]
    params: dict[str, ParamValue]


def parse_claims(items: Sequence[tuple[str, Mapping[str, Any] | None]]) -> list[Parsed]:
    """The claims of a question (type, params), parsed; :class:`ClaimRequestError` naming every
    unknown type and bad parameter by position."""
    problems: dict[str, str] = {}
    out: list[Parsed] = []
    for i, (claim_id, params) in enumerate(items):
        try:
            claim = catalogue.get(claim_id)
            typed, canonical = claim.parse(params)
        except ClaimCatalogueError as exc:
            problems[f"claims[{i}].type"] = str(exc)
            continue
        except ClaimParamError as exc:
            for name, why in exc.problems.items():
                problems[f"claims[{i}].params.{name}"] = why
            continue
        out.append(Parsed(claim, typed, canonical))
    if problems:
        raise ClaimRequestError(problems)
    return out


def normalise(raw: str) -> str:
    """A subject as the libraries key it (a 15-digit resident ID upgraded to 18)."""
    return subject_key("population", raw)


class ClaimService:
    """Claims answered from the libraries, receipts sealed and written."""

    def __init__(
        self,
        library: LibraryReads,
        golden: PointReads | None,
        store: ReceiptStore,
        seal: VerificationSeal,
        subject_secret: bytes,
    ) -> None:
        self.library = library
        self.golden = golden
        self.store = store
        self.seal = seal
        self._secret = subject_secret

    @classmethod
    def open(
        cls,
        library: LibraryReads,
        golden: PointReads | None,
        ledger: ReceiptLog,
        seal_host: SealHost,
        keys: KeyStore,
        algorithm: str | None = None,
    ) -> ClaimService:
        """The service on the hub's stores; creates the verification seal on first use (with
        ``algorithm``, the crypto profile's seal algorithm)."""
        return cls(
            library,
            golden,
            ReceiptStore(library.engine, ledger),
            ensure_verification_seal(seal_host, algorithm=algorithm),
            receipt_subject_key(keys),
        )

    def evaluate(
        self, subject: str, parsed: Sequence[Parsed], as_of: dt.date | None
    ) -> tuple[list[Answer], dt.date]:
        """Answers of the parsed claims about a normalised subject, and the date they hold as
        of (today when ``as_of`` is None)."""
        day = as_of or dt.datetime.now(dt.UTC).date()
        facts = StoreFacts(self.library, self.golden, as_of)
        answers = [evaluate(facts, p.claim, p.typed, p.params, subject, day) for p in parsed]
        return answers, day

    def answer(
        self,
        client: str,
        purpose: str,
        subject: str,
        parsed: Sequence[Parsed],
        as_of: dt.date | None,
        now: dt.datetime | None = None,
    ) -> tuple[list[Answer], dt.date, SealedReceipt]:
        """Answer, then seal the receipt (not yet stored: :meth:`ReceiptStore.write_in` it)."""
        answers, day = self.evaluate(subject, parsed, as_of)
        now = now or dt.datetime.now(dt.UTC)
        fields = receipt_fields(
            client, purpose, subject_hash(self._secret, subject), answers, day, now
        )
        return answers, day, seal_receipt(self.seal, fields, now)

    def is_about(self, receipt_fields_: Mapping[str, Any], subject: str) -> bool:
        """Is a receipt (its disclosed fields) about ``subject`` (any form of its ID)?"""
        entry = receipt_fields_.get("subject_hmac")
        value = entry.get("value") if isinstance(entry, dict) else None
        return value == subject_hash(self._secret, normalise(subject))

    def close(self) -> None:
        """Nothing to release: receipts are written with their questions' audit rows."""
