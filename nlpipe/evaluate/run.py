"""Evaluate a saved model on a split of a dataset and write metrics.json + report.html."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nlpipe import artifacts
from nlpipe.config import Settings
from nlpipe.errors import InputError
from nlpipe.store.datasets import LabeledData, load_dataset
from nlpipe.store.db import Store
from nlpipe.types import SPLITS


@dataclass
class EvaluationResult:
    metrics: dict[str, Any]
    report: Path
    model: str
    version: str
    skipped: int  # documents whose labels the model does not know


def evaluate_model(
    store: Store,
    settings: Settings,
    model: str,
    dataset: str,
    *,
    version: str | None = None,
    split: str = "test",
    out: Path | None = None,
) -> EvaluationResult:
    if split not in (*SPLITS, "all"):
        raise InputError("E530", f"--split must be one of {', '.join(SPLITS)}, all; got {split!r}.", field="split")
    loaded = artifacts.load(artifacts.resolve(settings.models_dir, model, version))
    task = str(loaded.meta.get("task") or "classify")
    if task != "classify":  # the task's module scores its own kind of prediction
        import importlib

        from nlpipe.train import TASK_MODULES

        module = importlib.import_module(TASK_MODULES[task])
        out_dir = out or loaded.path / "evaluations" / f"{dataset}-{split}"
        return module.evaluate_task(store, settings, loaded, dataset, split=split, out_dir=out_dir)
    with store.session() as s:
        data = load_dataset(s, dataset)
    part = data if split == "all" else data.subset(split)
    if not len(part):
        raise InputError("E531", f"Dataset {dataset!r} has no labeled documents in the {split!r} split.", field="split")
    out_dir = out or loaded.path / "evaluations" / f"{dataset}-{split}"
    metrics, report, skipped = score_split(
        loaded.model,
        list(loaded.meta["labels"]),
        part,
        multi_label=bool(loaded.meta.get("multi_label")),
        thresholds=np.asarray(loaded.meta["thresholds"]) if loaded.meta.get("thresholds") else None,
        train_labels=data.subset(["train", "validation"]).labels or None,
        out_dir=out_dir,
        title=f"{loaded.name} {loaded.version}: evaluation on {dataset} ({split})",
        meta={"model": loaded.name, "version": loaded.version, "dataset": dataset, "split": split},
    )
    return EvaluationResult(metrics=metrics, report=report, model=loaded.name, version=loaded.version, skipped=skipped)


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
    (their count is returned). Used by training (on the in-memory model) and by ``nlpipe evaluate``."""
    from nlpipe.evaluate.metrics import classification_metrics
    from nlpipe.evaluate.report import write_report

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
