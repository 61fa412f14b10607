"""The machine-readable catalogue (``GET /v1/catalog``): DCAT-AP's shape, as JSON-LD.

One ``dcat:Dataset`` per dataset contract (a department's delivery) and one per subject library
(what the sharing API serves). Each has its publisher department (``dct:publisher``), its
distributions (the delivered file's media type; for a library, the API operation that serves
it), its update cadence as an ISO 8601 duration (``dct:accrualPeriodicity``), its fields with
types and sharing attributes (``fields``; for a library, the owning department of each), and
for a delivery the latest run (``dct:modified``, ``latestRun``) and its quality scores as DQV
measurements (``dqv:hasQualityMeasurement``, GB/T 36344 dimensions). Plain keys carry the DCAT
terms through the ``@context``; no personal data is in the catalogue.

Pure code: it shapes what it is given (contracts, runs, scorecard rows).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from schemas.contracts import Contract
from schemas.library import library_schema
from schemas.sharing import contract_sharing, field_owners, library_sharing

CONTEXT: dict[str, Any] = {
    "dcat": "http://www.w3.org/ns/dcat#",
    "dct": "http://purl.org/dc/terms/",
    "dqv": "http://www.w3.org/ns/dqv#",
    "foaf": "http://xmlns.com/foaf/0.1/",
    "hub": "urn:egov-hub:catalogue#",
    "title": "dct:title",
    "identifier": "dct:identifier",
    "publisher": "dct:publisher",
    "name": "foaf:name",
    "dataset": "dcat:dataset",
    "distribution": "dcat:distribution",
    "mediaType": "dcat:mediaType",
    "format": "dct:format",
    "accessURL": {"@id": "dcat:accessURL", "@type": "@id"},
    "accrualPeriodicity": "dct:accrualPeriodicity",
    "modified": "dct:modified",
    "conformsTo": "dct:conformsTo",
    "measurements": "dqv:hasQualityMeasurement",
    "dimension": "dqv:isMeasurementOf",
    "value": "dqv:value",
    "fields": "hub:fields",
    "sharing": "hub:sharing",
    "latestRun": "hub:latestRun",
    "library": "hub:library",
}
MEDIA_TYPES = {
    "csv": "text/csv",
    "jsonl": "application/jsonl",
    "parquet": "application/vnd.apache.parquet",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
LIBRARY_ROUTES = {"population": "/v1/persons/{id}", "legal-entity": "/v1/entities/{uscc}"}
LIBRARY_TITLES = {
    "population": "人口库 (population library)",
    "legal-entity": "法人库 (legal-entity library)",
}
PLATFORM = "省政务数据共享平台 Provincial data sharing platform"


def _iso(value: Any) -> str | None:
    if isinstance(value, dt.datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return aware.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    return None


def _sharing_of(sharing: Any) -> dict[str, Any]:
    return dict(sharing.as_dict())


def contract_entry(
    contract: Contract,
    runs: Sequence[Mapping[str, Any]] = (),
    quality: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """One delivery dataset: ``runs`` and ``quality`` (scorecard rows) in time order."""
    sharing = contract_sharing(contract)
    last = runs[-1] if runs else None
    scored = quality[-1] if quality else None
    entry: dict[str, Any] = {
        "@id": f"/v1/catalog/{contract.dataset_id}",
        "@type": "dcat:Dataset",
        "identifier": contract.dataset_id,
        "title": contract.title,
        "publisher": {"@type": "foaf:Agent", "name": contract.department},
        "library": contract.library,
        "accrualPeriodicity": f"P{contract.cadence_days}D",
        "distribution": [
            {
                "@type": "dcat:Distribution",
                "title": "部门交付文件 (the department's delivery)",
                "format": contract.format.upper(),
                "mediaType": MEDIA_TYPES[contract.format],
                "accessURL": f"/v1/datasets/{contract.dataset_id}/uploads",
            }
        ],
        "fields": [
            {
                "name": c.name,
                "type": c.type,
                "required": c.required,
                "libraryField": c.field,
                "authoritative": bool(c.field and c.field in contract.authoritative_for),
                "sharing": _sharing_of(sharing[c.name]),
            }
            for c in contract.columns
        ],
        "modified": _iso(last.get("finished_at") or last.get("received_at")) if last else None,
        "latestRun": None,
        "measurements": [],
    }
    if last is not None:
        entry["latestRun"] = {
            "runId": last.get("run_id"),
            "status": last.get("status"),
            "receivedAt": _iso(last.get("received_at")),
            "finishedAt": _iso(last.get("finished_at")),
            "rowsIn": last.get("rows_in"),
            "rowsAccepted": last.get("rows_accepted"),
            "rowsQuarantined": last.get("rows_quarantined"),
        }
    if scored is not None:
        entry["qualityStatus"] = scored.get("status")
        thresholds = contract.thresholds
        entry["measurements"] = [
            {
                "@type": "dqv:QualityMeasurement",
                "dimension": dim,
                "value": round(float(value), 6),
                "threshold": thresholds.get(dim),
                "run": scored.get("run_id"),
            }
            for dim, value in sorted(dict(scored.get("metrics") or {}).items())
        ]
    return entry


def library_entry(library: str, contracts: Iterable[Contract]) -> dict[str, Any]:
    """One subject library as the sharing API serves it: each field's type, sharing and
    owning department (the one that approves access to a conditional field)."""
    schema = library_schema(library)
    feeding = [c for c in contracts if c.library == schema.name]
    sharing = library_sharing(schema.name, feeding)
    owners = field_owners(schema.name, feeding)
    cadence = min((c.cadence_days for c in feeding), default=None)
    return {
        "@id": f"/v1/catalog/{schema.name}",
        "@type": "dcat:Dataset",
        "identifier": schema.name,
        "title": LIBRARY_TITLES.get(schema.name, schema.name),
        "publisher": {"@type": "foaf:Agent", "name": PLATFORM},
        "accrualPeriodicity": f"P{cadence}D" if cadence else None,
        "sources": sorted(c.dataset_id for c in feeding),
        "distribution": [
            {
                "@type": "dcat:Distribution",
                "title": "共享接口 (sharing API; a grant of scope " + schema.name + ")",
                "format": "JSON",
                "mediaType": "application/json",
                "accessURL": LIBRARY_ROUTES.get(schema.name),
            }
        ],
        "fields": [
            {
                "name": f.name,
                "title": f.label_zh,
                "type": f.type,
                "codeTable": f.code_table,
                "personal": f.personal,
                "sensitivity": f.sensitivity,
                "owner": owners.get(f.name),
                "sharing": _sharing_of(sharing[f.name]),
            }
            for f in schema.fields
        ],
    }


def catalogue(
    contracts: Mapping[str, Contract],
    runs: Mapping[str, Sequence[Mapping[str, Any]]],
    quality: Mapping[str, Sequence[Mapping[str, Any]]],
    libraries: Sequence[str] = ("population", "legal-entity"),
) -> dict[str, Any]:
    """The whole catalogue: the libraries, then every delivery dataset by id."""
    datasets = [library_entry(name, contracts.values()) for name in libraries]
    datasets += [
        contract_entry(c, runs.get(ds, ()), quality.get(ds, ()))
        for ds, c in sorted(contracts.items())
    ]
    return {
        "@context": CONTEXT,
        "@type": "dcat:Catalog",
        "title": "政务数据资源目录 (data catalogue)",
        "publisher": {"@type": "foaf:Agent", "name": PLATFORM},
        "dataset": datasets,
    }
