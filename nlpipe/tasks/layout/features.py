"""Per-word features for the layout task: pure functions over a document's words tied to its text
(:class:`~nlpipe.tasks.layout.words.DocWords`, :mod:`nlpipe.tasks.layout.words`).

Each word gets one row of features (:func:`raw_features`) in one of two views:

``layout``
    the token itself (lower-cased text, shape such as ``X-d-d`` or ``$d,d.d``, digits, amount-, date- and
    currency-likeness) and where it sits: normalised position on the page, font size relative to the page's
    median, its line and block (words closer than ``BLOCK_GAP`` font sizes), its neighbours on the line, the
    nearest *label-like* word (letters, no digits) to its left on the same line with the phrase it ends and
    their distance, the label-like phrase in the nearest line above that overlaps it horizontally (with its
    distance and left/right/centre alignment), and the label-like word heading its column.
``text``
    the same token features, and the words around it in reading order: the two before, the one after, the
    nearest label-like phrase before it in the text and how many words back it is, and its place on its text
    line. No coordinates and no font sizes.

The words in each context *slot* (``self``, ``left_label``, ``above_phrase``, ...) are encoded by what they
said in the training documents: the smoothed share of each field among the training words that had that entry
in that slot (:func:`slot_counts`, :func:`slot_encoding`, :func:`encode`; "a word whose nearest label to the
left is *due* was the total 70% of the time"). A few annotated PDFs are enough to learn that, where one-hot
words would need many more. The model computes the training rows' encodings out of fold.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from nlpipe.tasks.layout.words import DocWords, font_size, reading_order, text_lines

VIEWS: tuple[str, ...] = ("layout", "text")
ABOVE_LINES = 6.0  # look this many median font sizes up for the label above a word
MAX_PHRASE = 3  # words of a label phrase kept (its end: "... invoice date")

SLOTS: dict[str, tuple[str, ...]] = {
    "layout": ("self", "shape", "left", "left_phrase", "left_label", "above_phrase", "above_label", "column_head"),
    "text": ("self", "shape", "prev1", "prev2", "next1", "label_phrase", "label"),
}

_MONTH_NAMES = set("january february march april may june july august september october november december".split())
_MONTH_NAMES |= {m[:3] for m in _MONTH_NAMES} | {"sept"}
_CURRENCY_CODES = {"eur", "usd", "gbp", "chf", "jpy", "cad", "aud"}
_CURRENCY_CHARS = set("$€£¥")
_AMOUNT = re.compile(r"^[$€£¥]?-?\d{1,3}(?:[,.' ]?\d{3})*(?:[.,]\d{2})[$€£¥]?$")
_DATE = re.compile(r"^\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}$")
_YEAR = re.compile(r"^(?:19|20)\d\d$")
_DAY = re.compile(r"^\d{1,2}(?:st|nd|rd|th)?,?$")
_STRIP = ":;,.()[]"


# ----------------------------------------------------------------------------------------------- tokens


def norm(text: str) -> str:
    """A word as a vocabulary entry: lower case, surrounding punctuation stripped (``"No.:"`` -> ``"no"``)."""
    t = text.lower().strip(_STRIP)
    return t or text.lower()


def shape(text: str) -> str:
    """Character classes with repeats collapsed: ``INV-2024-0012`` -> ``X-d-d``, ``$1,234.56`` -> ``$d,d.d``."""
    out: list[str] = []
    for ch in text:
        c = "X" if ch.isupper() else "x" if ch.islower() else "d" if ch.isdigit() else ch
        if not out or out[-1] != c:
            out.append(c)
    return "".join(out)[:10]


def label_like(text: str) -> bool:
    """Could this word be (part of) a field label: two or more letters, no digits, not a currency code."""
    letters = sum(ch.isalpha() for ch in text)
    low = norm(text)
    return (
        letters >= 2 and not any(ch.isdigit() for ch in text) and low not in _CURRENCY_CODES and low not in _MONTH_NAMES
    )


def token_features(text: str) -> list[float]:
    """Numbers that describe one word's text (see :data:`TOKEN_FEATURES`)."""
    t = text.strip()
    n = max(len(t), 1)
    digits = sum(ch.isdigit() for ch in t)
    letters = sum(ch.isalpha() for ch in t)
    low = norm(t)
    return [
        float(len(t)),
        digits / n,
        letters / n,
        float(digits > 0),
        float(t.isupper() and letters > 0),
        float(t[:1].isupper() and t[1:].islower()),
        float(bool(_AMOUNT.match(t))),
        float(bool(_DATE.match(t))),
        float(low in _MONTH_NAMES),
        float(bool(_YEAR.match(t))),
        float(bool(_DAY.match(t))),
        float(any(ch in _CURRENCY_CHARS for ch in t) or low in _CURRENCY_CODES),
        float("-" in t or "/" in t),
        float("#" in t),
        float(t.endswith(":")),
        float(label_like(t)),
    ]


TOKEN_FEATURES: tuple[str, ...] = (
    "length", "digit_share", "letter_share", "has_digit", "upper", "title", "amount", "date", "month", "year",
    "day", "currency", "dash_or_slash", "hash", "colon", "label_like",
)  # fmt: skip

_NONE = "<none>"


def _phrase(dw: DocWords, first: int, last: int) -> tuple[str, str]:
    """The run of label-like words in one block that covers words first..last: (phrase, its last word).

    The phrase is the run's last ``MAX_PHRASE`` words, normalised and joined by spaces ("invoice date").
    """
    a, b = first, last
    while a > 0 and dw.block[a - 1] == dw.block[first] and label_like(dw.words[a - 1].text):
        a -= 1
    while b + 1 < len(dw) and dw.block[b + 1] == dw.block[last] and label_like(dw.words[b + 1].text):
        b += 1
    words = [norm(dw.words[k].text) for k in range(a, b + 1) if label_like(dw.words[k].text)]
    return " ".join(words[-MAX_PHRASE:]), words[-1]


# ---------------------------------------------------------------------------------------------- features


@dataclass
class _Groups:
    """The words of each line and of each block, each page's lines in document order, each page's largest font."""

    lines: dict[int, list[int]]
    blocks: dict[int, list[int]]
    page_lines: dict[int, list[int]]
    max_size: dict[int, float]


def _groups(dw: DocWords) -> _Groups:
    n = len(dw)
    lines: dict[int, list[int]] = {}
    blocks: dict[int, list[int]] = {}
    for i in range(n):
        lines.setdefault(dw.line[i], []).append(i)
        blocks.setdefault(dw.block[i], []).append(i)
    line_ids = sorted(lines)
    page_lines: dict[int, list[int]] = {}
    for ln in line_ids:
        page_lines.setdefault(dw.pages[lines[ln][0]], []).append(ln)
    max_size = {p: max(font_size(dw.words[i]) for i in range(n) if dw.pages[i] == p) for p in page_lines}
    return _Groups(lines, blocks, page_lines, max_size)


@dataclass
class _Above:
    """What the lines above a word's block say: the label-like phrase (and its last word) of the nearest line
    that overlaps the block, its distance (``dy``, in median font sizes; -1 when there is none) and alignment
    (``dx0``, ``dx1``, ``dc``: left, right and centre offsets), whether that line held a value rather than labels,
    and the label-like word heading the block's column."""

    phrase: str = _NONE
    label: str = _NONE
    column_head: str = _NONE
    dy: float = -1.0
    dx0: float = -1.0
    dx1: float = -1.0
    dc: float = -1.0
    value: float = 0.0


def _above(
    dw: DocWords, lines: dict[int, list[int]], above: list[int], i: int, box: tuple[float, float], med: float,
    inline: bool,
) -> _Above:  # fmt: skip
    """:class:`_Above` of word ``i`` whose block spans ``box`` (x0, x1), from the ``above`` lines (nearest last).
    The phrase is left out when a label precedes the word in its own block (``inline``: "Total: 12.00" is
    labelled on its line, not by the line above)."""
    w = dw.words[i]
    bx0, bx1 = box
    out = _Above()
    for ln in reversed(above):
        cand = [j for j in lines[ln] if dw.words[j].x1 >= bx0 - 2 and dw.words[j].x0 <= bx1 + 2]
        if not cand:
            continue
        dy = (w.y0 - dw.words[cand[0]].y1) / med
        labels = [j for j in cand if label_like(dw.words[j].text)]
        if out.dy < 0 and dy <= ABOVE_LINES and not inline:
            out.dy = dy
            out.value = float(not labels)
            if labels:
                out.phrase, out.label = _phrase(dw, labels[0], labels[-1])
                ax0 = min(dw.words[j].x0 for j in labels)
                ax1 = max(dw.words[j].x1 for j in labels)
                out.dx0, out.dx1 = abs(bx0 - ax0) / med, abs(bx1 - ax1) / med
                out.dc = abs((bx0 + bx1) / 2 - (ax0 + ax1) / 2) / med
        if labels and dy > 0:
            out.column_head = norm(dw.words[labels[-1]].text)
            break
    return out


def _layout_rows(dw: DocWords) -> tuple[list[list[float]], list[dict[str, str]]]:
    groups = _groups(dw)
    numeric, slots = [], []
    for i, w in enumerate(dw.words):
        p = dw.pages[i]
        width, height = dw.page_size[p]
        med = dw.median_size[p] or 1.0
        line = groups.lines[dw.line[i]]
        k = line.index(i)
        blk = groups.blocks[dw.block[i]]
        bx0, bx1 = dw.words[blk[0]].x0, dw.words[blk[-1]].x1
        left = dw.words[line[k - 1]] if k > 0 else None
        right = dw.words[line[k + 1]] if k + 1 < len(line) else None
        # nearest label-like word to the left on the line
        lab = next((j for j in reversed(line[:k]) if label_like(dw.words[j].text)), None)
        left_phrase, left_label = _phrase(dw, lab, lab) if lab is not None else (_NONE, _NONE)
        inline = lab is not None and dw.block[lab] == dw.block[i]
        pl = groups.page_lines[p]
        at = pl.index(dw.line[i])
        above = _above(dw, groups.lines, pl[max(0, at - 40) : at], i, (bx0, bx1), med, inline)
        numeric.append(
            token_features(w.text)
            + [
                w.x0 / width,
                w.x1 / width,
                (w.x0 + w.x1) / 2 / width,
                (w.y0 + w.y1) / 2 / height,
                font_size(w) / med,
                float(font_size(w) >= 0.95 * groups.max_size[p]),
                at / len(pl),
                float(k),
                float(len(line)),
                float(k == 0),
                float(k == len(line) - 1),
                float(blk.index(i)),
                float(len(blk)),
                float(bx0 / width),
                (w.x0 - left.x1) / med if left else -1.0,
                float(bool(left and label_like(left.text))),
                float(bool(left and left.text.endswith(":"))),
                (right.x0 - w.x1) / med if right else -1.0,
                float(bool(right and label_like(right.text))),
                float(lab is not None),
                (w.x0 - dw.words[lab].x1) / width if lab is not None else -1.0,
                float(k - line.index(lab)) if lab is not None else -1.0,
                float(inline),
                above.dy,
                above.dx0,
                above.dx1,
                above.dc,
                above.value,
            ]  # fmt: skip
        )
        slots.append(
            {
                "self": norm(w.text),
                "shape": shape(w.text),
                "left": norm(left.text) if left else _NONE,
                "left_phrase": left_phrase,
                "left_label": left_label,
                "above_phrase": above.phrase,
                "above_label": above.label,
                "column_head": above.column_head,
            }  # fmt: skip
        )
    return numeric, slots


def _text_rows(dw: DocWords) -> tuple[list[list[float]], list[dict[str, str]]]:
    order = reading_order(dw)
    rank = {i: r for r, i in enumerate(order)}
    toks = [dw.words[i].text for i in order]
    by_word = text_lines(dw, order)
    text_line = [by_word[i] for i in order]
    numeric, slots = [], []
    for i, w in enumerate(dw.words):
        r = rank[i]
        lab = next((q for q in range(r - 1, max(r - 30, -1), -1) if label_like(toks[q])), None)
        phrase = last = _NONE
        if lab is not None:
            q = lab
            while q - 1 >= 0 and text_line[q - 1] == text_line[lab] and label_like(toks[q - 1]):
                q -= 1
            phrase = " ".join(norm(t) for t in toks[max(q, lab + 1 - MAX_PHRASE) : lab + 1])
            last = norm(toks[lab])
        in_line = [q for q in range(len(toks)) if text_line[q] == text_line[r]]
        numeric.append(
            token_features(w.text)
            + [
                float(lab is not None),
                float(r - lab) if lab is not None else -1.0,
                float(lab is not None and text_line[lab] == text_line[r]),
                float(r - in_line[0]),
                float(len(in_line)),
                float(r == in_line[0]),
                float(r == in_line[-1]),
                float(bool(r and label_like(toks[r - 1]))),
                float(bool(r and toks[r - 1].endswith(":"))),
            ]  # fmt: skip
        )
        slots.append(
            {
                "self": norm(w.text),
                "shape": shape(w.text),
                "prev1": norm(toks[r - 1]) if r else _NONE,
                "prev2": norm(toks[r - 2]) if r > 1 else _NONE,
                "next1": norm(toks[r + 1]) if r + 1 < len(toks) else _NONE,
                "label_phrase": phrase,
                "label": last,
            }  # fmt: skip
        )
    return numeric, slots


def raw_features(dw: DocWords, view: str) -> tuple[list[list[float]], list[dict[str, str]]]:
    """Per word: the numeric features and the vocabulary slots of ``view`` (``layout`` or ``text``)."""
    if not len(dw):
        return [], []
    return _layout_rows(dw) if view == "layout" else _text_rows(dw)


def slot_counts(
    slot_rows: Iterable[Sequence[dict[str, str]]], tags: Iterable[Sequence[str]], view: str, classes: Sequence[str]
) -> dict[str, dict[str, list[int]]]:
    """Per slot and entry, how many training words of each class (in ``classes`` order) had that entry."""
    col = {c: k for k, c in enumerate(classes)}
    counts: dict[str, dict[str, list[int]]] = {s: {} for s in SLOTS[view]}
    for rows, doc_tags in zip(slot_rows, tags, strict=True):
        for row, tag in zip(rows, doc_tags, strict=True):
            for s in SLOTS[view]:
                if row[s] != _NONE:
                    counts[s].setdefault(row[s], [0] * len(classes))[col[tag]] += 1
    return counts


def slot_encoding(
    counts: dict[str, dict[str, list[int]]], prior: Sequence[float], *, smoothing: float = 2.0, min_count: int = 2
) -> dict[str, dict[str, list[float]]]:
    """Per slot and entry, the smoothed share of each class among the words with that entry.

    ``(n_c + smoothing * prior_c) / (n + smoothing)``; entries seen fewer than ``min_count`` times are left out
    (they encode as the prior, like unseen ones).
    """
    out: dict[str, dict[str, list[float]]] = {}
    for s, entries in counts.items():
        out[s] = {}
        for value, n in entries.items():
            total = sum(n)
            if total >= min_count:
                out[s][value] = [round((c + smoothing * p) / (total + smoothing), 6) for c, p in
                                 zip(n, prior, strict=True)]  # fmt: skip
    return out


def encode(
    numeric: list[list[float]],
    slots: list[dict[str, str]],
    encoding: dict[str, dict[str, list[float]]],
    prior: Sequence[float],
) -> np.ndarray:
    """One row per word: the numeric features, then per slot the class shares of its entry (the prior if
    unknown) and whether the entry was known."""
    names = list(encoding)
    k = len(prior)
    width = len(numeric[0]) if numeric else 0
    X = np.zeros((len(numeric), width + len(names) * (k + 1)), dtype=np.float64)
    if not numeric:
        return X
    X[:, :width] = np.asarray(numeric, dtype=np.float64)
    for r, row in enumerate(slots):
        for j, s in enumerate(names):
            found = encoding[s].get(row[s])
            at = width + j * (k + 1)
            X[r, at : at + k] = found if found is not None else prior
            X[r, at + k] = float(found is not None)
    return X
