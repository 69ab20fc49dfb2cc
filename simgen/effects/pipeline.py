"""The effects stage: a camera's clean render -> the image a real camera records.

Order (each step documented in its module):

1. lighting (``lighting.py``): scene light level and colour, sky, artificial lights
2. surfaces (``weather.py``): wet ground, snow cover -> ``lit_linear``
3. fog (``weather.py``)
4. precipitation (``precipitation.py``): rain streaks, snowflakes
5. glare and lens-flare ghosts (``glare.py``)
6. motion blur (``motion_blur.py``)
7. lens dirt and droplets (``lens.py``)
8. sensor (``sensor.py``): under-exposure, noise, clipping, 8-bit sRGB

Pure numpy/OpenCV; every random draw comes from the generator passed in, so the same
inputs and generator state give byte-identical output. Inputs are never modified.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from simgen.effects import glare as glare_mod
from simgen.effects.colour import LUMA_WEIGHTS, decode_srgb, encode_srgb
from simgen.effects.geometry import (
    PixelRays,
    camera_normals,
    pixel_rays,
    ray_distance,
    world_normal_z,
)
from simgen.effects.lens import LensPattern
from simgen.effects.lighting import (
    artificial_irradiance,
    draw_light_sources,
    draw_sun_disc,
    exposure_response,
    paint_sky,
    scene_light_rgb,
    sky_radiance,
    sun_direction,
)
from simgen.effects.motion_blur import apply_motion_blur
from simgen.effects.precipitation import (
    RAIN_BINS_M,
    SNOW_BINS_M,
    composite_particles,
    rain_alpha,
    sample_rain,
    sample_snow,
    snow_alpha,
)
from simgen.effects.sensor import apply_low_light, apply_noise
from simgen.effects.weather import (
    SNOW_ALBEDO,
    apply_fog,
    apply_snow_cover,
    apply_wetness,
    upward_weight,
)
from simgen.sampling.conditions import Atmosphere, LightingParams, PointLight

#: Exposure time (s) assumed for rain and snow streaks when no motion blur is configured.
DEFAULT_EXPOSURE_S = 1 / 60

#: The keys of ``EffectsResult.values``, always all present.
VALUE_KEYS = ("sensor_gain", "sun_in_view", "sun_u_px", "sun_v_px", "rain_streaks",
              "rain_streak_mean_px", "snow_flakes", "motion_blur_max_px", "lights_in_view",
              "mean_luminance")


@dataclass(frozen=True)
class CameraFrame:
    """One camera at one instant, as rendered (clean).

    ``rgb`` (H, W, 3) uint8 sRGB; ``depth_m`` (H, W) float32 z-depth in metres, 0 where
    nothing was hit; ``instance`` (H, W) uint16 ids, 0 = background; ``K`` 3x3
    intrinsics (OpenCV, integer pixel coordinates at pixel centres); ``cam_to_world``
    4x4, OpenCV camera frame -> world (z up, metres); ``velocity_world_mps`` the camera's
    linear velocity in the world frame (m/s).
    """

    rgb: np.ndarray
    depth_m: np.ndarray
    instance: np.ndarray
    K: np.ndarray
    cam_to_world: np.ndarray
    velocity_world_mps: tuple[float, float, float] = (0.0, 0.0, 0.0)


@dataclass(frozen=True)
class EffectsResult:
    """What the camera recorded, and the values to record alongside it.

    The arrays are read-only. ``lit_linear`` is not clipped (the sun's disc and lamps
    exceed 1); ``final_linear`` is, as the sensor saturates.

    ``values`` (always every key of ``VALUE_KEYS``): ``sensor_gain`` (analogue gain of
    the time of day), ``sun_in_view`` (1 when the sun is above the horizon and projects
    inside the image, else 0), ``sun_u_px``/``sun_v_px`` (its pixel, nan when not in
    view), ``rain_streaks`` and ``snow_flakes`` (particles drawn), ``rain_streak_mean_px``
    (their mean length), ``motion_blur_max_px`` (longest blur applied),
    ``lights_in_view`` (lamps drawn), ``mean_luminance`` (mean Rec. 709 luminance of
    ``final_linear``).
    """

    rgb: np.ndarray  # (H, W, 3) uint8 sRGB
    lit_linear: np.ndarray  # (H, W, 3) float32, after lighting and surface effects
    final_linear: np.ndarray  # (H, W, 3) float32 in [0, 1], before quantisation
    values: dict[str, float]


def _read_only(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


class EpisodeEffects:
    """The effects of one episode for one camera; holds the per-episode lens pattern.

    Make one per camera and episode; ``apply`` then turns each clean frame into the
    recorded image. ``rng`` in the constructor draws only the lens pattern.
    """

    def __init__(self, atmosphere: Atmosphere, width: int, height: int,
                 rng: np.random.Generator):
        """Prepare the episode: validate the time of day, draw the lens pattern."""
        self.atmosphere = atmosphere
        self.width, self.height = int(width), int(height)
        lighting = atmosphere.lighting
        self.response = exposure_response(lighting.time_of_day)
        self.light_rgb = scene_light_rgb(lighting)
        self.sun_world = sun_direction(lighting)
        weather = atmosphere.weather
        self.lens = (LensPattern(weather.lens, self.width, self.height, rng)
                     if weather.lens is not None else None)
        self._rays: tuple[bytes, PixelRays] | None = None

    def _pixel_rays(self, K: np.ndarray) -> PixelRays:
        key = np.asarray(K, dtype=np.float64).tobytes()
        if self._rays is None or self._rays[0] != key:
            self._rays = (key, pixel_rays(K, self.width, self.height))
        return self._rays[1]

    def apply(self, frame: CameraFrame, lights: Sequence[PointLight],
              rng: np.random.Generator) -> EffectsResult:
        """Turn one clean frame into the recorded image (see the module docstring)."""
        depth = frame.depth_m
        if frame.rgb.shape != (self.height, self.width, 3) or depth.shape != (self.height,
                                                                               self.width):
            raise ValueError(f"frame is {frame.rgb.shape[1]}x{frame.rgb.shape[0]} but these "
                             f"effects were made for {self.width}x{self.height}")
        if frame.rgb.dtype != np.uint8:
            raise ValueError(f"frame.rgb must be uint8 sRGB, got {frame.rgb.dtype}")
        if depth.dtype != np.float32:
            depth = depth.astype(np.float32)
        source_rgb = np.ascontiguousarray(frame.rgb)
        lighting, weather = self.atmosphere.lighting, self.atmosphere.weather
        cam_to_world = np.asarray(frame.cam_to_world, dtype=np.float64)
        rays = self._pixel_rays(frame.K)
        light_rgb = self.light_rgb
        sky = depth <= 0
        values = dict.fromkeys(VALUE_KEYS, 0.0)
        values["sensor_gain"] = float(self.response.gain)

        # 1. Lighting. lit = albedo x (sun/sky light + lamps); sky painted; lamps drawn.
        image = decode_srgb(source_rgb, light_rgb)
        lamp_light = artificial_irradiance(depth, rays, cam_to_world, lights)
        needs_albedo = lamp_light is not None
        albedo = decode_srgb(source_rgb) if needs_albedo else None
        if lamp_light is not None:
            image += albedo * lamp_light

        # 2. Surfaces: wetness and snow cover on upward-facing surfaces.
        rain, snow = weather.rain, weather.snow
        wet = rain is not None and rain.wetness > 0
        covered = snow is not None and snow.accumulation > 0
        if wet or covered:
            normals = camera_normals(depth, rays)
            upward = upward_weight(world_normal_z(normals, cam_to_world))
            if wet:
                apply_wetness(image, rain, upward, normals, rays, cam_to_world, lighting,
                              light_rgb)
            if covered:
                apply_snow_cover(image, snow, upward, light_rgb, lamp_light)
        paint_sky(image, sky, rays, cam_to_world, lighting, light_rgb)
        later = (weather.fog, weather.rain, weather.snow, weather.glare, weather.motion_blur,
                 weather.lens, weather.low_light, weather.noise)
        lit_linear = image
        if any(effect is not None for effect in later):
            image = image.copy()
        fog = weather.fog
        # Lamps' emitters: in the reference image as they are, in the recorded one after
        # the fog (attenuated over their own distance, not that of the surface behind).
        visible_lamps = draw_light_sources(lit_linear, depth, rays, cam_to_world, lights)
        values["lights_in_view"] = float(len(visible_lamps))

        # 3. Fog.
        sun = glare_mod.locate_sun(self.sun_world, lighting.sun_elevation_deg, rays,
                                   cam_to_world, sky)
        sun_through_fog = glare_mod.sun_fog_transmittance(
            lighting.sun_elevation_deg, fog.visibility_m if fog is not None else None)
        if fog is not None:
            apply_fog(image, ray_distance(depth, rays), sky, fog, light_rgb)
            if sun_through_fog > 1e-3:  # the sun's disc shows through a thin fog layer
                draw_sun_disc(image, sky, rays, cam_to_world, lighting, light_rgb,
                              transmittance=sun_through_fog)
        if image is not lit_linear:
            visible_lamps = draw_light_sources(image, depth, rays, cam_to_world, lights,
                                               fog.visibility_m if fog is not None else None)
        values["sun_in_view"] = 1.0 if sun.in_view else 0.0
        values["sun_u_px"] = sun.u_px if sun.in_view else math.nan
        values["sun_v_px"] = sun.v_px if sun.in_view else math.nan

        # 4. Precipitation.
        exposure_s = (weather.motion_blur.exposure_s if weather.motion_blur is not None
                      else DEFAULT_EXPOSURE_S)
        velocity = np.asarray(frame.velocity_world_mps, dtype=np.float64)
        if rain is not None:
            drops, _ = sample_rain(rain, rays, cam_to_world, velocity, exposure_s, rng)
            drop_rgb = self._drop_radiance(image, lighting)
            composite_particles(image, depth, drops, RAIN_BINS_M, drop_rgb, rain_alpha,
                                disc=False)
            values["rain_streaks"] = float(drops.count)
            values["rain_streak_mean_px"] = drops.mean_length_px()
        if snow is not None:
            flakes, _ = sample_snow(snow, rays, cam_to_world, velocity, exposure_s, rng)
            flake_rgb = np.float32(SNOW_ALBEDO) * light_rgb
            if lamp_light is not None:
                lamp_mean = np.asarray(cv2.mean(lamp_light)[:3], dtype=np.float32)
                flake_rgb = flake_rgb + np.float32(SNOW_ALBEDO) * lamp_mean
            composite_particles(image, depth, flakes, SNOW_BINS_M, flake_rgb, snow_alpha,
                                disc=True)
            values["snow_flakes"] = float(flakes.count)

        # 5. Glare and ghosts.
        if weather.glare is not None:
            up = float(np.clip((lighting.sun_elevation_deg + 0.5) / 2.0, 0, 1))
            occlusion = 0.1 + 0.9 * sun.unoccluded
            sun_e = (math.pi * up * occlusion * sun_through_fog) * light_rgb
            veil = glare_mod.glare_layer((self.height, self.width), rays, weather.glare, sun,
                                         sun_e, visible_lamps)
            if veil is not None:
                image += veil

        # 6. Motion blur.
        if weather.motion_blur is not None:
            image, longest = apply_motion_blur(image, depth, rays, cam_to_world, velocity,
                                               weather.motion_blur.exposure_s)
            values["motion_blur_max_px"] = longest

        # 7. Lens.
        if self.lens is not None:
            self.lens.apply(image)

        # 8. Sensor.
        if weather.low_light is not None:
            apply_low_light(image, weather.low_light)
        if weather.noise is not None:
            apply_noise(image, weather.noise, self.response.gain, rng)
        if image is lit_linear:
            final_linear = np.clip(image, 0.0, 1.0)
        else:
            final_linear = np.clip(image, 0.0, 1.0, out=image)
        rgb = encode_srgb(final_linear)
        means = cv2.mean(final_linear)[:3]
        values["mean_luminance"] = float(np.dot(LUMA_WEIGHTS, means))
        return EffectsResult(_read_only(rgb), _read_only(lit_linear), _read_only(final_linear),
                             values)

    def _drop_radiance(self, image: np.ndarray, lighting: LightingParams) -> np.ndarray:
        """Radiance of a raindrop: it refracts a ~165 deg view of its surroundings, mostly
        sky (Garg & Nayar 2004), so ~the sky 30 deg up away from the sun, or the scene's
        mean radiance when that is brighter (lamps at night)."""
        sun = self.sun_world
        away = -np.array([sun[0], sun[1]]) / max(math.hypot(sun[0], sun[1]), 1e-9)
        d = np.array([away[0] * math.cos(math.radians(30)), away[1] * math.cos(math.radians(30)),
                      math.sin(math.radians(30))], dtype=np.float32)
        sky = sky_radiance(d[0:1], d[1:2], d[2:3], lighting, self.light_rgb)[0]
        scene = np.asarray(cv2.mean(image)[:3], dtype=np.float32)
        return np.maximum(0.94 * sky, 1.2 * scene).astype(np.float32)
