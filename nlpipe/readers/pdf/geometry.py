"""Page space -> display space (pdfminer's coordinates: origin top-left of the media box, y down, ``/Rotate``
applied), for single rectangles and for arrays of characters on pages of different rotations."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["TOL", "Frame", "to_display", "rotate_matrix", "per_rotation"]

TOL = 3.0  # pdfplumber's default x_tolerance / y_tolerance


@dataclass
class Frame:
    """Page space -> display space (origin top-left, y down, ``/Rotate`` applied), as pdfminer's CTM does it."""

    box: tuple[float, float, float, float]
    rot: int

    @property
    def size(self) -> tuple[float, float]:
        x0, y0, x1, y1 = self.box
        return (y1 - y0, x1 - x0) if self.rot in (90, 270) else (x1 - x0, y1 - y0)

    def rect(self, left: Any, bottom: Any, right: Any, top: Any) -> tuple[Any, Any, Any, Any]:
        """(x0, x1, top, bottom) in display space of page-space rectangles (scalars or arrays)."""
        return to_display(self.rot, self.box, left, bottom, right, top)


def to_display(rot: int, box: Any, left: Any, bottom: Any, right: Any, top: Any) -> tuple[Any, Any, Any, Any]:
    """(x0, x1, top, bottom) in display space of page-space rectangles on a page with media box ``box`` turned by
    ``rot`` degrees."""
    x0m, y0m, x1m, y1m = box
    if rot == 90:
        return bottom - y0m, top - y0m, left - x0m, right - x0m
    if rot == 180:
        return x1m - right, x1m - left, bottom - y0m, top - y0m
    if rot == 270:
        return y1m - top, y1m - bottom, x1m - right, x1m - left
    return left - x0m, right - x0m, y1m - top, y1m - bottom


def rotate_matrix(rot: int, a: Any, b: Any, c: Any, d: Any) -> tuple[Any, Any, Any, Any]:
    """A character matrix's (a, b, c, d) after a page rotation of ``rot`` degrees."""
    if rot == 90:
        return b, -a, d, -c
    if rot == 180:
        return -a, -b, -c, -d
    if rot == 270:
        return -b, a, -d, c
    return a, b, c, d


def per_rotation(rot: np.ndarray, fn: Any, *arrays: np.ndarray, kinds: list[int]) -> tuple[np.ndarray, ...]:
    """Apply ``fn(rot, *arrays)`` per rotation value, for arrays whose elements have different rotations.

    ``kinds``: the rotations that may occur (the batch's pages'), so one rotation needs no look at ``rot``."""
    if len(kinds) == 1:
        return tuple(np.asarray(v) for v in fn(kinds[0], *arrays))
    outs = [np.empty(len(rot), dtype=np.float64) for _ in range(4)]
    for r in np.unique(rot).tolist():
        sel = rot == r
        for out, v in zip(outs, fn(int(r), *(x[sel] for x in arrays)), strict=True):
            out[sel] = v
    return tuple(outs)
