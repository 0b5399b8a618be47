"""Evaluate a saved model on a split of a dataset and write metrics.json + report.html: one path for every task.

The task of the model's meta.json (:mod:`nlpipe.tasks.registry`) reads the split and scores the model on it, as
training scored it on the test split.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nlpipe import artifacts
from nlpipe.config import Settings
from nlpipe.errors import InputError
from nlpipe.store.db import Store
from nlpipe.tasks import registry
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
    loaded = artifacts.load(artifacts.resolve(settings.models_dir, model, version), max_bytes=settings.max_model_bytes)
    task = registry.for_model(loaded.meta, loaded.path)
    part, reference = task.read_split(store, dataset, split)
    metrics, report, skipped = task.score(
        loaded.model,
        loaded.meta,
        part,
        reference,
        out_dir=out or loaded.path / "evaluations" / f"{dataset}-{split}",
        title=f"{loaded.name} {loaded.version}: evaluation on {dataset} ({split})",
        report_meta={"model": loaded.name, "version": loaded.version, "dataset": dataset, "split": split},
    )
    return EvaluationResult(metrics=metrics, report=report, model=loaded.name, version=loaded.version, skipped=skipped)
