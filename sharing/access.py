"""Grants inside the catalogue, and the access requests departments decide.

:func:`grant_fields` is the one rule every grant of a library scope (``population``,
``legal-entity``) passes, wherever it is created (``api.clients.ClientStore.grant``, so
``hub client grant`` and an approved access request alike):

* a field the library does not have, or a 不予共享 field, is refused;
* a 无条件共享 field is granted at once;
* a 有条件共享 field only under an :class:`Approval` (an access request its owning
  department(s) approved) naming that field and that purpose, and only for a purpose the field's
  conditions allow;
* ``*`` stands for every field that may be granted so: the unconditional ones, plus those the
  approval names.

Pure code: the sharing attributes are handed in (:func:`schemas.sharing.library_sharing`).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from schemas.sharing import Sharing

LIBRARY_SCOPES = ("population", "legal-entity")


class GrantRefused(ValueError):
    """A grant the catalogue does not allow; the message names the fields and why."""


@dataclass(frozen=True)
class Approval:
    """An access request approved by the departments owning its conditional fields."""

    request_id: str
    fields: frozenset[str]
    purpose: str
    departments: tuple[str, ...] = ()


def grant_fields(
    scope: str,
    fields: Iterable[str],
    purpose: str,
    sharing: Mapping[str, Sharing],
    approval: Approval | None = None,
) -> list[str]:
    """The field names a grant of library ``scope`` for ``purpose`` may hold (``*``
    expanded), in the library's order; :class:`GrantRefused` naming every field at fault."""
    asked = {f.strip() for f in fields if f.strip()} or {"*"}
    every = "*" in asked
    asked.discard("*")
    unknown = sorted(asked - set(sharing))
    if unknown:
        raise GrantRefused(
            f"{', '.join(unknown)}: not a field of the {scope} library (see GET /v1/catalog/"
            f"{scope})"
        )
    withheld = sorted(f for f in asked if sharing[f].attribute == "none")
    if withheld:
        raise GrantRefused(
            f"{', '.join(withheld)}: 不予共享 (not shared) in the catalogue; no grant can open it"
        )
    if approval is not None and approval.purpose != purpose:
        raise GrantRefused(
            f"access request {approval.request_id} was approved for purpose "
            f"{approval.purpose!r}, not {purpose!r}"
        )
    approved = approval.fields if approval is not None else frozenset()
    conditional = [f for f in asked if sharing[f].attribute == "conditional"]
    unapproved = sorted(f for f in conditional if f not in approved)
    if unapproved:
        raise GrantRefused(
            f"{', '.join(unapproved)}: 有条件共享 (conditional); the owning department must "
            "approve an access request for it (POST /v1/access-requests)"
        )
    barred = sorted(f for f in conditional if not sharing[f].allows_purpose(purpose))
    if barred:
        raise GrantRefused(
            f"{', '.join(barred)}: the catalogue's conditions do not allow purpose {purpose!r}"
        )

    def opened(name: str, rule: Sharing) -> bool:
        if name in asked:
            return True
        if not every:
            return False
        return rule.attribute == "unconditional" or (
            name in approved and rule.allows_purpose(purpose)
        )

    out = [name for name, rule in sharing.items() if opened(name, rule)]
    if not out:
        raise GrantRefused(f"no field of the {scope} library may be granted for {purpose!r}")
    return out


def shareable(sharing: Mapping[str, Sharing]) -> frozenset[str]:
    """The fields any grant may open at all (everything but 不予共享)."""
    return frozenset(name for name, rule in sharing.items() if rule.attribute != "none")


# ---- access requests ------------------------------------------------------------------------
# 《政务数据共享条例》: a conditional request is answered within 10 working days of receipt.
DEADLINE_WORKING_DAYS = 10
DECISIONS = ("approve", "narrow", "refuse")
PLATFORM_DEPARTMENT = "省政务数据共享平台 Provincial data sharing platform"  # fields nobody owns


class RequestRefused(ValueError):
    """An access request or a decision that cannot be accepted; the message says why."""


class RequestStore(Protocol):
    def create(
        self,
        *,
        client_id: str,
        scope: str,
        fields: list[str],
        purpose: str,
        legal_basis: str,
        until: dt.datetime,
        departments: list[str],
        now: dt.datetime | None = None,
    ) -> str: ...

    def get(self, request_id: str) -> dict[str, Any] | None: ...

    def decide(
        self,
        request_id: str,
        *,
        department: str,
        decision: str,
        fields: list[str],
        staff: str,
        note: str = "",
        ledger_entry: int | None = None,
        now: dt.datetime | None = None,
    ) -> None: ...

    def close(
        self,
        request_id: str,
        status: str,
        *,
        granted_fields: list[str] | None = None,
        grant_id: int | None = None,
        now: dt.datetime | None = None,
    ) -> None: ...

    # last: below it, ``list`` would name this method in annotations
    def list(
        self, status: str | None = None, client_id: str | None = None
    ) -> Sequence[dict[str, Any]]: ...


class GrantMaker(Protocol):
    def grant(
        self,
        client_id: str,
        scope: str,
        purpose: str,
        expires_at: dt.datetime,
        fields: list[str] | None = None,
        approval: Approval | None = None,
    ) -> int: ...


def add_working_days(start: dt.date, days: int) -> dt.date:
    """``days`` working days (Monday to Friday) after ``start``. Public holidays and the
    weekends worked in their place are not known here: the deadline may be a day or two early
    around them, never late."""
    day = start
    left = days
    while left > 0:
        day += dt.timedelta(days=1)
        if day.weekday() < 5:
            left -= 1
    return day


def working_days_between(start: dt.date, end: dt.date) -> int:
    """Working days (Monday to Friday) after ``start`` up to and including ``end``."""
    count, day = 0, start
    while day < end:
        day += dt.timedelta(days=1)
        if day.weekday() < 5:
            count += 1
    return count


def timing(request: Mapping[str, Any], today: dt.date) -> dict[str, Any]:
    """A request's age (calendar and working days), its legal deadline and whether it is
    overdue (an open request past its deadline)."""
    created = request["created_at"].date()
    deadline = add_working_days(created, DEADLINE_WORKING_DAYS)
    return {
        "age_days": (today - created).days,
        "age_working_days": working_days_between(created, today),
        "deadline": deadline,
        "overdue": request["status"] == "pending" and today > deadline,
    }


def _canonical(obj: Mapping[str, Any]) -> bytes:
    return json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def _iso(value: dt.datetime) -> str:
    return value.replace(microsecond=0).isoformat() + "Z"


class AccessDesk:
    """Files access requests and records the owning departments' decisions.

    ``sharing(library)`` and ``owners(library)`` come from the catalogue
    (:mod:`schemas.sharing`); ``ledger`` appends one entry (bytes) and returns its id;
    ``purposes`` holds the registered purpose codes.
    """

    def __init__(
        self,
        store: RequestStore,
        grants: GrantMaker,
        sharing: Callable[[str], Mapping[str, Sharing]],
        owners: Callable[[str], Mapping[str, str]],
        ledger: Callable[[bytes], int],
        purposes: Container[str],
    ) -> None:
        self.store = store
        self.grants = grants
        self.sharing = sharing
        self.owners = owners
        self.ledger = ledger
        self.purposes = purposes

    def departments(self, scope: str, fields: Iterable[str]) -> dict[str, list[str]]:
        """Department -> the conditional fields of ``fields`` it must decide."""
        sharing = self.sharing(scope)
        owners = self.owners(scope)
        out: dict[str, list[str]] = {}
        for name in fields:
            if sharing[name].attribute == "conditional":
                out.setdefault(owners.get(name) or PLATFORM_DEPARTMENT, []).append(name)
        return out

    def file(
        self,
        client_id: str,
        scope: str,
        fields: list[str],
        purpose: str,
        legal_basis: str,
        until: dt.datetime,
        now: dt.datetime | None = None,
    ) -> dict[str, Any]:
        """Check a request against the catalogue and store it; one of unconditional fields
        only is granted at once. :class:`RequestRefused` says what is wrong."""
        now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
        if scope not in LIBRARY_SCOPES:
            raise RequestRefused(f"scope must be one of {', '.join(LIBRARY_SCOPES)}")
        if purpose not in self.purposes:
            raise RequestRefused(f"purpose {purpose!r} is not a registered purpose code")
        names = sorted({f.strip() for f in fields if f.strip()})
        if not names or "*" in names:
            raise RequestRefused("name the fields asked for (see GET /v1/catalog/" + scope + ")")
        sharing = self.sharing(scope)
        try:  # the catalogue's rule, as if every conditional field were approved
            grant_fields(scope, names, purpose, sharing, Approval("-", frozenset(names), purpose))
        except GrantRefused as exc:
            raise RequestRefused(str(exc)) from None
        wanting = sorted(f for f in names if sharing[f].legal_basis)
        if wanting and not legal_basis.strip():
            raise RequestRefused(
                f"{', '.join(wanting)}: the catalogue requires the legal basis of the request"
            )
        until = until.astimezone(dt.UTC).replace(tzinfo=None) if until.tzinfo else until
        if until <= now:
            raise RequestRefused("until must be in the future")
        deciders = self.departments(scope, names)
        request_id = self.store.create(
            client_id=client_id,
            scope=scope,
            fields=names,
            purpose=purpose,
            legal_basis=legal_basis.strip(),
            until=until,
            departments=sorted(deciders),
            now=now,
        )
        if not deciders:  # 无条件共享 only: granted at once
            self._grant(request_id, now)
        found = self.store.get(request_id)
        assert found is not None
        return found

    def decide(
        self,
        request_id: str,
        department: str,
        staff: str,
        decision: str,
        fields: Iterable[str] | None = None,
        note: str = "",
        now: dt.datetime | None = None,
    ) -> dict[str, Any]:
        """Record ``department``'s decision (approve, narrow to ``fields``, or refuse with a
        ``note`` saying why) as a ledger entry; the last approval creates the grant."""
        now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
        request = self.store.get(request_id)
        if request is None:
            raise RequestRefused(f"no access request {request_id}")
        if request["status"] != "pending":
            raise RequestRefused(f"access request {request_id} is {request['status']} already")
        if decision not in DECISIONS:
            raise RequestRefused(f"decision must be one of {', '.join(DECISIONS)}")
        mine = self.departments(request["scope"], request["fields"]).get(department)
        if mine is None:
            raise RequestRefused(
                f"access request {request_id} asks nothing of {department} (it needs: "
                f"{', '.join(request['departments'])})"
            )
        if any(d["department"] == department for d in request["decisions"]):
            raise RequestRefused(f"{department} has already decided access request {request_id}")
        kept = list(mine)
        if decision == "narrow":
            asked = sorted({f.strip() for f in fields or () if f.strip()})
            outside = [f for f in asked if f not in mine]
            if not asked or outside:
                raise RequestRefused(
                    f"narrow to some of this department's fields: {', '.join(mine)}"
                    + (f" (not {', '.join(outside)})" if outside else "")
                )
            kept = asked
        elif decision == "refuse":
            if not note.strip():
                raise RequestRefused("say why the request is refused (the requester is told)")
            kept = []
        entry = self.ledger(
            _canonical(
                {
                    "event": "access.decision",
                    "request_id": request_id,
                    "client_id": request["client_id"],
                    "department": department,
                    "decision": decision,
                    "fields": kept,
                    "purpose": request["purpose"],
                    "staff": staff,
                    "time": _iso(now),
                }
            )
        )
        self.store.decide(
            request_id,
            department=department,
            decision=decision,
            fields=kept,
            staff=staff,
            note=note.strip(),
            ledger_entry=entry,
            now=now,
        )
        if decision == "refuse":
            self.store.close(request_id, "refused", now=now)
        else:
            decided = {d["department"] for d in request["decisions"]} | {department}
            if decided >= set(request["departments"]):
                self._grant(request_id, now)
        found = self.store.get(request_id)
        assert found is not None
        return found

    def _grant(self, request_id: str, now: dt.datetime) -> None:
        request = self.store.get(request_id)
        assert request is not None
        sharing = self.sharing(request["scope"])
        approved = {f for d in request["decisions"] for f in d["fields"]}
        fields = [
            f for f in request["fields"] if sharing[f].attribute == "unconditional" or f in approved
        ]
        approval = Approval(
            request_id, frozenset(approved), request["purpose"], tuple(request["departments"])
        )
        grant_id = self.grants.grant(
            request["client_id"],
            request["scope"],
            request["purpose"],
            request["until"],
            fields,
            approval,
        )
        self.ledger(
            _canonical(
                {
                    "event": "access.grant",
                    "request_id": request_id,
                    "client_id": request["client_id"],
                    "scope": request["scope"],
                    "fields": fields,
                    "purpose": request["purpose"],
                    "grant_id": grant_id,
                    "until": _iso(request["until"]),
                    "time": _iso(now),
                }
            )
        )
        self.store.close(request_id, "granted", granted_fields=fields, grant_id=grant_id, now=now)
