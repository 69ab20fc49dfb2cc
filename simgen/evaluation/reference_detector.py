"""A classical reference detector for the driving scenarios: OpenCV rules, no weights.

It exists so that ``simgen eval`` works out of the box (``--model
simgen.evaluation.reference_detector:detect``) and gives a meaningful baseline. It was
tuned by hand on clear daytime ``driving_urban`` frames only: in clear daylight the
scene's "stuff" (sky, grass, asphalt, sidewalk, poles, lane markings) has a few
near-uniform colours, so the pixels that match none of them are objects. Nothing in it
knows about fog or night; it degrades there because its colour rules, tuned in daylight,
stop holding (fog washes colours towards the grey airlight, far objects first; night
darkens them and dusk tints them, which breaks the grey-road rule altogether).

Pipeline, on a copy resized to ``work_width_px``:

1. Candidate pixels: not stuff-coloured (sky blue, grass green, any neutral grey from
   asphalt to sidewalk; above the horizon, anything close to its row's median colour,
   which is the sky whatever its colour) or bright white in blobs at least 3 px wide and
   brighter than the rest of their row (white vehicles, not thin lane lines, nor the
   fog-brightened road near the horizon); thin yellow lane lines removed.
2. A morphological closing joins an object's parts (body, windows, wheels).
3. Connected components become boxes. With a flat road and the camera at
   ``camera_height_m`` above it, an object standing at image row ``v`` below the horizon
   row ``v_h`` is at a distance where one pixel spans ``camera_height_m / (v - v_h)``
   metres, so each box gets a metric height and width; the class follows from those,
   the box's aspect ratio and its colours (orange cones, brown boxes, red-and-white
   barriers).
4. Score: the component's fill ratio of its box times a size term, so large solid blobs
   rank above small ragged ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

#: One detection: COCO box ``(x, y, w, h)`` in pixels (x, y the top-left pixel edge),
#: class name and score in [0, 1].
Detection = tuple[tuple[float, float, float, float], str, float]

#: The classes the detector can output (a subset of driving_urban's categories).
CLASS_NAMES = ("car", "van", "pedestrian", "traffic_cone", "barrier", "box")

#: Rendered grass colour in clear daylight, 8-bit sRGB.
_GRASS_RGB = np.array([42, 63, 30], np.int16)


@dataclass(frozen=True)
class DetectorParams:
    """Tuning of the reference detector, chosen on clear daytime driving_urban frames."""

    #: Width of the resized copy the detector works on (speed vs small objects).
    work_width_px: int = 320
    #: Horizon row as a fraction of the image height (the scenario's camera looks
    #: slightly down, at a point 20 m ahead).
    horizon_frac: float = 0.47
    #: Camera height above the road, for the flat-ground size estimate.
    camera_height_m: float = 1.5
    #: Largest per-channel spread (8-bit) of a "neutral grey" pixel.
    neutral_chroma: int = 22
    #: Darkest neutral pixel counted as asphalt; darker ones are tyres, windows, shadows.
    min_stuff_level: int = 26
    #: Brightest-channel level from which a neutral pixel is white paint or bodywork.
    white_level: int = 190
    #: Closing kernel (width, height) in work pixels that joins an object's parts.
    close_kernel_px: tuple[int, int] = (5, 3)
    #: Smallest component, in work pixels.
    min_area_px: int = 4
    #: Smallest share of its box a component must fill (diagonal lines fill little).
    min_fill: float = 0.3
    #: How much brighter (8-bit) than its row's median a white object pixel is.
    white_margin: int = 40
    #: Largest per-channel difference (8-bit) from its row's median colour of a sky pixel.
    sky_tolerance: int = 12
    #: Component area (work pixels) from which the size term of the score is 1.
    full_score_area_px: float = 150.0


DEFAULT_PARAMS = DetectorParams()


def _work_image(rgb: np.ndarray, params: DetectorParams) -> np.ndarray:
    """The image resized to ``work_width_px`` wide, as int16 RGB."""
    height_px, width_px = rgb.shape[:2]
    work_h = max(1, round(height_px * params.work_width_px / width_px))
    small = cv2.resize(rgb, (params.work_width_px, work_h), interpolation=cv2.INTER_AREA)
    return small.astype(np.int16)


def candidate_mask(small: np.ndarray, params: DetectorParams = DEFAULT_PARAMS) -> np.ndarray:
    """Object-candidate pixels (uint8 0/1) of an int16 RGB work image, before closing."""
    r, g, b = small[..., 0], small[..., 1], small[..., 2]
    level = small.max(axis=2)
    chroma = level - small.min(axis=2)
    neutral = chroma < params.neutral_chroma
    sky = (b > r + 20) & (b >= g) & (level > 140) & (chroma * 2 < level)
    grass = np.abs(small - _GRASS_RGB).max(axis=2) < 14
    # Above the horizon, whatever matches its row's own median colour is sky, whatever
    # its colour: grey in fog, dark at night, orange at dusk.
    horizon = int(params.horizon_frac * small.shape[0])
    above = small[:horizon]
    row_sky = np.median(above, axis=1, keepdims=True)
    sky_like = np.zeros(level.shape, bool)
    sky_like[:horizon] = np.abs(above - row_sky).max(axis=2) < params.sky_tolerance
    stuff = sky | sky_like | grass | (neutral & (level >= params.min_stuff_level))
    mask = (~stuff).astype(np.uint8)
    # White: vehicles, but also lane paint; keep only blobs at least 3 px across.
    # ... brighter than the rest of its row (fog makes the far road as bright as paint)
    brighter = level > np.median(level, axis=1, keepdims=True) + params.white_margin
    white = (neutral & (level >= params.white_level) & brighter & ~sky_like).astype(np.uint8)
    mask |= cv2.morphologyEx(white, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    # Yellow centre lines are thin; yellow cars survive a 4x4 opening.
    yellow = ((np.abs(r - g) < 25) & (b * 2 < r) & (r > 110)).astype(np.uint8)
    thin_yellow = yellow & ~cv2.morphologyEx(yellow, cv2.MORPH_OPEN, np.ones((4, 4), np.uint8))
    return mask & ~thin_yellow


def _classify(height_m: float, width_m: float, aspect: float, orange: float, brown: float,
              red: float) -> str | None:
    """Class of a component from its metric size, height/width ratio and colour shares."""
    if orange > 0.3 and height_m < 1.2:
        return "traffic_cone"
    if brown > 0.4 and height_m < 0.9:
        return "box"
    if aspect > 1.5 and 1.2 < height_m < 2.3:
        return "pedestrian"
    if red > 0.15 and height_m < 1.2 and aspect > 0.5:
        return "barrier"
    if height_m > 1.8 and width_m > 1.2:
        return "van"
    if height_m > 0.6 and width_m > 0.8:
        return "car"
    return None


def detect(rgb: np.ndarray, params: DetectorParams = DEFAULT_PARAMS) -> list[Detection]:
    """Detect objects in one RGB uint8 image (H, W, 3); boxes are COCO ``(x, y, w, h)`` px."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an RGB uint8 image (H, W, 3), got {rgb.dtype} {rgb.shape}")
    height_px, width_px = rgb.shape[:2]
    small = _work_image(rgb, params)
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, params.close_kernel_px)
    mask = cv2.morphologyEx(candidate_mask(small, params), cv2.MORPH_CLOSE, kernel)
    work_h, work_w = mask.shape
    sx, sy = width_px / work_w, height_px / work_h
    horizon_row = params.horizon_frac * work_h

    r, g, b = small[..., 0], small[..., 1], small[..., 2]
    orange = (r > 150) & (g > 40) & (g < 130) & (b < 70)
    brown = (r > 90) & (r < 180) & (g * 10 > 6 * r) & (g * 20 < 17 * r) & (b * 20 < 13 * r)
    red = (r > 100) & (g * 2 < r) & (b * 2 < r)

    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    detections: list[Detection] = []
    for k in range(1, count):
        x, y, w, h, area = (int(v) for v in stats[k])
        bottom = y + h
        # Objects stand on the road: their bottom lies below the horizon.
        if area < params.min_area_px or bottom <= horizon_row + 1:
            continue
        fill = area / (w * h)
        if fill < params.min_fill:
            continue
        metres_per_px = params.camera_height_m / (bottom - horizon_row)
        height_m, width_m = h * metres_per_px, w * metres_per_px
        if not 0.2 <= height_m <= 4.0:
            continue
        own = labels[y:bottom, x:x + w] == k
        cls = _classify(height_m, width_m, h / w,
                        float(orange[y:bottom, x:x + w][own].mean()),
                        float(brown[y:bottom, x:x + w][own].mean()),
                        float(red[y:bottom, x:x + w][own].mean()))
        if cls is None:
            continue
        score = fill * min(1.0, area / params.full_score_area_px) ** 0.5
        box = (x * sx, y * sy, min(w * sx, width_px - x * sx), min(h * sy, height_px - y * sy))
        detections.append((box, cls, float(score)))
    return detections
