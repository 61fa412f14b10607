"""What the libraries hold, as Python values: the two libraries, a statement chunk, a golden
record with its provenance, a merged run's metadata, and the JSON forms they are stored in.

The leaf of the package: it imports nothing else from ``storage.library``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

import msgspec

POPULATION = "population"


LEGAL_ENTITY = "legal-entity"


LIBRARIES = (POPULATION, LEGAL_ENTITY)


encode_json = msgspec.json.Encoder().encode


decode_json_map = msgspec.json.Decoder(dict[str, dict[str, str]]).decode


_decode_statement = msgspec.json.Decoder(dict[str, str]).decode


_decode_positional = msgspec.json.Decoder(list[str | None]).decode


# a withdrawal statement: the run's source takes back every value it gave the subject before
# (a tombstone: the department deleted the record); JSON null, so it holds no value
WITHDRAWN = "null"


class LibraryError(Exception):
    """A library operation was refused (unknown library, unknown run, bad input)."""


@dataclass(frozen=True)
class FactView:
    """One value with who said it and when."""

    value: str
    dataset: str
    run_id: str
    observed_at: datetime
    authoritative: bool


@dataclass(frozen=True)
class GoldenRecord:
    """A person or entity: the winning value per field, with its source and the full history."""

    library: str
    subject: str
    fields: dict[str, FactView]
    history: dict[str, list[FactView]] = field(default_factory=dict)

    def value(self, name: str) -> str | None:
        fact = self.fields.get(name)
        return fact.value if fact else None


class RunMeta(NamedTuple):
    """What a merged run contributes to precedence: its source, its time, its authority."""

    dataset: str
    observed_at: datetime  # naive UTC
    authoritative: frozenset[str]
    fields: tuple[str, ...] = ()  # its statements' layout (empty: JSON objects)


@dataclass(frozen=True)
class Statements:
    """A merge chunk already in the library's form: subjects in strictly increasing order, each
    with its statement, and how many values they hold. A statement is the JSON array of the
    subject's values in the order of ``fields`` (null: no value), which
    :func:`statements_from_arrow` builds without a Python object per value; the run's
    ``fields`` are kept once, with the run."""

    fields: tuple[str, ...]
    subjects: Sequence[str]
    docs: Sequence[str]
    facts: int


def positional(values: Mapping[str, str], fields: Sequence[str]) -> str:
    """A statement's JSON array text: the values in the order of ``fields``."""
    return encode_json([values.get(f) for f in fields]).decode()


def statement_values(doc: str | bytes, fields: Sequence[str]) -> dict[str, str]:
    """A stored statement as {field: value}: a JSON array in its run's field order, or (as
    written before runs kept a layout) a JSON object."""
    raw = doc.encode() if isinstance(doc, str) else doc
    if raw[:1] == b"{":
        return _decode_statement(raw)
    if raw == b"null":  # a withdrawal (WITHDRAWN)
        return {}
    values = _decode_positional(raw)
    if len(values) != len(fields):
        raise LibraryError(f"a statement has {len(values)} values, its run {len(fields)} fields")
    return {f: v for f, v in zip(fields, values, strict=True) if v is not None}


def as_datetime(value: Any) -> datetime:
    """A stored time as naive UTC (SQLite's DB-API hands back SQLAlchemy's text form)."""
    if isinstance(value, datetime):
        return value if value.tzinfo is None else naive_utc(value)
    return datetime.fromisoformat(str(value))


def naive_utc(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None)


def meta_from_row(
    dataset: str, observed: Any, authoritative: str, fields: str | None = None
) -> RunMeta:
    """A run's metadata from its ``library_merges`` columns."""
    return RunMeta(
        dataset,
        as_datetime(observed),
        frozenset(msgspec.json.decode(authoritative.encode())),
        tuple(msgspec.json.decode(fields.encode())) if fields else (),
    )


def golden_fields(doc: str | bytes, meta: Callable[[str], RunMeta]) -> dict[str, FactView]:
    """The winning value per field of one golden record, with its provenance.

    ``doc`` is the stored record (``{run id: {field: value}}``); ``meta`` gives a run's source,
    time and authority (callers cache it: a merged run's metadata never changes).
    """
    raw = doc.encode() if isinstance(doc, str) else doc
    out: dict[str, FactView] = {}
    for run_id, values in decode_json_map(raw).items():
        m = meta(run_id)
        for name, value in values.items():
            out[name] = FactView(value, m.dataset, run_id, m.observed_at, name in m.authoritative)
    return out


def record_text(run_id: str, statement: str, fields: Sequence[str]) -> str:
    """The golden record of a subject one run spoke of: all of that statement."""
    values = statement if statement[:1] == "{" else encode_json(statement_values(statement, fields))
    return encode_json({run_id: msgspec.Raw(values)}).decode()
