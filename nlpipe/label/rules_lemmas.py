"""How ``lemma`` matching of rules files finds lemmas: spaCy's English lookup table when spacy-lookups-data is
installed, else nlpipe's suffix rules (see :mod:`nlpipe.label.rules` for the ``lemmas`` option)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from nlpipe.errors import ConfigError


def suffix_lemma(word: str) -> str:
    """A lower-cased stem made by stripping regular English endings; applied to text and patterns alike.

    "refunds", "refunded", "refunding" -> "refund"; "charge", "charges", "charged" -> "charg";
    "deliveries" -> "delivery"; "cancelled" -> "cancel". Irregular forms are left alone.
    """
    w = word.lower()
    if len(w) > 4 and w.endswith(("ies", "ied")):
        w = w[:-3] + "y"
    elif w.endswith(("sses", "xes", "ches", "shes", "zzes")):
        w = w[:-2]
    elif len(w) > 3 and w.endswith("s") and not w.endswith(("ss", "us", "is")):
        w = w[:-1]
    elif len(w) > 5 and w.endswith("ing"):
        w = w[:-3]
    elif len(w) > 4 and w.endswith("ed"):
        w = w[:-2]
    if len(w) > 3 and w[-1] == w[-2] and w[-1] not in "aeiouy":
        w = w[:-1]
    if len(w) > 3 and w.endswith("e") and not w.endswith("ee"):
        w = w[:-1]
    return w


@functools.lru_cache(maxsize=1)
def _lookup_table() -> Any:
    """spaCy's English lemma lookup table (read once per process from spacy-lookups-data)."""
    from spacy.lookups import load_lookups

    return load_lookups("en", ["lemma_lookup"]).get_table("lemma_lookup")


def lemma_function(source: str = "auto") -> tuple[Callable[[str], str], str]:
    """``(word -> lower-cased lemma, name of the source)``: spaCy's lookup table, or the suffix rules."""
    if source in ("auto", "lookup"):
        try:
            table = _lookup_table()
        except Exception as exc:  # spacy-lookups-data not installed: its registry entry is missing
            if source == "lookup":
                raise ConfigError(
                    "E712",
                    f'lemmas = "lookup" needs spaCy\'s lookup tables ({type(exc).__name__}); install the '
                    'package spacy-lookups-data, or use lemmas = "suffix"',
                    field="options.lemmas",
                ) from None
        else:

            def lookup(word: str) -> str:
                low = word.lower()
                return str(table.get(low) or table.get(word) or low).lower()

            return lookup, "spaCy lookup table (spacy-lookups-data)"
    return suffix_lemma, "suffix rules"
