"""``hub claims list`` and ``hub claims check``: the catalogue, and answers for staff."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

import hub.settings
from hub.cli import main
from hub.settings import Settings
from schemas import claims as catalogue
from storage.library import LibraryStore, engine_for
from tests.sharing.claims_fixtures import ALIVE, DISAGREE, LEGACY_15, NAMES, OPEN, seed


@pytest.fixture
def hub_home(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    seed(LibraryStore(engine_for(settings.db_url)))
    monkeypatch.setattr(hub.settings, "_settings", settings)
    return settings


def test_claims_list_shows_the_catalogue() -> None:
    out = CliRunner().invoke(main, ["claims", "list"])
    assert out.exit_code == 0
    for claim_id in catalogue.catalogue():
        assert claim_id in out.output
    assert "户籍证明" in out.output
    as_json = CliRunner().invoke(main, ["claims", "list", "--json"])
    assert [c["id"] for c in json.loads(as_json.output)] == list(catalogue.catalogue())


def test_claims_check_answers_with_an_exit_status(hub_home: Settings) -> None:
    run = CliRunner().invoke
    holds = run(main, ["claims", "check", LEGACY_15, "person.alive"])
    assert holds.exit_code == 0 and holds.output.strip().endswith("true"), holds.output
    no = run(main, ["claims", "check", ALIVE, "person.household_in", "division=340403"])
    assert no.exit_code == 1 and "false" in no.output
    unsure = run(main, ["claims", "check", DISAGREE, "person.marital_status_is", "status=10"])
    assert unsure.exit_code == 2 and "SOURCES_DISAGREE" in unsure.output
    dated = run(main, ["claims", "check", OPEN, "entity.in_operation", "--as-of", "2024-01-01"])
    assert dated.exit_code == 2 and "SUBJECT_UNKNOWN" in dated.output
    as_json = run(main, ["claims", "check", ALIVE, "person.age_at_least", "years=18", "--json"])
    assert json.loads(as_json.output) == {
        "type": "person.age_at_least",
        "params": {"years": 18},
        "holds": True,
    }
    for out in (holds, no, unsure, as_json):
        assert NAMES[ALIVE] not in out.output


def test_claims_check_refuses_bad_questions_plainly(hub_home: Settings) -> None:
    run = CliRunner().invoke
    bad = run(main, ["claims", "check", ALIVE, "person.household_in", "division=9"])
    assert bad.exit_code == 2 and bad.output.startswith("error:") and "division" in bad.output
    unknown = run(main, ["claims", "check", ALIVE, "person.rich"])
    assert unknown.exit_code == 2 and "unknown claim type" in unknown.output
    shape = run(main, ["claims", "check", ALIVE, "person.age_at_least", "18"])
    assert shape.exit_code == 2 and "NAME=VALUE" in shape.output
