"""3D boxes of objects and their full-extent 2D boxes in a camera.

Pixel coordinates follow ``simgen.sensors.camera``: ``K`` maps to coordinates whose
integers are pixel centres. 2D boxes are returned in the pixel-edge convention of the
visible boxes (``x0`` is the left edge of the leftmost pixel, the image spans
``[0, width] x [0, height]``), as floats.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: The 12 edges of a box, as index pairs into ``box_corners``'s 8 corners.
_EDGES = ((0, 1), (2, 3), (4, 5), (6, 7), (0, 2), (1, 3), (4, 6), (5, 7),
          (0, 4), (1, 5), (2, 6), (3, 7))


def box_corners(centre: np.ndarray, rotation: np.ndarray, size: np.ndarray) -> np.ndarray:
    """The 8 corners (8, 3) of a box: corner ``k`` has signs (bit 2, bit 1, bit 0) of
    (+-x, +-y, +-z) along the box's axes (the columns of ``rotation``)."""
    signs = np.array([[(k >> 2) & 1, (k >> 1) & 1, k & 1] for k in range(8)], float) * 2 - 1
    return centre + (signs * (np.asarray(size) / 2)) @ rotation.T


@dataclass(frozen=True)
class FullExtent:
    """An object's full-extent 2D box: its 3D box projected, then clipped to the image.

    ``box`` is (x0, y0, x1, y1) clipped to the image; ``unclipped`` is the projection
    before clipping (of the part in front of the near plane); ``truncation`` is the share
    of ``unclipped``'s area outside the image.
    """

    box: tuple[float, float, float, float]
    unclipped: tuple[float, float, float, float]
    truncation: float


def full_extent(corners_world: np.ndarray, K: np.ndarray, cam_to_world: np.ndarray,
                width: int, height: int, near_m: float) -> FullExtent | None:
    """Project a box's corners into a camera; None when no part of it is in the view.

    A box crossing the near plane is clipped against it first (its visible part is the
    convex hull of the corners in front and the points where its edges cross the plane),
    so boxes partly behind the camera still get their true extent.
    """
    world_to_cam = np.linalg.inv(cam_to_world)
    cam = corners_world @ world_to_cam[:3, :3].T + world_to_cam[:3, 3]
    front = cam[:, 2] >= near_m
    if not front.any():
        return None
    points = [cam[front]]
    for a, b in _EDGES:
        if front[a] != front[b]:  # the edge crosses the near plane: add the crossing
            t = (near_m - cam[a, 2]) / (cam[b, 2] - cam[a, 2])
            points.append((cam[a] + t * (cam[b] - cam[a]))[None])
    pts = np.concatenate(points)
    u = K[0, 0] * pts[:, 0] / pts[:, 2] + K[0, 2] + 0.5  # to pixel-edge coordinates
    v = K[1, 1] * pts[:, 1] / pts[:, 2] + K[1, 2] + 0.5
    unclipped = (float(u.min()), float(v.min()), float(u.max()), float(v.max()))
    x0, y0 = max(unclipped[0], 0.0), max(unclipped[1], 0.0)
    x1, y1 = min(unclipped[2], float(width)), min(unclipped[3], float(height))
    if x1 <= x0 or y1 <= y0:
        return None
    area = (unclipped[2] - unclipped[0]) * (unclipped[3] - unclipped[1])
    inside = (x1 - x0) * (y1 - y0)
    truncation = 1.0 - inside / area if area > 0 else 0.0
    return FullExtent((x0, y0, x1, y1), unclipped, float(min(max(truncation, 0.0), 1.0)))
