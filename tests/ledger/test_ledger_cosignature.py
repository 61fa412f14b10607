"""C2SP tlog-cosignature (Ed25519 cosignature/v1): the specification's example, tamper cases,
and an independent implementation (transparency-dev/formats, Go) reading ours and ours
reading its."""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.cosignature import (
    CosignatureVerifier,
    Cosigner,
    add_cosignatures,
    cosignatures,
    require_cosigners,
    signed_message,
)
from ledger.note import Checkpoint, NoteError, Signer, open_note, sign_checkpoint

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "tests/reference/cosignature"

# the specification's example checkpoint, its cosignature line and the message it signs
SPEC_BODY = b"example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
SPEC_LINE = (
    "\u2014 witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9"
    "dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA=="
)
SPEC_MESSAGE = (
    b"cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\n"
    b"CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
)


def _log_note(size: int = 5) -> tuple[bytes, Signer]:
    log = Signer("example.gov/log", Ed25519PrivateKey.generate())
    return sign_checkpoint(Checkpoint("example.gov/log", size, b"\x11" * 32), log), log


def test_the_signed_message_is_the_specifications_example() -> None:
    assert signed_message(SPEC_BODY, 1679315147) == SPEC_MESSAGE


def test_the_specifications_cosignature_bytes_are_keyid_time_signature() -> None:
    raw = base64.b64decode(SPEC_LINE.split(" ")[2])
    assert len(raw) == 4 + 8 + 64
    assert struct.unpack(">Q", raw[4:12]) == (1679315147,)  # the example's "time" line
    # ours are laid out alike: key id, big-endian time, 64-byte Ed25519 signature
    witness = Cosigner("witness.example.com/w1", Ed25519PrivateKey.generate())
    ours = base64.b64decode(witness.cosign(SPEC_BODY, 1679315147).split(" ")[2])
    assert len(ours) == 76 and ours[4:12] == raw[4:12]


def test_the_key_id_commits_to_name_and_the_cosignature_algorithm_byte() -> None:
    witness = Cosigner("witness.example/w1", Ed25519PrivateKey.generate())
    expected = hashlib.sha256(b"witness.example/w1\n\x04" + witness.public_key).digest()[:4]
    assert witness.key_id == expected
    vkey = witness.verifier().vkey()
    assert CosignatureVerifier.from_vkey(vkey) == witness.verifier()
    with pytest.raises(NoteError, match="does not match"):
        CosignatureVerifier.from_vkey(vkey.replace(vkey.split("+")[1], "00000000"))


def test_a_cosigned_note_still_opens_for_the_log_and_names_its_witnesses() -> None:
    note, log = _log_note()
    body = open_note(note, [log.verifier()])
    w1 = Cosigner("w1.example", Ed25519PrivateKey.generate())
    w2 = Cosigner("w2.example", Ed25519PrivateKey.generate())
    cosigned = add_cosignatures(note, w1.cosign(body, 100) + w2.cosign(body, 200))
    assert open_note(cosigned, [log.verifier()]) == body  # the log's own check ignores them
    found = cosignatures(cosigned, [w1.verifier(), w2.verifier()])
    assert [(c.name, c.timestamp) for c in found] == [("w1.example", 100), ("w2.example", 200)]
    assert len(require_cosigners(cosigned, [w1.verifier(), w2.verifier()], 2)) == 2
    stranger = Cosigner("w3.example", Ed25519PrivateKey.generate())
    with pytest.raises(NoteError, match="cosigned by 0 of 1 known witnesses"):
        require_cosigners(cosigned, [stranger.verifier()], 1)


@pytest.mark.parametrize("part", ["time", "signature", "body"])
def test_an_altered_cosignature_is_refused(part: str) -> None:
    note, log = _log_note()
    body = open_note(note, [log.verifier()])
    witness = Cosigner("w1.example", Ed25519PrivateKey.generate())
    line = witness.cosign(body, 1_700_000_000)
    name, b64 = line[2:].split()
    raw = bytearray(base64.b64decode(b64))
    if part == "time":
        raw[11] ^= 1
    elif part == "signature":
        raw[40] ^= 1
    cosigned = add_cosignatures(note, f"\u2014 {name} {base64.b64encode(raw).decode()}\n")
    if part == "body":  # the witness's line moved onto another checkpoint of the log
        other = sign_checkpoint(Checkpoint("example.gov/log", 6, b"\x22" * 32), log)
        cosigned = add_cosignatures(other, line)
    with pytest.raises(NoteError, match="does not verify"):
        cosignatures(cosigned, [witness.verifier()])


def _seed(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """transparency-dev/formats' cosignature implementation, built from tests/reference."""
    go = shutil.which("go")
    assert go, "Go is needed (the chaincode's tests use it too)"
    out = tmp_path_factory.mktemp("reference") / "cosig"
    env = {**os.environ, "GOTOOLCHAIN": "local", "GOFLAGS": "-mod=readonly"}
    subprocess.run([go, "build", "-o", str(out), "."], cwd=REFERENCE, env=env, check=True)
    return out


def test_the_reference_implementation_verifies_our_cosignature(
    reference: Path, tmp_path: Path
) -> None:
    note, log = _log_note()
    witness = Cosigner("witness.example/w1", Ed25519PrivateKey.generate())
    body = open_note(note, [log.verifier()])
    path = tmp_path / "note"
    path.write_bytes(add_cosignatures(note, witness.cosign(body, 1_765_000_000)))
    got = subprocess.run(
        [str(reference), "verify", witness.verifier().vkey(), str(path)],
        capture_output=True,
        text=True,
    )
    assert got.returncode == 0, got.stderr
    assert got.stdout.strip() == "1765000000"
    # and it refuses the same line on another checkpoint
    other = sign_checkpoint(Checkpoint("example.gov/log", 9, b"\x33" * 32), log)
    path.write_bytes(add_cosignatures(other, witness.cosign(body, 1_765_000_000)))
    got = subprocess.run(
        [str(reference), "verify", witness.verifier().vkey(), str(path)],
        capture_output=True,
        text=True,
    )
    assert got.returncode != 0


def test_we_verify_the_reference_implementations_cosignature(
    reference: Path, tmp_path: Path
) -> None:
    note, _log = _log_note()
    key = Ed25519PrivateKey.generate()
    witness = Cosigner("witness.example/w2", key)
    skey = "PRIVATE+KEY+witness.example/w2+{}+{}".format(
        witness.key_id.hex(), base64.b64encode(b"\x04" + _seed(key)).decode()
    )
    path = tmp_path / "note"
    path.write_bytes(note)
    signed = subprocess.run(
        [str(reference), "sign", skey, str(path)], capture_output=True, check=True
    ).stdout
    (found,) = cosignatures(signed, [witness.verifier()])
    assert found.name == "witness.example/w2" and found.timestamp > 1_700_000_000
