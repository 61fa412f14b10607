"""Licences as OFD files (GB/T 33190) sealed with GB/T 38540 seals.

``ses_seal`` gives a registered seal as the standard's DER SESeal (made once by the platform
seal CA, the seal maker, then kept with the seal's other objects, so the bytes never change);
``sign_with_seal`` makes a SES_Signature over a document with the seal's own key;
``render_ofd`` writes a licence as an OFD package: ``OFD.xml``, ``Doc_0/Document.xml``, the page
(text in an embedded subset of the CJK font, the QR code), the seal picture as a stamp
annotation, the sealed licence JSON as an attachment, and ``Signatures.xml`` →
``Signature.xml`` whose references protect every other file (SM3 digests under the national
profile) and whose SES_Signature (``SignedValue.dat``) is made over ``Signature.xml``.

The package is written with ``zipfile`` and lxml (already installed with pyHanko). easyofd
(PyPI) was judged and not taken: it writes OFDs only from PDF pages or images (``pdf2ofd``,
``jpg2ofd``: no text objects, fonts, annotations or attachments of our choosing), reads seals
only to pull their pictures out, cannot sign, and brings PyMuPDF (AGPL), reportlab and loguru.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import textwrap
import uuid
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from licence import ca, gbt38540, seals
from licence.signers import SM2_SM3, EcdsaP256Signer, Signer

if TYPE_CHECKING:
    from licence.service import LicenceService

SEAL_DER = "seals/{seal_id}/seal.der"
SHA256_OID = "2.16.840.1.101.3.4.2.1"


def _aware(t: dt.datetime) -> dt.datetime:
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


def ses_seal(service: LicenceService, seal_id: str) -> bytes:
    """The registered seal ``seal_id`` as a DER SESeal signed by the platform seal CA."""
    row = service.store.seal(seal_id)
    if row is None:
        raise seals.SealError(f"no seal {seal_id}")
    path = SEAL_DER.format(seal_id=seal_id)
    if service.objects.exists(path):
        return bytes(service.objects.get(path))
    pca = service.platform_ca()
    maker: Signer
    if row["algorithm"] == SM2_SM3:
        # national profile: the SM2 seal maker the seal CA certified signs with SM2 and SM3
        maker_cert, maker = seals.ensure_sm2_maker(service.keys, service.objects, pca.seal_ca)
    else:
        maker_key = service.keys.load(ca.SEAL_CA_KEY)
        if not isinstance(maker_key, ec.EllipticCurvePrivateKey):
            raise seals.SealError("the platform seal CA key is not an EC key")
        maker_cert, maker = pca.seal_ca, EcdsaP256Signer(maker_key)
    cert = x509.load_pem_x509_certificate(str(row["cert_pem"]).encode())
    der = gbt38540.build_seal(
        seal_id=seal_id,
        name=str(row["name"]),
        certs=[cert.public_bytes(serialization.Encoding.DER)],
        create_date=_aware(row["created_at"]),
        valid_start=_aware(row["valid_from"]),
        valid_end=_aware(row["valid_to"]),
        picture=service.objects.get(f"seals/{seal_id}/picture.png"),
        picture_type="PNG",
        width_mm=seals.PICTURE_MM,
        height_mm=seals.PICTURE_MM,
        maker_cert=maker_cert.public_bytes(serialization.Encoding.DER),
        maker=maker,
    )
    service.objects.put(path, der)
    return der


def sign_with_seal(
    service: LicenceService,
    seal_id: str,
    data: bytes,
    property_info: str,
    when: dt.datetime,
) -> bytes:
    """A DER SES_Signature over ``data`` with the seal's key (the seal must be active)."""
    row = service.store.seal(seal_id)
    if row is None:
        raise seals.SealError(f"no seal {seal_id}")
    if row["status"] != "active":
        raise seals.SealError(f"seal {seal_id} is {row['status']}: it cannot sign")
    if not _aware(row["valid_from"]) <= when <= _aware(row["valid_to"]):
        raise seals.SealError(f"seal {seal_id} is not valid at {when.isoformat()}")
    cert = x509.load_pem_x509_certificate(str(row["cert_pem"]).encode())
    signer = seals.load_signer(service.keys, str(row["key_name"]), str(row["algorithm"]))
    try:
        return gbt38540.sign_document(
            seal_der=ses_seal(service, seal_id),
            data=data,
            when=when,
            property_info=property_info,
            cert=cert.public_bytes(serialization.Encoding.DER),
            signer=signer,
        )
    except gbt38540.SesError as exc:
        raise seals.SealError(f"seal {seal_id} cannot sign: {exc}") from None


# ---- the OFD package (GB/T 33190) ------------------------------------------------------------

OFD_NS = "http://www.ofdspec.org/2016"
DOC = "Doc_0"
SIGN_DIR = f"{DOC}/Signs/Sign_0"
SIGNATURE_XML = f"/{SIGN_DIR}/Signature.xml"
SIGNED_VALUE = f"/{SIGN_DIR}/SignedValue.dat"
SIGNATURES_XML = f"{DOC}/Signs/Signatures.xml"
LICENCE_ATTACHMENT = f"{DOC}/Attachs/licence.json"
PAGE_W_MM, PAGE_H_MM = 297.0, 210.0  # A4 landscape, like the PDF and the paper licence
SEAL_MM = float(seals.PICTURE_MM)
ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # fixed entry times: the same licence gives the same files
BORDER_RGB = "158 33 26"
GOLD_RGB = "184 140 56"


class _Ids:
    """The document's unit identifiers (ST_ID), counted from 1; MaxUnitID is the last."""

    def __init__(self) -> None:
        self.last = 0

    def next(self) -> str:
        self.last += 1
        return str(self.last)


def _xml(root: Any) -> bytes:
    from lxml import etree

    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def _el(parent: Any, tag: str, text: str | None = None, **attrs: str) -> Any:
    from lxml import etree

    node = etree.SubElement(parent, f"{{{OFD_NS}}}{tag}", attrs)
    if text is not None:
        node.text = text
    return node


def _root(tag: str, **attrs: str) -> Any:
    from lxml import etree

    return etree.Element(f"{{{OFD_NS}}}{tag}", attrs, nsmap={"ofd": OFD_NS})


def _num(v: float) -> str:
    return f"{v:.2f}".rstrip("0").rstrip(".")


class _Layer:
    """One page layer: text runs in the embedded font, images by resource id (mm)."""

    def __init__(self, layer: Any, ids: _Ids, font_id: str) -> None:
        self.layer, self.ids, self.font_id = layer, ids, font_id
        self.chars: set[str] = set()

    def text(
        self, x: float, y: float, text: str, size: float, rgb: str = "0 0 0", align: str = "left"
    ) -> None:
        """A run whose baseline starts at (x, y), y from the top of the page."""
        self.chars.update(text)
        width = size * len(text)  # CJK glyphs are one em wide; Latin ones narrower
        left = {"left": x, "center": x - width / 2, "right": x - width}[align]
        box = f"{_num(left)} {_num(y - size)} {_num(width)} {_num(size * 1.3)}"
        node = _el(
            self.layer, "TextObject", ID=self.ids.next(), Boundary=box, Font=self.font_id,
            Size=_num(size),
        )  # fmt: skip
        _el(node, "FillColor", Value=rgb)
        _el(node, "TextCode", text, X="0", Y=_num(size))

    def image(
        self, resource: str, x: float, y: float, w: float, h: float, parent: Any = None
    ) -> None:
        _el(
            self.layer if parent is None else parent, "ImageObject", ID=self.ids.next(),
            Boundary=f"{_num(x)} {_num(y)} {_num(w)} {_num(h)}",
            CTM=f"{_num(w)} 0 0 {_num(h)} 0 0", ResourceID=resource,
        )  # fmt: skip

    def rect(self, x: float, y: float, w: float, h: float, width: float, rgb: str) -> None:
        node = _el(
            self.layer, "PathObject", ID=self.ids.next(),
            Boundary=f"{_num(x)} {_num(y)} {_num(w)} {_num(h)}", LineWidth=_num(width),
            Stroke="true", Fill="false",
        )  # fmt: skip
        _el(node, "StrokeColor", Value=rgb)
        _el(node, "AbbreviatedData", f"M 0 0 L {_num(w)} 0 L {_num(w)} {_num(h)} L 0 {_num(h)} C")


def _font_subset(font: Path, chars: set[str]) -> bytes:
    """The embedded font: only the glyphs the page uses (a licence page needs a few hundred)."""
    from fontTools import subset
    from fontTools.ttLib import TTFont

    tt = TTFont(str(font))
    options = subset.Options()
    options.hinting = False
    options.name_IDs = ["*"]
    subsetter = subset.Subsetter(options)
    subsetter.populate(text="".join(sorted(chars)))
    subsetter.subset(tt)
    out = io.BytesIO()
    tt.save(out)
    return out.getvalue()


def _date(yyyymmdd: str) -> str:
    if len(yyyymmdd) != 8:
        return yyyymmdd
    return f"{yyyymmdd[:4]}年{int(yyyymmdd[4:6])}月{int(yyyymmdd[6:])}日"


def _draw(layer: _Layer, doc: dict[str, Any]) -> None:
    """The licence page as the PDF has it: title, number, holder, fields, authority, date."""
    from schemas import licence_types

    vals = {n: e["value"] for n, e in doc["fields"].items() if "value" in e}
    signed = dt.datetime.strptime(doc["header"]["signed_at"], "%Y-%m-%dT%H:%M:%SZ")
    lt = licence_types.at(vals["证照类型代码"], signed)
    layer.rect(6, 6, PAGE_W_MM - 12, PAGE_H_MM - 12, 1.4, BORDER_RGB)
    layer.rect(10, 10, PAGE_W_MM - 20, PAGE_H_MM - 20, 0.4, GOLD_RGB)
    title = " ".join(lt.name)
    layer.text(PAGE_W_MM / 2, 40, title, 14 if len(lt.name) <= 7 else 98 / len(lt.name),
               BORDER_RGB, "center")  # fmt: skip
    layer.text(PAGE_W_MM / 2, 48, f"（电子证照 · {lt.name_en}）", 4.2, GOLD_RGB, "center")
    code_label = "统一社会信用代码" if lt.holder_kind == "entity" else "公民身份号码"
    layer.text(24, 24, f"证照编号：{vals.get('证照编号', '')}", 3.9)
    layer.text(PAGE_W_MM - 24, 24, f"{code_label}：{vals['持证主体代码']}", 3.9, align="right")
    rows: list[tuple[str, str]] = [("名称" if lt.holder_kind == "entity" else "姓名",
                                    vals["持证主体"])]  # fmt: skip
    rows += [(f.name, str(vals[f.key])) for f in lt.fields if f.key in vals]
    shown = {f.key for f in lt.fields}
    current = licence_types.get(lt.code)
    rows += [
        (f.name, str(vals[f.key])) for f in current.fields if f.key in vals and f.key not in shown
    ]
    until = vals.get("证照有效期截止日期", "")
    period = f"{_date(vals['证照有效期起始日期'])} 至 " + (_date(until) if until else "长期")
    rows.append(("有效期限", period))
    size = 4.6 if len(rows) <= 9 else 3.6
    y = 64.0
    for label, value in rows:
        layer.text(38, y, label, min(size, 50 / max(len(label), 1)), "64 64 64")
        for line in (textwrap.wrap(value, 34) or [""])[:4]:
            layer.text(92, y, line, size)
            y += size * 1.45
        y += size * 0.55
    layer.text(PAGE_W_MM - 39, PAGE_H_MM - 46, f"颁发机关：{vals['证照颁发机构']}", 4.9,
               align="right")  # fmt: skip
    layer.text(PAGE_W_MM - 39, PAGE_H_MM - 37, _date(vals["证照颁发日期"]), 4.9, align="right")
    layer.text(38, PAGE_H_MM - 13.5, "扫码核验 Scan to verify", 2.8, "77 77 77", "center")
    layer.text(PAGE_W_MM / 2, PAGE_H_MM - 13.5, f"证照标识 {doc['header']['licence_id']}", 2.5,
               "102 102 102", "center")  # fmt: skip


def _references(files: dict[str, bytes], algorithm: str) -> list[tuple[str, str]]:
    """(file reference, base64 digest) of every package file a signature protects: all of
    them except the signature's own files and the list of signatures (a later signature adds
    itself there without breaking this one)."""
    skip = {SIGNATURE_XML.lstrip("/"), SIGNED_VALUE.lstrip("/"), SIGNATURES_XML}
    return [
        (f"/{name}", base64.b64encode(gbt38540.digest(algorithm, files[name])).decode())
        for name in sorted(files)
        if name not in skip
    ]


def render_ofd(service: LicenceService, lid: str, font_cache: Path) -> bytes:
    """The licence as an OFD package sealed with its seal (GB/T 33190, GB/T 38540): the page,
    the embedded font subset, the seal picture as a stamp annotation, the sealed licence JSON
    as an attachment, and a SES_Signature over every file in ``Doc_0/Signs/Sign_0``."""
    from licence.pdf import qr_code_image, qr_payload
    from licence.pdf_font import font_file

    doc = service.document(lid)
    seal_id = str(doc["header"]["seal_id"])
    row = service.store.seal(seal_id)
    if row is None:
        raise seals.SealError(f"seal {seal_id} of licence {lid} is not in the store")
    algorithm = str(row["algorithm"])
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    ids = _Ids()
    font_id, seal_res, qr_res = ids.next(), ids.next(), ids.next()
    files: dict[str, bytes] = {}

    page = _root("Page")
    content = _el(page, "Content")
    layer = _Layer(_el(content, "Layer", ID=ids.next()), ids, font_id)
    _draw(layer, doc)
    layer.image(qr_res, 24, PAGE_H_MM - 52, 34, 34)
    files[f"{DOC}/Pages/Page_0/Content.xml"] = _xml(page)

    qr = io.BytesIO()
    qr_code_image(qr_payload(doc, service.verification_url)).save(qr, format="PNG")
    files[f"{DOC}/Res/qr.png"] = qr.getvalue()
    files[f"{DOC}/Res/seal.png"] = service.objects.get(f"seals/{seal_id}/picture.png")
    files[f"{DOC}/Res/font_0.ttf"] = _font_subset(font_file(font_cache), layer.chars)

    public = _root("Res", BaseLoc="Res")
    fonts = _el(public, "Fonts")
    font = _el(fonts, "Font", ID=font_id, FontName="NotoSansCJK-GB2312", FamilyName="NotoSansCJK")
    _el(font, "FontFile", "font_0.ttf")
    files[f"{DOC}/PublicRes.xml"] = _xml(public)
    res = _root("Res", BaseLoc="Res")
    media = _el(res, "MultiMedias")
    for rid, name in ((seal_res, "seal.png"), (qr_res, "qr.png")):
        _el(_el(media, "MultiMedia", ID=rid, Type="Image", Format="PNG"), "MediaFile", name)
    files[f"{DOC}/DocumentRes.xml"] = _xml(res)

    # the seal picture over the authority's name, as on paper: a stamp annotation
    stamp = (PAGE_W_MM - 88.0, PAGE_H_MM - 62.0)
    annots = _root("Annotations")
    _el(_el(annots, "Page", PageID="PAGE"), "FileLoc", "Page_0/Annotation.xml")
    page_annot = _root("PageAnnot")
    annot = _el(
        page_annot, "Annot", ID=ids.next(), Type="Stamp", Creator="egov-hub",
        LastModDate=now.date().isoformat(),
    )  # fmt: skip
    appearance = _el(annot, "Appearance", Boundary=f"{_num(stamp[0])} {_num(stamp[1])} "
                     f"{_num(SEAL_MM)} {_num(SEAL_MM)}")  # fmt: skip
    layer.image(seal_res, 0, 0, SEAL_MM, SEAL_MM, parent=appearance)
    files[f"{DOC}/Annots/Page_0/Annotation.xml"] = _xml(page_annot)

    raw = service.raw(lid)
    attachs = _root("Attachments")
    attach = _el(
        attachs, "Attachment", ID="licence", Name="licence.json", Format="json",
        CreationDate=str(doc["header"]["signed_at"]), Size=_num(len(raw) / 1024),
        Visible="false",
    )  # fmt: skip
    _el(attach, "FileLoc", "licence.json")
    files[f"{DOC}/Attachs/Attachments.xml"] = _xml(attachs)
    files[LICENCE_ATTACHMENT] = raw

    page_id = ids.next()
    files[f"{DOC}/Annots/Annotations.xml"] = _xml(annots).replace(
        b'"PAGE"', f'"{page_id}"'.encode()
    )
    document = _root("Document")
    common = _el(document, "CommonData")
    _el(common, "MaxUnitID", "MAXID")
    area = _el(common, "PageArea")
    _el(area, "PhysicalBox", f"0 0 {_num(PAGE_W_MM)} {_num(PAGE_H_MM)}")
    _el(common, "PublicRes", "PublicRes.xml")
    _el(common, "DocumentRes", "DocumentRes.xml")
    pages = _el(document, "Pages")
    _el(pages, "Page", ID=page_id, BaseLoc="Pages/Page_0/Content.xml")
    _el(document, "Annotations", "Annots/Annotations.xml")
    _el(document, "Attachments", "Attachs/Attachments.xml")
    sign_id = ids.next()
    files[f"{DOC}/Document.xml"] = _xml(document).replace(b"MAXID", str(ids.last).encode())

    ofd = _root("OFD", Version="1.0", DocType="OFD")
    body = _el(ofd, "DocBody")
    info = _el(body, "DocInfo")
    _el(info, "DocID", uuid.uuid5(uuid.NAMESPACE_URL, lid).hex)
    _el(info, "Title", f"电子证照 {doc['header']['licence_id']}")
    _el(info, "CreationDate", now.date().isoformat())
    _el(info, "Creator", "egov-hub")
    _el(body, "DocRoot", f"{DOC}/Document.xml")
    _el(body, "Signatures", SIGNATURES_XML)
    files["OFD.xml"] = _xml(ofd)

    signatures = _root("Signatures")
    _el(signatures, "MaxSignId", sign_id)
    _el(signatures, "Signature", ID=sign_id, Type="Seal", BaseLoc=SIGNATURE_XML)
    files[SIGNATURES_XML] = _xml(signatures)

    signature = _root("Signature")
    signed_info = _el(signature, "SignedInfo")
    _el(signed_info, "Provider", ProviderName="egov-hub", Version="1.0", Company="egov-hub")
    _el(signed_info, "SignatureMethod", gbt38540.ALGORITHM_OIDS[algorithm])
    _el(signed_info, "SignatureDateTime", now.strftime("%Y%m%d%H%M%SZ"))
    check_method = gbt38540.SM3_OID if algorithm == SM2_SM3 else SHA256_OID
    refs = _el(signed_info, "References", CheckMethod=check_method)
    for ref, value in _references(files, algorithm):
        _el(_el(refs, "Reference", FileRef=ref), "CheckValue", value)
    _el(
        signed_info, "StampAnnot", ID=f"stamp{sign_id}", PageRef=page_id,
        Boundary=f"{_num(stamp[0])} {_num(stamp[1])} {_num(SEAL_MM)} {_num(SEAL_MM)}",
    )  # fmt: skip
    _el(signature, "SignedValue", SIGNED_VALUE)
    signature_xml = _xml(signature)
    files[SIGNATURE_XML.lstrip("/")] = signature_xml
    files[SIGNED_VALUE.lstrip("/")] = sign_with_seal(
        service, seal_id, signature_xml, SIGNATURE_XML, now
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name in ["OFD.xml", *sorted(n for n in files if n != "OFD.xml")]:
            z.writestr(zipfile.ZipInfo(name, ZIP_TIME), files[name], zipfile.ZIP_DEFLATED)
    return out.getvalue()
