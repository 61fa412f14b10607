"""The tamper vectors under ``tests/vectors/``, each verified online and offline.

Every file in the vector folders (``make_vectors.py`` writes them, ``expected.json`` holds the
outcomes declared by hand in its recipes) must give the declared verdict and first failing (or
undecided) check with its reason code: online against the platform the vectors were made on,
offline against its trust bundle with the anchor ``hub trust install`` wrote, and through the
public ``POST /v1/licences/verify`` (never a 5xx, the same report as online).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hub.settings import Settings
from ledger.receipt import Receipt
from licence.trust import load_bundle, offline_context, online_context, verify_online
from licence.trust_anchors import TrustBundleError, load_anchors
from licence.verify import (
    FAILED,
    INDETERMINATE,
    TOTAL_FAILED,
    TOTAL_PASSED,
    read_licence_json,
    verify_input,
)

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
KINDS = ("licence", "receipt", "checkpoint", "bundle", "qr", "pdf")
EXPECTED: dict[str, Any] = json.loads((VECTORS / "expected.json").read_text(encoding="utf-8"))
FILES = sorted(str(p.relative_to(VECTORS)) for kind in KINDS for p in (VECTORS / kind).iterdir())
PASSPHRASE = "vectors-passphrase"


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The platform the vectors were made on (a copy: verifying may attach receipts)."""
    from ledger.service import LedgerService
    from licence.issuance import LibraryHolders
    from licence.service import LicenceService
    from licence.store import LicenceStore
    from licence.tables import engine_for
    from storage.keys import EncryptedFileKeyStore
    from storage.library import LibraryStore
    from storage.library import engine_for as library_engine
    from storage.objects import LocalObjectStore

    home = tmp_path_factory.mktemp("vectors") / "hub"
    shutil.copytree(VECTORS / "platform", home)
    (home / "keys").chmod(0o700)
    # every vector is also posted to the public endpoint, more than one address's burst of
    # look-ups: these tests are about the verdicts, not the rate limit
    settings = Settings(home=home, key_passphrase=PASSPHRASE, api_public_rate=1000.0)
    settings.ensure_dirs()
    svc = LicenceService(
        LicenceStore(engine_for(settings.db_url)),
        LocalObjectStore(settings.objects_path),
        EncryptedFileKeyStore(settings.keys_path, settings.key_passphrase),
        LedgerService.open(settings),
        LibraryHolders(LibraryStore(library_engine(settings.db_url))),
    )
    return settings, svc


@pytest.fixture(scope="module")
def http(platform: Any) -> Any:
    from hub.wiring import api_app

    app = api_app(platform[0], background=False)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def _first(report: Any) -> tuple[str, str, str] | str:
    """TOTAL_PASSED, or (check, status, reason) of the first failing, else undecided check."""
    if report.verdict == TOTAL_PASSED:
        return TOTAL_PASSED
    for wanted in (FAILED, INDETERMINATE):
        for c in report.checks:
            if c.status == wanted:
                return (c.check, c.status, c.reason)
    raise AssertionError(f"{report.verdict} without a failing check:\n{report.to_text()}")


def _assert(report: Any, expected: Any, where: str) -> None:
    want = expected if isinstance(expected, str) else tuple(expected)
    assert _first(report) == want, f"{where}:\n{report.to_text()}"
    if want != TOTAL_PASSED:
        verdict = TOTAL_FAILED if want[1] == FAILED else INDETERMINATE
        assert report.verdict == verdict, report.to_text()
    for c in report.checks:  # every line explains itself, in Chinese and English
        assert c.zh and c.en and "Traceback" not in c.en


def _bundle_time() -> dt.datetime:
    bundle = json.loads((VECTORS / "trust" / "bundle.json").read_text(encoding="utf-8"))
    return dt.datetime.fromisoformat(bundle["exported_at"])


def offline(name: str, now: dt.datetime | None = None) -> Any:
    """Verify a vector offline: a bundle vector with its licence, anything else with the
    genuine bundle; the verifier holds only the installed anchor."""
    anchors = load_anchors(VECTORS / "trust")
    bundle_file, subject = VECTORS / "trust" / "bundle.json", VECTORS / name
    if name.startswith("bundle/"):
        bundle_file, subject = VECTORS / name, VECTORS / EXPECTED[name]["with"]
    when = now or _bundle_time() + dt.timedelta(hours=1)
    try:
        bundle = load_bundle(bundle_file.read_bytes())
        ctx = offline_context(bundle, anchors, today=_today(name), now=when)
    except TrustBundleError as exc:
        return exc.report()
    companion = EXPECTED[name].get("companion")
    if companion:  # `hub verify PDF --offline --licence FILE`
        doc, raw = read_licence_json((VECTORS / companion).read_bytes())
        lid, receipt = doc["header"]["licence_id"], Receipt.from_dict(raw)
        ctx = dataclasses.replace(
            ctx,
            document_of=lambda wanted: doc if wanted == lid else None,
            receipt_of=lambda wanted: receipt if wanted == lid else None,
        )
    return verify_input(subject.read_bytes(), ctx)


def _today(name: str) -> dt.date | None:
    day = EXPECTED[name].get("today")
    return None if day is None else dt.date.fromisoformat(day)


def test_every_vector_has_an_expectation() -> None:
    assert set(FILES) == set(EXPECTED), set(FILES) ^ set(EXPECTED)
    assert len(FILES) >= 50


# vectors verified offline against the genuine bundle, as of the bundle's day
SHARED_CONTEXT = [
    n
    for n in FILES
    if not n.startswith("bundle/") and not EXPECTED[n]["companion"] and not EXPECTED[n]["today"]
]


def test_one_warmed_context_gives_every_vector_its_own_verdict() -> None:
    """What a context memoises (certificates, chains per certificate and signing time, opened
    checkpoints per note bytes, status lists per entry bytes) is keyed by the exact input: one
    offline context, warmed by the genuine licence before each tampered vector, gives every
    vector exactly the verdict a fresh context gives, and the genuine licence still passes."""
    anchors = load_anchors(VECTORS / "trust")
    bundle = load_bundle((VECTORS / "trust" / "bundle.json").read_bytes())
    ctx = offline_context(bundle, anchors, now=_bundle_time() + dt.timedelta(hours=1))
    genuine = (VECTORS / "licence" / "valid.json").read_bytes()
    assert len(SHARED_CONTEXT) >= 40
    for name in SHARED_CONTEXT:
        assert verify_input(genuine, ctx).verdict == TOTAL_PASSED
        _assert(verify_input((VECTORS / name).read_bytes(), ctx), EXPECTED[name]["offline"], name)
    assert verify_input(genuine, ctx).verdict == TOTAL_PASSED


@pytest.mark.parametrize("name", FILES)
def test_vector(name: str, platform: Any, http: Any) -> None:
    expected = EXPECTED[name]
    _assert(offline(name), expected["offline"], f"{name} offline")
    if expected["online"] is None:
        return  # a trust bundle is offline material
    data = (VECTORS / name).read_bytes()
    if expected.get("today"):  # as of another day: the public API always verifies as of now
        ctx = online_context(platform[1], today=_today(name))
        _assert(verify_input(data, ctx), expected["online"], f"{name} online")
        return
    report = verify_online(platform[1], data)
    _assert(report, expected["online"], f"{name} online")
    ctype = {".json": "application/json", ".pdf": "application/pdf"}.get(
        Path(name).suffix, "text/plain"
    )
    answer = http.post("/v1/licences/verify", content=data, headers={"Content-Type": ctype})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["verdict"], body["sub_indication"]) == (report.verdict, report.sub_indication)


def test_offline_pass_says_as_of_when_and_turns_stale_within_hours(platform: Any) -> None:
    """A licence revoked after the bundle was exported passes offline only "as of" the
    bundle's checkpoint, said in the verdict (Chinese and English, and in JSON); a bundle
    older than the verifier's limit (12 h by default) makes it INDETERMINATE."""
    name = "licence/revoked-after-bundle-export.json"
    report = offline(name)
    zh, en = report.as_of_text()
    assert "截至" in zh and "北京时间" in zh and "1.0小时" in zh
    assert "as of" in en and "1.0 h old" in en
    body = report.to_dict()
    assert body["age_hours"] == 1.0 and body["as_of"].startswith(_bundle_time().isoformat()[:16])
    stale = offline(name, now=_bundle_time() + dt.timedelta(hours=13))
    fresh = next(c for c in stale.checks if c.check == "freshness")
    assert (stale.verdict, fresh.reason) == (INDETERMINATE, "BUNDLE_STALE")


def test_altered_field_is_named_as_the_clerk_knows_it(platform: Any) -> None:
    data = (VECTORS / "licence" / "field-value-changed.json").read_bytes()
    for report in (verify_online(platform[1], data), offline("licence/field-value-changed.json")):
        line = next(c for c in report.checks if c.reason == "FIELD_ALTERED")
        assert "法定代表人" in line.zh and "李四" in line.zh, line
        assert "legal_representative" not in line.zh


def test_page_shows_nothing_of_a_licence_a_qr_code_does_not_match(http: Any) -> None:
    """GET /verify?id=<real id>&d=<wrong digest>: only that the code does not match."""
    genuine = json.loads((VECTORS / "licence" / "valid.json").read_text(encoding="utf-8"))
    lid = genuine["licence"]["header"]["licence_id"]
    fields = genuine["licence"]["fields"]
    page = http.get("/verify", params={"id": lid, "d": "sha256:" + "ab" * 32})
    assert page.status_code == 200
    assert "QR_NO_MATCH" in page.text
    for secret in ("持证主体", "证照颁发机构", "证照编号"):
        value = fields[secret]["value"]
        assert value not in page.text, secret
    good = http.get("/verify", params={"id": lid, "d": f"sha256:{_digest(genuine)}"})
    assert fields["持证主体"]["value"] in good.text  # the real code shows the licence
    assert "北京时间" in good.text and 'id="as-of"' in good.text


def _digest(pair: dict[str, Any]) -> str:
    return str(pair["licence"]["header"]["document_digest"])
