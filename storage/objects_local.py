"""The embedded object store: objects as files under one folder, batches as packs.

``LocalObjectStore`` keeps the contract of :mod:`storage.objects` (write-once keys, durable when a
write returns) on a local file system; ``storage.objects`` re-exports it.
"""

from __future__ import annotations

import json
import os
import secrets
import struct
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from storage.objects import (
    ObjectExistsError,
    ObjectNotFoundError,
    ObjectStoreError,
    check_key,
    sha256_hex,
)

PACKS = ".packs"  # the local store's folder of batch packs (not a key prefix: refused)
_PACK_MAGIC = b"HUBPACK1"
_PACK_TAIL = struct.Struct(">Q8s")  # index length, magic


@dataclass(frozen=True)
class _Packed:
    pack: str  # file name in the packs folder
    offset: int
    length: int
    sha256: str


class LocalObjectStore:
    """Objects as files under one folder; writes are atomic and durable when they return.

    ``put`` writes one file per object (temporary file, fsync, link into place). ``put_many``
    writes a whole batch as one immutable *pack* in ``.packs/``: the objects' bytes one after
    the other, then an index (key, offset, length, SHA-256 of each) and a fixed trailer. The
    pack is written to a temporary file, fsynced, linked into place and its folder fsynced: two
    fsyncs per batch, however many objects it holds, and a crash leaves either the whole pack or
    none of it. Reads find a key as a file first, then in the packs (every pack's index is read
    once per process; a key not found rereads the folder for packs other processes wrote), and
    a packed object's bytes are checked against its SHA-256. Write-once holds across files and
    packs and across processes: the check and the link run under an exclusive lock
    (``.packs/.lock``).
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._root = str(self.root)
        self._packs_dir = self.root / PACKS
        self._packed: dict[str, _Packed] = {}
        self._packs_read: set[str] = set()
        self._index_lock = threading.Lock()

    def _path(self, key: str) -> Path:
        return Path(self._file(key))

    def _file(self, key: str) -> str:
        """The file of ``key`` as a string (a batch makes a thousand: no Path parsing each)."""
        check_key(key)
        if key.split("/", 1)[0] == PACKS:
            raise ObjectStoreError(f"invalid object key {key!r}: {PACKS}/ is the store's own")
        return os.path.join(self._root, key)

    # ---- packs ---------------------------------------------------------------------------
    @contextmanager
    def _write_lock(self) -> Iterator[None]:
        """The store's write lock (across processes): write-once checks and links hold it."""
        import fcntl

        self._packs_dir.mkdir(exist_ok=True)
        fd = os.open(self._packs_dir / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

    def _refresh(self) -> None:
        """Read the index of every pack not read yet (in name order: older packs first)."""
        try:
            names = sorted(n for n in os.listdir(self._packs_dir) if n.endswith(".pack"))
        except FileNotFoundError:
            return
        with self._index_lock:
            for name in names:
                if name in self._packs_read:
                    continue
                for key, packed in _read_pack_index(self._packs_dir / name, name):
                    self._packed.setdefault(key, packed)
                self._packs_read.add(name)

    def _find_packed(self, key: str, refresh: bool = True) -> _Packed | None:
        found = self._packed.get(key)
        if found is None and refresh:
            self._refresh()
            found = self._packed.get(key)
        return found

    def _read_packed(self, key: str, packed: _Packed) -> bytes:
        try:
            with open(self._packs_dir / packed.pack, "rb") as fh:
                data = os.pread(fh.fileno(), packed.length, packed.offset)
        except FileNotFoundError:
            raise ObjectNotFoundError(f"no object {key!r} in {self.root.name}/") from None
        if len(data) != packed.length or sha256_hex(data) != packed.sha256:
            raise ObjectStoreError(
                f"object {key!r} in pack {packed.pack} does not match its recorded SHA-256"
            )
        return data

    def _stored(self, key: str, path: Path | str, refresh: bool = True) -> bytes | None:
        """The bytes stored under ``key`` (as a file or in a pack), or None (``refresh``:
        look for packs written since the last look before saying None)."""
        try:
            with open(path, "rb") as fh:
                return fh.read()
        except (FileNotFoundError, NotADirectoryError):  # no such file (a file is no folder)
            pass
        packed = self._find_packed(key, refresh)
        return None if packed is None else self._read_packed(key, packed)

    # ---- the contract ----------------------------------------------------------------------
    def put(self, key: str, data: bytes) -> bool:
        path = self._path(key)
        old = self._stored(key, path)
        if old is not None:
            return _same_or_refuse(key, old, data)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            with self._write_lock():
                packed = self._find_packed(key)
                if packed is not None:  # a pack took the key meanwhile
                    return _same_or_refuse(key, self._read_packed(key, packed), data)
                # link() fails if another writer won the race: keeps write-once
                try:
                    os.link(tmp, path)
                except FileExistsError:
                    return _same_or_refuse(key, path.read_bytes(), data)
        finally:
            os.unlink(tmp)
        return True

    def put_many(self, items: Sequence[tuple[str, bytes]]) -> list[bool]:
        """Store a batch write-once as one pack, durable when it returns (two fsyncs).

        Objects that exist with the same content (as files, in packs or earlier in the batch)
        are left alone (``False``); one that exists with different content refuses the whole
        batch before anything is written.
        """
        paths = [self._file(key) for key, _ in items]
        if not items:
            return []
        with self._write_lock():
            self._refresh()  # once for the batch: the lock keeps other writers out
            result = [False] * len(items)
            new: dict[str, bytes] = {}
            for i, ((key, data), path) in enumerate(zip(items, paths, strict=True)):
                old = new.get(key)
                if old is None:
                    old = self._stored(key, path, refresh=False)
                if old is not None:
                    _same_or_refuse(key, old, data)
                    continue
                new[key] = data
                result[i] = True
            if new:
                self._write_pack(new)
        return result

    def _write_pack(self, objects: dict[str, bytes]) -> None:
        """Write ``objects`` as one pack and make it durable (the write lock is held)."""
        name = f"{time.time_ns():020d}-{os.getpid()}-{secrets.token_hex(4)}.pack"
        index: dict[str, _Packed] = {}
        offset = 0
        for key, data in objects.items():
            index[key] = _Packed(name, offset, len(data), sha256_hex(data))
            offset += len(data)
        rows = [[k, p.offset, p.length, p.sha256] for k, p in index.items()]
        index_bytes = json.dumps(rows, separators=(",", ":")).encode()
        fd, tmp = tempfile.mkstemp(dir=self._packs_dir, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.writelines(objects.values())
                fh.write(index_bytes)
                fh.write(_PACK_TAIL.pack(len(index_bytes), _PACK_MAGIC))
                fh.flush()
                os.fsync(fh.fileno())
            os.link(tmp, self._packs_dir / name)
        finally:
            os.unlink(tmp)
        _fsync_dir(self._packs_dir)
        with self._index_lock:
            for key, packed in index.items():
                self._packed.setdefault(key, packed)
            self._packs_read.add(name)

    def get(self, key: str) -> bytes:
        data = self._stored(key, self._path(key))
        if data is None:
            raise ObjectNotFoundError(f"no object {key!r} in {self.root.name}/")
        return data

    def exists(self, key: str) -> bool:
        return self._path(key).is_file() or self._find_packed(key) is not None

    def list(self, prefix: str = "") -> list[str]:
        out: set[str] = set()
        for path in self._walk():
            key = path.relative_to(self.root).as_posix()
            if key.startswith(prefix):
                out.add(key)
        self._refresh()
        with self._index_lock:
            out.update(k for k in self._packed if k.startswith(prefix))
        return sorted(out)

    def _walk(self) -> Iterator[Path]:
        for folder, subdirs, files in os.walk(self.root):
            if folder == str(self.root) and PACKS in subdirs:
                subdirs.remove(PACKS)  # the packs' objects are listed from their indexes
            for name in files:
                if not name.startswith(".tmp-"):
                    yield Path(folder, name)


def _same_or_refuse(key: str, old: bytes, data: bytes) -> bool:
    """False when ``old`` is ``data`` (nothing to write), else refuse (write-once)."""
    if old == data:
        return False
    raise ObjectExistsError(f"object {key!r} exists with different content (write-once)")


def _read_pack_index(path: Path, name: str) -> list[tuple[str, _Packed]]:
    """(key, where) of every object of the pack at ``path``."""
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if size < _PACK_TAIL.size:
            raise ObjectStoreError(f"pack {name} is truncated")
        length, magic = _PACK_TAIL.unpack(
            os.pread(fh.fileno(), _PACK_TAIL.size, size - _PACK_TAIL.size)
        )
        if magic != _PACK_MAGIC or length > size - _PACK_TAIL.size:
            raise ObjectStoreError(f"pack {name} has no valid trailer")
        raw = os.pread(fh.fileno(), length, size - _PACK_TAIL.size - length)
    try:
        index = json.loads(raw)
        return [(str(k), _Packed(name, int(o), int(n), str(d))) for k, o, n, d in index]
    except (ValueError, TypeError) as exc:
        raise ObjectStoreError(f"pack {name} has an unreadable index") from exc


def _fsync_dir(folder: Path) -> None:
    """Make the names created in ``folder`` durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
