"""Forms fill themselves (零填报): the five demo forms are mostly prefilled from the libraries,
licences and materials, with each value's source; a field the caller is not granted is never
filled; a malformed form definition fails loading with a message naming the field."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from schemas import forms as catalogue
from schemas.contracts import load_contracts
from sharing.forms import MaterialRef, Prefilled, StoreFormReads, allow_all, prefill
from storage.library import GoldenReader, LibraryStore, engine_for
from tests.sharing.claims_fixtures import (
    DAY1,
    DAY2,
    OPEN,
    add_licence,
    entity_id,
    person_id,
    seed,
)

ON = dt.date(2026, 1, 1)
ELDER = person_id("340402", "19440315", "128")  # a typical demo resident, 81 on ON
COMPANY = entity_id("340402", "MA2N0010")  # a typical demo company, ELDER its representative
BUSINESS, FOOD, HOUSEHOLD, SSCARD = (
    "11100000000013338W001",
    "11100000000013338W002",
    "11100000000013127D001",
    "11100000000000131E002",
)


def seed_typical(store: LibraryStore) -> None:
    """One resident and one company with every field the demo departments deliver."""
    store.merge(
        "population",
        "ps_household-2",
        "ps_household",
        DAY1,
        [ELDER],
        {
            "name": ["周桂兰"],
            "sex": ["2"],
            "ethnic_group": ["01"],
            "birth_date": ["1944-03-15"],
            "household_division": ["340402"],
            "household_address": ["安徽省淮南市大通区舜耕路18号"],
            "mobile": ["13905540001"],
            "marital_status": ["20"],
            "education": ["30"],
        },
        ["name", "sex", "ethnic_group", "birth_date", "household_division", "household_address"],
    )
    store.merge(
        "population",
        "hrss_insurance-2",
        "hrss_insurance",
        DAY2,
        [ELDER],
        {"social_insurance_status": ["1"], "mobile": ["13905540001"]},
        ["social_insurance_status"],
    )
    store.merge(
        "legal-entity",
        "mr_enterprise-2",
        "mr_enterprise",
        DAY1,
        [COMPANY],
        {
            "entity_name": ["淮南市田家庵区示范餐饮有限公司"],
            "legal_rep_name": ["周桂兰"],
            "legal_rep_id_number": [ELDER],
            "registered_capital": ["500000.00"],
            "capital_currency": ["CNY"],
            "established_date": ["2018-06-01"],
            "registered_address": ["安徽省淮南市田家庵区洞山中路9号"],
            "registered_division": ["340402"],
            "registration_authority": ["淮南市田家庵区市场监督管理局"],
            "registration_status": ["1"],
            "industry": ["I"],
        },
        ["entity_name", "legal_rep_name", "legal_rep_id_number", "registered_address"],
    )


class Materials:
    """The materials library as prefill sees it: a few materials on file."""

    def __init__(self) -> None:
        self.held: dict[tuple[str, str], list[MaterialRef]] = {}

    def add(self, holder: str, kind: str) -> None:
        ref = MaterialRef(f"M-{holder}-{kind}", kind, "2025-02-01T08:00:00Z")
        self.held.setdefault((holder, kind), []).append(ref)

    def __call__(self, holder: str, kind: str) -> list[MaterialRef]:
        return self.held.get((holder, kind), [])


@pytest.fixture(scope="module")
def reads(tmp_path_factory: pytest.TempPathFactory) -> StoreFormReads:
    path: Path = tmp_path_factory.mktemp("forms") / "hub.db"
    store = seed(LibraryStore(engine_for(f"sqlite:///{path}")))
    seed_typical(store)
    add_licence(store, ELDER, HOUSEHOLD, holder_kind="person", serial=10)
    add_licence(store, ELDER, SSCARD, holder_kind="person", serial=11)
    add_licence(store, COMPANY, BUSINESS, serial=12)
    add_licence(store, OPEN, FOOD, serial=13)
    materials = Materials()
    materials.add(ELDER, "id_photo")  # submitted once, for an earlier application
    materials.add(COMPANY, "premises_proof")
    departments = {k: c.department for k, c in load_contracts().items()}
    return StoreFormReads(store.engine, GoldenReader(store), departments, None, materials)


def fill(reads: StoreFormReads, form_id: str, subject: str, allows: Any = allow_all) -> Prefilled:
    return prefill(catalogue.get(form_id), subject, reads, allows, ON)


def test_five_forms_are_declared_on_the_demo_data() -> None:
    titles = {f.title_zh for f in catalogue.catalogue().values()}
    assert {"高龄津贴申请表", "退休一件事联办申请表", "企业开办登记表"} <= titles
    assert {"食品经营许可申请书", "社会保险参保登记表"} <= titles


def test_a_typical_person_and_company_find_most_fields_filled(reads: StoreFormReads) -> None:
    filled = total = 0
    for form in catalogue.catalogue().values():
        subject = ELDER if form.applicant == "person" else COMPANY
        out = fill(reads, form.id, subject)
        filled += sum(f.status == "filled" for f in out.fields)
        total += len(out.fields)
        assert out.filled_share >= 0.7, (form.id, out.to_fill)
    assert filled / total >= 0.8, f"{filled}/{total}"


def test_values_carry_their_source_and_derivations_are_computed(reads: StoreFormReads) -> None:
    out = {f.key: f for f in fill(reads, "elderly-allowance", ELDER).fields}
    assert out["name"].value == "周桂兰"
    assert out["name"].source == {
        "dataset": "ps_household",
        "department": "省公安厅 Public Security Department",
        "run_id": "ps_household-2",
        "updated_at": "2025-01-10T08:00:00Z",
        "authoritative": True,
    }
    assert out["age"].value == "81"
    assert out["sex"].value == "女性"
    assert out["household_division"].value == "安徽省淮南市大通区"
    assert out["id_number"].value == ELDER
    assert out["mobile"].source is not None and not out["mobile"].source["authoritative"]
    assert out["household_register"].licence is not None
    assert out["photo"].value == f"M-{ELDER}-id_photo"
    assert out["bank_account"].status == "applicant"


def test_a_representatives_field_comes_through_the_company(reads: StoreFormReads) -> None:
    out = {f.key: f for f in fill(reads, "food-business-permit", COMPANY).fields}
    assert out["legal_rep_mobile"].value == "13905540001"
    assert out["previous_permit"].status == "not-held"  # a first application: no permit yet
    assert out["floor_plan"].status == "not-held"
    assert out["main_format"].status == "applicant"


def test_an_unknown_applicant_gets_an_empty_form_to_fill(reads: StoreFormReads) -> None:
    out = fill(reads, "retirement", person_id("340402", "19600101", "999"))
    filled = [f.key for f in out.fields if f.status == "filled"]
    assert filled == ["id_number"]
    assert set(out.to_fill) == {f.key for f in out.fields} - {"id_number"}


GRANTABLE = sorted(
    {
        (scope, name)
        for form in catalogue.catalogue().values()
        for f in form.fields
        for scope, name in ([(f.library, f.name)] if f.library and f.name else [])
        + ([f.via] if f.via else [])
        + ([("licences", f.licence_type)] if f.licence_type else [])
        + ([("materials", f.material)] if f.material else [])
    }
)


@hsettings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    granted=st.sets(st.sampled_from(GRANTABLE)),
    form_id=st.sampled_from(sorted(catalogue.catalogue())),
)
def test_an_ungranted_field_is_never_filled(
    reads: StoreFormReads, granted: set[tuple[str, str]], form_id: str
) -> None:
    form = catalogue.get(form_id)
    subject = ELDER if form.applicant == "person" else COMPANY
    out = prefill(form, subject, reads, lambda s, n: (s, n) in granted, ON)
    for spec, got in zip(form.fields, out.fields, strict=True):
        needs = set()
        if spec.library and spec.name:
            needs.add((spec.library, spec.name))
        if spec.via:
            needs.add(spec.via)
        if spec.licence_type:
            needs.add(("licences", spec.licence_type))
        if spec.material:
            needs.add(("materials", spec.material))
        if needs - granted:
            assert got.status == "not-granted" and got.value is None and got.source is None
            assert got.licence is None and not got.materials
        shown = {r for r in out.read}
        assert all(tuple(r.split(".", 1)) in granted for r in shown)


def _form(tmp_path: Path, **change: Any) -> Path:
    data = yaml.safe_load((catalogue.FORMS_DIR / "retirement.yaml").read_text(encoding="utf-8"))
    data["fields"].append(change)
    (tmp_path / "x.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ({"key": "x", "label": "X", "library": "population.nmae"}, "no field 'nmae'"),
        ({"key": "x", "label": "X", "derived": "zodiac", "of": "population.birth_date"}, "derived"),
        ({"key": "x", "label": "X", "licence": "nope"}, "no licence type"),
        ({"key": "x", "label": "X", "licence": BUSINESS, "field": "colour"}, "no field 'colour'"),
        ({"key": "x", "label": "X", "material": "selfie"}, "no material type"),
        ({"key": "x", "label": "X", "library": "legal-entity.entity_name"}, "via"),
        ({"key": "x", "label": "X", "applicant": True, "material": "id_photo"}, "exactly one"),
        ({"key": "name", "label": "X", "applicant": True}, "declared twice"),
    ],
)
def test_a_malformed_form_fails_loading_naming_the_field(
    tmp_path: Path, field: dict[str, Any], message: str
) -> None:
    with pytest.raises(catalogue.FormError, match=message):
        catalogue.load(_form(tmp_path, **field))


def test_an_unknown_form_names_the_known_ones() -> None:
    with pytest.raises(catalogue.FormError, match=r"known: .*retirement"):
        catalogue.get("tax-return")


class Documents:
    """An object store holding one sealed licence document (what issuance stores)."""

    def get(self, key: str) -> bytes:
        assert key == "licences/test.json"
        doc = {"fields": {"permit_number": {"value": "JY13404020000017"}}, "header": {}}
        return json.dumps(doc).encode()


def test_a_licence_field_is_read_from_the_licence_document(reads: StoreFormReads) -> None:
    with_docs = StoreFormReads(reads.engine, reads.golden, reads.departments, Documents())
    out = {f.key: f for f in fill(with_docs, "food-business-permit", OPEN).fields}
    assert out["previous_permit"].value == "JY13404020000017"
    assert out["previous_permit"].licence is not None
    without = {f.key: f for f in fill(reads, "food-business-permit", OPEN).fields}
    assert without["previous_permit"].status == "not-held"
    assert without["previous_permit"].licence is not None  # the reference is still given
