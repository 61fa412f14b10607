"""Form definitions (零填报) and the material type catalogue, as data. Pure.

A form (``schemas/forms/*.yaml``) names its applicant kind (person or entity), the department
that owns it and its fields in order; each field says where its value comes from, exactly one of:

``library: population.name``
    a field of the applicant's golden record (``via: legal-entity.legal_rep_id_number``: of the
    record that field of the applicant's record names, e.g. the legal representative's mobile);
``derived: age | division_name | code_label | applicant_id`` (``of: library.field``)
    a value computed from a library field: age in whole years from a birth date, the division's
    full name from its GB/T 2260 code, a code's label from its code table, or the applicant's
    own normalised ID;
``licence: <type code>`` with ``field: licence_id | valid_to | issued_at | <field key>``
    the applicant's valid licence of that type (a reference, and the value of one of its fields);
``material: <material type>``
    documents of the materials library (:data:`MATERIALS_FILE`) the holder submitted before;
``applicant: true``
    the applicant enters it.

Loading refuses a form that names an unknown library field, licence type, licence field,
material type or derivation, so a typo fails at start-up, not on a citizen's request.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml

FORMS_DIR = Path(__file__).with_name("forms")
MATERIALS_FILE = Path(__file__).with_name("materials.yaml")

Kind = Literal["library", "derived", "licence", "material", "applicant"]
KINDS: tuple[str, ...] = ("library", "derived", "licence", "material", "applicant")
DERIVATIONS = ("age", "division_name", "code_label", "applicant_id")
APPLICANTS = ("person", "entity")
LIBRARY_OF = {"person": "population", "entity": "legal-entity"}
LICENCE_COLUMNS = ("licence_id", "valid_to", "issued_at")  # read from the licence index
_ID = re.compile(r"^[a-z][a-z0-9-]{1,40}$")
_KEY = re.compile(r"^[a-z][a-z0-9_]{0,40}$")


class FormError(ValueError):
    """A form or material type is unknown, or a definition file is malformed."""


@dataclass(frozen=True)
class MaterialType:
    code: str
    title_zh: str
    title_en: str
    holder: str  # person | entity | any


@dataclass(frozen=True)
class FormField:
    """One field of a form and where its value comes from (see the module docstring)."""

    key: str
    label: str
    kind: Kind
    library: str | None = None  # "population" | "legal-entity" (library, derived)
    name: str | None = None  # the library field (library, derived)
    via: tuple[str, str] | None = None  # (library, field) naming the related subject
    derivation: str | None = None
    licence_type: str | None = None
    licence_field: str | None = None
    material: str | None = None

    @property
    def source(self) -> str | None:
        """``library.field`` the value rests on (library and derived fields), else None."""
        return f"{self.library}.{self.name}" if self.library and self.name else None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"key": self.key, "label": self.label, "kind": self.kind}
        if self.source:
            out["from"] = self.source
        if self.via:
            out["via"] = ".".join(self.via)
        if self.derivation:
            out["derived"] = self.derivation
        if self.licence_type:
            out["licence_type"] = self.licence_type
            out["licence_field"] = self.licence_field
        if self.material:
            out["material"] = self.material
        return out


@dataclass(frozen=True)
class Form:
    id: str
    title_zh: str
    title_en: str
    applicant: str  # person | entity
    department: str
    fields: tuple[FormField, ...]

    @property
    def library(self) -> str:
        """The library the applicant's record is in."""
        return LIBRARY_OF[self.applicant]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title_zh": self.title_zh,
            "title_en": self.title_en,
            "applicant": self.applicant,
            "department": self.department,
            "fields": [f.to_json() for f in self.fields],
        }


def _library_field(form: str, key: str, ref: Any) -> tuple[str, str]:
    from schemas.library import library_schema

    if not isinstance(ref, str) or "." not in ref:
        raise FormError(f"form {form}: field {key}: expected library.field, got {ref!r}")
    library, _, name = ref.partition(".")
    try:
        library_schema(library).field(name)
    except KeyError as exc:
        raise FormError(f"form {form}: field {key}: {exc.args[0]}") from None
    return library, name


def _licence(form: str, key: str, code: Any, name: Any) -> tuple[str, str]:
    from schemas import licence_types

    try:
        lt = licence_types.shipped()[str(code)]
    except KeyError:
        raise FormError(f"form {form}: field {key}: no licence type {code!r}") from None
    name = str(name or "licence_id")
    if name not in LICENCE_COLUMNS:
        try:
            lt.field(name)
        except KeyError:
            known = ", ".join([*LICENCE_COLUMNS, *(f.key for f in lt.fields)])
            raise FormError(
                f"form {form}: field {key}: licence type {lt.name} has no field {name!r} "
                f"(known: {known})"
            ) from None
    return lt.code, name


def _field(form: str, applicant: str, entry: Any) -> FormField:
    if not isinstance(entry, dict):
        raise FormError(f"form {form}: every field is a mapping")
    key = entry.get("key")
    if not isinstance(key, str) or not _KEY.match(key):
        raise FormError(f"form {form}: field key {key!r} is not lower_snake_case")
    label = str(entry.get("label") or "")
    if not label:
        raise FormError(f"form {form}: field {key} has no label")
    given = [k for k in ("library", "derived", "licence", "material", "applicant") if k in entry]
    if len(given) != 1:
        raise FormError(
            f"form {form}: field {key} must name exactly one of library, derived, licence, "
            f"material, applicant (it names {', '.join(given) or 'none'})"
        )
    kind = given[0]
    own = LIBRARY_OF[applicant]
    if kind == "library":
        library, name = _library_field(form, key, entry["library"])
        via = None
        if "via" in entry:
            via = _library_field(form, key, entry["via"])
            if via[0] != own:
                raise FormError(f"form {form}: field {key}: via must be a field of {own}")
        elif library != own:
            raise FormError(
                f"form {form}: field {key}: {library} is not the applicant's library ({own}); "
                "name the field that links them with via"
            )
        return FormField(key, label, "library", library, name, via)
    if kind == "derived":
        how = entry["derived"]
        if how not in DERIVATIONS:
            raise FormError(
                f"form {form}: field {key}: derived must be one of {', '.join(DERIVATIONS)}"
            )
        if how == "applicant_id":
            return FormField(key, label, "derived", derivation=how)
        library, name = _library_field(form, key, entry.get("of"))
        if library != own:
            raise FormError(f"form {form}: field {key}: derive only from {own} fields")
        if how == "code_label":
            from schemas.library import library_schema

            if library_schema(library).field(name).code_table is None:
                raise FormError(f"form {form}: field {key}: {library}.{name} has no code table")
        return FormField(key, label, "derived", library, name, derivation=str(how))
    if kind == "licence":
        code, name = _licence(form, key, entry["licence"], entry.get("field"))
        return FormField(key, label, "licence", licence_type=code, licence_field=name)
    if kind == "material":
        code = str(entry["material"])
        if code not in material_types():
            known = ", ".join(material_types())
            raise FormError(f"form {form}: field {key}: no material type {code!r} ({known})")
        return FormField(key, label, "material", material=code)
    if entry["applicant"] is not True:
        raise FormError(f"form {form}: field {key}: applicant must be true")
    return FormField(key, label, "applicant")


def parse(data: Any, source: str = "<form>") -> Form:
    """A form from its parsed YAML; :class:`FormError` saying what is wrong."""
    if not isinstance(data, dict):
        raise FormError(f"{source}: expected a mapping")
    fid = data.get("id")
    if not isinstance(fid, str) or not _ID.match(fid):
        raise FormError(f"{source}: form id {fid!r} is not lower-case-with-dashes")
    applicant = data.get("applicant")
    if applicant not in APPLICANTS:
        raise FormError(f"form {fid}: applicant must be one of {', '.join(APPLICANTS)}")
    entries = data.get("fields")
    if not isinstance(entries, list) or not entries:
        raise FormError(f"form {fid}: fields must be a non-empty list")
    fields = tuple(_field(fid, str(applicant), e) for e in entries)
    keys = [f.key for f in fields]
    dupes = sorted({k for k in keys if keys.count(k) > 1})
    if dupes:
        raise FormError(f"form {fid}: field(s) declared twice: {', '.join(dupes)}")
    for name in ("title_zh", "title_en", "department"):
        if not isinstance(data.get(name), str) or not data[name]:
            raise FormError(f"form {fid}: {name} is required")
    return Form(
        fid,
        data["title_zh"],
        data["title_en"],
        str(applicant),
        data["department"],
        fields,
    )


def load(folder: Path = FORMS_DIR) -> dict[str, Form]:
    """Every form of a folder, by id, in file-name order."""
    out: dict[str, Form] = {}
    for path in sorted(folder.glob("*.yaml")):
        form = parse(yaml.safe_load(path.read_text(encoding="utf-8")), path.name)
        if form.id in out:
            raise FormError(f"{path.name}: form {form.id} is declared twice")
        out[form.id] = form
    return out


@cache
def catalogue() -> dict[str, Form]:
    """The hub's forms (read once)."""
    return load()


def get(form_id: str) -> Form:
    """A form by id; :class:`FormError` naming the known forms otherwise."""
    found = catalogue().get(form_id)
    if found is None:
        shown = form_id if len(form_id) <= 60 and form_id.isprintable() else repr(form_id[:60])
        raise FormError(f"unknown form {shown!r}; known: {', '.join(catalogue())}")
    return found


def load_materials(path: Path = MATERIALS_FILE) -> dict[str, MaterialType]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, list):
        raise FormError(f"{path.name}: expected a list of material types")
    out: dict[str, MaterialType] = {}
    for entry in data:
        if not isinstance(entry, dict) or not _KEY.match(str(entry.get("code", ""))):
            raise FormError(f"{path.name}: every material type needs a lower_snake_case code")
        code = str(entry["code"])
        holder = str(entry.get("holder", "any"))
        if holder not in (*APPLICANTS, "any"):
            raise FormError(f"{path.name}: {code}: holder must be person, entity or any")
        if code in out:
            raise FormError(f"{path.name}: material type {code} is declared twice")
        out[code] = MaterialType(
            code, str(entry.get("title_zh", "")), str(entry.get("title_en", "")), holder
        )
    return out


@cache
def material_types() -> dict[str, MaterialType]:
    """The material type catalogue (read once)."""
    return load_materials()
