"""VADER's scores for a batch of texts at once: the same numbers as ``vaderSentiment``'s ``polarity_scores``.

``SentimentIntensityAnalyzer.polarity_scores`` (vaderSentiment 3.3.2) scores one text at a time in pure Python
and repeats work: it rebuilds the text a character at a time to swap emoji for their descriptions, and for
every lexicon word lower-cases the whole text again, several times (negation, idiom and "but" checks), so a text
of n words costs O(n^2). :class:`FastVader` applies the same rules to every lexicon word of a batch at once:

- the texts are split on whitespace (:func:`~nlpipe.tasks.sentiment.token_table.tokenize`, shared with the trained
  models' n-gram features), and what the rules need of a token (``SentiText``'s word: the token without surrounding
  punctuation unless that leaves two characters or fewer; its lower case; lexicon valence; booster value;
  capitals; negation, including ``n't``; a small code for the words the rules name, such as "no", "never",
  "least", "but", and the words of the idioms) is worked out once per distinct token and kept in a
  :class:`~nlpipe.tasks.sentiment.token_table.TokenData`;
- each rule of ``sentiment_valence`` is then one numpy ``where`` over all lexicon words, reading the neighbours
  at fixed offsets inside each word's text, in the original's order and with its floating-point operations:
  "no" before or as a lexicon word, capitals (only when some but not all words are), the three words before
  (boosters and dampeners, damped by distance; negations; "never so/this"; "without doubt"), the idioms ("the
  shit", "kind of", ...: the words' codes read as one number index a table of the idioms' values) and "least";
- ``_but_check`` runs per text that has a "but" and a lexicon word, on the lexicon words' values only, as written:
  the original looks each value up with ``list.index``, so with equal values the first one is the one weighted;
- ``score_valence`` (sums, "!" and "?" emphasis, normalisation, the neg/neu/pos shares) is vectorised over the
  texts; the four numbers are rounded as Python's ``round`` rounds them (:func:`round_like_python`);
- emoji are replaced first by their descriptions, with a space before each, which splits into the same words as the
  original's spacing (only single characters can match, as there).

The lexicon, emoji descriptions and rule constants are read from the installed package, not copied.
``tests/test_tasks_sentiment_fast.py`` checks the scores equal the package's on thousands of real tweets and review
snippets and on hand-written cases for each rule. The rules are those of :data:`VERIFIED_VERSIONS`; with another
installed release :func:`nlpipe.tasks.sentiment.lexicon.vader_scores` uses the package's own ``polarity_scores``.
"""

from __future__ import annotations

import string
import sys
from collections.abc import Sequence
from itertools import repeat
from typing import Any

import numpy as np

from nlpipe.tasks.sentiment.token_table import TokenData, Tokens, tokenize

__all__ = ["FastVader", "VERIFIED_VERSIONS"]

#: vaderSentiment releases whose ``polarity_scores`` this module reproduces.
VERIFIED_VERSIONS = frozenset({"3.3.2"})

_PUNCT = string.punctuation
#: Whether builtin ``sum`` adds floats one at a time (before 3.12; later versions compensate rounding errors).
_SEQUENTIAL_SUM = sys.version_info < (3, 12)
#: Words the rules test for by name; each gets a small integer code in the token table.
_RULE_WORDS = ("no", "or", "nor", "never", "so", "this", "without", "doubt", "least", "at", "very", "kind", "of",
               "but")  # fmt: skip


def _retokenized(tokens: Tokens, texts: list[str], changed: list[int]) -> Tokens | None:
    """``tokens`` with the tokens of the texts at ``changed`` (in order) replaced by those of their new ``texts``;
    None when the token table started over in between."""
    new = tokenize([texts[i] for i in changed], tokens.table)
    if new.generation != tokens.generation:
        return None
    starts = (np.cumsum(tokens.ntok) - tokens.ntok).tolist()
    new_starts = (np.cumsum(new.ntok) - new.ntok).tolist()
    pieces = []
    done = 0
    for i, a, n_new in zip(changed, new_starts, new.ntok.tolist(), strict=True):
        pieces += [tokens.ids[done : starts[i]], new.ids[a : a + n_new]]
        done = starts[i] + int(tokens.ntok[i])
    pieces.append(tokens.ids[done:])
    ntok = tokens.ntok.copy()
    ntok[changed] = new.ntok
    return Tokens(ntok=ntok, ids=np.concatenate(pieces), generation=tokens.generation, table=tokens.table)


def round_like_python(x: np.ndarray, digits: int) -> np.ndarray:
    """``[round(v, digits) for v in x]``, with numpy where that gives the same float.

    Python rounds the exact decimal value of a float; numpy's ``round`` rounds ``x * 10**digits``, which carries
    a rounding error of half an ulp. Away from a tie (fraction 0.5) both pick the same integer k, and k /
    10**digits is the float nearest to the decimal either way; the values near a tie go through ``round``."""
    scale = 10.0**digits
    y = x * scale
    out = np.rint(y) / scale
    near_tie = np.flatnonzero(np.abs(np.abs(y - np.floor(y)) - 0.5) < 1e-6)
    if len(near_tie):
        out[near_tie] = [round(v, digits) for v in x[near_tie].tolist()]
    return out


class FastVader:
    """VADER's (neg, neu, pos, compound) per text, equal to ``analyzer.polarity_scores`` of the package.

    ``analyzer`` is a ``vaderSentiment.vaderSentiment.SentimentIntensityAnalyzer`` (its lexicon and emoji
    descriptions are used); ``rules`` is the ``vaderSentiment.vaderSentiment`` module (its constants).
    """

    def __init__(self, analyzer: Any, rules: Any) -> None:
        self.lexicon: dict[str, float] = analyzer.lexicon
        self.emojis: dict[str, str] = analyzer.emojis
        self.boosters: dict[str, float] = dict(rules.BOOSTER_DICT)
        self.negate = frozenset(rules.NEGATE)
        self.special: dict[str, float] = dict(rules.SPECIAL_CASES)
        self.n_scalar = float(rules.N_SCALAR)
        self.c_incr = float(rules.C_INCR)
        # polarity_scores tests one character at a time, so only one-character keys can match; none is ASCII.
        single = sorted(k for k in self.emojis if len(k) == 1)
        self._emoji_chars = frozenset(single)
        self._ascii_emoji = any(c.isascii() for c in single)
        # The original puts a space before an emoji's description unless the emoji starts the text or follows a
        # space; the text is only ever split on whitespace after that (and its "!" and "?" counted), so a space
        # before every description splits alike: one str.translate.
        self._emoji_table = str.maketrans({c: " " + self.emojis[c] for c in single})
        # The idioms and multi-word boosters the rules compare word sequences with, as tuples of words.
        self._idioms = [(tuple(k.split(" ")), float(v)) for k, v in self.special.items() if " " in k]
        self._phrase_boosters = [(tuple(k.split(" ")), float(v)) for k, v in self.boosters.items() if " " in k]
        words = list(_RULE_WORDS)
        for phrase, _ in self._idioms + self._phrase_boosters:
            words.extend(w for w in phrase if w not in words)
        self._codes = {w: i + 1 for i, w in enumerate(words)}  # 0: any other word
        self._idiom_tables = self._phrase_tables(self._idioms)
        self._booster_tables = self._phrase_tables(self._phrase_boosters)
        self._data = TokenData(self._token_data)

    # ------------------------------------------------------------------------------------------ the text

    def _phrase_tables(self, phrases: list[tuple[tuple[str, ...], float]]) -> dict[int, np.ndarray]:
        """Per phrase length, the value of each phrase at the number its words' codes make (NaN elsewhere)."""
        n_codes = len(self._codes) + 1
        tables: dict[int, np.ndarray] = {}
        for phrase, val in phrases:
            if len(phrase) not in (2, 3):  # the rules compare sequences of two or three words only
                continue
            table = tables.setdefault(len(phrase), np.full(n_codes ** len(phrase), np.nan))
            key = 0
            for word in phrase:
                key = key * n_codes + self._codes[word]
            table[key] = val
        return tables

    def _replace_emoji(self, text: str) -> str:
        """Each emoji character replaced by its description: the original's text up to whitespace (see
        ``__init__``)."""
        return text.translate(self._emoji_table)

    def scores_many(self, texts: Sequence[str], tokens: Tokens | None = None) -> np.ndarray:
        """(neg, neu, pos, compound) per text, shape (len(texts), 4), as ``polarity_scores`` gives them (rounded
        to 3, 3, 3 and 4 decimals). ``tokens``: the texts already :func:`~nlpipe.tasks.sentiment.token_table.tokenize`-d
        (the trained models' n-gram features use them too)."""
        texts = list(texts)
        emoji: list[int] = []
        if self._emoji_chars:
            check = (
                range(len(texts)) if self._ascii_emoji else [i for i, a in enumerate(map(str.isascii, texts)) if not a]
            )
            emoji = [i for i in check if not self._emoji_chars.isdisjoint(texts[i])]
        if not emoji:
            return self._scores_plain(texts, tokens)
        # emoji become words first, which changes those texts' tokens
        for i in emoji:
            texts[i] = self._replace_emoji(texts[i])
        if tokens is not None:
            tokens = _retokenized(tokens, texts, emoji)
        return self._scores_plain(texts, tokens)

    def _token_data(self, tokens: list[str]) -> tuple[dict[str, np.ndarray], dict]:
        """What the rules need of each token: SentiText's word, then its lexicon entry, booster value, capitals,
        negation and rule-word code."""
        n = len(tokens)
        words = [w if len(w := t.strip(_PUNCT)) > 2 else t for t in tokens]
        lowers = [w.lower() for w in words]
        lexicon, boosters = self.lexicon, self.boosters
        fixed = {
            "valence": np.fromiter(map(lexicon.get, lowers, repeat(np.nan)), dtype=np.float64, count=n),
            "in_lexicon": np.fromiter(map(lexicon.__contains__, lowers), dtype=bool, count=n),
            "booster": np.fromiter(map(boosters.get, lowers, repeat(0.0)), dtype=np.float64, count=n),
            "is_booster": np.fromiter(map(boosters.__contains__, lowers), dtype=bool, count=n),
            "upper": np.fromiter(map(str.isupper, words), dtype=bool, count=n),
            "negated": np.fromiter(map(self._negated, lowers), dtype=bool, count=n),
            "code": np.fromiter(map(self._codes.get, lowers, repeat(0)), dtype=np.int16, count=n),
        }
        return fixed, {}

    def _scores_plain(self, texts: list[str], tokens: Tokens | None) -> np.ndarray:
        """:meth:`scores_many` once emoji are words: the rules applied to every lexicon word of the batch at
        once (see the module's docstring)."""
        m = len(texts)
        out = np.zeros((m, 4))
        tokens = tokens or tokenize(texts)
        while (found := self._data.columns(tokens)) is None:  # the token table started over: look up again
            tokens = tokenize(texts)
        cols = found[0]
        ntok, ids = tokens.ntok, tokens.ids
        N = len(ids)
        if N == 0:
            return out
        code = cols["code"][ids]
        in_lex = cols["in_lexicon"][ids]
        upper = cols["upper"][ids]
        row = np.repeat(np.arange(m), ntok)
        t_start = np.cumsum(ntok) - ntok
        allcap = np.bincount(row, weights=upper, minlength=m)
        cap_diff_text = (ntok - allcap > 0) & (ntok - allcap < ntok)
        c = self._codes
        pos = np.arange(N)
        t_end = (t_start + ntok)[row]
        nxt = np.where(pos + 1 < t_end, code[np.minimum(pos + 1, N - 1)], 0)
        hit = in_lex & ~cols["is_booster"][ids] & ~((code == c["kind"]) & (nxt == c["of"]))
        H = np.flatnonzero(hit)
        values = self._valences(H, ids, cols, code, in_lex, upper, row, t_start, t_end, cap_diff_text)

        h_row = row[H]
        per_text = np.bincount(h_row, minlength=m)
        with_but = np.flatnonzero((np.bincount(row[code == c["but"]], minlength=m) > 0) & (per_text > 0))
        if len(with_but):
            values = self._but_many(values, H, h_row, per_text, with_but, code, t_start, ntok)
        positive, negative = values > 0, values < 0
        sum_s: np.ndarray  # float64 (bincount's stubs say int: with weights it sums floats)
        if _SEQUENTIAL_SUM:  # builtin sum() adds floats one by one, as bincount does
            sum_s = np.bincount(h_row, weights=values, minlength=m)
        else:  # Python 3.12+ sums floats with compensation: call it per text, as the original does
            vals, h_start = values.tolist(), (np.cumsum(per_text) - per_text).tolist()
            sum_s = np.zeros(m)
            for t in np.flatnonzero(per_text).tolist():
                sum_s[t] = sum(vals[h_start[t] : h_start[t] + int(per_text[t])])
        pos_sum = np.bincount(h_row[positive], weights=values[positive] + 1, minlength=m)
        neg_sum = np.bincount(h_row[negative], weights=values[negative] - 1, minlength=m)
        neu = (ntok - np.bincount(h_row[positive | negative], minlength=m)).astype(np.float64)
        ep = np.minimum(np.fromiter(map(str.count, texts, repeat("!")), dtype=np.int64, count=m), 4) * 0.292
        qm_count = np.fromiter(map(str.count, texts, repeat("?")), dtype=np.int64, count=m)
        qm = np.where(qm_count > 1, np.where(qm_count <= 3, qm_count * 0.18, 0.96), 0.0)
        amp = ep + qm
        sum_s = np.where(sum_s > 0, sum_s + amp, np.where(sum_s < 0, sum_s - amp, sum_s))
        compound = np.clip(sum_s / np.sqrt((sum_s * sum_s) + 15), -1.0, 1.0)
        neg_abs = np.abs(neg_sum)
        pos_sum, neg_sum = (np.where(pos_sum > neg_abs, pos_sum + amp, pos_sum),
                            np.where(pos_sum < neg_abs, neg_sum - amp, neg_sum))  # fmt: skip
        total = pos_sum + np.abs(neg_sum) + neu
        some = ntok > 0
        safe = np.where(some, total, 1.0)
        columns = (np.abs(neg_sum / safe), np.abs(neu / safe), np.abs(pos_sum / safe), compound)
        for k, (col, digits) in enumerate(zip(columns, (3, 3, 3, 4), strict=True)):
            out[:, k] = round_like_python(col, digits)
        out[~some] = 0.0
        return out

    def _but_many(
        self,
        values: np.ndarray,
        H: np.ndarray,
        h_row: np.ndarray,
        per_text: np.ndarray,
        texts: np.ndarray,
        code: np.ndarray,
        t_start: np.ndarray,
        ntok: np.ndarray,
    ) -> np.ndarray:
        """``_but_check`` for each text of ``texts``, as written, on its lexicon words' values only: the other
        words are 0, which neither equals a non-zero value in ``list.index`` nor changes when weighted. When the
        loop reaches a value, ``list.index`` finds its first equal value, which may be an earlier one (already
        weighted or not): that one is weighted, 0.5 before the first "but", 1.5 after it."""
        values = values.copy()
        but_pos = np.flatnonzero(code == self._codes["but"])
        first_but = but_pos[np.searchsorted(but_pos, t_start[texts])]  # the first "but" at or after each start
        h_start = np.cumsum(per_text) - per_text
        for t, bi in zip(texts.tolist(), first_but.tolist(), strict=True):
            a = int(h_start[t])
            b = a + int(per_text[t])
            part = values[a:b].tolist()
            where = H[a:b].tolist()
            for sentiment in list(part):  # each value as the loop reaches it (never changed before)
                si = part.index(sentiment)
                # compare the position of the value found (not of the current one) with the "but"
                if where[si] < bi:
                    part[si] = sentiment * 0.5
                elif where[si] > bi:
                    part[si] = sentiment * 1.5
            values[a:b] = part
        return values

    def _valences(
        self,
        H: np.ndarray,
        ids: np.ndarray,
        cols: dict[str, np.ndarray],
        code: np.ndarray,
        in_lex: np.ndarray,
        upper: np.ndarray,
        row: np.ndarray,
        t_start: np.ndarray,
        t_end: np.ndarray,
        cap_diff_text: np.ndarray,
    ) -> np.ndarray:
        """``sentiment_valence`` of the lexicon words at flat positions ``H``: each rule a ``where`` over all of
        them, the neighbours read at fixed offsets within each word's own text (``valid``)."""
        if len(H) == 0:
            return np.zeros(0)
        N = len(ids)
        lo, hi = t_start[row[H]], t_end[H]
        valid = {off: (H + off >= lo) & (H + off < hi) for off in (-3, -2, -1, 1, 2)}
        valid[0] = np.ones(len(H), dtype=bool)

        def nb(arr: np.ndarray, off: int, fill: Any) -> np.ndarray:
            # indices before the batch's start or past its end are held at its ends: outside the word's text, masked
            at = np.maximum(H + off, 0) if off <= 0 else np.minimum(H + off, N - 1)
            return np.where(valid[off], arr[at], fill)

        c = self._codes
        cd = {off: nb(code, off, 0) for off in (-3, -2, -1, 0, 1, 2)}
        lex_nb = {off: nb(in_lex, off, False) for off in (-3, -2, -1, 1)}
        n_scalar, c_incr = self.n_scalar, self.c_incr
        cap = cap_diff_text[row[H]]
        base = cols["valence"][ids[H]]
        v = np.where((cd[0] == c["no"]) & lex_nb[1], 0.0, base)
        no_before = (
            (cd[-1] == c["no"])
            | (cd[-2] == c["no"])
            | ((cd[-3] == c["no"]) & ((cd[-1] == c["or"]) | (cd[-1] == c["nor"])))
        )
        v = np.where(no_before, base * n_scalar, v)
        v = np.where(cap & upper[H], np.where(v > 0, v + c_incr, v - c_incr), v)
        booster = cols["booster"][ids]
        is_booster = cols["is_booster"][ids]
        negated = cols["negated"][ids]
        so_this_1 = (cd[-1] == c["so"]) | (cd[-1] == c["this"])
        for k in (1, 2, 3):
            b = nb(booster, -k, 0.0)
            s = np.where(v < 0, b * -1, b)
            s = np.where(nb(upper, -k, False) & cap, np.where(v > 0, s + c_incr, s - c_incr), s)
            s = np.where(nb(is_booster, -k, False), s, 0.0)
            if k > 1:
                s = np.where(s != 0, s * (0.95 if k == 2 else 0.9), s)
            nv = v + s
            neg_k = nb(negated, -k, False)
            if k == 1:
                nv = np.where(neg_k, nv * n_scalar, nv)
            elif k == 2:
                never = (cd[-2] == c["never"]) & so_this_1
                doubt = ~never & (cd[-2] == c["without"]) & (cd[-1] == c["doubt"])
                nv = np.where(never, nv * 1.25, np.where(~doubt & neg_k, nv * n_scalar, nv))
            else:
                never = ((cd[-3] == c["never"]) & ((cd[-2] == c["so"]) | (cd[-2] == c["this"]))) | so_this_1
                doubt = ~never & (cd[-3] == c["without"]) & ((cd[-2] == c["doubt"]) | (cd[-1] == c["doubt"]))
                nv = np.where(never, nv * 1.25, np.where(~doubt & neg_k, nv * n_scalar, nv))
                nv = self._idioms_many(nv, cd)
            v = np.where(valid[-k] & ~lex_nb[-k], nv, v)
        least = (cd[-1] == c["least"]) & ~lex_nb[-1]
        first = valid[-2] & least
        v = np.where(first & (cd[-2] != c["at"]) & (cd[-2] != c["very"]), v * n_scalar, v)
        return np.where(~first & valid[-1] & least, v * n_scalar, v)

    def _idioms_many(self, v: np.ndarray, cd: dict[int, np.ndarray]) -> np.ndarray:
        """``_special_idioms_check``: the codes of a sequence of words, read as one number, index a table of the
        idioms' values (NaN: no idiom). Sequences equal an idiom when every word does (no word holds a space)."""
        n_codes = len(self._codes) + 1

        def value(offsets: tuple[int, ...], tables: dict[int, np.ndarray]) -> np.ndarray | None:
            table = tables.get(len(offsets))
            if table is None:
                return None
            key = cd[offsets[0]].astype(np.int64)
            for off in offsets[1:]:
                key = key * n_codes + cd[off]
            return table[key]

        done = np.zeros(len(v), dtype=bool)
        for offsets in ((-1, 0), (-2, -1, 0), (-2, -1), (-3, -2, -1), (-3, -2)):  # the first that is an idiom
            if (found := value(offsets, self._idiom_tables)) is not None:
                hit = ~np.isnan(found) & ~done
                v = np.where(hit, found, v)
                done |= hit
        for offsets in ((0, 1), (0, 1, 2)):  # then the word with the next one or two (codes are 0 past the end)
            if (found := value(offsets, self._idiom_tables)) is not None:
                v = np.where(np.isnan(found), v, found)
        for offsets in ((-3, -2, -1), (-3, -2), (-2, -1)):  # multi-word boosters add up
            if (found := value(offsets, self._booster_tables)) is not None:
                v = np.where(np.isnan(found), v, v + found)
        return v

    def _negated(self, word: str) -> bool:
        """``negated([word])``: a negation word, or one with ``n't``."""
        word = word.lower()
        return word in self.negate or "n't" in word
