"""Weather on surfaces and in the air: wet ground, snow cover, Koschmieder fog.

All functions work in linear RGB on float32 images and modify the image they are given
in place (the pipeline hands them its own working copy). Depth is z-depth in metres,
0 where nothing was hit (sky).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from simgen.effects.colour import channel_scalar
from simgen.effects.geometry import PixelRays, smoothstep, subsampled_rays
from simgen.effects.lighting import sky_radiance
from simgen.sampling.conditions import FogParams, LightingParams, RainParams, SnowParams

#: Koschmieder's constant: ln(1 / 0.02), the 2 % contrast threshold defining visibility.
KOSCHMIEDER_CONSTANT = 3.912
#: World-normal z at which a surface starts / fully counts as facing up.
UPWARD_FROM, UPWARD_FULL = 0.6, 0.8
#: Share of a surface's albedo that full wetness absorbs (water fills the pores).
WET_DARKENING = 0.5
#: Normal-incidence reflectance of a water film (n = 1.33): ((n - 1) / (n + 1))^2.
WATER_F0 = 0.02
#: The wet sheen is evaluated on every this many pixels and upsampled.
SHEEN_GRID_STEP = 4
#: Linear albedo of fresh snow.
SNOW_ALBEDO = 0.9


def fog_transmittance(distance_m, visibility_m):
    """Share of a surface's radiance that reaches the camera through fog (Koschmieder).

    ``t = exp(-beta d)`` with extinction ``beta = 3.912 / V``: at the meteorological
    visibility ``V`` a black target's contrast against the horizon sky has fallen to 2 %.
    Works on floats and arrays (returns the same kind).
    """
    if visibility_m <= 0:
        raise ValueError(f"fog visibility must be positive, got {visibility_m} m")
    beta = KOSCHMIEDER_CONSTANT / visibility_m
    if np.isscalar(distance_m):
        return math.exp(-beta * float(distance_m))
    return np.exp(np.asarray(distance_m, dtype=np.float32) * np.float32(-beta))


def upward_weight(normal_z_world: np.ndarray) -> np.ndarray:
    """How much a surface faces up (0..1): smoothstep of its world normal's z component."""
    return smoothstep(UPWARD_FROM, UPWARD_FULL, normal_z_world)


def apply_wetness(image: np.ndarray, rain: RainParams, upward: np.ndarray,
                  normals_cam: np.ndarray, rays: PixelRays, cam_to_world: np.ndarray,
                  lighting: LightingParams, light_rgb: np.ndarray) -> None:
    """Wet upward-facing surfaces: darker, with a sky-reflecting sheen (in place).

    Water filling a rough surface's pores makes light scatter more inside it before
    leaving, so the diffuse albedo drops: ``albedo x (1 - 0.5 wetness)`` where the surface
    faces up. The water film on top reflects the sky specularly with the Fresnel
    reflectance of water (Schlick's approximation, F0 = 0.02): ``F = F0 + (1 - F0)
    (1 - cos theta)^5`` with theta the angle between the view ray and the normal, so the
    sheen grows towards grazing angles. The reflected radiance is ``sky_radiance`` along
    the mirrored ray (lamps and objects are not reflected). The sheen varies smoothly, so
    ``F x sky`` is evaluated on every ``SHEEN_GRID_STEP``-th pixel and upsampled; the
    wetness weight that multiplies it is per pixel.
    """
    weight = upward * np.float32(rain.wetness)
    if not (weight > 1e-3).any():
        return
    factor = 1 - np.float32(WET_DARKENING) * weight
    weight3 = cv2.merge([weight, weight, weight])
    image *= cv2.merge([factor, factor, factor])
    lo, sl = subsampled_rays(rays, SHEEN_GRID_STEP)
    n = normals_cam[sl]
    inv = 1.0 / lo.norm
    dx, dy, dz = lo.xn * inv, lo.yn * inv, inv
    cos_theta = np.clip(-(dx * n[..., 0] + dy * n[..., 1] + dz * n[..., 2]), 0, 1)
    fresnel = WATER_F0 + (1 - WATER_F0) * (1 - cos_theta) ** 5
    fresnel[~n.any(axis=-1)] = 0.0
    rotation = np.asarray(cam_to_world, dtype=np.float32)[:3, :3]
    mirrored = [d + 2 * cos_theta * n[..., k] for k, d in enumerate((dx, dy, dz))]
    world = [rotation[i, 0] * mirrored[0] + rotation[i, 1] * mirrored[1]
             + rotation[i, 2] * mirrored[2] for i in range(3)]
    sheen_lo = sky_radiance(*world, lighting, light_rgb) * fresnel[..., None]
    height, width = upward.shape
    sheen = cv2.resize(sheen_lo, (width, height), interpolation=cv2.INTER_LINEAR)
    image += weight3 * sheen


def apply_snow_cover(image: np.ndarray, snow: SnowParams, upward: np.ndarray,
                     light_rgb: np.ndarray, lamp_irradiance: np.ndarray | None) -> None:
    """Blend upward-facing surfaces towards lit snow (in place).

    Cover ``a = accumulation x upward`` replaces that share of the surface's albedo by
    snow's (0.9), lit by the same sun/sky light (``light_rgb``) and lamps as the surface:
    ``I = I (1 - a) + 0.9 (light + lamps) a``. Directional shading and shadows in the
    render are kept in the uncovered share only.
    """
    cover = upward * np.float32(snow.accumulation)
    if not (cover > 1e-3).any():
        return
    cover3 = cv2.merge([cover, cover, cover])
    image *= 1 - cover3
    snow_light = channel_scalar(SNOW_ALBEDO * np.asarray(light_rgb, dtype=np.float64))
    if lamp_irradiance is not None:
        snow = cv2.add(lamp_irradiance * np.float32(SNOW_ALBEDO), snow_light)
        image += cover3 * snow
    else:
        image += cv2.multiply(cover3, snow_light)


def apply_fog(image: np.ndarray, distance_m: np.ndarray, sky_mask: np.ndarray, fog: FogParams,
              light_rgb: np.ndarray) -> np.ndarray:
    """Koschmieder fog on linear radiance, in place: ``I = J t + A (1 - t)``.

    ``t = exp(-3.912 d / V)`` with d the distance along each pixel's ray; sky pixels
    (nothing hit) get ``t = 0``. The airlight ``A`` is the fog's colour lit like the
    scene: ``airlight_rgb x scene light x intensity x colour temperature`` (dark at
    night). Returns the per-pixel transmittance (H, W).
    """
    t = fog_transmittance(distance_m, fog.visibility_m)
    t[sky_mask] = 0.0
    airlight = channel_scalar(np.asarray(fog.airlight_rgb, dtype=np.float64) * light_rgb)
    cv2.subtract(image, airlight, dst=image)
    cv2.multiply(image, cv2.merge([t, t, t]), dst=image)
    cv2.add(image, airlight, dst=image)
    return t
