"""Veiling glare and lens-flare ghosts from the sun and bright lamps.

Light from a bright source scatters in the lens (surface haze, dirt, internal
reflections) and adds a veil that falls off with the angle from the source. We use the
Stiles-Holladay form of veiling luminance, ``L_veil = k E / theta^2`` (E the illuminance
the source delivers at the lens, theta the angle from it in degrees, k = 10 for the eye),
with a core angle ``theta_0`` so it stays finite: ``L = strength x 10 x E /
(theta_0^2 + theta^2)``. Inter-reflections between lens elements also form "ghosts":
tinted discs along the line from the source through the image centre.

Units: in our linear radiance units a white surface facing the sun has radiance
``light_rgb`` (scene light x intensity x colour), so the sun's illuminance is
``pi x light_rgb``; a lamp's is ``pi x intensity / d^2``. Glare is computed on every 4th
pixel and upsampled (it is smooth), and added to the image in place.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from simgen.effects.geometry import PixelRays, subsampled_rays
from simgen.effects.lighting import VisibleLight
from simgen.sampling.conditions import GlareParams

#: Stiles-Holladay constant (veiling luminance per illuminance, theta in degrees).
STILES_HOLLADAY_K = 10.0
#: Core angle (deg) below which the veil stops growing.
GLARE_CORE_DEG = 0.3
#: The sun gives glare while it is less than this far (deg) outside the field of view;
#: the veil fades out over the last ``GLARE_FADE_DEG``.
GLARE_REACH_DEG, GLARE_FADE_DEG = 20.0, 5.0
#: Ghosts show while the sun is less than this far outside the field of view (deg).
GHOST_REACH_DEG = 10.0
#: Ghosts: (position along sun -> centre, 1 = centre, 2 = mirror of the sun; radius as a
#: share of the image height; strength per unit sun illuminance; tint).
GHOSTS = (
    (0.45, 0.025, 0.020, (1.0, 0.85, 0.5)),
    (1.35, 0.055, 0.012, (0.45, 1.0, 0.55)),
    (1.75, 0.11, 0.007, (0.6, 0.5, 1.0)),
    (2.25, 0.045, 0.015, (1.0, 0.55, 0.6)),
)
#: Depth of a fog layer between camera and sun (m): the sun's light crossing it is
#: attenuated by exp(-beta x FOG_LAYER_M / sin(elevation)).
FOG_LAYER_M = 100.0
_GRID_STEP = 4


@dataclass(frozen=True)
class SunInView:
    """Where the sun is relative to one camera."""

    direction_cam: np.ndarray  # (3,) unit, camera frame
    u_px: float  # nan when the sun is not in front of the camera
    v_px: float
    in_view: bool  # above the horizon and projecting inside the image
    unoccluded: float  # share of sky around the sun's pixel (1 when outside the image)


def locate_sun(sun_world: np.ndarray, elevation_deg: float, rays: PixelRays,
               cam_to_world: np.ndarray, sky_mask: np.ndarray) -> SunInView:
    """Project the sun into the image and measure how much sky surrounds its pixel."""
    direction = np.asarray(cam_to_world, dtype=np.float64)[:3, :3].T @ sun_world
    K = rays.K
    u = v = float("nan")
    in_view = False
    unoccluded = 1.0
    if direction[2] > 1e-6:
        u = float(K[0, 0] * direction[0] / direction[2] + K[0, 1] * direction[1] / direction[2]
                  + K[0, 2])
        v = float(K[1, 1] * direction[1] / direction[2] + K[1, 2])
        inside = -0.5 <= u < rays.width - 0.5 and -0.5 <= v < rays.height - 0.5
        in_view = inside and elevation_deg > 0
        if inside:
            reach = max(2, int(math.ceil(rays.focal_px * math.tan(math.radians(1.0)))))
            iu, iv = int(round(u)), int(round(v))
            window = sky_mask[max(iv - reach, 0):iv + reach + 1, max(iu - reach, 0):iu + reach + 1]
            unoccluded = float(window.mean())
    return SunInView(direction, u, v, in_view, unoccluded)


def sun_fog_transmittance(elevation_deg: float, visibility_m: float | None) -> float:
    """Transmittance of the sun's light through a ``FOG_LAYER_M`` fog layer (1 without fog)."""
    if visibility_m is None:
        return 1.0
    path = FOG_LAYER_M / max(math.sin(math.radians(elevation_deg)), 0.05)
    return math.exp(-3.912 * path / visibility_m)


def _angle_deg(rays: PixelRays, direction_cam: np.ndarray) -> np.ndarray:
    d = np.asarray(direction_cam, dtype=np.float32)
    d = d / np.linalg.norm(d)
    cos = (rays.xn * d[0] + rays.yn * d[1] + d[2]) / rays.norm
    return np.degrees(np.arccos(np.clip(cos, -1, 1)))


def glare_layer(shape: tuple[int, int], rays: PixelRays, glare: GlareParams, sun: SunInView,
                sun_illuminance_rgb: np.ndarray,
                lamps: Sequence[VisibleLight]) -> np.ndarray | None:
    """Veiling glare and ghosts (H, W, 3) to add to the image, or None when there is none.

    ``sun_illuminance_rgb`` is the sun's illuminance at the lens (0 when it is down),
    already reduced by fog and occlusion. The sun's veil is evaluated from the true angle
    between each pixel's ray and the sun, so a sun just outside the frame veils the edge
    nearest to it; beyond ``GLARE_REACH_DEG`` outside the view there is none. Lamps in
    view get the same veil around their pixel (small-angle approximation).
    """
    height, width = shape
    lo, _ = subsampled_rays(rays, _GRID_STEP)
    layer = np.zeros((lo.height, lo.width, 3), np.float32)
    used = False
    core2 = np.float32(GLARE_CORE_DEG ** 2)
    scale = np.float32(glare.strength * STILES_HOLLADAY_K)
    if float(np.max(sun_illuminance_rgb)) > 0 and glare.strength > 0:
        angle = _angle_deg(lo, sun.direction_cam)
        outside = float(angle.min())  # ~0 when the sun is in the frame
        fade = float(np.clip((GLARE_REACH_DEG - outside) / GLARE_FADE_DEG, 0, 1))
        if fade > 0:
            veil = (scale * fade) / (core2 + angle * angle)
            for c in range(3):
                layer[..., c] += veil * np.float32(sun_illuminance_rgb[c])
            used = True
        if outside < GHOST_REACH_DEG and np.isfinite(sun.u_px):
            _draw_ghosts(layer, lo, sun, glare.strength * (1 - outside / GHOST_REACH_DEG),
                         sun_illuminance_rgb)
    for lamp in lamps:
        illuminance = math.pi * np.asarray(lamp.irradiance_rgb, dtype=np.float32)
        if glare.strength <= 0 or float(illuminance.max()) * scale / (core2 + 1.0) < 1e-3:
            continue
        uu = (np.arange(lo.width, dtype=np.float32) * _GRID_STEP + _GRID_STEP // 2) - lamp.u_px
        vv = (np.arange(lo.height, dtype=np.float32) * _GRID_STEP + _GRID_STEP // 2) - lamp.v_px
        r2 = vv[:, None] ** 2 + uu[None, :] ** 2
        angle2 = r2 * np.float32((180 / math.pi / rays.focal_px) ** 2)
        veil = scale / (core2 + angle2)
        for c in range(3):
            layer[..., c] += veil * illuminance[c]
        used = True
    if not used:
        return None
    return cv2.resize(layer, (width, height), interpolation=cv2.INTER_LINEAR)


def _draw_ghosts(layer: np.ndarray, lo: PixelRays, sun: SunInView, strength: float,
                 sun_illuminance_rgb: np.ndarray) -> None:
    """Add tinted, soft ghost discs along the line from the sun through the image centre."""
    centre = np.array([(lo.width - 1) / 2, (lo.height - 1) / 2])
    sun_lo = (np.array([sun.u_px, sun.v_px]) - _GRID_STEP // 2) / _GRID_STEP
    ghosts = np.zeros_like(layer)
    for position, radius_share, gain, tint in GHOSTS:
        p = sun_lo + position * (centre - sun_lo)
        radius = max(1, int(round(radius_share * lo.height)))
        colour = strength * gain * np.asarray(tint) * sun_illuminance_rgb
        cv2.circle(ghosts, (int(round(p[0] * 8)), int(round(p[1] * 8))), radius * 8,
                   tuple(float(c) for c in colour), -1, cv2.LINE_8, shift=3)
    layer += cv2.GaussianBlur(ghosts, (0, 0), 1.0)
