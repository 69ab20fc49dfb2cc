"""2D boxes from the instance mask: tight bounds of each object's visible pixels."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class VisibleBox:
    """Tight box around an instance's visible pixels, in pixel-edge coordinates.

    ``x0, y0`` is the top-left corner of the top-left pixel, ``x1, y1`` the bottom-right
    corner of the bottom-right pixel, so ``w = x1 - x0`` counts pixels (COCO's convention).
    """

    instance_id: int
    x0: int
    y0: int
    x1: int
    y1: int
    pixels: int

    @property
    def xywh(self) -> list[int]:
        """COCO ``[x, y, w, h]``."""
        return [self.x0, self.y0, self.x1 - self.x0, self.y1 - self.y0]


def visible_boxes(instance: np.ndarray, labeled_ids: np.ndarray, min_visible_px: int):
    """Boxes of every labeled instance with at least ``min_visible_px`` pixels, by id."""
    n_ids = int(instance.max()) + 1
    counts = np.bincount(instance.ravel(), minlength=n_ids)
    wanted = [int(i) for i in labeled_ids if i < n_ids and counts[i] >= min_visible_px]
    if not wanted:
        return []
    h, w = instance.shape
    # Per-id extents in one pass over rows and one over columns.
    rows_present = np.zeros((n_ids, h), dtype=bool)
    cols_present = np.zeros((n_ids, w), dtype=bool)
    rr, cc = np.nonzero(np.isin(instance, wanted))
    ids = instance[rr, cc]
    rows_present[ids, rr] = True
    cols_present[ids, cc] = True
    boxes = []
    for i in wanted:
        ys = np.flatnonzero(rows_present[i])
        xs = np.flatnonzero(cols_present[i])
        boxes.append(VisibleBox(i, int(xs[0]), int(ys[0]), int(xs[-1]) + 1, int(ys[-1]) + 1,
                                int(counts[i])))
    return boxes
