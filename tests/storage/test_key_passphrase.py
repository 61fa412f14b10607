"""Where the key-store passphrase comes from: a copy of HUB_HOME must not carry it along."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric import ec

import hub.settings
from hub.cli import main
from hub.settings import Settings
from storage.keys import MASTER_SECRET_FILE, EncryptedFileKeyStore, KeyStoreError


def _legacy_hub(home: Path) -> Settings:
    """A hub made with the demo default: keys/master.secret beside the keys."""
    settings = Settings(home=home, key_passphrase="", key_passphrase_file=None)
    settings.ensure_dirs()
    store = EncryptedFileKeyStore(settings.keys_path, settings.key_passphrase)
    store.save("platform-ca", ec.generate_private_key(ec.SECP256R1()))
    store.secret("cloudsign-master")
    assert (settings.keys_path / MASTER_SECRET_FILE).exists()
    return settings


def _move(settings: Settings, monkeypatch: pytest.MonkeyPatch, target: str) -> str:
    monkeypatch.setattr(hub.settings, "_settings", settings)
    out = CliRunner().invoke(main, ["init", "--move-passphrase", target])
    assert out.exit_code == 0, out.output
    return out.output


def test_moved_to_a_file_outside_home_a_copy_of_home_opens_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _legacy_hub(tmp_path / "hub")
    secret = EncryptedFileKeyStore(settings.keys_path).secret("cloudsign-master")
    outside = tmp_path / "etc" / "key.passphrase"
    output = _move(settings, monkeypatch, f"file:{outside}")
    assert f"HUB_KEY_PASSPHRASE_FILE={outside.resolve()}" in output
    assert not (settings.keys_path / MASTER_SECRET_FILE).exists()
    assert outside.stat().st_mode & 0o777 == 0o600
    # the hub keeps working with the file configured ...
    moved = Settings(home=settings.home, key_passphrase="", key_passphrase_file=outside)
    store = EncryptedFileKeyStore(moved.keys_path, moved.key_passphrase)
    assert store.secret("cloudsign-master") == secret
    assert isinstance(store.load("platform-ca"), ec.EllipticCurvePrivateKey)
    # ... while a copy of HUB_HOME alone opens no key, and no new passphrase is invented
    copy = tmp_path / "stolen"
    shutil.copytree(settings.home, copy)
    with pytest.raises(KeyStoreError, match="holds keys but no passphrase"):
        EncryptedFileKeyStore(copy / "keys", "")
    assert not (copy / "keys" / MASTER_SECRET_FILE).exists()


def test_moved_to_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _legacy_hub(tmp_path / "hub")
    value = (settings.keys_path / MASTER_SECRET_FILE).read_text().strip()
    output = _move(settings, monkeypatch, "env")
    assert f"HUB_KEY_PASSPHRASE={value}" in output
    monkeypatch.setenv("HUB_KEY_PASSPHRASE", value)
    monkeypatch.setenv("HUB_HOME", str(settings.home))
    from_env = Settings()
    assert EncryptedFileKeyStore(from_env.keys_path, from_env.key_passphrase).load("platform-ca")


def test_a_passphrase_file_inside_home_or_readable_by_others_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _legacy_hub(tmp_path / "hub")
    monkeypatch.setattr(hub.settings, "_settings", settings)
    inside = settings.home / "key.passphrase"
    out = CliRunner().invoke(main, ["init", "--move-passphrase", f"file:{inside}"])
    assert out.exit_code == 1 and "inside" in out.output and "Traceback" not in out.output
    assert (settings.keys_path / MASTER_SECRET_FILE).exists()  # nothing moved
    loose = tmp_path / "loose.passphrase"
    loose.write_text("x" * 40)
    loose.chmod(0o644)
    with pytest.raises(KeyStoreError, match="chmod 600"):
        Settings(home=settings.home, key_passphrase="", key_passphrase_file=loose)
    with pytest.raises(KeyStoreError, match="cannot be read"):
        Settings(home=settings.home, key_passphrase="", key_passphrase_file=tmp_path / "none")
    out = CliRunner().invoke(main, ["init", "--move-passphrase", "floppy"])
    assert out.exit_code == 1 and "file:PATH" in out.output


def test_a_bad_passphrase_file_is_a_clear_cli_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hub.settings, "_settings", None)
    monkeypatch.setenv("HUB_HOME", str(tmp_path / "hub"))
    monkeypatch.setenv("HUB_KEY_PASSPHRASE_FILE", str(tmp_path / "missing.passphrase"))
    monkeypatch.delenv("HUB_KEY_PASSPHRASE", raising=False)
    out = CliRunner().invoke(main, ["settings"])
    assert out.exit_code == 1
    assert "HUB_KEY_PASSPHRASE_FILE" in out.output and "cannot be read" in out.output
    assert out.exception is None or isinstance(out.exception, SystemExit)


def test_an_existing_demo_hub_keeps_working(tmp_path: Path) -> None:
    settings = _legacy_hub(tmp_path / "hub")
    again = EncryptedFileKeyStore(settings.keys_path, "")
    assert again.load("platform-ca") and again.secret("cloudsign-master")


@pytest.mark.services
def test_moved_to_the_pkcs11_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from servicekit import service_env

    from storage.keys import PASSPHRASE_LABEL
    from storage.pkcs11 import Pkcs11Token

    env = service_env()
    monkeypatch.setenv("SOFTHSM2_CONF", env["SOFTHSM2_CONF"])
    token = Pkcs11Token(env["HUB_PKCS11_MODULE"], env["HUB_PKCS11_TOKEN"], env["HUB_PKCS11_PIN"])
    if token.get_data(PASSPHRASE_LABEL) is not None:
        pytest.skip("this token already holds a hub key passphrase (from an earlier run)")
    token.close()
    hsm = {
        "pkcs11_module": env["HUB_PKCS11_MODULE"],
        "pkcs11_token": env["HUB_PKCS11_TOKEN"],
        "pkcs11_pin": env["HUB_PKCS11_PIN"],
    }
    home = tmp_path / "hub"
    settings = Settings(home=home, key_passphrase="", key_passphrase_file=None, **hsm)
    settings.ensure_dirs()
    store = EncryptedFileKeyStore(settings.keys_path, "")
    store.save("platform-ca", ec.generate_private_key(ec.SECP256R1()))
    output = _move(settings, monkeypatch, "pkcs11")
    assert "HUB_KEY_PASSPHRASE_FROM=pkcs11" in output
    assert not (settings.keys_path / MASTER_SECRET_FILE).exists()
    from_token = Settings(home=home, key_passphrase="", key_passphrase_from="pkcs11", **hsm)
    assert EncryptedFileKeyStore(from_token.keys_path, from_token.key_passphrase).load(
        "platform-ca"
    )
    try:
        with pytest.raises(KeyStoreError, match="C_Login"):
            Settings(
                home=home,
                key_passphrase="",
                key_passphrase_from="pkcs11",
                **{**hsm, "pkcs11_pin": "0"},
            )
    finally:  # leave the shared test token as it was
        from storage.pkcs11 import CK_ULONG, CKA_CLASS, CKA_LABEL, CKO_DATA

        token = Pkcs11Token(hsm["pkcs11_module"], hsm["pkcs11_token"], hsm["pkcs11_pin"])
        for handle in token._find([(CKA_CLASS, CKO_DATA), (CKA_LABEL, PASSPHRASE_LABEL)]):
            token.lib.C_DestroyObject(token.session, CK_ULONG(handle))
        token.close()
