"""The entity features, fast: :class:`FeatureExtractor` builds the same CRF items as the readable definition,
:func:`nlpipe.tasks.entities.features.document_features`, string for string and in the same order, as UTF-8 bytes,
from strings cached per distinct word (the tests compare the two). The recogniser uses it.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import NamedTuple

from nlpipe.tasks.entities.clusters import CLUSTER_SIZES, WordClusters
from nlpipe.tasks.entities.gazetteer import Gazetteer
from nlpipe.tasks.entities.tags import bilou_to_spans
from nlpipe.tasks.entities.words import Doc, is_title, norm, share_bucket, short_shape, word_shape

# ASCII bytes -> word_shape's classes (X upper, x other letter, d digit, anything else itself) and norm's (lower
# case already applied; digits -> 0); runs of one class: 7 or more (cut to 6 by word_shape), 2 or more (short_shape)
_ASCII_SHAPE = bytes(ord(word_shape(chr(b))) if b < 128 else b for b in range(256))
_ASCII_NORM = bytes(ord("0") if b < 128 and chr(b).isdigit() else b for b in range(256))
_RUN_7 = re.compile(rb"(.)\1{6,}", re.DOTALL)
_RUN_2 = re.compile(rb"(.)\1+", re.DOTALL)


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
            tail=(*clusters, f"lcshare={share_bucket(self._share.get(lw))}".encode()),
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
        caps_doc, seen_lower, seen_title = _document_case(recs_doc)
        items: list[list[list[bytes]]] = []
        marks: list[list[int]] = []
        for sent_i, (sent, recs, caps) in enumerate(zip(doc, recs_doc, caps_doc, strict=True)):
            n = len(recs)
            last = n - 1
            gaz: list[tuple[bytes, bytes, bytes, bytes] | None] | None = None
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
                if gaz is not None and (gz := gaz[i]) is not None:
                    f += gz[:2]
                marks_sent.append(len(f))
                if i >= 2:
                    f += recs[i - 2].left2
                else:
                    f.append(b"-2:pad")
                if i >= 1:
                    f += recs[i - 1].left1
                    if gaz is not None and (gz := gaz[i - 1]) is not None:
                        f.append(gz[2])
                else:
                    f.append(b"-1:pad")
                if i < last:
                    f += recs[i + 1].right1
                    if gaz is not None and (gz := gaz[i + 1]) is not None:
                        f.append(gz[3])
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


def _document_case(recs_doc: list[list[_Word]]) -> tuple[list[bool], set[str], set[str]]:
    """Per sentence whether it is written in capitals, and the words (lower-cased) the document writes in lower
    case and in title case mid-sentence outside such sentences (``doc_lower``, ``doc_title``)."""
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
    return caps_doc, seen_lower, seen_title


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
