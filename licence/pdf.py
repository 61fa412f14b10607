"""Sealed PDF rendition of a licence: Chinese fields in an embedded CJK font, the visible seal,
a QR code (identifier, content digest, verification URL), and a PAdES signature with the seal key.

Drawn directly with pyHanko's PDF writer (the font is subset and embedded through its OpenType
engine) and signed by pyHanko; the seal picture is the PNG whose hash the seal certificate binds.
"""

from __future__ import annotations

import functools
import io
import struct
import textwrap
import weakref
import zlib
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
from pyhanko.pdf_utils.font.api import FontEngine, ShapeResult
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


_TAGS_KEPT = (b"OS/2", b"cvt ", b"fpgm", b"hhea", b"hmtx", b"maxp", b"name", b"prep")


def _checksum(data: bytes) -> int:
    """OpenType table checksum: sum of big-endian uint32 words (data padded to 4 bytes)."""
    padded = data + b"\0" * (-len(data) % 4)
    return sum(struct.unpack(f">{len(padded) // 4}I", padded)) & 0xFFFFFFFF


def _composite_parts(glyph: bytes) -> list[int]:
    """Glyph ids a composite TrueType glyph is built from (empty for a simple glyph)."""
    if len(glyph) < 10 or struct.unpack_from(">h", glyph)[0] >= 0:
        return []
    parts, pos = [], 10
    while True:
        flags, gid = struct.unpack_from(">HH", glyph, pos)
        parts.append(gid)
        pos += 4 + (4 if flags & 0x0001 else 2)
        pos += 2 if flags & 0x0008 else 4 if flags & 0x0040 else 8 if flags & 0x0080 else 0
        if not flags & 0x0020:
            return parts


class _FontProgram:
    """A TrueType font parsed once per process: HarfBuzz face, advance widths, raw glyphs.

    Building a PDF's font subset from these is a matter of copying the used glyphs' bytes into
    a new ``glyf``/``loca`` (glyph ids kept, as pyHanko's CIDFontType2 subsets keep them), which
    replaces parsing the 7,000-glyph font and re-subsetting it with fontTools for every PDF.
    """

    def __init__(self, path: Path) -> None:
        import uharfbuzz as hb
        from fontTools.ttLib import TTFont

        self.data = data = path.read_bytes()
        n_tables = struct.unpack_from(">H", data, 4)[0]
        self.tables: dict[bytes, bytes] = {}
        for i in range(n_tables):
            tag, _, off, length = struct.unpack_from(">4sIII", data, 12 + 16 * i)
            self.tables[tag] = data[off : off + length]
        if b"glyf" not in self.tables or b"loca" not in self.tables:
            raise ValueError(f"{path.name} has no TrueType outlines")
        head, maxp, hhea = self.tables[b"head"], self.tables[b"maxp"], self.tables[b"hhea"]
        self.units_per_em = struct.unpack_from(">H", head, 18)[0]
        self.num_glyphs = n = struct.unpack_from(">H", maxp, 4)[0]
        long_loca = struct.unpack_from(">h", head, 50)[0] == 1
        loca = self.tables[b"loca"]
        if long_loca:
            offsets = struct.unpack_from(f">{n + 1}I", loca)
        else:
            offsets = tuple(2 * o for o in struct.unpack_from(f">{n + 1}H", loca))
        glyf = self.tables[b"glyf"]
        self.glyphs = [glyf[offsets[g] : offsets[g + 1]] for g in range(n)]
        n_metrics = struct.unpack_from(">H", hhea, 34)[0]
        advances = struct.unpack_from(f">{2 * n_metrics}H", self.tables[b"hmtx"])[0::2]
        self.advances = list(advances) + [advances[-1]] * (n - n_metrics)
        self.hb_font = hb.Font(hb.Face(data))
        tt = TTFont(str(path), lazy=True)
        self.ps_name = next(r.toUnicode() for r in tt["name"].names if r.nameID == 6)
        os2, hhea_t, head_t = tt["OS/2"], tt["hhea"], tt["head"]
        self.ascent, self.descent = int(hhea_t.ascent), int(hhea_t.descent)
        self.bbox = [head_t.xMin, head_t.yMin, head_t.xMax, head_t.yMax]
        self.stem_v = int(10 + 220 * (os2.usWeightClass - 50) / 900)
        self.italic_angle = float(getattr(tt["post"], "italicAngle", 0))
        self.cap_height = int(getattr(os2, "sCapHeight", 750))

    def subset(self, gids: set[int], cmap: dict[int, int]) -> bytes:
        """The font with only ``gids`` (and their components, and .notdef) keeping their ids,
        a format-4 ``cmap`` for ``cmap`` (code point -> glyph id) and a format-3 ``post``."""
        keep, todo = {0}, list(gids)
        while todo:
            g = todo.pop()
            if g in keep or not 0 <= g < self.num_glyphs:
                continue
            keep.add(g)
            todo.extend(_composite_parts(self.glyphs[g]))
        parts: list[bytes] = []
        offsets = [0] * (self.num_glyphs + 1)
        pos = 0
        for g in range(self.num_glyphs):
            if g in keep and self.glyphs[g]:
                glyph = self.glyphs[g]
                glyph += b"\0" * (-len(glyph) % 4)
                parts.append(glyph)
                pos += len(glyph)
            offsets[g + 1] = pos
        head = bytearray(self.tables[b"head"])
        head[8:12] = b"\0\0\0\0"  # checkSumAdjustment, set below
        head[50:52] = struct.pack(">h", 1)  # long loca
        tables = {t: self.tables[t] for t in _TAGS_KEPT if t in self.tables}
        tables[b"head"] = bytes(head)
        tables[b"glyf"] = b"".join(parts)
        tables[b"loca"] = struct.pack(f">{len(offsets)}I", *offsets)
        tables[b"post"] = b"\0\3\0\0" + self.tables[b"post"][4:32]
        tables[b"cmap"] = _cmap4(cmap)
        font, at = _sfnt(tables)
        adjust = (0xB1B0AFBA - _checksum(font)) & 0xFFFFFFFF
        at += 8  # head.checkSumAdjustment
        return font[:at] + struct.pack(">I", adjust) + font[at + 4 :]


def _cmap4(mapping: dict[int, int]) -> bytes:
    """A ``cmap`` with one (3, 1) format-4 subtable: one segment per code point."""
    pairs = sorted((c, g) for c, g in mapping.items() if c < 0xFFFF)
    ends = [c for c, _ in pairs] + [0xFFFF]
    deltas = [(g - c) & 0xFFFF for c, g in pairs] + [1]
    seg = len(ends)
    sel = seg.bit_length() - 1
    search = 2 * (1 << sel)
    sub = struct.pack(">HHHHHHH", 4, 16 + 8 * seg, 0, 2 * seg, search, sel, 2 * seg - search)
    sub += struct.pack(f">{seg}H", *ends) + b"\0\0" + struct.pack(f">{seg}H", *ends)
    sub += struct.pack(f">{seg}H", *deltas) + b"\0\0" * seg
    return struct.pack(">HHHHI", 0, 1, 3, 1, 12) + sub


def _sfnt(tables: dict[bytes, bytes]) -> tuple[bytes, int]:
    """An OpenType file from its tables (directory sorted by tag, tables 4-byte aligned) and
    the offset of its ``head`` table."""
    tags = sorted(tables)
    sel = len(tags).bit_length() - 1
    search = (1 << sel) * 16
    out = [struct.pack(">IHHHH", 0x00010000, len(tags), search, sel, len(tags) * 16 - search)]
    offset = 12 + 16 * len(tags)
    body = []
    head_at = 0
    for tag in tags:
        data = tables[tag]
        out.append(struct.pack(">4sIII", tag, _checksum(data), offset, len(data)))
        head_at = offset if tag == b"head" else head_at
        padded = data + b"\0" * (-len(data) % 4)
        body.append(padded)
        offset += len(padded)
    return b"".join(out + body), head_at


@functools.lru_cache(maxsize=4)
def _font_program(path: Path, mtime_ns: int) -> _FontProgram | None:
    try:
        return _FontProgram(path)
    except ValueError:
        return None  # CFF outlines: pyHanko's own engine handles them


class _SubsetEngine(FontEngine):
    """pyHanko font engine over a cached ``_FontProgram`` (same text operators, same
    Type0/CIDFontType2 structure and ToUnicode map as pyHanko's GlyphAccumulator)."""

    def __init__(self, writer: PdfFileWriter, program: _FontProgram) -> None:
        super().__init__(writer, program.ps_name, embedded_subset=True, font_size=1)
        self.program = program
        self._glyphs: dict[int, tuple[int, int]] = {}
        self._cid_to_unicode: dict[int, str] = {}
        self._font_ref = writer.allocate_placeholder()
        self._written = False

    def _cid_and_width(self, gid: int) -> tuple[int, int]:
        got = self._glyphs.get(gid)
        if got is None:
            got = self._glyphs[gid] = (gid, self.program.advances[gid])
        return got

    def shape(self, txt: str) -> ShapeResult:
        import uharfbuzz as hb
        from pyhanko.pdf_utils.font.opentype import (
            _format_cid_glyphline_from_buffer,
            _gids_by_cluster,
        )

        if not txt:
            return ShapeResult(b"", 0, 0)
        buf = hb.Buffer()
        buf.add_str(txt)
        buf.guess_segment_properties()
        hb.shape(self.program.hb_font, buf, None)
        ops, (total_x, total_y) = _format_cid_glyphline_from_buffer(
            buf,
            cid_width_callback=self._cid_and_width,
            units_per_em=self.program.units_per_em,
            font_size=self.font_size,
            vertical=False,
        )
        for cluster, next_cluster, gids in _gids_by_cluster(buf):
            text = txt[cluster:] if next_cluster is None else txt[cluster:next_cluster]
            for gid in gids if len(gids) == 1 else ():
                if gid:
                    self._cid_to_unicode[self._cid_and_width(gid)[0]] = text
        span = io.BytesIO()
        span.write(b"/Span ")
        generic.DictionaryObject(
            {pdf_name("/ActualText"): generic.TextStringObject(txt)}
        ).write_to_stream(span)
        span.write(b" BDC " + ops + b" EMC")
        upem = self.program.units_per_em
        return ShapeResult(span.getvalue(), total_x / upem, total_y / upem)

    def as_resource(self) -> generic.IndirectObject:
        return self._font_ref

    def prepare_write(self) -> None:
        if self._written:
            return
        self._written = True
        prog, w = self.program, self.writer
        # dictionaries in an object stream, as pyHanko's own engine writes them
        objs = w.prepare_object_stream() if w.stream_xrefs else None
        name = f"{self.subset_prefix}+{prog.ps_name}"
        cmap = {ord(t): cid for cid, t in self._cid_to_unicode.items() if len(t) == 1}
        font_file = generic.StreamObject(
            {pdf_name("/Filter"): pdf_name("/FlateDecode")},
            encoded_data=zlib.compress(prog.subset(set(self._glyphs), cmap), 1),
        )
        descriptor = generic.DictionaryObject(
            {
                pdf_name("/Type"): pdf_name("/FontDescriptor"),
                pdf_name("/FontName"): pdf_name("/" + name),
                pdf_name("/Ascent"): generic.NumberObject(prog.ascent),
                pdf_name("/Descent"): generic.NumberObject(prog.descent),
                pdf_name("/FontBBox"): generic.ArrayObject(map(generic.NumberObject, prog.bbox)),
                pdf_name("/Flags"): generic.NumberObject(0b110),
                pdf_name("/StemV"): generic.NumberObject(prog.stem_v),
                pdf_name("/ItalicAngle"): generic.FloatObject(prog.italic_angle),
                pdf_name("/CapHeight"): generic.NumberObject(prog.cap_height),
                pdf_name("/FontFile2"): w.add_object(font_file),
            }
        )
        widths: list[generic.PdfObject] = []
        run: list[generic.PdfObject] = []
        first = prev = -2
        for cid, width in sorted(self._glyphs.values()):
            if run and cid != prev + 1:
                widths += [generic.NumberObject(first), generic.ArrayObject(run)]
                run = []
            if not run:
                first = cid
            run.append(generic.NumberObject(width))
            prev = cid
        if run:
            widths += [generic.NumberObject(first), generic.ArrayObject(run)]
        cid_font = generic.DictionaryObject(
            {
                pdf_name("/Type"): pdf_name("/Font"),
                pdf_name("/Subtype"): pdf_name("/CIDFontType2"),
                pdf_name("/CIDSystemInfo"): generic.DictionaryObject(
                    {
                        pdf_name("/Registry"): generic.pdf_string("Adobe"),
                        pdf_name("/Ordering"): generic.pdf_string("Identity"),
                        pdf_name("/Supplement"): generic.NumberObject(0),
                    }
                ),
                pdf_name("/BaseFont"): pdf_name("/" + name),
                pdf_name("/FontDescriptor"): w.add_object(descriptor, objs),
                pdf_name("/CIDToGIDMap"): pdf_name("/Identity"),
                pdf_name("/W"): generic.ArrayObject(widths),
            }
        )
        type0 = generic.DictionaryObject(
            {
                pdf_name("/Type"): pdf_name("/Font"),
                pdf_name("/Subtype"): pdf_name("/Type0"),
                pdf_name("/DescendantFonts"): generic.ArrayObject([w.add_object(cid_font, objs)]),
                pdf_name("/Encoding"): pdf_name("/Identity-H"),
                pdf_name("/BaseFont"): pdf_name(f"/{name}-Identity-H"),
                pdf_name("/ToUnicode"): w.add_object(_to_unicode(self._cid_to_unicode)),
            }
        )
        w.add_object(type0, objs, idnum=self._font_ref.idnum)


def _to_unicode(cid_to_text: dict[int, str]) -> generic.StreamObject:
    """ToUnicode CMap (Adobe-UCS2 style, as pyHanko writes it): CID -> UTF-16BE text."""
    lines = []
    pairs = sorted(cid_to_text.items())
    for lo in range(0, len(pairs), 100):
        block = pairs[lo : lo + 100]
        lines.append(f"{len(block)} beginbfchar")
        lines += [f"<{cid:04x}> <{t.encode('utf-16be').hex()}>" for cid, t in block]
        lines.append("endbfchar")
    text = (
        "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n"
        "/CIDSystemInfo <<\n/Registry (Adobe)\n/Ordering (UCS2)\n/Supplement 0\n>> def\n"
        "/CMapName /Adobe-Identity-UCS2 def\n/CMapType 2 def\n"
        "1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n"
        + "\n".join(lines)
        + "\nendcmap\nCMapName\ncurrentdict\n/CMap defineresource\npop\nend\nend"
    )
    stream = generic.StreamObject(stream_data=text.encode("ascii"))
    stream.compress()
    return stream


def _font_engine(writer: PdfFileWriter, font: Path) -> FontEngine:
    """A font engine for ``font``: the cached-program engine for TrueType outlines, pyHanko's
    GlyphAccumulator (which parses and subsets the font anew) for anything else."""
    program = _font_program(font, font.stat().st_mtime_ns)
    if program is not None:
        return _SubsetEngine(writer, program)
    engine: FontEngine = GlyphAccumulatorFactory(str(font), font_size=1).create_font_engine(writer)
    return engine


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
            self.engines[1] = _font_engine(self.writer, self.font)
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
