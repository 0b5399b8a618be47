"""The classification task: labeled texts -> :class:`~nlpipe.tasks.classify.model.TextClassifier` -> label scores.

Training reads a dataset whole, or above :data:`STREAM_ABOVE` documents its train split a batch at a time while
fitting (every other split in memory). Error codes: E315 an option the task does not take; E310-E312 and
W301-W304 the data checks (:func:`nlpipe.tasks.data.data_checks`); E531/E532 nothing to evaluate; E411/E412
prediction options.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nlpipe.errors import InputError
from nlpipe.store.datasets import LabeledData, load_dataset
from nlpipe.store.db import Store
from nlpipe.store.stream import count_documents, iter_split
from nlpipe.tasks.base import (
    BasePredictor,
    Check,
    LoadedModel,
    Task,
    TrainContext,
    TrainingData,
    check_texts,
    reject_unknown_options,
)
from nlpipe.tasks.classify.model import TRUSTED_TYPES, TextClassifier
from nlpipe.tasks.data import (
    HEADLINE,
    concat,
    data_checks,
    duplicates_message,
    fingerprint,
    fingerprint_rows,
    normalise,
    read_labeled_split,
    tracked,
)
from nlpipe.types import LabelScore, Prediction

STREAM_ABOVE = 200_000  # documents in a dataset above which classify training reads the train split in batches


class ClassifyPredictor(BasePredictor):
    """Classification: label scores per text, with top-k, thresholds and word-level explanations."""

    task = "classify"
    options = ("top_k", "threshold", "explain", "explain_terms", "batch_size")

    def __init__(self, loaded: LoadedModel) -> None:
        super().__init__(loaded)
        self.labels = list(self.meta["labels"])
        self.label_index = {label: i for i, label in enumerate(self.labels)}
        self.multi_label: bool = bool(self.meta.get("multi_label", False))
        self.thresholds = np.asarray(self.meta.get("thresholds") or [0.5] * len(self.labels), dtype=float)

    def predict(
        self,
        texts: Sequence[str],
        *,
        top_k: int | None = None,
        threshold: float | None = None,
        explain: bool = False,
        explain_terms: int = 10,
        batch_size: int = 256,
    ) -> list[Prediction]:
        """Score ``texts``.

        ``top_k`` limits the labels listed per text (default: all for up to 10 labels, else 10).
        ``threshold`` overrides the decision rule (argmax, or per-label thresholds for multi-label): every
        label scoring at least ``threshold`` is predicted, which may be none.
        """
        if top_k is not None and top_k < 1:
            raise InputError("E411", f"top_k must be a positive integer, got {top_k}.", field="top_k")
        if threshold is not None and not 0.0 <= threshold <= 1.0:
            raise InputError("E412", f"threshold must be between 0 and 1, got {threshold}.", field="threshold")
        check_texts(texts)
        k = top_k or (len(self.labels) if len(self.labels) <= 10 else 10)
        out: list[Prediction] = []
        for start in range(0, len(texts), batch_size):
            batch = list(texts[start : start + batch_size])
            proba = self.model.predict_proba(batch) if batch else np.zeros((0, len(self.labels)))
            orders = np.argsort(-proba, axis=1, kind="stable")  # one call for the batch, not one per text
            for text, row, order in zip(batch, proba, orders, strict=True):
                out.append(self._one(text, row, order, k, threshold, explain, explain_terms))
        return out

    def _one(
        self,
        text: str,
        row: np.ndarray,
        order: np.ndarray,
        k: int,
        threshold: float | None,
        explain: bool,
        n_terms: int,
    ) -> Prediction:
        """``text``'s prediction from its scores ``row`` and their order (highest first, ties by label order)."""
        if threshold is not None:
            predicted = [self.labels[i] for i in order if row[i] >= threshold]
        elif self.multi_label:
            predicted = [self.labels[i] for i in order if row[i] >= self.thresholds[i]]
        else:
            predicted = [self.labels[order[0]]]
        shown = order[:k].tolist()
        for lab in predicted:  # a predicted label is always listed with its score
            j = self.label_index[lab]
            if j not in shown:
                shown.append(j)
        scores = []
        for i in shown:
            terms = None
            if explain and self.labels[i] in predicted:
                terms = self.model.explain(text, self.labels[i], k=n_terms)
            scores.append(LabelScore(self.labels[i], float(row[i]), terms))
        return Prediction(labels=scores, predicted=predicted)


def score_split(
    model: Any,
    labels: list[str],
    part: LabeledData,
    *,
    multi_label: bool,
    thresholds: np.ndarray | None,
    train_labels: list[list[str]] | None,
    out_dir: Path,
    title: str,
    meta: dict[str, Any],
) -> tuple[dict[str, Any], Path, int]:
    """Metrics and report of ``model`` on ``part``; documents with a label the model does not know are left out
    (their count is returned)."""
    from nlpipe.metrics.classification import classification_metrics
    from nlpipe.metrics.report import write_report

    known = set(labels)
    keep = [i for i, labs in enumerate(part.labels) if labs and set(labs) <= known]
    if not keep:
        raise InputError(
            "E532",
            f"None of the {len(part)} documents have only labels the model knows ({', '.join(sorted(known)[:10])}).",
        )
    texts = [part.texts[i] for i in keep]
    metrics = classification_metrics(
        [part.labels[i] for i in keep],
        model.predict_proba(texts),
        labels,
        multi_label=multi_label,
        thresholds=thresholds,
        texts=texts,
        train_labels=train_labels,
    )
    return metrics, write_report(metrics, out_dir, title=title, meta=meta), len(part) - len(keep)


class ClassifyTask(Task):
    name = "classify"
    format = "nlpipe.classify.v1"
    predictor = ClassifyPredictor

    trusted_types = TRUSTED_TYPES
    renamed_types = {  # before the task became a package
        "nlpipe.tasks.classify.TextClassifier": "nlpipe.tasks.classify.model.TextClassifier",
        "nlpipe.tasks.hashing.HashedNgrams": "nlpipe.tasks.classify.hashing.HashedNgrams",
        "nlpipe.tasks.shortlist.ShortlistLinear": "nlpipe.tasks.classify.shortlist.ShortlistLinear",
    }

    def check_options(self, options: dict[str, Any]) -> dict[str, Any]:
        reject_unknown_options(options, ("multi_label",), task=self.name, code="E315", listing=".")
        return {"multi_label": options.get("multi_label")}

    def read_training_data(self, ctx: TrainContext) -> TrainingData:
        with ctx.store.session() as s:
            streamed = count_documents(s, ctx.dataset) > STREAM_ABOVE
            if streamed:  # every split but train in memory; train is read a batch at a time while fitting
                valid, test = (concat(iter_split(s, ctx.dataset, sp)) for sp in ("validation", "test"))
                train = concat(iter_split(s, ctx.dataset, "train", with_texts=False))
                data = None
            else:
                data = load_dataset(s, ctx.dataset)
                train, valid, test = (data.subset(sp) for sp in ("train", "validation", "test"))
        multi_label = ctx.options["multi_label"]
        if multi_label is None:
            multi_label = any(len(labs) > 1 for part in (train, valid, test) for labs in part.labels)
        return TrainingData(
            train=train,
            validation=valid,
            test=test,
            reference=train.labels,
            has_test=bool(len(test)),
            fingerprint=None if data is None else fingerprint(data.subset(["train", "validation"])),
            extra={"multi_label": multi_label, "streamed": data is None},
        )

    def check_data(self, data: TrainingData, ctx: TrainContext) -> list[Check]:
        return data_checks(data.train, data.test, multi_label=data.extra["multi_label"])

    def fit(self, data: TrainingData, ctx: TrainContext, checks: list[Check]) -> Any:
        clf = TextClassifier(multi_label=data.extra["multi_label"], time_budget=ctx.fit_budget, seed=ctx.seed)
        valid = data.validation
        validation = (valid.texts, valid.labels) if len(valid) else None
        if not data.extra["streamed"]:
            clf.fit(data.train.texts, data.train.labels, validation=validation, progress=ctx.progress)
            return clf
        seen: set[bytes] = set()
        rows: list[tuple[str, list[str], str]] = []
        with ctx.store.session() as s:
            batches = tracked(iter_split(s, ctx.dataset, "train"), seen, rows)
            clf.fit_stream(batches, validation=validation, progress=ctx.progress, total=len(data.train))
        dup = sum(1 for t in data.test.texts if hashlib.sha1(normalise(t).encode()).digest() in seen)
        if dup:
            checks.append(Check("warning", "W303", duplicates_message(dup)))
        rows += [(hashlib.sha256(t.encode()).hexdigest(), labs, "validation")
                 for t, labs in zip(valid.texts, valid.labels, strict=True)]  # fmt: skip
        data.fingerprint = fingerprint_rows(rows)
        return clf

    def model_meta(self, model: Any, data: TrainingData, ctx: TrainContext) -> dict[str, Any]:
        return {
            "labels": list(model.labels_),
            "multi_label": data.extra["multi_label"],
            "thresholds": [float(t) for t in model.thresholds_],
        }

    def headline(self, metrics: dict[str, Any] | None) -> dict[str, Any]:
        return {
            "metrics": {k: metrics[k] for k in HEADLINE if metrics and k in metrics} or None,
            "baseline": (metrics or {}).get("baseline"),
        }

    def training_fields(self, model: Any, data: TrainingData, ctx: TrainContext, checks: list[Check]) -> dict:
        return {
            "n_train": len(data.train),
            "n_validation": len(data.validation),
            "n_test": len(data.test),
            "search": model.search_,
            "best": model.best_,
            "strategy": model.strategy_,
            "streamed": data.extra["streamed"],
            "checks": [c.__dict__ for c in checks],
        }

    def search_record(self, model: Any) -> tuple[list[dict[str, Any]], str | None]:
        return model.search_, model.best_

    def read_split(self, store: Store, dataset: str, split: str) -> tuple[Any, Any]:
        part, seen = read_labeled_split(store, dataset, split)
        return part, seen.labels or None

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
        return score_split(
            model,
            list(meta["labels"]),
            part,
            multi_label=bool(meta.get("multi_label")),
            thresholds=np.asarray(meta["thresholds"]) if meta.get("thresholds") else None,
            train_labels=reference,
            out_dir=out_dir,
            title=title,
            meta=report_meta,
        )


TASK = ClassifyTask()
