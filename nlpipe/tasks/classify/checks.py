"""The checks of :class:`~nlpipe.tasks.classify.model.TextClassifier`'s inputs: texts, label lists, validation
data and parameters, each failure a :class:`~nlpipe.errors.TrainingError` or :class:`~nlpipe.errors.InputError`
whose message names the offending item (the codes are in the README's error catalogue)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeGuard

import numpy as np

from nlpipe.errors import InputError, TrainingError

__all__ = ["check_labels", "check_texts", "check_validation", "is_list_like", "param_error", "two_labels_or_more"]


def param_error(code: str, name: str, must: str, got: object) -> TrainingError:
    return TrainingError(code, f"Parameter {name} must be {must}; got {got!r}.", field=name)


def is_list_like(x: object) -> TypeGuard[Sequence[Any] | np.ndarray]:
    """A list, tuple or array (not a string): what texts and label lists may be given as."""
    return not isinstance(x, str | bytes) and isinstance(x, Sequence | np.ndarray)


def check_texts(texts: object, name: str, error: type[InputError | TrainingError], code: str) -> list[str]:
    """``texts`` as a list, after checking it is a list of strings (``error`` ``code`` otherwise)."""
    if not is_list_like(texts):
        raise error(code, f"{name} must be a list of strings; got {type(texts).__name__}.", field=name)
    out = list(texts)
    for i, t in enumerate(out):
        if not isinstance(t, str):
            raise error(
                code,
                f"{name}[{i}] is {type(t).__name__}, not a string; give one string per text.",
                field=f"{name}[{i}]",
            )
    return out


def check_labels(y: object, n: int, multi_label: bool, name: str) -> list[list[str]]:
    """One sorted, de-duplicated list of labels per text (E301, E303, E304 otherwise)."""
    if not is_list_like(y):
        raise TrainingError(
            "E301", f"{name} must be a list with one list of labels per text; got {type(y).__name__}.", field=name
        )
    if len(y) != n:
        raise TrainingError(
            "E301",
            f"There are {n} texts but {len(y)} label lists in {name}; give exactly one list of labels per text.",
            field=name,
        )
    out: list[list[str]] = []
    for i, labs in enumerate(y):
        if not is_list_like(labs):
            raise TrainingError(
                "E304",
                f"{name}[{i}] is {type(labs).__name__}, not a list of labels; give one "
                "list per text, e.g. [['sports'], ['politics']].",
                field=f"{name}[{i}]",
            )
        labs = list(labs)
        for lab in labs:
            if not isinstance(lab, str) or not lab.strip():
                raise TrainingError(
                    "E304",
                    f"{name}[{i}] holds the label {lab!r}; labels must be non-empty strings.",
                    field=f"{name}[{i}]",
                )
        if not multi_label and len(labs) != 1:
            what = "no label" if not labs else f"{len(labs)} labels ({', '.join(map(repr, labs))})"
            raise TrainingError(
                "E303",
                f"{name}[{i}] has {what}, but single-label training needs exactly one "
                "label per text. Fix or drop that text, or train with multi_label=True.",
                field=f"{name}[{i}]",
            )
        out.append(sorted(set(labs)))
    return out


def two_labels_or_more(lists: list[list[str]]) -> list[str]:
    """The sorted labels of the training data; E302 unless there are at least two."""
    labels = sorted({lab for labs in lists for lab in labs})
    if len(labels) < 2:
        found = f"only the label {labels[0]!r}" if labels else "no labels at all"
        raise TrainingError(
            "E302",
            f"The training data has {found}; a classifier needs texts of at least two different labels.",
            field="y",
        )
    return labels


def check_validation(validation: object, index: dict[str, int], multi: bool) -> tuple[list[str], np.ndarray]:
    """The validation texts that can be scored and their (texts x labels) boolean matrix over the training labels
    ``index``: labels the training data lacks are dropped, and single-label texts left without one (E306 when
    none is left, or ``validation`` is not a pair)."""
    if not isinstance(validation, tuple | list) or len(validation) != 2:
        raise TrainingError(
            "E306",
            f"validation must be a pair (texts, label lists) or None; got {type(validation).__name__}.",
            field="validation",
        )
    v_texts = check_texts(validation[0], "validation texts", TrainingError, "E306")
    v_lists = check_labels(validation[1], len(v_texts), multi, "validation labels")
    keep = []
    for i, labs in enumerate(v_lists):
        known = [lab for lab in labs if lab in index]
        if multi or known:  # single-label rows whose label was never trained on cannot be scored
            keep.append((i, known))
    if not keep:
        raise TrainingError(
            "E306",
            "No validation text has a label that occurs in the training data; give "
            "validation texts labeled like the training texts, or validation=None.",
            field="validation",
        )
    Y = np.zeros((len(keep), len(index)), dtype=bool)
    for r, (_, known) in enumerate(keep):
        Y[r, [index[lab] for lab in known]] = True
    return [v_texts[i] for i, _ in keep], Y
