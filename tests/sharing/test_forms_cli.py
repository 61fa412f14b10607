"""``hub forms list|show|prefill``: the forms, where each field comes from, a prefilled form."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

import hub.settings
from hub.cli import main
from hub.settings import Settings
from schemas import forms as catalogue
from storage.library import LibraryStore, engine_for
from tests.sharing.claims_fixtures import seed
from tests.sharing.test_forms import ELDER, seed_typical


@pytest.fixture
def hub_home(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    seed_typical(seed(LibraryStore(engine_for(settings.db_url))))
    monkeypatch.setattr(hub.settings, "_settings", settings)
    return settings


def test_forms_list_and_show() -> None:
    out = CliRunner().invoke(main, ["forms", "list"])
    assert out.exit_code == 0, out.output
    for form_id in catalogue.catalogue():
        assert form_id in out.output
    shown = CliRunner().invoke(main, ["forms", "show", "elderly-allowance"])
    assert "age of population.birth_date" in shown.output
    assert "the applicant enters it" in shown.output
    bad = CliRunner().invoke(main, ["forms", "show", "tax-return"])
    assert bad.exit_code != 0 and "known: " in bad.output


def test_forms_prefill_prints_values_with_their_sources(hub_home: Settings) -> None:
    run = CliRunner().invoke
    out = run(main, ["forms", "prefill", "elderly-allowance", ELDER, "--on", "2026-01-01"])
    assert out.exit_code == 0, out.output
    assert "年龄（周岁）: 81 [ps_household ps_household-2]" in out.output
    assert "津贴发放账户: (applicant)" in out.output
    as_json = run(main, ["forms", "prefill", "retirement", ELDER, "--json"])
    assert json.loads(as_json.output)["applicant"] == ELDER
    bad = run(main, ["forms", "prefill", "retirement", "12345"])
    assert bad.exit_code != 0 and "not a resident ID number" in bad.output
