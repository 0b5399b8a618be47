"""Benchmark the layout task: layout-aware vs text-only field extraction on invoice layouts never seen in training.

    .venv/bin/python benchmarks/layout.py [--per-template N] [--seed S]

Invoices come from ``tests/invoicegen.py``: six templates (A-F, described there) that differ in where the
issuer, the meta block and the totals sit and in how labels relate to values (side by side, "Label: value" in one
string, label above value, a row of labels over a row of values), each invoice with its own wordings, fonts,
sizes, margins, date and currency formats and distractors (due date, PO and customer numbers, the customer's
name, line-item amounts, subtotal, tax). Every PDF is read by nlpipe's real PDF reader (the one ``nlpipe
ingest`` uses) and annotated by turning the boxes the generator drew each field in into character spans.

Both models are :class:`nlpipe.tasks.layout.model.FieldExtractor` with the same learner and settings: the
layout-aware one (``view="layout"``, what ``nlpipe train --task layout`` predicts with) and the text-only one
(``view="text"``: the same token features and the words around each word in reading order, no positions or
font sizes). Training invoices use seeds 0..N-1 of their templates and test invoices seeds 1000..1000+N-1, so
no test document was seen in training, and in every split but the last no test *layout* was either:

- train A B C, test D E F; train D E F, test A B C;
- leave one template out (train on five, test on the sixth), for each template;
- reference: train on all six templates, test on new invoices of the same six (seen layouts).

Scores are exact-match field F1 (:func:`nlpipe.metrics.fields.field_metrics`): a field counts only when its
text is exactly the annotated value. ``run()`` returns the rows (and ``benchmarks/entities.py`` prints them);
``__main__`` prints the table, the means over the unseen-layout splits and PASS/FAIL for "layout-aware beats
text-only on unseen layouts".
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nlpipe.config import Settings  # noqa: E402
from nlpipe.ingest import documents_for_prediction  # noqa: E402
from nlpipe.metrics.fields import field_metrics  # noqa: E402
from nlpipe.tasks.layout.model import FieldExtractor  # noqa: E402
from nlpipe.tasks.layout.words import spans_from_boxes  # noqa: E402
from tests.invoicegen import FIELDS, TEMPLATES, make_invoice  # noqa: E402

MODELS = {"layout-aware": "layout", "text-only": "text"}
TEST_SEED = 1000


def invoices(templates: str, seeds: range, settings: Settings) -> tuple[list, list]:
    """Generated invoices read by nlpipe's PDF reader, with their field spans."""
    docs, spans = [], []
    for template in templates:
        for seed in seeds:
            inv = make_invoice(template, seed)
            [doc], _ = documents_for_prediction(inv.pdf, settings, name=f"invoice-{template}{seed}.pdf")
            found = spans_from_boxes(doc, [(k, f.page, f.bbox) for k, f in inv.fields.items()])
            assert {s.label: doc.text[s.start : s.end] for s in found} == {k: f.text for k, f in inv.fields.items()}
            docs.append(doc)
            spans.append(found)
    return docs, spans


def splits() -> list[tuple[str, str]]:
    out = [("ABC", "DEF"), ("DEF", "ABC")]
    out += [("".join(t for t in TEMPLATES if t != held), held) for held in TEMPLATES]
    return out + [("".join(TEMPLATES), "".join(TEMPLATES))]


def run(per_template: int = 24, seed: int = 0) -> list[dict]:
    """One row per (split, model): model, train layouts, test layouts, F1 per field, overall F1; then per model
    the mean over the unseen-layout splits (test layouts ``unseen (mean)``)."""
    settings = Settings()
    train_data = {t: invoices(t, range(per_template), settings) for t in TEMPLATES}
    test_data = {t: invoices(t, range(TEST_SEED, TEST_SEED + per_template), settings) for t in TEMPLATES}
    rows: list[dict] = []
    for train_t, test_t in splits():
        train_docs = [d for t in train_t for d in train_data[t][0]]
        train_spans = [s for t in train_t for s in train_data[t][1]]
        test_docs = [d for t in test_t for d in test_data[t][0]]
        test_spans = [s for t in test_t for s in test_data[t][1]]
        for model, view in MODELS.items():
            started = time.perf_counter()
            extractor = FieldExtractor(view, seed=seed).fit(train_docs, train_spans)
            m = field_metrics(test_spans, extractor.predict(test_docs), FIELDS)
            rows.append(
                {
                    "model": model,
                    "train layouts": " ".join(train_t),
                    "test layouts": " ".join(test_t) + (" (seen)" if train_t == test_t else ""),
                    **{f: m["per_label"][f]["f1"] for f in FIELDS},
                    "overall F1": m["micro_f1"],
                    "seconds": round(time.perf_counter() - started, 1),
                }
            )
    for model in MODELS:
        unseen = [r for r in rows if r["model"] == model and "(seen)" not in r["test layouts"]]
        rows.append(
            {
                "model": model,
                "train layouts": "-",
                "test layouts": "unseen (mean)",
                **{f: round(sum(r[f] for r in unseen) / len(unseen), 6) for f in FIELDS},
                "overall F1": round(sum(r["overall F1"] for r in unseen) / len(unseen), 6),
                "seconds": round(sum(r["seconds"] for r in unseen), 1),
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--per-template", type=int, default=24, help="training (and test) invoices per template")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    started = time.perf_counter()
    rows = run(args.per_template, args.seed)
    print(f"Field extraction F1 (exact match), {args.per_template} training and {args.per_template} test invoices "
          f"per template, {time.perf_counter() - started:.0f} s in all")  # fmt: skip
    head = f"{'model':<13} {'train layouts':<13} {'test layouts':<18}" + "".join(f" {f:>14}" for f in FIELDS)
    print(head + f" {'overall F1':>10} {'seconds':>8}")
    for r in rows:
        scores = "".join(f" {r[f]:>14.3f}" for f in FIELDS)
        print(f"{r['model']:<13} {r['train layouts']:<13} {r['test layouts']:<18}{scores}"
              f" {r['overall F1']:>10.3f} {r['seconds']:>8.1f}")  # fmt: skip
    unseen = [(a, b) for a, b in zip(rows[0:-2:2], rows[1:-2:2], strict=True) if "(seen)" not in a["test layouts"]]
    wins = sum(a["overall F1"] > b["overall F1"] for a, b in unseen)
    mean = {r["model"]: r["overall F1"] for r in rows[-2:]}
    ok = wins == len(unseen) and mean["layout-aware"] > mean["text-only"]
    print(f"\nlayout-aware beats text-only on {wins} of {len(unseen)} unseen-layout splits; mean overall F1 "
          f"{mean['layout-aware']:.3f} vs {mean['text-only']:.3f}")  # fmt: skip
    print(f"{'PASS' if ok else 'FAIL'}  layout-aware beats text-only on layouts it did not train on")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
