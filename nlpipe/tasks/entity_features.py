"""Token features for the entity tagger: pure functions over tokenised documents, no disk, no spaCy.

A document is a list of sentences, each a list of token strings. :func:`document_features` turns one into a
list (per sentence) of lists (per token) of ``"name=value"`` strings, the items a CRF reads. Besides the usual
word, shape and affix features of a +-2 token window, three kinds of knowledge learned from the training text
itself go in:

- :class:`WordClusters`: word classes from a positive-PMI co-occurrence matrix reduced with a truncated SVD and
  clustered with k-means at several granularities (a Brown-cluster stand-in that needs no external corpus);
- :class:`Gazetteer`: entity strings seen in the training spans with their types (and entity lists given by the
  user), matched longest-first;
- document context: how the same word is written elsewhere in the document (lower case mid-sentence, title
  case mid-sentence) and, in a second pass, which type the first-pass tagger gave its other occurrences.

Everything fitted here is plain data (dicts of strings and ints) so a model can be saved as JSON.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

Doc = list[list[str]]  # sentences of token strings

_DIGITS = re.compile(r"\d")
CLUSTER_SIZES = (32, 128, 512)


def word_shape(word: str, limit: int = 6) -> str:
    """``Xxxxx`` style shape; runs longer than ``limit`` are cut (spaCy's convention is 4; 6 keeps more)."""
    out: list[str] = []
    last, run = "", 0
    for ch in word:
        c = "X" if ch.isupper() else "x" if ch.isalpha() else "d" if ch.isdigit() else ch
        run = run + 1 if c == last else 1
        last = c
        if run <= limit:
            out.append(c)
    return "".join(out)


def short_shape(word: str) -> str:
    """The shape with every run collapsed to one character: ``Xx``, ``X.X.``, ``d-d``."""
    out: list[str] = []
    for ch in word_shape(word, 1):
        if not out or out[-1] != ch:
            out.append(ch)
    return "".join(out)


def norm(word: str) -> str:
    """Lower case with digits folded to 0, so years and amounts share features."""
    return _DIGITS.sub("0", word.lower())


def is_title(word: str) -> bool:
    return word[:1].isupper() and not word.isupper() if len(word) > 1 else word.isupper()


def caps_sentence(sent: Sequence[str]) -> bool:
    """A headline or byline written in capitals (at least half of its letters-only words are upper case)."""
    words = [w for w in sent if any(ch.isalpha() for ch in w)]
    return len(words) >= 1 and sum(w.isupper() for w in words) * 2 >= len(words) and any(len(w) > 1 for w in words)


# ----------------------------------------------------------------------------------------------- clusters


class WordClusters:
    """Word classes learned from unlabeled token sequences (the training text): PPMI -> SVD -> k-means.

    ``fit`` keeps words seen at least ``min_count`` times; ``classes_`` maps a normalised word to one cluster id
    per size in ``sizes``. Unknown words get no cluster feature.
    """

    def __init__(
        self,
        sizes: Sequence[int] = CLUSTER_SIZES,
        dim: int = 100,
        min_count: int = 2,
        contexts: int = 4000,
        seed: int = 0,
    ) -> None:
        self.sizes = tuple(sizes)
        self.dim = dim
        self.min_count = min_count
        self.contexts = contexts
        self.seed = seed

    def fit(self, sentences: Iterable[Sequence[str]]) -> WordClusters:
        from scipy import sparse
        from sklearn.cluster import KMeans, MiniBatchKMeans
        from sklearn.decomposition import TruncatedSVD

        sents = [[norm(w) for w in s] for s in sentences]
        counts = Counter(w for s in sents for w in s)
        vocab = sorted((w for w, n in counts.items() if n >= self.min_count), key=lambda w: (-counts[w], w))
        self.classes_: dict[str, list[int]] = {}
        if len(vocab) < max(self.sizes, default=0) * 2:
            return self
        index = {w: i for i, w in enumerate(vocab)}
        ctx_index = {w: i for i, w in enumerate(vocab[: self.contexts])}
        n_ctx = len(ctx_index)
        rows, cols = [], []
        for s in sents:
            ids = [index.get(w, -1) for w in s]
            cids = [ctx_index.get(w, -1) for w in s]
            for i, wi in enumerate(ids):
                if wi < 0:
                    continue
                for off in (-2, -1, 1, 2):
                    j = i + off
                    if 0 <= j < len(s) and cids[j] >= 0:
                        rows.append(wi)
                        cols.append(cids[j] + (0 if off < 0 else n_ctx))  # left and right contexts apart
        mat = sparse.coo_matrix(
            (np.ones(len(rows), dtype=np.float64), (rows, cols)), shape=(len(vocab), 2 * n_ctx)
        ).tocsr()
        total = mat.sum()
        row_sum = np.asarray(mat.sum(axis=1)).ravel()
        col_sum = np.asarray(mat.sum(axis=0)).ravel() ** 0.75  # context distribution smoothing
        col_sum = col_sum / col_sum.sum() * total
        coo = mat.tocoo()
        pmi = np.log(coo.data * total / (row_sum[coo.row] * col_sum[coo.col]))
        keep = pmi > 0
        ppmi = sparse.csr_matrix((pmi[keep], (coo.row[keep], coo.col[keep])), shape=mat.shape)
        dim = min(self.dim, min(ppmi.shape) - 1)
        vectors = TruncatedSVD(n_components=dim, random_state=self.seed).fit_transform(ppmi)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True) + 1e-9
        ids = []
        for k in self.sizes:
            km_cls = KMeans if k <= 128 else MiniBatchKMeans
            km = km_cls(n_clusters=k, random_state=self.seed, n_init=3)
            ids.append(km.fit_predict(vectors))
        self.classes_ = {w: [int(a[i]) for a in ids] for i, w in enumerate(vocab)}
        return self

    def to_dict(self) -> dict[str, Any]:
        return {"sizes": list(self.sizes), "classes": self.classes_}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WordClusters:
        obj = cls(sizes=data["sizes"])
        obj.classes_ = {str(k): [int(x) for x in v] for k, v in data["classes"].items()}
        return obj


# ---------------------------------------------------------------------------------------------- gazetteer


class Gazetteer:
    """Entity strings (token tuples) with the types they were seen with; matched longest-first in a sentence."""

    def __init__(self, max_len: int = 8) -> None:
        self.max_len = max_len
        self.entries_: dict[tuple[str, ...], Counter[str]] = defaultdict(Counter)

    def add(self, tokens: Sequence[str], label: str, count: int = 1) -> None:
        if 0 < len(tokens) <= self.max_len:
            self.entries_[tuple(tokens)][label] += count

    def add_spans(self, docs: Iterable[Doc], tags: Iterable[list[list[str]]]) -> Gazetteer:
        """Add every entity of tagged documents (``tags`` in BILOU, parallel to ``docs``)."""
        for doc, doc_tags in zip(docs, tags, strict=True):
            for sent, sent_tags in zip(doc, doc_tags, strict=True):
                for start, end, label in bilou_to_spans(sent_tags):
                    self.add(sent[start:end], label)
        return self

    def matches(self, sent: Sequence[str]) -> list[str | None]:
        """Per token ``"B-PER"``/``"I-PER"``/... for the longest entries found left to right (None outside)."""
        out: list[str | None] = [None] * len(sent)
        i = 0
        while i < len(sent):
            found = 0
            for n in range(min(self.max_len, len(sent) - i), 0, -1):
                labels = self.entries_.get(tuple(sent[i : i + n]))
                if labels:
                    label = labels.most_common(1)[0][0]
                    for j in range(n):
                        out[i + j] = ("B-" if j == 0 else "I-") + label
                    found = n
                    break
            i += found or 1
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "max_len": self.max_len,
            "entries": [[list(k), dict(v)] for k, v in sorted(self.entries_.items())],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Gazetteer:
        obj = cls(max_len=int(data["max_len"]))
        for tokens, labels in data["entries"]:
            for label, n in labels.items():
                obj.add(tokens, label, int(n))
        return obj


# -------------------------------------------------------------------------------------------------- tags


def spans_to_bilou(n: int, spans: Iterable[tuple[int, int, str]]) -> list[str]:
    """BILOU tags for ``n`` tokens from token spans ``(start, end, label)`` (end exclusive, no overlaps)."""
    tags = ["O"] * n
    for start, end, label in spans:
        if end - start == 1:
            tags[start] = f"U-{label}"
        else:
            tags[start] = f"B-{label}"
            for i in range(start + 1, end - 1):
                tags[i] = f"I-{label}"
            tags[end - 1] = f"L-{label}"
    return tags


def bilou_to_spans(tags: Sequence[str]) -> list[tuple[int, int, str]]:
    """Token spans from BILOU tags, repairing ill-formed sequences (an I/L without B starts an entity)."""
    spans: list[tuple[int, int, str]] = []
    start, label = -1, ""
    for i, tag in enumerate(tags):
        prefix, _, lab = tag.partition("-")
        if prefix in ("O", "") or (start >= 0 and lab != label) or prefix in ("B", "U"):
            if start >= 0:
                spans.append((start, i, label))
                start = -1
        if prefix in ("B", "U", "I", "L") and start < 0:
            start, label = i, lab
        if prefix in ("U", "L") and start >= 0:
            spans.append((start, i + 1, label))
            start = -1
    if start >= 0:
        spans.append((start, len(tags), label))
    return spans


# ---------------------------------------------------------------------------------------------- features


def case_stats(sentences: Iterable[Sequence[str]]) -> dict[str, float]:
    """Share of mid-sentence occurrences of each lower-cased word that are written in lower case."""
    lower: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for s in sentences:
        if caps_sentence(s):
            continue
        for w in s[1:]:
            if w[:1].isalpha():
                k = w.lower()
                total[k] += 1
                lower[k] += w.islower()
    return {k: lower[k] / n for k, n in total.items() if n >= 2}


def _bucket(x: float | None) -> str:
    if x is None:
        return "unk"
    return "0" if x == 0 else "1" if x == 1 else "lo" if x < 0.5 else "hi"


def document_features(
    doc: Doc,
    *,
    clusters: WordClusters | None = None,
    gazetteer: Gazetteer | None = None,
    lower_share: dict[str, float] | None = None,
    first_pass: list[list[str]] | None = None,
) -> list[list[list[str]]]:
    """CRF items for every token of ``doc`` (see the module docstring). ``first_pass`` holds BILOU tags from a
    first tagger, which add document-level votes of the types its other occurrences got."""
    classes = clusters.classes_ if clusters is not None else {}
    lower_share = lower_share or {}
    # how each word is written elsewhere in the document (mid-sentence, outside capitalised headlines)
    seen_lower: set[str] = set()
    seen_title: set[str] = set()
    for sent in doc:
        if caps_sentence(sent):
            continue
        for w in sent[1:]:
            (seen_lower if w.islower() else seen_title if is_title(w) else set()).add(w.lower())
    votes: dict[str, Counter[str]] = defaultdict(Counter)
    if first_pass is not None:
        for sent, tags in zip(doc, first_pass, strict=True):
            for start, end, label in bilou_to_spans(tags):
                for k in range(start, end):
                    votes[sent[k].lower()][label] += 1
    out = []
    for sent_i, sent in enumerate(doc):
        caps = caps_sentence(sent)
        gaz = gazetteer.matches(sent) if gazetteer is not None else [None] * len(sent)
        lows = [w.lower() for w in sent]
        norms = [norm(w) for w in sent]
        shapes = [short_shape(w) for w in sent]
        feats_sent = []
        n = len(sent)
        for i, w in enumerate(sent):
            lw = lows[i]
            f = [
                "b",
                f"w={w}",
                f"lw={norms[i]}",
                f"sh={word_shape(w)}",
                f"ss={shapes[i]}",
                f"p1={w[:1]}",
                f"p2={w[:2]}",
                f"p3={w[:3]}",
                f"p4={w[:4]}",
                f"s1={w[-1:]}",
                f"s2={w[-2:]}",
                f"s3={w[-3:]}",
                f"s4={w[-4:]}",
                f"len={min(len(w), 8)}",
            ]
            if i == 0:
                f.append("first")
            if i == n - 1:
                f.append("last")
            if caps:
                f.append("caps_sent")
                f.append(f"caps_sent_lw={lw}")
            if sent_i == 0:
                f.append("doc_first_sent")
            cls = classes.get(norms[i])
            if cls is not None:
                f += [f"c{k}={c}" for k, c in zip(CLUSTER_SIZES, cls, strict=False)]
            else:
                f.append("c=none")
            f.append(f"lcshare={_bucket(lower_share.get(lw))}")
            if w[:1].isalpha():
                if lw in seen_lower:
                    f.append("doc_lower")
                if lw in seen_title:
                    f.append("doc_title")
            if gaz[i] is not None:
                f.append(f"gaz={gaz[i]}")
                f.append(f"gaz_t={gaz[i][2:]}")
            if votes:
                v = votes.get(lw)
                if v:
                    top = v.most_common(1)[0][0]
                    f.append(f"vote={top}")
                    f.append(f"vote_sh={top}|{shapes[i]}")
            for off in (-2, -1, 1, 2):
                j = i + off
                if 0 <= j < n:
                    f.append(f"{off}:lw={norms[j]}")
                    f.append(f"{off}:ss={shapes[j]}")
                    if abs(off) == 1:
                        f.append(f"{off}:s3={sent[j][-3:]}")
                        cj = classes.get(norms[j])
                        if cj is not None:
                            f.append(f"{off}:c128={cj[1] if len(cj) > 1 else cj[0]}")
                        if gaz[j] is not None:
                            f.append(f"{off}:gaz={gaz[j]}")
                else:
                    f.append(f"{off}:pad")
            if i > 0:
                f.append(f"bi-={norms[i - 1]}|{norms[i]}")
                f.append(f"ssbi-={shapes[i - 1]}|{shapes[i]}")
            if i < n - 1:
                f.append(f"bi+={norms[i]}|{norms[i + 1]}")
                f.append(f"ssbi+={shapes[i]}|{shapes[i + 1]}")
            feats_sent.append(f)
        out.append(feats_sent)
    return out
