"""The sentiment task: labeled texts (categories, or scores 0..N with ``--scale N``) ->
:class:`~nlpipe.tasks.sentiment.model.SentimentModel` -> :class:`~nlpipe.tasks.sentiment.predictor.SentimentPredictor`.

Error codes: E350 scale out of range, E351 a label not on the scale, E352 a score of the scale missing from the
train split, E354 multi-label, E355 unknown option; E310-E312, W301-W304 the data checks
(:func:`nlpipe.tasks.data.data_checks`); E531 nothing in the split, E543 nothing in it the model can score.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nlpipe.errors import InputError, TrainingError
from nlpipe.store.datasets import LabeledData
from nlpipe.store.db import Store
from nlpipe.tasks.base import Check, Task, TrainContext, TrainingData, reject_unknown_options
from nlpipe.tasks.data import HEADLINE, data_checks, fingerprint, read_labeled_split
from nlpipe.tasks.sentiment.model import TRUSTED_TYPES, SentimentModel
from nlpipe.tasks.sentiment.params import MAX_SCALE
from nlpipe.tasks.sentiment.predictor import SentimentPredictor

FORMAT = "nlpipe.sentiment.v1"
ORDINAL_HEADLINE = ("mae", "mse", "kappa_linear", "kappa_quadratic")
OPTIONS = ("scale",)


def check_scale_data(data: LabeledData, train: LabeledData, scale: int, dataset: str) -> None:
    allowed = {str(k) for k in range(scale + 1)}
    bad = [(ext, labs) for labs, ext in zip(data.labels, data.external_ids, strict=True) if labs[0] not in allowed]
    if bad:
        found = sorted({labs[0] for _, labs in bad})
        ext, labs = bad[0]
        example = f"document {ext!r} has {labs[0]!r}" if ext else f"one has {labs[0]!r}"
        raise TrainingError(
            "E351",
            f"--scale {scale} needs every label of dataset {dataset!r} to be one of '0'..'{scale}', but "
            f"{len(bad)} documents have other labels ({example}; labels found: {', '.join(map(repr, found[:10]))}). "
            "Relabel them, or train without --scale for categorical labels.",
            field="scale",
        )
    counts = {k: 0 for k in sorted(allowed, key=int)}
    for labs in train.labels:
        counts[labs[0]] += 1
    missing = [k for k, n in counts.items() if n == 0]
    if missing:
        raise TrainingError(
            "E352",
            f"--scale {scale} needs an example of every score 0..{scale} in the train split of {dataset!r}; none "
            f"has score {', '.join(missing)} (counts: {', '.join(f'{k}: {n}' for k, n in counts.items())}). Label "
            "some, or choose the scale the data has.",
            field="scale",
        )


def _headline(metrics: dict[str, Any] | None) -> dict[str, Any] | None:
    if not metrics:
        return None
    out = {k: metrics[k] for k in HEADLINE if k in metrics}
    ordinal = metrics.get("ordinal") or {}
    out.update({k: ordinal[k] for k in ORDINAL_HEADLINE if k in ordinal})
    return out


def score_sentiment(
    model: SentimentModel,
    part: LabeledData,
    *,
    scale: int | None,
    train_labels: list[list[str]] | None,
    out_dir: Path,
    title: str,
    meta: dict[str, Any],
) -> tuple[dict[str, Any], Path, int]:
    """Metrics and report of ``model`` on ``part``: the classification metrics, plus for a scale the ordinal ones
    (MAE, MSE, weighted kappas, confusion over the scale). Documents without exactly one label the model knows
    are left out; their count is returned."""
    from nlpipe.metrics.classification import classification_metrics
    from nlpipe.metrics.ordinal import ordinal_metrics
    from nlpipe.metrics.report import write_report

    labels = list(model.labels_)
    known = set(labels)
    keep = [i for i, labs in enumerate(part.labels) if len(labs) == 1 and labs[0] in known]
    if not keep:
        raise InputError("E543", f"None of the {len(part)} documents has one label the model knows "
                         f"({', '.join(labels[:10])}).", field="split")  # fmt: skip
    texts = [part.texts[i] for i in keep]
    truth = [part.labels[i][0] for i in keep]
    proba = model.predict_proba(texts)
    train = [labs for labs in train_labels or [] if len(labs) == 1 and labs[0] in known] or None
    metrics = classification_metrics([[t] for t in truth], proba, labels, multi_label=False, texts=texts,
                                     train_labels=train)  # fmt: skip
    metrics["sentiment"] = {"kind": "scale" if scale is not None else "categorical", "scale": scale}
    if scale is not None:
        pred = [labels[j] for j in proba.argmax(axis=1)]
        metrics["ordinal"] = ordinal_metrics(truth, pred, scale, train_scores=[t[0] for t in train or []])
    return metrics, write_report(metrics, out_dir, title=title, meta=meta), len(part) - len(keep)


class SentimentTask(Task):
    name = "sentiment"
    format = FORMAT
    options = OPTIONS
    predictor = SentimentPredictor
    trusted_types = TRUSTED_TYPES
    renamed_types = {"nlpipe.tasks.sentiment_model.SentimentModel": "nlpipe.tasks.sentiment.model.SentimentModel"}

    def check_options(self, options: dict[str, Any]) -> dict[str, Any]:
        reject_unknown_options(options, ("scale", "multi_label"), task=self.name, code="E355",
                               listing=f" (its options: {', '.join(OPTIONS)}).")  # fmt: skip
        if options.get("multi_label"):
            raise InputError("E354", "Sentiment models take one label per document; train without --multi-label.",
                             field="multi_label")  # fmt: skip
        scale = options.get("scale")
        if scale is not None and (isinstance(scale, bool) or not isinstance(scale, int) or not 1 <= scale <= MAX_SCALE):
            raise InputError("E350", f"--scale must be an integer from 1 to {MAX_SCALE}, got {scale!r}.", field="scale")
        return {"scale": scale}

    def read_training_data(self, ctx: TrainContext) -> TrainingData:
        part, seen = read_labeled_split(ctx.store, ctx.dataset, "all", require=False)
        return TrainingData(
            train=part.subset("train"),
            validation=part.subset("validation"),
            test=part.subset("test"),
            reference=seen.labels,
            has_test=bool(len(part.subset("test"))),
            fingerprint=fingerprint(seen),
            extra={"data": part, "seen": seen},
        )

    def check_data(self, data: TrainingData, ctx: TrainContext) -> list[Check]:
        checks = data_checks(data.train, data.test, multi_label=False)
        scale = ctx.options["scale"]
        if scale is not None and not any(c.level == "error" for c in checks):
            check_scale_data(data.extra["data"], data.extra["seen"], scale, ctx.dataset)
        return checks

    def error_hint(self, check: Check) -> str:
        if check.code == "E310":
            return " Without labels, use the lexicon model, which needs no training: `nlpipe predict --lexicon TEXT`."
        return ""

    def fit(self, data: TrainingData, ctx: TrainContext, checks: list[Check]) -> Any:
        model = SentimentModel(scale=ctx.options["scale"], time_budget=ctx.time_budget, seed=ctx.seed)
        valid = data.validation
        validation = (valid.texts, [labs[0] for labs in valid.labels]) if len(valid) else None
        model.fit(data.train.texts, [labs[0] for labs in data.train.labels], validation=validation,
                  progress=ctx.progress)  # fmt: skip
        return model

    def model_meta(self, model: Any, data: TrainingData, ctx: TrainContext) -> dict[str, Any]:
        scale = ctx.options["scale"]
        return {
            "kind": "scale" if scale is not None else "categorical",
            "scale": scale,
            "labels": list(model.labels_),
            "multi_label": False,
            "lexicon": model.lexicon_,
        }

    def headline(self, metrics: dict[str, Any] | None) -> dict[str, Any]:
        return {"metrics": _headline(metrics), "baseline": (metrics or {}).get("baseline")}

    def training_fields(self, model: Any, data: TrainingData, ctx: TrainContext, checks: list[Check]) -> dict:
        return {
            "n_train": len(data.train),
            "n_validation": len(data.validation),
            "n_test": len(data.test),
            "search": model.search_,
            "best": model.best_,
            "checks": [c.__dict__ for c in checks],
        }

    def search_record(self, model: Any) -> tuple[list[dict[str, Any]], str | None]:
        return model.search_, model.best_

    def read_split(self, store: Store, dataset: str, split: str) -> tuple[Any, Any]:
        part, seen = read_labeled_split(store, dataset, split)
        return part, seen.labels

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
        return score_sentiment(model, part, scale=meta.get("scale"), train_labels=reference, out_dir=out_dir,
                               title=title, meta=report_meta)  # fmt: skip


TASK = SentimentTask()
