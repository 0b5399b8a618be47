"""pdfplumber's reading order on the character sheet: lines, words and text lines for every page of a batch at
once, and the pages' texts and words from them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nlpipe.readers.pdf.chars import Sheet
from nlpipe.readers.pdf.geometry import TOL
from nlpipe.types import Word

__all__ = ["Layout", "lay_out", "layout_texts", "layout_words"]

_LIGATURES = {"ﬀ": "ff", "ﬃ": "ffi", "ﬄ": "ffl", "ﬁ": "fi", "ﬂ": "fl", "ﬆ": "st", "ﬅ": "st"}
_LIGATURE_TABLE = str.maketrans(_LIGATURES)


def _cluster(values: np.ndarray) -> np.ndarray:
    """pdfplumber's cluster_list: sort, chain values no more than 3 pt apart; cluster id per value."""
    o = np.argsort(values, kind="stable")  # timsort: the values come nearly sorted (PDFium reads top to bottom)
    ids = np.empty(len(values), dtype=np.int64)
    if not len(values):
        return ids
    ids[0] = 0
    np.cumsum(np.diff(values[o]) > TOL, out=ids[1:])
    out = np.empty_like(ids)
    out[o] = ids
    return out


_SPREAD = 1e7  # offset between groups (pages, runs of equal uprightness) so clusters never chain across them


@dataclass
class Layout:
    order: np.ndarray  # indices of non-space characters, in reading order
    wstart: np.ndarray  # True where a word starts (aligned with order)
    sizebreak: np.ndarray  # True where the font size changes inside a word (extract_words' extra_attrs)
    wline: np.ndarray  # per word: line id (words of a line are consecutive)


def lay_out(sh: Sheet) -> Layout | None:
    """pdfplumber's ``extract_text`` / ``extract_words`` ordering, for every page of a batch at once.

    Per page, characters form runs of equal uprightness (in PDFium's order); in each run, lines are clusters of
    ``top`` (vertical text: ``x0``) and characters are sorted along the line; words break at whitespace, gaps
    over 3 pt, steps back and jumps across the line. Words whose tops cluster together form a text line.
    """
    up, page = sh.upright, sh.page
    n = len(up)
    group = np.empty(n, dtype=np.int64)
    group[0] = 0
    np.cumsum((up[1:] != up[:-1]) | (page[1:] != page[:-1]), out=group[1:])
    if up.all():
        key, lo, hi, across, sort2 = sh.top, sh.x0, sh.x1, sh.top, None
    else:
        key = np.where(up, sh.top, sh.x0)
        lo = np.where(up, sh.x0, sh.top)
        hi = np.where(up, sh.x1, sh.bottom)
        across = key
        sort2 = np.where(up, sh.x0, sh.bottom)
    spread = max(_SPREAD, 4 * float(np.abs(key).max(initial=0.0)) + 1.0)
    line = _cluster(key + group * spread)
    span = float(lo.max() - lo.min()) if n else 0.0
    o = None
    if span < 1e6 and line.max() < 1e7:  # one stable sort on (line, x0): fast, the input is nearly in order
        combined = line * 1e7 + (lo - lo.min())
        o = np.argsort(combined, kind="stable")
        if sort2 is not None:  # ties must follow the tie-breaker: keep the sort only if they already do
            c_o, s_o = combined[o], sort2[o]
            tie = np.flatnonzero(c_o[1:] == c_o[:-1])
            if len(tie) and (s_o[tie + 1] < s_o[tie]).any():
                o = None
    if o is None:
        o = np.lexsort((lo if sort2 is None else sort2, lo, line))
    lo_o, across_o, line_o = lo[o], across[o], line[o]
    brk = np.empty(n, dtype=bool)
    brk[0] = True
    brk[1:] = (
        sh.ws[o[:-1]]
        | (lo_o[1:] < lo_o[:-1])
        | (lo_o[1:] > hi[o[:-1]] + TOL)
        | (np.abs(across_o[1:] - across_o[:-1]) > TOL)
        | (line_o[1:] != line_o[:-1])
    )
    size_o = np.rint(sh.size[o] * 100)
    sizebreak = np.zeros(n, dtype=bool)
    sizebreak[1:] = size_o[1:] != size_o[:-1]
    keep = ~sh.ws[o]
    order = o[keep]
    if not len(order):
        return None
    wstart, sizebreak = brk[keep], sizebreak[keep]
    wpos = np.flatnonzero(wstart)
    wtop = np.minimum.reduceat(sh.top[order], wpos)
    wspread = max(_SPREAD, 4 * float(np.abs(wtop).max(initial=0.0)) + 1.0)
    wline = _cluster(wtop + page[order[wpos]] * wspread)
    return Layout(order, wstart, sizebreak, wline)


def _decode(codes: np.ndarray) -> str:
    text = codes.astype(np.uint32).tobytes().decode("utf-32-le", errors="replace")
    if ((codes >= 0xFB00) & (codes <= 0xFB06)).any():
        text = text.translate(_LIGATURE_TABLE)
    return text


def _page_bounds(page_of: np.ndarray, pages: int) -> np.ndarray:
    """Start offsets (length pages + 1) of each page's block in an array sorted by page."""
    return np.searchsorted(page_of, np.arange(pages + 1))


def layout_texts(sh: Sheet, lay: Layout, pages: int) -> list[str]:
    chars = sh.codes[lay.order]
    wpos = np.flatnonzero(lay.wstart)
    sep = np.zeros(len(chars), dtype=np.uint32)
    sep[wpos[1:]] = np.where(lay.wline[1:] != lay.wline[:-1], 10, 32)
    page_of = sh.page[lay.order]
    bounds = _page_bounds(page_of, pages)
    sep[bounds[1:-1][bounds[1:-1] < len(sep)]] = 0  # no separator before a page's first word
    out = np.empty(2 * len(chars), dtype=np.uint32)
    out[0::2] = sep
    out[1::2] = chars
    texts = []
    for p in range(pages):
        block = out[2 * bounds[p] : 2 * bounds[p + 1]]
        texts.append(_decode(block[block != 0]) if len(block) else "")
    return texts


def layout_words(sh: Sheet, lay: Layout, sizes: list[tuple[float, float]]) -> list[list[Word]]:
    order = lay.order
    wpos = np.flatnonzero(lay.wstart | lay.sizebreak)
    text = _decode_raw(sh.codes[order])
    word_page = sh.page[order[wpos]]
    width = np.asarray([w for w, _ in sizes], dtype=np.float64)[word_page]
    height = np.asarray([h for _, h in sizes], dtype=np.float64)[word_page]
    x0 = np.clip(np.minimum.reduceat(sh.x0[order], wpos), 0, width).round(2).tolist()
    x1 = np.clip(np.maximum.reduceat(sh.x1[order], wpos), 0, width).round(2).tolist()
    top = np.clip(np.minimum.reduceat(sh.top[order], wpos), 0, height).round(2).tolist()
    bottom = np.clip(np.maximum.reduceat(sh.bottom[order], wpos), 0, height).round(2).tolist()
    size = sh.size[order[wpos]].round(2).tolist()
    starts = wpos.tolist()
    ends = [*starts[1:], len(order)]
    lig = bool(((sh.codes >= 0xFB00) & (sh.codes <= 0xFB06)).any())
    out: list[list[Word]] = [[] for _ in sizes]
    for i, (p, s, e) in enumerate(zip(word_page.tolist(), starts, ends, strict=True)):
        t = text[s:e]
        if lig:
            t = t.translate(_LIGATURE_TABLE)
        out[p].append(Word(t, x0[i], top[i], x1[i], bottom[i], size[i] or None))
    return out


def _decode_raw(codes: np.ndarray) -> str:
    return codes.astype(np.uint32).tobytes().decode("utf-32-le", errors="replace")
