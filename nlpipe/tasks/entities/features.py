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

:func:`document_features` is the readable definition of the features; the recogniser uses
:class:`FeatureExtractor`, which builds the same lists (UTF-8 encoded), string for string and in the same order,
from strings cached per distinct word (the tests compare the two). Everything fitted here is plain data (dicts of
strings and ints) so a model can be saved as JSON.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

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


# ASCII bytes -> word_shape's classes (X upper, x other letter, d digit, anything else itself) and norm's (lower
# case already applied; digits -> 0); runs of one class: 7 or more (cut to 6 by word_shape), 2 or more (short_shape)
_ASCII_SHAPE = bytes(ord(word_shape(chr(b))) if b < 128 else b for b in range(256))
_ASCII_NORM = bytes(ord("0") if b < 128 and chr(b).isdigit() else b for b in range(256))
_RUN_7 = re.compile(rb"(.)\1{6,}", re.DOTALL)
_RUN_2 = re.compile(rb"(.)\1+", re.DOTALL)


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
        self._longest: dict[str, int] = {}  # first token -> length of the longest entry starting with it

    def add(self, tokens: Sequence[str], label: str, count: int = 1) -> None:
        if 0 < len(tokens) <= self.max_len:
            self.entries_[tuple(tokens)][label] += count
            first = tokens[0]
            if len(tokens) > self._longest.get(first, 0):
                self._longest[first] = len(tokens)

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
        longest, entries = self._longest, self.entries_
        i = 0
        while i < len(sent):
            found = 0
            # only entries that start with this token can match; none of them is longer than longest[token]
            for n in range(min(longest.get(sent[i], 0), self.max_len, len(sent) - i), 0, -1):
                labels = entries.get(tuple(sent[i : i + n]))
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
    first tagger, which add document-level votes of the types its other occurrences got.

    This is the plain, readable definition of the features; :class:`FeatureExtractor` gives the same lists faster
    and is what the recogniser uses. A change here must be made there too (the tests compare the two)."""
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


# ----------------------------------------------------------------------------------------- fast extraction


class _Word(NamedTuple):
    """What :func:`document_features` derives from one word string alone, as ready-made UTF-8 feature strings."""

    head: tuple[bytes, ...]  # b, w=, lw=, sh=, ss=, p1-p4, s1-s4, len=
    caps_lw: bytes  # caps_sent_lw=
    tail: tuple[bytes, ...]  # the cluster ids (or c=none), lcshare=
    left2: tuple[bytes, ...]  # the word as the token two to the left of another: -2:lw=, -2:ss=
    left1: tuple[bytes, ...]  # -1:lw=, -1:ss=, -1:s3=, -1:c128=
    right1: tuple[bytes, ...]  # 1:lw=, 1:ss=, 1:s3=, 1:c128=
    right2: tuple[bytes, ...]  # 2:lw=, 2:ss=
    bi_left: bytes  # "bi-=<norm>|": the start of the next token's bi- feature
    bi_right: bytes  # "bi+=<norm>|"
    ss_left: bytes  # "ssbi-=<short shape>|"
    ss_right: bytes  # "ssbi+=<short shape>|"
    norm: bytes  # lower case, digits folded
    short: bytes  # short shape
    lower: str
    alpha: bool  # starts with a letter (doc_lower / doc_title apply)
    case: int  # 0 lower case, 1 title case, 2 other (how a mid-sentence occurrence counts for the document)
    letters: bool  # has a letter (counts for caps_sentence)
    upper: bool
    long: bool  # longer than one character


class FeatureExtractor:
    """:func:`document_features`, fast: the same items, string for string and in the same order, as UTF-8 bytes.

    Most of a token's features depend on its word string alone (word, shapes, affixes, clusters, case share, and
    what it contributes to its neighbours' windows and bigrams), and most words repeat, so those strings are built
    once per distinct word and cached (up to ``max_words`` words, about 2 KB each; the cache is emptied when
    full). A token's item is then a few list concatenations. The second pass reuses the first pass's items: only
    tokens whose word got votes change, by two strings inserted where :func:`document_features` puts them. The
    strings are UTF-8 bytes, which python-crfsuite hands to crfsuite as they are (it would encode each ``str``
    again on every call); the attributes crfsuite sees are the same.

    The cache belongs to ``clusters`` and ``lower_share``; build a new extractor when either changes.
    """

    def __init__(
        self, clusters: WordClusters | None, lower_share: dict[str, float] | None, max_words: int = 20_000
    ) -> None:
        self.clusters = clusters
        self.lower_share = lower_share
        self.max_words = max_words
        self._classes = clusters.classes_ if clusters is not None else {}
        self._share = lower_share or {}
        self._cache: dict[str, _Word] = {}
        self._gaz: dict[str, tuple[bytes, bytes, bytes, bytes]] = {}
        self._cluster_parts: dict[tuple[int, ...], tuple[tuple[bytes, ...], tuple[bytes, ...]]] = {}

    def word(self, w: str) -> _Word:
        """The cached strings of one word."""
        rec = self._cache.get(w)
        if rec is None:
            rec = self._build(w)
        return rec

    def _build(self, w: str) -> _Word:
        # bytes throughout: concatenating encoded parts is cheaper than formatting and encoding every string
        lw = w.lower()
        w8, lw8 = w.encode(), lw.encode()
        if w.isascii():
            # one byte per character: affixes are byte slices, and the character classes of word_shape, norm and
            # caps_sentence are those of the ASCII letters and digits, so byte tables and regexes give the same
            # strings as the per-character loops below (the tests compare them on every ASCII character)
            pre = (w8[:1], w8[:2], w8[:3], w8[:4])
            suf = (w8[-1:], w8[-2:], w8[-3:], w8[-4:])
            nw8 = lw8.translate(_ASCII_NORM)
            nw = nw8.decode()
            mapped = w8.translate(_ASCII_SHAPE)
            sh8 = _RUN_7.sub(rb"\1\1\1\1\1\1", mapped)
            ss8 = _RUN_2.sub(rb"\1", mapped)
            letters = lw8 != w8.upper()  # every ASCII letter has two cases
        else:
            pre = (w[:1].encode(), w[:2].encode(), w[:3].encode(), w[:4].encode())
            suf = (w[-1:].encode(), w[-2:].encode(), w[-3:].encode(), w[-4:].encode())
            nw = norm(w)
            nw8, sh8, ss8 = nw.encode(), word_shape(w).encode(), short_shape(w).encode()
            letters = any(ch.isalpha() for ch in w)
        s3 = suf[2]
        cls = self._classes.get(nw)
        if cls is None:
            clusters: tuple[bytes, ...] = (b"c=none",)
            c128: tuple[bytes, ...] = ()
        else:
            key = tuple(cls)
            parts = self._cluster_parts.get(key)
            if parts is None:  # words share cluster ids: their strings are made once
                parts = self._cluster_parts[key] = (
                    tuple(f"c{k}={c}".encode() for k, c in zip(CLUSTER_SIZES, cls, strict=False)),
                    (str(cls[1] if len(cls) > 1 else cls[0]).encode(),),
                )
            clusters, c128 = parts
        head = (
            b"b", b"w=" + w8, b"lw=" + nw8, b"sh=" + sh8, b"ss=" + ss8,
            b"p1=" + pre[0], b"p2=" + pre[1], b"p3=" + pre[2], b"p4=" + pre[3],
            b"s1=" + suf[0], b"s2=" + suf[1], b"s3=" + s3, b"s4=" + suf[3],
            f"len={min(len(w), 8)}".encode(),
        )  # fmt: skip
        rec = _Word(
            head=head,
            caps_lw=b"caps_sent_lw=" + lw8,
            tail=(*clusters, f"lcshare={_bucket(self._share.get(lw))}".encode()),
            left2=(b"-2:lw=" + nw8, b"-2:ss=" + ss8),
            left1=(b"-1:lw=" + nw8, b"-1:ss=" + ss8, b"-1:s3=" + s3, *(b"-1:c128=" + c for c in c128)),
            right1=(b"1:lw=" + nw8, b"1:ss=" + ss8, b"1:s3=" + s3, *(b"1:c128=" + c for c in c128)),
            right2=(b"2:lw=" + nw8, b"2:ss=" + ss8),
            bi_left=b"bi-=" + nw8 + b"|",
            bi_right=b"bi+=" + nw8 + b"|",
            ss_left=b"ssbi-=" + ss8 + b"|",
            ss_right=b"ssbi+=" + ss8 + b"|",
            norm=nw8,
            short=ss8,
            lower=lw,
            alpha=w[:1].isalpha(),
            case=0 if w.islower() else 1 if is_title(w) else 2,
            letters=letters,
            upper=w.isupper(),
            long=len(w) > 1,
        )
        if len(self._cache) >= self.max_words:
            self._cache.clear()
        self._cache[w] = rec
        return rec

    def _gaz_features(self, tag: str) -> tuple[bytes, bytes, bytes, bytes]:
        """gaz=, gaz_t=, -1:gaz= and 1:gaz= for a gazetteer tag such as ``B-PER``."""
        out = self._gaz.get(tag)
        if out is None:
            out = self._gaz[tag] = (f"gaz={tag}".encode(), f"gaz_t={tag[2:]}".encode(), f"-1:gaz={tag}".encode(),
                                    f"1:gaz={tag}".encode())  # fmt: skip
        return out

    def __call__(
        self, doc: Doc, gazetteer: Gazetteer | None = None, first_pass: list[list[str]] | None = None
    ) -> list[list[list[bytes]]]:
        """``document_features(doc, clusters=..., gazetteer=..., lower_share=..., first_pass=...)``, UTF-8 encoded."""
        items, marks = self.base(doc, gazetteer)
        if first_pass is not None:
            items = self.with_votes(doc, items, marks, first_pass)
        return items

    def base(self, doc: Doc, gazetteer: Gazetteer | None = None) -> tuple[list[list[list[bytes]]], list[list[int]]]:
        """The items without votes, and for each token where the vote features go in its item."""
        cache, build = self._cache, self._build
        recs_doc = [[cache.get(w) or build(w) for w in sent] for sent in doc]
        caps_doc = []
        seen_lower: set[str] = set()
        seen_title: set[str] = set()
        for recs in recs_doc:
            caps = _caps_sentence(recs)
            caps_doc.append(caps)
            if caps:
                continue
            for r in recs[1:]:
                if r.case == 0:
                    seen_lower.add(r.lower)
                elif r.case == 1:
                    seen_title.add(r.lower)
        items: list[list[list[bytes]]] = []
        marks: list[list[int]] = []
        for sent_i, (sent, recs, caps) in enumerate(zip(doc, recs_doc, caps_doc, strict=True)):
            n = len(recs)
            last = n - 1
            gaz = None
            if gazetteer is not None:
                gaz = [None if g is None else self._gaz_features(g) for g in gazetteer.matches(sent)]
            pairs = list(zip(recs, recs[1:], strict=False))  # pairs[i]: tokens i and i + 1
            bi_left = [a.bi_left + b.norm for a, b in pairs]
            bi_right = [a.bi_right + b.norm for a, b in pairs]
            ss_left = [a.ss_left + b.short for a, b in pairs]
            ss_right = [a.ss_right + b.short for a, b in pairs]
            feats_sent: list[list[bytes]] = []
            marks_sent: list[int] = []
            for i, r in enumerate(recs):
                f = [*r.head]
                if i == 0:
                    f.append(b"first")
                if i == last:
                    f.append(b"last")
                if caps:
                    f.append(b"caps_sent")
                    f.append(r.caps_lw)
                if sent_i == 0:
                    f.append(b"doc_first_sent")
                f += r.tail
                if r.alpha:
                    if r.lower in seen_lower:
                        f.append(b"doc_lower")
                    if r.lower in seen_title:
                        f.append(b"doc_title")
                if gaz is not None and gaz[i] is not None:
                    f += gaz[i][:2]
                marks_sent.append(len(f))
                if i >= 2:
                    f += recs[i - 2].left2
                else:
                    f.append(b"-2:pad")
                if i >= 1:
                    f += recs[i - 1].left1
                    if gaz is not None and gaz[i - 1] is not None:
                        f.append(gaz[i - 1][2])
                else:
                    f.append(b"-1:pad")
                if i < last:
                    f += recs[i + 1].right1
                    if gaz is not None and gaz[i + 1] is not None:
                        f.append(gaz[i + 1][3])
                else:
                    f.append(b"1:pad")
                if i + 2 < n:
                    f += recs[i + 2].right2
                else:
                    f.append(b"2:pad")
                if i > 0:
                    f.append(bi_left[i - 1])
                    f.append(ss_left[i - 1])
                if i < last:
                    f.append(bi_right[i])
                    f.append(ss_right[i])
                feats_sent.append(f)
            items.append(feats_sent)
            marks.append(marks_sent)
        return items, marks

    def with_votes(
        self, doc: Doc, items: list[list[list[bytes]]], marks: list[list[int]], first_pass: list[list[str]]
    ) -> list[list[list[bytes]]]:
        """``items`` (from :meth:`base`) with the second pass's votes: the type the first pass gave most often to
        the other occurrences of each word. Items without votes are shared with ``items``, not copied."""
        votes: dict[str, Counter[str]] = defaultdict(Counter)
        for sent, tags in zip(doc, first_pass, strict=True):
            if tags.count("O") == len(tags):
                continue
            for start, end, label in bilou_to_spans(tags):
                for k in range(start, end):
                    votes[sent[k].lower()][label] += 1
        if not votes:
            return items
        top = {lw: v.most_common(1)[0][0].encode() for lw, v in votes.items()}
        out = []
        for sent, feats, mk in zip(doc, items, marks, strict=True):
            new = feats
            for i, w in enumerate(sent):
                t = top.get(w.lower())
                if t is not None:
                    if new is feats:
                        new = list(feats)
                    f, k = feats[i], mk[i]
                    new[i] = [*f[:k], b"vote=" + t, b"vote_sh=" + t + b"|" + self.word(w).short, *f[k:]]
            out.append(new)
        return out


def _caps_sentence(recs: Sequence[_Word]) -> bool:
    """:func:`caps_sentence` from the words' cached flags."""
    words = upper = 0
    long = False
    for r in recs:
        if r.letters:
            words += 1
            upper += r.upper
            long = long or r.long
    return words >= 1 and upper * 2 >= words and long
