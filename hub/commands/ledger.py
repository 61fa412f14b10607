"""``hub ledger``: append entries, sequence checkpoints, print proofs and verify receipts."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from ledger.service import LedgerService


def _service() -> LedgerService:
    from hub.settings import get_settings
    from hub.wiring import ledger_service

    return ledger_service(get_settings())


def _fail(exc: Exception) -> None:
    raise click.ClickException(str(exc)) from exc


@click.group()
def ledger() -> None:
    """The tamper-evident Merkle log (RFC 9162) and its signed checkpoints."""


@ledger.command()
@click.argument("data", required=False)
@click.option("--lines", "lines", type=click.File("rb"), help="one entry per line (- for stdin)")
def append(data: str | None, lines: Any) -> None:
    """Queue DATA (its UTF-8 bytes) or every line of --lines FILE as entries; prints entry ids."""
    from ledger.log_reader import LedgerError

    if (data is None) == (lines is None):
        raise click.UsageError("give exactly one of DATA or --lines FILE")
    items = (
        [data.encode()]
        if data is not None
        else [line[:-1] if line.endswith(b"\n") else line for line in lines]
    )
    try:
        ids = _service().append_many(items)
    except LedgerError as exc:
        _fail(exc)
    for entry_id in ids:
        click.echo(entry_id)


@ledger.command()
def checkpoint() -> None:
    """Sequence everything pending, print the new signed checkpoint and attach the licences'
    receipts (what the anchor DAG does every few minutes)."""
    from hub.settings import get_settings
    from hub.wiring import licence_service
    from ledger.anchor import AnchorError
    from ledger.log_reader import LedgerError
    from licence.receipts import anchor_and_attach

    licences = licence_service(get_settings())
    svc = licences.ledger
    try:
        signed = anchor_and_attach(licences).checkpoint
    except (LedgerError, AnchorError) as exc:
        _fail(exc)
    if signed is None:
        raise click.ClickException("the log is empty: append entries first")
    sys.stdout.write(signed.note.decode())
    sys.stdout.flush()  # the note, then the anchoring line on stderr
    ref = signed.anchor
    if ref is not None:
        block = "" if ref.block is None else f", block {ref.block}"
        click.echo(f"anchored on the {ref.backend} anchor: {ref.reference}{block}", err=True)
    elif svc.anchor is not None:  # a remote anchor that could not be reached: retried later
        waiting = len(svc.queued_anchors())
        click.echo(
            f"not anchored yet: {waiting} checkpoint(s) queued for the {svc.anchor.name} anchor "
            "(unreachable; the next sequencing retries)",
            err=True,
        )


@ledger.command()
@click.argument("index", type=int)
@click.option("--size", type=int, help="tree size (default: latest checkpoint)")
@click.option("--json", "as_json", is_flag=True, help="JSON with hex hashes")
def prove(index: int, size: int | None, as_json: bool) -> None:
    """Print the inclusion proof of entry INDEX."""
    from ledger.log_reader import LedgerError
    from ledger.merkle import ProofError

    svc = _service()
    try:
        if size is None:
            latest = svc.latest_checkpoint()
            if latest is None:
                raise LedgerError("no checkpoint yet: run hub ledger checkpoint")
            size = latest[0].size
        path = svc.inclusion_proof(index, size)
        root = svc.root(size)
    except (LedgerError, ProofError) as exc:
        _fail(exc)
    receipt = svc.receipt(index, size)
    out: dict[str, Any] = {
        "index": index,
        "size": size,
        "root": root.hex(),
        "leaf_hash": None if receipt is None else receipt.leaf_hash.hex(),
        "path": [h.hex() for h in path],
    }
    if receipt is not None:
        out["receipt"] = receipt.to_dict()
    if as_json:
        click.echo(json.dumps(out, indent=2))
    else:
        click.echo(f"index {index} size {size} root {out['root']}")
        click.echo(f"leaf {out['leaf_hash']}")
        for h in out["path"]:
            click.echo(h)


@ledger.command()
@click.argument("old", type=int)
@click.argument("new", type=int)
@click.option("--json", "as_json", is_flag=True, help="JSON with hex hashes")
def consistency(old: int, new: int, as_json: bool) -> None:
    """Print the consistency proof from tree size OLD to NEW."""
    from ledger.log_reader import LedgerError
    from ledger.merkle import ProofError

    svc = _service()
    try:
        proof = svc.consistency_proof(old, new)
        out: dict[str, Any] = {
            "old": old,
            "size": new,
            "old_root": svc.root(old).hex(),
            "root": svc.root(new).hex(),
            "proof": [h.hex() for h in proof],
        }
    except (LedgerError, ProofError) as exc:
        _fail(exc)
    if as_json:
        click.echo(json.dumps(out, indent=2))
    else:
        click.echo(f"old {old} root {out['old_root']}")
        click.echo(f"new {new} root {out['root']}")
        for h in out["proof"]:
            click.echo(h)


@ledger.command("verify-receipt")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--key", "keys", multiple=True, required=True, help="trusted log verifier key")
@click.option("--origin", help="require this checkpoint origin")
def verify_receipt_cmd(file: Path, keys: tuple[str, ...], origin: str | None) -> None:
    """Verify a receipt FILE offline against trusted log KEY(s) (no database, no network)."""
    from ledger.note import NoteError
    from ledger.receipt import Receipt, ReceiptError, verify_receipt

    text = file.read_text()
    try:
        obj = json.loads(text)
        if not isinstance(obj, dict):
            raise ValueError("receipt file must hold a JSON object")
        receipt = Receipt.from_dict(obj.get("receipt", obj))
        cp = verify_receipt(receipt, keys, origin)
    except (ReceiptError, NoteError, ValueError, KeyError, TypeError) as exc:
        raise click.ClickException(f"receipt INVALID: {exc}") from exc
    click.echo(f"receipt OK: entry {receipt.index} in {cp.origin} size {cp.size}")


@ledger.command()
@click.option("--size", type=int, help="tree size (default: all sequenced entries)")
def root(size: int | None) -> None:
    """Print the Merkle root (hex) of the log at --size."""
    from ledger.log_reader import LedgerError

    try:
        click.echo(_service().root(size).hex())
    except LedgerError as exc:
        _fail(exc)


@ledger.command()
def key() -> None:
    """Print the log's verifier key (name+id+key) for offline receipt checks."""
    click.echo(_service().verifier_key())
