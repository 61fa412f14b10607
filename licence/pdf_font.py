"""The PDF rendition's CJK font: cut down once, then subset and embedded per PDF by pyHanko.

The font program is parsed once per process and each PDF's subset copies the used glyphs
(glyph ids kept); ``licence.pdf`` draws and signs the page with it.
"""

from __future__ import annotations

import functools
import io
import struct
import zlib
from pathlib import Path

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.font.api import FontEngine, ShapeResult
from pyhanko.pdf_utils.font.opentype import GlyphAccumulatorFactory
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.writer import PdfFileWriter

from licence.picture import cjk_font_path


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


def font_engine(writer: PdfFileWriter, font: Path) -> FontEngine:
    """A font engine for ``font``: the cached-program engine for TrueType outlines, pyHanko's
    GlyphAccumulator (which parses and subsets the font anew) for anything else."""
    program = _font_program(font, font.stat().st_mtime_ns)
    if program is not None:
        return _SubsetEngine(writer, program)
    engine: FontEngine = GlyphAccumulatorFactory(str(font), font_size=1).create_font_engine(writer)
    return engine
