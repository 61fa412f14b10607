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


@ledger.group()
def witness() -> None:
    """C2SP witnessing: this hub's witness of peer logs, and the witnesses of this hub's log."""


def _witness() -> Any:
    from hub.settings import get_settings
    from hub.wiring import witness as build

    return build(get_settings())


@witness.command("key")
def witness_key() -> None:
    """Print this hub's witness key (cosignature/v1) for peers to add."""
    click.echo(_witness().cosigner.verifier().vkey())


@witness.command("watch")
@click.argument("origin")
@click.argument("vkey")
def witness_watch(origin: str, vkey: str) -> None:
    """Cosign the checkpoints of the peer log ORIGIN, signed by its key VKEY
    (the peer's `hub ledger key`)."""
    from ledger.note import NoteError

    try:
        _witness().watch(origin, vkey)
    except NoteError as exc:
        _fail(exc)
    click.echo(f"watching {origin}")


@witness.command("add")
@click.argument("url")
@click.argument("vkey")
def witness_add(url: str, vkey: str) -> None:
    """Ask the witness at URL (its submission prefix, e.g. https://peer/v1/witness), whose key is
    VKEY (the peer's `hub ledger witness key`), to cosign each new checkpoint of this log."""
    from ledger.note import NoteError

    pool = _service().witnesses
    assert pool is not None
    try:
        peer = pool.add(url, vkey)
    except NoteError as exc:
        _fail(exc)
    click.echo(f"checkpoints go to {peer.name} at {peer.url}")


@witness.command("remove")
@click.argument("name")
def witness_remove(name: str) -> None:
    """Stop asking the witness NAME."""
    pool = _service().witnesses
    assert pool is not None
    if not pool.remove(name):
        _fail(LookupError(f"no witness named {name!r}"))
    click.echo(f"removed {name}")


@ledger.command()
@click.option("--json", "as_json", is_flag=True, help="as JSON")
def witnesses(as_json: bool) -> None:
    """What each witness has cosigned: the witnesses of this log, and the peer logs this hub's
    witness watches (with the evidence of misbehaviour it kept)."""
    import datetime as dt

    pool = _service().witnesses
    assert pool is not None
    mine = _witness()
    ours = [vars(p) for p in pool.peers()]
    theirs = [
        {**vars(log), "evidence": [_evidence(e) for e in mine.evidence(log.origin)]}
        for log in mine.logs()
    ]
    if as_json:
        click.echo(json.dumps({"witnesses": ours, "watched_logs": theirs}, indent=2))
        return

    def when(t: int | None) -> str:
        return "never" if t is None else dt.datetime.fromtimestamp(t, dt.UTC).isoformat()

    click.echo(f"witnesses of this log ({len(ours)}):")
    for p in ours:
        state = f"error: {p['last_error']}" if p["last_error"] else "ok"
        click.echo(f"  {p['name']}  cosigned size {p['size']} at {when(p['cosigned_at'])}  {state}")
    click.echo(f"peer logs this hub's witness ({mine.cosigner.name}) watches ({len(theirs)}):")
    for log in theirs:
        click.echo(
            f"  {log['origin']}  cosigned size {log['size'] or 0} at {when(log['cosigned_at'])}"
            f"  evidence kept: {len(log['evidence'])}"
        )
        for e in log["evidence"]:
            click.echo(f"    {e['kind']} at size {e['size']}: {e['detail']}")


def _evidence(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": row["kind"],
        "size": row["size"],
        "detail": row["detail"],
        "note": bytes(row["note"]).decode("utf-8", "replace"),
        "cosigned_note": None
        if row["cosigned_note"] is None
        else bytes(row["cosigned_note"]).decode("utf-8", "replace"),
        "recorded_at": str(row["recorded_at"]),
    }
