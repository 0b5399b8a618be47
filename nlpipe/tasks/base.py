"""The task contract: everything train, evaluate, predict and artifacts need from a task, and nothing else.

A task (classify, sentiment, entities, layout, ...) is an object of a :class:`Task` subclass registered in
:mod:`nlpipe.tasks.registry`. The pipeline drives it the same way for every task:

- ``nlpipe train``  (:func:`nlpipe.train.train`): :meth:`Task.check_options` -> :meth:`Task.read_training_data`
  -> :meth:`Task.check_data` -> :meth:`Task.fit` (timed) -> :meth:`Task.model_meta` -> :meth:`Task.score` on the
  test split -> :meth:`Task.training_fields` -> saved with :meth:`Task.save_artifact` (or as a skops file of
  :attr:`Task.trusted_types`).
- ``nlpipe evaluate`` (:func:`nlpipe.evaluate.evaluate_model`): :meth:`Task.read_split` -> :meth:`Task.score`.
- ``nlpipe predict`` (:func:`nlpipe.predict.predictor_for`): :attr:`Task.predictor` of the loaded model.
- loading (:func:`nlpipe.artifacts.load`): the task of the saved ``format``; :meth:`Task.load_artifact`, or the
  skops file with :attr:`Task.trusted_types` (:attr:`Task.renamed_types` lets files saved before a class moved
  module still load).

This module sits below train, evaluate, predict and artifacts: a task imports it, the store and the evaluation
metrics, never those four (so no import cycle runs through the registry).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from nlpipe.errors import InputError
from nlpipe.store.db import Store
from nlpipe.types import Document, Prediction

#: ``progress(stage, done, total)``: what training reports while it runs (the CLI draws a bar per stage).
Progress = Callable[[str, int, int], None]


@dataclass
class Check:
    """A finding about the training data: ``error`` stops training, ``warning`` is reported and saved."""

    level: str  # "error" | "warning"
    code: str
    message: str


@dataclass
class LoadedModel:
    """A saved model read back: its folder, its meta.json and the model object."""

    path: Path
    meta: dict[str, Any]
    model: Any

    @property
    def name(self) -> str:
        return str(self.meta["name"])

    @property
    def version(self) -> str:
        return str(self.meta["version"])


@dataclass
class TrainContext:
    """What one training run knows besides the data: set by :func:`nlpipe.train.train` for the task's methods."""

    store: Store
    dataset: str
    name: str
    seed: int
    #: The whole budget in seconds (the request, else the setting) and what is left of it when fitting starts.
    time_budget: float
    fit_budget: float
    #: The budget as requested (None: the task's default), for tasks that record the request.
    requested_budget: float | None
    progress: Progress | None
    #: The task's options as :meth:`Task.check_options` returned them.
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class TrainingData:
    """A task's training data, read once: ``train`` and ``validation`` to fit on, ``test`` to score on, and
    ``reference`` (what the score compares with, e.g. the labels seen in training for the baseline).

    The parts are the task's own kind (:class:`~nlpipe.store.datasets.LabeledData`, documents with spans, ...).
    ``fingerprint`` identifies the train and validation documents (:func:`nlpipe.tasks.data.fingerprint`); a task
    that reads its data while fitting sets it then. ``extra``: whatever else the task keeps between its steps.
    """

    train: Any
    validation: Any
    test: Any
    reference: Any
    has_test: bool
    fingerprint: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def check_texts(texts: Sequence[object]) -> None:
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise InputError("E413", f"Text {i} is {type(t).__name__}, not a string.", field=f"texts[{i}]")


def reject_unknown_options(
    options: Mapping[str, Any], allowed: Sequence[str], *, task: str, code: str, listing: str
) -> None:
    """Refuse the first (alphabetically) set option the task does not take: ``Option 'x' does not apply to task
    't'`` + ``listing`` (e.g. ``.`` or `` (its options: a, b).``)."""
    unknown = sorted(k for k, v in options.items() if v is not None and k not in allowed)
    if unknown:
        raise InputError(code, f"Option {unknown[0]!r} does not apply to task {task!r}{listing}", field=unknown[0])


class BasePredictor:
    """What every task's predictor shares: the loaded model, its name and version, option checks, describe().

    Subclasses set ``task`` and ``options`` (the keyword options their ``predict`` takes) and implement
    ``predict``. Thread-safe for concurrent ``predict`` calls as long as the model's state is read-only.
    """

    task = "classify"
    options: tuple[str, ...] = ()

    def __init__(self, loaded: LoadedModel) -> None:
        self.loaded = loaded
        self.meta = loaded.meta
        self.model = loaded.model
        self.labels: list[str] = list(self.meta.get("labels") or [])

    @property
    def name(self) -> str:
        return self.loaded.name

    @property
    def version(self) -> str:
        return self.loaded.version

    def check_options(self, options: dict[str, Any]) -> dict[str, Any]:
        """Drop unset options (None / False); refuse set ones this task does not take (E415)."""
        given = {k: v for k, v in options.items() if v is not None and v is not False}
        for key in given:
            if key not in self.options:
                takes = ", ".join(self.options) or "none"
                raise InputError(
                    "E415",
                    f"Model {self.name!r} is a {self.task} model; option {key!r} does not apply to it "
                    f"(its options: {takes}).",
                    field=key,
                )
        return given

    def predict(self, texts: Sequence[str], *args: Any, **options: Any) -> list[Prediction]:
        """Predictions for ``texts``. Each task's predictor takes its own keyword options (``threshold``,
        ``sentences``, ...); ``*args: Any, **options: Any`` leaves their signatures to the subclasses."""
        raise NotImplementedError

    def predict_documents(self, docs: Sequence[Document], **options: Any) -> list[Prediction]:
        """Predictions for read documents (``predict --file``, ``:predictFile``). Tasks that use the pages and
        word boxes (entities give each span its page and box) override it; the rest predict on the text."""
        return self.predict([d.text for d in docs], **options)

    def describe(self) -> dict[str, Any]:
        meta = self.meta
        return {
            "name": meta["name"],
            "version": meta["version"],
            "task": meta.get("task"),
            "labels": self.labels,
            "multi_label": bool(meta.get("multi_label", False)),
            "metrics": meta.get("metrics"),
            "created_at": meta.get("created_at"),
        }


class Task(ABC):
    """One task: its names, options, data, fitting, scoring, predictor and saved format (see module docstring)."""

    #: The task's name (``nlpipe train --task NAME``, ``task`` in meta.json).
    name: ClassVar[str]
    #: The saved format new models get (``format`` in meta.json); ``formats`` every one this task can load.
    format: ClassVar[str]
    formats: ClassVar[tuple[str, ...]] = ()
    #: The training options the task takes, beyond ``multi_label`` where it applies.
    options: ClassVar[tuple[str, ...]] = ()
    #: Whether meta.json records the budget as resolved (request, else the setting) or as requested.
    records_resolved_budget: ClassVar[bool] = True
    #: Types a skops ``model.skops`` may hold; None when the task writes and reads its own files
    #: (:meth:`save_artifact`, :meth:`load_artifact`, which must never unpickle).
    trusted_types: ClassVar[Sequence[str] | None] = None
    #: Old dotted class names (module moved) -> today's, so files saved before the move still load.
    renamed_types: ClassVar[Mapping[str, str]] = {}
    #: The predictor class of a loaded model.
    predictor: ClassVar[type[BasePredictor]]

    def all_formats(self) -> tuple[str, ...]:
        return self.formats or (self.format,)

    @abstractmethod
    def check_options(self, options: dict[str, Any]) -> dict[str, Any]:
        """Refuse options the task does not take or values out of range (before any data is read); return the
        options to train with (defaults filled in, files read)."""

    @abstractmethod
    def read_training_data(self, ctx: TrainContext) -> TrainingData:
        """The dataset's training data from the store (may raise when there is nothing to train on)."""

    @abstractmethod
    def check_data(self, data: TrainingData, ctx: TrainContext) -> list[Check]:
        """What is wrong with the data; an ``error`` check stops training (:meth:`error_hint` is added)."""

    def error_hint(self, check: Check) -> str:
        return ""

    @abstractmethod
    def fit(self, data: TrainingData, ctx: TrainContext, checks: list[Check]) -> Any:
        """The fitted model (reporting to ``ctx.progress``; may add warnings found while reading to ``checks``)."""

    @abstractmethod
    def model_meta(self, model: Any, data: TrainingData, ctx: TrainContext) -> dict[str, Any]:
        """meta.json's task fields (``labels``, ``multi_label``, ...) of a fitted model; :meth:`score` reads them."""

    @abstractmethod
    def headline(self, metrics: dict[str, Any] | None) -> dict[str, Any]:
        """meta.json's ``metrics`` and ``baseline`` from the test split's metrics (None: no test split)."""

    @abstractmethod
    def training_fields(self, model: Any, data: TrainingData, ctx: TrainContext, checks: list[Check]) -> dict:
        """The task's own fields of meta.json's ``training`` block (counts, search, checks, ...)."""

    def search_record(self, model: Any) -> tuple[list[dict[str, Any]], str | None]:
        """The model search's candidates and the one chosen, for tasks that search (shown by ``nlpipe train``)."""
        return [], None

    @abstractmethod
    def read_split(self, store: Store, dataset: str, split: str) -> tuple[Any, Any]:
        """(part, reference) to score a saved model on ``split`` (``all``: every split) of ``dataset``."""

    @abstractmethod
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
        """(metrics, report path, documents left out) of ``model`` (with its meta.json ``meta``) on ``part``; the
        report sections are written to ``out_dir``."""

    def save_artifact(self, model: Any, folder: Path) -> None:
        raise NotImplementedError(f"task {self.name!r} saves a skops file of its trusted types")

    def load_artifact(self, folder: Path, meta: dict[str, Any]) -> Any:
        raise NotImplementedError(f"task {self.name!r} loads a skops file of its trusted types")
