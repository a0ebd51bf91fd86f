"""Self-contained HTML (inline SVG, no scripts) for interest timelines: one stacked bar per window, one colour
per interest, with a legend — readable in any browser, embeddable in reports."""

from __future__ import annotations

from html import escape

import numpy as np

from tiderec.dynamics.timeline import Timeline

PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f")


def timeline_svg(tl: Timeline, height: int = 220, bar: int = 28, gap: int = 10) -> str:
    """An <svg> element: x = windows in time order, bar segments = top interests' shares."""
    labels: list[str] = []
    for w in tl.windows:
        for label, _ in w.interests:
            if label not in labels:
                labels.append(label)
    colour = {label: PALETTE[i % len(PALETTE)] for i, label in enumerate(labels)}
    width = max(1, len(tl.windows)) * (bar + gap) + gap
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + 40}" role="img">']
    for i, w in enumerate(tl.windows):
        x, y = gap + i * (bar + gap), float(height)
        for label, share in w.interests:
            h = share * height
            y -= h
            title = f"{w.start.date()}: {label} {share:.0%}"
            parts.append(
                f'<rect x="{x}" y="{y:.1f}" width="{bar}" height="{h:.1f}" fill="{colour[label]}">'
                f"<title>{escape(title)}</title></rect>"
            )
        parts.append(f'<text x="{x}" y="{height + 14}" font-size="9">{w.start.strftime("%m-%d")}</text>')
    parts.append("</svg>")
    legend = "".join(
        f'<li><span style="background:{c};display:inline-block;width:10px;height:10px"></span> {escape(label)}</li>'
        for label, c in colour.items()
    )
    return "".join(parts) + f'<ul class="legend">{legend}</ul>'


def timeline_html(tl: Timeline) -> str:
    """A whole HTML page with the timeline plot and its table."""
    rows = "".join(
        f"<tr><td>{w.start.date()}</td><td>{w.events}</td><td>"
        + escape(", ".join(f"{label} {share:.0%}" for label, share in w.interests))
        + "</td></tr>"
        for w in tl.windows
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>Interests of {escape(tl.user_id)}</title></head>"
        f"<body><h1>Interests of {escape(tl.user_id)} per {tl.granularity}</h1>{timeline_svg(tl)}"
        f"<table><tr><th>window</th><th>events</th><th>top interests</th></tr>{rows}</table></body></html>"
    )


def line_chart_svg(
    series: dict[str, np.ndarray],
    x_labels: list[str],
    width: int = 640,
    height: int = 220,
    dashed: frozenset[str] = frozenset(),
) -> str:
    """An <svg> line chart: one polyline per named series float[T] over shared x labels, with a legend;
    names in `dashed` are drawn dashed (e.g. forecasts next to actuals)."""
    top = max((float(np.nanmax(v)) for v in series.values() if len(v)), default=1.0) or 1.0
    n = max(len(x_labels), 2)
    left, bottom = 40, 20
    x = [left + i * (width - left - 10) / (n - 1) for i in range(n)]
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + bottom}" role="img">']
    parts.append(f'<text x="0" y="12" font-size="9">{top:.0f}</text><text x="0" y="{height}" font-size="9">0</text>')
    for i, (name, values) in enumerate(series.items()):
        colour = PALETTE[i % len(PALETTE)]
        points = " ".join(
            f"{x[t]:.1f},{height - float(v) / top * (height - 10):.1f}" for t, v in enumerate(values) if np.isfinite(v)
        )
        dash = ' stroke-dasharray="4 3"' if name in dashed else ""
        parts.append(
            f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="1.5"{dash}>'
            f"<title>{escape(name)}</title></polyline>"
        )
    step = max(1, n // 8)
    for t in range(0, len(x_labels), step):
        parts.append(f'<text x="{x[t]:.1f}" y="{height + 14}" font-size="9">{escape(x_labels[t])}</text>')
    parts.append("</svg>")
    legend = "".join(
        f'<li><span style="background:{PALETTE[i % len(PALETTE)]};display:inline-block;width:10px;height:10px">'
        f"</span> {escape(name)}</li>"
        for i, name in enumerate(series)
    )
    return "".join(parts) + f'<ul class="legend">{legend}</ul>'
