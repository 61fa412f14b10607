"""Licence governance (治理), the pure part: valid licences against what the libraries say now.

A licence rests on facts about its holder; when the libraries learn that those facts changed,
the licence should not stay "valid" unnoticed. :func:`reconcile` compares each valid licence
with the holder's current golden values and returns one :class:`Finding` per fact that no
longer holds:

- ``HOLDER_DIED``: the population library records the person holder as deceased;
- ``ENTITY_NOT_OPERATING``: the enterprise data says deregistered (注销) or revoked (吊销);
- ``NAME_CHANGED``: the holder's registered name differs from the name on the licence;
- ``LEGAL_REP_CHANGED``: the entity's legal representative differs from the licence's;
- ``HOLDER_UNKNOWN``: the holder is not in the library at all.

No I/O here: :mod:`licence.governance_run` reads the store and the libraries, records the
findings with their evidence (the library run that said so) and applies each type's policy.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

HOLDER_DIED = "HOLDER_DIED"
ENTITY_NOT_OPERATING = "ENTITY_NOT_OPERATING"
NAME_CHANGED = "NAME_CHANGED"
LEGAL_REP_CHANGED = "LEGAL_REP_CHANGED"
HOLDER_UNKNOWN = "HOLDER_UNKNOWN"
KINDS = {
    HOLDER_DIED: "持证人已死亡",
    ENTITY_NOT_OPERATING: "持证主体已注销或吊销",
    NAME_CHANGED: "持证主体名称已变更",
    LEGAL_REP_CHANGED: "法定代表人已变更",
    HOLDER_UNKNOWN: "持证主体不在基础库中",
}
# the kinds a licence type's policy may suspend automatically (an unknown holder may be a gap
# in the library: it is only ever flagged)
SUSPENDABLE = (HOLDER_DIED, ENTITY_NOT_OPERATING, NAME_CHANGED, LEGAL_REP_CHANGED)

# the library fields read for each holder kind
PERSON_FIELDS = ("name", "deceased", "death_date")
ENTITY_FIELDS = ("entity_name", "registration_status", "legal_rep_name")
# registration statuses of the enterprise data (code table entity_status) meaning the entity
# no longer operates
NOT_OPERATING = {"3": "吊销", "4": "注销", "吊销": "吊销", "注销": "注销"}
TRUE = {"1", "true", "t", "yes", "y", "是"}


@dataclass(frozen=True)
class Issued:
    """A valid licence as governance sees it: its holder and what the licence says of them."""

    licence_id: str
    authority: str
    type_code: str
    holder_kind: str  # person | entity
    holder_id: str
    holder_name: str  # the name on the licence
    legal_rep: str | None = None  # the legal representative on the licence, if it has one


@dataclass(frozen=True)
class Finding:
    licence_id: str
    authority: str
    type_code: str
    holder_id: str
    kind: str
    field: str  # the library field that says so
    now: str | None  # its current value
    on_licence: str | None = None  # what the licence says (name changes)


def _norm(value: str | None) -> str:
    return "".join((value or "").split())


def reconcile(
    licences: Iterable[Issued],
    values: Mapping[str, Mapping[str, Mapping[str, str]]],
) -> list[Finding]:
    """The findings of every licence: ``values[kind][field][holder]`` is the holder's current
    golden value of a field (``person``: :data:`PERSON_FIELDS`, ``entity``:
    :data:`ENTITY_FIELDS`). A holder missing from the library gets only ``HOLDER_UNKNOWN``."""
    out: list[Finding] = []
    persons = values.get("person", {})
    entities = values.get("entity", {})
    p_name, p_dead, p_death = (persons.get(f, {}) for f in PERSON_FIELDS)
    e_name, e_status, e_rep = (entities.get(f, {}) for f in ENTITY_FIELDS)
    for lic in licences:

        def found(
            kind: str, name: str, now: str | None, on: str | None = None, lic: Issued = lic
        ) -> None:
            out.append(
                Finding(
                    lic.licence_id, lic.authority, lic.type_code, lic.holder_id, kind, name, now, on
                )
            )

        h = lic.holder_id
        if lic.holder_kind == "person":
            name = p_name.get(h)
            if name is None:
                found(HOLDER_UNKNOWN, "name", None)
                continue
            dead = p_dead.get(h)
            if (dead is not None and dead.strip().lower() in TRUE) or p_death.get(h):
                field_name = "deceased" if dead is not None else "death_date"
                found(HOLDER_DIED, field_name, p_death.get(h) or dead)
            if _norm(name) != _norm(lic.holder_name):
                found(NAME_CHANGED, "name", name, lic.holder_name)
            continue
        name = e_name.get(h)
        if name is None:
            found(HOLDER_UNKNOWN, "entity_name", None)
            continue
        status = e_status.get(h)
        if status is not None and status.strip() in NOT_OPERATING:
            found(ENTITY_NOT_OPERATING, "registration_status", NOT_OPERATING[status.strip()])
        if _norm(name) != _norm(lic.holder_name):
            found(NAME_CHANGED, "entity_name", name, lic.holder_name)
        rep = e_rep.get(h)
        if lic.legal_rep and rep is not None and _norm(rep) != _norm(lic.legal_rep):
            found(LEGAL_REP_CHANGED, "legal_rep_name", rep, lic.legal_rep)
    return out
