"""The entity task: dataset spans -> :class:`~nlpipe.tasks.entities.model.EntityRecognizer` -> saved version,
its evaluation, and its predictor.

This module is the task's glue, so it sits with ``nlpipe.predict`` in the import layers (tests/test_layers.py):
it reads the store, saves artifacts and subclasses :class:`nlpipe.predict.BasePredictor`. The model itself
(:mod:`nlpipe.tasks.entities.model`) and its features (:mod:`nlpipe.tasks.entities.features`) know nothing of the
store or the disk layout. spaCy is imported only when a function here runs.

Error codes: E370 nothing to learn from, E371 unknown base pipeline or language, E372/E373 entity list file,
E374 ruler position, E375 unknown option, E376 no training documents; E430/E431 model not loadable, E432
spaCy version mismatch, E433 threshold out of range.
"""

from __future__ import annotations

import random
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nlpipe import artifacts
from nlpipe.config import Settings
from nlpipe.errors import ArtifactError, ConfigError, InputError, TrainingError
from nlpipe.evaluate.run import EvaluationResult
from nlpipe.predict import BasePredictor, check_texts
from nlpipe.store.datasets import LabeledData, get_dataset, load_dataset
from nlpipe.store.db import Store
from nlpipe.train import Progress, TrainResult, save_version, training_meta
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


def train_task(
    store: Store,
    settings: Settings,
    dataset: str,
    name: str,
    *,
    time_budget: float | None,
    seed: int | None,
    progress: Progress | None,
    base: str | None = None,
    entity_lists: Sequence[Path] | None = None,
    ruler: str | None = "before",
    lang: str = "en",
    max_iterations: int = 150,
    two_pass: bool = True,
    **options: Any,
) -> TrainResult:
    """Train an entity model on every document of ``dataset``'s train split (early stopping on its validation
    split, else on a seeded tenth of train), evaluate it on the test split and save it as a new version."""
    from nlpipe.evaluate.entities import entity_metrics, memorized_baseline
    from nlpipe.evaluate.report import write_report
    from nlpipe.tasks.entities.model import EntityRecognizer, read_entity_list

    unknown = sorted(k for k, v in options.items() if v is not None)
    if unknown:
        raise InputError(
            "E375",
            f"Option {unknown[0]!r} does not apply to task 'entities' (its options: {', '.join(OPTIONS)}).",
            field=unknown[0],
        )
    if ruler not in ("before", "after", "none", None):
        raise ConfigError("E374", f"--ruler must be before, after or none, got {ruler!r}.", field="ruler")
    ruler = None if ruler == "none" else ruler
    seed = settings.seed if seed is None else seed
    entity_list = [pair for path in entity_lists or () for pair in read_entity_list(Path(path))]
    with store.session() as s:
        data = load_dataset(s, dataset, labeled_only=False, with_spans=True)
        dataset_id = get_dataset(s, dataset).id
    train_part, dev_part = _dev_split(data.subset("train"), data.subset("validation"), seed)
    test_part = data.subset("test")
    if not len(train_part):
        raise TrainingError("E376", f"Dataset {dataset!r} has no documents in its train split; import some first.")

    started = time.perf_counter()
    model = EntityRecognizer(
        lang=lang,
        base=base,
        entity_list=entity_list,
        ruler=ruler,
        max_iterations=max_iterations,
        two_pass=two_pass,
        seed=seed,
        time_budget=time_budget,
    )
    model.fit(train_part.texts, train_part.spans, dev_part.texts, dev_part.spans, progress=progress)
    seconds = time.perf_counter() - started

    metrics = None
    with tempfile.TemporaryDirectory() as tmp:
        report_dir = Path(tmp) / "report"
        if len(test_part):
            if progress:
                progress("evaluate", 0, 1)
            pred = model.predict(test_part.texts)
            baseline = memorized_baseline(train_part.texts, train_part.spans, test_part.texts)
            metrics = entity_metrics(test_part.spans, pred, test_part.texts, baseline=baseline)
            write_report(metrics, report_dir, title=f"{name}: evaluation on {dataset} (test split)",
                         meta={"model": name, "dataset": dataset, "split": "test"})  # fmt: skip
            if progress:
                progress("evaluate", 1, 1)
        meta = {
            "task": "entities",
            "format": FORMAT,
            "labels": model.labels_,
            "multi_label": False,
            "metrics": {k: metrics[k] for k in HEADLINE} if metrics else None,
            "baseline": (metrics or {}).get("baseline"),
            "spacy": _spacy_meta(model),
            "entity_lists": {
                "files": [str(p) for p in entity_lists or ()],
                "entries": len(entity_list),
                "ruler": ruler if entity_list else None,
            },  # fmt: skip
            "training": training_meta(
                dataset,
                data,
                seed=seed,
                time_budget=time_budget,
                seconds=seconds,
                n_train=len(train_part),
                n_validation=len(dev_part),
                validation="dataset" if len(data.subset("validation")) else "carved from train",
                n_test=len(test_part),
            )
            | model.training_,  # the model's own record (iterations, its own seconds) wins, as before
        }
        path = save_version(store, settings, name, model, meta, report_dir=report_dir, dataset_id=dataset_id)
    return TrainResult(name=name, version=path.name, path=path, metrics=metrics, seconds=seconds)


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


def evaluate_task(
    store: Store, settings: Settings, loaded: artifacts.LoadedModel, dataset: str, *, split: str, out_dir: Path
) -> EvaluationResult:
    from nlpipe.evaluate.entities import entity_metrics, memorized_baseline
    from nlpipe.evaluate.report import write_report

    with store.session() as s:
        data = load_dataset(s, dataset, labeled_only=False, with_spans=True)
    part = data if split == "all" else data.subset(split)
    if not len(part):
        raise InputError("E531", f"Dataset {dataset!r} has no documents in the {split!r} split.", field="split")
    train = data.subset(["train", "validation"])
    metrics = entity_metrics(
        part.spans,
        loaded.model.predict(part.texts),
        part.texts,
        baseline=memorized_baseline(train.texts, train.spans, part.texts) if split not in ("train", "all") else None,
    )
    report = write_report(metrics, out_dir, title=f"{loaded.name} {loaded.version}: evaluation on {dataset} ({split})",
                          meta={"model": loaded.name, "version": loaded.version, "dataset": dataset,
                                "split": split})  # fmt: skip
    return EvaluationResult(metrics=metrics, report=report, model=loaded.name, version=loaded.version, skipped=0)


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
        page = words[0][2]
        boxes = [w[3] for w in words if w[2] == page]
        bbox = (
            round(min(b.x0 for b in boxes), 2),
            round(min(b.y0 for b in boxes), 2),
            round(max(b.x1 for b in boxes), 2),
            round(max(b.y1 for b in boxes), 2),
        )
        out.append(replace(sp, page=page, bbox=bbox))
    return out


class Predictor(BasePredictor):
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
