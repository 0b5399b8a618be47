"""Token features for the entity tagger: pure functions over tokenised documents, no disk, no spaCy.

A document is a list of sentences, each a list of token strings. :func:`document_features` turns one into a
list (per sentence) of lists (per token) of ``"name=value"`` strings, the items a CRF reads. Besides the usual
word, shape and affix features of a +-2 token window (:mod:`nlpipe.tasks.entities.words`), three kinds of
knowledge learned from the training text itself go in:

- :class:`~nlpipe.tasks.entities.clusters.WordClusters`: word classes from a positive-PMI co-occurrence matrix
  reduced with a truncated SVD and clustered with k-means at several granularities (a Brown-cluster stand-in that
  needs no external corpus);
- :class:`~nlpipe.tasks.entities.gazetteer.Gazetteer`: entity strings seen in the training spans with their types
  (and entity lists given by the user), matched longest-first;
- document context: how the same word is written elsewhere in the document (lower case mid-sentence, title
  case mid-sentence) and, in a second pass, which type the first-pass tagger gave its other occurrences.

:func:`document_features` is the readable definition of the features; the recogniser uses
:class:`~nlpipe.tasks.entities.extractor.FeatureExtractor`, which builds the same lists (UTF-8 encoded), string for
string and in the same order, from strings cached per distinct word (the tests compare the two). Everything
fitted is plain data (dicts of strings and ints) so a model can be saved as JSON.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from nlpipe.tasks.entities.clusters import CLUSTER_SIZES, WordClusters
from nlpipe.tasks.entities.gazetteer import Gazetteer
from nlpipe.tasks.entities.tags import bilou_to_spans
from nlpipe.tasks.entities.words import Doc, caps_sentence, is_title, norm, share_bucket, short_shape, word_shape


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

    This is the plain, readable definition of the features;
    :class:`~nlpipe.tasks.entities.extractor.FeatureExtractor` gives the same lists faster and is what the
    recogniser uses. A change here must be made there too (the tests compare the two).

    A token's item is, in this order: its word's own features (:func:`_word_features`), its place in the
    sentence and document (:func:`_position_features`), what the document and the training text know of its
    word (:func:`_knowledge_features`), and its +-2 window and bigrams (:func:`_window_features`)."""
    seen_lower, seen_title = _document_case(doc)
    known = _Knowledge(
        classes=clusters.classes_ if clusters is not None else {},
        lower_share=lower_share or {},
        seen_lower=seen_lower,
        seen_title=seen_title,
        votes=_first_pass_votes(doc, first_pass) if first_pass is not None else {},
    )
    out = []
    for sent_i, sent in enumerate(doc):
        caps = caps_sentence(sent)
        gaz: list[str | None] = gazetteer.matches(sent) if gazetteer is not None else [None] * len(sent)
        norms = [norm(w) for w in sent]
        shapes = [short_shape(w) for w in sent]
        out.append(
            [
                _word_features(w, norms[i], shapes[i])
                + _position_features(i, len(sent), sent_i, caps, w.lower())
                + _knowledge_features(known, w, norms[i], shapes[i], gaz[i])
                + _window_features(known, sent, i, norms, shapes, gaz)
                for i, w in enumerate(sent)
            ]
        )
    return out


@dataclass
class _Knowledge:
    """What a token's features know besides its sentence: the word clusters and lower-case shares of the training
    text, the document's case (:func:`_document_case`) and the first pass's votes (:func:`_first_pass_votes`)."""

    classes: dict[str, list[int]]
    lower_share: dict[str, float]
    seen_lower: set[str]
    seen_title: set[str]
    votes: dict[str, Counter[str]]


def _document_case(doc: Doc) -> tuple[set[str], set[str]]:
    """The words (lower-cased) the document writes in lower case and in title case mid-sentence, outside
    capitalised headlines."""
    seen_lower: set[str] = set()
    seen_title: set[str] = set()
    for sent in doc:
        if caps_sentence(sent):
            continue
        for w in sent[1:]:
            (seen_lower if w.islower() else seen_title if is_title(w) else set()).add(w.lower())
    return seen_lower, seen_title


def _first_pass_votes(doc: Doc, first_pass: list[list[str]]) -> dict[str, Counter[str]]:
    """Per word (lower-cased), how often the first pass tagged an occurrence of it with each type."""
    votes: dict[str, Counter[str]] = defaultdict(Counter)
    for sent, tags in zip(doc, first_pass, strict=True):
        for start, end, label in bilou_to_spans(tags):
            for k in range(start, end):
                votes[sent[k].lower()][label] += 1
    return votes


def _word_features(w: str, nw: str, ss: str) -> list[str]:
    """The word itself, its digit-folded lower case ``nw``, shapes (``ss`` the short one), affixes and length."""
    return [
        "b",
        f"w={w}",
        f"lw={nw}",
        f"sh={word_shape(w)}",
        f"ss={ss}",
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


def _position_features(i: int, n: int, sent_i: int, caps: bool, lw: str) -> list[str]:
    """Token ``i`` of ``n`` in sentence ``sent_i``: first, last, in a capitalised headline, in the first sentence."""
    f = []
    if i == 0:
        f.append("first")
    if i == n - 1:
        f.append("last")
    if caps:
        f.append("caps_sent")
        f.append(f"caps_sent_lw={lw}")
    if sent_i == 0:
        f.append("doc_first_sent")
    return f


def _knowledge_features(known: _Knowledge, w: str, nw: str, ss: str, gaz: str | None) -> list[str]:
    """The word's clusters and lower-case share, how the document writes it elsewhere, its gazetteer tag ``gaz``
    and the first pass's vote."""
    lw = w.lower()
    f = []
    cls = known.classes.get(nw)
    if cls is not None:
        f += [f"c{k}={c}" for k, c in zip(CLUSTER_SIZES, cls, strict=False)]
    else:
        f.append("c=none")
    f.append(f"lcshare={share_bucket(known.lower_share.get(lw))}")
    if w[:1].isalpha():
        if lw in known.seen_lower:
            f.append("doc_lower")
        if lw in known.seen_title:
            f.append("doc_title")
    if gaz is not None:
        f.append(f"gaz={gaz}")
        f.append(f"gaz_t={gaz[2:]}")
    if known.votes:
        v = known.votes.get(lw)
        if v:
            top = v.most_common(1)[0][0]
            f.append(f"vote={top}")
            f.append(f"vote_sh={top}|{ss}")
    return f


def _window_features(
    known: _Knowledge, sent: Sequence[str], i: int, norms: list[str], shapes: list[str], gaz: list[str | None]
) -> list[str]:
    """The tokens two to the left and right of token ``i`` (pads past the sentence's ends), then its bigrams."""
    n = len(sent)
    f = []
    for off in (-2, -1, 1, 2):
        j = i + off
        if 0 <= j < n:
            f.append(f"{off}:lw={norms[j]}")
            f.append(f"{off}:ss={shapes[j]}")
            if abs(off) == 1:
                f.append(f"{off}:s3={sent[j][-3:]}")
                cj = known.classes.get(norms[j])
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
    return f
