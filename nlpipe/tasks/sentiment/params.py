"""What :class:`~nlpipe.tasks.sentiment.model.SentimentModel` accepts, checked before any work: its parameters
(E350, E356-E361), the texts (E362 when training, E425 when predicting), and the labels, categories or scores
0..N of a scale (E351, E352, E362), turned into label indices.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from nlpipe.errors import NlpipeError, TrainingError

#: Largest ordinal scale N (scores 0..N), as in AutoML.
MAX_SCALE = 10

#: Candidates the search knows: SVM regularisation C and the power of the naive-Bayes scaling of the n-grams.
CANDIDATES: dict[str, dict[str, Any]] = {
    "nbsvm_lexicon": {"C": 0.3, "nb_power": 0.5},
    "svm_lexicon": {"C": 0.3, "nb_power": 0.0},
}
DEFAULT_CANDIDATES: tuple[str, ...] = ("nbsvm_lexicon", "svm_lexicon")


def _param_error(code: str, name: str, must: str, got: object) -> TrainingError:
    return TrainingError(code, f"Parameter {name} must be {must}; got {got!r}.", field=name)


def check_params(params: Mapping[str, Any]) -> tuple[str, ...]:
    """Refuse a parameter of the model (``get_params()``) out of range; the candidates to search, in order."""
    sc: int | None = params["scale"]
    bad_scale = isinstance(sc, bool) or not isinstance(sc, numbers.Integral) or not 1 <= sc <= MAX_SCALE
    if sc is not None and bad_scale:
        raise _param_error("E350", "scale", f"None or an integer from 1 to {MAX_SCALE}", sc)
    tb: float = params["time_budget"]
    if isinstance(tb, bool) or not isinstance(tb, numbers.Real) or not math.isfinite(tb) or tb <= 0:
        raise _param_error("E356", "time_budget", "a positive, finite number of seconds", tb)
    sd: int = params["seed"]
    if isinstance(sd, bool) or not isinstance(sd, numbers.Integral) or not 0 <= sd < 2**32:
        raise _param_error("E357", "seed", "an integer between 0 and 2**32 - 1", sd)
    cands = DEFAULT_CANDIDATES if params["candidates"] is None else params["candidates"]
    if (
        isinstance(cands, str)
        or not isinstance(cands, Sequence)
        or not cands
        or any(c not in CANDIDATES for c in cands)
        or len(set(cands)) != len(cands)
    ):
        raise _param_error("E358", "candidates", f"None or distinct names from {sorted(CANDIDATES)}", cands)
    lw: float = params["lexicon_weight"]
    if isinstance(lw, bool) or not isinstance(lw, numbers.Real) or not math.isfinite(lw) or lw < 0:
        raise _param_error("E359", "lexicon_weight", "a finite number >= 0", lw)
    if params["class_weight"] not in (None, "balanced"):
        raise _param_error("E360", "class_weight", "'balanced' or None", params["class_weight"])
    vf: float = params["validation_fraction"]
    if isinstance(vf, bool) or not isinstance(vf, numbers.Real) or not 0.0 < vf <= 0.5:
        raise _param_error("E361", "validation_fraction", "a number in (0, 0.5]", vf)
    return tuple(cands)


def check_text_list(texts: object, name: str, error: type[NlpipeError], code: str) -> list[str]:
    """``texts`` as a list, refusing anything but a sequence of strings with ``error(code, ...)``."""
    if isinstance(texts, str | bytes) or not isinstance(texts, Sequence | np.ndarray):
        raise error(code, f"{name} must be a list of strings; got {type(texts).__name__}.", field=name)
    out = list(texts)
    if set(map(type, out)) <= {str}:  # the usual case, without an isinstance call per text
        return out
    for i, t in enumerate(out):
        if not isinstance(t, str):
            raise error(code, f"{name}[{i}] is {type(t).__name__}, not a string.", field=f"{name}[{i}]")
    return out


def scale_indices(
    labels: Sequence[object], scale: int, *, where: str = "labels", require_all: bool = True
) -> np.ndarray:
    """The integer score of each label on the scale 0..``scale``, checking every label is one of ``"0"``..``"N"``
    (E351) and (``require_all``) every score of the scale occurs (E352)."""
    allowed = {str(k): k for k in range(scale + 1)}
    bad = sorted({str(lab) for lab in labels if str(lab) not in allowed or isinstance(lab, bool)})
    if bad:
        shown = ", ".join(repr(b) for b in bad[:10]) + (" ..." if len(bad) > 10 else "")
        raise TrainingError(
            "E351",
            f"{where} holds {len(bad)} value(s) that are not scores on the scale 0..{scale}: {shown}. On a scale "
            f"every label must be one of the strings '0'..'{scale}'; fix the labels or the --scale.",
            field=where,
        )
    y = np.array([allowed[str(lab)] for lab in labels], dtype=np.int64)
    if not require_all:
        return y
    counts = np.bincount(y, minlength=scale + 1)
    missing = [str(k) for k in range(scale + 1) if counts[k] == 0]
    if missing:
        raise TrainingError(
            "E352",
            f"{where} has no example of score(s) {', '.join(missing)} of the scale 0..{scale}; every score must "
            f"occur. Label examples of them, or train with a smaller --scale.",
            field=where,
        )
    return y


def encode_labels(
    labels: object, n: int, name: str, classes: list[str] | None, scale: int | None
) -> tuple[np.ndarray, list[str]]:
    """Label indices and the class list; given ``classes`` (validation labels), a label outside them is -1."""
    if isinstance(labels, str | bytes) or not isinstance(labels, Sequence | np.ndarray):
        raise TrainingError("E362", f"{name} must be a list with one label per text; got "
                            f"{type(labels).__name__}.", field=name)  # fmt: skip
    labels = list(labels)
    if len(labels) != n:
        raise TrainingError("E362", f"There are {n} texts but {len(labels)} labels in {name}; give exactly one "
                            "label per text.", field=name)  # fmt: skip
    if scale is not None:
        y = scale_indices(labels, int(scale), where=name, require_all=classes is None)
        return y, [str(k) for k in range(int(scale) + 1)]
    for i, lab in enumerate(labels):
        if not isinstance(lab, str) or not lab.strip():
            raise TrainingError("E362", f"{name}[{i}] is {lab!r}; labels must be non-empty strings (one per "
                                "text).", field=f"{name}[{i}]")  # fmt: skip
    classes = classes if classes is not None else sorted(set(labels))
    index = {c: j for j, c in enumerate(classes)}
    return np.array([index.get(lab, -1) for lab in labels], dtype=np.int64), classes
