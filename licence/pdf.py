"""Sealed PDF rendition of a licence: Chinese fields in an embedded CJK font, the visible seal,
a QR code (identifier, content digest, verification URL), and a PAdES signature with the seal key.

Drawn directly with pyHanko's PDF writer (the font is subset and embedded through its OpenType
engine) and signed by pyHanko; the seal picture is the PNG whose hash the seal certificate binds.
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import qrcode
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from PIL import Image
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.font.opentype import GlyphAccumulatorFactory
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.images import pil_image
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.writer import PageObject, PdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko_certvalidator.registry import SimpleCertificateStore

from licence.picture import cjk_font_path
from schemas import licence_types

PAGE_W, PAGE_H = 842.0, 595.0  # A4 landscape, like the paper business licence
BORDER = (0.62, 0.13, 0.10)
GOLD = (0.72, 0.55, 0.22)


def _gb2312_text() -> str:
    """ASCII, full-width forms and every GB 2312 character: what licences are written in."""
    chars = [chr(c) for c in range(0x20, 0x7F)]
    for hi in range(0xA1, 0xF8):
        for lo in range(0xA1, 0xFF):
            try:
                chars.append(bytes((hi, lo)).decode("gb2312"))
            except UnicodeDecodeError:
                continue
    return "".join(chars)


def font_file(cache_dir: Path) -> Path:
    """The CJK font cut down once to GB 2312 + ASCII outlines (no bitmaps, no hinting).

    The Debian font is an 11 MB collection with bitmap strikes; subsetting it for every PDF would
    cost seconds, so one face is reduced once into the cache and each PDF subsets that.
    """
    src = cjk_font_path()
    out = cache_dir / f"{src.stem}-gb2312.ttf"
    if not out.exists():
        from fontTools import subset
        from fontTools.ttLib import TTFont

        cache_dir.mkdir(parents=True, exist_ok=True)
        font = TTFont(str(src), fontNumber=0) if src.suffix.lower() == ".ttc" else TTFont(str(src))
        options = subset.Options()
        options.hinting = False
        options.drop_tables += ["EBDT", "EBLC", "EBSC", "BDF", "FFTM", "bdat", "bloc"]
        options.name_IDs = ["*"]
        subsetter = subset.Subsetter(options)
        subsetter.populate(text=_gb2312_text())
        subsetter.subset(font)
        tmp = out.with_suffix(".tmp")
        font.save(str(tmp))
        tmp.rename(out)
    return out


@dataclass(frozen=True)
class SealMaterial:
    """What signing needs: the seal key (in memory only), its certificate and the CA chain."""

    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate
    chain: Sequence[x509.Certificate]
    picture_png: bytes


class _Page:
    def __init__(self, writer: PdfFileWriter, font: Path) -> None:
        self.writer = writer
        self.ops: list[bytes] = []
        self.engines: dict[int, Any] = {}
        self.font = font

    def _engine(self, size: int) -> Any:
        # one embedded subset serves every size: shaping results are in em units and each
        # text run sets its own size with Tf, so the engine's size never reaches the page
        if not self.engines:
            self.engines[1] = GlyphAccumulatorFactory(
                str(self.font), font_size=1
            ).create_font_engine(self.writer)
        return self.engines[1]

    def width(self, text: str, size: int) -> float:
        return float(self._engine(size).shape(text).x_advance) * size

    def text(
        self,
        x: float,
        y: float,
        text: str,
        size: int,
        rgb: tuple[float, ...] = (0, 0, 0),
        align: str = "left",
    ) -> None:
        if not text:
            return
        shaped = self._engine(size).shape(text)
        if align != "left":
            w = shaped.x_advance * size
            x -= w if align == "right" else w / 2
        colour = " ".join(f"{c:.3f}" for c in rgb).encode()
        self.ops.append(
            b"BT "
            + colour
            + b" rg /F1 %d Tf %.2f %.2f Td " % (size, x, y)
            + shaped.graphics_ops
            + b" ET"
        )

    def rect(
        self, x: float, y: float, w: float, h: float, width: float, rgb: tuple[float, ...]
    ) -> None:
        colour = " ".join(f"{c:.3f}" for c in rgb).encode()
        self.ops.append(b"q %s RG %.2f w %.2f %.2f %.2f %.2f re S Q" % (colour, width, x, y, w, h))

    def image(self, name: str, x: float, y: float, w: float, h: float) -> None:
        self.ops.append(b"q %.2f 0 0 %.2f %.2f %.2f cm /%s Do Q" % (w, h, x, y, name.encode()))

    def finish(self, images: dict[str, generic.IndirectObject]) -> None:
        for engine in self.engines.values():
            engine.prepare_write()
        font_dict = generic.DictionaryObject(
            {pdf_name(f"/F{size}"): e.as_resource() for size, e in self.engines.items()}
        )
        xobjects = generic.DictionaryObject({pdf_name(f"/{k}"): v for k, v in images.items()})
        resources = generic.DictionaryObject(
            {pdf_name("/Font"): font_dict, pdf_name("/XObject"): xobjects}
        )
        stream = generic.StreamObject(stream_data=b"\n".join(self.ops))
        page = PageObject(
            contents=self.writer.add_object(stream),
            media_box=(0, 0, PAGE_W, PAGE_H),
            resources=resources,
        )
        self.writer.insert_page(page)


def _qr_png(payload: str) -> Image.Image:
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=6, border=1)
    qr.add_data(payload)
    qr.make(fit=True)
    return qr.make_image(fill_color="black", back_color="white").get_image().convert("RGB")


def qr_payload(doc: dict[str, Any], verification_url: str) -> str:
    header = doc["header"]
    return (
        f"{verification_url}?id={header['licence_id']}"
        f"&d={header['digest_alg']}:{header['document_digest']}"
    )


def _date(yyyymmdd: str) -> str:
    if len(yyyymmdd) != 8:
        return yyyymmdd
    return f"{yyyymmdd[:4]}年{int(yyyymmdd[4:6])}月{int(yyyymmdd[6:])}日"


def render(doc: dict[str, Any], seal_png: bytes, verification_url: str, font: Path) -> bytes:
    """The unsigned one-page PDF of a (fully disclosed) licence."""
    vals = {n: e["value"] for n, e in doc["fields"].items() if "value" in e}
    lt = licence_types.get(vals["证照类型代码"])
    writer = PdfFileWriter()
    page = _Page(writer, font)
    page.rect(18, 18, PAGE_W - 36, PAGE_H - 36, 4, BORDER)
    page.rect(28, 28, PAGE_W - 56, PAGE_H - 56, 1.2, GOLD)
    page.text(PAGE_W / 2, PAGE_H - 105, " ".join(lt.name), 40, BORDER, "center")
    page.text(PAGE_W / 2, PAGE_H - 128, f"（电子证照 · {lt.name_en}）", 12, GOLD, "center")
    code_label = "统一社会信用代码" if lt.holder_kind == "entity" else "公民身份号码"
    page.text(70, PAGE_H - 70, f"证照编号：{vals.get('证照编号', '')}", 11)
    page.text(PAGE_W - 70, PAGE_H - 70, f"{code_label}：{vals['持证主体代码']}", 11, align="right")
    holder_label = "名称" if lt.holder_kind == "entity" else "姓名"
    rows: list[tuple[str, str]] = [(holder_label, vals["持证主体"])]
    rows += [(f.name, str(vals[f.key])) for f in lt.fields if f.key in vals]
    until = vals.get("证照有效期截止日期", "")
    rows.append(
        (
            "有效期限",
            f"{_date(vals['证照有效期起始日期'])} 至 " + (_date(until) if until else "长期"),
        )
    )
    y = PAGE_H - 175
    for label, value in rows:
        spaced = label if len(label) > 3 else "　".join(label)
        page.text(120, y, spaced, 14, (0.25, 0.25, 0.25))
        lines = textwrap.wrap(value, 30) or [""]
        for line in lines[:4]:
            page.text(250, y, line, 14)
            y -= 20
        y -= 8
    # issuing authority, date and the seal over them (as on paper)
    page.text(PAGE_W - 110, 130, f"颁发机关：{vals['证照颁发机构']}", 14, align="right")
    page.text(PAGE_W - 110, 105, _date(vals["证照颁发日期"]), 14, align="right")
    page.image("Seal", PAGE_W - 250, 55, 120, 120)
    page.image("QR", 60, 50, 96, 96)
    page.text(108, 38, "扫码核验 Scan to verify", 8, (0.3, 0.3, 0.3), "center")
    page.text(
        PAGE_W / 2, 38, f"证照标识 {doc['header']['licence_id']}", 7, (0.4, 0.4, 0.4), "center"
    )
    seal_img = Image.open(io.BytesIO(seal_png))
    images = {
        "Seal": pil_image(seal_img, writer),
        "QR": pil_image(_qr_png(qr_payload(doc, verification_url)), writer),
    }
    page.finish(images)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def sign(pdf: bytes, seal: SealMaterial, name: str) -> bytes:
    """PAdES (B-B) signature of ``pdf`` with the seal key; the chain is embedded."""
    der = seal.key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )

    def cert(c: x509.Certificate) -> asn1_x509.Certificate:
        return asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER))

    signer = signers.SimpleSigner(
        signing_cert=cert(seal.certificate),
        signing_key=asn1_keys.PrivateKeyInfo.load(der),
        cert_registry=SimpleCertificateStore.from_certs([cert(c) for c in seal.chain]),
    )
    meta = signers.PdfSignatureMetadata(
        field_name="Seal",
        md_algorithm="sha256",
        subfilter=fields.SigSeedSubFilter.PADES,
        name=name,
        reason="电子证照签章 Electronic licence seal",
    )
    out = signers.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(pdf)), meta, signer=signer)
    return bytes(out.getvalue())
