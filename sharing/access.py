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

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

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
