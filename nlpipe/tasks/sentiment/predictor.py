"""Sentiment predictors: of trained models (:class:`SentimentPredictor`) and of the VADER lexicon (no training
data needed; :func:`lexicon_predictor`). The task itself (training, evaluation) is :mod:`nlpipe.tasks.sentiment.task`.

They read no store and no disk (the model comes loaded). The model
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
from collections.abc import Iterable, Iterator, Sequence
from itertools import repeat
from pathlib import Path
from typing import Any, cast

import numpy as np

from nlpipe.errors import ArtifactError, InputError
from nlpipe.tasks.base import BasePredictor, LoadedModel, check_texts
from nlpipe.tasks.sentiment.lexicon import LEXICON_LABELS, lexicon_decisions, lexicon_version, magnitude, vader_scores
from nlpipe.tasks.sentiment.model import SentimentModel
from nlpipe.tasks.sentiment.sentences import iter_sentences
from nlpipe.tasks.sentiment.token_table import CollectorPaused, tokenize
from nlpipe.tasks.sentiment.vader import round_like_python
from nlpipe.types import LabelScore, Prediction

__all__ = ["SentimentPredictor", "LexiconPredictor", "lexicon_predictor", "polarity_values", "LONG_DOCUMENT_CHARS"]

#: Texts longer than this get their document sentiment from their sentences, read a chunk at a time.
LONG_DOCUMENT_CHARS = 20_000
#: Label names with a direction on the polarity axis (compared lower-cased).
POLARITY = {"negative": -1.0, "neg": -1.0, "neutral": 0.0, "neu": 0.0, "positive": 1.0, "pos": 1.0}
_DIGITS = 6


def polarity_values(labels: Sequence[str]) -> np.ndarray | None:
    """Each label's place on the polarity axis (-1, 0, +1) when every label names one and both ends occur."""
    values = [POLARITY.get(str(lab).strip().lower()) for lab in labels]
    if any(v is None for v in values) or -1.0 not in values or 1.0 not in values:
        return None
    return np.array(values, dtype=np.float64)


class _SentimentBase(BasePredictor):
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
        return cast(list[Prediction], out)  # every slot is filled: the short texts above, the long ones here

    def _predictions(self, rows: np.ndarray, aggregated: bool, sentences: list[list] | None) -> list[Prediction]:
        labels, names, values = self._columns(rows)
        keys = ["kind", "label", *names]
        columns: list[Iterable[Any]] = [repeat(self.kind), labels, *values]
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
        where = dict.fromkeys(strings, 0)  # each distinct string's row, set below
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


class SentimentPredictor(_SentimentBase):
    """A trained sentiment model (categorical or scale): probabilities of its labels plus the sentiment dict."""

    def __init__(self, loaded: LoadedModel) -> None:
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


class LexiconPredictor(_SentimentBase):
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
    return LexiconPredictor(LoadedModel(path=Path(vaderSentiment.__file__).parent, meta=meta, model=None))
