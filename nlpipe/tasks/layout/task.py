"""The layout task: fields (invoice number, date, total, issuer, ...) from the word boxes of PDFs.

``nlpipe train DATASET --task layout --name M`` learns from the dataset's documents that have both word boxes
(PDFs read by ``nlpipe ingest``) and field annotations (character spans, e.g. imported from JSONL after the
ingest, which attaches them to the same documents by their text). Two
:class:`~nlpipe.tasks.layout.model.FieldExtractor` models are trained on the train split: the layout-aware one
that predicts, and a text-only one (same learner, no positions or sizes) kept as the baseline that evaluations
report beside it. ``nlpipe evaluate`` scores exact-match precision, recall and F1 per field and overall
(:mod:`nlpipe.metrics.fields`); ``nlpipe predict M --file invoice.pdf`` and ``POST /v1/models/M:predictFile``
return each field's span with its label, text, score, page and box.

The model (:mod:`nlpipe.tasks.layout.model`) and its features (:mod:`nlpipe.tasks.layout.features`) know nothing of
the store or the disk.

Error codes: E390 no annotated documents in the train split, E392 annotated documents without word boxes,
E394 an option the task does not take (E391, E395 from the model); warnings W390 a field annotated in fewer
than ``MIN_FIELD_DOCS`` training documents, W391 spans that cover no word; E440 texts without documents,
E441 a document without word boxes, E443 threshold out of range (E442 from the model); E570 no annotated
documents in the evaluated split, E571 annotated documents there without word boxes (E575, E576 from
:mod:`nlpipe.metrics.fields`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from nlpipe.errors import InputError, TrainingError
from nlpipe.store.datasets import load_dataset
from nlpipe.store.db import Store
from nlpipe.store.documents import get_document
from nlpipe.tasks.base import BasePredictor, Check, Task, TrainContext, TrainingData, reject_unknown_options
from nlpipe.tasks.data import fingerprint
from nlpipe.tasks.layout.model import OUTSIDE, FieldExtractor
from nlpipe.tasks.layout.words import document_words, has_words, word_tags
from nlpipe.types import Document, Prediction, Span

__all__ = ["FORMAT", "TRUSTED_TYPES", "LayoutPredictor", "LayoutTask", "TASK", "load_annotated"]

FORMAT = "nlpipe.layout.v1"
#: What skops must trust to load a saved layout model: ``{"layout": FieldExtractor, "text": FieldExtractor}``
#: (``tests/test_tasks_layout.py`` checks the list is exact).
TRUSTED_TYPES: list[str] = [
    "nlpipe.tasks.layout.model.FieldExtractor",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
]
MIN_FIELD_DOCS = 3
HEADLINE = ("micro_f1", "macro_f1", "micro_precision", "micro_recall")
BASELINE_NAME = "text-only"


def load_annotated(store: Store, dataset: str, splits: Sequence[str]) -> tuple[list[Document], list[list[Span]]]:
    """The documents of ``splits`` that have field annotations, read with their pages, and their spans."""
    with store.session() as s:
        data = load_dataset(s, dataset, labeled_only=False, with_spans=True)
        part = data.subset(splits)
        keep = [i for i in range(len(part)) if part.spans[i]]
        docs = [get_document(s, part.doc_ids[i]) for i in keep]
    return docs, [list(part.spans[i]) for i in keep]


def _refuse_without_words(docs: Sequence[Document], code: str, where: str, kind: type = TrainingError) -> None:
    missing = [d for d in docs if not has_words(d)]
    if missing:
        raise kind(
            code,
            f"{len(missing)} annotated documents in {where} have no word boxes (e.g. "
            f"{missing[0].source or missing[0].id!r}); "
            "the layout task learns from where words sit on the page. Read the PDFs with `nlpipe ingest DATASET "
            "FILES...` before importing their annotations (the import attaches spans to the ingested documents "
            "by their text).",
        )


def _checks(docs: Sequence[Document], spans: Sequence[Sequence[Span]]) -> list[Check]:
    checks = []
    per_field = Counter(label for doc_spans in spans for label in {s.label for s in doc_spans})
    few = sorted((n, f) for f, n in per_field.items() if n < MIN_FIELD_DOCS)
    if few:
        listed = ", ".join(f"{f!r} ({n})" for n, f in few)
        checks.append(Check("warning", "W390", f"{len(few)} fields are annotated in fewer than {MIN_FIELD_DOCS} "
                            f"training documents: {listed}; annotate more for reliable extraction."))  # fmt: skip
    lost = 0
    for doc, doc_spans in zip(docs, spans, strict=True):
        dw = document_words(doc)
        for sp in doc_spans:
            if all(t == OUTSIDE for t in word_tags(dw, [sp], OUTSIDE)):
                lost += 1
    if lost:
        checks.append(Check("warning", "W391", f"{lost} annotated spans cover no word of their document's word "
                            "boxes and were left out of training."))  # fmt: skip
    return checks


def _score(
    models: dict[str, Any],
    docs: Sequence[Document],
    spans: Sequence[Sequence[Span]],
    out_dir: Path,
    *,
    title: str,
    meta: dict[str, Any],
) -> tuple[dict[str, Any], Path]:
    """Metrics of the layout model with the text-only baseline beside them, and the report."""
    from nlpipe.metrics.fields import field_metrics, write_field_report

    fields = list(models["layout"].fields_)
    known = set(fields)
    truth = [[s for s in doc_spans if s.label in known] for doc_spans in spans]
    sources = [d.source or str(d.id) for d in docs]
    texts = [d.text for d in docs]
    metrics = field_metrics(truth, models["layout"].predict(docs), fields, sources=sources, texts=texts)
    base = field_metrics(truth, models["text"].predict(docs), fields, sources=sources, texts=texts)
    metrics["baseline"] = {"name": BASELINE_NAME, **{k: base[k] for k in (*HEADLINE, "per_label")}}
    ignored = sorted({s.label for doc_spans in spans for s in doc_spans} - known)
    if ignored:
        metrics["ignored_fields"] = ignored
    metrics["task"] = "layout"
    return metrics, write_field_report(metrics, out_dir, title=title, meta=meta)


class LayoutPredictor(BasePredictor):
    """Fields of documents with word boxes: spans with label, text, score, page and box."""

    task = "layout"
    options = ("threshold",)

    def predict(self, texts: Sequence[str], **options: Any) -> list[Prediction]:
        raise InputError(
            "E440",
            f"Model {self.name!r} extracts fields from where words sit on PDF pages, so it needs documents, not "
            f"texts: `nlpipe predict {self.name} --file invoice.pdf` or POST /v1/models/{self.name}:predictFile.",
        )

    def predict_documents(
        self, docs: Sequence[Document], *, threshold: float | None = None, **options: Any
    ) -> list[Prediction]:
        """The fields of each document; ``threshold`` drops fields scoring below it."""
        self.check_options(options)
        if threshold is not None and not 0.0 <= threshold <= 1.0:
            raise InputError("E443", f"threshold must be between 0 and 1, got {threshold}.", field="threshold")
        for doc in docs:
            if not has_words(doc):
                raise InputError(
                    "E441",
                    f"{doc.source or 'document'} has no word boxes (not a PDF, or a scanned page read with --ocr "
                    f"never); model {self.name!r} reads fields from PDF pages.",
                    file=doc.source,
                )
        out = []
        for spans in self.model["layout"].predict(list(docs)):
            if threshold is not None:
                spans = [s for s in spans if (s.score or 0.0) >= threshold]
            out.append(Prediction(labels=[], predicted=sorted({s.label for s in spans}), spans=spans))
        return out


class LayoutTask(Task):
    name = "layout"
    format = FORMAT
    records_resolved_budget = False  # the learner takes no budget; meta.json keeps what was asked
    trusted_types = TRUSTED_TYPES
    renamed_types = {"nlpipe.tasks.layout_model.FieldExtractor": "nlpipe.tasks.layout.model.FieldExtractor"}
    predictor = LayoutPredictor

    def check_options(self, options: dict[str, Any]) -> dict[str, Any]:
        reject_unknown_options(options, (), task=self.name, code="E394", listing=" (it takes none).")
        return {}

    def read_training_data(self, ctx: TrainContext) -> TrainingData:
        train_docs, train_spans = load_annotated(ctx.store, ctx.dataset, ["train", "validation"])
        test_docs, test_spans = load_annotated(ctx.store, ctx.dataset, ["test"])
        with ctx.store.session() as s:
            data = load_dataset(s, ctx.dataset, labeled_only=False, with_spans=True)
        return TrainingData(
            train=(train_docs, train_spans),
            validation=None,
            test=(test_docs, test_spans),
            reference=None,
            has_test=bool(test_docs),
            fingerprint=fingerprint(data.subset(["train", "validation"])),
        )

    def check_data(self, data: TrainingData, ctx: TrainContext) -> list[Check]:
        (train_docs, train_spans), (test_docs, _) = data.train, data.test
        if not train_docs:
            raise TrainingError(
                "E390",
                f"Dataset {ctx.dataset!r} has no documents with field annotations in its train split. Ingest the "
                "PDFs (`nlpipe ingest`), then import their spans (`nlpipe datasets import` of a JSONL file with "
                '"text" and "spans").',
            )
        _refuse_without_words(train_docs + test_docs, "E392", f"dataset {ctx.dataset!r}")
        return _checks(train_docs, train_spans)

    def fit(self, data: TrainingData, ctx: TrainContext, checks: list[Check]) -> Any:
        docs, spans = data.train
        models: dict[str, FieldExtractor] = {}
        for k, view in enumerate(("layout", "text")):
            if ctx.progress:
                ctx.progress(f"train ({view})", k, 2)
            models[view] = FieldExtractor(view, seed=ctx.seed).fit(docs, spans)
        if ctx.progress:
            ctx.progress("train (text)", 2, 2)
        return models

    def model_meta(self, model: Any, data: TrainingData, ctx: TrainContext) -> dict[str, Any]:
        return {"labels": model["layout"].fields_, "multi_label": False, "single_valued": model["layout"].single_}

    def headline(self, metrics: dict[str, Any] | None) -> dict[str, Any]:
        return {
            "metrics": {k: metrics[k] for k in HEADLINE} if metrics else None,
            "baseline": {k: v for k, v in (metrics or {}).get("baseline", {}).items() if k != "per_label"} or None,
        }

    def training_fields(self, model: Any, data: TrainingData, ctx: TrainContext, checks: list[Check]) -> dict:
        return {
            "n_train": len(data.train[0]),
            "n_test": len(data.test[0]),
            "n_words": model["layout"].n_words_,
            "params": model["layout"].get_params(),
            "checks": [c.__dict__ for c in checks],
        }

    def read_split(self, store: Store, dataset: str, split: str) -> tuple[Any, Any]:
        docs, spans = load_annotated(store, dataset, ["train", "validation", "test"] if split == "all" else [split])
        if not docs:
            raise InputError("E570", f"Dataset {dataset!r} has no documents with field annotations in the {split!r} "
                             "split.", field="split")  # fmt: skip
        _refuse_without_words(docs, "E571", f"the {split!r} split of {dataset!r}", InputError)
        return (docs, spans), None

    def score(
        self,
        model: Any,
        meta: Mapping[str, Any],
        part: Any,
        reference: Any,
        *,
        out_dir: Path,
        title: str,
        report_meta: dict[str, Any],
    ) -> tuple[dict[str, Any], Path, int]:
        docs, spans = part
        metrics, report = _score(model, docs, spans, out_dir, title=title, meta=report_meta)
        return metrics, report, 0


TASK = LayoutTask()
