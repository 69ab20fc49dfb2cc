"""2D boxes from the instance mask: tight bounds of each object's visible pixels."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from simgen.sensors.boxes3d import FullExtent, box_corners, full_extent
from simgen.sensors.pixels import InstancePixels
from simgen.sensors.silhouette import MaskWindow


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


def visible_boxes(instance: np.ndarray, labeled_ids: np.ndarray, min_visible_px: int,
                  pixels: InstancePixels | None = None) -> list[VisibleBox]:
    """Boxes of every labeled instance with at least ``min_visible_px`` pixels, in the
    order of ``labeled_ids``. ``pixels``: ``InstancePixels.of(instance, ids)`` for these
    ids or more, when the caller has it already."""
    if pixels is None:
        pixels = InstancePixels.of(instance, labeled_ids)
    boxes = []
    for i in labeled_ids:
        k = pixels.index(int(i))
        if k is None:
            continue  # no pixel
        count = pixels.count(k)
        if count < min_visible_px:
            continue
        boxes.append(VisibleBox(int(i), int(pixels.left[k]), int(pixels.top[k]),
                                int(pixels.right[k]), int(pixels.bottom[k]), count))
    return boxes


@dataclass(frozen=True)
class ObjectLabel:
    """Everything known about one labeled object in one camera's frame.

    ``status`` is ``labeled`` (it passes the labelling rule and gets a box in the
    annotations), ``below_rule`` (visible, but too few pixels or too small a visible
    fraction) or ``hidden`` (in the
    view but no pixel of it visible: it gets no box, never a ghost one). ``visible`` is the
    tight box of its visible pixels (None when hidden); ``full`` its full-extent box.
    The 3D box is given in the world frame and in the camera frame (OpenCV axes): centre,
    rotation (columns are the object's x forward, y left, z up) and size.
    """

    instance_id: int
    status: str
    visible: VisibleBox | None
    full: FullExtent
    size_m: np.ndarray
    centre_world_m: np.ndarray
    rotation_world: np.ndarray
    centre_cam_m: np.ndarray
    rotation_cam: np.ndarray
    unoccluded_px: int  # pixels it would cover if nothing hid it (its own geometry)
    visible_fraction: float  # visible pixels / unoccluded pixels
    occluders: tuple[int, ...]  # instance ids hiding part of it, most pixels first


@dataclass(frozen=True)
class LabelRule:
    """Which visible objects become labels: enough visible pixels and enough of the
    object visible (visible pixels over the pixels it would cover unoccluded)."""

    min_visible_px: int = 20
    min_visible_fraction: float = 0.0


#: An occluder must hide at least this share of an object's unoccluded pixels (and at
#: least ``MIN_OCCLUDER_PX``) to be listed.
MIN_OCCLUDER_SHARE = 0.02
MIN_OCCLUDER_PX = 3


def object_labels(instance: np.ndarray, poses: dict[int, tuple[np.ndarray, np.ndarray]],
                  sizes: dict[int, np.ndarray], K: np.ndarray, cam_to_world: np.ndarray,
                  near_m: float, rule: LabelRule,
                  unoccluded: Callable[[int], MaskWindow],
                  pixels: InstancePixels | None = None) -> list[ObjectLabel]:
    """Labels of every object in ``poses`` (instance id -> world centre, rotation) that is
    in the view or has visible pixels, in instance id order.

    ``unoccluded(i)`` is the mask (a window of the image) object ``i`` would cover if
    nothing hid it; it gives the visible fraction and the objects in front of it
    (occluders). ``pixels``: ``InstancePixels.of(instance, ids)`` for every id of
    ``poses``, when the caller has it already.
    """
    height, width = instance.shape
    ids = np.array(sorted(poses), dtype=np.int64)
    visible = {b.instance_id: b for b in visible_boxes(instance, ids, 1, pixels)}
    world_to_cam = np.linalg.inv(cam_to_world)
    out = []
    for i in ids:
        i = int(i)
        centre, rotation = poses[i]
        full = full_extent(box_corners(centre, rotation, sizes[i]), K, cam_to_world, width,
                           height, near_m)
        box = visible.get(i)
        if full is None and box is None:
            continue  # outside the view
        if full is None:  # seen although its box is not in view: a box smaller than the body
            full = FullExtent((box.x0, box.y0, box.x1, box.y1),
                              (box.x0, box.y0, box.x1, box.y1), 0.0)
        mask = unoccluded(i)
        whole = mask.count()
        seen = box.pixels if box is not None else 0
        # Edge pixels can differ by a pixel or two between renderer and rasterizer.
        fraction = min(seen / whole, 1.0) if whole > 0 else (1.0 if seen else 0.0)
        others = mask.of(instance)
        counts = np.bincount(others[others != i], minlength=1)
        counts[0] = 0  # background is not an occluder
        floor = max(MIN_OCCLUDER_PX, MIN_OCCLUDER_SHARE * whole)
        occluders = tuple(int(j) for j in np.argsort(-counts, kind="stable")
                          if counts[j] >= floor)
        if box is None:
            status = "hidden"
        elif box.pixels >= rule.min_visible_px and fraction >= rule.min_visible_fraction:
            status = "labeled"
        else:
            status = "below_rule"
        out.append(ObjectLabel(
            instance_id=i, status=status, visible=box, full=full, size_m=sizes[i],
            centre_world_m=centre, rotation_world=rotation,
            centre_cam_m=world_to_cam[:3, :3] @ centre + world_to_cam[:3, 3],
            rotation_cam=world_to_cam[:3, :3] @ rotation, unoccluded_px=whole,
            visible_fraction=fraction, occluders=occluders))
    return out
