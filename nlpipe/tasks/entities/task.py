"""The entity task: dataset spans -> :class:`~nlpipe.tasks.entities.model.EntityRecognizer` -> spans of texts,
with page and box for documents read from PDFs (:class:`EntityPredictor`).

The model itself (:mod:`nlpipe.tasks.entities.model`) and its features (:mod:`nlpipe.tasks.entities.features`) know
nothing of the store or the disk layout. spaCy is imported only when a function here runs.

Error codes: E370 nothing to learn from, E371 unknown base pipeline or language, E372/E373 entity list file,
E374 ruler position, E375 unknown option, E376 no training documents; E430/E431 model not loadable, E432
spaCy version mismatch, E433 threshold out of range; E531 nothing in the evaluated split.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from nlpipe.errors import ArtifactError, ConfigError, InputError, TrainingError
from nlpipe.store.datasets import LabeledData, load_dataset
from nlpipe.store.db import Store
from nlpipe.tasks.base import (
    BasePredictor,
    Check,
    Task,
    TrainContext,
    TrainingData,
    check_texts,
    reject_unknown_options,
)
from nlpipe.tasks.data import fingerprint
from nlpipe.types import Document, Prediction, Span

FORMAT = "nlpipe.entities.v1"
DEV_FRACTION = 0.1
HEADLINE = ("micro_f1", "micro_precision", "micro_recall", "macro_f1")
OPTIONS = ("base", "entity_lists", "ruler", "lang", "max_iterations", "two_pass")


def _dev_split(train: LabeledData, valid: LabeledData, seed: int) -> tuple[LabeledData, LabeledData]:
    """The dataset's validation split, else a seeded tenth of the training documents (none below 10)."""
    if len(valid):
        return train, valid
    n = len(train)
    n_dev = int(round(n * DEV_FRACTION)) if n >= 10 else 0
    order = list(range(n))
    random.Random(seed).shuffle(order)
    dev_idx = set(order[:n_dev])
    splits = ["validation" if i in dev_idx else "train" for i in range(n)]
    carved = LabeledData(train.doc_ids, train.texts, train.labels, splits, train.external_ids, train.spans)
    return carved.subset("train"), carved.subset("validation")


def _spacy_meta(model: Any) -> dict[str, Any]:
    import spacy

    nlp = model.nlp_
    return {
        "version": spacy.__version__,
        "lang": nlp.lang,
        "base": model.base,
        "pipeline": list(nlp.pipe_names),
        "config": "spacy/config.cfg",
    }


def load_artifact(folder: Path, meta: dict[str, Any]) -> Any:
    """The saved pipeline (``spacy/``); refuses one written by another spaCy minor version (E432)."""
    import spacy

    from nlpipe.tasks.entities.model import EntityRecognizer

    saved = str((meta.get("spacy") or {}).get("version", ""))
    if saved.split(".")[:2] != spacy.__version__.split(".")[:2]:
        raise ArtifactError(
            "E432",
            f"{folder} was trained with spaCy {saved or 'unknown'}, but {spacy.__version__} is installed. Install "
            f"spacy=={saved} to use it, or retrain the model with this version.",
        )
    return EntityRecognizer.from_disk(folder / "spacy", labels=meta.get("labels") or ())


def place_on_pages(document: Document, spans: Sequence[Span]) -> list[Span]:
    """Give each span the page and box of the words it covers, for documents with word boxes (PDFs, images).

    Words carry boxes but not offsets, so each page's text is found in the document's text and each word in its
    page's text, in reading order. A span gets the page of its first word and the union of its words' boxes;
    spans on no located word are returned unchanged.
    """
    located: list[tuple[int, int, int, Any]] = []  # (start, end, page number, word)
    cursor = 0
    for page in document.pages:
        base = document.text.find(page.text, cursor) if page.text else -1
        if base < 0:
            continue
        cursor = base + len(page.text)
        pos = 0
        for word in page.words:
            at = page.text.find(word.text, pos) if word.text else -1
            if at < 0:
                continue
            pos = at + len(word.text)
            located.append((base + at, base + pos, page.number, word))
    if not located:
        return list(spans)
    from bisect import bisect_right
    from dataclasses import replace

    starts = [w[0] for w in located]
    out = []
    for sp in spans:
        i = max(bisect_right(starts, sp.start) - 1, 0)
        words = []
        while i < len(located) and located[i][0] < sp.end:
            if located[i][1] > sp.start:
                words.append(located[i])
            i += 1
        if not words:
            out.append(sp)
            continue
        page_no = words[0][2]
        boxes = [w[3] for w in words if w[2] == page_no]
        bbox = (
            round(min(b.x0 for b in boxes), 2),
            round(min(b.y0 for b in boxes), 2),
            round(max(b.x1 for b in boxes), 2),
            round(max(b.y1 for b in boxes), 2),
        )
        out.append(replace(sp, page=page_no, bbox=bbox))
    return out


class EntityPredictor(BasePredictor):
    """Entities in texts: spans with label, character offsets, text and score; page and box for PDF pages."""

    task = "entities"
    options = ("threshold",)

    def predict(self, texts: Sequence[str], *, threshold: float | None = None) -> list[Prediction]:
        """Spans of each text; ``threshold`` drops model spans scoring below it (entity-list matches score 1)."""
        if threshold is not None and not 0.0 <= threshold <= 1.0:
            raise InputError("E433", f"threshold must be between 0 and 1, got {threshold}.", field="threshold")
        check_texts(texts)
        out = []
        for spans in self.model.predict(list(texts)):
            if threshold is not None:
                spans = [s for s in spans if s.score is None or s.score >= threshold]
            out.append(Prediction(labels=[], predicted=sorted({s.label for s in spans}), spans=spans))
        return out

    def predict_documents(self, docs: Sequence[Document], **options: Any) -> list[Prediction]:
        preds = self.predict([d.text for d in docs], **options)
        for doc, pred in zip(docs, preds, strict=True):
            if doc.pages and any(p.words for p in doc.pages):
                pred.spans = place_on_pages(doc, pred.spans)
        return preds


def _read(store: Store, dataset: str) -> LabeledData:
    with store.session() as s:
        return load_dataset(s, dataset, labeled_only=False, with_spans=True)


class EntitiesTask(Task):
    name = "entities"
    format = FORMAT
    options = OPTIONS
    records_resolved_budget = False  # the model's own default budget when none is asked for
    predictor = EntityPredictor

    def check_options(self, options: dict[str, Any]) -> dict[str, Any]:
        from nlpipe.tasks.entities.model import read_entity_list

        reject_unknown_options(options, OPTIONS, task=self.name, code="E375",
                               listing=f" (its options: {', '.join(OPTIONS)}).")  # fmt: skip
        ruler = options.get("ruler", "before")
        if ruler not in ("before", "after", "none", None):
            raise ConfigError("E374", f"--ruler must be before, after or none, got {ruler!r}.", field="ruler")
        entity_lists = options.get("entity_lists")
        return {
            "base": options.get("base"),
            "entity_lists": entity_lists,
            "entity_list": [pair for path in entity_lists or () for pair in read_entity_list(Path(path))],
            "ruler": None if ruler == "none" else ruler,
            "lang": options.get("lang", "en"),
            "max_iterations": options.get("max_iterations", 150),
            "two_pass": options.get("two_pass", True),
        }

    def read_training_data(self, ctx: TrainContext) -> TrainingData:
        data = _read(ctx.store, ctx.dataset)
        train, dev = _dev_split(data.subset("train"), data.subset("validation"), ctx.seed)
        test = data.subset("test")
        return TrainingData(
            train=train,
            validation=dev,
            test=test,
            reference=train,
            has_test=bool(len(test)),
            fingerprint=fingerprint(data.subset(["train", "validation"])),
            extra={"dataset_validation": bool(len(data.subset("validation")))},
        )

    def check_data(self, data: TrainingData, ctx: TrainContext) -> list[Check]:
        if not len(data.train):
            raise TrainingError("E376", f"Dataset {ctx.dataset!r} has no documents in its train split; import some "
                                "first.")  # fmt: skip
        return []

    def fit(self, data: TrainingData, ctx: TrainContext, checks: list[Check]) -> Any:
        from nlpipe.tasks.entities.model import EntityRecognizer

        o = ctx.options
        model = EntityRecognizer(lang=o["lang"], base=o["base"], entity_list=o["entity_list"], ruler=o["ruler"],
                                 max_iterations=o["max_iterations"], two_pass=o["two_pass"], seed=ctx.seed,
                                 time_budget=ctx.requested_budget)  # fmt: skip
        train, dev = data.train, data.validation
        return model.fit(train.texts, train.spans, dev.texts, dev.spans, progress=ctx.progress)

    def model_meta(self, model: Any, data: TrainingData, ctx: TrainContext) -> dict[str, Any]:
        entity_lists = ctx.options["entity_lists"]
        return {
            "labels": model.labels_,
            "multi_label": False,
            "spacy": _spacy_meta(model),
            "entity_lists": {
                "files": [str(p) for p in entity_lists or ()],
                "entries": len(ctx.options["entity_list"]),
                "ruler": ctx.options["ruler"] if ctx.options["entity_list"] else None,
            },
        }

    def headline(self, metrics: dict[str, Any] | None) -> dict[str, Any]:
        return {
            "metrics": {k: metrics[k] for k in HEADLINE} if metrics else None,
            "baseline": (metrics or {}).get("baseline"),
        }

    def training_fields(self, model: Any, data: TrainingData, ctx: TrainContext, checks: list[Check]) -> dict:
        return {
            "n_train": len(data.train),
            "n_validation": len(data.validation),
            "validation": "dataset" if data.extra["dataset_validation"] else "carved from train",
            "n_test": len(data.test),
            **model.training_,  # the model's own record (iterations, its own seconds) wins
        }

    def read_split(self, store: Store, dataset: str, split: str) -> tuple[Any, Any]:
        data = _read(store, dataset)
        part = data if split == "all" else data.subset(split)
        if not len(part):
            raise InputError("E531", f"Dataset {dataset!r} has no documents in the {split!r} split.", field="split")
        return part, data.subset(["train", "validation"]) if split not in ("train", "all") else None

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
        from nlpipe.metrics.entities import entity_metrics
        from nlpipe.metrics.report import write_report
        from nlpipe.tasks.entities.baseline import memorized_baseline

        pred = model.predict(part.texts)
        baseline = None if reference is None else memorized_baseline(reference.texts, reference.spans, part.texts)
        metrics = entity_metrics(part.spans, pred, part.texts, baseline=baseline)
        return metrics, write_report(metrics, out_dir, title=title, meta=report_meta), 0

    def save_artifact(self, model: Any, folder: Path) -> None:
        model.save_artifact(folder)

    def load_artifact(self, folder: Path, meta: dict[str, Any]) -> Any:
        return load_artifact(folder, meta)


TASK = EntitiesTask()
