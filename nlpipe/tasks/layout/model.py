"""FieldExtractor: a word-level classifier over word boxes that pulls fields (invoice number, total, ...) out of
documents with pages.

Each word of a document is one example (features from :mod:`nlpipe.tasks.layout.features`, in the ``layout``
view or the text-only ``text`` view); its class is the field whose annotated span it falls in, or ``O``. The
learner is scikit-learn's :class:`~sklearn.ensemble.HistGradientBoostingClassifier` (positions, distances
and size ratios matter through thresholds and interactions that a linear model would miss; a few thousand
words train in seconds). Decoding merges adjacent words that got the same field into a span (same block, or
same text line for the text view) scored by the words' mean probability, and keeps only the best span of a
field that never occurs more than once per training document (an invoice has one total).

Like the other task estimators it does no disk I/O and no printing; ``skops.io`` saves it, and
:data:`nlpipe.tasks.layout.task.TRUSTED_TYPES` lists what loading it must trust.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

from nlpipe.errors import InputError, TrainingError
from nlpipe.tasks.layout.features import VIEWS, encode, raw_features, slot_counts, slot_encoding
from nlpipe.tasks.layout.words import DocWords, document_words, reading_order, text_lines, word_tags
from nlpipe.types import Document, Span

OUTSIDE = "O"
EXTEND = 0.2  # a word next to a field value joins it when the field has at least this probability
N_FOLDS = 5  # folds for the out-of-fold slot encodings of the training words


class FieldExtractor(BaseEstimator):
    """Fields from word boxes.

    Parameters
    ----------
    view:
        ``"layout"`` (position, size, the label left of or above a word, alignment) or ``"text"`` (the same
        learner on token and reading-order features only, for comparison).
    max_iter, learning_rate, max_leaf_nodes, l2_regularization:
        passed to :class:`~sklearn.ensemble.HistGradientBoostingClassifier`.
    seed:
        its ``random_state``.
    """

    def __init__(
        self,
        view: str = "layout",
        *,
        max_iter: int = 60,
        learning_rate: float = 0.2,
        max_leaf_nodes: int = 15,
        l2_regularization: float = 1.0,
        seed: int = 0,
    ) -> None:
        self.view = view
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.l2_regularization = l2_regularization
        self.seed = seed

    def fit(self, docs: Sequence[Document], spans: Sequence[Sequence[Span]]) -> FieldExtractor:
        """Learn from documents with word boxes and their field spans (character offsets into each text)."""
        if self.view not in VIEWS:
            raise TrainingError("E395", f"view must be one of {', '.join(VIEWS)}, got {self.view!r}.", field="view")
        if len(docs) != len(spans):
            raise TrainingError("E395", f"{len(docs)} documents but {len(spans)} span lists.", field="spans")
        words = [document_words(d) for d in docs]
        rows = [raw_features(dw, self.view) for dw in words]
        tags = [word_tags(dw, sp, OUTSIDE) for dw, sp in zip(words, spans, strict=True)]
        fields = sorted({t for doc_tags in tags for t in doc_tags} - {OUTSIDE})
        if not fields:
            raise TrainingError("E391", "No annotated span covers a word of the training documents.")
        classes = [OUTSIDE, *fields]
        y = np.asarray([t for doc_tags in tags for t in doc_tags])
        prior = [round(float(np.mean(y == c)), 6) for c in classes]
        slot_rows = [slots for _, slots in rows]
        # training rows get their slot encodings from the other documents (out of fold), so that what a word
        # says about its own class does not leak into its features
        folds = np.random.default_rng(self.seed).permutation(len(docs)) % min(N_FOLDS, len(docs))
        blocks = []
        for k in sorted(set(folds.tolist())):
            inside = [i for i in range(len(docs)) if folds[i] != k] or list(range(len(docs)))
            enc = slot_encoding(slot_counts([slot_rows[i] for i in inside], [tags[i] for i in inside], self.view,
                                            classes), prior)  # fmt: skip
            for i in np.flatnonzero(folds == k):
                if rows[i][0]:
                    blocks.append((i, encode(rows[i][0], slot_rows[i], enc, prior)))
        X = np.vstack([b for _, b in sorted(blocks, key=lambda ib: ib[0])])
        y = np.asarray([t for i, _ in sorted(blocks, key=lambda ib: ib[0]) for t in tags[i]])
        self.prior_ = prior
        # kept as arrays (entries, shares) per slot: skops stores an array in one piece, a dict entry by entry
        encoding = slot_encoding(slot_counts(slot_rows, tags, self.view, classes), prior)
        self.slot_entries_ = {s: np.asarray(list(enc), dtype=str) for s, enc in encoding.items()}
        self.slot_shares_ = {
            s: np.asarray(list(enc.values()), dtype=np.float64).reshape(len(enc), len(classes))
            for s, enc in encoding.items()
        }
        per_doc: Counter[str] = Counter()
        for sp in spans:
            for lab, n in Counter(s.label for s in sp).items():
                per_doc[lab] = max(per_doc[lab], n)
        self.fields_ = fields
        self.single_ = [f for f in fields if per_doc[f] <= 1]
        with threadpool_limits(1):  # small data: threads cost more than they save, and the API serves in threads
            self.model_ = HistGradientBoostingClassifier(
                max_iter=self.max_iter,
                learning_rate=self.learning_rate,
                max_leaf_nodes=self.max_leaf_nodes,
                l2_regularization=self.l2_regularization,
                early_stopping=False,
                random_state=self.seed,
            ).fit(X, y)
        self.n_words_ = int(len(y))
        return self

    def word_proba(self, dw: DocWords) -> np.ndarray:
        """Probabilities of each class (``classes_``) for each word of one document."""
        check_is_fitted(self, "model_")
        num, slots = raw_features(dw, self.view)
        if not num:
            return np.zeros((0, len(self.classes_)))
        with threadpool_limits(1):
            return self.model_.predict_proba(encode(num, slots, self._encoding(), self.prior_))

    def _encoding(self) -> dict[str, dict[str, list[float]]]:
        return {
            s: dict(zip(self.slot_entries_[s].tolist(), self.slot_shares_[s].tolist(), strict=True))
            for s in self.slot_entries_
        }

    @property
    def classes_(self) -> list[str]:
        check_is_fitted(self, "model_")
        return [str(c) for c in self.model_.classes_]

    def predict(self, docs: Sequence[Document]) -> list[list[Span]]:
        """Field spans per document, each with its text, page, box and score (mean word probability)."""
        check_is_fitted(self, "model_")
        out = []
        for doc in docs:
            if not isinstance(doc, Document):
                raise InputError("E442", f"Expected a Document, got {type(doc).__name__}.", field="documents")
            dw = document_words(doc)
            out.append(self._decode(dw, self.word_proba(dw)) if len(dw) else [])
        return out

    def _decode(self, dw: DocWords, proba: np.ndarray) -> list[Span]:
        classes = self.classes_
        tags = [classes[k] for k in proba.argmax(axis=1)]
        col = {c: k for k, c in enumerate(classes)}
        # a value's neighbours join it when the field is still likely for them ("18," "2025" after "April")
        nxt = next_word(dw, self.view)
        prv: dict[int, int] = {j: i for i, j in enumerate(nxt) if j is not None}
        changed = True
        while changed:
            changed = False
            for i, tag in enumerate(tags):
                if tag != OUTSIDE:
                    continue
                for j in (prv.get(i), nxt[i]):
                    if j is not None and tags[j] != OUTSIDE and proba[i, col[tags[j]]] >= EXTEND:
                        tags[i] = tags[j]
                        changed = True
                        break
        found: dict[str, list[Span]] = {}
        for label, idx in runs(dw, tags, self.view, OUTSIDE):
            score = float(np.mean(proba[idx, col[label]]))
            found.setdefault(label, []).append(run_span(dw, label, idx, round(score, 6)))
        spans: list[Span] = []
        for label, cands in found.items():
            if label in self.single_:
                cands = [max(cands, key=lambda s: (s.score or 0.0, -s.start))]
            spans.extend(cands)
        return sorted(spans, key=lambda s: (s.start, s.end, s.label))


# ---------------------------------------------------------------------------------------------- decoding


def next_word(dw: DocWords, view: str) -> list[int | None]:
    """Per word, the word a field value may continue with: the next one in its block (``layout``) or on its
    text line (``text``); None at the end."""
    if view == "layout":
        return [i + 1 if i + 1 < len(dw) and dw.block[i + 1] == dw.block[i] else None for i in range(len(dw))]
    order = reading_order(dw)
    line = text_lines(dw, order)
    out: list[int | None] = [None] * len(dw)
    for a, b in zip(order, order[1:], strict=False):
        if line[a] == line[b] and dw.starts[b] >= 0:
            out[a] = b
    return out


def runs(dw: DocWords, tags: Sequence[str], view: str, outside: str = "O") -> list[tuple[str, list[int]]]:
    """Maximal runs of adjacent words (:func:`next_word`) with the same field tag: (field, word indices)."""
    nxt = next_word(dw, view)
    has_prev = {j for j in nxt if j is not None}
    out: list[tuple[str, list[int]]] = []
    for i in reading_order(dw) if view == "text" else range(len(dw)):
        tag = tags[i]
        if tag == outside or dw.starts[i] < 0:
            continue
        if i in has_prev and out and out[-1][0] == tag and nxt[out[-1][1][-1]] == i:
            out[-1][1].append(i)
        else:
            out.append((tag, [i]))
    return out


def run_span(dw: DocWords, label: str, idx: list[int], score: float | None = None) -> Span:
    """The span of a run of words: characters from the first to the last, page and box of the words."""
    start, end = min(dw.starts[i] for i in idx), max(dw.ends[i] for i in idx)
    words = [dw.words[i] for i in idx]
    bbox = (
        round(min(w.x0 for w in words), 2),
        round(min(w.y0 for w in words), 2),
        round(max(w.x1 for w in words), 2),
        round(max(w.y1 for w in words), 2),
    )
    return Span(start, end, label, source="model", score=score, text=dw.text[start:end], page=dw.pages[idx[0]],
                bbox=bbox)  # fmt: skip
