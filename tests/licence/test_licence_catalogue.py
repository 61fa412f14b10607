"""The licence-type catalogue: at least ten high-frequency types, each with a GB/T 36904 code,
an authority of the demo city allowed to issue it, and a licence of it issued and rendered."""

from __future__ import annotations

from pathlib import Path

import pytest
from licence_fixtures import ENTITY_USCC, PERSON_ID

from hub.settings import Settings
from licence import authorities, document
from licence.pdf import render_pdf
from licence.samples import HUAINAN_ISSUERS, sample_fields
from licence.service import LicenceService
from schemas import licence_id, licence_types, uscc

STEMS = sorted(HUAINAN_ISSUERS)
HOLDERS = {"entity": (ENTITY_USCC, "长沙星辰餐饮有限公司"), "person": (PERSON_ID, "张三")}


def _types() -> dict[str, licence_types.LicenceType]:
    return {lt.code: lt for lt in licence_types.catalogue().values()}


def test_at_least_ten_types_with_both_holder_kinds() -> None:
    types = _types()
    assert len(types) >= 10
    kinds = {lt.holder_kind for lt in types.values()}
    assert kinds == {"entity", "person"}
    names = {lt.name for lt in types.values()}
    assert {"营业执照", "结婚证", "出生医学证明", "居民户口簿", "社会保障卡", "残疾人证"} <= names
    assert {"不动产权证书", "道路运输经营许可证", "药品经营许可证", "排污许可证"} <= names


@pytest.mark.parametrize("code", sorted(_types()))
def test_type_code_is_the_defining_uscc_plus_three_digits(code: str) -> None:
    lt = _types()[code]
    assert uscc.validate(lt.defined_by).valid
    assert code[:18] == lt.defined_by and code[18:].isdigit()
    # every name the PDF shows is in the PDF font (GB 2312)
    for text in [lt.name, *(f.name for f in lt.fields), *(v for f in lt.fields for v in f.values)]:
        text.encode("gb2312")
    assert len(lt.fields) >= 4


def test_every_type_has_a_demo_city_issuer() -> None:
    for stem, issuer in HUAINAN_ISSUERS.items():
        auth = authorities.get(issuer)
        assert auth.division == "340400"
        assert auth.allowed(licence_types.get(stem)), stem
    assert {licence_types.get(s).code for s in STEMS} == set(_types())


@pytest.fixture(scope="module")
def fonts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One font cache for the module (cutting the font down takes seconds)."""
    return tmp_path_factory.mktemp("fonts")


@pytest.mark.parametrize("stem", STEMS)
def test_each_type_issues_and_renders(
    service: LicenceService, settings: Settings, fonts: Path, stem: str
) -> None:
    lt = licence_types.get(stem)
    issuer = HUAINAN_ISSUERS[stem]
    service.create_seal(issuer)
    holder, name = HOLDERS[lt.holder_kind]
    from licence.issuance import Holder

    values = sample_fields(stem, 7, holder)
    for text in values.values():
        text.encode("gb2312")  # every character is in the PDF font
    doc = service.issue(stem, issuer, Holder(holder, name), values)
    lid = doc["header"]["licence_id"]
    assert licence_id.parse(lid).type_code == lt.code
    values = document.values(doc)
    assert values["证照类型名称"] == lt.name
    assert values["持证主体代码类型"] == ("001" if lt.holder_kind == "entity" else "111")
    pdf = render_pdf(service, lid, fonts)
    assert pdf.startswith(b"%PDF")
    out = settings.home / "pdf"
    out.mkdir(exist_ok=True)
    (out / f"{stem}.pdf").write_bytes(pdf)


def test_a_type_read_again_from_its_text_is_the_changed_type() -> None:
    # the registry's YAML is parsed once per exact text (it is read again every few seconds):
    # the same text gives the same type, and a changed text never gets the old one
    path = next(licence_types.CATALOGUE_DIR.glob("*.yaml"))
    text = path.read_text(encoding="utf-8")
    first = licence_types.parse_text(text, path.name)
    assert licence_types.parse_text(text, path.name) is first
    renamed = text.replace(f"name_en: {first.name_en}", "name_en: Renamed for the test", 1)
    assert renamed != text
    assert licence_types.parse_text(renamed, path.name).name_en == "Renamed for the test"
    with pytest.raises(licence_types.LicenceTypeError):
        licence_types.parse_text(text.replace("code:", "kode:", 1), path.name)
