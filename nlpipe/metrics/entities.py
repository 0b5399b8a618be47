"""Entity evaluation: pure metrics over gold and predicted spans, and the report's entities section.

Strict scores follow CoNLL: an entity counts only when its type and both boundaries match exactly; the overall
figure is micro-averaged over all entities (``micro_*``), ``macro_*`` averages the types. Beside them:

- ``partial``: the same figures when a prediction overlapping a gold entity counts (one-to-one matching, largest
  overlap first), with and without the type, and exact boundaries with any type;
- ``confusion``: gold type (rows) against predicted type (columns) of overlapping pairs, with ``(none)`` for
  missed (row) and spurious (column) entities;
- ``missed`` / ``spurious``: examples with their context;
- ``baseline``: CoNLL-2003's own baseline, which tags the entity strings seen in training with their most
  frequent type (:func:`nlpipe.tasks.entities.baseline.memorized_baseline`, computed by the task).
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from nlpipe.metrics.scores import prf
from nlpipe.types import Span

NONE = "(none)"
MAX_EXAMPLES = 25
CONTEXT = 60

Triple = tuple[int, int, str]


def _prf(tp: int, n_pred: int, n_gold: int) -> dict[str, float]:
    p, r, f = prf(tp, n_pred - tp, n_gold - tp)
    return {"precision": round(float(p), 6), "recall": round(float(r), 6), "f1": round(float(f), 6)}


def _triples(spans: Sequence[Span]) -> set[Triple]:
    return {(s.start, s.end, s.label) for s in spans}


def _overlap_pairs(gold: set[Triple], pred: set[Triple], same_type: bool) -> list[tuple[Triple, Triple]]:
    """One-to-one pairs of overlapping gold and predicted entities, largest overlap first."""
    cands = []
    for g in gold:
        for p in pred:
            ov = min(g[1], p[1]) - max(g[0], p[0])
            if ov > 0 and (not same_type or g[2] == p[2]):
                cands.append((-ov, g, p))
    cands.sort()
    used_g: set[Triple] = set()
    used_p: set[Triple] = set()
    pairs = []
    for _, g, p in cands:
        if g not in used_g and p not in used_p:
            used_g.add(g)
            used_p.add(p)
            pairs.append((g, p))
    return pairs


def _context(text: str, start: int, end: int) -> str:
    left = text[max(0, start - CONTEXT) : start].replace("\n", " ")
    right = text[end : end + CONTEXT].replace("\n", " ")
    return f"{left}[[{text[start:end]}]]{right}"


@dataclass
class _Tally:
    """Counts over every document, by entity type, and the first error examples."""

    tp: Counter[str] = field(default_factory=Counter)
    n_pred: Counter[str] = field(default_factory=Counter)
    n_gold: Counter[str] = field(default_factory=Counter)
    typed_overlap: Counter[str] = field(default_factory=Counter)
    any_overlap: int = 0
    exact_any: int = 0
    confusion: Counter[tuple[str, str]] = field(default_factory=Counter)
    missed: list[dict[str, Any]] = field(default_factory=list)
    spurious: list[dict[str, Any]] = field(default_factory=list)


def entity_metrics(
    gold: Sequence[Sequence[Span]],
    pred: Sequence[Sequence[Span]],
    texts: Sequence[str],
    *,
    baseline: Sequence[Sequence[Span]] | None = None,
    max_examples: int = MAX_EXAMPLES,
) -> dict[str, Any]:
    """Strict and partial P/R/F1 per type and overall, type confusion and error examples (module docstring)."""
    gold_sets = [_triples(g) for g in gold]
    pred_sets = [_triples(p) for p in pred]
    types = sorted({t[2] for s in gold_sets + pred_sets for t in s})
    tally = _Tally()
    for i, (g, p) in enumerate(zip(gold_sets, pred_sets, strict=True)):
        _count_document(tally, i, g, p, texts[i], max_examples)
    out: dict[str, Any] = {"task": "entities", "n_examples": len(gold_sets), "labels": types}
    out.update(_scores(tally, types))
    out["confusion"] = _confusion(tally.confusion, types)
    out["missed"] = tally.missed
    out["spurious"] = tally.spurious
    if baseline is not None:
        base = entity_metrics(gold, baseline, texts, max_examples=0)
        out["baseline"] = {
            "method": "training entity strings tagged with their most frequent type (CoNLL-2003 baseline)",
            **{k: base[k] for k in ("micro_precision", "micro_recall", "micro_f1", "macro_f1")},
            "per_label": {t: v["f1"] for t, v in base["per_label"].items()},
        }
    return out


def _count_document(tally: _Tally, i: int, g: set[Triple], p: set[Triple], text: str, max_examples: int) -> None:
    """Add document ``i`` (gold ``g``, predicted ``p``) to the counts, the confusion and the error examples."""
    for t in g:
        tally.n_gold[t[2]] += 1
    for t in p:
        tally.n_pred[t[2]] += 1
    for t in g & p:
        tally.tp[t[2]] += 1
    tally.exact_any += len({t[:2] for t in g} & {t[:2] for t in p})
    for gt, _ in _overlap_pairs(g, p, same_type=True):
        tally.typed_overlap[gt[2]] += 1
    pairs = _overlap_pairs(g, p, same_type=False)
    tally.any_overlap += len(pairs)
    paired_g = {gt: pt for gt, pt in pairs}
    paired_p = {pt for _, pt in pairs}
    for gt, pt in pairs:
        tally.confusion[(gt[2], pt[2])] += 1
    for gt in sorted(g - p):
        if gt not in paired_g:
            tally.confusion[(gt[2], NONE)] += 1
        if len(tally.missed) < max_examples:
            other = paired_g.get(gt)
            tally.missed.append(
                {
                    "document": i,
                    "start": gt[0],
                    "end": gt[1],
                    "label": gt[2],
                    "text": text[gt[0] : gt[1]],
                    "predicted": None if other is None else {"text": text[other[0] : other[1]], "label": other[2]},
                    "context": _context(text, gt[0], gt[1]),
                }
            )
    for pt in sorted(p - g):
        if pt not in paired_p:
            tally.confusion[(NONE, pt[2])] += 1
        if len(tally.spurious) < max_examples:
            tally.spurious.append(
                {
                    "document": i,
                    "start": pt[0],
                    "end": pt[1],
                    "label": pt[2],
                    "text": text[pt[0] : pt[1]],
                    "context": _context(text, pt[0], pt[1]),
                }
            )


def _scores(tally: _Tally, types: list[str]) -> dict[str, Any]:
    """Strict scores per type, micro and macro, and the partial-match figures."""
    tp, n_pred, n_gold = tally.tp, tally.n_pred, tally.n_gold
    total_tp, total_pred, total_gold = sum(tp.values()), sum(n_pred.values()), sum(n_gold.values())
    per_label: dict[str, dict[str, float]] = {}
    for label in types:
        per_label[label] = _prf(tp[label], n_pred[label], n_gold[label]) | {
            "support": n_gold[label],
            "predicted": n_pred[label],
            "correct": tp[label],
            "partial_f1": _prf(tally.typed_overlap[label], n_pred[label], n_gold[label])["f1"],
        }
    micro = _prf(total_tp, total_pred, total_gold)
    gold_types = [label for label in types if n_gold[label]]
    macro = {k: round(sum(per_label[label][k] for label in gold_types) / len(gold_types), 6) if gold_types else 0.0
             for k in ("precision", "recall", "f1")}  # fmt: skip
    return {
        "n_gold": total_gold,
        "n_predicted": total_pred,
        "n_correct": total_tp,
        "micro_precision": micro["precision"],
        "micro_recall": micro["recall"],
        "micro_f1": micro["f1"],
        "macro_precision": macro["precision"],
        "macro_recall": macro["recall"],
        "macro_f1": macro["f1"],
        "per_label": per_label,
        "partial": {
            "overlap_same_type": _prf(sum(tally.typed_overlap.values()), total_pred, total_gold),
            "overlap_any_type": _prf(tally.any_overlap, total_pred, total_gold),
            "exact_boundaries_any_type": _prf(tally.exact_any, total_pred, total_gold),
        },
    }


def _confusion(confusion: Counter[tuple[str, str]], types: list[str]) -> dict[str, Any]:
    """Gold type against predicted type, ``(none)`` last, and the most frequent confusions."""
    labels = types + [NONE]
    matrix = [[confusion[(a, b)] for b in labels] for a in labels]
    pairs_out = [{"true": a, "predicted": b, "count": n} for (a, b), n in confusion.most_common() if a != b and n > 0][
        :20
    ]
    return {"labels": labels, "matrix": matrix, "top_pairs": pairs_out}


# ------------------------------------------------------------------------------------------------ report


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _context_html(context: str) -> str:
    left, _, rest = context.partition("[[")
    mid, _, right = rest.partition("]]")
    return f"{_e(left)}<mark>{_e(mid)}</mark>{_e(right)}"


def render_section(m: Mapping[str, Any]) -> str:
    """The entity-only parts of report.html: partial-match figures and missed / spurious examples."""
    if m.get("task") != "entities":
        return ""
    out = ['<section id="entities"><h2>Entities</h2>']
    out.append(
        f"<p>{_e(m.get('n_gold'))} gold entities, {_e(m.get('n_predicted'))} predicted, {_e(m.get('n_correct'))} "
        "exactly right (type and both boundaries, CoNLL's strict measure).</p>"
    )
    partial = m.get("partial") or {}
    names = {
        "overlap_same_type": "Overlap, same type",
        "overlap_any_type": "Overlap, any type",
        "exact_boundaries_any_type": "Exact boundaries, any type",
    }
    rows = [
        f"<tr><th>Strict (CoNLL)</th><td>{m.get('micro_precision', 0):.4f}</td><td>{m.get('micro_recall', 0):.4f}"
        f"</td><td>{m.get('micro_f1', 0):.4f}</td></tr>"
    ]
    for key, name in names.items():
        if key in partial:
            v = partial[key]
            rows.append(
                f"<tr><th>{name}</th><td>{v['precision']:.4f}</td><td>{v['recall']:.4f}</td><td>{v['f1']:.4f}</td></tr>"
            )
    out.append(
        '<h3>Strict and partial matching</h3><table class="numbers"><tr><th></th><th>Precision</th>'
        f"<th>Recall</th><th>F1</th></tr>{''.join(rows)}</table>"
    )
    base = m.get("baseline") or {}
    if base.get("method"):
        out.append(f"<p>Baseline: {_e(base['method'])}.</p>")
    for key, title, note in (
        ("missed", "Missed entities", "Gold entities the model did not predict exactly (what it predicted there)."),
        ("spurious", "Spurious entities", "Predicted entities that are not in the gold annotations."),
    ):
        items = m.get(key) or []
        out.append(f"<h3>{title}</h3><p>{note}</p>")
        if not items:
            out.append("<p>None.</p>")
            continue
        rows = []
        for x in items:
            other = x.get("predicted")
            got = f"{_e(other['text'])} ({_e(other['label'])})" if other else ""
            extra = f"<td>{got}</td>" if key == "missed" else ""
            rows.append(
                f"<tr><td>{_e(x.get('document'))}</td><td>{_e(x.get('label'))}</td>{extra}"
                f'<td class="text">{_context_html(str(x.get("context", "")))}</td></tr>'
            )
        head = "<th>Predicted there</th>" if key == "missed" else ""
        out.append(
            f'<table class="errors"><tr><th>Doc</th><th>Type</th>{head}<th>In context</th></tr>{"".join(rows)}</table>'
        )
    out.append("</section>")
    return "".join(out)
