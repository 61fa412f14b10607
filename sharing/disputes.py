"""Disputes (数据异议): an approval system says a golden record's field is wrong; the dispute goes
to the department that is the field's authoritative source, and closes when that department's
next delivery changes the field or when it answers. Meanwhile granted readers see the field
marked ``disputed``. Pure decisions; the rows live in ``storage.findings``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from schemas.contracts import Contract
from schemas.library import library_schema
from schemas.sharing import field_owners

LIBRARIES = ("population", "legal-entity")


class DisputeRefused(ValueError):
    """A dispute that cannot be filed; the message says why."""


def library_of(field: str) -> str:
    """The library holding ``field`` (the libraries' field names do not overlap)."""
    for name in LIBRARIES:
        if field in library_schema(name).field_names:
            return name
    raise DisputeRefused(f"{field!r} is not a field of any library (see GET /v1/catalog)")


def authority(library: str, field: str, contracts: Iterable[Contract]) -> str:
    """The department a dispute of ``field`` goes to: its authoritative source's."""
    owner = field_owners(library, contracts).get(field)
    if owner is None:
        raise DisputeRefused(f"no department delivers {field!r}: there is nobody to correct it")
    return owner


def datasets_of(department: str, contracts: Iterable[Contract]) -> set[str]:
    return {c.dataset_id for c in contracts if c.department == department}


def settled_by_delivery(
    dispute: Mapping[str, Any], value: Mapping[str, Any] | None, datasets: set[str]
) -> bool:
    """Whether the golden ``value`` of the disputed field (``source``, ``updated_at``) was
    delivered by the department after the dispute was filed."""
    if value is None or value.get("source") not in datasets:
        return False
    updated = value.get("updated_at")
    if isinstance(updated, str):
        updated = dt.datetime.fromisoformat(updated.replace("Z", "+00:00"))
    if not isinstance(updated, dt.datetime):
        return False
    filed = dispute["filed_at"]
    filed = filed if filed.tzinfo else filed.replace(tzinfo=dt.UTC)
    updated = updated if updated.tzinfo else updated.replace(tzinfo=dt.UTC)
    return bool(updated > filed)
