"""The Great Expectations mirror of the contract rules: suites, checkpoints, archives, Data Docs.

This is the only module that imports ``great_expectations`` and it does so inside functions,
because the import alone takes seconds. The fast path (:mod:`quality.engine`) decides what is
accepted; this mirror re-states every rule as an expectation so auditors get GX results and
Data Docs, and a test shows both flag the same rows. The mirror validates the *typed* table
(a value that did not parse is null there), so a column's not-null expectation stands for its
``REQUIRED`` and ``TYPE`` codes together.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa

from quality.results import ROW, CheckResult
from schemas import resident_id, uscc
from schemas.contracts import Contract
from schemas.divisions import division_table
from schemas.library import code_table


class GxConfig(Protocol):
    """Where the mirror keeps its context, archives and Data Docs, and the library's database
    (the hub's settings have these fields)."""

    @property
    def home(self) -> Path: ...
    @property
    def objects_path(self) -> Path: ...
    @property
    def db_url(self) -> str: ...


# the reason codes one expectation mirrors: every reason the identifier's check can give
RESIDENT_ID_CODES = tuple(r for r in resident_id.REASONS if r is not None)
USCC_CODES = tuple(r for r in uscc.REASONS if r is not None)


@dataclass(frozen=True)
class Mirrored:
    """One expectation and the fast-path reason codes it stands for."""

    expectation: Any
    codes: frozenset[str]


@dataclass(frozen=True)
class _Custom:
    """The project's custom expectation classes (defined once per process by :func:`_custom`)."""

    resident_id: type[Any]
    uscc: type[Any]
    division_at: type[Any]


@cache
def _custom() -> _Custom:
    """Define (once) the custom expectations: resident ID and USCC column maps (pandas and SQL)
    and the column-pair "division code in force at that date" (pandas)."""
    import pandas as pd
    from great_expectations.execution_engine import (
        PandasExecutionEngine,
        SqlAlchemyExecutionEngine,
    )
    from great_expectations.expectations.expectation import (
        ColumnMapExpectation,
        ColumnPairMapExpectation,
    )
    from great_expectations.expectations.metrics import (
        ColumnMapMetricProvider,
        column_condition_partial,
    )
    from great_expectations.expectations.metrics.map_metric_provider import (
        ColumnPairMapMetricProvider,
        column_pair_condition_partial,
    )

    def _valid(validate: Any, column: pd.Series) -> pd.Series:
        values = pa.array(column.astype(object).where(column.notna(), None), type=pa.string())
        reasons = validate(values)
        return pd.Series(reasons.is_null().to_numpy(zero_copy_only=False), index=column.index)

    class ColumnValuesValidResidentId(ColumnMapMetricProvider):  # type: ignore[misc]
        condition_metric_name = "column_values.valid_resident_id"

        @column_condition_partial(engine=PandasExecutionEngine)  # type: ignore[misc]
        def _pandas(cls, column: pd.Series, **_: Any) -> pd.Series:
            return _valid(resident_id.validate_array, column)

        @column_condition_partial(engine=SqlAlchemyExecutionEngine)  # type: ignore[misc]
        def _sqlalchemy(cls, column: Any, **_: Any) -> Any:
            return _sql_resident_id_valid(column)

    class ColumnValuesValidUscc(ColumnMapMetricProvider):  # type: ignore[misc]
        condition_metric_name = "column_values.valid_uscc"

        @column_condition_partial(engine=PandasExecutionEngine)  # type: ignore[misc]
        def _pandas(cls, column: pd.Series, **_: Any) -> pd.Series:
            return _valid(uscc.validate_array, column)

        @column_condition_partial(engine=SqlAlchemyExecutionEngine)  # type: ignore[misc]
        def _sqlalchemy(cls, column: Any, **_: Any) -> Any:
            return _sql_uscc_valid(column)

    class ColumnPairValuesDivisionInForce(ColumnPairMapMetricProvider):  # type: ignore[misc]
        condition_metric_name = "column_pair_values.division_in_force"
        condition_domain_keys = (
            "batch_id",
            "table",
            "column_A",
            "column_B",
            "row_condition",
            "condition_parser",
            "ignore_row_if",
        )
        condition_value_keys = ()

        @column_pair_condition_partial(engine=PandasExecutionEngine)  # type: ignore[misc]
        def _pandas(cls, codes: pd.Series, dates: pd.Series, **_: Any) -> pd.Series:
            # judged once per distinct (code, year) with the table's own scalar lookup, so this
            # mirror also cross-checks the fast path's vectorised period matrix
            table = division_table()
            pairs = pd.DataFrame(
                {
                    "code": codes.astype(str).to_numpy(),
                    "year": pd.to_datetime(dates).dt.year.astype("int64").to_numpy(),
                }
            )
            distinct = pairs.drop_duplicates()
            verdict = pd.Series(
                [table.valid_in(c, int(y)) for c, y in distinct.itertuples(index=False)],
                index=pd.MultiIndex.from_frame(distinct),
                dtype=bool,
            )
            ok = verdict.reindex(pd.MultiIndex.from_frame(pairs)).to_numpy(dtype=bool)
            return pd.Series(ok, index=codes.index)

    class ExpectColumnValuesToBeValidResidentId(ColumnMapExpectation):  # type: ignore[misc]
        """Values are GB 11643 resident identity numbers (format, birth date, check character)."""

        map_metric = "column_values.valid_resident_id"

    class ExpectColumnValuesToBeValidUscc(ColumnMapExpectation):  # type: ignore[misc]
        """Values are GB 32100 unified social credit codes (charset, org code, check character)."""

        map_metric = "column_values.valid_uscc"

    class ExpectColumnPairValuesToBeDivisionInForce(ColumnPairMapExpectation):  # type: ignore[misc]
        """Column A is a GB/T 2260 division code in force in the year of column B's date."""

        map_metric = "column_pair_values.division_in_force"
        ignore_row_if: str = "either_value_is_missing"
        success_keys = ("column_A", "column_B", "ignore_row_if", "mostly")

    del ColumnValuesValidResidentId, ColumnValuesValidUscc  # registered by their metaclass
    del ColumnPairValuesDivisionInForce
    return _Custom(
        ExpectColumnValuesToBeValidResidentId,
        ExpectColumnValuesToBeValidUscc,
        ExpectColumnPairValuesToBeDivisionInForce,
    )


def _sql_resident_id_valid(column: Any) -> Any:
    """SQL form of the resident-ID check: 18 characters, 17 digits, ISO 7064 MOD 11-2 check.

    Written as plain SQL (substr/CASE/arithmetic) so it runs on SQLite and PostgreSQL; digits
    are mapped by CASE rather than CAST because PostgreSQL refuses ``CAST('X' AS INTEGER)`` and
    SQLite silently reads it as 0. Birth date and division are checked by the pandas form only.
    """
    import sqlalchemy as sa

    from schemas.resident_id import CHECK_CHARS, WEIGHTS

    def digit(i: int) -> Any:
        return sa.case({str(d): d for d in range(10)}, value=sa.func.substr(column, i, 1), else_=-1)

    total: Any = sa.literal(0)
    for i, w in enumerate(WEIGHTS, start=1):
        total = total + digit(i) * w
    check = sa.case(
        *[(total % 11 == r, c) for r, c in enumerate(CHECK_CHARS)], else_=sa.literal("?")
    )
    return sa.and_(
        sa.func.length(column) == 18,
        *[digit(i) >= 0 for i in range(1, 18)],
        sa.func.upper(sa.func.substr(column, 18, 1)) == check,
    )


def _sql_uscc_valid(column: Any) -> Any:
    """SQL form of the GB 32100 check, the same verdict as ``uscc.validate_array``.

    18 characters of the code set (case-insensitive, as the fast path normalises), a known
    registration authority and entity type, a GB/T 2260 division (or 100000 for central
    registrations), the GB 11714 organisation-code check at position 17 and the MOD 31 check
    character at 18. Only CASE/substr/length/IN and integer arithmetic, so it runs on SQLite and
    PostgreSQL alike; a character outside the set maps to -1, never to NULL, because a NULL
    condition would let GX count the row as neither expected nor unexpected.
    """
    import sqlalchemy as sa

    code = sa.func.upper(column)

    def char(i: int) -> Any:
        return sa.func.substr(code, i, 1)

    def value(i: int) -> Any:
        return sa.case({c: v for v, c in enumerate(uscc.CHARSET)}, value=char(i), else_=-1)

    def org_value(i: int) -> Any:
        return sa.case({c: int(c, 36) for c in uscc.CHARSET}, value=char(i), else_=-1)

    total: Any = sa.literal(0)
    for i, w in enumerate(uscc.WEIGHTS, start=1):
        total = total + value(i) * w
    check = sa.case(
        {r: uscc.CHARSET[(31 - r) % 31] for r in range(31)}, value=total % 31, else_="?"
    )
    org_total: Any = sa.literal(0)
    for i, w in zip(range(9, 17), uscc.ORG_WEIGHTS, strict=True):
        org_total = org_total + org_value(i) * w
    org_check = sa.case(
        {r: "0123456789X0"[11 - r] for r in range(11)}, value=org_total % 11, else_="?"
    )
    kinds = [a + t for a, (_, types) in uscc.AUTHORITIES.items() for t in types]
    return sa.and_(
        sa.func.length(code) == 18,
        *[value(i) >= 0 for i in range(1, 19)],
        sa.func.substr(code, 1, 2).in_(kinds),
        sa.func.substr(code, 3, 6).in_([uscc.CENTRAL, *_known_divisions()]),
        char(17) == org_check,
        char(18) == check,
    )


def mirror(contract: Contract, *, as_of: dt.date) -> list[Mirrored]:
    """Every rule of ``contract`` as a GX expectation, with the fast-path codes it mirrors."""
    import great_expectations.expectations as gxe

    custom = _custom()
    out: list[Mirrored] = []
    for col in contract.columns:
        name = col.name

        def add(exp: Any, *codes: str, _name: str = name) -> None:
            out.append(Mirrored(exp, frozenset(f"{_name}:{c}" for c in codes)))

        if col.required:
            add(gxe.ExpectColumnValuesToNotBeNull(column=name), "REQUIRED", "TYPE")
        for rule in col.rules:
            p = rule.params
            if rule.kind == "code_table":
                add(
                    gxe.ExpectColumnValuesToBeInSet(
                        column=name, value_set=list(code_table(p["table"]))
                    ),
                    "CODE_TABLE",
                )
            elif rule.kind == "regex":
                add(gxe.ExpectColumnValuesToMatchRegex(column=name, regex=p["pattern"]), "REGEX")
            elif rule.kind == "max_length":
                add(
                    gxe.ExpectColumnValueLengthsToBeBetween(column=name, max_value=p["value"]),
                    "MAX_LENGTH",
                )
            elif rule.kind in ("range", "date"):
                bound = _date_bound if rule.kind == "date" else _number
                add(
                    gxe.ExpectColumnValuesToBeBetween(
                        column=name,
                        min_value=bound(p.get("min"), as_of),
                        max_value=bound(p.get("max"), as_of),
                    ),
                    rule.kind.upper(),
                )
            elif rule.kind == "resident_id":
                add(custom.resident_id(column=name), *RESIDENT_ID_CODES)
            elif rule.kind == "uscc":
                add(custom.uscc(column=name), *USCC_CODES)
            elif rule.kind == "division":
                add(
                    gxe.ExpectColumnValuesToBeInSet(column=name, value_set=_known_divisions()),
                    "DIVISION",
                )
            elif rule.kind == "division_at":
                add(custom.division_at(column_A=name, column_B=p["at_column"]), "DIVISION_AT")
            elif rule.kind == "id_consistency":
                add(
                    gxe.ExpectColumnPairValuesToBeEqual(
                        column_A=name,
                        column_B=_derived(p["part"], p.get("id_column") or contract.subject_column),
                        ignore_row_if="either_value_is_missing",
                    ),
                    "ID_MISMATCH",
                )
            elif rule.kind == "unique":
                add(gxe.ExpectColumnValuesToBeUnique(column=name), "DUPLICATE")
    key = list(contract.key)
    key_exp = (
        gxe.ExpectColumnValuesToBeUnique(column=key[0])
        if len(key) == 1
        else gxe.ExpectCompoundColumnsToBeUnique(
            column_list=key, ignore_row_if="any_value_is_missing"
        )
    )
    out.append(Mirrored(key_exp, frozenset({f"{'+'.join(key)}:DUPLICATE_KEY"})))
    out.append(
        Mirrored(
            gxe.ExpectCompoundColumnsToBeUnique(
                column_list=list(contract.column_names), ignore_row_if="never"
            ),
            frozenset({f"{ROW}:DUPLICATE_ROW"}),
        )
    )
    return out


def _number(value: Any, _as_of: dt.date) -> Any:
    return value


def _date_bound(value: Any, as_of: dt.date) -> dt.datetime | None:
    if value is None:
        return None
    day = as_of if value == "today" else value
    day = day if isinstance(day, dt.date) else dt.date.fromisoformat(str(day))
    return dt.datetime(day.year, day.month, day.day)


@cache
def _known_divisions() -> list[str]:
    return division_table().codes()


def _derived(part: str, id_column: str) -> str:
    return f"_id_{part}__{id_column}"


def frame(contract: Contract, typed: pa.Table, *, as_of: dt.date) -> Any:
    """The pandas frame GX validates: typed values, ``_row`` and ID-derived columns.

    Dates become pandas timestamps (GX compares those with datetime bounds); the birth date and
    sex encoded in the ID are added as columns for the pair expectations.
    """

    columns: dict[str, Any] = {}
    for name in typed.column_names:
        col = typed.column(name)
        if pa.types.is_date(col.type) or pa.types.is_timestamp(col.type):
            col = col.cast(pa.date32()).cast(pa.timestamp("s"))
        elif pa.types.is_decimal(col.type):
            col = col.cast(pa.float64())
        columns[name] = col
    for col in contract.columns:
        for rule in col.rules:
            if rule.kind == "id_consistency":
                id_col = rule.params.get("id_column") or contract.subject_column
                ids = typed.column(id_col)
                if rule.params["part"] == "birth_date":
                    born = resident_id.birth_date_array(ids, today=as_of)
                    derived = born.cast(pa.timestamp("s"))
                else:
                    derived = resident_id.sex_array(ids, today=as_of)
                columns[_derived(rule.params["part"], id_col)] = derived
    columns[ROW] = pa.array(range(typed.num_rows), type=pa.int64())
    return pa.table(columns).to_pandas()


@dataclass
class GxRun:
    """A validation's verdict: success, failing rows per mirrored rule, and the raw result."""

    success: bool
    failing: dict[frozenset[str], set[int]]
    raw: dict[str, Any]


def _context(project: Path | None) -> Any:
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    if project is None:
        context = gx.get_context(mode="ephemeral")
    else:
        project.mkdir(parents=True, exist_ok=True)
        context = gx.get_context(mode="file", project_root_dir=str(project))
    # progress bars would flood task logs and the benchmark's output
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context


def validate(
    contract: Contract,
    typed: pa.Table,
    *,
    as_of: dt.date,
    result_format: str = "COMPLETE",
    context: Any = None,
) -> GxRun:
    """Run the mirror suite over ``typed`` (pandas); COMPLETE lists failing ``_row`` numbers."""
    import great_expectations as gx

    context = context or _context(None)
    mirrored = mirror(contract, as_of=as_of)
    df = frame(contract, typed, as_of=as_of)
    name = f"{contract.dataset_id}_{dt.datetime.now().strftime('%H%M%S%f')}"
    source = context.data_sources.add_or_update_pandas(name=f"ds_{contract.dataset_id}")
    asset = source.add_dataframe_asset(name=name)
    batch_def = asset.add_batch_definition_whole_dataframe(name)
    suite = context.suites.add_or_update(
        gx.ExpectationSuite(name=f"contract_{contract.dataset_id}")
    )
    ids = {}
    for m in mirrored:
        ids[suite.add_expectation(m.expectation).id] = m.codes
    definition = context.validation_definitions.add_or_update(
        gx.ValidationDefinition(name=name, data=batch_def, suite=suite)
    )
    fmt: dict[str, Any] = {"result_format": result_format}
    if result_format == "COMPLETE":
        fmt["unexpected_index_column_names"] = [ROW]
    result = definition.run(batch_parameters={"dataframe": df}, result_format=fmt)
    failing: dict[frozenset[str], set[int]] = {}
    for r in result.results:
        rows = {int(i[ROW]) for i in (r.result.get("unexpected_index_list") or [])}
        failing[ids[r.expectation_config.id]] = rows
    return GxRun(bool(result.success), failing, result.to_json_dict())


def disagreements(check: CheckResult, run: GxRun) -> dict[str, tuple[set[int], set[int]]]:
    """Mirrored rules whose failing rows differ: codes -> (fast path rows, GX rows)."""
    fast = check.failing_rows()
    out: dict[str, tuple[set[int], set[int]]] = {}
    for codes, gx_rows in run.failing.items():
        ours: set[int] = set()
        for c in codes:
            ours |= fast.get(c, set())
        if ours != gx_rows:
            out["|".join(sorted(codes))] = (ours, gx_rows)
    return out


def checkpoint_accepted(
    settings: GxConfig, contract: Contract, accepted: pa.Table, *, run_id: str, as_of: dt.date
) -> Path:
    """Validate an accepted batch (SUMMARY), archive the result JSON and rebuild Data Docs.

    Returns the archive path ``<objects>/quality/<dataset>/<run_id>.json``.
    """
    import great_expectations as gx

    context = _context(docs_root(settings))
    mirrored = mirror(contract, as_of=as_of)
    df = frame(contract, accepted, as_of=as_of)
    source = context.data_sources.add_or_update_pandas(name=f"accepted_{contract.dataset_id}")
    asset = next(
        (a for a in source.assets if a.name == "batch"), None
    ) or source.add_dataframe_asset(name="batch")
    batch_def = next(
        (b for b in asset.batch_definitions if b.name == "whole"), None
    ) or asset.add_batch_definition_whole_dataframe("whole")
    suite = gx.ExpectationSuite(name=f"contract_{contract.dataset_id}")
    for m in mirrored:
        suite.add_expectation(m.expectation)
    suite = context.suites.add_or_update(suite)
    definition = context.validation_definitions.add_or_update(
        gx.ValidationDefinition(name=f"accepted_{contract.dataset_id}", data=batch_def, suite=suite)
    )
    checkpoint = context.checkpoints.add_or_update(
        gx.Checkpoint(
            name=f"accepted_{contract.dataset_id}",
            validation_definitions=[definition],
            actions=[gx.checkpoint.UpdateDataDocsAction(name="docs")],
            result_format={"result_format": "SUMMARY"},
        )
    )
    result = checkpoint.run(
        batch_parameters={"dataframe": df}, run_id=gx.RunIdentifier(run_name=run_id)
    )
    return _archive(settings, contract.dataset_id, run_id, result.describe_dict())


LIBRARY_SUBJECTS = (
    ("population", "person_keys", "library_population"),
    ("legal-entity", "entity_keys", "library_legal_entity"),
)


def checkpoint_library(settings: GxConfig, subjects: Mapping[str, str]) -> Path:
    """Validate the library keys through a SQL datasource (the hub database) and archive it.

    The checks run inside the database (SQL forms of the resident-ID and USCC expectations): the
    population library's keys must be resident IDs, the legal-entity library's keys USCCs.
    ``subjects`` is, per library, the SQL listing its subjects (``storage.library.
    subject_queries()``: the store owns its layout).
    """
    import great_expectations as gx
    import great_expectations.expectations as gxe

    custom = _custom()
    context = _context(docs_root(settings))
    add = (
        context.data_sources.add_or_update_sqlite
        if settings.db_url.startswith("sqlite")
        else context.data_sources.add_or_update_sql
    )
    source = add(name="library", connection_string=settings.db_url)
    definitions = []
    for library, asset_name, suite_name in LIBRARY_SUBJECTS:
        query = subjects[library]
        asset = next((a for a in source.assets if a.name == asset_name), None)
        if asset is not None and asset.query != query:  # stored by a hub of an older layout
            source.delete_asset(name=asset_name)
            asset = None
        asset = asset or source.add_query_asset(name=asset_name, query=query)
        batch_def = next(
            (b for b in asset.batch_definitions if b.name == "all"), None
        ) or asset.add_batch_definition_whole_table("all")
        key_exp = custom.resident_id if library == "population" else custom.uscc
        suite = gx.ExpectationSuite(name=suite_name)
        suite.add_expectation(gxe.ExpectColumnValuesToNotBeNull(column="subject"))
        suite.add_expectation(key_exp(column="subject"))
        suite = context.suites.add_or_update(suite)
        definitions.append(
            context.validation_definitions.add_or_update(
                gx.ValidationDefinition(name=suite_name, data=batch_def, suite=suite)
            )
        )
    checkpoint = context.checkpoints.add_or_update(
        gx.Checkpoint(
            name="library",
            validation_definitions=definitions,
            actions=[gx.checkpoint.UpdateDataDocsAction(name="docs")],
            result_format={"result_format": "SUMMARY"},
        )
    )
    run_id = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    result = checkpoint.run(run_id=gx.RunIdentifier(run_name=run_id))
    return _archive(settings, "library", run_id, result.describe_dict())


def docs_root(settings: GxConfig) -> Path:
    """The GX project folder under HUB_HOME (its Data Docs live in ``uncommitted/data_docs``)."""
    return settings.home / "gx"


def build_docs(settings: GxConfig) -> Iterable[str]:
    """Rebuild Data Docs from the stored results; returns the index page locations."""
    context = _context(docs_root(settings))
    sites = context.build_data_docs()
    return list(sites.values())


def _archive(settings: GxConfig, dataset: str, run_id: str, payload: dict[str, Any]) -> Path:
    path = settings.objects_path / "quality" / dataset / f"{run_id}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(payload, ensure_ascii=False, indent=1, default=str), encoding="utf-8"
    )
    return path
