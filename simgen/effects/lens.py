"""Dirt and water droplets on the lens: a pattern fixed for an episode, applied per frame.

Dirt smudges sit on the front element, far out of focus: they absorb a little light and
scatter light from bright parts of the scene (sun, sky, lamps) over the area they cover.
A water droplet is a small, strongly curved lens of its own: it shows an inverted,
minified image of the scene around it, blurred (it is out of focus), with a dark rim
where its steep edge refracts light out of the aperture.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from simgen.sampling.conditions import LensParams

#: Smudge radius range as a share of the image diagonal.
DIRT_RADIUS_SHARE = (0.03, 0.10)
#: Share of light a fully opaque smudge absorbs.
DIRT_ATTENUATION = 0.25
#: Linear radiance above which the scene counts as bright enough to scatter visibly.
DIRT_SCATTER_THRESHOLD = 0.7
#: Scattered light added per unit of (blurred) bright light inside a smudge.
DIRT_SCATTER_GAIN = 2.0
#: Droplet radius range as a share of the image diagonal, and how many times wider the
#: area it shows is than itself (inverted).
DROPLET_RADIUS_SHARE = (0.01, 0.035)
DROPLET_VIEW_SCALE = (1.5, 3.0)
#: Darkening at a droplet's rim.
DROPLET_RIM_DARKENING = 0.6


@dataclass(frozen=True)
class Droplet:
    """One droplet, prepared for its image box: sampling maps and blend weights."""

    box: tuple[slice, slice]
    map_u: np.ndarray  # (h, w) float32 source columns (inverted, minified view)
    map_v: np.ndarray
    cover: np.ndarray  # (h, w, 3) float32: 1 inside the droplet, anti-aliased edge, 0 outside
    transmit: np.ndarray  # (h, w, 3) float32: 1 - rim darkening
    blur_sigma_px: float
    centre_px: tuple[float, float]
    radius_px: float


class LensPattern:
    """The dirt mask and droplets of one camera's lens for one episode."""

    def __init__(self, lens: LensParams, width: int, height: int, rng: np.random.Generator):
        """Draw the pattern: smudges until ``lens.dirt`` of the lens is covered on average,
        and ``lens.droplets`` droplets, all from ``rng``."""
        self.width, self.height = width, height
        self.dirt = _dirt_mask(lens.dirt, width, height, rng) if lens.dirt > 0 else None
        self.droplets = [_droplet(width, height, rng) for _ in range(int(lens.droplets))]

    def apply(self, image: np.ndarray) -> None:
        """Apply dirt (attenuation + scatter), then droplets, to ``image`` in place."""
        if self.dirt is not None:
            _apply_dirt(image, self.dirt)
        for drop in self.droplets:
            patch = image[drop.box]
            seen = cv2.remap(image, drop.map_u, drop.map_v, cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_REFLECT)
            seen = cv2.GaussianBlur(seen, (0, 0), drop.blur_sigma_px)
            patch += drop.cover * (seen * drop.transmit - patch)


def _dirt_mask(dirt: float, width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """Soft smudge opacity (H, W) in 0..1.

    Random discs of radius r cover a share ``1 - exp(-n pi E[r^2] / A)`` of an area A, so
    n is chosen to make that ``dirt``. Each smudge is an ellipse of random aspect, angle
    and opacity (0.4-1), drawn at quarter resolution and blurred.
    """
    diag = math.hypot(width, height)
    r_lo, r_hi = (s * diag for s in DIRT_RADIUS_SHARE)
    mean_r2 = (r_lo * r_lo + r_lo * r_hi + r_hi * r_hi) / 3
    share = min(dirt, 0.98)
    count = int(math.ceil(-math.log(1 - share) * width * height / (math.pi * mean_r2)))
    sw, sh = max(width // 4, 1), max(height // 4, 1)
    canvas = np.zeros((sh, sw), np.float32)
    for _ in range(count):
        cx, cy = rng.uniform(0, sw), rng.uniform(0, sh)
        r = rng.uniform(r_lo, r_hi) / 4
        aspect = rng.uniform(0.5, 1.0)
        angle = rng.uniform(0, 180)
        opacity = rng.uniform(0.4, 1.0)
        blob = np.zeros_like(canvas)
        cv2.ellipse(blob, (int(cx * 16), int(cy * 16)), (int(r * 16), int(r * aspect * 16)),
                    angle, 0, 360, float(opacity), -1, cv2.LINE_8, shift=4)
        np.maximum(canvas, blob, out=canvas)
    canvas = cv2.GaussianBlur(canvas, (0, 0), max(r_lo / 4 * 0.5, 1.0))
    return cv2.resize(canvas, (width, height), interpolation=cv2.INTER_LINEAR)


def _apply_dirt(image: np.ndarray, mask: np.ndarray) -> None:
    height, width = mask.shape
    small = cv2.resize(image, (max(width // 8, 1), max(height // 8, 1)),
                       interpolation=cv2.INTER_AREA)
    bright = np.maximum(small - np.float32(DIRT_SCATTER_THRESHOLD), 0)
    sigma = 0.04 * math.hypot(width, height) / 8
    scattered = cv2.resize(cv2.GaussianBlur(bright, (0, 0), sigma), (width, height),
                           interpolation=cv2.INTER_LINEAR)
    mask3 = cv2.merge([mask, mask, mask])
    image *= 1 - np.float32(DIRT_ATTENUATION) * mask3
    image += np.float32(DIRT_SCATTER_GAIN) * mask3 * scattered


def _droplet(width: int, height: int, rng: np.random.Generator) -> Droplet:
    diag = math.hypot(width, height)
    cu, cv_ = rng.uniform(0, width - 1), rng.uniform(0, height - 1)
    radius = rng.uniform(*DROPLET_RADIUS_SHARE) * diag
    scale = rng.uniform(*DROPLET_VIEW_SCALE)
    reach = int(math.ceil(radius + 1))
    u0, u1 = max(int(cu) - reach, 0), min(int(cu) + reach + 2, width)
    v0, v1 = max(int(cv_) - reach, 0), min(int(cv_) + reach + 2, height)
    yy, xx = np.mgrid[v0:v1, u0:u1].astype(np.float32)
    dist = np.hypot(xx - cu, yy - cv_)
    cover = np.clip(radius + 0.5 - dist, 0, 1).astype(np.float32)
    rim = DROPLET_RIM_DARKENING * np.exp(-(((dist - 0.85 * radius) / (0.15 * radius)) ** 2))
    transmit = (1 - rim).astype(np.float32)
    map_u = np.clip(cu - (xx - cu) * scale, 0, width - 1).astype(np.float32)
    map_v = np.clip(cv_ - (yy - cv_) * scale, 0, height - 1).astype(np.float32)
    return Droplet((slice(v0, v1), slice(u0, u1)), map_u, map_v,
                   cv2.merge([cover, cover, cover]), cv2.merge([transmit] * 3),
                   max(0.08 * radius, 0.5), (float(cu), float(cv_)), float(radius))
