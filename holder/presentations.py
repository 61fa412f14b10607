"""Presentations (亮证码): short-lived, single-use, audience-bound codes that reveal only the
fields their holder chose.

The holder names one of their valid licences and the fields to show (with
:data:`ALWAYS_SHOWN`, which the verdict needs and which say nothing about the holder); every
other field is hidden with the licence's salted-digest disclosure
(``licence.document.disclose``), so the seal and the ledger receipt still verify. The code is
120 random bits (base32, 24 characters), stored only as its SHA-256; it lives at most
:data:`MAX_LIFETIME` seconds and is used once unless the holder allows more. Redeeming it
(:meth:`Presentations.redeem`) spends one use only if the audience and purpose match, the code
is unexpired and a use is left, all in one UPDATE (so two windows redeeming at the same instant
cannot both succeed); only a code it could not spend is read again to say why. It returns only
the disclosed licence and its receipt.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import secrets
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Engine, and_, bindparam, insert, or_, select, update

from holder import store
from licence import document

MAX_LIFETIME = 300  # seconds: a code is shown at a window, not kept
DEFAULT_LIFETIME = 120
MAX_USES = 10
CODE_BYTES = 15  # 120 bits: 24 base32 characters, no padding
CODE_PATTERN = re.compile(r"^[a-z2-7]{24}$")
MAX_TEXT = 64
WITHDRAWN = -1  # uses_left of a code its holder withdrew
# shown in every presentation: what the verdict needs to be decided (which licence, which
# authority, when it is valid), none of it about the holder; without the validity the verdict
# could only be INDETERMINATE (``VALIDITY_HIDDEN``)
ALWAYS_SHOWN = (
    "证照标识",
    "证照颁发机构代码",
    "证照有效期起始日期",
    "证照有效期截止日期",
    "证照有效期长期标识",
)


class Objects(Protocol):
    def get(self, key: str) -> bytes: ...


class LicenceSource(Protocol):
    """The licence service as presentations see it."""

    objects: Objects  # the sealed documents, by their index row's ``object_key``

    def row(self, lid: str) -> dict[str, Any]: ...

    def document(self, lid: str) -> dict[str, Any]: ...


@dataclass
class PresentationError(Exception):
    """A refusal: HTTP ``status``, a short ``kind`` (the audit's outcome), a message a person can
    act on; ``holder`` and ``licence_id`` when the code was known (for the audit)."""

    status: int
    kind: str
    message: str
    holder: str | None = None
    licence_id: str | None = None

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class Presentation:
    """A new presentation: the code (shown once) and what it reveals, for how long."""

    code: str
    licence_id: str
    disclosed: list[str]
    hidden: list[str]
    audience: str | None
    purpose: str | None
    uses: int
    expires_at: dt.datetime  # UTC, aware


@dataclass(frozen=True)
class Redemption:
    """What a redeemer gets: the disclosed licence, and whose it is (for the audit only);
    ``record``: the licence's index row as read for it (its status and receipt)."""

    holder: str
    licence_id: str
    licence: dict[str, Any]
    disclosed: list[str]
    record: dict[str, Any] | None = None


_p = store.presentations
# spend one use of a code, if the redeemer may: one statement, answering what the code shows
_SPEND = (
    update(_p)
    .where(
        and_(
            _p.c.code_sha256 == bindparam("c_key"),
            _p.c.uses_left > 0,
            _p.c.expires_at > bindparam("c_now"),
            or_(_p.c.audience.is_(None), _p.c.audience.in_(bindparam("c_aud", expanding=True))),
            or_(_p.c.purpose.is_(None), _p.c.purpose == bindparam("c_purpose")),
        )
    )
    .values(uses_left=_p.c.uses_left - 1)
    .returning(_p.c.holder, _p.c.licence_id, _p.c.disclosed)
)
_CODE = select(_p).where(_p.c.code_sha256 == bindparam("c_key"))


def _utc(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).replace(tzinfo=None)


def new_code() -> str:
    return base64.b32encode(secrets.token_bytes(CODE_BYTES)).decode().lower()


def normalise_code(raw: str) -> str | None:
    """The code as typed, scanned or pasted (a ``…/p/<code>`` link, spaces, upper case) in
    canonical form, None if it cannot be one."""
    text = raw.strip()
    if "/p/" in text:
        text = text.rsplit("/p/", 1)[1]
    text = re.sub(r"[\s-]", "", text.split("?", 1)[0].split("#", 1)[0]).lower()
    return text if CODE_PATTERN.match(text) else None


def _text(value: str | None, what: str) -> str | None:
    if value is None or not value.strip():
        return None
    value = value.strip()
    if len(value) > MAX_TEXT or not value.isprintable():
        raise PresentationError(
            400, "invalid-request", f"{what} must be 1 to {MAX_TEXT} characters"
        )
    return value


class Presentations:
    """Create and redeem presentations over the hub database and the licence service."""

    def __init__(
        self, engine: Engine, licences: LicenceSource, clock: Callable[[], float] = time.time
    ) -> None:
        self.engine, self.licences, self.clock = engine, licences, clock
        # a licence's field names never change (a change issues a new licence id)
        self._fields: dict[str, list[str]] = {}
        store.create(engine)

    def create(
        self,
        holder: str,
        licence_id: str,
        disclose: Sequence[str],
        *,
        audience: str | None = None,
        purpose: str | None = None,
        lifetime: int = DEFAULT_LIFETIME,
        uses: int = 1,
        via: str = "pages",
    ) -> Presentation:
        """A presentation of ``holder``'s licence showing only ``disclose``.

        Refused (PresentationError): a licence that is not the holder's (404, the same answer
        as an unknown one), not valid (409), unknown field names, no field, a lifetime over
        :data:`MAX_LIFETIME` s or more than :data:`MAX_USES` uses (400)."""
        from licence.errors import LicenceNotFoundError

        if not 1 <= lifetime <= MAX_LIFETIME:
            raise PresentationError(
                400, "invalid-request", f"lifetime must be 1 to {MAX_LIFETIME} seconds"
            )
        if not 1 <= uses <= MAX_USES:
            raise PresentationError(400, "invalid-request", f"uses must be 1 to {MAX_USES}")
        audience = _text(audience, "audience")
        purpose = _text(purpose, "purpose")
        try:
            row = self.licences.row(licence_id)
        except LicenceNotFoundError:
            row = None
        if row is None or row.get("holder_id") != holder:
            raise PresentationError(404, "unknown-licence", f"you hold no licence {licence_id!r}")
        if row.get("status") != "valid" or row.get("superseded_by"):
            state = "superseded" if row.get("superseded_by") else row.get("status")
            raise PresentationError(
                409, "licence-not-valid", f"licence {licence_id} is {state}: it cannot be presented"
            )
        fields = self._fields.get(licence_id)
        if fields is None:
            fields = sorted(self.licences.document(licence_id)["fields"])
            if len(self._fields) > 10_000:
                self._fields.clear()
            self._fields[licence_id] = fields
        chosen = list(dict.fromkeys(disclose))
        unknown = [n for n in chosen if n not in fields]
        if unknown:
            raise PresentationError(
                400,
                "unknown-field",
                f"the licence has no field {', '.join(map(repr, unknown))}; "
                f"its fields are: {', '.join(fields)}",
            )
        if not chosen:
            raise PresentationError(400, "invalid-request", "choose at least one field to show")
        shown = list(dict.fromkeys([*chosen, *(n for n in ALWAYS_SHOWN if n in fields)]))
        code = new_code()
        now = self.clock()
        with store.write(self.engine) as conn:
            conn.execute(
                insert(store.presentations).values(
                    code_sha256=store.secret_hash(code),
                    holder=holder,
                    licence_id=licence_id,
                    disclosed=json.dumps(sorted(shown), ensure_ascii=False),
                    audience=audience,
                    purpose=purpose,
                    uses_left=uses,
                    created_via=via[:64],
                    created_at=_utc(now),
                    expires_at=_utc(now + lifetime),
                )
            )
        return Presentation(
            code,
            licence_id,
            sorted(shown),
            [n for n in fields if n not in shown],
            audience,
            purpose,
            uses,
            dt.datetime.fromtimestamp(now + lifetime, dt.UTC),
        )

    def redeem(
        self, code: str, *, audiences: Collection[str] = (), purpose: str | None = None
    ) -> Redemption:
        """Spend one use of ``code`` and return the disclosed licence.

        ``audiences``: who is redeeming (the client id; a service window's name); ``purpose``
        what they declared. Refused: an unknown code (404), the wrong audience or purpose (403,
        and the code is not spent), a used or expired code (410)."""
        canonical = normalise_code(code)
        if canonical is None:
            raise PresentationError(404, "unknown-code", "no such presentation code")
        key = store.secret_hash(canonical)
        now = _utc(self.clock())
        with store.write(self.engine) as conn:
            spent = conn.execute(
                _SPEND,
                {"c_key": key, "c_now": now, "c_aud": sorted(audiences), "c_purpose": purpose},
            ).first()
        if spent is None:
            raise self._refusal(key, now, audiences, purpose)
        holder, lid = str(spent.holder), str(spent.licence_id)
        shown = list(json.loads(spent.disclosed))
        record = self.licences.row(lid)
        full = json.loads(self.licences.objects.get(str(record["object_key"])))
        hidden = [n for n in full["fields"] if n not in shown]
        # only the licence's own members travel (header, seal signature, fields)
        kept: dict[str, Any] = {k: full[k] for k in ("header", "signature", "fields") if k in full}
        return Redemption(holder, lid, document.disclose(kept, hidden), shown, record)

    def _refusal(
        self, key: str, now: dt.datetime, audiences: Collection[str], purpose: str | None
    ) -> PresentationError:
        """Why a code (by its hash) could not be spent: read only when it was not."""
        with self.engine.connect() as conn:
            row = conn.execute(_CODE, {"c_key": key}).first()
        if row is None:
            return PresentationError(404, "unknown-code", "no such presentation code")
        holder, lid = str(row.holder), str(row.licence_id)
        if row.audience is not None and row.audience not in audiences:
            return PresentationError(
                403,
                "wrong-audience",
                "this code was made for another recipient: it was not used, ask the holder "
                "for a code made out to you",
                holder,
                lid,
            )
        if row.purpose is not None and purpose != row.purpose:
            return PresentationError(
                403,
                "wrong-purpose",
                f"this code was made for the purpose {row.purpose!r} only",
                holder,
                lid,
            )
        if row.uses_left == WITHDRAWN:
            return PresentationError(
                410,
                "withdrawn",
                "the holder withdrew this code: ask them to show a new one",
                holder,
                lid,
            )
        if row.expires_at <= now:
            return PresentationError(
                410,
                "expired",
                "this code has expired: ask the holder to show a new one",
                holder,
                lid,
            )
        return PresentationError(
            410,
            "already-used",
            "this code was already used: ask the holder to show a new one",
            holder,
            lid,
        )

    def open_codes(self, holder: str) -> list[dict[str, Any]]:
        """The holder's codes still usable now (what they have shown and may withdraw);
        ``ref`` is the code's hash, which redeems nothing."""
        p = store.presentations
        now = _utc(self.clock())
        stmt = (
            select(p)
            .where(and_(p.c.holder == holder, p.c.uses_left > 0, p.c.expires_at > now))
            .order_by(p.c.created_at.desc())
        )
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).all()
        return [
            {
                "ref": r.code_sha256,
                "licence_id": r.licence_id,
                "disclosed": json.loads(r.disclosed),
                "audience": r.audience,
                "uses_left": r.uses_left,
                "expires_at": r.expires_at,
            }
            for r in rows
        ]

    def withdraw(self, holder: str, ref: str) -> str | None:
        """Withdraw one of the holder's codes (by ``ref``) before it is used or expires; the
        licence it showed, None if there was no such usable code of theirs."""
        p = store.presentations
        mine = and_(p.c.code_sha256 == ref, p.c.holder == holder, p.c.uses_left > 0)
        with store.write(self.engine) as conn:
            lid = conn.execute(select(p.c.licence_id).where(mine)).scalar()
            if lid is None:
                return None
            conn.execute(update(p).where(mine).values(uses_left=WITHDRAWN))
        return str(lid)
