"""Inter-annotator agreement: Cohen's kappa between pairs of annotators on the documents both labeled, and
pairwise F1 on the spans of the documents where both marked spans.

Pure functions over ``(document_id, annotator, label)`` rows (spans: ``(document_id, annotator, start, end,
label)``); :func:`dataset_agreement` and :func:`dataset_span_agreement` read them from the store. Single-label
data (every annotator gives each document one label) is compared as one categorical variable. Multi-label data
(some annotator gives a document several labels) is compared label by label: for each label, "present on the
document or not" is a yes/no variable with its own kappa, and the pair's kappa is the mean over the labels
either annotator used.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable, Sequence
from itertools import combinations
from typing import Any

from sqlalchemy.orm import Session

from nlpipe.store.annotations import human_labels, human_spans


def cohen_kappa(a: Sequence[Hashable], b: Sequence[Hashable]) -> float | None:
    """Cohen's kappa of two raters' categories for the same items: (p_o - p_e) / (1 - p_e).

    ``p_o`` is the share of items they agree on and ``p_e`` the agreement expected by chance from each rater's
    category frequencies. Returns None where kappa is undefined: no items, or both raters used one and the
    same category throughout (p_e = 1).
    """
    if len(a) != len(b):
        raise ValueError(f"the raters rated different numbers of items: {len(a)} and {len(b)}")
    n = len(a)
    if n == 0:
        return None
    p_o = sum(x == y for x, y in zip(a, b, strict=True)) / n
    ca, cb = Counter(a), Counter(b)
    p_e = sum(ca[c] * cb[c] for c in ca.keys() | cb.keys()) / (n * n)
    if p_e >= 1.0:
        return None
    return (p_o - p_e) / (1.0 - p_e)


def _mean(values: Iterable[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return sum(vals) / len(vals) if vals else None


def _by_annotator(items: Iterable[tuple[Any, str, Hashable]]) -> tuple[dict[str, dict[Any, set]], list[str], int]:
    """``(document, annotator, item)`` -> (annotator -> document -> items, the annotators sorted, the number of
    documents with items from two or more annotators)."""
    by_annotator: dict[str, dict[Any, set]] = defaultdict(lambda: defaultdict(set))
    for doc, who, item in items:
        by_annotator[who][doc].add(item)
    annotators = sorted(by_annotator)
    doc_counts = Counter(doc for who in annotators for doc in by_annotator[who])
    return by_annotator, annotators, sum(1 for c in doc_counts.values() if c > 1)


def agreement(rows: Iterable[tuple[Any, str, str]]) -> dict[str, Any] | None:
    """Pairwise Cohen's kappa over annotators, on the documents both of a pair labeled.

    ``rows`` are (document_id, annotator, label). Returns None when no document has two annotators; otherwise
    ``{"mode", "annotators", "documents", "pairs": [...], "mean_kappa"}`` where ``documents`` counts documents
    with at least two annotators and each pair has ``a``, ``b``, ``documents``, ``observed`` (share of documents
    with the same label set), ``kappa`` and, for multi-label data, ``per_label`` kappas.
    """
    by_annotator, annotators, shared_docs = _by_annotator(rows)
    if shared_docs == 0:
        return None
    multi = any(len(labs) > 1 for who in annotators for labs in by_annotator[who].values())
    pairs = []
    for a, b in combinations(annotators, 2):
        docs = sorted(by_annotator[a].keys() & by_annotator[b].keys(), key=str)
        if not docs:
            continue
        sets_a = [by_annotator[a][d] for d in docs]
        sets_b = [by_annotator[b][d] for d in docs]
        pair: dict[str, Any] = {
            "a": a,
            "b": b,
            "documents": len(docs),
            "observed": sum(x == y for x, y in zip(sets_a, sets_b, strict=True)) / len(docs),
        }
        if multi:
            labels = sorted(set().union(*sets_a, *sets_b))
            per_label = {lab: cohen_kappa([lab in s for s in sets_a], [lab in s for s in sets_b]) for lab in labels}
            pair["per_label"] = per_label
            pair["kappa"] = _mean(per_label.values())
        else:
            pair["kappa"] = cohen_kappa([min(s) for s in sets_a], [min(s) for s in sets_b])
        pairs.append(pair)
    return {
        "mode": "multi-label" if multi else "single-label",
        "annotators": annotators,
        "documents": shared_docs,
        "pairs": pairs,
        "mean_kappa": _mean(p["kappa"] for p in pairs),
    }


def dataset_agreement(session: Session, dataset_id: int) -> dict[str, Any] | None:
    """Agreement of the dataset's human annotators on document labels (None with fewer than two per document)."""
    return agreement(human_labels(session, dataset_id))


def span_agreement(rows: Iterable[tuple[Any, str, int, int, str]]) -> dict[str, Any] | None:
    """Pairwise F1 of annotators' spans (exact match of start, end and label), the usual agreement figure for
    entity annotation (kappa needs a fixed set of items, which spans do not have).

    Each pair is compared on the documents where both marked at least one span: a document one of them left
    without spans may not have been looked at. F1 = 2 |A and B| / (|A| + |B|), the same whichever of the two
    is taken as the reference; ``per_label`` gives it per entity type. Returns None when no document has spans
    from two annotators; else ``{"annotators", "documents", "pairs": [{"a", "b", "documents", "spans_a",
    "spans_b", "matched", "f1", "per_label"}], "mean_f1"}``.
    """
    by_annotator, annotators, shared_docs = _by_annotator((doc, who, (s, e, lab)) for doc, who, s, e, lab in rows)
    if shared_docs == 0:
        return None

    def f1(matched: int, n_a: int, n_b: int) -> float | None:
        return 2 * matched / (n_a + n_b) if n_a + n_b else None

    pairs: list[dict[str, Any]] = []
    for a, b in combinations(annotators, 2):
        docs = by_annotator[a].keys() & by_annotator[b].keys()
        if not docs:
            continue
        spans_a = [(d, *s) for d in docs for s in by_annotator[a][d]]
        spans_b = [(d, *s) for d in docs for s in by_annotator[b][d]]
        both = set(spans_a) & set(spans_b)
        labels = sorted({s[3] for s in spans_a + spans_b})
        per_label = {
            lab: f1(
                sum(s[3] == lab for s in both), sum(s[3] == lab for s in spans_a), sum(s[3] == lab for s in spans_b)
            )
            for lab in labels
        }
        pairs.append(
            {
                "a": a,
                "b": b,
                "documents": len(docs),
                "spans_a": len(spans_a),
                "spans_b": len(spans_b),
                "matched": len(both),
                "f1": f1(len(both), len(spans_a), len(spans_b)),
                "per_label": per_label,
            }
        )
    return {
        "annotators": annotators,
        "documents": shared_docs,
        "pairs": pairs,
        "mean_f1": _mean(p["f1"] for p in pairs),
    }


def dataset_span_agreement(session: Session, dataset_id: int) -> dict[str, Any] | None:
    """Agreement of the dataset's human annotators on spans (None with fewer than two per document)."""
    return span_agreement(human_spans(session, dataset_id))
