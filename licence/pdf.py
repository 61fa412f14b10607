"""Sealed PDF rendition of a licence: Chinese fields in an embedded CJK font, the visible seal,
a QR code (identifier, content digest, verification URL), and a PAdES signature with the seal key.

Drawn directly with pyHanko's PDF writer (the font is subset and embedded by
``licence.pdf_font``) and signed by pyHanko; the seal picture is the PNG whose hash the seal
certificate binds.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import textwrap
import weakref
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import qrcode
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from PIL import Image
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.images import pil_image
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.writer import PageObject, PdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko_certvalidator.registry import SimpleCertificateStore

from licence import seals
from licence.pdf_font import font_engine, font_file
from licence.signers import SM2_SM3
from schemas import licence_types

if TYPE_CHECKING:
    from licence.service import LicenceService

PAGE_W, PAGE_H = 842.0, 595.0  # A4 landscape, like the paper business licence
BORDER = (0.62, 0.13, 0.10)
GOLD = (0.72, 0.55, 0.22)


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
            self.engines[1] = font_engine(self.writer, self.font)
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


@functools.lru_cache(maxsize=16)
def _image_data(png: bytes) -> tuple[int, int, str, bytes, bytes | None] | None:
    """Width, height, colour space and Flate-compressed samples (and alpha) of a PNG, computed
    once per picture: the seal picture is the same on every PDF of a seal."""
    img = Image.open(io.BytesIO(png))
    img.load()
    if img.mode not in ("RGB", "RGBA", "L", "LA"):
        return None
    alpha = None
    if img.mode.endswith("A"):
        alpha = zlib.compress(img.split()[-1].tobytes())
        img = img.convert(img.mode[:-1])
    space = "/DeviceGray" if img.mode == "L" else "/DeviceRGB"
    return img.width, img.height, space, zlib.compress(img.tobytes()), alpha


def _image_stream(width: int, height: int, colour: str, encoded: bytes) -> generic.StreamObject:
    """An 8-bit image XObject over Flate-compressed samples (what ``pil_image`` writes)."""
    return generic.StreamObject(
        {
            pdf_name("/Type"): pdf_name("/XObject"),
            pdf_name("/Subtype"): pdf_name("/Image"),
            pdf_name("/Width"): generic.NumberObject(width),
            pdf_name("/Height"): generic.NumberObject(height),
            pdf_name("/ColorSpace"): pdf_name(colour),
            pdf_name("/BitsPerComponent"): generic.NumberObject(8),
            pdf_name("/Filter"): pdf_name("/FlateDecode"),
        },
        encoded_data=encoded,
    )


def _cached_image(png: bytes, writer: PdfFileWriter) -> generic.IndirectObject:
    """The PNG as an image XObject (with its alpha as /SMask), like pyHanko's ``pil_image``."""
    data = _image_data(png)
    if data is None:
        return pil_image(Image.open(io.BytesIO(png)), writer)
    width, height, space, samples, alpha = data
    image = _image_stream(width, height, space, samples)
    if alpha is not None:
        image[pdf_name("/SMask")] = writer.add_object(
            _image_stream(width, height, "/DeviceGray", alpha)
        )
    return writer.add_object(image)


def _qr_image(img: Image.Image, writer: PdfFileWriter) -> generic.IndirectObject:
    """The QR code's RGB samples as an image XObject; Flate level 1: two-colour blocks
    compress well at any level, and level 6 took longer than the rest of the page."""
    encoded = zlib.compress(img.tobytes(), 1)
    return writer.add_object(_image_stream(img.width, img.height, "/DeviceRGB", encoded))


def _runs_penalty(m: Any) -> int:
    """QR penalty rule 1 along rows: each run of 5+ same-colour modules costs its length - 2."""
    import numpy as np

    rows, n = m.shape
    change = np.ones((rows, n + 1), dtype=bool)
    change[:, 1:n] = m[:, 1:] != m[:, :-1]
    lengths = np.diff(np.flatnonzero(change.ravel()))
    return int((lengths[lengths >= 5] - 2).sum())


def _finder_penalty(m: Any) -> int:
    """QR penalty rule 3 along rows: 40 per 1:1:3:1:1 finder-like pattern with 4 light
    modules before or after it."""
    import numpy as np
    from numpy.lib.stride_tricks import sliding_window_view

    if m.shape[1] < 11:
        return 0
    windows = sliding_window_view(m, 11, axis=1)
    p1 = np.array([1, 0, 1, 1, 1, 0, 1, 0, 0, 0, 0], dtype=bool)
    return 40 * int((windows == p1).all(axis=-1).sum() + (windows == p1[::-1]).all(axis=-1).sum())


def qr_lost_point(modules: Any) -> int:
    """``qrcode.util.lost_point`` computed with numpy: the same four ISO/IEC 18004 penalty
    rules and the same total, so the same mask pattern is chosen, in a fraction of the time."""
    import numpy as np

    m = np.asarray(modules, dtype=bool)
    n = m.shape[0]
    total = _runs_penalty(m) + _runs_penalty(m.T)
    a, b, c, d = m[:-1, :-1], m[:-1, 1:], m[1:, :-1], m[1:, 1:]
    total += 3 * int(((a == b) & (a == c) & (a == d)).sum())
    total += _finder_penalty(m) + _finder_penalty(m.T)
    percent = float(int(m.sum())) / (n**2)
    return total + int(abs(percent * 100 - 50) / 5) * 10


@functools.lru_cache(maxsize=8)
def _mask_grids(n: int) -> dict[int, Any]:
    """Where ``qrcode.util.mask_func(pattern)`` flips a module, per pattern, for n x n."""
    import numpy as np

    i, j = np.indices((n, n))
    return {
        0: (i + j) % 2 == 0,
        1: i % 2 == 0,
        2: j % 3 == 0,
        3: (i + j) % 3 == 0,
        4: (i // 2 + j // 3) % 2 == 0,
        5: (i * j) % 2 + (i * j) % 3 == 0,
        6: ((i * j) % 2 + (i * j) % 3) % 2 == 0,
        7: ((i * j) % 3 + (i + j) % 2) % 2 == 0,
    }


class _QRCode(qrcode.QRCode):  # type: ignore[type-arg]
    def best_mask_pattern(self) -> int:
        """qrcode's own choice (lowest lost point, first on ties), but the eight test symbols
        are one data placement XOR each mask (in test mode the format bits are all light)
        instead of eight placements, and the penalty is computed with numpy."""
        import numpy as np
        from qrcode import main as qr_main

        self.makeImpl(True, 0)
        placed = np.array(self.modules, dtype=bool)
        n = placed.shape[0]
        self.modules = [list(row) for row in qr_main.precomputed_qr_blanks[self.version]]
        self.setup_type_info(True, 0)
        if self.version >= 7:
            self.setup_type_number(True)
        data = np.array([[m is None for m in row] for row in self.modules], dtype=bool)
        grids = _mask_grids(n)
        raw = placed ^ (data & grids[0])
        best, pattern = 0, 0
        for i in range(8):
            lost = qr_lost_point(raw ^ (data & grids[i]))
            if i == 0 or best > lost:
                best, pattern = lost, i
        return pattern


def qr_code_image(payload: str) -> Image.Image:
    """The QR code image (box 6, border 1, ECC level M) printed on the PDF, pixel for pixel
    what ``qrcode``'s PIL image gives (the PDF check compares these pixels)."""
    import numpy as np

    qr = _QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=6, border=1)
    qr.add_data(payload)
    qr.make(fit=True)
    dark = np.pad(np.array(qr.modules, dtype=bool), qr.border)
    pixels = np.where(dark, 0, 255).astype(np.uint8)
    pixels = np.repeat(np.repeat(pixels, qr.box_size, axis=0), qr.box_size, axis=1)
    return Image.fromarray(pixels, "L").convert("RGB")


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


# the rows of fields: labels from LABEL_X, values from VALUE_X, between ROWS_TOP and ROWS_BOTTOM
# (above the issuing authority, the seal and the QR code), in the largest size that fits
LABEL_X, VALUE_X, LABEL_WIDTH = 110.0, 262.0, 144.0
ROWS_TOP, ROWS_BOTTOM = PAGE_H - 175, 152.0
LINE, GAP = 1.43, 0.57  # line height and the gap after a row, in units of the font size
MAX_LINES = 4  # lines of one value at most


def _fit_rows(rows: list[tuple[str, str]]) -> tuple[int, list[tuple[str, list[str]]]]:
    """The font size (14 down to 9) and the wrapped values of the rows: the largest size at
    which the last line stays above the authority's name and the seal."""
    wrapped: list[tuple[str, list[str]]] = []
    for size in range(14, 8, -1):
        per_line = int(30 * 14 / size)  # the values' column is 420 pt wide
        wrapped = [(label, (textwrap.wrap(v, per_line) or [""])[:MAX_LINES]) for label, v in rows]
        lines = sum(len(ls) for _, ls in wrapped)
        last = ROWS_TOP - (lines - 1) * size * LINE - (len(wrapped) - 1) * size * GAP
        if last >= ROWS_BOTTOM:
            return size, wrapped
    return 9, wrapped


def render(doc: dict[str, Any], seal_png: bytes, verification_url: str, font: Path) -> bytes:
    """The unsigned one-page PDF of a (fully disclosed) licence."""
    vals = {n: e["value"] for n, e in doc["fields"].items() if "value" in e}
    # the type as it was when the licence was sealed: a later change never alters it
    signed = dt.datetime.strptime(doc["header"]["signed_at"], "%Y-%m-%dT%H:%M:%SZ")
    lt = licence_types.at(vals["证照类型代码"], signed)
    writer = PdfFileWriter()
    page = _Page(writer, font)
    page.rect(18, 18, PAGE_W - 36, PAGE_H - 36, 4, BORDER)
    page.rect(28, 28, PAGE_W - 56, PAGE_H - 56, 1.2, GOLD)
    # a long name (建筑业企业资质证书) is set smaller so it stays clear of the header lines
    title_size = 40 if len(lt.name) <= 7 else int(40 * 7 / len(lt.name))
    page.text(PAGE_W / 2, PAGE_H - 105, " ".join(lt.name), title_size, BORDER, "center")
    page.text(PAGE_W / 2, PAGE_H - 128, f"（电子证照 · {lt.name_en}）", 12, GOLD, "center")
    code_label = "统一社会信用代码" if lt.holder_kind == "entity" else "公民身份号码"
    page.text(70, PAGE_H - 70, f"证照编号：{vals.get('证照编号', '')}", 11)
    page.text(PAGE_W - 70, PAGE_H - 70, f"{code_label}：{vals['持证主体代码']}", 11, align="right")
    holder_label = "名称" if lt.holder_kind == "entity" else "姓名"
    rows: list[tuple[str, str]] = [(holder_label, vals["持证主体"])]
    rows += [(f.name, str(vals[f.key])) for f in lt.fields if f.key in vals]
    # a field the licence holds that this version of its type does not (sealed in the second
    # the type changed): shown under the current type's title, never left out
    shown = {f.key for f in lt.fields}
    current = licence_types.get(lt.code)
    rows += [
        (f.name, str(vals[f.key])) for f in current.fields if f.key in vals and f.key not in shown
    ]
    until = vals.get("证照有效期截止日期", "")
    rows.append(
        (
            "有效期限",
            f"{_date(vals['证照有效期起始日期'])} 至 " + (_date(until) if until else "长期"),
        )
    )
    size, wrapped = _fit_rows(rows)
    y = ROWS_TOP
    for label, lines in wrapped:
        spaced = label if len(label) > 3 else "　".join(label)
        # a long label is set smaller so that it ends before the values' column
        label_size = min(size, int(LABEL_WIDTH / len(spaced))) if spaced else size
        page.text(LABEL_X, y, spaced, label_size, (0.25, 0.25, 0.25))
        for line in lines:
            page.text(VALUE_X, y, line, size)
            y -= size * LINE
        y -= size * GAP
    # issuing authority, date and the seal over them (as on paper)
    page.text(PAGE_W - 110, 130, f"颁发机关：{vals['证照颁发机构']}", 14, align="right")
    page.text(PAGE_W - 110, 105, _date(vals["证照颁发日期"]), 14, align="right")
    page.image("Seal", PAGE_W - 250, 55, 120, 120)
    page.image("QR", 60, 50, 96, 96)
    page.text(108, 38, "扫码核验 Scan to verify", 8, (0.3, 0.3, 0.3), "center")
    page.text(
        PAGE_W / 2, 38, f"证照标识 {doc['header']['licence_id']}", 7, (0.4, 0.4, 0.4), "center"
    )
    images = {
        "Seal": _cached_image(seal_png, writer),
        "QR": _qr_image(qr_code_image(qr_payload(doc, verification_url)), writer),
    }
    page.finish(images)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def pdf_signer(seal: SealMaterial) -> signers.SimpleSigner:
    """pyHanko's signer for a seal: build it once per seal and pass it to every ``sign``."""
    der = seal.key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )

    def cert(c: x509.Certificate) -> asn1_x509.Certificate:
        return asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER))

    return signers.SimpleSigner(
        signing_cert=cert(seal.certificate),
        signing_key=asn1_keys.PrivateKeyInfo.load(der),
        cert_registry=SimpleCertificateStore.from_certs([cert(c) for c in seal.chain]),
    )


def sign(
    pdf: bytes, seal: SealMaterial, name: str, signer: signers.SimpleSigner | None = None
) -> bytes:
    """PAdES (B-B) signature of ``pdf`` with the seal key; the chain is embedded.

    ``signer`` is ``pdf_signer(seal)``, made once per seal by callers signing many PDFs.
    """
    signer = signer or pdf_signer(seal)
    meta = signers.PdfSignatureMetadata(
        field_name="Seal",
        md_algorithm="sha256",
        subfilter=fields.SigSeedSubFilter.PADES,
        name=name,
        reason="电子证照签章 Electronic licence seal",
    )
    # pyHanko sizes the signature space by building and signing a dummy CMS first; for one
    # signer (same certificates, no timestamp) that size never changes, so it is measured on
    # the first PDF and reused: half the signing work per PDF, the same space reserved
    reserved = _reserved.get(signer)
    out = signers.sign_pdf(
        IncrementalPdfFileWriter(io.BytesIO(pdf)), meta, signer=signer, bytes_reserved=reserved
    )
    data = bytes(out.getvalue())
    if reserved is None:
        from pyhanko.pdf_utils.reader import PdfFileReader

        sig = PdfFileReader(io.BytesIO(data)).embedded_signatures[0]
        _reserved[signer] = 2 * len(sig.sig_object.raw_get("/Contents"))
    return data


_reserved: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()

# per service, seal id -> (certificate PEM, signing material, pyHanko signer)
_seal_material: weakref.WeakKeyDictionary[
    LicenceService, dict[str, tuple[str, SealMaterial, signers.SimpleSigner]]
] = weakref.WeakKeyDictionary()


def render_pdf(
    service: LicenceService, lid: str, font_cache: Any, tsa_url: str | None = None
) -> bytes:
    """The PAdES-signed PDF of a stored licence, sealed with the seal that sealed it: B-B, or
    with ``tsa_url`` (the platform TSA, ``licence.ltv``) B-LTA."""
    doc = service.document(lid)
    seal_id = doc["header"]["seal_id"]
    row = service.store.seal(seal_id)
    if row is None:
        raise seals.SealError(f"seal {seal_id} of licence {lid} is not in the store")
    if row["algorithm"] == SM2_SM3:
        raise seals.SealError(
            f"licence {lid} is sealed with the SM2 seal {seal_id}: a PAdES PDF cannot be "
            "sealed with SM2 (pyHanko and the PDF signature standards have no SM2-with-SM3); "
            "hand out the sealed JSON licence, which verifies with `hub verify`"
        )
    # the seal's key, certificates, picture and pyHanko signer are loaded once per seal
    # (decrypting the key and parsing certificates for every PDF cost more than drawing it);
    # keyed by the certificate too, so a store that changed under us is read again
    per_seal = _seal_material.setdefault(service, {})
    cached = per_seal.get(seal_id)
    if cached is None or cached[0] != row["cert_pem"]:
        png = service.objects.get(f"seals/{seal_id}/picture.png")
        key = service.keys.load(row["key_name"])
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        pca = service.platform_ca()
        material = SealMaterial(
            key,
            x509.load_pem_x509_certificate(row["cert_pem"].encode()),
            [pca.seal_ca, pca.root],
            png,
        )
        cached = (row["cert_pem"], material, pdf_signer(material))
        per_seal[seal_id] = cached
    _, material, signer = cached
    unsigned = render(doc, material.picture_png, service.verification_url, font_file(font_cache))
    if tsa_url is not None:
        from licence.ltv import sign_pdf_ltv

        roots = [service.platform_ca().root]
        return sign_pdf_ltv(unsigned, signer, roots, tsa_url, row["name"], archive=True)
    return sign(unsigned, material, row["name"], signer)
