"""The layout task: fields (invoice number, date, total, issuer, ...) from the word boxes of PDFs.

``nlpipe train DATASET --task layout --name M`` learns from the dataset's documents that have both word boxes
(PDFs read by ``nlpipe ingest``) and field annotations (character spans, e.g. imported from JSONL after the
ingest, which attaches them to the same documents by their text). Two
:class:`~nlpipe.tasks.layout.model.FieldExtractor` models are trained on the train split: the layout-aware one
that predicts, and a text-only one (same learner, no positions or sizes) kept as the baseline that evaluations
report beside it. ``nlpipe evaluate`` scores exact-match precision, recall and F1 per field and overall
(:mod:`nlpipe.evaluate.fields`); ``nlpipe predict M --file invoice.pdf`` and ``POST /v1/models/M:predictFile``
return each field's span with its label, text, score, page and box.

This module is the task's glue, so it sits with ``nlpipe.predict`` in the import layers (tests/test_layers.py):
it reads the store, saves artifacts and subclasses :class:`nlpipe.predict.BasePredictor`. The model
(:mod:`nlpipe.tasks.layout.model`) and its features (:mod:`nlpipe.tasks.layout.features`) know nothing of
the store or the disk.

Error codes: E390 no annotated documents in the train split, E392 annotated documents without word boxes,
E394 an option the task does not take (E391, E395 from the model); warnings W390 a field annotated in fewer
than ``MIN_FIELD_DOCS`` training documents, W391 spans that cover no word; E440 texts without documents,
E441 a document without word boxes, E443 threshold out of range (E442 from the model); E570 no annotated
documents in the evaluated split, E571 annotated documents there without word boxes (E575, E576 from
:mod:`nlpipe.evaluate.fields`).
"""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nlpipe import artifacts
from nlpipe.config import Settings
from nlpipe.errors import InputError, TrainingError
from nlpipe.evaluate.run import EvaluationResult
from nlpipe.predict import BasePredictor
from nlpipe.store.datasets import get_dataset, load_dataset
from nlpipe.store.db import Store
from nlpipe.store.documents import get_document
from nlpipe.tasks.layout.features import document_words, has_words, word_tags
from nlpipe.tasks.layout.model import OUTSIDE, FieldExtractor
from nlpipe.train import Check, Progress, TrainResult, save_version, training_meta
from nlpipe.types import Document, Prediction, Span

__all__ = ["FORMAT", "TRUSTED_TYPES", "Predictor", "train_task", "evaluate_task", "load_annotated"]

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


def train_task(
    store: Store,
    settings: Settings,
    dataset: str,
    name: str,
    *,
    time_budget: float | None,
    seed: int | None,
    progress: Progress | None,
    **options: Any,
) -> TrainResult:
    """Train a layout model on ``dataset``'s annotated train (and validation) documents, evaluate it and the
    text-only baseline on the annotated test documents, and save it as a new version of ``name``."""
    unknown = sorted(k for k, v in options.items() if v is not None)
    if unknown:
        raise InputError("E394", f"Option {unknown[0]!r} does not apply to task 'layout' (it takes none).",
                         field=unknown[0])  # fmt: skip
    seed = settings.seed if seed is None else seed
    train_docs, train_spans = load_annotated(store, dataset, ["train", "validation"])
    test_docs, test_spans = load_annotated(store, dataset, ["test"])
    with store.session() as s:
        dataset_id = get_dataset(s, dataset).id
        data = load_dataset(s, dataset, labeled_only=False, with_spans=True)
    if not train_docs:
        raise TrainingError(
            "E390",
            f"Dataset {dataset!r} has no documents with field annotations in its train split. Ingest the PDFs "
            "(`nlpipe ingest`), then import their spans (`nlpipe datasets import` of a JSONL file with "
            '"text" and "spans").',
        )
    _refuse_without_words(train_docs + test_docs, "E392", f"dataset {dataset!r}")
    checks = _checks(train_docs, train_spans)

    started = time.perf_counter()
    models: dict[str, FieldExtractor] = {}
    for k, view in enumerate(("layout", "text")):
        if progress:
            progress(f"train ({view})", k, 2)
        models[view] = FieldExtractor(view, seed=seed).fit(train_docs, train_spans)
    if progress:
        progress("train (text)", 2, 2)
    seconds = time.perf_counter() - started

    metrics = None
    with tempfile.TemporaryDirectory() as tmp:
        report_dir = Path(tmp) / "report"
        if test_docs:
            if progress:
                progress("evaluate", 0, 1)
            metrics, _ = _score(models, test_docs, test_spans, report_dir,
                                title=f"{name}: evaluation on {dataset} (test split)",
                                meta={"model": name, "dataset": dataset, "split": "test"})  # fmt: skip
            if progress:
                progress("evaluate", 1, 1)
        meta = {
            "task": "layout",
            "format": FORMAT,
            "labels": models["layout"].fields_,
            "multi_label": False,
            "single_valued": models["layout"].single_,
            "metrics": {k: metrics[k] for k in HEADLINE} if metrics else None,
            "baseline": {k: v for k, v in (metrics or {}).get("baseline", {}).items() if k != "per_label"} or None,
            "training": training_meta(
                dataset,
                data,
                seed=seed,
                time_budget=time_budget,
                seconds=seconds,
                n_train=len(train_docs),
                n_test=len(test_docs),
                n_words=models["layout"].n_words_,
                params=models["layout"].get_params(),
                checks=[c.__dict__ for c in checks],
            ),
        }
        path = save_version(store, settings, name, models, meta, report_dir=report_dir, dataset_id=dataset_id)
    return TrainResult(name=name, version=path.name, path=path, metrics=metrics, checks=checks, seconds=seconds)


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
    from nlpipe.evaluate.fields import field_metrics, write_field_report

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


def evaluate_task(
    store: Store, settings: Settings, loaded: artifacts.LoadedModel, dataset: str, *, split: str, out_dir: Path
) -> EvaluationResult:
    """Field-level exact-match scores of a saved layout model (and its text-only baseline) on a split."""
    docs, spans = load_annotated(store, dataset, ["train", "validation", "test"] if split == "all" else [split])
    if not docs:
        raise InputError("E570", f"Dataset {dataset!r} has no documents with field annotations in the {split!r} "
                         "split.", field="split")  # fmt: skip
    _refuse_without_words(docs, "E571", f"the {split!r} split of {dataset!r}", InputError)
    metrics, report = _score(loaded.model, docs, spans, out_dir,
                             title=f"{loaded.name} {loaded.version}: evaluation on {dataset} ({split})",
                             meta={"model": loaded.name, "version": loaded.version, "dataset": dataset,
                                   "split": split})  # fmt: skip
    return EvaluationResult(metrics=metrics, report=report, model=loaded.name, version=loaded.version, skipped=0)


class Predictor(BasePredictor):
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
