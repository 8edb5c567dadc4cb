"""``report.html``: one self-contained page per run that opens offline.

Everything the page shows is inside the file: CSS inline, plots as base64
``data:image/png`` URIs (or inline SVG when matplotlib is not installed), the
misclassified test images as tiny PNGs encoded here with NumPy and ``zlib``
alone. No scripts, fonts or stylesheets are fetched from anywhere.
"""

from __future__ import annotations

import base64
import html
import math
import struct
import zlib
from collections.abc import Mapping, Sequence

import numpy as np

__all__ = ["png_bytes", "data_uri", "image_shape", "svg_line_chart", "render_report"]


# --------------------------------------------------------------------------- tiny PNG encoder

def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def png_bytes(image: np.ndarray) -> bytes:
    """Encode an ``(H, W)`` grayscale or ``(H, W, 3)`` RGB uint8 array as PNG bytes."""
    img = np.asarray(image)
    if img.dtype != np.uint8:
        raise TypeError(f"png_bytes: image must be uint8, got {img.dtype}")
    if img.ndim == 2:
        color_type, channels = 0, 1
    elif img.ndim == 3 and img.shape[2] == 3:
        color_type, channels = 2, 3
    else:
        raise ValueError(f"png_bytes: image must have shape (H, W) or (H, W, 3), got {img.shape}")
    h, w = img.shape[:2]
    rows = img.reshape(h, w * channels)
    # each scanline starts with filter type 0 (None)
    raw = np.concatenate([np.zeros((h, 1), np.uint8), rows], axis=1).tobytes()
    header = struct.pack(">IIBBBBB", w, h, 8, color_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(raw, 9))
            + _chunk(b"IEND", b""))


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def image_shape(n_features: int) -> tuple[int, int] | None:
    """``(side, side)`` when ``n_features`` is a square of at least 16 (8x8 digits, 28x28 MNIST)."""
    side = math.isqrt(int(n_features))
    return (side, side) if side * side == n_features and side >= 4 else None


def to_uint8_image(x: np.ndarray, shape: tuple[int, int], scale: int = 4) -> np.ndarray:
    """A feature vector as a dark-on-light uint8 image, min-max scaled and enlarged ``scale`` times."""
    img = np.asarray(x, dtype=np.float64).reshape(shape)
    lo, hi = float(img.min()), float(img.max())
    norm = (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)
    pixels = (255.0 * (1.0 - norm)).round().astype(np.uint8)  # ink dark, paper light
    return np.kron(pixels, np.ones((scale, scale), np.uint8))


# --------------------------------------------------------------------------- SVG fallback chart

_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd")


def svg_line_chart(series: Mapping[str, Sequence[float]], *, title: str = "", xlabel: str = "",
                   logy: bool = False, width: int = 460, height: int = 260) -> str:
    """A small inline SVG line chart (used when matplotlib is unavailable)."""
    pad_l, pad_r, pad_t, pad_b = 56, 12, 26, 34
    clean = {}
    for name, ys in series.items():
        ys = np.asarray([np.nan if v is None else v for v in ys], dtype=np.float64)
        if logy:
            ys = np.where(ys > 0, ys, np.nan)
            ys = np.log10(ys, where=~np.isnan(ys), out=np.full_like(ys, np.nan))
        if ys.size and np.isfinite(ys).any():
            clean[name] = ys
    parts = [f'<svg width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="{html.escape(title)}">',
             f'<text x="{width / 2}" y="16" text-anchor="middle" font-size="13">{html.escape(title)}</text>']
    if not clean:
        parts.append(f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle">no data</text></svg>')
        return "".join(parts)
    allv = np.concatenate([v[np.isfinite(v)] for v in clean.values()])
    lo, hi = float(allv.min()), float(allv.max())
    if hi - lo < 1e-12:
        lo, hi = lo - 0.5, hi + 0.5
    n = max(len(v) for v in clean.values())
    pw, ph = width - pad_l - pad_r, height - pad_t - pad_b

    def sx(i):
        return pad_l + (pw * i / (n - 1) if n > 1 else pw / 2)

    def sy(v):
        return pad_t + ph * (1.0 - (v - lo) / (hi - lo))

    parts.append(f'<rect x="{pad_l}" y="{pad_t}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>')
    for v in (lo, (lo + hi) / 2, hi):
        label = f"1e{v:.1f}" if logy else f"{v:.3g}"
        parts.append(f'<text x="{pad_l - 4}" y="{sy(v) + 4:.1f}" text-anchor="end" font-size="10">{label}</text>')
    parts.append(f'<text x="{pad_l}" y="{height - 18}" font-size="10">1</text>')
    parts.append(f'<text x="{pad_l + pw}" y="{height - 18}" text-anchor="end" font-size="10">{n}</text>')
    parts.append(f'<text x="{pad_l + pw / 2}" y="{height - 4}" text-anchor="middle" font-size="11">'
                 f'{html.escape(xlabel)}</text>')
    for k, (name, ys) in enumerate(clean.items()):
        color = _COLORS[k % len(_COLORS)]
        pts = " ".join(f"{sx(i):.1f},{sy(v):.1f}" for i, v in enumerate(ys) if np.isfinite(v))
        parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.6" points="{pts}"/>')
        parts.append(f'<text x="{pad_l + 8}" y="{pad_t + 14 + 13 * k}" font-size="11" fill="{color}">'
                     f'{html.escape(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


# --------------------------------------------------------------------------- HTML pieces

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem auto;max-width:1100px;
color:#222;padding:0 1rem;line-height:1.4}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd}
.sub{color:#666;margin-top:0}
table{border-collapse:collapse;font-size:.9rem}
td,th{padding:.25rem .6rem;border:1px solid #e3e3e3;text-align:left}
th{background:#f6f6f6}
.kv td:first-child{font-family:ui-monospace,monospace;color:#444}
.metrics{display:flex;flex-wrap:wrap;gap:1rem}
.metric{border:1px solid #ddd;border-radius:8px;padding:.6rem 1rem;min-width:9rem}
.metric .v{font-size:1.5rem;font-weight:600}.metric .k{color:#666;font-size:.85rem}
.plots{display:flex;flex-wrap:wrap;gap:1rem}.plots figure{margin:0}
.plots img{max-width:520px;width:100%;border:1px solid #eee}
figcaption{color:#666;font-size:.85rem}
.cm td{text-align:center;min-width:2.2rem;font-variant-numeric:tabular-nums}
.cm th{text-align:center}
.grid{display:flex;flex-wrap:wrap;gap:.6rem}
.grid figure{margin:0;text-align:center;border:1px solid #eee;padding:.3rem;border-radius:6px}
.grid img{image-rendering:pixelated;width:64px;height:64px}
.grid figcaption{font-size:.8rem;color:#333}
.bad{color:#c0392b;font-weight:600}
.note{color:#666;font-size:.9rem}
"""


def _esc(value) -> str:
    return html.escape(str(value))


def _fmt(value) -> str:
    if isinstance(value, float):
        if value != value:
            return "nan"
        return f"{value:.4g}" if abs(value) < 1e-3 or abs(value) >= 1e4 else f"{value:.4f}".rstrip("0").rstrip(".")
    if isinstance(value, (list, tuple)):
        return ", ".join(_fmt(v) for v in value) if value else "(none)"
    if value is None:
        return "-"
    return str(value)


def _kv_table(items: Mapping) -> str:
    rows = "".join(f"<tr><td>{_esc(k)}</td><td>{_esc(_fmt(v))}</td></tr>" for k, v in items.items())
    return f'<table class="kv">{rows}</table>'


def _figure(img, caption: str) -> str:
    """``img`` is PNG bytes or an SVG string."""
    if isinstance(img, (bytes, bytearray)):
        body = f'<img src="{data_uri(bytes(img))}" alt="{_esc(caption)}">'
    else:
        body = img
    return f"<figure>{body}<figcaption>{_esc(caption)}</figcaption></figure>"


def confusion_table(cm: np.ndarray, labels: Sequence) -> str:
    """The confusion matrix as an HTML table, rows = true class, columns = predicted class.

    Cells are shaded by the fraction of their row: blue on the diagonal
    (correct), red off it (mistakes), so the eye goes straight to confusions.
    """
    cm = np.asarray(cm)
    k = cm.shape[0]
    head = "".join(f"<th>{_esc(lab)}</th>" for lab in labels)
    rows = []
    for i in range(k):
        total = cm[i].sum()
        cells = []
        for j in range(k):
            count = int(cm[i, j])
            frac = count / total if total else 0.0
            if count == 0:
                style = ""
            elif i == j:
                style = f' style="background:rgba(31,119,180,{0.15 + 0.75 * frac:.2f})"'
            else:
                style = f' style="background:rgba(214,39,40,{0.2 + 0.8 * min(1.0, 4 * frac):.2f})"'
            cells.append(f"<td{style}>{count}</td>")
        acc = cm[i, i] / total if total else float("nan")
        rows.append(f"<tr><th>{_esc(labels[i])}</th>{''.join(cells)}<td>{_fmt(float(acc))}</td></tr>")
    return (f'<table class="cm"><tr><th>true \\ predicted</th>{head}<th>recall</th></tr>'
            + "".join(rows) + "</table>")


def misclassified_grid(items: Sequence[Mapping], shape: tuple[int, int] | None, limit: int = 60) -> str:
    """A grid of misclassified test examples with their true and predicted labels.

    ``items``: dicts with ``x`` (raw feature vector), ``true``, ``pred`` and
    optionally ``confidence`` (the predicted class's probability).
    """
    if not items:
        return '<p class="note">No test example was misclassified.</p>'
    shown = list(items)[:limit]
    if shape is None:  # not image-like: a table of the first features
        n_show = min(8, len(np.asarray(shown[0]["x"]).ravel()))
        head = "".join(f"<th>x{j}</th>" for j in range(n_show))
        rows = []
        for it in shown:
            xs = np.asarray(it["x"]).ravel()[:n_show]
            cells = "".join(f"<td>{_fmt(float(v))}</td>" for v in xs)
            conf = it.get("confidence")
            rows.append(f"<tr><td>{_esc(it['true'])}</td><td class='bad'>{_esc(it['pred'])}</td>"
                        f"<td>{_fmt(conf) if conf is not None else '-'}</td>{cells}</tr>")
        return (f"<table><tr><th>true</th><th>predicted</th><th>confidence</th>{head}</tr>"
                + "".join(rows) + "</table>")
    figs = []
    for it in shown:
        uri = data_uri(png_bytes(to_uint8_image(it["x"], shape)))
        conf = it.get("confidence")
        conf_txt = f" ({conf:.0%})" if conf is not None else ""
        figs.append(f'<figure><img src="{uri}" alt="true {_esc(it["true"])}, predicted {_esc(it["pred"])}">'
                    f"<figcaption>true {_esc(it['true'])}<br><span class='bad'>pred {_esc(it['pred'])}"
                    f"</span>{_esc(conf_txt)}</figcaption></figure>")
    more = (f'<p class="note">Showing {len(shown)} of {len(items)} misclassified examples.</p>'
            if len(items) > len(shown) else "")
    return f'<div class="grid">{"".join(figs)}</div>{more}'


def render_report(*, title: str, subtitle: str = "", config: Mapping, metrics: Mapping,
                  headline: Mapping | None = None, plots: Sequence[tuple] = (),
                  confusion: tuple | None = None, misclassified: Sequence[Mapping] | None = None,
                  misclassified_shape: tuple[int, int] | None = None,
                  history_rows: Sequence[Mapping] | None = None) -> str:
    """The whole report as one HTML string.

    ``plots``: ``(caption, png_bytes_or_svg)`` pairs; ``confusion``: ``(matrix,
    labels)``; ``headline``: the few metrics shown big at the top.
    """
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width,initial-scale=1">',
           f"<title>{_esc(title)}</title><style>{_CSS}</style></head><body>",
           f"<h1>{_esc(title)}</h1>"]
    if subtitle:
        out.append(f'<p class="sub">{_esc(subtitle)}</p>')
    if headline:
        cards = "".join(f'<div class="metric"><div class="v">{_esc(_fmt(v))}</div><div class="k">{_esc(k)}</div></div>'
                        for k, v in headline.items())
        out.append(f'<div class="metrics">{cards}</div>')
    out.append("<h2>Final metrics</h2>" + _kv_table(metrics))
    if plots:
        out.append("<h2>Training</h2><div class='plots'>" + "".join(_figure(img, cap) for cap, img in plots)
                   + "</div>")
    if confusion is not None:
        cm, labels = confusion
        out.append("<h2>Confusion matrix (test set)</h2>" + confusion_table(cm, labels))
    if misclassified is not None:
        out.append("<h2>Misclassified test examples</h2>" + misclassified_grid(misclassified, misclassified_shape))
    if history_rows:
        keys = [k for k in history_rows[0].keys()]
        head = "".join(f"<th>{_esc(k)}</th>" for k in keys)
        body = "".join("<tr>" + "".join(f"<td>{_esc(_fmt(r.get(k)))}</td>" for k in keys) + "</tr>"
                       for r in history_rows)
        out.append(f"<h2>Per-epoch history</h2><table>{'<tr>' + head + '</tr>'}{body}</table>")
    out.append("<h2>Configuration</h2>" + _kv_table(config))
    out.append("</body></html>")
    return "\n".join(out)
