"""HTML and chart pieces of the evaluation reports, shared by :mod:`nlpipe.metrics.report` and the sections of
:mod:`nlpipe.metrics.ordinal`: escaping, number formatting, matplotlib figures as inline PNGs, the confusion heat
map. matplotlib is imported inside the functions so importing this stays fast."""

from __future__ import annotations

import base64
import html
import io
import math
import warnings
from typing import Any, TypeGuard

MAX_TICK_CHARS = 24
ANNOTATE_CELLS_UP_TO = 20  # write counts into heat-map cells when there are at most this many labels


def figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def img(fig: Any, alt: str) -> str:
    buf = io.BytesIO()
    with warnings.catch_warnings():
        # labels in scripts the bundled font lacks render as boxes; that must not fail the report
        warnings.filterwarnings("ignore", message=r".*[Gg]lyph.*missing", category=UserWarning)
        fig.savefig(buf, format="png", bbox_inches="tight", metadata={"Software": None})
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img class="plot" alt="{escape(alt)}" src="data:image/png;base64,{data}">'


def short(label: Any) -> str:
    s = str(label)
    return s if len(s) <= MAX_TICK_CHARS else s[: MAX_TICK_CHARS - 1] + "…"


def heatmap_img(labels: list, matrix: list[list[int]], multi: bool) -> str:
    """Heat map of the confusions: off-diagonal cells coloured by count, the diagonal (correct) in grey."""
    import numpy as np
    from matplotlib import colormaps

    mat = np.asarray(matrix, dtype=float)
    k = len(labels)
    off = mat.copy()
    np.fill_diagonal(off, np.nan)
    peak = np.nanmax(off) if k > 1 and np.nanmax(off) > 0 else 1.0
    cmap = colormaps["Reds"].copy()
    cmap.set_bad("#e6e9ef")
    side = min(3.0 + 0.32 * k, 16.0)
    fig = figure(side + 1.2, side)
    ax = fig.add_subplot()
    image = ax.imshow(np.ma.masked_invalid(off), cmap=cmap, vmin=0.0, vmax=peak, interpolation="nearest", aspect="auto")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="examples")
    ticks = list(range(k))
    font = 9 if k <= 20 else 7 if k <= 40 else 5
    ax.set_xticks(ticks, [short(x) for x in labels], rotation=90, fontsize=font)
    ax.set_yticks(ticks, [short(x) for x in labels], fontsize=font)
    ax.set_xlabel("wrongly predicted label" if multi else "predicted label")
    ax.set_ylabel("missed true label" if multi else "true label")
    if k <= ANNOTATE_CELLS_UP_TO:
        for i in range(k):
            for j in range(k):
                if mat[i, j]:
                    dark = i != j and mat[i, j] > 0.6 * peak
                    ax.text(
                        j,
                        i,
                        f"{int(mat[i, j])}",
                        ha="center",
                        va="center",
                        fontsize=7,
                        color="white" if dark else "black",
                    )
    return img(fig, "confusion matrix heat map")


def escape(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def is_num(x: Any) -> TypeGuard[float]:
    """A finite int or float (not a bool): a value the report can print and subtract."""
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def num(x: Any, digits: int = 4, signed: bool = False) -> str:
    """Numbers as the report shows them: ints as is, floats with ``digits`` decimals, missing as a dash."""
    if isinstance(x, bool) or x is None:
        return "—" if x is None else str(x)
    if isinstance(x, int):
        return str(x)
    if isinstance(x, float):
        if not math.isfinite(x):
            return "—"
        return f"{x:+.{digits}f}" if signed else f"{x:.{digits}f}"
    return escape(x)
