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
    birth_mismatch = sum(
        1 for i, d in zip(ids, derived, strict=True) if d is not None and d.isoformat() != births[i]
    )
    sexes = lib.golden_values(POPULATION, "sex")
    sids = list(sexes)
    dsex = resident_id.sex_array(pa.array(sids, pa.string())).to_pylist()
    sex_mismatch = sum(
        1 for i, s in zip(sids, dsex, strict=True) if s is not None and s != sexes[i]
    )
    return {
        "entities_checked": len(rep_entities),
        "legal_rep_unmatched": len(unmatched),
        "legal_rep_unmatched_entities": sorted(unmatched)[:20],
        "persons_checked": len(set(ids) | set(sids)),
        "birth_date_mismatch": birth_mismatch,
        "sex_mismatch": sex_mismatch,
    }
