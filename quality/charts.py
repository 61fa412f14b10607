"""Charts of the quality scorecard: small inline SVG, no JavaScript (the command line's HTML
report and the catalogue page draw the same chart), and its plain-text table."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any


def svg_trend(points: Sequence[tuple[str, float]], threshold: float | None) -> str:
    """A small inline SVG line chart of one dimension over runs (no JavaScript)."""
    width, height, pad = 320, 120, 24
    if not points:
        return "<p>no data</p>"
    lo = min([v for _, v in points] + ([threshold] if threshold is not None else []) + [0.9])
    lo = max(0.0, min(lo, 1.0) - 0.01)

    def y(v: float) -> float:
        return pad + (1.0 - (v - lo) / (1.0 - lo or 1.0)) * (height - 2 * pad)

    step = (width - 2 * pad) / max(1, len(points) - 1)
    coords = [(pad + i * step, y(v)) for i, (_, v) in enumerate(points)]
    path = " ".join(f"{x:.1f},{yy:.1f}" for x, yy in coords)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="trend">',
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#fafafa" stroke="#ddd"/>',
        f'<text x="2" y="{pad - 6}" font-size="10">1.00</text>',
        f'<text x="2" y="{height - 4}" font-size="10">{lo:.2f}</text>',
    ]
    if threshold is not None:
        ty = y(threshold)
        parts.append(
            f'<line x1="{pad}" x2="{width - pad}" y1="{ty:.1f}" y2="{ty:.1f}" '
            f'stroke="#c00" stroke-dasharray="4 3"><title>threshold {threshold}</title></line>'
        )
    parts.append(f'<polyline fill="none" stroke="#1565c0" stroke-width="2" points="{path}"/>')
    for (x, yy), (label, v) in zip(coords, points, strict=True):
        parts.append(
            f'<circle cx="{x:.1f}" cy="{yy:.1f}" r="3" fill="#1565c0">'
            f"<title>{html.escape(label)}: {v:.4f}</title></circle>"
        )
    parts.append("</svg>")
    return "".join(parts)


def scorecard_table(runs: Sequence[dict[str, Any]]) -> str:
    """The scorecard as plain text: one line per checked run with its ratios per dimension
    (and a line for its breaches), as `hub quality report` and `hub demo` print it."""
    from schemas.contracts import DIMENSIONS  # pyarrow: only when a table is printed

    short = {d: d[:5] for d in DIMENSIONS}
    head = f"{'checked at':19}  {'dataset':18} {'status':9} {'rows':>8} {'held':>6}  " + " ".join(
        f"{short[d]:>6}" for d in DIMENSIONS
    )
    lines = [head, "-" * len(head)]
    for r in runs:
        m = r["metrics"]
        cells = " ".join(f"{m[d]:6.3f}" if d in m else f"{'-':>6}" for d in DIMENSIONS)
        lines.append(
            f"{r['checked_at']:%Y-%m-%d %H:%M:%S}  {r['dataset']:18.18} {r['status']:9} "
            f"{r['rows_in']:>8} {r['rows_quarantined']:>6}  {cells}"
        )
        if r["breaches"]:
            lines.append(f"{'':21}breach: {r['breaches']}")
    return "\n".join(lines)
