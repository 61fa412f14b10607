"""Airflow Connections by id: the address and credentials of a department system.

Under Airflow the DAG resolves a connection through Airflow (its secrets backends included) and
hands the result here as a :class:`Connection`; elsewhere (``hub pull``) it comes from
``AIRFLOW_CONN_<ID>`` in the environment, in Airflow's URI form (``postgres://user:pass@host:5432/db``,
``aws://key:secret@?endpoint_url=http://host:9000``, ``http://user:pass@host:8080/base``) or
its JSON form. Credentials never appear in a contract, a log line or an error message.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from pipeline.pull.errors import PullError


@dataclass(frozen=True)
class Connection:
    """The parts of an Airflow Connection a pull uses."""

    conn_id: str
    conn_type: str
    host: str = ""
    port: int | None = None
    login: str = ""
    password: str = field(default="", repr=False)
    schema: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def sqlalchemy_url(self) -> str:
        """The SQLAlchemy URL of a database connection (PostgreSQL through psycopg 3, SQLite)."""
        kind = self.conn_type.replace("-", "_").lower()
        if kind in ("postgres", "postgresql"):
            auth = ""
            if self.login:
                auth = quote(self.login, safe="")
                if self.password:
                    auth += ":" + quote(self.password, safe="")
                auth += "@"
            port = f":{self.port}" if self.port else ""
            query = "&".join(f"{k}={quote(str(v), safe='')}" for k, v in sorted(self.extra.items()))
            url = f"postgresql+psycopg://{auth}{self.host}{port}/{self.schema}"
            return url + (f"?{query}" if query else "")
        if kind == "sqlite":
            return f"sqlite:///{self.host or self.schema}"
        raise PullError(
            f"connection {self.conn_id!r} is of type {self.conn_type!r}: a sql source needs "
            "postgres or sqlite"
        )

    def base_url(self) -> str:
        """The base URL of an HTTP connection (``extra.scheme`` or http)."""
        if self.conn_type.lower() not in ("http", "https"):
            raise PullError(
                f"connection {self.conn_id!r} is of type {self.conn_type!r}: an http source "
                "needs http or https"
            )
        scheme = str(self.extra.get("scheme") or self.conn_type.lower())
        port = f":{self.port}" if self.port else ""
        path = f"/{self.schema.strip('/')}" if self.schema else ""
        return f"{scheme}://{self.host}{port}{path}"

    def s3(self) -> tuple[str, str, str, bool]:
        """(endpoint host:port, access key, secret key, secure) of an S3/MinIO connection."""
        if self.conn_type.lower() not in ("aws", "s3", "minio"):
            raise PullError(
                f"connection {self.conn_id!r} is of type {self.conn_type!r}: a bucket source "
                "needs aws (with extra endpoint_url)"
            )
        endpoint = str(self.extra.get("endpoint_url") or self.host)
        login = self.login or str(self.extra.get("aws_access_key_id", ""))
        secret = self.password or str(self.extra.get("aws_secret_access_key", ""))
        parts = urlsplit(endpoint if "://" in endpoint else f"http://{endpoint}")
        if not parts.hostname:
            raise PullError(f"connection {self.conn_id!r} names no endpoint_url")
        where = parts.hostname + (f":{parts.port}" if parts.port else "")
        return where, login, secret, parts.scheme == "https"


Resolver = Callable[[str], Connection]


def parse_uri(conn_id: str, uri: str) -> Connection:
    """A connection from Airflow's URI form (or its JSON form, a text starting with ``{``)."""
    text = uri.strip()
    if text.startswith("{"):
        try:
            obj = json.loads(text)
        except json.JSONDecodeError:
            raise PullError(f"connection {conn_id!r}: its JSON form is not JSON") from None
        given = obj.get("extra") or {}
        if isinstance(given, str):
            given = json.loads(given or "{}")
        return Connection(
            conn_id,
            str(obj.get("conn_type", "")),
            str(obj.get("host") or ""),
            int(obj["port"]) if obj.get("port") else None,
            str(obj.get("login") or ""),
            str(obj.get("password") or ""),
            str(obj.get("schema") or ""),
            dict(given),
        )
    parts = urlsplit(text)
    if not parts.scheme:
        raise PullError(
            f"connection {conn_id!r} is not in Airflow's URI form (type://login:password@host:port/schema)"
        )
    try:
        port = parts.port
    except ValueError:
        raise PullError(f"connection {conn_id!r} has a port that is not a number") from None
    extra: dict[str, Any] = dict(parse_qsl(parts.query))
    if "__extra__" in extra:
        extra = json.loads(extra["__extra__"])
    return Connection(
        conn_id,
        parts.scheme.replace("-", "_"),
        unquote(parts.hostname or ""),
        port,
        unquote(parts.username or ""),
        unquote(parts.password or ""),
        unquote(parts.path[1:]),
        extra,
    )


def from_environment(environ: Mapping[str, str] | None = None) -> Resolver:
    """A resolver reading ``AIRFLOW_CONN_<ID>`` (the id in upper case), as Airflow does."""
    env = os.environ if environ is None else environ

    def resolve(conn_id: str) -> Connection:
        name = "AIRFLOW_CONN_" + conn_id.upper().replace("-", "_")
        value = env.get(name) or env.get("AIRFLOW_CONN_" + conn_id.upper())
        if not value:
            raise PullError(
                f"no connection {conn_id!r}: set {name} to its URI (or define it in Airflow)"
            )
        return parse_uri(conn_id, value)

    return resolve
