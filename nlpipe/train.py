"""Dataset -> checks -> fitted model -> evaluation on the test split -> saved version.

Training sees only the train split (and the validation split, used for model search when present); the test
split is used for the evaluation stored with the model and never for fitting or choosing a candidate.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import re
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from nlpipe import artifacts
from nlpipe.config import Settings
from nlpipe.errors import InputError, TrainingError
from nlpipe.store.datasets import LabeledData, get_dataset, load_dataset
from nlpipe.store.db import Store
from nlpipe.store.schema import ModelRecord
from nlpipe.store.stream import count_documents, iter_split

# Every task but classify lives in its own module, which provides ``train_task(store, settings, dataset, name,
# *, time_budget, seed, progress, **options) -> TrainResult`` (and ``evaluate_task`` for nlpipe.evaluate.run).
TASK_MODULES: dict[str, str] = {
    "classify": "nlpipe.tasks.classify.model",
    "sentiment": "nlpipe.tasks.sentiment.predictor",
    "entities": "nlpipe.tasks.entities.task",
    "layout": "nlpipe.tasks.layout.task",
}
TASKS = tuple(TASK_MODULES)
MIN_EXAMPLES = 10
STREAM_ABOVE = 200_000  # documents in a dataset above which classify training reads the train split in batches
MAX_IMBALANCE = 100.0
HEADLINE = ("accuracy", "macro_f1", "micro_f1", "weighted_f1", "log_loss")

Progress = Callable[[str, int, int], None]


@dataclass
class Check:
    level: str  # "error" | "warning"
    code: str
    message: str


@dataclass
class TrainResult:
    name: str
    version: str
    path: Path
    metrics: dict[str, Any] | None
    checks: list[Check] = field(default_factory=list)
    search: list[dict[str, Any]] = field(default_factory=list)
    best: str | None = None
    seconds: float = 0.0


def _normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text.strip().lower())


def data_checks(train: LabeledData, test: LabeledData, *, multi_label: bool) -> list[Check]:
    """What is wrong with the data before training: errors stop training, warnings are reported."""
    checks: list[Check] = []
    if len(train) == 0:
        return [Check("error", "E310", "The train split has no labeled documents; import labeled data first.")]
    counts = Counter(lab for labs in train.labels for lab in labs)
    if len(counts) < 2:
        checks.append(
            Check(
                "error",
                "E311",
                f"Training needs at least 2 labels; the train split has {len(counts)} ({', '.join(counts) or 'none'}).",
            )
        )
        return checks
    if not multi_label:
        multi = sum(1 for labs in train.labels if len(labs) > 1)
        if multi:
            checks.append(
                Check(
                    "error", "E312", f"{multi} training documents have more than one label; train with --multi-label."
                )
            )
    few = sorted((n, lab) for lab, n in counts.items() if n < MIN_EXAMPLES)
    if few:
        listed = ", ".join(f"{lab!r} ({n})" for n, lab in few[:10])
        checks.append(
            Check(
                "warning",
                "W301",
                f"{len(few)} labels have fewer than {MIN_EXAMPLES} training "
                f"examples: {listed}{' ...' if len(few) > 10 else ''}. Their "
                "scores will be unreliable; label more examples.",
            )
        )
    largest, smallest = max(counts.values()), min(counts.values())
    if largest / smallest > MAX_IMBALANCE:
        big = max(counts, key=lambda k: counts[k])
        small = min(counts, key=lambda k: counts[k])
        checks.append(
            Check(
                "warning",
                "W302",
                f"Classes are imbalanced {largest / smallest:.0f}:1 ({big!r} "
                f"{largest} vs {small!r} {smallest}); class weights are "
                "applied, but consider labeling more of the small classes.",
            )
        )
    seen = {_normalise(t) for t in train.texts}  # empty for streamed training: checked while reading
    dup = sum(1 for t in test.texts if _normalise(t) in seen)
    if dup:
        checks.append(Check("warning", "W303", duplicates_message(dup)))
    unseen = sorted({lab for labs in test.labels for lab in labs} - set(counts))
    if unseen:
        checks.append(
            Check(
                "warning",
                "W304",
                f"Labels in the test split but not in train are ignored in evaluation: {', '.join(unseen[:10])}.",
            )
        )
    return checks


def duplicates_message(dup: int) -> str:
    return f"{dup} test documents repeat a training text (ignoring case and spacing); test scores will be optimistic."


def _concat(parts: Iterable[LabeledData]) -> LabeledData:
    out = LabeledData([], [], [], [], [])
    for p in parts:
        out.doc_ids += p.doc_ids
        out.texts += p.texts
        out.labels += p.labels
        out.splits += p.splits
        out.external_ids += p.external_ids
    return out


def _tracked(
    parts: Iterable[LabeledData], seen: set[bytes], rows: list[tuple[str, list[str], str]]
) -> Iterator[tuple[list[str], list[list[str]]]]:
    """(texts, labels) batches for :meth:`TextClassifier.fit_stream`, noting on the way what the checks and the
    fingerprint need: each text's normalised SHA-1 (duplicates in test) and its SHA-256 row."""
    for p in parts:
        for t, labs in zip(p.texts, p.labels, strict=True):
            seen.add(hashlib.sha1(_normalise(t).encode()).digest())
            rows.append((hashlib.sha256(t.encode()).hexdigest(), labs, "train"))
        yield p.texts, p.labels


def fingerprint(data: LabeledData) -> str:
    """SHA-256 over the documents' (text hash, labels, split), in sorted order: the same data, the same value."""
    return fingerprint_rows(
        (hashlib.sha256(t.encode()).hexdigest(), labs, sp)
        for t, labs, sp in zip(data.texts, data.labels, data.splits, strict=True)
    )


def fingerprint_rows(rows: Iterable[tuple[str, list[str], str]]) -> str:
    """:func:`fingerprint` from (text SHA-256, labels, split) rows, for data read a batch at a time."""
    h = hashlib.sha256()
    for row in sorted(rows):
        h.update(json.dumps(list(row)).encode())
    return h.hexdigest()


def train(
    store: Store,
    settings: Settings,
    dataset: str,
    name: str,
    *,
    task: str = "classify",
    multi_label: bool | None = None,
    time_budget: float | None = None,
    seed: int | None = None,
    progress: Progress | None = None,
    **options: Any,
) -> TrainResult:
    """Train ``name`` on ``dataset`` and save it as a new version (see module docstring).

    ``options`` are the task's own (``scale`` for sentiment, ``base`` for entities, ...); classification
    takes none beyond ``multi_label``.
    """
    from nlpipe.evaluate.run import score_split
    from nlpipe.tasks.classify.model import TextClassifier

    begun = time.perf_counter()
    if task not in TASKS:
        raise InputError("E313", f"Unknown task {task!r}; choose one of: {', '.join(TASKS)}.", field="task")
    artifacts.check_model_name(name)
    if time_budget is not None and time_budget <= 0:
        raise InputError(
            "E314", f"--time-budget must be a positive number of seconds, got {time_budget}.", field="time_budget"
        )
    if task != "classify":
        module = importlib.import_module(TASK_MODULES[task])
        if multi_label is not None:
            options["multi_label"] = multi_label
        return module.train_task(
            store, settings, dataset, name, time_budget=time_budget, seed=seed, progress=progress, **options
        )
    unknown = sorted(k for k, v in options.items() if v is not None)
    if unknown:
        raise InputError("E315", f"Option {unknown[0]!r} does not apply to task 'classify'.", field=unknown[0])
    seed = settings.seed if seed is None else seed
    budget = settings.time_budget if time_budget is None else time_budget
    with store.session() as s:
        dataset_id = get_dataset(s, dataset).id
        streamed = count_documents(s, dataset) > STREAM_ABOVE
        if streamed:  # every split but train in memory; train is read a batch at a time while fitting
            valid_part, test_part = (_concat(iter_split(s, dataset, sp)) for sp in ("validation", "test"))
            train_part = _concat(iter_split(s, dataset, "train", with_texts=False))
            data = None
        else:
            data = load_dataset(s, dataset)
            train_part, valid_part, test_part = (data.subset(sp) for sp in ("train", "validation", "test"))
    if multi_label is None:
        multi_label = any(len(labs) > 1 for part in (train_part, valid_part, test_part) for labs in part.labels)
    checks = data_checks(train_part, test_part, multi_label=multi_label)
    errors = [c for c in checks if c.level == "error"]
    if errors:
        raise TrainingError(
            errors[0].code, f"Cannot train on {dataset!r}: {errors[0].message}", checks=[c.__dict__ for c in checks]
        )

    started = time.perf_counter()
    # The budget is the whole training: what loading and checking the data took is spent already.
    fit_budget = max(budget - (started - begun), 0.1 * budget)
    clf = TextClassifier(multi_label=multi_label, time_budget=fit_budget, seed=seed)
    validation = (valid_part.texts, valid_part.labels) if len(valid_part) else None
    if data is None:
        seen: set[bytes] = set()
        rows: list[tuple[str, list[str], str]] = []
        with store.session() as s:
            batches = _tracked(iter_split(s, dataset, "train"), seen, rows)
            clf.fit_stream(batches, validation=validation, progress=progress, total=len(train_part))
        dup = sum(1 for t in test_part.texts if hashlib.sha1(_normalise(t).encode()).digest() in seen)
        if dup:
            checks.append(Check("warning", "W303", duplicates_message(dup)))
        rows += [(hashlib.sha256(t.encode()).hexdigest(), labs, "validation")
                 for t, labs in zip(valid_part.texts, valid_part.labels, strict=True)]  # fmt: skip
        data_fingerprint = fingerprint_rows(rows)
        del rows, seen
    else:
        clf.fit(train_part.texts, train_part.labels, validation=validation, progress=progress)
        data_fingerprint = fingerprint(data.subset(["train", "validation"]))
    seconds = time.perf_counter() - started

    metrics = None
    with tempfile.TemporaryDirectory() as tmp:
        report_dir = Path(tmp) / "report"
        if len(test_part):
            if progress:
                progress("evaluate", 0, 1)
            metrics, _, _ = score_split(
                clf,
                clf.labels_,
                test_part,
                multi_label=multi_label,
                thresholds=clf.thresholds_,
                train_labels=train_part.labels,
                out_dir=report_dir,
                title=f"{name}: evaluation on {dataset} (test split)",
                meta={"model": name, "dataset": dataset, "split": "test"},
            )
            if progress:
                progress("evaluate", 1, 1)
        meta = {
            "task": task,
            "format": "nlpipe.classify.v1",
            "labels": list(clf.labels_),
            "multi_label": multi_label,
            "thresholds": [float(t) for t in clf.thresholds_],
            "metrics": {k: metrics[k] for k in HEADLINE if metrics and k in metrics} or None,
            "baseline": (metrics or {}).get("baseline"),
            "training": training_meta(
                dataset,
                data_fingerprint,
                seed=seed,
                time_budget=budget,
                seconds=seconds,
                n_train=len(train_part),
                n_validation=len(valid_part),
                n_test=len(test_part),
                search=clf.search_,
                best=clf.best_,
                strategy=clf.strategy_,
                streamed=data is None,
                checks=[c.__dict__ for c in checks],
            ),
        }
        path = save_version(store, settings, name, clf, meta, report_dir=report_dir, dataset_id=dataset_id)
    version = path.name
    return TrainResult(
        name=name,
        version=version,
        path=path,
        metrics=metrics,
        checks=checks,
        search=clf.search_,
        best=clf.best_,
        seconds=seconds,
    )


def training_meta(
    dataset: str,
    data: LabeledData | str,
    *,
    seed: int | None,
    time_budget: float | None,
    seconds: float,
    **fields: Any,
) -> dict[str, Any]:
    """The ``training`` block of every task's meta.json: the dataset and the fingerprint of its train and
    validation documents (``data``, or the fingerprint itself), seed, budget and time, plus the task's own
    ``fields`` (counts, search, checks...)."""
    return {
        "dataset": dataset,
        "fingerprint": data if isinstance(data, str) else fingerprint(data.subset(["train", "validation"])),
        "seed": seed,
        "time_budget": time_budget,
        "seconds": round(seconds, 3),
        **fields,
    }


def save_version(
    store: Store,
    settings: Settings,
    name: str,
    model: Any,
    meta: dict[str, Any],
    *,
    report_dir: Path | None,
    dataset_id: int | None,
) -> Path:
    """Every task's last step: save ``model`` as a new version of ``name`` and record it in the store."""
    path = artifacts.save(settings.models_dir, name, model, meta, report_dir=report_dir)
    register_model(store, name=name, version=path.name, task=meta["task"], dataset_id=dataset_id, path=path,
                   metrics=meta["metrics"])  # fmt: skip
    return path


def register_model(
    store: Store, *, name: str, version: str, task: str, dataset_id: int | None, path: Path, metrics: Any
) -> None:
    """Record a saved model version in the store's ``models`` table (what `nlpipe models list` reads)."""
    with store.session() as s:
        s.execute(
            insert(ModelRecord).values(
                name=name, version=version, task=task, dataset_id=dataset_id, path=str(path.resolve()), metrics=metrics
            )
        )
