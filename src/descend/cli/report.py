"""The HTML reports: Jinja2 templates, one base page shared by every report.

Each report (``descend train``'s ``report.html``, the sweep's, and those of ``descend landscape``,
``search`` and ``basins``) is a template under ``templates/`` that extends ``base.html.j2``: one
self-contained page (CSS inline, images as ``data:`` URIs, no scripts, nothing fetched) that
opens offline. Autoescaping is on, so every text that reaches a page (file names, labels, error
messages) is escaped. Plots come from :mod:`descend.viz` (matplotlib); small images such as
misclassified digits are PNGs written by Pillow.
"""

from __future__ import annotations

import base64
import functools
import io
import math
from collections.abc import Mapping, Sequence

import numpy as np

__all__ = ["render", "fmt", "fixed", "png_bytes", "figure_png", "data_uri", "image_shape", "to_uint8_image",
           "confusion_table", "misclassified_grid", "metric_meaning", "render_report"]


# --------------------------------------------------------------------------- templates

def fixed(value: float, digits: int = 4) -> str:
    """``value`` with ``digits`` decimals and never a negative zero: a value that rounds to zero
    (-0.0, or -3e-11 at the end of a walk to the origin) is written "0.0000", not "-0.0000"."""
    text = f"{float(value):.{digits}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def fmt(value) -> str:
    """A value as a report shows it: floats to 4 significant figures, lists joined, None as '-'."""
    if isinstance(value, (float, np.floating)):
        value = float(value) + 0.0  # -0.0 + 0.0 is 0.0
        if not math.isfinite(value):
            return "nan" if value != value else str(value)
        return f"{value:.4g}" if abs(value) < 1e-3 or abs(value) >= 1e4 else f"{value:.4f}".rstrip("0").rstrip(".")
    if isinstance(value, (list, tuple)):
        return ", ".join(fmt(v) for v in value) if value else "(none)"
    if value is None:
        return "-"
    return str(value)


@functools.cache
def _environment():
    """The one Jinja2 environment (templates from the package, autoescaping on, unknown names
    an error rather than an empty string)."""
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("descend.cli", "templates"), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["fmt"] = fmt
    return env


def render(template: str, **context) -> str:
    """Render ``templates/<template>`` with ``context`` (every value escaped)."""
    return _environment().get_template(template).render(**context)


def _macro(name: str):
    return getattr(_environment().get_template("parts.html.j2").module, name)


# --------------------------------------------------------------------------- images

def png_bytes(image: np.ndarray) -> bytes:
    """Encode an ``(H, W)`` grayscale or ``(H, W, 3)`` RGB uint8 array as PNG bytes (Pillow)."""
    from PIL import Image

    img = np.asarray(image)
    if img.dtype != np.uint8:
        raise TypeError(f"png_bytes: image must be uint8, got {img.dtype}")
    if not (img.ndim == 2 or (img.ndim == 3 and img.shape[2] == 3)):
        raise ValueError(f"png_bytes: image must have shape (H, W) or (H, W, 3), got {img.shape}")
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(img)).save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def figure_png(fig, dpi: int = 110) -> bytes:
    """A matplotlib figure as PNG bytes, trimmed to its contents."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return buf.getvalue()


def data_uri(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode("ascii")


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


# --------------------------------------------------------------------------- report pieces

def _confusion_rows(cm: np.ndarray, labels: Sequence) -> list:
    """Rows ``(label, [(count, background)], recall)``: cells shaded by the fraction of their row,
    blue on the diagonal (correct), red off it (mistakes), so the eye goes straight to confusions."""
    cm = np.asarray(cm)
    rows = []
    for i in range(cm.shape[0]):
        total = cm[i].sum()
        cells = []
        for j in range(cm.shape[1]):
            count = int(cm[i, j])
            frac = count / total if total else 0.0
            if count == 0:
                background = None
            elif i == j:
                background = f"rgba(31,119,180,{0.15 + 0.75 * frac:.2f})"
            else:
                background = f"rgba(214,39,40,{0.2 + 0.8 * min(1.0, 4 * frac):.2f})"
            cells.append((count, background))
        rows.append((str(labels[i]), cells, float(cm[i, i] / total) if total else float("nan")))
    return rows


def confusion_table(cm: np.ndarray, labels: Sequence) -> str:
    """The confusion matrix as an HTML table, rows = true class, columns = predicted class."""
    return str(_macro("confusion")([str(lab) for lab in labels], _confusion_rows(cm, labels)))


def _misclassified(items: Sequence[Mapping], shape: tuple[int, int] | None, limit: int = 60) -> dict:
    """What the template shows of the misclassified examples: images for image-like data, else
    the first (at most 8) features."""
    shown = []
    n_features = None if shape is not None or not items else min(8, np.asarray(items[0]["x"]).size)
    for it in list(items)[:limit]:
        entry = {"true": it["true"], "pred": it["pred"], "confidence": it.get("confidence")}
        if shape is not None:
            entry["uri"] = data_uri(png_bytes(to_uint8_image(it["x"], shape)))
        else:
            entry["features"] = [float(v) for v in np.asarray(it["x"]).ravel()[:n_features]]
        shown.append(entry)
    return {"examples": shown, "total": len(items), "n_features": n_features}


def misclassified_grid(items: Sequence[Mapping], shape: tuple[int, int] | None, limit: int = 60) -> str:
    """A grid of misclassified test examples with their true and predicted labels.

    ``items``: dicts with ``x`` (raw feature vector), ``true``, ``pred`` and optionally
    ``confidence`` (the predicted class's probability); ``shape``: the image shape, or None for
    a table of the first features.
    """
    m = _misclassified(items, shape, limit)
    return str(_macro("misclassified")(m["examples"], m["total"], m["n_features"]))


_MEANINGS = {
    "classification": {"loss": "cross-entropy (what training minimised)",
                       "accuracy": "share of examples whose most probable class is right"},
    "regression": {"loss": "MSE on the standardised target (what training minimised)",
                   "mse": "mean squared error in the target's own units",
                   "mae": "mean absolute error in the target's own units",
                   "r2": "R² = 1 − SSE/SST (1 is perfect, 0 predicts the mean)"},
}


#: Two quantities share the name ``train_loss``; the report (and runs.py's file list) says which is which.
TRAIN_LOSS_NOTE = (
    "The final metrics are those of the saved parameters, evaluated on the whole training, "
    "validation and test sets; the history's train_loss (history.csv) is the mean of each epoch's "
    "step losses, each taken on its batch while the parameters moved, so with mini-batches (or "
    "after a divergence, whose parameters are put back) its last value differs from the final "
    "train_loss.")


def metric_meaning(key: str, task: str | None) -> str:
    """What a metric such as ``test_loss`` or ``val_mse`` measures, or '' for others."""
    split, _, name = key.partition("_")
    if split not in ("train", "val", "test"):
        return ""
    return _MEANINGS.get(task or "", {}).get(name, "")


def render_report(*, title: str, subtitle: str = "", config: Mapping, metrics: Mapping,
                  headline: Mapping | None = None, plots: Sequence[tuple] = (),
                  confusion: tuple | None = None, misclassified: Sequence[Mapping] | None = None,
                  misclassified_shape: tuple[int, int] | None = None,
                  history_rows: Sequence[Mapping] | None = None, task: str | None = None,
                  sections: Sequence[tuple[str, Sequence[tuple[str, bytes]]]] = (),
                  plots_note: str = "") -> str:
    """The run's ``report.html`` as one string.

    ``plots``: ``(caption, png_bytes)`` pairs; ``sections``: ``(heading, [(caption, png_bytes)])``
    shown after the training plots (the learned decision boundary of 2-D data, filters, ...);
    ``confusion``: ``(matrix, labels)``; ``headline``: the few metrics shown big at the top;
    ``task``: "classification" or "regression", to say what each metric measures (a regression's
    loss is on the standardised target, its mse and mae in the target's units).
    """
    history = None
    if history_rows:
        keys = list(dict.fromkeys(k for row in history_rows for k in row))
        history = {"head": keys, "rows": [[row.get(k) for k in keys] for row in history_rows]}
    notes = []
    if task == "regression" and any(k.endswith("_mse") for k in metrics):
        notes.append("loss is the mean squared error on the standardised target (the target minus its "
                     "training mean, divided by its training standard deviation), which training "
                     "minimised; mse and mae are in the target's own units.")
    if history_rows and "train_loss" in metrics:
        notes.append(TRAIN_LOSS_NOTE)
    loss_note = " ".join(notes)
    return render(
        "run.html.j2", title=title, subtitle=subtitle,
        headline=list((headline or {}).items()),
        metrics=[(k, v, metric_meaning(k, task)) for k, v in metrics.items()], loss_note=loss_note,
        plots=[(caption, data_uri(png)) for caption, png in plots], plots_note=plots_note,
        sections=[(heading, [(caption, data_uri(png)) for caption, png in figs]) for heading, figs in sections],
        confusion=None if confusion is None else {"labels": [str(lab) for lab in confusion[1]],
                                                  "rows": _confusion_rows(*confusion)},
        misclassified=None if misclassified is None else _misclassified(misclassified, misclassified_shape),
        history=history, config=list(config.items()))
