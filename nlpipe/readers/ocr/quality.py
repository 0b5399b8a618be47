"""How close two texts are: edit distance, character error rate and similarity after whitespace is normalised --
how OCR and the PDF fast path are measured (tests, benchmarks).
"""

from __future__ import annotations

__all__ = ["char_error_rate", "levenshtein", "normalise_space", "text_similarity"]


def levenshtein(a: str, b: str) -> int:
    """Edit distance (insertions, deletions, substitutions), bit-parallel (Myers/Hyyrö): fast for whole pages."""
    if len(a) < len(b):
        a, b = b, a
    m = len(b)
    if not m:
        return len(a)
    peq: dict[str, int] = {}
    for i, ch in enumerate(b):
        peq[ch] = peq.get(ch, 0) | (1 << i)
    full = (1 << m) - 1
    top = 1 << (m - 1)
    pv, mv, score = full, 0, m
    for ch in a:
        eq = peq.get(ch, 0)
        xv = eq | mv
        xh = (((eq & pv) + pv) ^ pv) | eq
        ph = (mv | ~(xh | pv)) & full
        mh = pv & xh
        if ph & top:
            score += 1
        elif mh & top:
            score -= 1
        ph = ((ph << 1) | 1) & full
        mh = (mh << 1) & full
        pv = (mh | ~(xv | ph)) & full
        mv = ph & xv
    return score


def normalise_space(text: str) -> str:
    """Whitespace runs collapsed to one space, ends stripped: how extracted texts are compared."""
    return " ".join(text.split())


def text_similarity(a: str, b: str) -> float:
    """difflib's ratio of two texts after :func:`normalise_space` (1.0 for two empty texts): the per-page
    similarity the PDF fast path is measured by against pdfplumber."""
    import difflib

    a, b = normalise_space(a), normalise_space(b)
    if not a and not b:
        return 1.0
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()


def char_error_rate(reference: str, hypothesis: str) -> float:
    """Levenshtein distance / reference length, both after :func:`normalise_space`."""
    ref = normalise_space(reference)
    hyp = normalise_space(hypothesis)
    if not ref:
        return 0.0 if not hyp else 1.0
    return levenshtein(ref, hyp) / len(ref)
