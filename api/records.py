"""Reads behind the sharing endpoints: granted fields of golden records, yes/no matches and a
holder's valid licences. Plain functions over the stores; the routers add grants and audit."""

from __future__ import annotations

import datetime as dt
import json
import unicodedata
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Field
from sqlalchemy import and_, or_, select

from schemas.library import subject_key
from storage.library import LEGAL_ENTITY, POPULATION
from storage.library import GoldenReader as GoldenReader  # the point reads, built by api.deps

NAME_FIELD = {POPULATION: "name", LEGAL_ENTITY: "entity_name"}


def _utc(value: dt.datetime) -> dt.datetime:
    # the stores keep naive UTC; RFC 3339 (OpenAPI date-time) needs the offset stated
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value


UtcDatetime = Annotated[dt.datetime, AfterValidator(_utc)]


class FieldValue(BaseModel):
    """One field of a golden record with where it came from."""

    value: str = Field(examples=["张三"])
    source: str = Field(description="dataset that supplied the value", examples=["ps_household"])
    run_id: str = Field(examples=["ps_household-3f2a9c0d11e4b7a2"])
    updated_at: UtcDatetime = Field(examples=["2026-11-20T08:00:00Z"])
    authoritative: bool = Field(
        description="the value comes from the field's authoritative source (一数一源)"
    )
    disputed: bool | None = Field(
        default=None,
        description="true while a dispute of this value is open with its department "
        "(POST /v1/disputes); absent otherwise",
    )


class RecordOut(BaseModel):
    """The granted fields of a golden record; fields not granted are absent."""

    subject: str = Field(examples=["11010519491231002X"])
    library: str = Field(examples=["population"])
    as_of: dt.date | None = Field(default=None, examples=[None])
    fields: dict[str, FieldValue]


# the canonical key of a subject in a request: the library's own (as the ingest stores it)
normalise_subject = subject_key


def _stamp(value: Any) -> str:
    """RFC 3339 UTC text of a stored time (SQLite hands back its text form, others datetimes)."""
    if isinstance(value, str):
        return value.replace(" ", "T") + "Z"
    return _utc(value).isoformat().replace("+00:00", "Z")


def record(
    state: Any, library: str, subject: str, as_of: dt.date | None, *, marks: bool = True
) -> dict[str, dict[str, Any]] | None:
    """Every field of the subject's golden record (now, or as known at the end of ``as_of``),
    as plain JSON-ready dicts shaped like :class:`FieldValue`; with ``marks``, the current
    values with an open dispute carry ``"disputed": true``."""
    if as_of is not None:
        rec = state.library.record(library, subject, as_of)
        if rec is None:
            return None
        return {
            k: {
                "value": f.value,
                "source": f.dataset,
                "run_id": f.run_id,
                "updated_at": _stamp(f.observed_at),
                "authoritative": f.authoritative,
            }
            for k, f in rec.fields.items()
        }
    rows = state.golden.rows(library, subject)
    if not rows:
        return None
    out = {
        name: {
            "value": value,
            "source": dataset,
            "run_id": run_id,
            "updated_at": _stamp(observed),
            "authoritative": bool(auth),
        }
        for name, value, dataset, run_id, observed, auth in rows
    }
    if marks:
        from api.routers.disputes import disputed_fields

        for name in disputed_fields(state, library, subject, out):
            out[name]["disputed"] = True
    return out


def record_response(
    state: Any, library: str, subject: str, as_of: dt.date | None, allows: Any
) -> tuple[bytes, set[str]] | None:
    """The JSON body of :class:`RecordOut` with the fields ``allows`` admits, and those fields.

    Serialised here (not re-validated through the response model) because this is the hottest
    path of the API; the schemathesis test checks the body against the OpenAPI document.
    """
    fields = record(state, library, subject, as_of)
    if fields is None:
        return None
    shown = {k: v for k, v in fields.items() if allows(k)}
    body: dict[str, Any] = {"subject": subject, "library": library, "fields": shown}
    if as_of is not None:
        body["as_of"] = as_of.isoformat()
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode(), set(shown)


def values(state: Any, library: str, subject: str, names: tuple[str, ...]) -> dict[str, str]:
    """Current golden values of a few fields of one subject (missing fields absent)."""
    return {r[0]: r[1] for r in state.golden.rows(library, subject) if r[0] in names}


def same_name(a: str | None, b: str | None) -> bool:
    """Names compared as people write them: NFKC, whitespace and middle dots ignored."""
    if not a or not b:
        return False

    def canon(s: str) -> str:
        s = unicodedata.normalize("NFKC", s)
        return "".join(ch for ch in s if not ch.isspace() and ch not in "·•.").casefold()

    return canon(a) == canon(b)


class LicenceOut(BaseModel):
    """A valid licence of the holder: enough to accept it instead of a paper copy."""

    licence_id: str = Field(
        examples=["1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.U"]
    )
    type_code: str = Field(examples=["11100000000013338W011"])
    type_name: str = Field(examples=["营业执照"])
    status: str = Field(examples=["valid"])
    issued_at: UtcDatetime
    valid_to: dt.date | None = Field(description="null = long-term validity")
    issuer: str = Field(description="USCC of the issuing authority")


def valid_licences(
    state: Any, holder: str, type_code: str | None, allowed: Any
) -> list[LicenceOut]:
    """The holder's licences that are valid today (not superseded, not expired)."""
    from licence.tables import licences
    from schemas import licence_types

    today = dt.date.today().isoformat()
    stmt = select(licences).where(
        and_(
            licences.c.holder_id == holder,
            licences.c.status == "valid",
            licences.c.superseded_by.is_(None),
            or_(licences.c.valid_to.is_(None), licences.c.valid_to >= today),
        )
    )
    if type_code:
        stmt = stmt.where(licences.c.type_code == type_code)
    with state.library.engine.connect() as conn:
        rows = conn.execute(stmt.order_by(licences.c.issued_at)).all()
    catalogue = licence_types.catalogue()
    out = []
    for r in rows:
        if not allowed(r.type_code):
            continue
        lt = catalogue.get(r.type_code)
        out.append(
            LicenceOut(
                licence_id=r.licence_id,
                type_code=r.type_code,
                type_name=lt.name if lt else "",
                status=r.status,
                issued_at=r.issued_at,
                valid_to=dt.date.fromisoformat(r.valid_to) if r.valid_to else None,
                issuer=r.authority,
            )
        )
    return out
