"""Field extraction scores: exact-match precision, recall and F1 per field and overall, and their report.

A predicted field counts as correct only when its label, start and end equal an annotated span of the same
document (the text must be exactly the annotated value; "$1,234.00" for "1,234.00" is wrong). :func:`field_metrics`
is pure; :func:`write_field_report` writes ``metrics.json`` and a self-contained ``report.html``.

Error codes: E570-E579 belong to the layout task (:mod:`nlpipe.tasks.layout.task`); E575 here: truth and
predictions of different lengths.
"""

from __future__ import annotations

import html
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from nlpipe.errors import InputError
from nlpipe.metrics.scores import prf
from nlpipe.types import Span

MAX_EXAMPLES = 30


def _prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    p, r, f = prf(tp, fp, fn)
    return round(float(p), 6), round(float(r), 6), round(float(f), 6)


def _show(offsets: set[tuple[int, int]], spans: Sequence[Span], field: str, text: str | None) -> str | None:
    """The texts of the spans of ``field`` at ``offsets`` (" | " between several), None if there are none."""
    found = [s for s in spans if s.label == field and (s.start, s.end) in offsets]
    if not found:
        return None
    return " | ".join(s.text or (text[s.start : s.end] if text else f"{s.start}:{s.end}") for s in found)


def field_metrics(
    truth: Sequence[Sequence[Span]],
    predicted: Sequence[Sequence[Span]],
    fields: Sequence[str],
    *,
    sources: Sequence[str | None] | None = None,
    texts: Sequence[str] | None = None,
    max_examples: int = MAX_EXAMPLES,
) -> dict[str, Any]:
    """Exact-match scores of ``predicted`` against ``truth`` (one list of spans per document) for ``fields``.

    Returns ``per_label`` (precision, recall, f1, support, tp, fp, fn per field), ``micro_*`` (every field
    pooled: the overall figure), ``macro_f1`` (mean over fields), ``n_documents``, ``labels`` and ``errors``:
    up to ``max_examples`` wrong fields, each ``{"document", "field", "true", "predicted"}`` (texts of the
    annotated and predicted values; None where there was none).
    """
    if len(truth) != len(predicted):
        raise InputError("E575", f"{len(truth)} documents of truth but {len(predicted)} of predictions.")
    wanted = list(fields)
    counts = {f: [0, 0, 0] for f in wanted}  # tp, fp, fn
    errors: list[dict[str, Any]] = []
    for d, (gold, pred) in enumerate(zip(truth, predicted, strict=True)):
        text = texts[d] if texts is not None else None
        for f in wanted:
            g = {(s.start, s.end) for s in gold if s.label == f}
            p = {(s.start, s.end) for s in pred if s.label == f}
            counts[f][0] += len(g & p)
            counts[f][1] += len(p - g)
            counts[f][2] += len(g - p)
            if g != p and len(errors) < max_examples:
                errors.append(
                    {
                        "document": sources[d] if sources is not None else d,
                        "field": f,
                        "true": _show(g - p, gold, f, text),
                        "predicted": _show(p - g, pred, f, text),
                    }
                )
    per_label: dict[str, dict[str, float]] = {}
    for f, (tp, fp, fn) in counts.items():
        prec, rec, f1 = _prf(tp, fp, fn)
        per_label[f] = {"precision": prec, "recall": rec, "f1": f1, "support": tp + fn, "tp": tp, "fp": fp, "fn": fn}
    tp, fp, fn = (sum(c[k] for c in counts.values()) for k in range(3))
    mp, mr, mf = _prf(tp, fp, fn)
    return {
        "n_documents": len(truth),
        "labels": wanted,
        "per_label": per_label,
        "micro_precision": mp,
        "micro_recall": mr,
        "micro_f1": mf,
        "macro_f1": round(sum(v["f1"] for v in per_label.values()) / len(per_label), 6) if per_label else 0.0,
        "errors": errors,
    }


# ---------------------------------------------------------------------------------------------- report


_CSS = (
    "body{font-family:system-ui,sans-serif;margin:2em auto;max-width:70em;color:#222}"
    "table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;padding:.3em .6em;text-align:right}"
    "th:first-child,td.text{text-align:left}caption{text-align:left;font-weight:bold}.note{color:#555}"
)


def _num(x: Any) -> str:
    return f"{x:.4f}" if isinstance(x, float) else html.escape(str(x)) if x is not None else "—"


def render_field_report(metrics: Mapping[str, Any], *, title: str, meta: Mapping[str, Any] | None = None) -> str:
    """The report as one HTML string: summary, overall and per-field scores beside the baseline, errors."""
    e = html.escape
    base = metrics.get("baseline") or {}
    base_name = e(str(base.get("name", "baseline")))
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{e(title)}</title>",
             f"<style>{_CSS}</style></head><body><h1>{e(title)}</h1>"]  # fmt: skip
    rows = "".join(f"<tr><th>{e(str(k))}</th><td class='text'>{e(str(v))}</td></tr>" for k, v in (meta or {}).items())
    parts.append(f"<p>{metrics.get('n_documents')} documents; fields: {e(', '.join(metrics.get('labels', [])))}. "
                 "A field is correct when its text is exactly the annotated value.</p>")  # fmt: skip
    if rows:
        parts.append(f"<table>{rows}</table>")
    head = "<tr><th></th><th>model</th>" + (f"<th>{base_name}</th>" if base else "") + "</tr>"
    overall = "".join(
        f"<tr><th>{name}</th><td>{_num(metrics.get(key))}</td>"
        + (f"<td>{_num(base.get(key))}</td>" if base else "")
        + "</tr>"
        for key, name in (
            ("micro_precision", "precision"),
            ("micro_recall", "recall"),
            ("micro_f1", "F1"),
            ("macro_f1", "macro F1 (mean over fields)"),
        )  # fmt: skip
    )
    parts.append(f"<table><caption>Overall (all fields pooled)</caption>{head}{overall}</table>")
    per = metrics.get("per_label") or {}
    base_per = base.get("per_label") or {}
    prow = "".join(
        f"<tr><th>{e(f)}</th><td>{m['support']}</td><td>{_num(m['precision'])}</td><td>{_num(m['recall'])}</td>"
        f"<td>{_num(m['f1'])}</td>" + (f"<td>{_num((base_per.get(f) or {}).get('f1'))}</td>" if base else "") + "</tr>"
        for f, m in per.items()
    )
    bcol = f"<th>F1 {base_name}</th>" if base else ""
    parts.append(f"<table><caption>Per field</caption><tr><th>field</th><th>support</th><th>precision</th>"
                 f"<th>recall</th><th>F1</th>{bcol}</tr>{prow}</table>")  # fmt: skip
    errs = metrics.get("errors") or []
    erow = "".join(
        f"<tr><td class='text'>{e(str(x['document']))}</td><td class='text'>{e(x['field'])}</td>"
        f"<td class='text'>{e(x['true'] or '—')}</td><td class='text'>{e(x['predicted'] or '—')}</td></tr>"
        for x in errs
    )
    parts.append(
        "<h2>Errors</h2>"
        + (
            f"<table><tr><th>document</th><th>field</th><th>annotated</th><th>predicted</th></tr>{erow}</table>"
            if errs
            else "<p>No errors.</p>"
        )  # fmt: skip
        + "</body></html>"
    )
    return "\n".join(parts) + "\n"


def write_field_report(metrics: dict, out_dir: Path, *, title: str, meta: dict | None = None) -> Path:
    """Write ``out_dir/metrics.json`` and ``out_dir/report.html`` (each renamed into place); return the latter."""
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise InputError("E576", f"{out_dir} exists and is not a directory; choose another output directory.",
                         field="out_dir", file=str(out_dir)) from None  # fmt: skip
    _atomic_write(out_dir / "metrics.json", json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    path = out_dir / "report.html"
    _atomic_write(path, render_field_report(metrics, title=title, meta=meta))
    return path


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
