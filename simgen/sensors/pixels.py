"""Where each object's pixels are in an instance image, found in one pass.

Boxes, visible pixel counts and per-object visibility all need, for each id, its pixels'
rows and columns. ``InstancePixels`` sorts the pixels of the ids asked for by id once
(a radix sort on the 16-bit ids), so each consumer then reads slices.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class InstancePixels:
    """The pixels of some ids of an instance image, grouped by id.

    ``ids`` (sorted) are the ids asked for that have at least one pixel; the pixels of
    ``ids[k]`` are ``rows[starts[k]:starts[k + 1]]`` and the same slice of ``cols``, in
    row-major order. ``top``, ``bottom``, ``left``, ``right`` are each id's box (bottom
    and right exclusive).
    """

    ids: np.ndarray
    starts: np.ndarray  # len(ids) + 1
    rows: np.ndarray
    cols: np.ndarray
    top: np.ndarray
    bottom: np.ndarray
    left: np.ndarray
    right: np.ndarray

    @classmethod
    def of(cls, instance: np.ndarray, ids: Iterable[int]) -> InstancePixels:
        """Group the pixels of ``ids`` (other ids and 0, the background, are left out)."""
        instance = np.asarray(instance)
        width = instance.shape[1]
        flat = instance.ravel()
        top_id = int(flat.max(initial=0))
        wanted = np.zeros(top_id + 2, dtype=bool)
        asked = np.asarray(list(ids), dtype=np.int64)
        asked = asked[(asked > 0) & (asked <= top_id)]
        wanted[asked] = True
        where = np.flatnonzero(wanted[flat])
        labels = flat[where]
        order = np.argsort(labels, kind="stable")  # keeps each id's pixels in image order
        where, labels = where[order], labels[order]
        counts = np.bincount(labels, minlength=top_id + 1)
        present = np.flatnonzero(counts)
        starts = np.concatenate(([0], np.cumsum(counts[present])))
        rows, cols = np.divmod(where, width)
        if present.size:
            first = starts[:-1]
            top = rows[first]  # row-major order: an id's first pixel is on its top row
            bottom = rows[starts[1:] - 1] + 1
            left = np.minimum.reduceat(cols, first)
            right = np.maximum.reduceat(cols, first) + 1
        else:
            top = bottom = left = right = np.zeros(0, dtype=np.intp)
        return cls(present, starts, rows, cols, top, bottom, left, right)

    def index(self, instance_id: int) -> int | None:
        """The position of ``instance_id`` in ``ids``, None when it has no pixel."""
        k = int(np.searchsorted(self.ids, instance_id))
        return k if k < self.ids.size and self.ids[k] == instance_id else None

    def count(self, k: int) -> int:
        """Pixels of ``ids[k]``."""
        return int(self.starts[k + 1] - self.starts[k])

    def pixels(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Rows and columns of the pixels of ``ids[k]``."""
        a, b = self.starts[k], self.starts[k + 1]
        return self.rows[a:b], self.cols[a:b]
