"""Receipts are attached by the anchoring round (``hub ledger checkpoint`` and the ``anchor``
DAG), never by a reader: `hub licence show` only reads."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

import hub.settings
from hub.cli import main
from hub.settings import Settings
from hub.wiring import ledger_service
from tests.licence.licence_fixtures import issue_by_cli


def _issue(settings: Settings, run: CliRunner) -> str:
    assert run.invoke(main, ["init"]).exit_code == 0
    return issue_by_cli(settings.db_url, run)


def test_showing_a_licence_attaches_nothing_the_checkpoint_does(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hub.settings, "_settings", settings)
    run = CliRunner()
    lid = _issue(settings, run)
    ledger_service(settings).sequence()  # sequenced by someone else: a receipt exists now
    shown = json.loads(run.invoke(main, ["licence", "show", lid]).output)
    assert shown["receipt"] is None  # the reader did not attach it
    out = run.invoke(main, ["ledger", "checkpoint"])
    assert out.exit_code == 0, out.output
    shown = json.loads(run.invoke(main, ["licence", "show", lid]).output)
    assert shown["receipt"] is not None


def test_verifying_or_disclosing_a_licence_stores_nothing(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    # the receipt is read from the ledger for the verdict and the disclosed copy, not stored
    monkeypatch.setattr(hub.settings, "_settings", settings)
    run = CliRunner()
    lid = _issue(settings, run)
    ledger_service(settings).sequence()
    bare = tmp_path / "licence.json"  # the sealed document alone: online, the ledger has it
    document = json.loads(run.invoke(main, ["licence", "show", lid]).output)["document"]
    bare.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    out = run.invoke(main, ["verify", str(bare), "--json"])
    assert json.loads(out.output)["verdict"] == "TOTAL_PASSED", out.output
    copy = tmp_path / "copy.json"
    out = run.invoke(main, ["licence", "disclose", lid, "--hide", "address", "-o", str(copy)])
    assert out.exit_code == 0, out.output
    assert json.loads(copy.read_text(encoding="utf-8"))["receipt"] is not None
    shown = json.loads(run.invoke(main, ["licence", "show", lid]).output)
    assert shown["receipt"] is None  # still for the anchoring round to attach


def test_the_anchor_dag_runs_one_round(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """One task, which sequences, anchors and attaches (the receipt appears without any
    reader)."""
    monkeypatch.setattr(hub.settings, "_settings", settings)
    from dags.anchor import anchor_dag

    (task,) = anchor_dag.tasks
    assert task.task_id == "anchor_and_attach"
    lid = _issue(settings, CliRunner())
    done = task.python_callable()
    assert done["receipts_attached"] == 1 and done["checkpoint_size"] >= 1
    shown = json.loads(CliRunner().invoke(main, ["licence", "show", lid]).output)
    assert shown["receipt"] is not None
