"""Dataset contracts: what each department delivers, read from YAML and validated on load.

A contract names the dataset, its owning department, the subject library it feeds, the file
format, the columns (type, required flag, library field, quality rules), the key, the fields it
is the authoritative source for (一数一源), the update cadence and the quality thresholds, and
optionally the department system the hub pulls the data from (``source``, a :class:`PullSource`:
a SQL table or query, a bucket prefix or folder, or an HTTP endpoint). A broken
contract raises :class:`ContractError` naming the file, the line and the field at fault; line
numbers come from PyYAML's node marks (the YAML is composed to a node tree, not just loaded).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

import pyarrow as pa
import yaml

from schemas.library import code_table_names, library_schema
from schemas.pull_source import PullSource, read_pull_source
from schemas.yaml_reader import ContractError as ContractError
from schemas.yaml_reader import YamlReader

CONTRACTS_DIR = Path(__file__).resolve().parent / "contracts"

ColumnType = Literal["string", "int", "decimal", "date", "datetime", "bool"]
DIMENSIONS = ("completeness", "conformity", "consistency", "accuracy", "timeliness", "uniqueness")
COLUMN_TYPES = ("string", "int", "decimal", "date", "datetime", "bool")
FORMATS = ("csv", "jsonl", "parquet", "xlsx")
ENCODINGS = ("auto", "utf-8", "utf-8-sig", "gb18030")
LIBRARIES = ("population", "legal-entity")

# rule kind -> (parameter a bare scalar stands for, allowed parameters)
RULE_KINDS: dict[str, tuple[str | None, frozenset[str]]] = {
    "code_table": ("table", frozenset({"table"})),
    "regex": ("pattern", frozenset({"pattern"})),
    "range": (None, frozenset({"min", "max"})),
    "date": (None, frozenset({"min", "max"})),
    "max_length": ("value", frozenset({"value"})),
    "resident_id": (None, frozenset({"allow_legacy"})),
    "uscc": (None, frozenset()),
    "division": (None, frozenset()),
    "division_at": ("at_column", frozenset({"at_column"})),
    "id_consistency": ("part", frozenset({"part", "id_column"})),
    "unique": (None, frozenset()),
    "recorded_at": (None, frozenset()),
}

DECIMAL_TYPE = pa.decimal128(20, 4)
ARROW_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "int": pa.int64(),
    "decimal": DECIMAL_TYPE,
    "date": pa.date32(),
    "datetime": pa.timestamp("s"),
    "bool": pa.bool_(),
}


@dataclass(frozen=True)
class Rule:
    """One quality rule on a column: its kind and parameters (e.g. ``code_table`` table=sex)."""

    kind: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Column:
    """One column of a delivered file."""

    name: str
    type: ColumnType
    required: bool
    field: str | None
    rules: tuple[Rule, ...]

    def rule(self, kind: str) -> Rule | None:
        """The first rule of ``kind`` on this column, if any."""
        return next((r for r in self.rules if r.kind == kind), None)


@dataclass(frozen=True)
class Contract:
    """A department's dataset contract (see the module docstring)."""

    dataset_id: str
    title: str
    department: str
    library: Literal["population", "legal-entity"]
    format: Literal["csv", "jsonl", "parquet", "xlsx"]
    encoding: Literal["auto", "utf-8", "utf-8-sig", "gb18030"]
    delimiter: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    subject_column: str
    authoritative_for: tuple[str, ...]
    cadence_days: int
    thresholds: dict[str, float]
    on_breach: Literal["warn", "fail"]
    source: str = ""
    sheet: str | None = None  # xlsx: the sheet to read (else the one sheet with the columns)
    pull: PullSource | None = None  # the department system the hub pulls from, if any

    def column(self, name: str) -> Column:
        """The column called ``name``; KeyError naming the dataset if there is none."""
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"contract {self.dataset_id!r} has no column {name!r}")

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def arrow_schema(self) -> pa.Schema:
        """Arrow schema of a file read with this contract's types (all fields nullable)."""
        return pa.schema([pa.field(c.name, ARROW_TYPES[c.type]) for c in self.columns])

    def field_map(self) -> dict[str, str]:
        """Source column -> library field, for the columns that map to one."""
        return {c.name: c.field for c in self.columns if c.field}


_REQUIRED_KEYS = (
    "dataset_id",
    "title",
    "department",
    "library",
    "format",
    "columns",
    "key",
    "subject_column",
    "cadence_days",
)
_OPTIONAL_KEYS = (
    "encoding",
    "delimiter",
    "sheet",
    "authoritative_for",
    "thresholds",
    "on_breach",
    "source",
)
_COLUMN_KEYS = ("name", "type", "required", "field", "rules", "sharing")  # sharing: schemas.sharing


def load_contract(path: Path | str) -> Contract:
    """Read and validate one contract file; :class:`ContractError` names file, line and field."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 0
        raise ContractError(path, line, "(document)", f"not valid YAML: {exc.problem}") from exc
    except UnicodeDecodeError as exc:
        raise ContractError(path, 0, "(document)", "contract files must be UTF-8") from exc
    if root is None:
        raise ContractError(path, 1, "(document)", "empty contract")
    r = YamlReader(path)
    top = r.mapping(root, "(document)")
    for name in top:
        if name not in _REQUIRED_KEYS + _OPTIONAL_KEYS:
            raise r.fail(top[name][0], name, "unknown key")
    for name in _REQUIRED_KEYS:
        if name not in top:
            raise r.fail(root, name, "missing required key")

    def node(name: str) -> yaml.Node:
        return top[name][1]

    dataset_id = r.text(node("dataset_id"), "dataset_id")
    if not re.fullmatch(r"[a-z][a-z0-9_]*", dataset_id):
        raise r.fail(node("dataset_id"), "dataset_id", "use lower-case letters, digits and _")
    library_name = r.text(node("library"), "library", LIBRARIES)
    library = library_schema(library_name)
    columns = _columns(r, node("columns"), library.field_names)
    names = [c.name for c in columns]

    key = r.texts(node("key"), "key")
    for i, k in enumerate(key):
        if k not in names:
            raise r.fail(node("key"), f"key[{i}]", f"{k!r} is not a column")
    subject = r.text(node("subject_column"), "subject_column")
    if subject not in names:
        raise r.fail(node("subject_column"), "subject_column", f"{subject!r} is not a column")

    authoritative: tuple[str, ...] = ()
    if "authoritative_for" in top:
        authoritative = r.texts(node("authoritative_for"), "authoritative_for")
        mapped = {c.field for c in columns}
        for i, f in enumerate(authoritative):
            where = f"authoritative_for[{i}]"
            if f not in library.field_names:
                raise r.fail(node("authoritative_for"), where, f"{f!r} is not a library field")
            if f not in mapped:
                raise r.fail(node("authoritative_for"), where, f"no column maps to {f!r}")

    cadence = r.scalar(node("cadence_days"), "cadence_days")
    if not isinstance(cadence, int) or isinstance(cadence, bool) or cadence < 1:
        raise r.fail(node("cadence_days"), "cadence_days", "expected a whole number of days >= 1")

    thresholds: dict[str, float] = {}
    if "thresholds" in top:
        for dim, (knode, vnode) in r.mapping(node("thresholds"), "thresholds").items():
            where = f"thresholds.{dim}"
            if dim not in DIMENSIONS:
                raise r.fail(knode, where, f"not a GB/T 36344 dimension ({', '.join(DIMENSIONS)})")
            v = r.scalar(vnode, where)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1:
                raise r.fail(vnode, where, f"expected a ratio between 0 and 1, got {v!r}")
            thresholds[dim] = float(v)

    delimiter = ","
    if "delimiter" in top:
        delimiter = cast(str, r.scalar(node("delimiter"), "delimiter"))
        if not isinstance(delimiter, str) or len(delimiter) != 1:
            raise r.fail(node("delimiter"), "delimiter", "expected one character")

    fmt = r.text(node("format"), "format", FORMATS)
    sheet: str | None = None
    if "sheet" in top:
        sheet = r.text(node("sheet"), "sheet")
        if fmt != "xlsx":
            raise r.fail(node("sheet"), "sheet", f"only an xlsx contract names a sheet, not {fmt}")

    pull = read_pull_source(r, node("source")) if "source" in top else None

    return Contract(
        dataset_id=dataset_id,
        title=r.text(node("title"), "title"),
        department=r.text(node("department"), "department"),
        library=cast(Literal["population", "legal-entity"], library_name),
        format=cast(Any, fmt),
        encoding=cast(
            Any, r.text(node("encoding"), "encoding", ENCODINGS) if "encoding" in top else "auto"
        ),
        delimiter=delimiter,
        columns=columns,
        key=key,
        subject_column=subject,
        authoritative_for=authoritative,
        cadence_days=cadence,
        thresholds=thresholds,
        on_breach=cast(
            Any,
            r.text(node("on_breach"), "on_breach", ("warn", "fail"))
            if "on_breach" in top
            else "warn",
        ),
        source=str(path),
        sheet=sheet,
        pull=pull,
    )


def _columns(r: YamlReader, seq: yaml.Node, library_fields: tuple[str, ...]) -> tuple[Column, ...]:
    nodes = r.sequence(seq, "columns")
    if not nodes:
        raise r.fail(seq, "columns", "a contract needs at least one column")
    columns: list[Column] = []
    seen: set[str] = set()
    for i, cnode in enumerate(nodes):
        where = f"columns[{i}]"
        m = r.mapping(cnode, where)
        for k, (knode, _) in m.items():
            if k not in _COLUMN_KEYS:
                raise r.fail(knode, f"{where}.{k}", "unknown key")
        if "name" not in m:
            raise r.fail(cnode, f"{where}.name", "missing required key")
        name = r.text(m["name"][1], f"{where}.name")
        where = f"columns[{i}] ({name})"
        if name in seen:
            raise r.fail(m["name"][1], f"{where}.name", "duplicate column name")
        seen.add(name)
        ctype = r.text(m["type"][1], f"{where}.type", COLUMN_TYPES) if "type" in m else "string"
        required = False
        if "required" in m:
            required = r.scalar(m["required"][1], f"{where}.required")
            if not isinstance(required, bool):
                raise r.fail(m["required"][1], f"{where}.required", "expected true or false")
        lib_field: str | None = None
        if "field" in m:
            lib_field = r.text(m["field"][1], f"{where}.field")
            if lib_field not in library_fields:
                raise r.fail(
                    m["field"][1], f"{where}.field", f"{lib_field!r} is not a library field"
                )
        rules: tuple[Rule, ...] = ()
        if "rules" in m:
            rules = tuple(
                _rule(r, rn, f"{where}.rules[{j}]")
                for j, rn in enumerate(r.sequence(m["rules"][1], f"{where}.rules"))
            )
        if "sharing" in m:  # read by schemas.sharing; a bad one fails here, with its line
            from schemas.sharing import SharingError, parse_sharing

            snode = m["sharing"][1]
            try:
                parse_sharing(yaml.load(yaml.serialize(snode), Loader=yaml.SafeLoader), "")
            except SharingError as exc:
                raise r.fail(snode, f"{where}.sharing", str(exc).removeprefix(": ")) from None
        columns.append(Column(name, cast(ColumnType, ctype), required, lib_field, rules))
    types: dict[str, str] = {c.name: c.type for c in columns}
    for i, (col, cnode) in enumerate(zip(columns, nodes, strict=True)):
        where = f"columns[{i}] ({col.name}).rules"
        for rule in col.rules:
            ref = rule.params.get("id_column") or rule.params.get("at_column")
            if ref is not None and ref not in types:
                raise r.fail(cnode, where, f"{ref!r} is not a column")
            if rule.kind == "division_at" and types.get(str(ref)) not in ("date", "datetime"):
                raise r.fail(cnode, where, f"division_at needs a date column, not {ref!r}")
    return tuple(columns)


def _rule(r: YamlReader, node: yaml.Node, where: str) -> Rule:
    if isinstance(node, yaml.ScalarNode):
        kind, params_node = r.text(node, where), None
    else:
        m = r.mapping(node, where)
        if len(m) != 1:
            raise r.fail(node, where, "a rule is one 'kind: parameters' entry")
        kind, (_, params_node) = next(iter(m.items()))
    if kind not in RULE_KINDS:
        raise r.fail(node, where, f"unknown rule {kind!r} (known: {', '.join(RULE_KINDS)})")
    default, allowed = RULE_KINDS[kind]
    params: dict[str, Any] = {}
    if params_node is not None:
        if isinstance(params_node, yaml.MappingNode):
            for pname, (pk, pv) in r.mapping(params_node, f"{where}.{kind}").items():
                if pname not in allowed:
                    raise r.fail(pk, f"{where}.{kind}.{pname}", "unknown parameter")
                params[pname] = r.value(pv)
        else:
            value = r.value(params_node)
            if value is not None:
                if default is None:
                    raise r.fail(params_node, f"{where}.{kind}", "expected named parameters")
                params[default] = value
    _check_params(r, node, f"{where}.{kind}", kind, params)
    return Rule(kind, params)


def _check_params(
    r: YamlReader, node: yaml.Node, where: str, kind: str, params: dict[str, Any]
) -> None:
    if kind == "code_table":
        if params.get("table") not in code_table_names():
            raise r.fail(node, where, f"unknown code table {params.get('table')!r}")
    elif kind == "regex":
        try:
            re.compile(str(params.get("pattern", "")))
        except re.error as exc:
            raise r.fail(node, where, f"invalid regular expression: {exc}") from exc
        if "pattern" not in params:
            raise r.fail(node, where, "missing pattern")
    elif kind == "max_length":
        if not isinstance(params.get("value"), int):
            raise r.fail(node, where, "expected a whole number")
    elif kind == "id_consistency":
        if params.get("part") not in ("birth_date", "sex"):
            raise r.fail(node, where, "part must be birth_date or sex")
    elif kind == "range" and not params:
        raise r.fail(node, where, "give min, max or both")


def load_contracts(folder: Path | str | None = None) -> dict[str, Contract]:
    """Every ``*.yaml`` contract of ``folder`` (default ``schemas/contracts/``) by dataset id."""
    folder = Path(folder) if folder is not None else CONTRACTS_DIR
    out: dict[str, Contract] = {}
    for path in sorted(folder.glob("*.yaml")):
        contract = load_contract(path)
        if contract.dataset_id in out:
            raise ContractError(
                path,
                1,
                "dataset_id",
                f"{contract.dataset_id!r} also in {out[contract.dataset_id].source}",
            )
        out[contract.dataset_id] = contract
    return out
