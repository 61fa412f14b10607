"""Checks that span sources, run after a merge: findings are reported, never used to drop data."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from pipeline.services import IngestServices
from schemas import resident_id
from storage.library import LEGAL_ENTITY, POPULATION


def cross_checks(hub: IngestServices) -> dict[str, Any]:
    """Checks spanning sources: legal representatives exist; birth date/sex agree with the ID.

    Findings are reported, never used to drop data. Returns counts and (non-personal) examples:
    the USCCs of entities whose representative is unknown.
    """
    from quality.referential import missing_references

    lib = hub.library
    persons = pa.array(lib.subjects(POPULATION), pa.string())
    reps = lib.golden_values(LEGAL_ENTITY, "legal_rep_id_number")
    rep_entities = list(reps)
    rep_ids = pa.array([resident_id.normalise(v) for v in reps.values()], pa.string())
    missing = missing_references(rep_ids, persons).to_pylist()
    unmatched = [e for e, m in zip(rep_entities, missing, strict=True) if m]

    births = lib.golden_values(POPULATION, "birth_date")
    ids = list(births)
    derived = resident_id.birth_date_array(pa.array(ids, pa.string())).to_pylist()
    birth_wrong = [
        (i, births[i], d.isoformat())
        for i, d in zip(ids, derived, strict=True)
        if d is not None and d.isoformat() != births[i]
    ]
    birth_mismatch = len(birth_wrong)
    sexes = lib.golden_values(POPULATION, "sex")
    sids = list(sexes)
    dsex = resident_id.sex_array(pa.array(sids, pa.string())).to_pylist()
    sex_wrong = [
        (i, sexes[i], s) for i, s in zip(sids, dsex, strict=True) if s is not None and s != sexes[i]
    ]
    sex_mismatch = len(sex_wrong)
    opened, closed = record_findings(hub, unmatched, birth_wrong, sex_wrong)
    return {
        "entities_checked": len(rep_entities),
        "legal_rep_unmatched": len(unmatched),
        "legal_rep_unmatched_entities": sorted(unmatched)[:20],
        "persons_checked": len(set(ids) | set(sids)),
        "birth_date_mismatch": birth_mismatch,
        "sex_mismatch": sex_mismatch,
        "findings_opened": opened,
        "findings_closed": closed,
    }


KINDS = ("legal_rep_unknown", "birth_date_vs_id", "sex_vs_id")


def record_findings(
    hub: IngestServices,
    unmatched: list[str],
    birth_wrong: list[tuple[str, str, str]],
    sex_wrong: list[tuple[str, str, str]],
) -> tuple[int, int]:
    """Store the findings with their evidence for the field's authoritative department
    (storage.findings); those no longer found are closed. Returns (opened, closed)."""
    from schemas.sharing import field_owners
    from storage.findings import FindingStore

    contracts = list(hub.contracts.values())
    people = field_owners(POPULATION, contracts)
    entities = field_owners(LEGAL_ENTITY, contracts)
    unknown = "(no authoritative source)"
    found: list[dict[str, Any]] = [
        {
            "kind": "legal_rep_unknown",
            "library": LEGAL_ENTITY,
            "field": "legal_rep_id_number",
            "subject": uscc,
            "department": entities.get("legal_rep_id_number", unknown),
            "evidence": {"legal_rep_id_number": "not in the population library"},
        }
        for uscc in unmatched
    ]
    for kind, field, wrong in (
        ("birth_date_vs_id", "birth_date", birth_wrong),
        ("sex_vs_id", "sex", sex_wrong),
    ):
        found += [
            {
                "kind": kind,
                "library": POPULATION,
                "field": field,
                "subject": subject,
                "department": people.get(field, unknown),
                "evidence": {"golden": value, "from_id_number": derived},
            }
            for subject, value, derived in wrong
        ]
    return FindingStore(hub.library.engine).sync(KINDS, found)
