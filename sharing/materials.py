"""The materials library (电子材料库): documents submitted once, reused by every later application.

A material is a file of a declared type (:func:`schemas.forms.material_types`) belonging to a
holder (a resident ID or a USCC), perhaps issued by someone (a hospital, an employer). Its bytes
are stored write-once and content-addressed in the object store, under
``landing/materials/<sha256>`` (on MinIO the object-locked landing bucket): the same bytes
submitted twice, by anyone, are one object. The index row names the holder, type, issuer, digest,
size and media type; the same holder submitting the same bytes as the same type again gets the
material already on file.

A holder may withdraw a material: it is no longer served or linked by prefill, its bytes stay
for the retention period (the object is write-once), and the withdrawal is a ledger entry (the
material id and digest, never the holder's ID).
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    insert,
    select,
    update,
)

from sharing.forms import MaterialRef
from storage.objects import ObjectStore, landing_key, sha256_hex

MAX_BYTES = 10 * 1024 * 1024  # a scanned document or a photo; larger files are refused
ACTIVE, WITHDRAWN = "active", "withdrawn"
# what a material may be: the first bytes of each accepted format
MEDIA_TYPES: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "application/pdf"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"PK\x03\x04", "application/ofd"),  # OFD (GB/T 33190) is a ZIP container
)

metadata = MetaData()

materials = Table(
    "materials",
    metadata,
    Column("material_id", String(40), primary_key=True),
    Column("holder", String(32), nullable=False),
    Column("type", String(48), nullable=False),
    Column("issuer", String(64)),
    Column("sha256", String(64), nullable=False),
    Column("size", Integer, nullable=False),
    Column("media_type", String(40), nullable=False),
    Column("object_key", Text, nullable=False),
    Column("submitted_by", String(64), nullable=False),  # the client (or staff) that sent it
    Column("submitted_at", DateTime, nullable=False),
    Column("status", String(12), nullable=False),
    Column("withdrawn_at", DateTime),
    Column("ledger_entry", BigInteger),  # the withdrawal's ledger entry
    UniqueConstraint("holder", "type", "sha256", name="uq_material_holder_type_sha"),
    Index("ix_materials_holder", "holder", "type"),
)


_READY: weakref.WeakSet[Engine] = weakref.WeakSet()  # engines whose materials table exists


class MaterialError(ValueError):
    """A material was refused (unknown type, empty, too large, not an accepted format), or an
    operation on one was (unknown, not the holder's)."""


class MaterialIntegrityError(MaterialError):
    """The object store holds other bytes than the material's digest names (not the
    caller's fault: the store was tampered with or damaged)."""


@dataclass(frozen=True)
class Material:
    material_id: str
    holder: str
    type: str
    issuer: str | None
    sha256: str
    size: int
    media_type: str
    submitted_at: dt.datetime
    status: str
    object_key: str

    def to_json(self) -> dict[str, Any]:
        return {
            "material_id": self.material_id,
            "holder": self.holder,
            "type": self.type,
            "issuer": self.issuer,
            "sha256": self.sha256,
            "size": self.size,
            "media_type": self.media_type,
            "submitted_at": _stamp(self.submitted_at),
            "status": self.status,
        }

    def ref(self) -> MaterialRef:
        return MaterialRef(self.material_id, self.type, _stamp(self.submitted_at), self.issuer)


def _stamp(when: dt.datetime) -> str:
    aware = when if when.tzinfo else when.replace(tzinfo=dt.UTC)
    return aware.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _row(r: Any) -> Material:
    return Material(
        r.material_id,
        r.holder,
        r.type,
        r.issuer,
        r.sha256,
        r.size,
        r.media_type,
        r.submitted_at,
        r.status,
        r.object_key,
    )


def media_type(data: bytes) -> str:
    """The accepted format ``data`` is in; :class:`MaterialError` if none."""
    for magic, kind in MEDIA_TYPES:
        if data.startswith(magic):
            return kind
    raise MaterialError("the file is not a PDF, JPEG, PNG or OFD document")


def object_key(digest: str) -> str:
    """The content address of a material's bytes."""
    return landing_key("materials", digest)


class MaterialStore:
    """Materials: bytes in the object store, the index in the hub database."""

    def __init__(self, engine: Engine, objects: ObjectStore) -> None:
        self.engine = engine
        self.objects = objects
        if engine not in _READY:  # once per engine, not on every request
            metadata.create_all(engine)
            _READY.add(engine)

    def submit(
        self,
        holder: str,
        type_code: str,
        data: bytes,
        submitted_by: str,
        issuer: str | None = None,
        now: dt.datetime | None = None,
    ) -> tuple[Material, bool]:
        """Store a material; (it, True if new). The same holder, type and bytes again give the
        material on file (withdrawn or not: a withdrawn one is not revived)."""
        from schemas.forms import material_types

        if type_code not in material_types():
            known = ", ".join(material_types())
            raise MaterialError(f"unknown material type {type_code[:48]!r} (known: {known})")
        if not data:
            raise MaterialError("the file is empty")
        if len(data) > MAX_BYTES:
            raise MaterialError(f"the file is larger than {MAX_BYTES // (1024 * 1024)} MiB")
        kind = media_type(data)
        digest = sha256_hex(data)
        found = self._find(holder, type_code, digest)
        if found is not None:
            return found, False
        key = object_key(digest)
        self.objects.put(key, data)  # False when the bytes are there already: one object
        stamp = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).replace(tzinfo=None)
        material_id = f"MT{stamp:%Y%m%d}{secrets.token_hex(8).upper()}"
        row = {
            "material_id": material_id,
            "holder": holder,
            "type": type_code,
            "issuer": issuer,
            "sha256": digest,
            "size": len(data),
            "media_type": kind,
            "object_key": key,
            "submitted_by": submitted_by,
            "submitted_at": stamp,
            "status": ACTIVE,
        }
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(materials).values(**row))
        except Exception:
            again = self._find(holder, type_code, digest)  # a concurrent submission won
            if again is None:
                raise
            return again, False
        made = self._find(holder, type_code, digest)
        assert made is not None
        return made, True

    def _find(self, holder: str, type_code: str, digest: str) -> Material | None:
        stmt = select(materials).where(
            and_(
                materials.c.holder == holder,
                materials.c.type == type_code,
                materials.c.sha256 == digest,
            )
        )
        with self.engine.connect() as conn:
            r = conn.execute(stmt).first()
        return _row(r) if r is not None else None

    def get(self, material_id: str) -> Material | None:
        with self.engine.connect() as conn:
            r = conn.execute(
                select(materials).where(materials.c.material_id == material_id)
            ).first()
        return _row(r) if r is not None else None

    def of_holder(
        self, holder: str, type_code: str | None = None, active_only: bool = True
    ) -> list[Material]:
        """The holder's materials (of one type), newest first."""
        stmt = select(materials).where(materials.c.holder == holder)
        if type_code is not None:
            stmt = stmt.where(materials.c.type == type_code)
        if active_only:
            stmt = stmt.where(materials.c.status == ACTIVE)
        stmt = stmt.order_by(materials.c.submitted_at.desc(), materials.c.material_id)
        with self.engine.connect() as conn:
            return [_row(r) for r in conn.execute(stmt)]

    def refs(self, holder: str, type_code: str) -> Sequence[MaterialRef]:
        """What prefill links (:class:`sharing.forms.FormReads.materials`)."""
        return [m.ref() for m in self.of_holder(holder, type_code)]

    def content(self, material: Material) -> bytes:
        """The bytes of a material still served; :class:`MaterialError` if withdrawn, or if
        the bytes under its content address are not the ones submitted (replaced behind the
        hub's back, e.g. a newer version put into the bucket): never served as the material."""
        if material.status != ACTIVE:
            raise MaterialError("the holder withdrew this material")
        data = self.objects.get(material.object_key)
        if sha256_hex(data) != material.sha256:
            raise MaterialIntegrityError(
                "the stored bytes do not match this material's SHA-256; it is not served"
            )
        return data

    def withdraw(
        self,
        material_id: str,
        holder: str,
        log: Callable[[bytes], int],
        now: dt.datetime | None = None,
    ) -> Material:
        """The holder withdraws a material: no longer served or linked, the withdrawal logged
        in the ledger (``log`` appends an entry, returns its id). Withdrawing again changes
        nothing. :class:`MaterialError` if it is not this holder's."""
        found = self.get(material_id)
        if found is None or found.holder != holder:
            raise MaterialError("no such material of this holder")
        if found.status == WITHDRAWN:
            return found
        when = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
        event = {
            "type": "material-withdrawn",
            "material_id": found.material_id,
            "material_type": found.type,
            "sha256": found.sha256,
            "at": _stamp(when),
        }
        entry = log(json.dumps(event, sort_keys=True, separators=(",", ":")).encode())
        with self.engine.begin() as conn:
            conn.execute(
                update(materials)
                .where(and_(materials.c.material_id == material_id, materials.c.status == ACTIVE))
                .values(
                    status=WITHDRAWN, withdrawn_at=when.replace(tzinfo=None), ledger_entry=entry
                )
            )
        withdrawn = self.get(material_id)
        assert withdrawn is not None
        return withdrawn
