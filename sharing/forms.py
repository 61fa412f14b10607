"""Prefill (零填报): a form's fields filled from what the government already holds. Pure.

``prefill(form, applicant, reads, allows, on)`` fills each field of a form
(:mod:`schemas.forms`) for one applicant: a library field with the golden record's winning value
and where it came from (dataset, department, run, time, authoritative or not); a derived field
(age, division name, code label) with the value computed from its library field and that field's
source; a licence field with a reference to the applicant's valid licence of the type; a material
field with links to the holder's materials of the type. What the caller may not read
(``allows(scope, name)`` is false: no live grant) stays empty with status ``not-granted``; what
the hub does not hold is ``not-held``; the applicant enters the rest. The caller implements
:class:`FormReads` over its stores (:class:`StoreFormReads` over the hub's).
"""

from __future__ import annotations

import datetime as dt
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from schemas.forms import Form, FormField
from storage.library.model import FactView, GoldenRecord

if TYPE_CHECKING:
    from sqlalchemy import Engine

Status = Literal["filled", "not-granted", "not-held", "applicant"]
# a caller's grants: may it read ``name`` under ``scope`` (a library, "licences", "materials")?
Allows = Callable[[str, str], bool]
LICENCES, MATERIALS = "licences", "materials"


def allow_all(_scope: str, _name: str) -> bool:
    """Staff at the console (``hub forms prefill``): every field."""
    return True


@dataclass(frozen=True)
class LicenceRef:
    """A valid licence of the applicant: what a form may cite instead of a paper copy."""

    licence_id: str
    type_code: str
    issued_at: str
    valid_to: str | None  # None: long-term
    fields: Mapping[str, str] = field(default_factory=dict)  # the document's disclosed values

    def to_json(self) -> dict[str, Any]:
        return {
            "licence_id": self.licence_id,
            "type_code": self.type_code,
            "issued_at": self.issued_at,
            "valid_to": self.valid_to,
        }


@dataclass(frozen=True)
class MaterialRef:
    """A material of the holder in the materials library (its id, type and when submitted)."""

    material_id: str
    type: str
    submitted_at: str
    issuer: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "material_id": self.material_id,
            "type": self.type,
            "submitted_at": self.submitted_at,
        }
        if self.issuer:
            out["issuer"] = self.issuer
        return out


class FormReads(Protocol):
    """What prefill reads, over the caller's stores."""

    def record(self, library: str, subject: str) -> GoldenRecord | None:
        """The subject's current golden record (winners only), None if unknown."""
        ...

    def licence(self, holder: str, type_code: str, on: dt.date) -> LicenceRef | None:
        """The holder's latest licence of the type valid on ``on``, None if none."""
        ...

    def materials(self, holder: str, type_code: str) -> Sequence[MaterialRef]:
        """The holder's materials of the type, still served (not withdrawn), newest first."""
        ...

    def department(self, dataset: str) -> str | None:
        """The department that delivers ``dataset`` (its contract), None if not known."""
        ...


@dataclass(frozen=True)
class Filled:
    """One field of a prefilled form."""

    key: str
    label: str
    kind: str
    status: Status
    value: str | None = None
    source: dict[str, Any] | None = None
    licence: LicenceRef | None = None
    materials: tuple[MaterialRef, ...] = ()
    note: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "key": self.key,
            "label": self.label,
            "kind": self.kind,
            "status": self.status,
            "value": self.value,
        }
        if self.source is not None:
            out["source"] = self.source
        if self.licence is not None:
            out["licence"] = self.licence.to_json()
        if self.kind == "material":
            out["materials"] = [m.to_json() for m in self.materials]
        if self.note:
            out["note"] = self.note
        return out


@dataclass(frozen=True)
class Prefilled:
    """A form prefilled for one applicant."""

    form: Form
    applicant: str
    on: dt.date
    fields: tuple[Filled, ...]
    read: frozenset[str]  # "library.field", "licences.<type>", "materials.<type>" shown

    @property
    def to_fill(self) -> list[str]:
        """The keys of the fields the applicant still fills in (or attaches)."""
        return [f.key for f in self.fields if f.status != "filled"]

    @property
    def filled_share(self) -> float:
        """Share of the form's fields filled (0..1)."""
        return sum(f.status == "filled" for f in self.fields) / len(self.fields)

    def to_json(self) -> dict[str, Any]:
        return {
            "form": self.form.id,
            "title_zh": self.form.title_zh,
            "department": self.form.department,
            "applicant": self.applicant,
            "as_of": self.on.isoformat(),
            "fields": [f.to_json() for f in self.fields],
            "to_fill": self.to_fill,
            "filled": sum(f.status == "filled" for f in self.fields),
            "total": len(self.fields),
        }


def age(born: dt.date, on: dt.date) -> int:
    """Whole years from ``born`` to ``on``."""
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def _derive(how: str, library: str, name: str, value: str, on: dt.date) -> str | None:
    """A derived field's value from its library value, None if it cannot be read."""
    if how == "age":
        try:
            return str(age(dt.date.fromisoformat(value[:10]), on))
        except ValueError:
            return None
    if how == "division_name":
        from schemas.divisions import division_table

        return division_table().full_name(value.strip())
    if how == "code_label":
        from schemas.library import code_table, library_schema

        table = library_schema(library).field(name).code_table
        return code_table(table).get(value) if table else None
    return None


def _stamp(value: Any) -> str:
    if isinstance(value, dt.datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return aware.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    return str(value).replace(" ", "T") + ("" if str(value).endswith("Z") else "Z")


class _Filler:
    def __init__(
        self, form: Form, subject: str, reads: FormReads, allows: Allows, on: dt.date
    ) -> None:
        self.form, self.subject, self.reads, self.allows, self.on = form, subject, reads, allows, on
        self.records: dict[tuple[str, str], GoldenRecord | None] = {}
        self.read: set[str] = set()

    def record(self, library: str, subject: str) -> GoldenRecord | None:
        key = (library, subject)
        if key not in self.records:
            self.records[key] = self.reads.record(library, subject)
        return self.records[key]

    def source(self, fact: FactView) -> dict[str, Any]:
        return {
            "dataset": fact.dataset,
            "department": self.reads.department(fact.dataset),
            "run_id": fact.run_id,
            "updated_at": _stamp(fact.observed_at),
            "authoritative": fact.authoritative,
        }

    def fact(self, f: FormField) -> FactView | Filled:
        """The library value a library or derived field rests on, or the field's outcome."""
        assert f.library is not None and f.name is not None
        subject = self.subject
        if f.via is not None:
            via_library, via_name = f.via
            if not self.allows(via_library, via_name):
                return self.empty(f, "not-granted", f"no grant of {via_library}.{via_name}")
            own = self.record(via_library, subject)
            link = own.fields.get(via_name) if own else None
            if link is None or not link.value:
                return self.empty(f, "not-held")
            from schemas.library import subject_key

            self.read.add(f"{via_library}.{via_name}")
            subject = subject_key(f.library, link.value)
        if not self.allows(f.library, f.name):
            return self.empty(f, "not-granted", f"no grant of {f.library}.{f.name}")
        rec = self.record(f.library, subject)
        fact = rec.fields.get(f.name) if rec else None
        if fact is None or fact.value in (None, ""):
            return self.empty(f, "not-held")
        return fact

    def empty(self, f: FormField, status: Status, note: str | None = None) -> Filled:
        return Filled(f.key, f.label, f.kind, status, note=note)

    def fill(self, f: FormField) -> Filled:
        if f.kind == "applicant":
            return self.empty(f, "applicant")
        if f.kind == "derived" and f.derivation == "applicant_id":
            return Filled(f.key, f.label, f.kind, "filled", self.subject)
        if f.kind in ("library", "derived"):
            found = self.fact(f)
            if isinstance(found, Filled):
                return found
            value: str | None = str(found.value)
            if f.kind == "derived":
                assert f.derivation and f.library and f.name
                value = _derive(f.derivation, f.library, f.name, str(found.value), self.on)
                if value is None:
                    return self.empty(f, "not-held", "the library value cannot be read")
            self.read.add(str(f.source))
            return Filled(f.key, f.label, f.kind, "filled", value, self.source(found))
        if f.kind == "licence":
            assert f.licence_type and f.licence_field
            if not self.allows(LICENCES, f.licence_type):
                return self.empty(f, "not-granted", f"no grant of licences {f.licence_type}")
            ref = self.reads.licence(self.subject, f.licence_type, self.on)
            if ref is None:
                return self.empty(f, "not-held", "no valid licence of this type")
            self.read.add(f"{LICENCES}.{f.licence_type}")
            index = {"licence_id": ref.licence_id, "issued_at": ref.issued_at}
            shown: str | None
            if f.licence_field == "valid_to":
                shown = ref.valid_to or "长期"  # long-term validity
            elif f.licence_field in index:
                shown = index[f.licence_field]
            else:
                shown = ref.fields.get(f.licence_field)
            if shown is None:  # the reference still spares the applicant the paper copy
                note = "the licence's document could not be read for this field"
                return Filled(f.key, f.label, f.kind, "not-held", None, licence=ref, note=note)
            return Filled(f.key, f.label, f.kind, "filled", shown, licence=ref)
        assert f.material is not None
        if not self.allows(MATERIALS, f.material):
            return self.empty(f, "not-granted", f"no grant of materials {f.material}")
        found_materials = tuple(self.reads.materials(self.subject, f.material))
        if not found_materials:
            return self.empty(f, "not-held", "no material of this type on file")
        self.read.add(f"{MATERIALS}.{f.material}")
        return Filled(
            f.key, f.label, f.kind, "filled", found_materials[0].material_id,
            materials=found_materials,
        )  # fmt: skip


def applicant_id(form: Form, raw: str) -> str:
    """The applicant's normalised ID for ``form`` (resident ID or USCC, as the library keys
    it); ValueError saying why ``raw`` is not one."""
    from schemas import resident_id, uscc
    from schemas.library import subject_key

    key = subject_key(form.library, raw)
    if form.applicant == "person":
        checked = resident_id.validate(key)
        if not checked.valid or checked.normalised is None:
            raise ValueError(f"not a resident ID number ({checked.reason})")
        return checked.normalised
    found = uscc.validate(key)
    if not found.valid or found.normalised is None:
        raise ValueError(f"not a unified social credit code ({found.reason})")
    return found.normalised


def prefill(form: Form, applicant: str, reads: FormReads, allows: Allows, on: dt.date) -> Prefilled:
    """``form`` filled for ``applicant`` (its normalised ID) as far as ``allows`` lets the caller
    read, on day ``on`` (ages and licence validity are as of that day)."""
    filler = _Filler(form, applicant, reads, allows, on)
    fields = tuple(filler.fill(f) for f in form.fields)
    return Prefilled(form, applicant, on, fields, frozenset(filler.read))


_LICENCE_TABLES: weakref.WeakSet[Engine] = (
    weakref.WeakSet()
)  # engines whose licence index tables exist


class StoreFormReads:
    """:class:`FormReads` over the hub's stores: the golden point reads, the licence index
    (with the documents in the object store for licence fields) and the materials library."""

    def __init__(
        self,
        engine: Engine,
        golden: Any,
        departments: Mapping[str, str],
        objects: Any = None,
        materials: Callable[[str, str], Sequence[MaterialRef]] | None = None,
    ) -> None:
        self.engine = engine
        self.golden = golden  # storage.library.GoldenReader
        self.departments = departments
        self.objects = objects
        self._materials = materials

    def record(self, library: str, subject: str) -> GoldenRecord | None:
        rows = self.golden.rows(library, subject)
        if not rows:
            return None
        winners = {
            str(name): FactView(str(value), str(ds), str(run), observed, bool(auth))
            for name, value, ds, run, observed, auth in rows
        }
        return GoldenRecord(library, subject, winners)

    def licence(self, holder: str, type_code: str, on: dt.date) -> LicenceRef | None:
        import json

        from sqlalchemy import and_, or_, select

        from licence.store import LicenceStore
        from licence.tables import licences

        if self.engine not in _LICENCE_TABLES:  # the index tables, on a fresh hub too
            LicenceStore(self.engine)
            _LICENCE_TABLES.add(self.engine)
        day = on.isoformat()
        stmt = (
            select(
                licences.c.licence_id,
                licences.c.issued_at,
                licences.c.valid_to,
                licences.c.object_key,
            )
            .where(
                and_(
                    licences.c.holder_id == holder,
                    licences.c.type_code == type_code,
                    licences.c.status == "valid",
                    licences.c.superseded_by.is_(None),
                    or_(licences.c.valid_to.is_(None), licences.c.valid_to >= day),
                )
            )
            .order_by(licences.c.issued_at.desc())
            .limit(1)
        )
        with self.engine.connect() as conn:
            row = conn.execute(stmt).first()
        if row is None:
            return None
        values: dict[str, str] = {}
        if self.objects is not None:
            try:
                from licence.document import values as disclosed

                doc = json.loads(self.objects.get(row.object_key))
                values = {k: str(v) for k, v in disclosed(doc).items()}
            except Exception:  # a reference is still useful without its fields
                values = {}
        return LicenceRef(row.licence_id, type_code, _stamp(row.issued_at), row.valid_to, values)

    def materials(self, holder: str, type_code: str) -> Sequence[MaterialRef]:
        return self._materials(holder, type_code) if self._materials else ()

    def department(self, dataset: str) -> str | None:
        return self.departments.get(dataset)
