"""The seal picture: a red round official seal (authority name along the rim, a star), SVG and PNG.

The PNG is drawn with Pillow using a CJK font from Debian (fonts-wqy-zenhei); its SHA-256 is what
the seal certificate certifies, so the drawing is deterministic for the same inputs.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

RED = (200, 16, 30, 255)
CJK_FONTS = (
    Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
)


class FontMissingError(RuntimeError):
    """No CJK font is installed (run `make env`, which installs fonts-wqy-zenhei)."""


def cjk_font_path() -> Path:
    """The first installed CJK font file."""
    for path in CJK_FONTS:
        if path.exists():
            return path
    raise FontMissingError("no CJK font found: run `make env` (installs fonts-wqy-zenhei)")


def _star(cx: float, cy: float, r: float) -> list[tuple[float, float]]:
    pts = []
    for i in range(10):
        rad = r if i % 2 == 0 else r * 0.382
        a = -math.pi / 2 + i * math.pi / 5
        pts.append((cx + rad * math.cos(a), cy + rad * math.sin(a)))
    return pts


def _rim_angles(n: int) -> list[float]:
    # characters spread over ~250 degrees of the upper rim, left to right, like a real seal
    span = min(250.0, 24.0 * n)
    start = -90 - span / 2
    return [start + span * (i + 0.5) / n for i in range(n)]


def seal_svg(authority: str, seal_name: str = "", size_mm: int = 42) -> str:
    """SVG of the seal (viewBox 0..200)."""
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{size_mm}mm" height="{size_mm}mm" '
        'viewBox="0 0 200 200">',
        '<circle cx="100" cy="100" r="94" fill="none" stroke="#c8101e" stroke-width="6"/>',
        '<polygon fill="#c8101e" points="'
        + " ".join(f"{x:.2f},{y:.2f}" for x, y in _star(100, 100, 30))
        + '"/>',
    ]
    for ch, deg in zip(authority, _rim_angles(len(authority)), strict=True):
        a = math.radians(deg)
        x, y = 100 + 72 * math.cos(a), 100 + 72 * math.sin(a)
        parts.append(
            f'<text x="{x:.2f}" y="{y:.2f}" fill="#c8101e" font-size="22" '
            f'font-family="WenQuanYi Zen Hei, Noto Sans CJK SC, sans-serif" text-anchor="middle" '
            f'dominant-baseline="central" transform="rotate({deg + 90:.2f} {x:.2f} {y:.2f})">'
            f"{ch}</text>"
        )
    if seal_name:
        parts.append(
            f'<text x="100" y="158" fill="#c8101e" font-size="16" text-anchor="middle" '
            f'font-family="WenQuanYi Zen Hei, sans-serif">{seal_name}</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts)


def seal_png(authority: str, seal_name: str = "", px: int = 400) -> bytes:
    """PNG of the seal (transparent background), drawn at ``px`` pixels square."""
    s = px / 200
    img = Image.new("RGBA", (px, px), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    draw.ellipse([6 * s, 6 * s, 194 * s, 194 * s], outline=RED, width=round(6 * s))
    draw.polygon(_star(100 * s, 100 * s, 30 * s), fill=RED)
    font_path = str(cjk_font_path())
    font = ImageFont.truetype(font_path, round(24 * s))
    for ch, deg in zip(authority, _rim_angles(len(authority)), strict=True):
        a = math.radians(deg)
        x, y = 100 * s + 70 * s * math.cos(a), 100 * s + 70 * s * math.sin(a)
        glyph = Image.new("RGBA", (round(30 * s), round(30 * s)), (0, 0, 0, 0))
        ImageDraw.Draw(glyph).text(
            (glyph.width / 2, glyph.height / 2), ch, font=font, fill=RED, anchor="mm"
        )
        glyph = glyph.rotate(-(deg + 90), resample=Image.Resampling.BICUBIC)
        img.alpha_composite(glyph, (round(x - glyph.width / 2), round(y - glyph.height / 2)))
    if seal_name:
        small = ImageFont.truetype(font_path, round(16 * s))
        draw.text((100 * s, 156 * s), seal_name, font=small, fill=RED, anchor="mm")
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=False)
    return buf.getvalue()
