"""Falling rain and snow drawn as depth-tested streaks and flakes in front of the scene.

Each drop or flake is a particle at a random 3D position in a near volume of the camera
frustum; during the exposure it moves relative to the camera (its fall minus the
camera's own velocity), and the projection of that motion is its streak. Particles are
grouped into depth bins and each bin is drawn with one ``cv2.polylines`` call (a flake is
a thick, short polyline: a disc smeared by its motion), blurred, and composited only
where the scene is farther than the bin. Images are linear RGB float32, modified in place.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from simgen.effects.colour import channel_scalar
from simgen.effects.geometry import PixelRays
from simgen.sampling.conditions import RainParams, SnowParams

#: Marshall & Palmer (1948) drop size distribution N(D) = N0 exp(-Lambda D):
#: N0 in m^-3 mm^-1, Lambda = 4.1 R^-0.21 mm^-1 with R in mm/h.
MP_N0 = 8000.0
#: Drops smaller than this (mm) are not drawn.
RAIN_MIN_DIAMETER_MM = 1.0
#: Near volume of the frustum holding drawn drops (z-depth, m).
RAIN_NEAR_M, RAIN_FAR_M = 0.5, 6.0
#: A drop is drawn only where it is at least this wide in the image (pixels): narrower
#: drops blur into the background haze instead of reading as streaks.
RAIN_MIN_WIDTH_PX = 0.4
#: Most streaks drawn per frame (reached only in very heavy rain on large images).
RAIN_MAX_STREAKS = 3000
#: Depth bins for drawing and depth-testing streaks (m).
RAIN_BINS_M = (0.5, 1.0, 2.0, 3.5, 6.0)
#: Opacity of a streak at 1 m; it falls as (1 m / z)^0.7 with depth.
RAIN_ALPHA_AT_1M = 0.4
#: Share of the frustum's width and height added on each side so streaks enter from outside.
FRUSTUM_MARGIN = 0.1

#: Heavy snowfall (intensity 1) is the flake density that alone would cut the
#: meteorological visibility to this (m), with each flake extinguishing twice its area.
SNOW_HEAVY_VISIBILITY_M = 500.0
SNOW_NEAR_M, SNOW_FAR_M = 0.5, 15.0
#: Flakes are drawn where they are at least this wide in the image (pixels).
SNOW_MIN_WIDTH_PX = 1.0
SNOW_MAX_FLAKES = 4000
SNOW_BINS_M = (0.5, 0.8, 1.2, 2.0, 3.5, 6.0, 10.0, 15.0)
SNOW_FALL_SPEED_MPS = 1.0
SNOW_DRIFT_MPS = 0.3  # standard deviation of each flake's horizontal drift
SNOW_ALPHA = 0.85


@dataclass(frozen=True)
class Particles:
    """Drawn particles: pixel endpoints of their streaks, z-depths and widths (px)."""

    start_px: np.ndarray  # (N, 2)
    end_px: np.ndarray  # (N, 2)
    z_m: np.ndarray  # (N,)
    width_px: np.ndarray  # (N,)

    @property
    def count(self) -> int:
        """Number of particles."""
        return int(self.z_m.size)

    def mean_length_px(self) -> float:
        """Mean streak length in pixels (0 when there are none)."""
        if self.count == 0:
            return 0.0
        return float(np.linalg.norm(self.end_px - self.start_px, axis=1).mean())


def marshall_palmer_lambda(rate_mm_per_h: float) -> float:
    """Slope Lambda (mm^-1) of the Marshall-Palmer drop size distribution at a rain rate."""
    return 4.1 * rate_mm_per_h ** -0.21


def drop_fall_speed_mps(diameter_mm: np.ndarray) -> np.ndarray:
    """Terminal fall speed of raindrops (Atlas, Srivastava & Sekhon 1973): 9.65 - 10.3 e^-0.6D."""
    return np.maximum(9.65 - 10.3 * np.exp(-0.6 * diameter_mm), 0.1)


def _frustum_area_factor(rays: PixelRays) -> float:
    """Cross-section area of the (margin-grown) frustum at z per z^2 (m^2 / m^2)."""
    K = rays.K
    grow = (1 + 2 * FRUSTUM_MARGIN) ** 2
    return rays.width / K[0, 0] * rays.height / K[1, 1] * grow


def _depth_in_volume(rng: np.random.Generator, z_near: float, z_far: np.ndarray) -> np.ndarray:
    """Depths uniformly distributed in frustum volume (density ~ z^2) on [z_near, z_far]."""
    u = rng.random(np.shape(z_far))
    return np.cbrt(z_near ** 3 + u * (z_far ** 3 - z_near ** 3))


def _streaks(rng, rays: PixelRays, z, velocity_cam: np.ndarray, exposure_s: float, width_m):
    """Place particles at depths ``z`` uniformly across the frustum and project their motion
    (camera-frame velocity (N, 3)) during the exposure, centred on the frame's instant."""
    n = z.size
    K = rays.K
    margin_u, margin_v = FRUSTUM_MARGIN * rays.width, FRUSTUM_MARGIN * rays.height
    u = rng.uniform(-0.5 - margin_u, rays.width - 0.5 + margin_u, n)
    v = rng.uniform(-0.5 - margin_v, rays.height - 0.5 + margin_v, n)
    yn = (v - K[1, 2]) / K[1, 1]
    xn = (u - K[0, 2] - K[0, 1] * yn) / K[0, 0]
    centre = np.stack([xn * z, yn * z, z], axis=1)
    half = velocity_cam * (0.5 * exposure_s)
    p0, p1 = centre - half, centre + half
    # Keep both ends in front of the camera: cut the segment where it crosses z = 0.2 m.
    for a, b in ((p0, p1), (p1, p0)):
        behind = a[:, 2] < 0.2
        if behind.any():
            s = (0.2 - a[behind, 2]) / (b[behind, 2] - a[behind, 2])
            a[behind] = a[behind] + s[:, None] * (b[behind] - a[behind])

    def project(p):
        x, y = p[:, 0] / p[:, 2], p[:, 1] / p[:, 2]
        return np.stack([K[0, 0] * x + K[0, 1] * y + K[0, 2], K[1, 1] * y + K[1, 2]], axis=1)

    return Particles(project(p0), project(p1), z, rays.focal_px * width_m / z)


def _empty() -> Particles:
    return Particles(np.zeros((0, 2)), np.zeros((0, 2)), np.zeros(0), np.zeros(0))


def _relative_velocity_cam(particle_world: np.ndarray, camera_velocity_world,
                           rotation: np.ndarray) -> np.ndarray:
    """Camera-frame velocities (N, 3) of particles moving at ``particle_world`` (N, 3)."""
    relative = particle_world - np.asarray(camera_velocity_world, dtype=np.float64)[None, :]
    return relative @ rotation  # R^T v for each row


def sample_rain(rain: RainParams, rays: PixelRays, cam_to_world: np.ndarray,
                camera_velocity_world, exposure_s: float,
                rng: np.random.Generator) -> tuple[Particles, float]:
    """Drops to draw for one frame, and the expected number before the cap.

    Drops follow Marshall-Palmer: ``N(D) dD = 8000 exp(-Lambda D) dD`` per m^3, Lambda =
    4.1 R^-0.21. Only drops of at least ``RAIN_MIN_DIAMETER_MM`` in the near volume
    ``RAIN_NEAR_M``..``RAIN_FAR_M`` of the frustum count, and a drop of diameter D only
    out to the depth where it is still ``RAIN_MIN_WIDTH_PX`` wide (``f D / z``). The
    count is Poisson with that expectation, capped at ``RAIN_MAX_STREAKS``. Each drop
    falls at its terminal speed (Atlas et al. 1973) and moves relative to the camera by
    ``fall - camera velocity``; its streak is that motion during the exposure.
    """
    if rain.rate_mm_per_h <= 0:
        return _empty(), 0.0
    lam = marshall_palmer_lambda(rain.rate_mm_per_h)
    step = 0.05
    diameters = np.arange(RAIN_MIN_DIAMETER_MM, 8.0, step) + step / 2
    z_far = np.clip(rays.focal_px * diameters * 1e-3 / RAIN_MIN_WIDTH_PX, RAIN_NEAR_M,
                    RAIN_FAR_M)
    volume = _frustum_area_factor(rays) * (z_far ** 3 - RAIN_NEAR_M ** 3) / 3
    per_bin = MP_N0 * np.exp(-lam * diameters) * step * volume
    expected = float(per_bin.sum())
    count = min(int(rng.poisson(expected)), RAIN_MAX_STREAKS)
    if count == 0:
        return _empty(), expected
    pick = rng.choice(diameters.size, size=count, p=per_bin / per_bin.sum())
    diameter = diameters[pick] + rng.uniform(-step / 2, step / 2, count)
    z = _depth_in_volume(rng, RAIN_NEAR_M, z_far[pick])
    fall = np.zeros((count, 3))
    fall[:, 2] = -drop_fall_speed_mps(diameter)
    rotation = np.asarray(cam_to_world, dtype=np.float64)[:3, :3]
    velocity = _relative_velocity_cam(fall, camera_velocity_world, rotation)
    return _streaks(rng, rays, z, velocity, exposure_s, diameter * 1e-3), expected


def snow_number_density_m3(snow: SnowParams) -> float:
    """Flakes per m^3: intensity x the density that alone gives 500 m visibility.

    A flake of diameter D extinguishes twice its cross-section (extinction efficiency 2
    for particles much larger than the wavelength), so ``beta = n 2 pi (D/2)^2`` and
    Koschmieder's ``V = 3.912 / beta`` give ``n = 3.912 / (V 2 pi (D/2)^2)``; with V =
    500 m (heavy snowfall) and 6 mm flakes that is ~140 flakes per m^3.
    """
    radius_m = snow.flake_size_mm * 1e-3 / 2
    return snow.intensity * 3.912 / (SNOW_HEAVY_VISIBILITY_M * 2 * math.pi * radius_m ** 2)


def sample_snow(snow: SnowParams, rays: PixelRays, cam_to_world: np.ndarray,
                camera_velocity_world, exposure_s: float,
                rng: np.random.Generator) -> tuple[Particles, float]:
    """Flakes to draw for one frame, and the expected number before the cap.

    Flakes of diameter ``flake_size_mm`` at ``snow_number_density_m3`` fill the frustum
    from ``SNOW_NEAR_M`` out to ``SNOW_FAR_M`` or the depth where a flake is
    ``SNOW_MIN_WIDTH_PX`` wide (``f D / z``), whichever is nearer; the count is Poisson,
    capped at ``SNOW_MAX_FLAKES``. Flakes fall at ~1 m/s with a random horizontal drift,
    and move relative to the camera by that minus the camera's velocity.
    """
    size_m = snow.flake_size_mm * 1e-3
    z_far = min(SNOW_FAR_M, rays.focal_px * size_m / SNOW_MIN_WIDTH_PX)
    if snow.intensity <= 0 or z_far <= SNOW_NEAR_M:
        return _empty(), 0.0
    volume = _frustum_area_factor(rays) * (z_far ** 3 - SNOW_NEAR_M ** 3) / 3
    expected = snow_number_density_m3(snow) * volume
    count = min(int(rng.poisson(expected)), SNOW_MAX_FLAKES)
    if count == 0:
        return _empty(), expected
    z = _depth_in_volume(rng, SNOW_NEAR_M, np.full(count, z_far))
    motion = np.zeros((count, 3))
    motion[:, :2] = rng.normal(0.0, SNOW_DRIFT_MPS, (count, 2))
    motion[:, 2] = -SNOW_FALL_SPEED_MPS
    rotation = np.asarray(cam_to_world, dtype=np.float64)[:3, :3]
    velocity = _relative_velocity_cam(motion, camera_velocity_world, rotation)
    return _streaks(rng, rays, z, velocity, exposure_s, np.full(count, size_m)), expected


def composite_particles(image: np.ndarray, depth_m: np.ndarray, particles: Particles,
                        bins_m, radiance_rgb: np.ndarray, alpha_of_depth,
                        disc: bool) -> None:
    """Draw particles over ``image`` (in place), depth-tested per depth bin.

    Each bin's streaks go into one 8-bit opacity layer with a single anti-aliased
    ``cv2.polylines`` call at the bin's opacity ``alpha_of_depth(z_mid)``; the layer is
    blurred (defocus of near drops, soft flake edges) and kept only where the scene is
    farther than the bin's middle depth (or is sky). Rain streaks are 1 px lines;
    ``disc`` particles (flakes) are thick lines of their projected diameter: discs
    smeared along their motion. Overlapping particles take the larger opacity a, then
    ``I += a (radiance - I)``.
    """
    if particles.count == 0:
        return
    height, width = depth_m.shape
    scene_far = np.where(depth_m > 0, depth_m, np.float32(np.inf))
    coverage = np.zeros((height, width), np.uint8)
    limit = 4.0 * max(width, height)
    for z0, z1 in zip(bins_m[:-1], bins_m[1:], strict=True):
        sel = (particles.z_m >= z0) & (particles.z_m < z1)
        if not sel.any():
            continue
        z_mid = 0.5 * (z0 + z1)
        seg = np.stack([particles.start_px[sel], particles.end_px[sel]], axis=1)
        fixed = np.rint(np.clip(seg, -limit, limit) * 8).astype(np.int32)  # 3 fraction bits
        thickness = max(1, int(round(float(np.median(particles.width_px[sel]))))) if disc else 1
        level = int(round(255 * min(max(alpha_of_depth(z_mid), 0.0), 1.0)))
        layer = np.zeros((height, width), np.uint8)
        cv2.polylines(layer, fixed, False, level, thickness, cv2.LINE_AA, shift=3)
        sigma = max(0.25 * thickness, 0.5) if disc else (0.7 if z_mid < 1.0 else 0.0)
        if sigma > 0:
            layer = cv2.GaussianBlur(layer, (0, 0), sigma)
        farther = cv2.compare(scene_far, z_mid, cv2.CMP_GT)
        cv2.max(coverage, cv2.bitwise_and(layer, farther), dst=coverage)
    alpha = coverage.astype(np.float32)
    alpha *= np.float32(1 / 255)
    alpha3 = cv2.merge([alpha, alpha, alpha])
    image *= 1 - alpha3
    image += cv2.multiply(alpha3, channel_scalar(radiance_rgb))


def rain_alpha(z_m: float) -> float:
    """Opacity of a rain streak at depth ``z_m``: ``RAIN_ALPHA_AT_1M (1 m / z)^0.7``, <= 0.6."""
    return min(0.6, RAIN_ALPHA_AT_1M * (1.0 / z_m) ** 0.7)


def snow_alpha(z_m: float) -> float:
    """Opacity of a snowflake (flakes are opaque; the soft edge comes from the blur)."""
    return SNOW_ALPHA
