"""The population and legal-entity libraries: statements with provenance, golden records, runs.

This room keeps what departments said about people and legal entities, statement by statement,
and the golden record (the winning value per field under the 一数一源 rule of
:mod:`schemas.precedence`) that the licence service and approval systems read. Its public
surface is what this package exports, from four modules: ``store`` (:class:`LibraryStore`, the
facade the pipeline, the licence service and the API use, and ``engine_for``), ``encoding``
(the Arrow encoders the ingest hands it: :func:`prepare_statements`,
:func:`statements_from_arrow`, :func:`text_sort_indices`, :func:`library_text`), ``reads``
(:class:`GoldenReader`, the API's point reads) and ``model`` (the values they return). The
others — ``schema`` (tables and upgrades), ``runs`` (runs and the quarantine index, methods of
the store), ``merge``, ``dialects`` and ``pgcopy`` — are how the store does its work.
"""

from storage.library.encoding import (
    PreparedStatements,
    library_text,
    prepare_statements,
    statements_from_arrow,
    text_sort_indices,
)
from storage.library.model import (
    LEGAL_ENTITY,
    LIBRARIES,
    POPULATION,
    FactView,
    GoldenRecord,
    LibraryError,
    RunMeta,
    Statements,
    golden_fields,
)
from storage.library.reads import GOLDEN_POINT_SQL, GoldenReader, golden_text
from storage.library.schema import (
    RUN_NUMBERS,
    RUN_STATUSES,
    STATEMENTS_WITH_RUNS,
    merges,
    metadata,
    quarantine,
    records,
    runs,
    statements,
    subject_queries,
)
from storage.library.store import LibraryStore, engine_for

__all__ = [
    "GOLDEN_POINT_SQL",
    "LEGAL_ENTITY",
    "LIBRARIES",
    "POPULATION",
    "RUN_NUMBERS",
    "RUN_STATUSES",
    "STATEMENTS_WITH_RUNS",
    "FactView",
    "GoldenReader",
    "GoldenRecord",
    "LibraryError",
    "LibraryStore",
    "PreparedStatements",
    "RunMeta",
    "Statements",
    "engine_for",
    "golden_fields",
    "golden_text",
    "library_text",
    "merges",
    "metadata",
    "prepare_statements",
    "quarantine",
    "records",
    "runs",
    "statements",
    "statements_from_arrow",
    "subject_queries",
    "text_sort_indices",
]
