"""Status lists committed with every checkpoint: "not revoked as of checkpoint N" is provable."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
from pathlib import Path

import pytest
from licence_fixtures import BUSINESS_FIELDS, ENTITY_USCC, PROVINCE_MR

from hub.settings import Settings
from ledger.receipt import Receipt
from ledger.service import LedgerService
from licence import status_list
from licence.document import canonical
from licence.errors import LicenceError
from licence.issuance import Holder
from licence.service import LicenceService

ENTITY = Holder(ENTITY_USCC, "长沙星辰餐饮有限公司")


def _issue(service: LicenceService) -> str:
    doc = service.issue("business_licence", PROVINCE_MR, ENTITY, BUSINESS_FIELDS)
    return str(doc["header"]["licence_id"])


def _checkpoint(ledger: LedgerService) -> int:
    signed = ledger.sequence()
    assert signed is not None
    return signed.checkpoint.size


def _prove(service: LicenceService, lid: str, size: int | None = None) -> dict[str, object]:
    """The platform's proof, then checked again from its receipts and the log key alone."""
    proof = service.status_proof(lid, size)
    issue = Receipt.from_dict(proof["issue_receipt"])  # type: ignore[arg-type]
    listed = Receipt.from_dict(proof["status_list_receipt"])  # type: ignore[arg-type]
    digest = service.row(lid)["document_digest"]
    again = status_list.prove_status(lid, digest, issue, listed, [str(proof["log_key"])])
    assert (again.status, again.checkpoint_size) == (proof["status"], proof["as_of_checkpoint"])
    # the receipts are proven in checkpoint N itself
    assert json.loads(json.dumps(proof))["status_list_receipt"]["checkpoint"].split("\n")[1] == str(
        proof["as_of_checkpoint"]
    )
    return proof


def test_revoked_licence_is_provably_revoked_at_the_checkpoint(
    service: LicenceService, ledger: LedgerService
) -> None:
    service.create_seal(PROVINCE_MR)
    revoked, kept = _issue(service), _issue(service)
    service.revoke(revoked, "ILLEGAL_OPERATION", "无证经营被查处")
    n = _checkpoint(ledger)
    proof = _prove(service, revoked, n)
    assert (proof["status"], proof["as_of_checkpoint"]) == ("revoked", n)
    # never revoked: provably active at the same checkpoint
    proof = _prove(service, kept, n)
    assert (proof["status"], proof["as_of_checkpoint"]) == ("valid", n)
    # the status list is the last entry under N: nothing after it in N changes the state
    assert proof["status_list_receipt"]["index"] == n - 1  # type: ignore[index]


def test_a_change_after_n_is_in_the_next_snapshot_not_in_n(
    service: LicenceService, ledger: LedgerService
) -> None:
    service.create_seal(PROVINCE_MR)
    lid = _issue(service)
    n = _checkpoint(ledger)
    service.suspend(lid, "整改期间暂扣")
    later = _issue(service)  # logged after N
    n1 = _checkpoint(ledger)
    assert n1 > n
    assert _prove(service, lid, n)["status"] == "valid"
    assert _prove(service, lid, n1)["status"] == "suspended"
    assert _prove(service, lid)["as_of_checkpoint"] == n1  # the latest by default
    with pytest.raises(LicenceError, match="not yet logged"):
        service.status_proof(later, n)
    service.revoke(lid, "FRAUD", "以欺骗手段取得")
    n2 = _checkpoint(ledger)
    assert [_prove(service, lid, s)["status"] for s in (n, n1, n2)] == [
        "valid",
        "suspended",
        "revoked",
    ]


def test_every_checkpoint_producer_commits_the_lists(
    settings: Settings, service: LicenceService, ledger: LedgerService
) -> None:
    """`hub ledger checkpoint` and the API's sequencer open a bare log: it commits them too."""
    service.create_seal(PROVINCE_MR)
    lid = _issue(service)
    service.revoke(lid, "OTHER", "撤销")
    from hub.wiring import ledger_service

    bare = ledger_service(settings)  # what `hub ledger checkpoint` and the API's sequencer use
    n = _checkpoint(bare)
    assert service.store.status_list_at(PROVINCE_MR, n) is not None
    assert _prove(service, lid, n)["status"] == "revoked"
    # nothing pending: no new checkpoint, no new entry
    assert _checkpoint(bare) == n and ledger.size() == n


def test_a_doctored_status_list_does_not_prove_anything(
    service: LicenceService, ledger: LedgerService, tmp_path: Path
) -> None:
    service.create_seal(PROVINCE_MR)
    lid = _issue(service)
    service.revoke(lid, "OTHER", "撤销")
    n = _checkpoint(ledger)
    proof = service.status_proof(lid, n)
    issue = Receipt.from_dict(proof["issue_receipt"])
    listed = Receipt.from_dict(proof["status_list_receipt"])
    digest = service.row(lid)["document_digest"]
    key = [proof["log_key"]]
    entry = json.loads(listed.data or b"")
    entry["revocation"]["encoded"] = base64.b64encode(gzip.compress(b"\x00")).decode()
    entry["revocation"]["sha256"] = hashlib.sha256(b"\x00").hexdigest()
    forged = Receipt(
        listed.index, listed.leaf_hash, listed.path, listed.checkpoint, canonical(entry)
    )
    with pytest.raises(status_list.StatusListError, match="leaf hash"):
        status_list.prove_status(lid, digest, issue, forged, key)
    # another licence's issue receipt with this list
    with pytest.raises(status_list.StatusListError, match="another document"):
        status_list.prove_status(lid, "0" * 64, issue, listed, key)
    # the roles swapped
    with pytest.raises(status_list.StatusListError):
        status_list.prove_status(lid, digest, listed, issue, key)
    # an untrusted log key
    other = LedgerService.open(Settings(home=tmp_path / "other", key_passphrase="x"))
    with pytest.raises(status_list.StatusListError, match="checkpoint rejected"):
        status_list.prove_status(lid, digest, issue, listed, [other.verifier_key()])


def test_entry_round_trip_and_gzip_bomb() -> None:
    statuses = [(0, "revoked"), (3, "suspended"), (9, "expired"), (10, "valid")]
    data = status_list.snapshot_entry(PROVINCE_MR, 12, statuses, 40, 41, "2026-11-23T00:00:00Z")
    snap = status_list.parse_entry(data)
    assert [snap.status(i) for i in (0, 3, 9, 10, 12)] == [
        "revoked",
        "suspended",
        "revoked",
        "valid",
        "unknown",
    ]
    assert (snap.state_size, snap.checkpoint_size) == (40, 41)
    bomb = json.loads(data)
    bomb["revocation"]["encoded"] = base64.b64encode(gzip.compress(bytes(10_000_000))).decode()
    with pytest.raises(status_list.StatusListError, match="holds"):
        status_list.parse_entry(canonical(bomb))
    old_format = {"event": "status_list", "authority": PROVINCE_MR, "purpose": "revocation"}
    with pytest.raises(status_list.StatusListError, match="older format"):
        status_list.parse_entry(canonical(old_format))


def test_hub_ledger_checkpoint_commits_the_lists_and_hub_licence_status_proves(
    settings: Settings, service: LicenceService, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    import hub.settings
    from hub.cli import main

    monkeypatch.setattr(hub.settings, "_settings", settings)
    service.create_seal(PROVINCE_MR)
    lid = _issue(service)
    run = CliRunner()
    first = run.invoke(main, ["ledger", "checkpoint"])
    assert first.exit_code == 0, first.output
    n = int(first.output.splitlines()[1])  # the note's second line: the tree size
    assert run.invoke(main, ["licence", "revoke", lid, "--reason", "撤销"]).exit_code == 0
    second = run.invoke(main, ["ledger", "checkpoint"])
    n1 = int(second.output.splitlines()[1])
    at_n = json.loads(run.invoke(main, ["licence", "status", lid, "--checkpoint", str(n)]).output)
    at_n1 = json.loads(run.invoke(main, ["licence", "status", lid]).output)
    assert (at_n["status"], at_n["as_of_checkpoint"]) == ("valid", n)
    assert (at_n1["status"], at_n1["as_of_checkpoint"]) == ("revoked", n1)
    missing = run.invoke(main, ["licence", "status", lid, "--checkpoint", "1"])
    assert missing.exit_code == 2 and "no status list" in missing.output
