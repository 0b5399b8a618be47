"""What :meth:`~nlpipe.tasks.classify.model.TextClassifier.explain` reports: each term's contribution to one
label's linear score (feature value x coefficient), read straight off the fitted weights. A character n-gram's
contribution is shared out among the words of the text that contain it, so every term is a word or word
n-gram a person can find in the text."""

from __future__ import annotations

import re

import numpy as np

from nlpipe.tasks.classify.hashing import HashedNgrams
from nlpipe.tasks.features import CharNgrams, WordNgrams, char_wb_ngrams, word_ngrams

__all__ = ["contributions", "terms_of"]

_EDGE_PUNCT = re.compile(r"^\W+|\W+$")


def contributions(
    text: str, w: np.ndarray, hasher: HashedNgrams | None, vectorizers: list[WordNgrams | CharNgrams]
) -> dict[str, float]:
    """Term -> its share of ``text``'s score under the weights ``w`` (one per feature column: the hashed columns
    when ``hasher`` is given, else the vectorizers' columns side by side)."""
    contrib: dict[str, float] = {}
    offset = 0
    if hasher is not None:
        x = hasher.transform([text])
        owners = hasher.terms(text)
        for col, val in zip(x.indices, x.data, strict=True):
            terms = owners.get(int(col), [])
            for term in terms:
                contrib[term] = contrib.get(term, 0.0) + float(val * w[col]) / len(terms)
    for vec in vectorizers:
        x = vec.transform([text])
        owners = terms_of(vec, text)
        for col, val in zip(x.indices, x.data, strict=True):
            terms = owners[col]
            share = float(val * w[offset + col]) / len(terms)
            for term in terms:
                contrib[term] = contrib.get(term, 0.0) + share
        offset += len(vec.vocabulary_)
    return contrib


def terms_of(vec: WordNgrams | CharNgrams, text: str) -> dict[int, list[str]]:
    """Column -> the terms of ``text`` it stands for: the word n-gram itself, or for a character n-gram
    every occurrence of a word that contains it (no reverse vocabulary is stored)."""
    lo, hi = vec.ngram_range
    out: dict[int, list[str]] = {}
    if isinstance(vec, WordNgrams):
        for t in word_ngrams(text, lo, hi):
            col = vec.vocabulary_.get(t)
            if col is not None:
                out[col] = [t.strip()]
        return out
    for word in text.lower().split():
        shown = _EDGE_PUNCT.sub("", word)
        for g in set(char_wb_ngrams(word, lo, hi)):
            col = vec.vocabulary_.get(g)
            if col is not None:
                out.setdefault(col, []).append(shown)
    return out
