"""Word classes for the entity features, learned from the training text itself (no external corpus): a positive-PMI
co-occurrence matrix reduced with a truncated SVD and clustered with k-means at several granularities, a
Brown-cluster stand-in. Fitted state is plain data (dicts of strings and ints) so a model can be saved as JSON.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from nlpipe.tasks.entities.words import norm

CLUSTER_SIZES = (32, 128, 512)


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
        assigned = []  # per size, each word's cluster
        for k in self.sizes:
            km_cls = KMeans if k <= 128 else MiniBatchKMeans
            km = km_cls(n_clusters=k, random_state=self.seed, n_init=3)
            assigned.append(km.fit_predict(vectors))
        self.classes_ = {w: [int(a[i]) for a in assigned] for i, w in enumerate(vocab)}
        return self

    def to_dict(self) -> dict[str, Any]:
        return {"sizes": list(self.sizes), "classes": self.classes_}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WordClusters:
        obj = cls(sizes=data["sizes"])
        obj.classes_ = {str(k): [int(x) for x in v] for k, v in data["classes"].items()}
        return obj
