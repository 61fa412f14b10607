"""The fast issuance and PDF paths give exactly what the general paths give.

Sealed JSON bytes, field commitments and Merkle roots equal the pure core's; a failing batch
leaves no rows, log entries or licence objects; bulk holder reads and bulk receipts equal the
one-by-one reads; the cached-font PDF engine draws the same page as pyHanko's; the QR code is
pixel for pixel qrcode's.
"""

from __future__ import annotations

import datetime as dt
import io
import random
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from licence_fixtures import BUSINESS_FIELDS, ENTITY_USCC, PERSON_ID, PROVINCE_MR
from pyhanko.pdf_utils.writer import PdfFileWriter

from ledger.receipt import verify_receipt
from ledger.service import LedgerService
from licence import document, pdf, pdf_font
from licence.errors import HolderError
from licence.issuance import Holder, IssueRequest, LibraryHolders
from licence.service import LicenceService, check_sealed
from schemas import uscc
from storage.library import LibraryStore

FONTS = Path(".cache/fonts")
ENTITY = Holder(ENTITY_USCC, "长沙星辰餐饮有限公司")
TRICKY = {
    "持证主体": '长沙"星辰"\\餐饮\n有限公司\t',
    "address": "麓谷大道\u2028100号\x01\x1f",
    "emoji": "😀 astral value",
    "empty": "",
    "ascii": "plain </script> & 'quotes'",
}


def test_sealed_fields_hold_and_are_their_jcs() -> None:
    # the one encoder of field commitments (licence.document.seal_fields), on tricky text,
    # astral field names and non-string values; RFC 8785 vectors are in tests/verify
    for content in (TRICKY, BUSINESS_FIELDS, {"名": "值"}, {"𠀀字段": "v", "a": "b"}, {"n": 3}):
        fields, root, text = document.seal_fields(dict(content), "sha256")
        document.check_integrity(fields, root, "sha256")  # every salted digest and the root
        assert text == rfc8785.dumps(fields)
        assert len({e["salt"] for e in fields.values()}) == len(fields)
        assert all(len(e["salt"]) == 32 for e in fields.values())


def test_sealed_bytes_are_the_jcs_of_the_document(service: LicenceService) -> None:
    seal = service.create_seal(PROVINCE_MR)
    now = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    doc, raw = service.preparer.seal_raw("L-1", {**TRICKY, "证照标识": "L-1"}, seal, now)
    assert raw == document.canonical(doc)
    check_sealed(doc)
    issued = service.issue("business_licence", PROVINCE_MR, ENTITY, BUSINESS_FIELDS)
    assert service.raw(issued["header"]["licence_id"]) == document.canonical(issued)


def _request(holder: Holder) -> IssueRequest:
    return IssueRequest("business_licence", PROVINCE_MR, holder, BUSINESS_FIELDS)


def _nothing_written(service: LicenceService, ledger: LedgerService, size: int) -> None:
    assert service.store.licences() == []
    assert service.objects.list("licences/") == []
    ledger.sequence()
    assert ledger.size() == size  # no licence.issue entry was queued


def test_a_bad_holder_in_a_batch_refuses_the_batch_with_the_single_message(
    service: LicenceService, ledger: LedgerService
) -> None:
    service.create_seal(PROVINCE_MR)
    ledger.sequence()
    size = ledger.size()
    wrong = Holder(ENTITY_USCC, "别的公司")
    with pytest.raises(HolderError) as single:
        service.issue("business_licence", PROVINCE_MR, wrong, BUSINESS_FIELDS)
    with pytest.raises(HolderError) as batch:
        service.issue_many([_request(ENTITY), _request(wrong), _request(ENTITY)])
    assert str(batch.value) == str(single.value)
    body = "91430100MA4L9999" + uscc.org_code_check("MA4L9999")
    unknown = Holder(body + uscc.check_character(body), "未登记公司")
    with pytest.raises(HolderError, match="not found"):
        service.issue_many([_request(ENTITY), _request(unknown)])
    with pytest.raises(HolderError, match="invalid"):
        service.issue_many([_request(ENTITY), _request(Holder(ENTITY_USCC[:-1] + "0", "x"))])
    _nothing_written(service, ledger, size)


class _FailingObjects:
    """The real object store, except that the n-th put fails like a full disk."""

    def __init__(self, inner: Any, fail_at: int) -> None:
        self.inner, self.fail_at, self.calls = inner, fail_at, 0

    def put(self, key: str, data: bytes) -> bool:
        self.calls += 1
        if self.calls == self.fail_at and key.startswith("licences/"):
            raise OSError(28, "No space left on device")
        return bool(self.inner.put(key, data))

    def put_many(self, items: list[tuple[str, bytes]]) -> list[bool]:
        return [self.put(k, d) for k, d in items]  # the failure lands inside the batch

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_a_failed_object_write_leaves_no_rows_and_no_log_entries(
    service: LicenceService, ledger: LedgerService
) -> None:
    service.create_seal(PROVINCE_MR)
    ledger.sequence()
    size = ledger.size()
    real = service.objects
    service.objects = _FailingObjects(real, fail_at=2)  # type: ignore[assignment]
    with pytest.raises(OSError, match="No space"):
        service.issue_many([_request(ENTITY), _request(ENTITY), _request(ENTITY)])
    service.objects = real
    assert service.store.licences() == []
    ledger.sequence()
    assert ledger.size() == size
    # the failed batch's serials stay used (a gap, like a database sequence): the objects it
    # wrote before failing are never overwritten, and the next batch issues normally
    docs = service.issue_many([_request(ENTITY), _request(ENTITY)])
    assert [d["header"]["licence_id"].split(".")[-3] for d in docs] == [
        "20260000004",
        "20260000005",
    ]
    assert [service.raw(d["header"]["licence_id"]) for d in docs] == [
        document.canonical(d) for d in docs
    ]


def test_bulk_holder_names_equal_single_lookups(library: LibraryStore) -> None:
    holders = LibraryHolders(library)
    assert holders.holder_names("entity", [ENTITY_USCC, "91430100MA4L1234XX"]) == {
        ENTITY_USCC: holders.holder_name("entity", ENTITY_USCC)
    }
    assert holders.holder_names("person", [PERSON_ID]) == {
        PERSON_ID: holders.holder_name("person", PERSON_ID)
    }


def test_bulk_receipts_equal_single_receipts(ledger: LedgerService) -> None:
    ids = ledger.append_many([f"entry {i}".encode() for i in range(37)])
    ledger.sequence()
    later = ledger.append_many([b"not yet sequenced"])
    found = ledger.receipts_for_entries(ids + later)
    assert set(found) == set(ids)
    for entry_id in ids:
        index = ledger.entry_index(entry_id)
        assert index is not None
        single = ledger.receipt(index)
        assert single is not None and found[entry_id].to_json() == single.to_json()
        verify_receipt(found[entry_id], [ledger.verifier_key()])


def test_font_subset_keeps_glyph_ids_and_outlines() -> None:
    from fontTools.ttLib import TTFont

    font = pdf_font.font_file(FONTS)
    program = pdf_font._font_program(font, font.stat().st_mtime_ns)
    assert program is not None
    engine = pdf_font._SubsetEngine(PdfFileWriter(), program)
    engine.shape("营业执照 统一社会信用代码 ABC123")
    used = set(engine._glyphs)
    data = program.subset(used, {ord("营"): min(used)})
    sub, src = TTFont(io.BytesIO(data)), TTFont(str(font))
    sub.ensureDecompiled()  # every table parses
    assert sub["maxp"].numGlyphs == src["maxp"].numGlyphs
    order, sub_order = src.getGlyphOrder(), sub.getGlyphOrder()  # names differ (post v3)
    for gid in used:
        assert sub["glyf"][sub_order[gid]].compile(sub["glyf"]) == src["glyf"][order[gid]].compile(
            src["glyf"]
        )
        assert sub["hmtx"][sub_order[gid]] == src["hmtx"][order[gid]]
    unused = next(g for g in range(1, len(order)) if g not in used and program.glyphs[g])
    assert sub["glyf"][sub_order[unused]].numberOfContours == 0


@pytest.mark.skipif(not shutil.which("pdftoppm"), reason="needs poppler-utils")
def test_cached_font_pdf_looks_like_pyhanko_engine_pdf(
    service: LicenceService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    service.create_seal(PROVINCE_MR)
    doc = service.issue("business_licence", PROVINCE_MR, ENTITY, BUSINESS_FIELDS)
    png = service.objects.get(f"seals/{doc['header']['seal_id']}/picture.png")
    font = pdf_font.font_file(FONTS)
    fast = pdf.render(doc, png, service.verification_url, font)
    monkeypatch.setattr(pdf_font, "_font_program", lambda *_: None)  # pyHanko's own engine
    slow = pdf.render(doc, png, service.verification_url, font)
    pages = []
    for name, data in (("fast", fast), ("slow", slow)):
        (tmp_path / f"{name}.pdf").write_bytes(data)
        subprocess.run(
            ["pdftoppm", "-r", "60", "-gray", str(tmp_path / f"{name}.pdf"), str(tmp_path / name)],
            check=True,
        )
        pages.append(next(tmp_path.glob(f"{name}-*.pgm")).read_bytes())
    assert pages[0] == pages[1]


def _qr_reference(payload: str) -> Any:
    """The QR image drawn by ``qrcode`` alone, the oracle for ``pdf.qr_code_image``."""
    import qrcode

    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=6, border=1)
    qr.add_data(payload)
    qr.make(fit=True)
    return qr.make_image(fill_color="black", back_color="white").get_image().convert("RGB")


def test_qr_image_is_qrcodes_pixel_for_pixel() -> None:
    import qrcode.util

    rng = random.Random(3)
    for n in (5, 40, 90, 160):
        payload = "https://hub.example.gov.cn/verify?id=" + "".join(
            rng.choice("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ.") for _ in range(n)
        )
        fast, slow = pdf.qr_code_image(payload), _qr_reference(payload)
        assert (fast.size, fast.tobytes()) == (slow.size, slow.tobytes())
    for _ in range(30):
        size = rng.choice((21, 25, 45, 49))
        dark = rng.random()
        matrix = [[rng.random() < dark for _ in range(size)] for _ in range(size)]
        assert pdf.qr_lost_point(matrix) == qrcode.util.lost_point(matrix)


def test_later_pdfs_of_a_seal_reuse_the_measured_signature_space(
    service: LicenceService,
) -> None:
    from asn1crypto import x509 as asn1_x509
    from cryptography.hazmat.primitives import serialization
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    from licence.pdf import render_pdf

    service.create_seal(PROVINCE_MR)
    docs = service.issue_many([_request(ENTITY), _request(ENTITY), _request(ENTITY)])
    root = service.platform_ca().root.public_bytes(serialization.Encoding.DER)
    sizes = []
    for doc in docs:
        data = render_pdf(service, doc["header"]["licence_id"], FONTS)
        sig = PdfFileReader(io.BytesIO(data)).embedded_signatures[0]
        status = validate_pdf_signature(
            sig, ValidationContext(trust_roots=[asn1_x509.Certificate.load(root)])
        )
        assert status.intact and status.valid and status.trusted
        sizes.append(len(sig.sig_object.raw_get("/Contents")))
    assert len(set(sizes)) == 1  # the first PDF's estimate, reused


def test_a_busy_database_on_commit_is_retried_without_duplicates(
    service: LicenceService, ledger: LedgerService, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy.exc import OperationalError

    from licence.receipts import ledger_receipts

    service.create_seal(PROVINCE_MR)
    ledger.sequence()
    before = ledger.size()
    real = ledger.append_many_in
    calls = []

    def busy_once(conn: Any, items: list[bytes]) -> list[int]:
        calls.append(len(items))
        ids = real(conn, items)  # written, then the transaction fails and rolls back
        if len(calls) == 1:
            raise OperationalError("INSERT", {}, Exception("database is locked"))
        return ids

    monkeypatch.setattr(ledger, "append_many_in", busy_once)
    docs = service.issue_many([_request(ENTITY), _request(ENTITY)])
    assert calls == [2, 2]
    assert len(service.store.licences()) == 2
    ledger.sequence()
    # the failed attempt queued nothing: two issue entries and the status list they change
    assert ledger.size() == before + 2 + 1
    assert service.attach_receipts(ledger_receipts(ledger)) == 2
    for doc in docs:
        receipt = service.receipt(doc["header"]["licence_id"])
        assert receipt is not None
        logged = bytes.fromhex(receipt["data"]).decode()
        assert doc["header"]["licence_id"] in logged
