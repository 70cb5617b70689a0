"""Inline SVG plots drawn at build time: no JavaScript library, no network, deterministic text."""

from __future__ import annotations

import math
from html import escape

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22")
W, H = 640, 400
LEFT, RIGHT, TOP, BOTTOM = 70, 20, 20, 50


def _num(x: float) -> str:
    return f"{x:.1f}"


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values covering [lo, hi]."""
    lo, hi = min(lo, hi), max(lo, hi)
    if hi == lo:
        pad = abs(lo) * 0.1 or 1.0
        lo, hi = lo - pad, hi + pad
    raw = (hi - lo) / count
    step = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if raw <= m * step:
            step *= m
            break
    start = math.floor(lo / step) * step
    ticks, t = [], start
    while t <= hi + step * 1e-9:
        ticks.append(round(t, 10))
        t += step
    if ticks[-1] < hi:
        ticks.append(round(ticks[-1] + step, 10))
    return ticks


class _Axes:
    def __init__(self, xs, ys, log_x=False):
        self.log_x = log_x
        fx = (lambda v: math.log10(v)) if log_x else (lambda v: v)
        self.fx = fx
        if log_x:
            lo, hi = math.floor(math.log10(min(xs))), math.ceil(math.log10(max(xs)))
            self.xticks = [10**e for e in range(lo, max(hi, lo + 1) + 1)]
        else:
            self.xticks = nice_ticks(min(xs), max(xs))
        self.yticks = nice_ticks(min(ys), max(ys))
        self.x0, self.x1 = fx(self.xticks[0]), fx(self.xticks[-1])
        self.y0, self.y1 = self.yticks[0], self.yticks[-1]

    def px(self, x):
        return LEFT + (self.fx(x) - self.x0) / ((self.x1 - self.x0) or 1) * (W - LEFT - RIGHT)

    def py(self, y):
        return H - BOTTOM - (y - self.y0) / ((self.y1 - self.y0) or 1) * (H - TOP - BOTTOM)

    def frame(self, x_label, y_label, fmt_x, fmt_y) -> list[str]:
        out = [f'<rect x="{LEFT}" y="{TOP}" width="{W - LEFT - RIGHT}" height="{H - TOP - BOTTOM}" class="plot-area"/>']
        for t in self.xticks:
            x = _num(self.px(t))
            out.append(f'<line x1="{x}" x2="{x}" y1="{TOP}" y2="{H - BOTTOM}" class="grid"/>')
            out.append(f'<text x="{x}" y="{H - BOTTOM + 16}" text-anchor="middle" class="tick">{escape(fmt_x(t))}</text>')
        for t in self.yticks:
            y = _num(self.py(t))
            out.append(f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{y}" y2="{y}" class="grid"/>')
            out.append(f'<text x="{LEFT - 6}" y="{y}" text-anchor="end" dominant-baseline="middle" class="tick">{escape(fmt_y(t))}</text>')
        out.append(f'<text x="{(LEFT + W - RIGHT) / 2:.1f}" y="{H - 10}" text-anchor="middle" class="axis-label">{escape(x_label)}</text>')
        out.append(
            f'<text x="16" y="{(TOP + H - BOTTOM) / 2:.1f}" text-anchor="middle" class="axis-label" '
            f'transform="rotate(-90 16 {(TOP + H - BOTTOM) / 2:.1f})">{escape(y_label)}</text>'
        )
        return out


def _svg(title: str, body: list[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" aria-label="{escape(title)}">'
        f"<title>{escape(title)}</title>" + "".join(body) + "</svg>"
    )


def scatter(points: list[dict], *, title: str, x_label: str, y_label: str, fmt_x=str, fmt_y=str) -> str:
    """points: {n, x, y, href, tip, trained}; one numbered dot per row of the table (the page lists
    the numbers with their full labels, so no label is cut at the figure's edge). Trained models
    are drawn as diamonds."""
    axes = _Axes([p["x"] for p in points], [p["y"] for p in points])
    body = axes.frame(x_label, y_label, fmt_x, fmt_y)
    if axes.y0 < 0 < axes.y1:
        y = _num(axes.py(0))
        body.append(f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{y}" y2="{y}" class="zero"/>')
    for p in points:
        x, y, color = axes.px(p["x"]), axes.py(p["y"]), PALETTE[(p["n"] - 1) % len(PALETTE)]
        if p.get("trained"):
            mark = f'<path d="M{x:.1f},{y - 7:.1f} L{x + 7:.1f},{y:.1f} L{x:.1f},{y + 7:.1f} L{x - 7:.1f},{y:.1f} Z" fill="{color}">'
            end = "</path>"
        else:
            mark, end = f'<circle cx="{_num(x)}" cy="{_num(y)}" r="6" fill="{color}">', "</circle>"
        right = x > LEFT + 0.8 * (W - LEFT - RIGHT)  # number to the left near the right edge
        body.append(
            f'<a href="{escape(p["href"])}">{mark}<title>{escape(p["tip"])}</title>{end}'
            f'<text x="{x + (-9 if right else 9):.1f}" y="{y - 7:.1f}" text-anchor="{"end" if right else "start"}" '
            f'class="point-label">{p["n"]}</text></a>'
        )
    return _svg(title, body)


def lines(series: list[dict], *, title: str, x_label: str, y_label: str, fmt_x=str, fmt_y=str) -> str:
    """series: {name, points: [(x, y, tip, sd or None)]}; one line per series (colour PALETTE[n], named
    in the page's legend), ±sd bars where given; log x when x spans >= 10x."""
    xs = [p[0] for s in series for p in s["points"]]
    ys = [y for s in series for _, v, _, sd in s["points"] for y in ((v - sd, v + sd) if sd else (v,))]
    axes = _Axes(xs, ys, log_x=min(xs) > 0 and max(xs) / min(xs) >= 10)
    body = axes.frame(x_label + (" (log scale)" if axes.log_x else ""), y_label, fmt_x, fmt_y)
    for n, s in enumerate(series):
        color = PALETTE[n % len(PALETTE)]
        coords = [(_num(axes.px(x)), _num(axes.py(y)), tip, sd, y) for x, y, tip, sd in s["points"]]
        if len(coords) > 1:
            path = " ".join(f"{x},{y}" for x, y, *_ in coords)
            body.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"/>')
        for x, y, tip, sd, v in coords:
            if sd:
                body.append(f'<line x1="{x}" x2="{x}" y1="{_num(axes.py(v - sd))}" y2="{_num(axes.py(v + sd))}" stroke="{color}" stroke-width="1.5"/>')
            body.append(f'<circle cx="{x}" cy="{y}" r="4.5" fill="{color}"><title>{escape(tip)}</title></circle>')
    return _svg(title, body)
