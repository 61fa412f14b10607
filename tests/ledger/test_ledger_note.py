"""Signed notes and checkpoints: the Go sumdb/note vector, round trips, every malformed form."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.note import (
    Checkpoint,
    NoteError,
    Signer,
    Verifier,
    open_checkpoint,
    open_note,
    parse_note,
    sign_checkpoint,
    sign_note,
)

# golang.org/x/mod/sumdb/note documentation example (the reference signed-note implementation)
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = (
    b"If you think cryptography is the answer to your problem,\n"
    b"then you don't know what your problem is.\n"
)
GO_NOTE = (
    GO_TEXT
    + (
        "\n\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqd"
        "ngotpRZb6KE6RyyBwJnAM=\n"
    ).encode()
)


def _go_signer() -> Signer:
    seed = base64.b64decode(GO_SKEY.split("+", 4)[4])[1:]
    return Signer("PeterNeumann", Ed25519PrivateKey.from_private_bytes(seed))


def test_go_vector_signs_and_verifies_exactly() -> None:
    signer = _go_signer()
    assert signer.vkey() == GO_VKEY
    assert sign_note(GO_TEXT, [signer]) == GO_NOTE
    assert open_note(GO_NOTE, [Verifier.from_vkey(GO_VKEY)]) == GO_TEXT


def test_checkpoint_round_trip_and_origin() -> None:
    signer = Signer("example.gov/log", Ed25519PrivateKey.generate())
    cp = Checkpoint("example.gov/log", 42, bytes(range(32)), ("ext line",))
    note = sign_checkpoint(cp, signer)
    assert note.startswith(b"example.gov/log\n42\n" + base64.b64encode(bytes(range(32))) + b"\n")
    assert open_checkpoint(note, [signer.verifier()], origin="example.gov/log") == cp
    with pytest.raises(NoteError, match="origin"):
        open_checkpoint(note, [signer.verifier()], origin="other")
    other = Signer("example.gov/log", Ed25519PrivateKey.generate())
    with pytest.raises(NoteError, match="not signed by any trusted key"):
        open_checkpoint(note, [Verifier("x", other.public_key)])
    # same name, different key: different key id, so the signature is simply not trusted
    with pytest.raises(NoteError, match="not signed by any trusted key"):
        open_checkpoint(note, [other.verifier()])


def test_tampered_body_is_rejected() -> None:
    signer = _go_signer()
    bad = GO_NOTE.replace(b"answer", b"ANSWER")
    with pytest.raises(NoteError, match="does not verify"):
        open_note(bad, [signer.verifier()])


@pytest.mark.parametrize(
    "note",
    [
        b"no signatures\n",
        b"text\n\n",
        b"text\n\n\xe2\x80\x94 name AAAA\n",  # signature too short
        b"text\n\n- name AAAAAAAAAA==\n",  # not an em dash
        b"text\n\n\xe2\x80\x94 na me AAAAAAAAAA==\n",
        b"text\n\n\xe2\x80\x94 name AAAAAAAAAA==",  # no final newline
        b"text\n\n\xe2\x80\x94 name !!!!\n",
        b"te\x01xt\n\n\xe2\x80\x94 name AAAAAAAAAA==\n",
        b"\xff\n\n\xe2\x80\x94 name AAAAAAAAAA==\n",
    ],
)
def test_malformed_notes_are_rejected(note: bytes) -> None:
    with pytest.raises(NoteError):
        parse_note(note)


@pytest.mark.parametrize(
    "body",
    [
        b"origin\n42\n",
        b"\n42\n" + base64.b64encode(bytes(32)) + b"\n",
        b"origin\n042\n" + base64.b64encode(bytes(32)) + b"\n",
        b"origin\n-1\n" + base64.b64encode(bytes(32)) + b"\n",
        b"origin\n18446744073709551616\n" + base64.b64encode(bytes(32)) + b"\n",
        b"origin\n1\n" + base64.b64encode(bytes(31)) + b"\n",
        b"origin\n1\n" + base64.b64encode(bytes(32)),
        b"origin\n1\n" + base64.b64encode(bytes(32)) + b"\n\n",
    ],
)
def test_malformed_checkpoints_are_rejected(body: bytes) -> None:
    with pytest.raises(NoteError):
        Checkpoint.from_note_body(body)


def test_vkey_parsing_rejects_wrong_ids() -> None:
    name, hexid, key = GO_VKEY.split("+", 2)
    with pytest.raises(NoteError, match="does not match"):
        Verifier.from_vkey(f"{name}+00000000+{key}")
    with pytest.raises(NoteError, match="does not match"):
        Verifier.from_vkey(f"Other+{hexid}+{key}")
    with pytest.raises(NoteError):
        Verifier.from_vkey("just-a-name")
