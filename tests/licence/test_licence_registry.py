"""Licence types and authorities managed in the hub (`hub licence types`, `hub authority`):
seeded from the shipped YAML, added and changed without editing the repository, and a type
change never alters a licence already issued."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from licence_fixtures import PERSON_ID

import hub.settings
from hub.cli import main
from hub.settings import Settings
from licence import authorities
from licence.issuance import Holder
from licence.pdf import render_pdf
from licence.service import LicenceService
from licence.store import LicenceStore
from licence.tables import engine_for
from schemas import licence_types

CITY = "11340400MB1236007X"  # 淮南市民政局 (shipped)
NEW_AUTHORITY = "11340400MB123608X5"
PET_TYPE = """\
code: "11100000000014146K009"
name: 养犬登记证
name_en: Dog registration certificate
defined_by: "11100000000014146K"
holder_kind: person
issuer_kinds: [public_security, civil_affairs]
validity: {long_term_allowed: false, default_years: 1}
fields:
  - {key: dog_name, name: 犬名, name_en: Dog's name, type: string, required: true, max_length: 20}
  - {key: breed, name: 犬种, name_en: Breed, type: string, required: true, max_length: 20}
"""


@pytest.fixture(autouse=True)
def _yaml_registry_after() -> Iterator[None]:
    yield
    licence_types.use_registry(None)
    authorities.use_registry(None)


@pytest.fixture
def cli(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setattr(hub.settings, "_settings", settings)
    return CliRunner()


def test_a_new_hub_is_seeded_with_the_shipped_yaml(settings: Settings) -> None:
    store = LicenceStore(engine_for(settings.db_url))
    versions = store.type_versions()
    shipped = {lt.code for lt in licence_types.shipped().values()}
    assert set(versions) == shipped and all(len(v) == 1 for v in versions.values())
    assert store.authorities() == authorities.shipped()
    LicenceStore(engine_for(settings.db_url))  # opening again adds nothing
    assert store.type_versions() == versions


def _uscc_for_new_authority() -> str:
    from schemas import uscc

    body = "11340400" + "MB123608" + uscc.org_code_check("MB123608")
    return body + uscc.check_character(body)


def test_add_a_type_and_an_authority_then_issue(
    cli: CliRunner, service: LicenceService, tmp_path: Path
) -> None:
    new = _uscc_for_new_authority()
    path = tmp_path / "dog_registration.yaml"
    path.write_text(PET_TYPE, encoding="utf-8")
    out = cli.invoke(main, ["licence", "types", "add", str(path)])
    assert out.exit_code == 0 and "version 1" in out.output, out.output
    assert "养犬登记证" in cli.invoke(main, ["licence", "types", "list"]).output
    args = ["authority", "add", new, "--name", "淮南市公安局治安支队", "--division", "340400"]
    out = cli.invoke(main, [*args, "--kind", "public_security"])
    assert out.exit_code == 0, out.output
    out = cli.invoke(main, ["authority", "grant-type", new, "dog_registration"])
    assert out.exit_code == 0 and "11100000000014146K009" in out.output, out.output
    assert "养犬登记证" in cli.invoke(main, ["authority", "list"]).output
    service.create_seal(new)
    doc = service.issue(
        "养犬登记证", new, Holder(PERSON_ID, "张三"), {"dog_name": "旺财", "breed": "中华田园犬"}
    )
    assert ".11100000000014146K009." in doc["header"]["licence_id"]
    # the same command again changes nothing
    assert "unchanged" in cli.invoke(main, ["licence", "types", "add", str(path)]).output


def test_grant_type_needs_a_matching_kind(cli: CliRunner, service: LicenceService) -> None:
    out = cli.invoke(main, ["authority", "grant-type", CITY, "business_licence"])
    assert out.exit_code == 2 and "market_regulation" in out.output
    assert licence_types.get("business_licence").code not in authorities.get(CITY).may_issue


def test_bad_type_files_are_refused(cli: CliRunner, tmp_path: Path) -> None:
    cases = {
        "broken.yaml": "code: [",
        "no_fields.yaml": PET_TYPE.split("fields:")[0] + "fields: []\n",
        "bad_code.yaml": PET_TYPE.replace('"11100000000014146K009"', '"11100000000014146X009"'),
        "household_register.yaml": PET_TYPE,  # the name of another type
    }
    for name, text in cases.items():
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        out = cli.invoke(main, ["licence", "types", "add", str(path)])
        assert out.exit_code == 2 and out.output.startswith("error:"), (name, out.output)
    # a type's holder kind cannot change
    marriage = (licence_types.CATALOGUE_DIR / "marriage_certificate.yaml").read_text("utf-8")
    path = tmp_path / "marriage_certificate.yaml"
    path.write_text(marriage.replace("holder_kind: person", "holder_kind: entity"), "utf-8")
    out = cli.invoke(main, ["licence", "types", "add", str(path)])
    assert out.exit_code == 2 and "holder kind" in out.output


@pytest.mark.skipif(not shutil.which("pdftotext"), reason="needs pdftotext (poppler-utils)")
def test_a_type_change_never_alters_an_issued_licence(
    cli: CliRunner, service: LicenceService, settings: Settings, tmp_path: Path
) -> None:
    from licence.samples import sample_fields

    long_ago = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
    service.create_seal(CITY, now=long_ago)
    fields = sample_fields("divorce_certificate", 1, PERSON_ID)
    holder = Holder(PERSON_ID, "张三")
    before = service.issue("divorce_certificate", CITY, holder, fields, now=long_ago)
    lid = before["header"]["licence_id"]
    raw = service.raw(lid)
    text = (licence_types.CATALOGUE_DIR / "divorce_certificate.yaml").read_text("utf-8")
    changed = text.replace("name: 对方姓名", "name: 原配偶姓名").replace(
        "- {key: registration_office",
        "- {key: note, name: 备注, name_en: Note, type: string, "
        "required: false}\n  - {key: registration_office",
    )
    path = tmp_path / "divorce_certificate.yaml"
    path.write_text(changed, encoding="utf-8")
    out = cli.invoke(main, ["licence", "types", "add", str(path)])
    assert out.exit_code == 0 and "version 2" in out.output, out.output
    assert "# version 2" in cli.invoke(main, ["licence", "types", "show", "离婚证"]).output
    assert service.raw(lid) == raw  # the sealed licence is untouched
    licence_types.refresh()
    after = service.issue(
        "divorce_certificate", CITY, Holder(PERSON_ID, "张三"), {**fields, "note": "补领"}
    )

    def pdf_text(licence_id: str) -> str:
        pdf = tmp_path / "x.pdf"
        pdf.write_bytes(render_pdf(service, licence_id, settings.home / "cache" / "fonts"))
        return subprocess.run(
            ["pdftotext", str(pdf), "-"], capture_output=True, check=True, text=True
        ).stdout

    old, new = pdf_text(lid), pdf_text(after["header"]["licence_id"])
    assert "对方姓名" in old and "原配偶姓名" not in old  # drawn as it was sealed
    assert "原配偶姓名" in new and "补领" in new
