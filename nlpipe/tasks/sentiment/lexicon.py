"""The VADER lexicon: sentiment with no training data, and lexicon features for the trained sentiment models.

VADER (Hutto & Gilbert 2014; PyPI package ``vaderSentiment``) scores a text from a hand-built lexicon of about
7,500 words, emoticons and emoji with rules for negation, intensifiers, "but", capitals and exclamation marks.
Its lexicon files ship inside the package and are read from there; nothing of it is stored in a model.

:func:`vader_scores` gives VADER's four numbers per text: the shares of the text's sentiment-weighted words that
are negative, neutral and positive (``neg + neu + pos = 1``, all 0 for a text without words) and the normalised
``compound`` polarity in [-1, 1]. :func:`lexicon_decision` turns compound into a label and confidence (VADER's own
rule: compound >= 0.05 positive, <= -0.05 negative, else neutral), :func:`magnitude` gives how opinionated a text
is, and :func:`lexicon_features` the feature block the trained models add to their n-grams. Pure functions; the
analyzer is built once per process.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from nlpipe.errors import ConfigError

if TYPE_CHECKING:
    from nlpipe.tasks.sentiment.token_table import Tokens

__all__ = [
    "LEXICON_LABELS",
    "NEUTRAL_BAND",
    "lexicon_decision",
    "lexicon_decisions",
    "lexicon_features",
    "lexicon_version",
    "magnitude",
    "vader_scores",
]

#: The labels of the lexicon model, in the column order of its scores.
LEXICON_LABELS: tuple[str, ...] = ("negative", "neutral", "positive")
#: |compound| below this is neutral (VADER's published threshold).
NEUTRAL_BAND = 0.05
#: Edges of the compound bins one-hot encoded in :func:`lexicon_features` (lets a linear model bend the scale).
COMPOUND_BINS = np.array([-0.75, -0.5, -0.25, -NEUTRAL_BAND, NEUTRAL_BAND, 0.25, 0.5, 0.75])
#: Number of columns :func:`lexicon_features` returns.
N_LEXICON_FEATURES = 3 + len(COMPOUND_BINS) + 1


@functools.cache
def _analyzer() -> Any:
    try:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
    except ImportError as exc:  # pragma: no cover - a dependency of nlpipe; only a broken install lacks it
        raise ConfigError(
            "E424", "The VADER lexicon is not installed; install nlpipe's dependencies (pip install vaderSentiment)."
        ) from exc
    return SentimentIntensityAnalyzer()


@functools.cache
def _scorer() -> Any:
    """The batch scorer: :class:`~nlpipe.tasks.sentiment.vader.FastVader` for the vaderSentiment releases it reproduces,
    else None (the package's own ``polarity_scores``, one text at a time)."""
    from importlib.metadata import version

    from nlpipe.tasks.sentiment.vader import VERIFIED_VERSIONS, FastVader

    analyzer = _analyzer()
    if version("vaderSentiment") not in VERIFIED_VERSIONS:
        return None
    import vaderSentiment.vaderSentiment as rules

    return FastVader(analyzer, rules)


@functools.cache
def lexicon_version() -> str:
    """``vader-<package version>``: saved with trained models, which are checked against it when loaded."""
    from importlib.metadata import version

    return f"vader-{version('vaderSentiment')}"


def vader_scores(texts: Sequence[str], tokens: Tokens | None = None) -> np.ndarray:
    """VADER's (neg, neu, pos, compound) per text, shape (len(texts), 4): those of vaderSentiment's
    ``polarity_scores``, computed for the whole batch at once (:mod:`nlpipe.tasks.sentiment.vader`).
    ``tokens``: the texts already split and looked up (:func:`nlpipe.tasks.sentiment.token_table.tokenize`), when
    the caller has them."""
    fast = _scorer()
    if fast is not None:
        return fast.scores_many(texts, tokens)
    scorer = _analyzer().polarity_scores
    out = np.zeros((len(texts), 4))
    for i, text in enumerate(texts):
        d = scorer(text)
        out[i] = d["neg"], d["neu"], d["pos"], d["compound"]
    return out


def lexicon_features(scores: np.ndarray) -> np.ndarray:
    """Feature block for the trained models: neg, pos, compound and the one-hot bin of compound."""
    scores = np.asarray(scores, dtype=np.float64).reshape(-1, 4)
    bins = np.zeros((len(scores), len(COMPOUND_BINS) + 1))
    bins[np.arange(len(scores)), np.digitize(scores[:, 3], COMPOUND_BINS)] = 1.0
    return np.column_stack([scores[:, 0], scores[:, 2], scores[:, 3], bins])


def magnitude(scores: np.ndarray) -> np.ndarray:
    """How opinionated each text is, regardless of direction: VADER's ``neg + pos`` (0 = no sentiment words)."""
    scores = np.asarray(scores, dtype=np.float64).reshape(-1, 4)
    return np.clip(scores[:, 0] + scores[:, 2], 0.0, 1.0)


def lexicon_decision(compound: float) -> tuple[str, float]:
    """The lexicon model's label and confidence for a compound score.

    VADER's rule gives the label (>= 0.05 positive, <= -0.05 negative, else neutral). The confidence is how far
    the score is into its label's range, not a probability: ``|compound|`` for positive or negative,
    ``1 - |compound| / 0.05`` for neutral.
    """
    if compound >= NEUTRAL_BAND:
        return "positive", abs(compound)
    if compound <= -NEUTRAL_BAND:
        return "negative", abs(compound)
    return "neutral", 1.0 - abs(compound) / NEUTRAL_BAND


def lexicon_decisions(compound: np.ndarray) -> tuple[list[str], np.ndarray]:
    """:func:`lexicon_decision` of each compound score: the labels and their confidences (the same floats)."""
    c = np.asarray(compound, dtype=np.float64)
    positive = c >= NEUTRAL_BAND
    negative = ~positive & (c <= -NEUTRAL_BAND)
    confidence = np.where(positive | negative, np.abs(c), 1.0 - np.abs(c) / NEUTRAL_BAND)
    names = ("neutral", "positive", "negative")
    labels = [names[k] for k in (positive + 2 * negative).tolist()]
    return labels, confidence
