"""The seeded, stratified train/test split an import draws for documents whose records name no split.

Which documents go to the test split depends only on their texts (as SHA-256 digests), each one's smallest label
and the seed: not on the batches an import writes them in, nor on the database.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict

import numpy as np


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _test_positions(n: int, stratum: str, test_fraction: float, seed: int) -> np.ndarray:
    """Which of a stratum's ``n`` members (in the order of their keys) go to the test split."""
    rng = np.random.default_rng([seed, int(sha256_text(stratum)[:8], 16)])
    order = rng.permutation(n)
    n_test = int(round(n * test_fraction))
    if n >= 2:
        n_test = min(max(n_test, 1), n - 1)
    return order[:n_test]


def seeded_split(keys: list[str], strata: list[str], test_fraction: float, seed: int) -> dict[str, str]:
    """Stratified train/test assignment that depends only on the keys, their strata and the seed.

    Within each stratum the keys are sorted and a permutation seeded by (seed, stratum) picks the test share.
    An import draws the same split from the SHA-256 digests of its texts (the keys, as hex) and each
    document's smallest label (the stratum) without building these lists: :func:`draw_splits`.
    """
    by_stratum: dict[str, list[str]] = defaultdict(list)
    for k, s in zip(keys, strata, strict=True):
        by_stratum[s].append(k)
    out: dict[str, str] = {}
    for stratum in sorted(by_stratum):
        members = sorted(by_stratum[stratum])
        test = set(_test_positions(len(members), stratum, test_fraction, seed).tolist())
        for i, key in enumerate(members):
            out[key] = "test" if i in test else "train"
    return out


def draw_splits(
    digests: np.ndarray, strata: np.ndarray, names: list[str], test_fraction: float, seed: int
) -> np.ndarray:
    """:func:`seeded_split` over arrays: ``digests`` (n x 32 bytes, SHA-256 of the texts), ``strata`` (index into
    ``names``, -1 for no label) -> True where the document goes to the test split.

    Sorting the raw digests orders them as their hex strings sort, so the result is the one
    ``seeded_split([hex digests], [stratum names], ...)`` gives.
    """
    is_test = np.zeros(len(strata), dtype=bool)
    if not len(strata):
        return is_test
    words = np.ascontiguousarray(digests).view(">u8")  # four big-endian 64-bit words per digest
    by_key = np.lexsort((words[:, 3], words[:, 2], words[:, 1], words[:, 0]))
    codes = strata[by_key]
    for code in np.unique(codes):
        stratum = names[code] if code >= 0 else ""
        members = by_key[codes == code]  # this stratum's documents, in key order
        is_test[members[_test_positions(len(members), stratum, test_fraction, seed)]] = True
    return is_test
