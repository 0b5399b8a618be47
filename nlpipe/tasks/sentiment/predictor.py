"""The sentiment task: dataset -> :class:`~nlpipe.tasks.sentiment.model.SentimentModel` -> saved version, its
evaluation, and the predictors of trained models and of the VADER lexicon (no training data needed).

This module is the task's glue, so it sits with ``nlpipe.predict`` in the import layers (tests/test_layers.py): it
reads the store, saves artifacts and subclasses :class:`nlpipe.predict.BasePredictor`. The model
(:mod:`nlpipe.tasks.sentiment.model`), the lexicon (:mod:`nlpipe.tasks.sentiment.lexicon`) and the sentence splitter
(:mod:`nlpipe.tasks.sentiment.sentences`) know nothing of the store or the disk.

Every prediction's ``sentiment`` has one shape (README "Sentiment"):

``kind``
    ``categorical`` (trained on labels), ``scale`` (trained on scores 0..N) or ``lexicon`` (VADER).
``label``
    The predicted label; on a scale, the score as a string ("0".."N").
``score``
    On a scale the predicted score (an integer 0..N); for categorical labels that name a polarity (negative,
    neutral, positive; neg, neu, pos) the expected polarity in [-1, 1] (P(positive) - P(negative)); for the
    lexicon VADER's compound score in [-1, 1]. Left out for other label sets.
``confidence``
    The probability of ``label`` (lexicon: how far the compound score is into the label's range).
``magnitude``
    0..1, how opinionated the text is regardless of direction: the share of its words that carry sentiment
    according to the VADER lexicon, weighted by their strength (VADER's neg + pos). Mixed texts score high.
``scale``
    Scale models only: N.
``aggregated``
    True when the document's sentiment is the length-weighted mean over its sentences (texts over
    :data:`LONG_DOCUMENT_CHARS` characters, which are read a chunk of sentences at a time).
``sentences``
    With ``sentences=True``: ``[{"start", "end", "label", "score"?, "confidence", "magnitude"}]`` per sentence,
    offsets into the text (end exclusive).

Error codes: E350-E355 training options and data (E350 scale out of range, E351 a label not on the scale, E352 a
score of the scale missing from the train split, E354 multi-label, E355 unknown option), E356-E364 from the model;
E420/E423 ``nlpipe predict`` without MODEL or ``--lexicon`` / with both, E421 ``batch_size``, E422 a trained model
saved with another VADER version, E424 no VADER installed, E425 texts that are not strings; E543 nothing in the
split the model can score.
"""

from __future__ import annotations

import functools
import tempfile
import time
from collections.abc import Iterator, Sequence
from itertools import repeat
from pathlib import Path
from typing import Any

import numpy as np

from nlpipe import artifacts
from nlpipe.config import Settings
from nlpipe.errors import ArtifactError, InputError, TrainingError
from nlpipe.evaluate.run import EvaluationResult
from nlpipe.predict import BasePredictor, check_texts
from nlpipe.store.datasets import LabeledData, get_dataset, load_dataset
from nlpipe.store.db import Store
from nlpipe.tasks.sentiment.lexicon import LEXICON_LABELS, lexicon_decisions, lexicon_version, magnitude, vader_scores
from nlpipe.tasks.sentiment.model import MAX_SCALE, TRUSTED_TYPES, SentimentModel
from nlpipe.tasks.sentiment.sentences import iter_sentences
from nlpipe.tasks.sentiment.token_table import CollectorPaused, tokenize
from nlpipe.tasks.sentiment.vader import round_like_python
from nlpipe.train import HEADLINE, Progress, TrainResult, data_checks, save_version, training_meta
from nlpipe.types import LabelScore, Prediction

__all__ = ["TRUSTED_TYPES", "FORMAT", "Predictor", "LexiconPredictor", "lexicon_predictor", "train_task",
           "evaluate_task", "score_sentiment", "polarity_values"]  # fmt: skip

FORMAT = "nlpipe.sentiment.v1"
#: Texts longer than this get their document sentiment from their sentences, read a chunk at a time.
LONG_DOCUMENT_CHARS = 20_000
ORDINAL_HEADLINE = ("mae", "mse", "kappa_linear", "kappa_quadratic")
OPTIONS = ("scale",)
#: Label names with a direction on the polarity axis (compared lower-cased).
POLARITY = {"negative": -1.0, "neg": -1.0, "neutral": 0.0, "neu": 0.0, "positive": 1.0, "pos": 1.0}
_DIGITS = 6


def polarity_values(labels: Sequence[str]) -> np.ndarray | None:
    """Each label's place on the polarity axis (-1, 0, +1) when every label names one and both ends occur."""
    values = [POLARITY.get(str(lab).strip().lower()) for lab in labels]
    if any(v is None for v in values) or -1.0 not in values or 1.0 not in values:
        return None
    return np.array(values, dtype=np.float64)


# ------------------------------------------------------------------------------------------------- training


def _check_scale_data(data: LabeledData, train: LabeledData, scale: int, dataset: str) -> None:
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


def train_task(
    store: Store,
    settings: Settings,
    dataset: str,
    name: str,
    *,
    time_budget: float | None,
    seed: int | None,
    progress: Progress | None,
    scale: int | None = None,
    multi_label: bool | None = None,
    **options: Any,
) -> TrainResult:
    """Train a sentiment model on ``dataset``'s train split (categorical labels, or scores 0..``scale``), evaluate
    it on the test split and save it as a new version."""
    unknown = sorted(k for k, v in options.items() if v is not None)
    if unknown:
        raise InputError("E355", f"Option {unknown[0]!r} does not apply to task 'sentiment' (its options: "
                         f"{', '.join(OPTIONS)}).", field=unknown[0])  # fmt: skip
    if multi_label:
        raise InputError("E354", "Sentiment models take one label per document; train without --multi-label.",
                         field="multi_label")  # fmt: skip
    if scale is not None and (isinstance(scale, bool) or not isinstance(scale, int) or not 1 <= scale <= MAX_SCALE):
        raise InputError("E350", f"--scale must be an integer from 1 to {MAX_SCALE}, got {scale!r}.", field="scale")
    seed = settings.seed if seed is None else seed
    budget = settings.time_budget if time_budget is None else time_budget
    with store.session() as s:
        data = load_dataset(s, dataset)
        dataset_id = get_dataset(s, dataset).id
    train_part, valid_part, test_part = data.subset("train"), data.subset("validation"), data.subset("test")
    checks = data_checks(train_part, test_part, multi_label=False)
    errors = [c for c in checks if c.level == "error"]
    if errors:
        hint = (
            " Without labels, use the lexicon model, which needs no training: `nlpipe predict --lexicon TEXT`."
            if errors[0].code == "E310"
            else ""
        )
        raise TrainingError(errors[0].code, f"Cannot train on {dataset!r}: {errors[0].message}{hint}",
                            checks=[c.__dict__ for c in checks])  # fmt: skip
    if scale is not None:
        _check_scale_data(data, data.subset(["train", "validation"]), scale, dataset)

    started = time.perf_counter()
    model = SentimentModel(scale=scale, time_budget=budget, seed=seed)
    validation = (valid_part.texts, [labs[0] for labs in valid_part.labels]) if len(valid_part) else None
    model.fit(train_part.texts, [labs[0] for labs in train_part.labels], validation=validation, progress=progress)
    seconds = time.perf_counter() - started

    metrics = None
    with tempfile.TemporaryDirectory() as tmp:
        report_dir = Path(tmp) / "report"
        if len(test_part):
            if progress:
                progress("evaluate", 0, 1)
            metrics, _, _ = score_sentiment(
                model,
                test_part,
                scale=scale,
                train_labels=data.subset(["train", "validation"]).labels,
                out_dir=report_dir,
                title=f"{name}: evaluation on {dataset} (test split)",
                meta={"model": name, "dataset": dataset, "split": "test"},
            )
            if progress:
                progress("evaluate", 1, 1)
        meta = {
            "task": "sentiment",
            "format": FORMAT,
            "kind": "scale" if scale is not None else "categorical",
            "scale": scale,
            "labels": list(model.labels_),
            "multi_label": False,
            "lexicon": model.lexicon_,
            "metrics": _headline(metrics),
            "baseline": (metrics or {}).get("baseline"),
            "training": training_meta(
                dataset,
                data,
                seed=seed,
                time_budget=budget,
                seconds=seconds,
                n_train=len(train_part),
                n_validation=len(valid_part),
                n_test=len(test_part),
                search=model.search_,
                best=model.best_,
                checks=[c.__dict__ for c in checks],
            ),
        }
        path = save_version(store, settings, name, model, meta, report_dir=report_dir, dataset_id=dataset_id)
    return TrainResult(name=name, version=path.name, path=path, metrics=metrics, checks=checks,
                       search=model.search_, best=model.best_, seconds=seconds)  # fmt: skip


def _headline(metrics: dict[str, Any] | None) -> dict[str, Any] | None:
    if not metrics:
        return None
    out = {k: metrics[k] for k in HEADLINE if k in metrics}
    ordinal = metrics.get("ordinal") or {}
    out.update({k: ordinal[k] for k in ORDINAL_HEADLINE if k in ordinal})
    return out


# ----------------------------------------------------------------------------------------------- evaluation


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
    from nlpipe.evaluate.metrics import classification_metrics
    from nlpipe.evaluate.ordinal import ordinal_metrics
    from nlpipe.evaluate.report import write_report

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


def evaluate_task(
    store: Store, settings: Settings, loaded: artifacts.LoadedModel, dataset: str, *, split: str, out_dir: Path
) -> EvaluationResult:
    with store.session() as s:
        data = load_dataset(s, dataset)
    part = data if split == "all" else data.subset(split)
    if not len(part):
        raise InputError("E531", f"Dataset {dataset!r} has no labeled documents in the {split!r} split.", field="split")
    metrics, report, skipped = score_sentiment(
        loaded.model,
        part,
        scale=loaded.meta.get("scale"),
        train_labels=data.subset(["train", "validation"]).labels,
        out_dir=out_dir,
        title=f"{loaded.name} {loaded.version}: evaluation on {dataset} ({split})",
        meta={"model": loaded.name, "version": loaded.version, "dataset": dataset, "split": split},
    )
    return EvaluationResult(metrics=metrics, report=report, model=loaded.name, version=loaded.version, skipped=skipped)


# ----------------------------------------------------------------------------------------------- prediction


class _SentimentPredictor(BasePredictor):
    """Document and sentence sentiment, long documents a chunk of sentences at a time.

    Subclasses turn texts into rows of numbers whose length-weighted mean is the sentiment of the sentences
    together (:meth:`_rows`), and a batch of rows into the columns of the sentiment dicts (:meth:`_columns`) and
    the label scores (:meth:`_label_scores`). Predictions are built a batch at a time with as few intermediate
    Python objects as possible: with hundreds of thousands of them, the garbage collector's passes cost more than
    the scoring.
    """

    task = "sentiment"
    options = ("sentences", "batch_size")
    kind = ""

    def _rows(self, texts: list[str]) -> np.ndarray:
        raise NotImplementedError

    def _columns(self, rows: np.ndarray) -> tuple[list[str], list[str], list[list[Any]]]:
        """Each row's label, and the other keys of the sentiment dict after ``label`` with a column of values
        each."""
        raise NotImplementedError

    def _label_scores(self, rows: np.ndarray, labels: list[str]) -> list[list[LabelScore]]:
        """Each row's label scores, best first (``labels``: the rows' labels from :meth:`_columns`)."""
        raise NotImplementedError

    def predict(self, texts: Sequence[str], *, sentences: bool = False, batch_size: int = 4096) -> list[Prediction]:
        """One prediction per text, with ``sentiment`` in the module's shape; ``sentences`` adds each sentence's.

        Texts (and sentences) are scored ``batch_size`` at a time; a text over :data:`LONG_DOCUMENT_CHARS` is read
        a chunk of sentences at a time.
        """
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InputError("E421", f"batch_size must be a positive integer, got {batch_size!r}.", field="batch_size")
        if not set(map(type, texts)) <= {str}:  # check_texts's isinstance per text only when one may fail
            check_texts(texts)
        out: list[Prediction | None] = [None] * len(texts)
        lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
        short = np.flatnonzero(lengths <= LONG_DOCUMENT_CHARS).tolist()
        with CollectorPaused():
            for start in range(0, len(short), batch_size):
                idx = short[start : start + batch_size]
                batch = [texts[i] for i in idx]
                if sentences:
                    rows, per_text = self._with_sentences(batch, batch_size)
                else:
                    rows, per_text = self._scored(batch, batch_size), None
                for i, prediction in zip(idx, self._predictions(rows, False, per_text), strict=True):
                    out[i] = prediction
            for i, text in enumerate(texts):
                if out[i] is None:
                    row, sents = self._from_sentences(text, bool(sentences), batch_size)
                    [out[i]] = self._predictions(row[None, :], True, None if sents is None else [sents])
        return out  # type: ignore[return-value]

    def _predictions(self, rows: np.ndarray, aggregated: bool, sentences: list[list] | None) -> list[Prediction]:
        labels, keys, columns = self._columns(rows)
        keys = ["kind", "label", *keys]
        columns = [repeat(self.kind), labels, *columns]
        if self.meta.get("scale") is not None:
            keys.append("scale")
            columns.append(repeat(int(self.meta["scale"])))
        keys.append("aggregated")
        columns.append(repeat(aggregated))
        if sentences is not None:
            keys.append("sentences")
            columns.append(sentences)
        found = [dict(zip(keys, values, strict=True)) for values in zip(*columns, strict=False)]  # repeat()s
        scores = self._label_scores(rows, labels)
        return [Prediction(labels=ls, predicted=[label], sentiment=sentiment)
                for ls, label, sentiment in zip(scores, labels, found, strict=True)]  # fmt: skip

    def _sentence_dicts(self, starts: list[int], ends: list[int], rows: np.ndarray) -> list[dict[str, Any]]:
        labels, keys, columns = self._columns(rows)
        keys = ["start", "end", "label", *keys]
        return [dict(zip(keys, values, strict=True)) for values in zip(starts, ends, labels, *columns, strict=True)]

    def _scored(self, strings: list[str], batch_size: int) -> np.ndarray:
        """:meth:`_rows` of ``strings``, each distinct string scored once (a text that is one sentence is also
        its own sentence), ``batch_size`` distinct strings at a time."""
        where: dict[str, int] = dict.fromkeys(strings)  # type: ignore[assignment]
        distinct = list(where) if len(where) < len(strings) else strings
        parts = [self._rows(distinct[b : b + batch_size]) for b in range(0, len(distinct), batch_size)]
        rows = parts[0] if len(parts) == 1 else np.vstack(parts) if parts else self._rows([])
        if distinct is strings:
            return rows
        where.update(zip(distinct, range(len(distinct)), strict=True))
        return rows[np.fromiter(map(where.__getitem__, strings), dtype=np.int64, count=len(strings))]

    def _with_sentences(self, texts: list[str], batch_size: int) -> tuple[np.ndarray, list[list[dict[str, Any]]]]:
        """The rows of (short) texts and each text's sentences with their sentiment, scored together."""
        owner: list[int] = []
        starts: list[int] = []
        ends: list[int] = []
        found: list[str] = []
        for k, text in enumerate(texts):
            for start, end, sentence in iter_sentences(text):
                owner.append(k)
                starts.append(start)
                ends.append(end)
                found.append(sentence)
        rows = self._scored(texts + found, batch_size)
        out: list[list[dict[str, Any]]] = [[] for _ in texts]
        for k, entry in zip(owner, self._sentence_dicts(starts, ends, rows[len(texts) :]), strict=True):
            out[k].append(entry)
        return rows[: len(texts)], out

    def _sentence_batches(self, text: str, batch_size: int) -> Iterator[tuple[list[int], list[int], np.ndarray]]:
        """(starts, ends, rows) of the sentences, ``batch_size`` sentences at a time."""
        starts: list[int] = []
        ends: list[int] = []
        found: list[str] = []
        for start, end, sentence in iter_sentences(text):
            starts.append(start)
            ends.append(end)
            found.append(sentence)
            if len(found) >= batch_size:
                yield starts, ends, self._scored(found, batch_size)
                starts, ends, found = [], [], []
        if found:
            yield starts, ends, self._scored(found, batch_size)

    def _from_sentences(self, text: str, keep: bool, batch_size: int) -> tuple[np.ndarray, list[dict] | None]:
        """The length-weighted mean row of the sentences, and (``keep``) each sentence's sentiment."""
        total: np.ndarray | None = None
        weight = 0
        kept: list[dict[str, Any]] = []
        for starts, ends, rows in self._sentence_batches(text, batch_size):
            lengths = np.array(ends, dtype=np.int64) - np.array(starts, dtype=np.int64)
            weighted = rows * lengths[:, None]
            # cumsum adds one row at a time, in order: the sums of adding the sentences one by one
            if total is not None:
                weighted = np.vstack([total[None, :], weighted])
            total = np.cumsum(weighted, axis=0)[-1]
            weight += int(lengths.sum())
            if keep:
                kept.extend(self._sentence_dicts(starts, ends, rows))
        if total is None:  # nothing but whitespace
            return self._rows([""])[0], (kept if keep else None)
        return total / weight, (kept if keep else None)


def _rounded(x: np.ndarray) -> list[float]:
    """``round(v, 6)`` of each value (Python's rounding, vectorised)."""
    return round_like_python(np.asarray(x, dtype=np.float64), _DIGITS).tolist()


class Predictor(_SentimentPredictor):
    """A trained sentiment model (categorical or scale): probabilities of its labels plus the sentiment dict."""

    def __init__(self, loaded: artifacts.LoadedModel) -> None:
        super().__init__(loaded)
        saved, current = str(self.meta.get("lexicon")), lexicon_version()
        if saved != current:
            raise ArtifactError(
                "E422",
                f"{loaded.path} was trained with the lexicon {saved}, but {current} is installed; its lexicon "
                f"features would differ. Install vaderSentiment=={saved.removeprefix('vader-')} or retrain.",
            )
        self.kind = str(self.meta.get("kind") or "categorical")
        self.labels = list(self.model.labels_)
        self.scale = self.meta.get("scale")
        self.polarity = None if self.scale is not None else polarity_values(self.labels)
        if isinstance(self.model, SentimentModel):  # the lexicon and the model's tables built at load time
            vader_scores([])
            self.model.prepare()

    def _rows(self, texts: list[str]) -> np.ndarray:
        tokens = tokenize(texts)  # split and looked up once for the lexicon and the n-grams
        scores = vader_scores(texts, tokens)
        proba = self.model.predict_proba(texts, lexicon_scores=scores, tokens=tokens)
        return np.column_stack([proba, magnitude(scores)])

    def _polarity_scores(self, proba: np.ndarray) -> np.ndarray:
        """``proba @ polarity`` of each row. With at most two labels off 0 (the usual negative / neutral /
        positive) the products are exact and one rounding makes the sum, so the batch's matrix product equals the
        row-by-row one; otherwise the rows are done one by one."""
        assert self.polarity is not None
        if np.count_nonzero(self.polarity) <= 2:
            return proba @ self.polarity
        return np.array([float(p @ self.polarity) for p in proba])

    def _columns(self, rows: np.ndarray) -> tuple[list[str], list[str], list[list[Any]]]:
        proba = rows[:, :-1]
        best = proba.argmax(axis=1)
        labels = [self.labels[j] for j in best.tolist()]
        keys: list[str] = []
        columns: list[list[Any]] = []
        if self.scale is not None:
            keys.append("score")
            columns.append(best.tolist())
        elif self.polarity is not None:
            keys.append("score")
            columns.append(_rounded(self._polarity_scores(proba)))
        keys += ["confidence", "magnitude"]
        columns += [_rounded(proba[np.arange(len(rows)), best]), _rounded(rows[:, -1])]
        return labels, keys, columns

    def _label_scores(self, rows: np.ndarray, labels: list[str]) -> list[list[LabelScore]]:
        proba = rows[:, :-1]
        k = proba.shape[1]
        order = np.argsort(-proba, axis=1, kind="stable")
        names = self.labels
        flat = list(map(LabelScore, [names[i] for i in order.ravel().tolist()],
                        np.take_along_axis(proba, order, axis=1).ravel().tolist()))  # fmt: skip
        return [flat[i : i + k] for i in range(0, len(flat), k)]


class LexiconPredictor(_SentimentPredictor):
    """The VADER lexicon model: sentiment with no training data. Get it with :func:`lexicon_predictor`."""

    kind = "lexicon"

    def _rows(self, texts: list[str]) -> np.ndarray:
        return vader_scores(texts)

    def _columns(self, rows: np.ndarray) -> tuple[list[str], list[str], list[list[Any]]]:
        compound = rows[:, 3]
        labels, confidence = lexicon_decisions(compound)
        return labels, ["score", "confidence", "magnitude"], [_rounded(compound), _rounded(confidence),
                                                              _rounded(magnitude(rows))]  # fmt: skip

    def _label_scores(self, rows: np.ndarray, labels: list[str]) -> list[list[LabelScore]]:
        _, confidence = lexicon_decisions(rows[:, 3])
        return [[LabelScore(label, c)] for label, c in zip(labels, confidence.tolist(), strict=True)]


@functools.cache
def lexicon_predictor() -> LexiconPredictor:
    """The lexicon model as a predictor named ``lexicon``, versioned by the VADER release (``vader-3.3.2``)."""
    import vaderSentiment

    meta = {
        "name": "lexicon",
        "version": lexicon_version(),
        "task": "sentiment",
        "kind": "lexicon",
        "labels": list(LEXICON_LABELS),
        "multi_label": False,
        "metrics": None,
    }
    return LexiconPredictor(artifacts.LoadedModel(path=Path(vaderSentiment.__file__).parent, meta=meta, model=None))
