"""Write an evaluation's ``metrics.json`` and a self-contained ``report.html``.

The HTML is one file with no external resources: styles are inline and plots are PNGs embedded as
``data:`` URIs, drawn with matplotlib's Agg canvas on :class:`matplotlib.figure.Figure` objects (no pyplot
global state). matplotlib is imported inside the functions so ``import nlpipe`` stays fast.

Error codes: E520 ``metrics`` is not a dict, E521 ``metrics``/``meta`` holds a value JSON cannot store,
E522 ``out_dir`` cannot be used as a directory.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nlpipe.errors import InputError
from nlpipe.metrics.htmlparts import escape as _e
from nlpipe.metrics.htmlparts import figure as _figure
from nlpipe.metrics.htmlparts import heatmap_img as _heatmap_img
from nlpipe.metrics.htmlparts import img as _img
from nlpipe.metrics.htmlparts import is_num as _is_num
from nlpipe.metrics.htmlparts import num as _num
from nlpipe.metrics.htmlparts import short as _short

__all__ = ["write_report", "render_html"]

MAX_LEGEND_CURVES = 10  # per-label PR curves drawn besides micro
_META_ORDER = ("model", "model_name", "model_version", "version", "dataset", "split", "created_at")


def write_report(metrics: dict, out_dir: Path, *, title: str, meta: dict | None = None) -> Path:
    """Write ``out_dir/metrics.json`` (indent 2, sorted keys) and ``out_dir/report.html``; return the latter.

    ``metrics`` is a :func:`nlpipe.metrics.classification.classification_metrics` result (sections missing from
    it are left out of the report). ``meta`` is shown as a summary table: ``model``/``model_name``,
    ``model_version``/``version``, ``dataset``, ``split`` and ``created_at`` first, other keys after.
    Both files are written to a temporary name and renamed, so a reader never sees half a file.
    """
    if not isinstance(metrics, Mapping):
        raise InputError("E520", f"metrics must be a dict, got {type(metrics).__name__}.", field="metrics")
    if meta is not None and not isinstance(meta, Mapping):
        raise InputError("E520", f"meta must be a dict or None, got {type(meta).__name__}.", field="meta")
    data = _jsonable(metrics, "metrics")
    meta_data = _jsonable(meta or {}, "meta")
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise InputError(
            "E522",
            f"{out_dir} exists and is not a directory; choose another output directory.",
            field="out_dir",
            file=str(out_dir),
        ) from None
    _atomic_write(out_dir / "metrics.json", json.dumps(data, indent=2, sort_keys=True, allow_nan=False) + "\n")
    path = out_dir / "report.html"
    _atomic_write(path, render_html(data, title=title, meta=meta_data))
    return path


def render_html(metrics: Mapping[str, Any], *, title: str, meta: Mapping[str, Any] | None = None) -> str:
    """The report as one self-contained HTML string (what :func:`write_report` writes)."""
    m = metrics
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title>",
        f"<style>{_CSS}</style>",
        "</head><body>",
        f"<h1>{_e(title)}</h1>",
        _meta_section(m, meta or {}),
        _headline_section(m),
        _ordinal_section(m),
        _per_label_section(m),
        _confusion_section(m),
        _curves_section(m),
        _worst_errors_section(m),
        _entities_section(m),
        "</body></html>",
    ]
    return "\n".join(p for p in parts if p) + "\n"


# -------------------------------------------------------------------------------------------- sections


def _meta_section(m: Mapping[str, Any], meta: Mapping[str, Any]) -> str:
    rows = []
    keys = [k for k in _META_ORDER if k in meta] + sorted(k for k in meta if k not in _META_ORDER)
    for key in keys:
        value = meta[key]
        text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
        rows.append(f"<tr><th>{_e(key.replace('_', ' '))}</th><td>{_e(text)}</td></tr>")
    mode = "multi-label" if m.get("multi_label") else "single-label"
    n_labels = len(m.get("labels") or [])
    if m.get("task") == "entities":
        mode, n_labels = "entities", len([lab for lab in m.get("labels") or [] if lab != "(none)"])
    summary = (
        f'<p class="summary">{_e(_num(m.get("n_examples")))} examples &middot; {n_labels} labels &middot; {mode}</p>'
    )
    table = f'<table class="meta">{"".join(rows)}</table>' if rows else ""
    return f'<section id="summary">{summary}{table}</section>'


_HEADLINE = (
    ("accuracy", "Accuracy"),
    ("macro_f1", "Macro F1"),
    ("micro_f1", "Micro F1"),
    ("weighted_f1", "Weighted F1"),
)
_OTHER = (
    ("macro_precision", "Macro precision"),
    ("macro_recall", "Macro recall"),
    ("micro_precision", "Micro precision"),
    ("micro_recall", "Micro recall"),
    ("weighted_precision", "Weighted precision"),
    ("weighted_recall", "Weighted recall"),
    ("subset_accuracy", "Subset accuracy"),
    ("hamming_loss", "Hamming loss"),
    ("log_loss", "Log loss"),
)


def _headline_section(m: Mapping[str, Any]) -> str:
    base = m.get("baseline") or {}
    predicts = base.get("predicts")
    base_name = "Baseline (most frequent"
    if predicts is not None:
        shown = ", ".join(str(x) for x in predicts[:5]) or "no labels"
        base_name += f": {shown}{' …' if len(predicts) > 5 else ''}"
    base_name += ")"
    rows = []
    for key, name in _HEADLINE:
        if key not in m:
            continue
        model, ref = m.get(key), base.get(key)
        delta = _num(model - ref, signed=True) if _is_num(model) and _is_num(ref) else "—"
        rows.append(f"<tr><th>{name}</th><td>{_num(model)}</td><td>{_num(ref)}</td><td>{delta}</td></tr>")
    head = (
        f'<table class="headline"><tr><th></th><th>Model</th><th>{_e(base_name)}</th>'
        f"<th>&Delta;</th></tr>{''.join(rows)}</table>"
    )
    other = [f"<tr><th>{name}</th><td>{_num(m.get(key))}</td></tr>" for key, name in _OTHER if key in m]
    auc = m.get("roc_auc")
    if isinstance(auc, Mapping):
        other.append(f"<tr><th>ROC AUC (macro, one-vs-rest)</th><td>{_num(auc.get('macro'))}</td></tr>")
    micro = (m.get("pr_curve") or {}).get("micro")
    if isinstance(micro, Mapping):
        other.append(f"<tr><th>Average precision (micro)</th><td>{_num(micro.get('average_precision'))}</td></tr>")
    more = f'<table class="numbers">{"".join(other)}</table>' if other else ""
    return f'<section id="headline"><h2>Headline numbers</h2>{head}{more}</section>'


def _per_label_section(m: Mapping[str, Any]) -> str:
    per_label = m.get("per_label")
    if not isinstance(per_label, Mapping) or not per_label:
        return ""
    auc = (m.get("roc_auc") or {}).get("per_label") or {}
    curves = m.get("pr_curve") or {}
    ml_counts = (m.get("confusion") or {}).get("per_label") if m.get("multi_label") else None
    order = sorted(per_label, key=lambda lab: (-(per_label[lab].get("support") or 0), str(lab)))
    extra_head = "<th>TP</th><th>FP</th><th>FN</th>" if ml_counts else ""
    entities = m.get("task") == "entities"  # entity types have counts and overlap F1 instead of curves
    tail_head = "<th>ROC AUC</th><th>Average precision</th>"
    if entities:
        tail_head = "<th>Predicted</th><th>Correct</th><th>Partial F1</th>"
    rows = []
    for lab in order:
        row = per_label[lab]
        ap = (curves.get(lab) or {}).get("average_precision") if lab != "micro" else None
        extra = ""
        if ml_counts:
            c = ml_counts.get(lab) or {}
            extra = "".join(f"<td>{_num(c.get(k))}</td>" for k in ("tp", "fp", "fn"))
        rows.append(
            f"<tr><th>{_e(lab)}</th><td>{_num(row.get('support'))}</td><td>{_num(row.get('precision'))}</td>"
            f"<td>{_num(row.get('recall'))}</td><td>{_num(row.get('f1'))}</td>{extra}"
            + (
                "".join(f"<td>{_num(row.get(k))}</td>" for k in ("predicted", "correct", "partial_f1"))
                if entities
                else f"<td>{_num(auc.get(lab))}</td><td>{_num(ap)}</td>"
            )
            + "</tr>"
        )
    return (
        '<section id="per-label"><h2>Per label</h2><table class="per-label"><tr><th>Label</th><th>Support</th>'
        f"<th>Precision</th><th>Recall</th><th>F1</th>{extra_head}{tail_head}"
        f"</tr>{''.join(rows)}</table></section>"
    )


def _confusion_section(m: Mapping[str, Any]) -> str:
    conf = m.get("confusion")
    if not isinstance(conf, Mapping):
        return ""
    multi = bool(m.get("multi_label"))
    out = ['<section id="confusion"><h2>Confusion</h2>']
    if multi:
        out.append(
            "<p>Cell (row, column) counts examples where the row label was missed while the column label was "
            "wrongly predicted.</p>"
        )
    else:
        out.append(
            "<p>Rows are true labels, columns predicted labels; correct predictions (the diagonal) "
            "are grey, confusions red.</p>"
        )
    labels, matrix = conf.get("labels"), conf.get("matrix")
    if conf.get("restricted"):
        out.append(
            f"<p>Showing the {len(labels or [])} of {conf.get('n_labels')} labels involved in the most confusions.</p>"
        )
    if labels and matrix:
        out.append(_heatmap_img(labels, matrix, multi))
    pairs = conf.get("top_pairs") or []
    if pairs:
        head = ("Missed label", "Wrongly predicted") if multi else ("True", "Predicted")
        rows = "".join(
            f"<tr><td>{_e(p.get('true'))}</td><td>{_e(p.get('predicted'))}</td><td>{_num(p.get('count'))}</td></tr>"
            for p in pairs
        )
        out.append(
            f'<h3>Most confused pairs</h3><table class="pairs"><tr><th>{head[0]}</th><th>{head[1]}</th>'
            f"<th>Count</th></tr>{rows}</table>"
        )
    elif labels:
        out.append("<p>No confusions.</p>")
    out.append("</section>")
    return "".join(out)


def _curves_section(m: Mapping[str, Any]) -> str:
    out = []
    curves = m.get("pr_curve")
    if isinstance(curves, Mapping) and curves:
        out.append(f"<h2>Precision&ndash;recall curves</h2>{_pr_img(curves, m.get('per_label') or {})}")
    table = m.get("thresholds")
    if isinstance(table, Mapping) and table.get("threshold"):
        out.append("<h2>Precision, recall and F1 by threshold</h2>")
        out.append(
            "<p>Micro-averaged over (example, label) pairs: a pair counts as predicted when its probability "
            "is at least the threshold.</p>"
        )
        out.append(_threshold_img(table))
        best = _best_threshold(table)
        if best is not None:
            t, p, r, f = best
            out.append(
                f'<p class="best">Best F1 {_num(f)} at threshold {t:.2f} (precision {_num(p)}, recall {_num(r)}).</p>'
            )
    if not out:
        return ""
    return '<section id="curves">' + "".join(out) + "</section>"


def _worst_errors_section(m: Mapping[str, Any]) -> str:
    errors = m.get("worst_errors")
    if errors is None:
        return ""
    if not errors:
        return '<section id="worst-errors"><h2>Worst errors</h2><p>No errors.</p></section>'
    rows = []
    for err in errors:
        text = err.get("text")
        rows.append(
            f"<tr><td>{_num(err.get('index'))}</td><td>{_num(err.get('score'))}</td>"
            f"<td>{_e(', '.join(str(x) for x in err.get('true') or []))}</td>"
            f"<td>{_e(', '.join(str(x) for x in err.get('predicted') or []))}</td>"
            f'<td class="text">{_e(text) if text is not None else "—"}</td></tr>'
        )
    return (
        '<section id="worst-errors"><h2>Worst errors</h2><p>Misclassified examples, most confidently wrong '
        'first.</p><table class="errors"><tr><th>#</th><th>Score</th><th>True</th><th>Predicted</th>'
        f"<th>Text</th></tr>{''.join(rows)}</table></section>"
    )


def _ordinal_section(m: Mapping[str, Any]) -> str:
    if not isinstance(m.get("ordinal"), Mapping):
        return ""
    from nlpipe.metrics.ordinal import render_section

    return render_section(m["ordinal"])


def _entities_section(m: Mapping[str, Any]) -> str:
    if m.get("task") != "entities":
        return ""
    from nlpipe.metrics.entities import render_section

    return render_section(m)


# ----------------------------------------------------------------------------------------------- plots


def _pr_img(curves: Mapping[str, Any], per_label: Mapping[str, Any]) -> str:
    fig = _figure(7.0, 5.0)
    ax = fig.add_subplot()
    labelled = [lab for lab in curves if lab != "micro" and (curves[lab] or {}).get("precision")]
    labelled.sort(key=lambda lab: (-((per_label.get(lab) or {}).get("support") or 0), str(lab)))
    for lab in labelled[:MAX_LEGEND_CURVES]:
        c = curves[lab]
        ax.plot(
            c["recall"],
            c["precision"],
            linewidth=1.0,
            drawstyle="steps-post",
            label=f"{_short(lab)} (AP {_num(c.get('average_precision'), 3)})",
        )
    micro = curves.get("micro") or {}
    if micro.get("precision"):
        ax.plot(
            micro["recall"],
            micro["precision"],
            color="black",
            linewidth=2.2,
            drawstyle="steps-post",
            label=f"micro (AP {_num(micro.get('average_precision'), 3)})",
        )
    ax.set_xlim(0.0, 1.0)
    ax.set_ylim(0.0, 1.02)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, loc="lower left")
    if len(labelled) > MAX_LEGEND_CURVES:
        ax.set_title(f"micro and the {MAX_LEGEND_CURVES} labels with most support", fontsize=9)
    return _img(fig, "precision-recall curves")


def _threshold_img(table: Mapping[str, list]) -> str:
    fig = _figure(7.0, 4.0)
    ax = fig.add_subplot()
    t = table["threshold"]
    for key, style in (("precision", "-"), ("recall", "--"), ("f1", "-")):
        values = [math.nan if v is None else v for v in table.get(key) or []]
        if key == "precision":  # undefined where nothing is predicted (reported as 0): leave a gap
            recall = table.get("recall") or []
            values = [math.nan if v == 0 and i < len(recall) and recall[i] == 0 else v for i, v in enumerate(values)]
        if values:
            ax.plot(t, values, style, linewidth=2.0 if key == "f1" else 1.2, label=key)
    best = _best_threshold(table)
    if best is not None:
        ax.axvline(best[0], color="grey", linewidth=0.8, linestyle=":")
    ax.set_xlim(0.0, 1.0)
    ax.set_ylim(0.0, 1.02)
    ax.set_xlabel("threshold")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _img(fig, "precision, recall and F1 by threshold")


def _best_threshold(table: Mapping[str, list]) -> tuple[float, Any, Any, float] | None:
    f1 = table.get("f1") or []
    candidates = [(v, i) for i, v in enumerate(f1) if _is_num(v)]
    if not candidates:
        return None
    best_f1 = max(v for v, _ in candidates)
    i = min(i for v, i in candidates if v == best_f1)
    pick = lambda key: (table.get(key) or [None] * (i + 1))[i]  # noqa: E731
    return float(table["threshold"][i]), pick("precision"), pick("recall"), best_f1


# --------------------------------------------------------------------------------------------- helpers


def _jsonable(obj: Any, where: str) -> Any:
    """Plain JSON types: numpy scalars/arrays become Python ones, NaN/inf become None, tuples lists."""
    if obj is None or isinstance(obj, str | bool):
        return obj
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v, where) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v, where) for v in obj]
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if hasattr(obj, "tolist") and hasattr(obj, "dtype"):  # numpy array or scalar
        return _jsonable(obj.tolist(), where)
    if hasattr(obj, "isoformat"):  # datetime / date
        return obj.isoformat()
    raise InputError("E521", f"{where} holds a {type(obj).__name__} value, which JSON cannot store.", field=where)


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:2rem auto;
max-width:1100px;padding:0 1rem;color:#1d2430;line-height:1.45}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #d8dde6;
padding-bottom:.2rem}h3{font-size:1rem}
table{border-collapse:collapse;margin:.6rem 0;font-size:.9rem}
th,td{border:1px solid #d8dde6;padding:.25rem .55rem;text-align:right;vertical-align:top}
th{background:#f3f5f9;text-align:left;font-weight:600}
table.meta td,table.pairs td,table.errors td{text-align:left}
td.text{max-width:38rem;white-space:pre-wrap;word-break:break-word;font-size:.85rem}
.summary{color:#4a5568}.best{font-weight:600}
img.plot{max-width:100%;height:auto;display:block;margin:.6rem 0}
"""
