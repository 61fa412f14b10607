"""The hub command line: check command behaviour, exit codes, and cheap start-up."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from hub.cli import COMMANDS, main


def test_check_prints_each_value_and_exits_1_when_one_is_invalid() -> None:
    result = CliRunner().invoke(main, ["check", "id", "11010519491231002X", "110105194912310021"])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0].startswith("11010519491231002X\tvalid")
    assert lines[1].startswith("110105194912310021\tCHECKSUM\t")


def test_check_all_valid_exits_0() -> None:
    result = CliRunner().invoke(main, ["check", "uscc", "91110000600037341L", "91350100M000100Y43"])
    assert result.exit_code == 0, result.output


def test_check_reads_stdin_and_prints_json() -> None:
    stdin = "91110000600037341L\n9111000060003IOZSV\n"
    result = CliRunner().invoke(main, ["check", "uscc", "-", "--json"], input=stdin)
    assert result.exit_code == 1
    rows = json.loads(result.output)
    assert [r["valid"] for r in rows] == [True, False]
    assert rows[1]["reason"] == "CHARSET"
    assert set(rows[0]) == {"value", "valid", "reason", "normalised", "details"}
    assert rows[0]["details"]["entity_type"] == "企业"


def test_check_licence_id() -> None:
    value = "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.U"
    result = CliRunner().invoke(main, ["check", "licence-id", value, "--json"])
    assert result.exit_code == 0
    assert json.loads(result.output)[0]["details"]["serial"] == "20230000403"


def test_help_lists_every_command_without_importing_heavy_libraries() -> None:
    code = (
        "import sys\n"
        "from hub.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('airflow', 'great_expectations', 'pandas', 'fastapi') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY []" in out.stdout
    for name in COMMANDS:
        assert name in out.stdout


def test_a_command_whose_module_cannot_be_imported_fails_loudly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The lazy loader never turns a broken command module into "No such command"."""
    monkeypatch.setitem(COMMANDS, "broken", ("hub.commands.not_a_module", "broken", "Broken."))
    result = CliRunner().invoke(main, ["broken", "--help"])
    assert isinstance(result.exception, ModuleNotFoundError)
    assert "hub.commands.not_a_module" in str(result.exception)
    assert "No such command" not in result.output


def test_unknown_command_is_a_clear_error() -> None:
    result = CliRunner().invoke(main, ["frobnicate"])
    assert result.exit_code == 2
    assert "No such command" in result.output


def test_settings_never_prints_a_secret(monkeypatch: object, tmp_path: object) -> None:
    env = {
        "HUB_HOME": str(tmp_path),
        "HUB_DATABASE_URL": "postgresql+psycopg://hub:s3cr3t-pw@127.0.0.1:55432/hub",
        "HUB_PKCS11_PIN": "9731",
        "HUB_KEY_PASSPHRASE": "correct horse",
        "HUB_MINIO_SECRET_KEY": "minio-s3cr3t",
    }
    result = CliRunner().invoke(main, ["settings"], env=env)
    assert result.exit_code == 0, result.output
    for secret in ("s3cr3t-pw", "9731", "correct horse", "minio-s3cr3t"):
        assert secret not in result.output
    shown = json.loads(result.output)
    assert shown["database_url"] == "postgresql+psycopg://***@127.0.0.1:55432/hub"
