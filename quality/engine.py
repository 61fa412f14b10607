"""The fast quality path: a contract's rules run vectorised over an Arrow table.

Every rule yields a boolean "failed" mask over the rows; the masks are stacked into one matrix and
turned into a ``list<string>`` of reason codes per row (``<column>:<CODE>``) without a Python loop
over rows. pyarrow.compute does the string work (regex, set membership, parsing) and numpy the
mask algebra, because both run in C over whole columns (see the report in ``bench/quality.py``).

Strings arriving for typed columns are parsed (:mod:`quality.coercion`; a value that does not
parse is ``TYPE``), so one call both checks a file read as text and gives the typed table the
merge needs.

Text is normalised before any rule (:mod:`quality.text`: invisible characters removed; bidi,
hidden and control characters refused; spreadsheet formulas refused), and the typed table
holds the normalised values (what the library stores). Identifiers (columns with a
``resident_id`` or ``uscc`` rule) are stored in their canonical form: NFKC (full-width to
ASCII), no spaces, upper case, and a 15-digit resident ID upgraded to 18 digits; keys and
``unique`` compare these forms, so one ID written two ways in a file is ``DUPLICATE_KEY`` on
both rows, like a literal duplicate.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import cache, partial
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from quality.arrays import fixed_width, numpy_mask, present_mask
from quality.coercion import coerce
from quality.results import ROW, CheckResult, Failure, Mask, dimension_of
from quality.text import formula_mask, normalise_text
from schemas import resident_id, uscc
from schemas.contracts import Column, Contract
from schemas.divisions import division_table
from schemas.identifiers import reasons_array
from schemas.library import code_table

# the check's column tasks share two threads (the machines this runs on have two cores or more)
_THREADS = 2


def _repeated(values: pa.Array, among: Mask | None = None) -> Mask:
    """Rows whose (non-null) value occurs more than once (among the rows of ``among``)."""
    enc = pc.dictionary_encode(values)
    idx = np.asarray(enc.indices.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64)
    use = idx >= 0 if among is None else (idx >= 0) & among
    counts = np.bincount(idx[use], minlength=len(enc.dictionary))
    out = np.zeros(len(values), dtype=bool)
    out[use] = counts[idx[use]] > 1
    return out


def _row_keys(columns: list[pa.Array], nulls: str | None) -> pa.Array:
    """One text per row joining the given columns (null_handling per ``nulls``)."""
    texts = [pc.cast(c, pa.string()) for c in columns]
    if len(texts) == 1 and nulls is None:
        return texts[0]
    if nulls is None:
        return pc.binary_join_element_wise(*texts, "\x1f", null_handling="emit_null")
    return pc.binary_join_element_wise(
        *texts, "\x1f", null_handling="replace", null_replacement=nulls
    )


def division_ints(values: pa.Array) -> npt.NDArray[np.int64]:
    """Six-digit codes as integers; -1 where the value is null or not exactly six ASCII digits."""
    out = np.full(len(values), -1, dtype=np.int64)
    idx, mat = fixed_width(values.cast(pa.string()), 6)
    if len(idx):
        digits = mat - np.uint8(48)  # wraps: a byte below "0" becomes 208 or more
        ok = (digits <= 9).all(axis=1)
        value = np.zeros(len(idx), dtype=np.int64)
        for c in range(6):  # multiply-adds: numpy has no fast integer matrix product
            value = value * 10 + digits[:, c]
        out[idx[ok]] = value[ok]
    return out


@cache
def _division_periods() -> tuple[
    npt.NDArray[np.int32], npt.NDArray[np.int16], npt.NDArray[np.int16]
]:
    """GB/T 2260 validity years as arrays: code -> row, and each row's (start, end) periods.

    A code carries up to a few names over time (renamed, abolished, re-used after a gap), so
    the periods are a small padded matrix; an open start or end is year 0 or 9999.
    """
    table = division_table()
    codes = table.codes()
    width = max(len(table.names(c)) for c in codes)
    row = np.full(1_000_000, -1, dtype=np.int32)
    starts = np.ones((len(codes), width), dtype=np.int16)  # padding: empty period (1, 0)
    ends = np.zeros((len(codes), width), dtype=np.int16)
    for i, code in enumerate(codes):
        row[int(code)] = i
        for k, name in enumerate(table.names(code)):
            starts[i, k] = 0 if name.start is None else name.start
            ends[i, k] = 9999 if name.end is None else name.end
    return row, starts, ends


def divisions_in_force(codes: npt.NDArray[np.int64], years: npt.NDArray[Any]) -> Mask:
    """Vectorised ``division_table().valid_in(code, year)`` over integer codes (-1 = no code)."""
    row, starts, ends = _division_periods()
    idx = np.where(codes >= 0, row[np.maximum(codes, 0)], -1)
    safe = np.maximum(idx, 0)
    year = np.asarray(years, dtype=np.int64)[:, None]
    covered = ((starts[safe] <= year) & (year <= ends[safe])).any(axis=1)
    result: Mask = covered & (idx >= 0)
    return result


# rules that only accept values from a closed set none of which starts with a formula trigger
# or a quote: a payload in such a column fails them, so it needs no formula check of its own
_CLOSED_SET_RULES = {"code_table", "resident_id", "uscc"}

_COERCE_WEIGHT = {"date": 3, "datetime": 3, "int": 2, "decimal": 2, "bool": 1, "string": 0}


def _coerce_weight(col: Column) -> int:
    """How early a column's conversion should start (identifiers are validated with it)."""
    if {rule.kind for rule in col.rules} & {"resident_id", "uscc"}:
        return 4
    return _COERCE_WEIGHT[col.type]


def _rules_weight(col: Column) -> int:
    """How early a column's rules should start: identifier passes and hashing are long,
    consistency rules wait for the ID column's pass (a scheduling hint only)."""
    kinds = {rule.kind for rule in col.rules}
    if kinds & {"resident_id", "uscc", "unique"}:
        return 3
    if kinds & {"id_consistency"}:
        return 0
    if kinds & {"division", "division_at", "regex"}:
        return 2
    return 1


class _Checker:
    def __init__(self, table: pa.Table, contract: Contract, as_of: dt.date) -> None:
        self.table = table
        self.contract = contract
        self.as_of = as_of
        self.n = table.num_rows
        self.failures: list[Failure] = []
        self._local = threading.local()  # each task's failures, see _collect
        # the caches below are shared by the rule tasks: each filled once, under its own lock
        self._scan_lock = threading.Lock()
        self._parts_lock = threading.Lock()
        self._division_lock = threading.Lock()
        self.typed: dict[str, pa.Array] = {}
        self.ids: dict[str, tuple[pa.Array, pa.Array]] = {}
        self.id_scans: dict[
            str,
            tuple[npt.NDArray[np.int8], npt.NDArray[np.int32], npt.NDArray[np.int32], pa.Array],
        ] = {}
        self.uscc_codes: dict[str, npt.NDArray[np.int8]] = {}
        self.divisions: dict[str, npt.NDArray[np.int64]] = {}

    def add(self, column: str, code: str, rule: str, failed: Mask) -> None:
        self._local.failures.append(Failure(f"{column}:{code}", rule, failed))

    def _collect(self, work: Callable[[], None]) -> list[Failure]:
        """The failures ``work`` adds, kept apart so parallel tasks keep the serial order."""
        self._local.failures = []
        work()
        found: list[Failure] = self._local.failures
        return found

    def run(self) -> None:
        """Coerce every column, then run the rules and the key checks.

        Columns are independent, and Arrow and numpy release the GIL over whole columns, so
        the tasks run on two threads; their failures are put back in the serial order
        (coercion by column, rules by column, keys), so the reasons are the same either way.
        """
        columns = self.contract.columns
        tasks: list[Callable[[], None]] = [partial(self._rules, c) for c in columns]
        tasks.append(self.keys)
        # long tasks first and rules waiting on another column's ID pass last, so neither
        # thread idles at the end; results are then put back in serial order
        weights = [_rules_weight(c) for c in columns] + [3]
        order = sorted(range(len(tasks)), key=lambda i: -weights[i])
        with ThreadPoolExecutor(max_workers=_THREADS) as pool:
            # parsing dates and numbers first, plain text last (scheduling only, as below)
            first = sorted(range(len(columns)), key=lambda i: -_coerce_weight(columns[i]))
            parsed = pool.map(self._collect, [partial(self._coerce, columns[i]) for i in first])
            by_column = dict(zip(first, parsed, strict=True))
            coerced = [by_column[i] for i in range(len(columns))]
            done = dict(zip(order, pool.map(self._collect, [tasks[i] for i in order]), strict=True))
        ruled = [done[i] for i in range(len(tasks))]
        self.failures = [f for part in (*coerced, *ruled) for f in part]

    def _coerce(self, col: Column) -> None:
        if col.name not in self.table.column_names:
            arr = pa.nulls(self.n, self.contract.arrow_schema().field(col.name).type)
            if col.required:
                self.add(col.name, "MISSING_COLUMN", "required", np.ones(self.n, dtype=bool))
            self.typed[col.name] = arr
            return
        raw = self.table.column(col.name).combine_chunks()
        refused: list[tuple[str, Mask]] = []
        if pa.types.is_string(raw.type) or pa.types.is_large_string(raw.type):
            raw, refused = normalise_text(raw.cast(pa.string()))
        typed, bad = coerce(raw, col)
        if pa.types.is_string(typed.type):
            typed = self._canonical(col, typed)
        self.typed[col.name] = typed
        if col.required:
            self.add(col.name, "REQUIRED", "required", ~present_mask(typed) & ~bad)
        self.add(col.name, "TYPE", "type", bad)
        for code, mask in refused:
            self.add(col.name, code, "text", mask)
        if col.type == "string" and not {r.kind for r in col.rules} & _CLOSED_SET_RULES:
            self.add(col.name, "FORMULA", "formula", formula_mask(typed))

    def _canonical(self, col: Column, text: pa.Array) -> pa.Array:
        """An identifier column in the form keys are compared and values stored in (the
        validation pass that gives it is kept for the column's rule)."""
        kinds = {rule.kind for rule in col.rules}
        if "resident_id" in kinds:
            return self._id_scan(col.name, text)[3]
        if "uscc" in kinds:
            codes, keys = uscc.scan_array(text)
            self.uscc_codes[col.name] = codes
            return keys
        return text

    def _rules(self, col: Column) -> None:
        for rule in col.rules:
            getattr(self, f"rule_{rule.kind}")(col, self.typed[col.name], rule.params)

    # -- rules: each reads the typed column; a null value never fails a rule other than REQUIRED
    def rule_code_table(self, col: Column, values: pa.Array, p: dict[str, Any]) -> None:
        codes = pa.array(list(code_table(p["table"])))
        failed = present_mask(values) & ~numpy_mask(
            pc.is_in(values.cast(pa.string()), value_set=codes)
        )
        self.add(col.name, "CODE_TABLE", "code_table", failed)

    def rule_regex(self, col: Column, values: pa.Array, p: dict[str, Any]) -> None:
        ok = pc.match_substring_regex(values.cast(pa.string()), p["pattern"])
        self.add(col.name, "REGEX", "regex", present_mask(values) & ~numpy_mask(ok))

    def rule_max_length(self, col: Column, values: pa.Array, p: dict[str, Any]) -> None:
        longer = pc.greater(pc.utf8_length(values.cast(pa.string())), p["value"])
        self.add(col.name, "MAX_LENGTH", "max_length", numpy_mask(longer))

    def rule_range(self, col: Column, values: pa.Array, p: dict[str, Any]) -> None:
        num = values.cast(pa.float64()) if pa.types.is_decimal(values.type) else values
        failed = np.zeros(self.n, dtype=bool)
        if p.get("min") is not None:
            failed |= numpy_mask(pc.less(num, p["min"]))
        if p.get("max") is not None:
            failed |= numpy_mask(pc.greater(num, p["max"]))
        self.add(col.name, "RANGE", "range", failed)

    def _date_bound(self, value: Any) -> dt.date:
        if value == "today":
            return self.as_of
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        return dt.date.fromisoformat(str(value))

    def rule_date(self, col: Column, values: pa.Array, p: dict[str, Any]) -> None:
        days = values.cast(pa.date32()) if pa.types.is_timestamp(values.type) else values
        failed = np.zeros(self.n, dtype=bool)
        if p.get("min") is not None:
            failed |= numpy_mask(pc.less(days, pa.scalar(self._date_bound(p["min"]), pa.date32())))
        if p.get("max") is not None:
            failed |= numpy_mask(
                pc.greater(days, pa.scalar(self._date_bound(p["max"]), pa.date32()))
            )
        self.add(col.name, "DATE", "date", failed)

    def _identifier(self, col: Column, reasons: pa.Array, rule: str, drop: tuple[str, ...]) -> None:
        for code in pc.unique(reasons).drop_null().to_pylist():
            if code not in drop:
                self.add(col.name, code, rule, numpy_mask(pc.equal(reasons, code)))

    def rule_resident_id(self, col: Column, values: pa.Array, p: dict[str, Any]) -> None:
        codes = self._id_scan(col.name, values)[0]
        drop = ("LEGACY_REVIEW",) if p.get("allow_legacy") else ()
        # the codes in order of first appearance, as pc.unique gives them (see _identifier)
        found, first = np.unique(codes, return_index=True)
        for k in found[np.argsort(first)]:
            code = resident_id.REASONS[k]
            if k != 0 and code is not None and code not in drop:
                self.add(col.name, code, "resident_id", codes == k)

    def _id_scan(
        self, name: str, values: pa.Array
    ) -> tuple[npt.NDArray[np.int8], npt.NDArray[np.int32], npt.NDArray[np.int32], pa.Array]:
        """One validation pass over an ID column: reason code per row (0 = valid or null), the
        birth date (days since 1970) and sex digit parity of the normalised number, and the
        canonical numbers (:func:`schemas.resident_id.canonical`)."""
        with self._scan_lock:
            if name not in self.id_scans:
                self.id_scans[name] = resident_id.scan_array(values, self.as_of)
            return self.id_scans[name]

    def _id_parts(self, name: str) -> tuple[pa.Array, pa.Array]:
        """Birth date and sex encoded in the valid IDs of column ``name`` (null elsewhere).

        From the one validation pass, which reads them off the normalised number, so a valid
        ID written with full-width digits or in its 15-digit form has them too (slicing the
        text made those crash the check).
        """
        ids = self.typed[name]
        codes, born_days, odd, _ = self._id_scan(name, ids)
        with self._parts_lock:
            if name not in self.ids:
                invalid = (codes != 0) | ~present_mask(ids)
                born = pa.array(born_days, type=pa.date32(), mask=invalid)
                sex = pc.if_else(pa.array(odd == 1, mask=invalid), "1", "2")
                self.ids[name] = (born, sex)
            return self.ids[name]

    def rule_uscc(self, col: Column, values: pa.Array, p: dict[str, Any]) -> None:
        codes = self.uscc_codes.get(col.name)
        if codes is None:  # a column whose values are not text
            codes, _ = uscc.scan_array(values.cast(pa.string()))
        self._identifier(col, reasons_array(codes, uscc.REASONS), "uscc", ())

    def _division_codes(self, name: str, values: pa.Array) -> npt.NDArray[np.int64]:
        with self._division_lock:
            if name not in self.divisions:  # both division rules read the same column
                self.divisions[name] = division_ints(values)
            return self.divisions[name]

    def rule_division(self, col: Column, values: pa.Array, p: dict[str, Any]) -> None:
        """The code was a GB/T 2260 division code at some time (abolished codes included)."""
        codes = self._division_codes(col.name, values)
        known = division_table().known_mask(np.maximum(codes, 0)) & (codes >= 0)
        failed = present_mask(values) & ~known
        self.add(col.name, "DIVISION", "division", failed)

    def rule_division_at(self, col: Column, values: pa.Array, p: dict[str, Any]) -> None:
        """The code was in force in the year of the row's ``at_column`` date.

        A row without a date is not judged here (whether the code exists at all is the
        ``division`` rule's ``DIVISION``); a code never in force fails too.
        """
        dates = self.typed[p["at_column"]]
        judged = present_mask(values) & present_mask(dates)
        years = np.asarray(pc.fill_null(pc.year(dates), 0).to_numpy(zero_copy_only=False))
        failed = judged & ~divisions_in_force(self._division_codes(col.name, values), years)
        self.add(col.name, "DIVISION_AT", "division_at", failed)

    def rule_id_consistency(self, col: Column, values: pa.Array, p: dict[str, Any]) -> None:
        id_col = p.get("id_column") or self.contract.subject_column
        born, sex = self._id_parts(id_col)
        if p["part"] == "birth_date":
            days = values.cast(pa.date32()) if pa.types.is_timestamp(values.type) else values
            differs = pc.not_equal(days, born)
        else:
            differs = pc.not_equal(values.cast(pa.string()), sex)
        self.add(col.name, "ID_MISMATCH", "id_consistency", numpy_mask(differs))

    def rule_unique(self, col: Column, values: pa.Array, p: dict[str, Any]) -> None:
        self.add(col.name, "DUPLICATE", "unique", _repeated(values))

    def rule_recorded_at(self, col: Column, values: pa.Array, p: dict[str, Any]) -> None:
        """Timeliness is a file-level metric (see :func:`_timeliness`), not a row reason."""

    def keys(self) -> None:
        """Rows whose key is shared with another row, and rows that are exact copies.

        Every row of a shared key is held back, as the file alone cannot say which is right;
        exact copies carry ``DUPLICATE_ROW`` as well so the steward sees they are harmless.
        """
        if self.n == 0:
            return
        key = _row_keys([self.typed[k] for k in self.contract.key], None)
        shared = _repeated(key)
        self.add("+".join(self.contract.key), "DUPLICATE_KEY", "key", shared)
        # an exact copy necessarily shares its key, so only those rows need the full comparison
        copies = np.zeros(self.n, dtype=bool)
        rows = np.flatnonzero(shared)
        if len(rows):
            take = pa.array(rows)
            full = [self.typed[c.name].take(take) for c in self.contract.columns]
            copies[rows] = _repeated(_row_keys(full, "\x00"))
        self.add(ROW, "DUPLICATE_ROW", "duplicate_row", copies)


def _timeliness(
    checker: _Checker, contract: Contract, received_at: dt.datetime | None
) -> float | None:
    """1.0 if the freshest record is at most one cadence older than delivery, else the share.

    A file whose newest change is 2 cadences old scores 0.5: the department is late by that much.
    """
    if received_at is None:
        return None
    cols = [c.name for c in contract.columns if c.rule("recorded_at")]
    if not cols:
        return None
    newest = pc.max(checker.typed[cols[0]].cast(pa.date32())).as_py()
    if newest is None:
        return 0.0
    lag = (received_at.date() - newest).days
    return 1.0 if lag <= contract.cadence_days else contract.cadence_days / lag


def check_table(
    table: pa.Table,
    contract: Contract,
    *,
    as_of: dt.date | None = None,
    received_at: dt.datetime | None = None,
) -> CheckResult:
    """Run every rule of ``contract`` over ``table``: reason codes per row and dimension ratios.

    ``as_of`` is "today" for date rules (default: the current date); ``received_at`` enables
    the timeliness ratio. Accuracy needs the library and is computed after merge
    (counted by the library merge, recorded by the merge step), so it is absent here.
    """
    as_of = as_of or dt.date.today()
    checker = _Checker(table, contract, as_of)
    checker.run()
    n = checker.n
    failures = [f for f in checker.failures if f.failed.any()]
    if failures:
        matrix = np.stack([f.failed for f in failures])
        counts = matrix.sum(axis=0)
        # codes row by row, in failure order: only the flagged rows' columns of the matrix
        _, which = np.nonzero(matrix[:, np.flatnonzero(counts)].T)
        codes = np.array([f.reason for f in failures], dtype=object)[which]
    else:
        counts = np.zeros(n, dtype=np.int64)
        codes = np.array([], dtype=object)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    reasons = pa.ListArray.from_arrays(pa.array(offsets), pa.array(codes, type=pa.string()))
    accepted = pa.array(counts == 0)

    metrics: dict[str, float] = {}
    for dim in ("completeness", "conformity", "consistency", "uniqueness"):
        bad = np.zeros(n, dtype=bool)
        for f in failures:
            if dimension_of(f.reason) == dim:
                bad |= f.failed
        metrics[dim] = 1.0 - float(bad.sum()) / n if n else 1.0
    timely = _timeliness(checker, contract, received_at)
    if timely is not None:
        metrics["timeliness"] = timely

    schema = contract.arrow_schema()
    typed = pa.table([checker.typed[name] for name in schema.names], schema=schema)
    return CheckResult(table, typed, reasons, accepted, metrics, checker.failures)


def passes(table: pa.Table, column: Column, as_of: dt.date | None = None) -> Mask:
    """Rows of ``table`` whose value of ``column`` is present, parses as the column's type and
    passes every one of the column's rules, judged exactly as :func:`check_table` judges a file.

    The check's rules used as predicates: an eligibility policy (:mod:`sharing.eligibility`)
    selects the people a benefit is for with them, vectorised, instead of a second rule
    engine. A column missing from ``table`` passes nowhere.
    """
    n = table.num_rows
    if column.name not in table.column_names:
        return np.zeros(n, dtype=bool)
    contract = Contract(
        dataset_id="predicate",
        title="",
        department="",
        library="population",
        format="csv",
        encoding="auto",
        delimiter=",",
        columns=(column,),
        key=(column.name,),
        subject_column=column.name,
        authoritative_for=(),
        cadence_days=1,
        thresholds={},
        on_breach="warn",
    )
    checker = _Checker(table, contract, as_of or dt.date.today())
    failures = checker._collect(partial(checker._coerce, column))
    failures += checker._collect(partial(checker._rules, column))
    ok: Mask = present_mask(checker.typed[column.name])
    for failure in failures:
        ok &= ~failure.failed
    return ok
