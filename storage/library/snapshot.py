"""A columnar snapshot of a library's golden records, kept by the library for bulk reads.

A policy judged over the whole population (:mod:`sharing.eligibility`) needs a few fields of
every subject. Reading them from the golden records means scanning and decoding every JSON
document; the snapshot is that read done once, when the library changes: every field the
library's runs carry, for every subject, as an Arrow IPC file (typed as the caller's ``typer``
says), so a later read maps the file and takes the columns it needs.

The snapshot is written from the same bulk read (:meth:`LibraryStore.field_columns`) — one
code path for the values — by the first bulk read that finds none, then by the publish step
after every merge (:func:`refresh`), and is
keyed by the library's version (:func:`storage.library.version.library_version`, which every
merge and retraction changes in its own transaction) and by the SHA-256 of its bytes. A read
(:func:`read_columns`) serves it only if its version is the library's current one and its
bytes hash to what its manifest says; otherwise (missing, stale, tampered or unreadable) the
library is read again from its golden records, and that read becomes the new snapshot.

The snapshot lives beside the library: for an SQLite hub in ``library-snapshots/`` next to the
database file, for a PostgreSQL hub in ``library-snapshots/`` of the hub's home (each machine
keeps its own; the version it is keyed by is the database's, so every process agrees on when it
is stale), one file per library (the previous one is removed once replaced). A store given no
such place (an in-memory database) reads its golden records every time.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from sqlalchemy import select

from schemas.library import library_schema
from storage.library.schema import merges
from storage.library.version import library_version

if TYPE_CHECKING:
    from storage.library.store import LibraryStore

log = logging.getLogger(__name__)

FORMAT = 1  # the manifest's layout
FOLDER = "library-snapshots"
SUBJECT = "subject"

# a library's text columns to the types the reader wants (table, library) -> table
Typer = Callable[[pa.Table, str], pa.Table]


@dataclass(frozen=True)
class Built:
    """A snapshot just built: its table, the version it is of, and what it cost."""

    table: pa.Table
    version: str
    seconds: float
    written: bool  # False: no place for it, or the library changed during the read


def snapshot_folder(lib: LibraryStore) -> Path | None:
    """Where ``lib`` keeps its snapshots: beside its SQLite file, else the folder it was given
    (a PostgreSQL hub: ``library-snapshots/`` in the hub's home, one per machine); None for an
    in-memory database or a store given no folder."""
    url = lib.engine.url
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        return Path(str(url.database)).resolve().parent / FOLDER
    return lib.snapshots


def _manifest_path(folder: Path, library: str) -> Path:
    return folder / f"{library}.json"


def library_fields(lib: LibraryStore, library: str) -> list[str]:
    """The fields the library's merged runs carry: in the library schema's order, then any
    other (every field of the schema if a run stored its statements without a layout)."""
    names = library_schema(library).field_names
    stmt = select(merges.c.fields).where(merges.c.library == library)
    with lib.engine.connect() as conn:
        layouts = list(conn.execute(stmt).scalars())
    carried: dict[str, None] = {}
    for layout in layouts:
        carried.update(dict.fromkeys(json.loads(layout) if layout else names))
    return [f for f in names if f in carried] + sorted(set(carried) - set(names))


def build(
    lib: LibraryStore, library: str, typer: Typer | None = None, folder: Path | None = None
) -> Built:
    """Read every field of every subject of ``library`` from its golden records (typed by
    ``typer``) and keep it as the library's snapshot, if the library did not change during the
    read (else the table is returned but not kept: it is of no single version)."""
    start = time.perf_counter()
    folder = folder or snapshot_folder(lib)
    before = library_version(lib.engine, library)
    table = lib.field_columns(library, library_fields(lib, library))
    if typer is not None:
        table = typer(table, library)
    written = False
    if folder is not None and library_version(lib.engine, library) == before:
        try:
            _write(folder, library, before, table)
            written = True
        except OSError as exc:  # the read still stands; the next one tries again
            log.warning("library snapshot of %s not written: %s", library, exc.strerror or exc)
    return Built(table, before, time.perf_counter() - start, written)


def refresh(
    lib: LibraryStore, library: str, typer: Typer | None = None, folder: Path | None = None
) -> Built | None:
    """After a change of ``library`` (the publish step): bring its snapshot up to date; None if
    it was, or if the library has none (no bulk read asked for one yet: a library nobody reads
    whole does not pay for a copy on every publish)."""
    folder = folder or snapshot_folder(lib)
    if folder is None or not _manifest_path(folder, library).exists():
        return None
    if _manifest_of(folder, library, library_version(lib.engine, library)) is not None:
        return None
    return build(lib, library, typer, folder)


def _write(folder: Path, library: str, version: str, table: pa.Table) -> None:
    """The table as the library's snapshot of ``version``: the IPC file (named by the version
    and its hash), then the manifest naming it, each written whole and renamed into place."""
    folder.mkdir(parents=True, exist_ok=True)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    data = sink.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    name = f"{library}-{_safe(version)}-{digest[:16]}.arrow"
    _replace(folder / name, memoryview(data))
    manifest = {
        "format": FORMAT,
        "library": library,
        "version": version,
        "file": name,
        "sha256": digest,
        "rows": table.num_rows,
        "columns": table.column_names,
    }
    _replace(_manifest_path(folder, library), json.dumps(manifest).encode())
    for old in folder.glob(f"{library}-*.arrow"):  # earlier snapshots, not being written now
        if old.name != name and time.time() - old.stat().st_mtime > 60:
            old.unlink(missing_ok=True)


def _safe(version: str) -> str:
    return "".join(c if c.isalnum() or c == "-" else "_" for c in version)


def _replace(path: Path, data: bytes | memoryview) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _manifest_of(folder: Path, library: str, version: str) -> dict[str, Any] | None:
    """The kept snapshot's manifest if it is of ``version`` and readable; else None."""
    try:
        manifest = json.loads(_manifest_path(folder, library).read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        return None
    if manifest.get("library") != library or manifest.get("version") != version:
        return None
    return manifest


def load(
    lib: LibraryStore, library: str, fields: Sequence[str], folder: Path | None = None
) -> pa.Table | None:
    """``subject`` and ``fields`` of every subject from the kept snapshot, if it is of the
    library's current version and its bytes are the ones its manifest names (SHA-256); else
    None (the reason logged). A field the library's runs never carried is null."""
    folder = folder or snapshot_folder(lib)
    if folder is None:
        return None
    version = library_version(lib.engine, library)
    manifest = _manifest_of(folder, library, version)
    if manifest is None:
        log.info("library snapshot of %s: none of version %s", library, version)
        return None
    name = str(manifest.get("file", ""))
    path = folder / name
    if path.name != name or path.parent != folder:
        return None
    try:
        data = path.read_bytes()
    except OSError:
        log.warning("library snapshot of %s: its file %s is missing", library, name)
        return None
    if hashlib.sha256(data).hexdigest() != manifest.get("sha256"):
        log.warning("library snapshot of %s: %s does not match its hash, not used", library, name)
        return None
    try:
        reader = pa.ipc.open_file(pa.py_buffer(data))
        names = reader.schema.names
        wanted = [SUBJECT, *dict.fromkeys(f for f in fields if f != SUBJECT)]
        have = [n for n in wanted if n in names]
        options = pa.ipc.IpcReadOptions(included_fields=[names.index(n) for n in have])
        table = pa.ipc.open_file(pa.py_buffer(data), options=options).read_all()
    except (pa.ArrowException, ValueError) as exc:
        log.warning("library snapshot of %s: %s is unreadable (%s)", library, name, type(exc))
        return None
    if SUBJECT not in have or table.num_rows != manifest.get("rows"):
        return None
    columns = {n: table.column(n) for n in have}
    nulls = pa.nulls(table.num_rows, pa.string())
    return pa.table({n: columns.get(n, nulls) for n in wanted})


def read_columns(
    lib: LibraryStore,
    library: str,
    fields: Sequence[str],
    typer: Typer | None = None,
    folder: Path | None = None,
) -> pa.Table:
    """``subject`` and ``fields`` of every subject of ``library`` (in no particular order):
    from the snapshot if it is current and intact (:func:`load`), else read from the golden
    records, which then become the snapshot (:func:`build`). Where the library has no place
    for a snapshot, only the fields asked for are read from the golden records."""
    folder = folder or snapshot_folder(lib)
    wanted = [SUBJECT, *dict.fromkeys(f for f in fields if f != SUBJECT)]
    if folder is None:  # nowhere to keep one: the fields asked for, from the golden records
        table = lib.field_columns(library, wanted[1:])
        return table if typer is None else typer(table, library)
    table = load(lib, library, fields, folder)
    if table is None:
        table = build(lib, library, typer, folder).table
        nulls = pa.nulls(table.num_rows, pa.string())
        table = pa.table({n: table.column(n) if n in table.column_names else nulls for n in wanted})
    return table
