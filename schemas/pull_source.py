"""A contract's ``source``: the department system the hub pulls a dataset from, declared without
credentials (:class:`PullSource`), and its reading from the contract's YAML with errors that
name the line and key (:func:`read_pull_source`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal, cast

import yaml

from schemas.yaml_reader import YamlReader

SOURCE_KINDS = ("sql", "prefix", "http")
# what each kind of source may say, beyond ``kind``
_SOURCE_KEYS: dict[str, frozenset[str]] = {
    "sql": frozenset(
        {
            "connection",
            "table",
            "query",
            "watermark",
            "deleted",
            "snapshot",
            "queue",
            "every_minutes",
        }
    ),
    "prefix": frozenset({"connection", "bucket", "prefix", "folder", "queue", "every_minutes"}),
    "http": frozenset(
        {
            "connection",
            "path",
            "watermark",
            "deleted",
            "snapshot",
            "since_param",
            "queue",
            "every_minutes",
        }
    ),
}


@dataclass(frozen=True)
class PullSource:
    """Where the hub pulls a dataset from (the contract's ``source``), without credentials.

    ``connection`` is an Airflow Connection id: the URL, user and password live there (in
    Airflow's secrets backend, or ``AIRFLOW_CONN_<ID>`` in the environment), never in the
    contract. ``sql``: a ``table`` or a ``query`` over the connection's database. ``prefix``:
    the files a department writes under ``prefix`` of ``bucket`` (MinIO/S3, through the
    connection) or into a local ``folder``. ``http``: JSON Lines pages from ``path`` of the
    connection's base URL, asked for the rows after the watermark with ``since_param``.
    ``watermark`` names the column that grows with every change (a timestamp or a sequence):
    a pull reads only the rows past the last merged run's. Tombstones: ``deleted`` names a
    deleted-flag column, or ``snapshot`` reads the whole source each time and takes the subjects
    missing since the previous snapshot as deleted.
    """

    kind: Literal["sql", "prefix", "http"]
    connection: str | None = None
    table: str | None = None
    query: str | None = None
    watermark: str | None = None
    deleted: str | None = None
    snapshot: bool = False
    bucket: str | None = None
    prefix: str = ""
    folder: str | None = None
    path: str = ""
    since_param: str = "since"
    queue: str = "default"  # the Airflow queue its pull runs on (a department's edge worker)
    every_minutes: int | None = None  # pull more often than the cadence (the DAG's schedule)


# keys that would put a credential or an address into the contract
_CREDENTIAL_KEYS = frozenset(
    {
        "url",
        "uri",
        "dsn",
        "host",
        "port",
        "user",
        "username",
        "login",
        "password",
        "secret",
        "token",
        "access_key",
        "secret_key",
        "endpoint",
    }
)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?")
_CONNECTION = re.compile(r"[A-Za-z0-9_-]+")


def read_pull_source(r: YamlReader, node: yaml.Node) -> PullSource:
    """The contract's ``source``: checked for its kind's keys, one way to read it, no secrets."""
    m = r.mapping(node, "source")
    if "kind" not in m:
        raise r.fail(
            node, "source.kind", f"missing required key (one of {', '.join(SOURCE_KINDS)})"
        )
    kind = r.text(m["kind"][1], "source.kind", SOURCE_KINDS)
    allowed = _SOURCE_KEYS[kind]
    for name, (knode, _) in m.items():
        if name == "kind":
            continue
        if name in _CREDENTIAL_KEYS:
            raise r.fail(
                knode,
                f"source.{name}",
                "addresses and credentials belong in the Airflow Connection that "
                "source.connection names, never in the contract",
            )
        if name not in allowed:
            raise r.fail(
                knode,
                f"source.{name}",
                f"unknown key for a {kind} source ({', '.join(sorted(allowed))})",
            )
    values: dict[str, Any] = {}
    for name in (
        "connection",
        "table",
        "query",
        "watermark",
        "deleted",
        "bucket",
        "folder",
        "queue",
    ):
        if name in m:
            values[name] = r.text(m[name][1], f"source.{name}").strip()
    for name in ("prefix", "path", "since_param"):
        if name in m:
            value = r.scalar(m[name][1], f"source.{name}")
            if not isinstance(value, str):
                raise r.fail(m[name][1], f"source.{name}", f"expected text, got {value!r}")
            values[name] = value
    if "every_minutes" in m:
        every = r.scalar(m["every_minutes"][1], "source.every_minutes")
        if not isinstance(every, int) or isinstance(every, bool) or every < 1:
            raise r.fail(m["every_minutes"][1], "source.every_minutes", "expected minutes >= 1")
        values["every_minutes"] = every
    if "snapshot" in m:
        snapshot = r.scalar(m["snapshot"][1], "source.snapshot")
        if not isinstance(snapshot, bool):
            raise r.fail(m["snapshot"][1], "source.snapshot", "expected true or false")
        values["snapshot"] = snapshot

    def where(name: str) -> yaml.Node:
        return m[name][1] if name in m else node

    connection = values.get("connection")
    if connection is not None and not _CONNECTION.fullmatch(connection):
        raise r.fail(
            where("connection"),
            "source.connection",
            f"{connection!r} is not an Airflow Connection id (letters, digits, _ and -)",
        )
    if "queue" in values and not _CONNECTION.fullmatch(values["queue"]):
        raise r.fail(where("queue"), "source.queue", "a queue name is letters, digits, _ and -")
    for name in ("watermark", "deleted"):
        if name in values and not _NAME.fullmatch(values[name]):
            raise r.fail(where(name), f"source.{name}", f"{values[name]!r} is not a column name")
    if kind in ("sql", "http"):
        if connection is None:
            raise r.fail(node, "source.connection", f"a {kind} source names its Airflow Connection")
        if values.get("snapshot") and "watermark" in values:
            raise r.fail(
                where("watermark"),
                "source.watermark",
                "a snapshot is read whole each time: give snapshot or watermark, not both",
            )
        if not values.get("snapshot") and "watermark" not in values:
            raise r.fail(
                node,
                "source",
                "say how a pull finds what changed: watermark (a column that grows with every "
                "change) or snapshot: true",
            )
    if values.get("queue", "default") != "default" and (kind == "prefix" or values.get("snapshot")):
        raise r.fail(
            where("queue"),
            "source.queue",
            "a department's edge worker reads a sql or http source by its watermark; a prefix "
            "or snapshot source is read by the hub (queue: default)",
        )
    if kind == "sql":
        if ("table" in values) == ("query" in values):
            raise r.fail(node, "source", "a sql source gives a table or a query (one of them)")
        if "table" in values and not _TABLE.fullmatch(values["table"]):
            raise r.fail(where("table"), "source.table", f"{values['table']!r} is not a table name")
        if "query" in values and not values["query"].lower().lstrip("( ").startswith(
            ("select", "with")
        ):
            raise r.fail(where("query"), "source.query", "expected a SELECT query")
    if kind == "http" and not values.get("since_param", "since").strip():
        raise r.fail(where("since_param"), "source.since_param", "expected a parameter name")
    if kind == "prefix":
        if ("bucket" in values) == ("folder" in values):
            raise r.fail(node, "source", "a prefix source gives a bucket or a folder (one of them)")
        if "bucket" in values and connection is None:
            raise r.fail(node, "source.connection", "a bucket source names its Airflow Connection")
        if "folder" in values and connection is not None:
            raise r.fail(
                where("connection"), "source.connection", "a folder source needs no connection"
            )
        if "folder" in values and not values["folder"].startswith("/"):
            raise r.fail(where("folder"), "source.folder", "expected an absolute folder path")
    return PullSource(kind=cast(Any, kind), **values)
