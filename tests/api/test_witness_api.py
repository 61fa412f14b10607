"""The witness over HTTP: C2SP tlog-witness answers (plain text, the spec's status codes), the
body limit, and what ``GET /v1/witness`` tells a peer."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.cosignature import CosignatureVerifier, add_cosignatures, cosignatures
from ledger.merkle import MemoryTree
from ledger.note import Checkpoint, Signer, sign_checkpoint
from ledger.witness import format_request

ORIGIN = "hub-b.example.gov.cn/log"
ROUTE = "/v1/witness/add-checkpoint"


def _note(signer: Signer, tree: MemoryTree) -> bytes:
    return sign_checkpoint(Checkpoint(ORIGIN, tree.size, tree.root()), signer)


def test_a_peer_log_is_witnessed_over_http(api) -> None:
    log = Signer(ORIGIN, Ed25519PrivateKey.generate())
    tree = MemoryTree()
    for i in range(4):
        tree.append(b"entry %d" % i)
    witness = api.http.app.state.hub.witness
    # unknown until the operator watches it (`hub ledger witness watch ORIGIN VKEY`)
    assert api.http.post(ROUTE, content=format_request(0, [], _note(log, tree))).status_code == 404
    witness.watch(ORIGIN, log.vkey())
    first = api.http.post(ROUTE, content=format_request(0, [], _note(log, tree)))
    assert first.status_code == 200, first.text
    about = api.http.get("/v1/witness").json()
    verifier = CosignatureVerifier.from_vkey(about["vkey"])
    cosigned = add_cosignatures(_note(log, tree), first.text)
    assert [c.name for c in cosignatures(cosigned, [verifier])] == [about["name"]]
    assert about["logs"][0]["origin"] == ORIGIN and about["logs"][0]["size"] == 4
    # a stale old size: 409 with the size, as text/x.tlog.size
    tree.append(b"entry 4")
    stale = api.http.post(ROUTE, content=format_request(0, [], _note(log, tree)))
    assert stale.status_code == 409 and stale.text == "4\n"
    assert stale.headers["content-type"].startswith("text/x.tlog.size")
    fresh = format_request(4, tree.consistency_proof(4, 5), _note(log, tree))
    assert api.http.post(ROUTE, content=fresh).status_code == 200


def test_garbage_and_oversized_requests_are_refused_without_a_trace(api) -> None:
    bad = api.http.post(ROUTE, content=b"\x00\xff garbage")
    assert bad.status_code == 400 and "malformed" in bad.text
    huge = api.http.post(ROUTE, content=b"old 0\n" + b"A" * 70_000)
    assert huge.status_code == 413


def test_an_address_has_a_budget_of_witness_requests(api) -> None:
    codes = [api.http.post(ROUTE, content=b"x").status_code for _ in range(130)]
    assert codes[0] == 400 and codes[-1] == 429  # burst of 100 at 20/s, then refused
