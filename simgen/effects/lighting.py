"""Sun, sky and artificial light: the scene's light level and colour, the sky, lamps.

PyBullet already shades the render with a directional light from
``renderer_light_direction`` (so sun-facing surfaces and cast shadows are in the image);
this stage sets the level and colour of that light, paints the sky, and adds artificial
lights (headlights, street lamps) that PyBullet cannot render.

Units: images are linear RGB relative radiance with the camera white-balanced for a
6500 K blackbody; 1.0 is the brightness of a white surface in full daylight at the
camera's daytime exposure. World frame: z up, metres.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from simgen.effects.colour import colour_temperature_rgb
from simgen.effects.geometry import (
    PixelRays,
    camera_normals,
    subsampled_rays,
    upsample_depth_aware,
)
from simgen.errors import did_you_mean
from simgen.sampling.conditions import TIMES_OF_DAY, LightingParams, PointLight


@dataclass(frozen=True)
class ExposureResponse:
    """How much light the scene gets at a time of day and the camera's analogue gain.

    ``scene_light`` is the recorded brightness of sun- and sky-lit surfaces relative to
    day after the camera's auto-exposure has done what it can (exposure time and aperture
    have limits, so dusk and night stay darker); ``gain`` is the analogue gain the camera
    used to get there, which multiplies the sensor noise (see ``sensor.py``).
    """

    scene_light: float
    gain: float


EXPOSURE_BY_TIME_OF_DAY: dict[str, ExposureResponse] = {
    "day": ExposureResponse(scene_light=1.0, gain=1.0),
    "dusk": ExposureResponse(scene_light=0.4, gain=4.0),
    "night": ExposureResponse(scene_light=0.08, gain=16.0),
}

#: Sun elevation (degrees) below which PyBullet's light comes from a fixed high direction.
RENDERER_SUN_MIN_ELEVATION_DEG = 3.0
#: Elevation (degrees) of that fixed "moon / sky" light.
RENDERER_SKY_LIGHT_ELEVATION_DEG = 60.0

#: Closest distance (m) used in a lamp's inverse-square law (a lamp is not a point).
LAMP_MIN_DISTANCE_M = 0.5
#: A lamp is ignored beyond the distance where it adds less than this to a white surface.
LAMP_CUTOFF = 0.002
#: Artificial light is computed on every ``LAMP_GRID_STEP``-th pixel and upsampled.
LAMP_GRID_STEP = 4
#: The spot's edge: full intensity inside this share of the cone's half-angle.
SPOT_INNER_SHARE = 0.7
#: Apparent size of a lamp's emitting surface (m) and its drawn core radiance.
LAMP_EMITTER_SIZE_M = 0.12
LAMP_EMITTER_RADIANCE = 20.0


def exposure_response(time_of_day: str) -> ExposureResponse:
    """The ``ExposureResponse`` of a time of day ("day", "dusk" or "night")."""
    try:
        return EXPOSURE_BY_TIME_OF_DAY[time_of_day]
    except KeyError:
        raise ValueError(f"unknown time of day {time_of_day!r}; expected one of "
                         f"{TIMES_OF_DAY}{did_you_mean(time_of_day, TIMES_OF_DAY)}") from None


def scene_light_rgb(lighting: LightingParams) -> np.ndarray:
    """Per-channel factor (3,) on sun- and sky-lit radiance: scene_light x intensity x colour."""
    level = exposure_response(lighting.time_of_day).scene_light * lighting.intensity
    return (level * colour_temperature_rgb(lighting.colour_temperature_k)).astype(np.float32)


def _direction(azimuth_deg: float, elevation_deg: float) -> np.ndarray:
    az, el = math.radians(azimuth_deg), math.radians(elevation_deg)
    return np.array([math.cos(el) * math.cos(az), math.cos(el) * math.sin(az), math.sin(el)])


def sun_direction(lighting: LightingParams) -> np.ndarray:
    """Unit vector (3,) towards the sun in the world frame.

    ``(cos el cos az, cos el sin az, sin el)`` with the azimuth measured in the ground
    plane from world +x towards +y.
    """
    return _direction(lighting.sun_azimuth_deg, lighting.sun_elevation_deg)


def renderer_light_direction(lighting: LightingParams) -> tuple[float, float, float]:
    """Direction towards the light for PyBullet's ``lightDirection`` (world frame).

    The sun while it is above ``RENDERER_SUN_MIN_ELEVATION_DEG``; below that (dusk, night)
    a fixed high "moon / sky" light at the sun's azimuth and an elevation of
    ``RENDERER_SKY_LIGHT_ELEVATION_DEG``, so that surfaces are shaded from above rather
    than by a sun grazing the ground or under it.
    """
    elevation = lighting.sun_elevation_deg
    if elevation < RENDERER_SUN_MIN_ELEVATION_DEG:
        elevation = RENDERER_SKY_LIGHT_ELEVATION_DEG
    return tuple(float(c) for c in _direction(lighting.sun_azimuth_deg, elevation))


# --- Sky ----------------------------------------------------------------------------
# Sky radiance under a 6500 K illuminant at the horizon, at ~17 deg and at the zenith,
# before scene_light x intensity x colour temperature. The light's colour temperature
# then tints it: with the default dusk temperature (3200 K) the dusk row becomes orange
# at the horizon, purple higher up and dark blue overhead; with the night default
# (8000 K) the night row a dark blue.
_SKY_RADIANCE = {
    "day": ((0.62, 0.72, 0.88), (0.30, 0.45, 0.80), (0.12, 0.25, 0.65)),
    "dusk": ((0.62, 0.52, 0.50), (0.19, 0.20, 1.20), (0.04, 0.09, 0.80)),
    "night": ((0.13, 0.14, 0.21), (0.07, 0.08, 0.15), (0.045, 0.06, 0.12)),
}
_SKY_MIDDLE_KNOT = 0.55  # in sqrt(sin(elevation)): the middle colour sits at ~17.5 deg
#: Forward-scattering aureole around the sun: peak added radiance and angular scale (deg).
_AUREOLE_PEAK, _AUREOLE_SCALE_DEG = 0.6, 8.0
#: At dusk, the horizon glows brighter towards the sun's azimuth by up to this factor.
_DUSK_GLOW = 1.0
#: The sun's disc: angular radius (deg) and radiance (saturates the camera).
SUN_DISC_RADIUS_DEG, SUN_DISC_RADIANCE = 0.27, 40.0


def sky_radiance(dx: np.ndarray, dy: np.ndarray, dz: np.ndarray, lighting: LightingParams,
                 light_rgb: np.ndarray) -> np.ndarray:
    """Linear radiance (..., 3) of the sky seen along world directions (dx, dy, dz).

    The directions must be unit vectors (z up). The colour is a gradient in
    ``sqrt(sin(elevation))`` from the horizon through ~17 deg to the zenith (table by
    time of day), plus a forward-scattering aureole around the sun when it is up and, at
    dusk, a horizon glow towards the sun's azimuth. Rays below the horizon see the
    horizon colour. The whole is scaled by ``light_rgb`` (scene light x intensity x
    colour temperature). The sun's disc is drawn separately (``draw_sun_disc``).
    """
    horizon, middle, zenith = (np.asarray(c, np.float32) for c in _SKY_RADIANCE[
        lighting.time_of_day])
    h = np.sqrt(np.clip(dz, 0, 1)).astype(np.float32)
    t_low = np.clip(h / _SKY_MIDDLE_KNOT, 0, 1)[..., None]
    t_high = np.clip((h - _SKY_MIDDLE_KNOT) / (1 - _SKY_MIDDLE_KNOT), 0, 1)[..., None]
    sun = sun_direction(lighting).astype(np.float32)
    horizon_term = horizon
    if lighting.time_of_day == "dusk":
        horiz_len = np.hypot(dx, dy) * math.hypot(sun[0], sun[1]) + 1e-6
        cos_az = (dx * sun[0] + dy * sun[1]) / horiz_len
        glow = (0.5 * (1 + cos_az)) ** 3
        horizon_term = horizon * (1 + _DUSK_GLOW * (glow - 0.5))[..., None]
    colour = (horizon_term + (middle - horizon_term) * t_low) * (1 - t_high) + zenith * t_high
    if lighting.sun_elevation_deg > -2.0:
        cos_sun = np.clip(dx * sun[0] + dy * sun[1] + dz * sun[2], -1, 1)
        angle_deg = np.degrees(np.arccos(cos_sun))
        fade = np.clip((lighting.sun_elevation_deg + 2.0) / 4.0, 0, 1)
        aureole = (fade * _AUREOLE_PEAK) * np.exp(-angle_deg / _AUREOLE_SCALE_DEG)
        colour = colour + aureole[..., None].astype(np.float32)
    return (colour * light_rgb).astype(np.float32)


def _world_rays(rays: PixelRays, rotation: np.ndarray):
    r = rotation.astype(np.float32)
    inv = 1.0 / rays.norm
    return tuple((r[i, 0] * rays.xn + r[i, 1] * rays.yn + r[i, 2]) * inv for i in range(3))


def paint_sky(image: np.ndarray, sky_mask: np.ndarray, rays: PixelRays,
              cam_to_world: np.ndarray, lighting: LightingParams,
              light_rgb: np.ndarray) -> None:
    """Replace ``image``'s sky pixels (in place) by ``sky_radiance`` along their rays.

    The smooth gradient is evaluated on a grid of every 4th pixel and upsampled; the
    sun's disc is drawn at full resolution.
    """
    if not sky_mask.any():
        return
    height, width = sky_mask.shape
    lo, _ = subsampled_rays(rays, 4)
    dirs = _world_rays(lo, np.asarray(cam_to_world)[:3, :3])
    sky_lo = sky_radiance(*dirs, lighting, light_rgb)
    sky_full = cv2.resize(sky_lo, (width, height), interpolation=cv2.INTER_LINEAR)
    cv2.copyTo(sky_full, sky_mask.view(np.uint8), image)
    draw_sun_disc(image, sky_mask, rays, cam_to_world, lighting, light_rgb)


def draw_sun_disc(image: np.ndarray, sky_mask: np.ndarray, rays: PixelRays,
                  cam_to_world: np.ndarray, lighting: LightingParams,
                  light_rgb: np.ndarray, transmittance: float = 1.0) -> None:
    """Draw the sun's disc (anti-aliased, ``SUN_DISC_RADIANCE``) on sky pixels, in place.

    Seen through fog of ``transmittance`` t the disc adds ``t (sun - I)`` to what is there
    (the airlight): ``I = sun t + A (1 - t)``.
    """
    if lighting.sun_elevation_deg < -SUN_DISC_RADIUS_DEG:
        return
    sun_cam = np.asarray(cam_to_world)[:3, :3].T @ sun_direction(lighting)
    if sun_cam[2] <= 0.05:
        return
    K = rays.K
    u = K[0, 0] * sun_cam[0] / sun_cam[2] + K[0, 1] * sun_cam[1] / sun_cam[2] + K[0, 2]
    v = K[1, 1] * sun_cam[1] / sun_cam[2] + K[1, 2]
    radius_px = max(rays.focal_px * math.tan(math.radians(SUN_DISC_RADIUS_DEG)), 0.7)
    height, width = sky_mask.shape
    reach = int(math.ceil(radius_px + 2))
    u0, u1 = max(int(u) - reach, 0), min(int(u) + reach + 1, width)
    v0, v1 = max(int(v) - reach, 0), min(int(v) + reach + 1, height)
    if u0 >= u1 or v0 >= v1:
        return
    yy, xx = np.mgrid[v0:v1, u0:u1].astype(np.float32)
    cover = np.clip(radius_px + 0.5 - np.hypot(xx - u, yy - v), 0, 1) * sky_mask[v0:v1, u0:u1]
    patch = image[v0:v1, u0:u1]
    disc = (SUN_DISC_RADIANCE * light_rgb).astype(np.float32)
    patch += (np.float32(transmittance) * cover)[..., None] * (disc - patch)


# --- Artificial lights --------------------------------------------------------------


def lamp_range_m(light: PointLight) -> float:
    """Distance beyond which ``light`` adds less than ``LAMP_CUTOFF`` to a white surface."""
    brightest = light.intensity * float(colour_temperature_rgb(light.colour_temperature_k).max())
    return max(math.sqrt(max(brightest, 0.0) / LAMP_CUTOFF), LAMP_MIN_DISTANCE_M)


def _spot_cosines(light: PointLight) -> tuple[float, float]:
    half = math.radians(min(max(light.cone_half_angle_deg, 0.1), 179.0))
    return math.cos(half), math.cos(SPOT_INNER_SHARE * half)


def _spot_falloff(cos_angle, cos_outer, cos_inner):
    t = np.clip((cos_angle - cos_outer) / np.maximum(cos_inner - cos_outer, 1e-6), 0, 1)
    return t * t * (3 - 2 * t)


def _to_camera(point_world, cam_to_world: np.ndarray) -> np.ndarray:
    r, t = cam_to_world[:3, :3], cam_to_world[:3, 3]
    return r.T @ (np.asarray(point_world, dtype=np.float64) - t)


def _dot3(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, 3) x (3, L) -> (N, L) without BLAS (whose threads fight over busy cores)."""
    out = a[:, 0:1] * b[0]
    term = np.empty_like(out)
    for k in (1, 2):
        np.multiply(a[:, k:k + 1], b[k], out=term)
        out += term
    return out


def artificial_irradiance(depth_m: np.ndarray, rays: PixelRays, cam_to_world: np.ndarray,
                          lights: Sequence[PointLight]) -> np.ndarray | None:
    """Light (H, W, 3) that lamps add per unit albedo, or None when none reaches the view.

    For each lamp: ``colour x intensity x max(0, n.l) x spot_falloff / max(d, 0.5 m)^2``,
    with n the surface normal from the depth, l the unit vector to the lamp and d its
    distance; a spot's falloff is a smoothstep from its cone's half-angle to
    ``SPOT_INNER_SHARE`` of it. No occlusion between the lamp and the surface is traced.
    Computed on every ``LAMP_GRID_STEP``-th pixel and upsampled (bilinear, nearest-depth
    across depth edges: ``upsample_depth_aware``); lamps whose
    range (``lamp_range_m``) misses the bounding box of the visible surface are skipped.
    All lamps are evaluated together: the dot products with lamp positions and spot axes
    are one matrix product each.
    """
    if not lights:
        return None
    lo, sl = subsampled_rays(rays, LAMP_GRID_STEP)
    z = np.ascontiguousarray(depth_m[sl], dtype=np.float32)
    valid = z > 0
    if not valid.any():
        return None
    points = np.stack([z * lo.xn, z * lo.yn, z], axis=-1)[valid]  # (N, 3) camera frame
    box_lo, box_hi = points.min(axis=0), points.max(axis=0)
    cam_to_world = np.asarray(cam_to_world, dtype=np.float64)
    rotation = cam_to_world[:3, :3]
    kept = []
    for light in lights:
        if light.intensity <= 0:
            continue
        pos = _to_camera(light.position_m, cam_to_world)
        gap = np.maximum(np.maximum(box_lo - pos, pos - box_hi), 0.0)
        if float(np.linalg.norm(gap)) <= lamp_range_m(light):
            kept.append((light, pos))
    if not kept:
        return None
    positions = np.array([pos for _, pos in kept], dtype=np.float32).T  # (3, L)
    colours = np.array([light.intensity * colour_temperature_rgb(light.colour_temperature_k)
                        for light, _ in kept], dtype=np.float32)  # (L, 3)
    normals = camera_normals(z, lo)[valid]  # (N, 3)
    # l = pos - P:  n.l = n.pos - n.P ;  |l|^2 = |pos|^2 - 2 P.pos + |P|^2
    n_dot_p = np.einsum("ij,ij->i", normals, points)[:, None]
    p_dot_p = np.einsum("ij,ij->i", points, points)[:, None]
    weight = _dot3(normals, positions)
    weight -= n_dot_p  # n.l
    d2 = _dot3(points, positions)
    d2 *= -2
    d2 += p_dot_p
    d2 += np.sum(positions * positions, axis=0)[None, :]
    np.maximum(d2, np.float32(1e-12), out=d2)
    inv_d = np.sqrt(d2)
    np.divide(1, inv_d, out=inv_d)
    np.maximum(weight, 0, out=weight)
    weight *= inv_d  # max(0, n.l) with l a unit vector
    np.maximum(d2, np.float32(LAMP_MIN_DISTANCE_M ** 2), out=d2)
    weight /= d2
    spots = [k for k, (light, _) in enumerate(kept) if light.direction is not None]
    if spots:
        axes = np.array([rotation.T @ np.asarray(kept[k][0].direction, dtype=np.float64)
                         for k in spots])
        axes /= np.maximum(np.linalg.norm(axes, axis=1, keepdims=True), 1e-12)
        axes = axes.astype(np.float32).T  # (3, S)
        spot_pos = positions[:, spots]
        # cos(angle between the spot's axis and the lamp -> surface direction)
        cos_angle = _dot3(points, axes) - np.sum(axes * spot_pos, axis=0)[None, :]
        cos_angle *= inv_d[:, spots]
        cones = np.array([_spot_cosines(kept[k][0]) for k in spots], dtype=np.float32)
        weight[:, spots] *= _spot_falloff(cos_angle, cones[:, 0], cones[:, 1])
    total = np.zeros(z.shape + (3,), dtype=np.float32)
    total[valid] = np.einsum("nl,lc->nc", weight, colours)
    return upsample_depth_aware(total, z, depth_m, LAMP_GRID_STEP)


@dataclass(frozen=True)
class VisibleLight:
    """A lamp whose emitter is in view and not occluded, as drawn in the image."""

    u_px: float
    v_px: float
    distance_m: float
    #: Irradiance (linear RGB, same units as ``PointLight.intensity`` / m^2) the lamp
    #: sends towards the camera: what a lens scatters into a halo.
    irradiance_rgb: tuple[float, float, float]


def draw_light_sources(image: np.ndarray, depth_m: np.ndarray, rays: PixelRays,
                       cam_to_world: np.ndarray, lights: Sequence[PointLight],
                       fog_visibility_m: float | None = None) -> list[VisibleLight]:
    """Draw lamps in front of the camera and not occluded as soft bright spots (in place).

    A lamp is visible when it projects inside the image and the depth at its pixel is 0
    (sky) or beyond the lamp (less a tolerance of 0.3 m + 2 %, since the lamp sits in
    its own fixture). The spot is a Gaussian of radius ``f x 0.12 m / distance``
    (at least 0.8 px) with a core radiance of ``LAMP_EMITTER_RADIANCE`` (saturating) in
    the lamp's colour; a spot lamp seen from outside its cone keeps 10 % of that.
    Through fog of visibility ``fog_visibility_m`` the spot and the returned irradiance
    are attenuated by the fog transmittance over the lamp's distance (Koschmieder).
    """
    cam_to_world = np.asarray(cam_to_world, dtype=np.float64)
    height, width = depth_m.shape
    K = rays.K
    visible: list[VisibleLight] = []
    for light in lights:
        if light.intensity <= 0:
            continue
        pos = _to_camera(light.position_m, cam_to_world)
        if pos[2] <= 0.1:
            continue
        u = K[0, 0] * pos[0] / pos[2] + K[0, 1] * pos[1] / pos[2] + K[0, 2]
        v = K[1, 1] * pos[1] / pos[2] + K[1, 2]
        iu, iv = int(round(u)), int(round(v))
        if not (0 <= iu < width and 0 <= iv < height):
            continue
        scene_z = float(depth_m[iv, iu])
        if scene_z > 0 and scene_z < pos[2] - (0.3 + 0.02 * pos[2]):
            continue
        distance = float(np.linalg.norm(pos))
        facing = 1.0
        if light.direction is not None:
            axis = cam_to_world[:3, :3].T @ np.asarray(light.direction, dtype=np.float64)
            axis /= max(np.linalg.norm(axis), 1e-12)
            cos_angle = float(-(axis @ pos) / max(distance, 1e-9))
            facing = 0.1 + 0.9 * float(_spot_falloff(cos_angle, *_spot_cosines(light)))
        colour = colour_temperature_rgb(light.colour_temperature_k)
        if fog_visibility_m is not None:
            facing *= math.exp(-3.912 * distance / fog_visibility_m)
        sigma = max(rays.focal_px * LAMP_EMITTER_SIZE_M / distance, 0.8) / 1.5
        reach = int(math.ceil(3 * sigma)) + 1
        u0, u1 = max(iu - reach, 0), min(iu + reach + 1, width)
        v0, v1 = max(iv - reach, 0), min(iv + reach + 1, height)
        yy, xx = np.mgrid[v0:v1, u0:u1].astype(np.float32)
        profile = np.exp(-((xx - u) ** 2 + (yy - v) ** 2) / np.float32(2 * sigma * sigma))
        peak = (LAMP_EMITTER_RADIANCE * facing * colour).astype(np.float32)
        image[v0:v1, u0:u1] += profile[..., None] * peak
        irradiance = light.intensity * facing / max(distance, LAMP_MIN_DISTANCE_M) ** 2
        visible.append(VisibleLight(float(u), float(v), distance,
                                    tuple(float(irradiance * c) for c in colour)))
    return visible
