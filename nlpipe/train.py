"""Dataset -> checks -> fitted model -> evaluation on the test split -> saved version: one loop for every task.

Training sees only the train split (and the validation split, used for model search when present); the test
split is used for the evaluation stored with the model and never for fitting or choosing a candidate. What
differs between tasks (options, data, checks, fitting, scoring, meta.json fields) is the task's
(:class:`nlpipe.tasks.base.Task`, found in :mod:`nlpipe.tasks.registry`).
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from nlpipe import artifacts
from nlpipe.config import Settings
from nlpipe.errors import ConflictError, InputError, NlpipeError, TrainingError
from nlpipe.store.datasets import get_dataset
from nlpipe.store.db import Store
from nlpipe.store.schema import ModelRecord
from nlpipe.tasks import registry
from nlpipe.tasks.base import Check, Progress, Task, TrainContext, TrainingData

__all__ = ["train", "TrainResult", "Check", "Progress", "save_version", "register_model", "reconcile_models"]


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
    """Train ``name`` on ``dataset`` with ``task`` and save it as a new version (see module docstring).

    ``options`` are the task's own (``scale`` for sentiment, ``base`` for entities, ...); ``multi_label`` is one
    of them for the tasks that take it.
    """
    begun = time.perf_counter()
    the_task = registry.get(task)
    if the_task is None:
        raise InputError("E313", f"Unknown task {task!r}; choose one of: {', '.join(registry.names())}.",
                         field="task")  # fmt: skip
    artifacts.check_model_name(name)
    if time_budget is not None and time_budget <= 0:
        raise InputError(
            "E314", f"--time-budget must be a positive number of seconds, got {time_budget}.", field="time_budget"
        )
    if multi_label is not None:
        options["multi_label"] = multi_label
    checked = the_task.check_options(options)
    budget = settings.time_budget if time_budget is None else time_budget
    ctx = TrainContext(store=store, dataset=dataset, name=name, seed=settings.seed if seed is None else seed,
                       time_budget=budget, fit_budget=budget, requested_budget=time_budget, progress=progress,
                       options=checked)  # fmt: skip
    with store.session() as s:
        dataset_id = get_dataset(s, dataset).id
    data = the_task.read_training_data(ctx)
    checks = the_task.check_data(data, ctx)
    errors = [c for c in checks if c.level == "error"]
    if errors:
        raise TrainingError(errors[0].code, f"Cannot train on {dataset!r}: {errors[0].message}"
                            f"{the_task.error_hint(errors[0])}", checks=[c.__dict__ for c in checks])  # fmt: skip

    started = time.perf_counter()
    # The budget is the whole training: what loading and checking the data took is spent already.
    ctx.fit_budget = max(budget - (started - begun), 0.1 * budget)
    model = the_task.fit(data, ctx, checks)
    seconds = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as tmp:
        report_dir = Path(tmp) / "report"
        meta, metrics = _meta_and_metrics(the_task, model, data, ctx, report_dir, checks, seconds)
        path = save_version(store, settings, name, model, meta, report_dir=report_dir, dataset_id=dataset_id)
    search, best = the_task.search_record(model)
    return TrainResult(name=name, version=path.name, path=path, metrics=metrics, checks=checks, search=search,
                       best=best, seconds=seconds)  # fmt: skip


def _meta_and_metrics(
    task: Task, model: Any, data: TrainingData, ctx: TrainContext, report_dir: Path, checks: list[Check], seconds: float
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """meta.json of a fitted model, with its scores on the test split (report written to ``report_dir``)."""
    model_meta = task.model_meta(model, data, ctx)
    metrics = None
    if data.has_test:
        if ctx.progress:
            ctx.progress("evaluate", 0, 1)
        metrics, _, _ = task.score(
            model,
            model_meta,
            data.test,
            data.reference,
            out_dir=report_dir,
            title=f"{ctx.name}: evaluation on {ctx.dataset} (test split)",
            report_meta={"model": ctx.name, "dataset": ctx.dataset, "split": "test"},
        )
        if ctx.progress:
            ctx.progress("evaluate", 1, 1)
    training = {
        "dataset": ctx.dataset,
        "fingerprint": data.fingerprint,
        "seed": ctx.seed,
        "time_budget": ctx.time_budget if task.records_resolved_budget else ctx.requested_budget,
        "seconds": round(seconds, 3),
        **task.training_fields(model, data, ctx, checks),
    }
    meta = {"task": task.name, "format": task.format, **model_meta, **task.headline(metrics), "training": training}
    return meta, metrics


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
    """Every task's last step: save ``model`` as a new version of ``name`` and record it in the store.

    The folder is the truth (see :mod:`nlpipe.artifacts`): the version number is above every version on disk and
    every one the table still names (a row whose folder was deleted), and the row is written after the folder."""
    with store.session() as s:
        taken = list(s.scalars(select(ModelRecord.version).where(ModelRecord.name == name)))
    path = artifacts.save(settings.models_dir, name, model, meta, report_dir=report_dir, taken=taken)
    register_model(store, name=name, version=path.name, task=meta["task"], dataset_id=dataset_id, path=path,
                   metrics=meta["metrics"])  # fmt: skip
    return path


def register_model(
    store: Store, *, name: str, version: str, task: str, dataset_id: int | None, path: Path, metrics: Any
) -> None:
    """Record a saved model version in the store's ``models`` table, replacing a row of the same name and version
    (one left by a folder that was deleted, or written by :func:`reconcile_models` meanwhile)."""
    values = {"task": task, "dataset_id": dataset_id, "path": str(path.resolve()), "metrics": metrics}
    where = (ModelRecord.name == name) & (ModelRecord.version == version)
    for _ in range(2):
        try:
            with store.session() as s:
                if s.execute(update(ModelRecord).where(where).values(**values)).rowcount == 0:  # type: ignore[attr-defined]
                    s.execute(insert(ModelRecord).values(name=name, version=version, **values))
            return
        except IntegrityError:  # another process inserted the row between the update and the insert: update it
            continue
    raise ConflictError("E461", f"Model {name!r} {version}: its row in the models table could not be written.")


def _row_from_folder(store: Store, path: Path) -> dict[str, Any]:
    """What the models table holds for a version folder, from its meta.json (E405 when it cannot be read)."""
    meta = artifacts.read_meta(path)
    training: dict[str, Any] = meta["training"] if isinstance(meta.get("training"), dict) else {}
    dataset_id = None
    if isinstance(training.get("dataset"), str):
        with store.session() as s:
            try:
                dataset_id = get_dataset(s, training["dataset"]).id
            except NlpipeError:  # the dataset was deleted since: the row keeps no link
                dataset_id = None
    metrics = meta.get("metrics")
    return {"task": str(meta.get("task") or "unknown")[:30], "dataset_id": dataset_id, "path": path,
            "metrics": metrics if isinstance(metrics, dict) else None}  # fmt: skip


def reconcile_models(
    store: Store, settings: Settings, *, fix: bool = False, prune: bool | None = None
) -> list[dict[str, Any]]:
    """Compare the models folder (the truth) with the store's ``models`` table and return the differences,
    ``{code, name, version, path, message, fixed}``: E456 a version folder with no row (a train killed after its
    folder was renamed into place), E457 a row whose folder is gone, E458 an unfinished ``.tmp-*`` folder older
    than ``NLPIPE_STALE_TEMP_MINUTES``. With ``fix``, rows are added for folders and stale temporary folders no
    process is writing are removed; with ``prune`` (default: ``fix``) rows without a folder are deleted. The server
    fixes at start-up but does not prune (a models folder that is not mounted must not empty the table)."""
    prune = fix if prune is None else prune
    models_dir = settings.models_dir
    older_than = settings.stale_temp_minutes * 60
    found: list[dict[str, Any]] = []
    with store.session() as s:
        rows = {(r.name, r.version): r.path for r in s.execute(select(ModelRecord.name, ModelRecord.version,
                                                                      ModelRecord.path))}  # fmt: skip
    on_disk = {
        (p.name, v): p / v
        for p in (sorted(models_dir.iterdir()) if models_dir.is_dir() else [])
        if p.is_dir() and artifacts.NAME_RE.fullmatch(p.name)
        for v in artifacts.versions(models_dir, p.name)
    }
    for (name, version), path in sorted(on_disk.items()):
        if (name, version) in rows:
            continue
        problem: dict[str, Any] = {"code": "E456", "name": name, "version": version, "path": str(path), "fixed": False,
                   "message": f"{path} is not in the models table."}  # fmt: skip
        if fix:
            try:
                register_model(store, name=name, version=version, **_row_from_folder(store, path))
                problem["fixed"] = True
            except NlpipeError as exc:
                problem["message"] += f" It cannot be added: [{exc.code}] {exc.message}"
        found.append(problem)
    for (name, version), path_text in sorted(rows.items()):
        if (name, version) in on_disk:
            continue
        problem = {"code": "E457", "name": name, "version": version, "path": path_text, "fixed": prune,
                   "message": f"The models table names {name} {version}, whose folder is gone."}  # fmt: skip
        if prune:
            with store.session() as s:
                s.execute(delete(ModelRecord).where((ModelRecord.name == name) & (ModelRecord.version == version)))
        found.append(problem)
    stale = artifacts.stale_temp(models_dir, older_than) if models_dir.is_dir() else []
    removed = set(artifacts.sweep_temp(models_dir, older_than)) if fix else set()
    for path in stale:
        found.append({"code": "E458", "name": path.parent.name, "version": None, "path": str(path),
                      "fixed": path in removed, "message": f"{path} is an unfinished save or promote."})  # fmt: skip
    return found
