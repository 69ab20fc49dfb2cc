"""Concrete lighting and weather conditions of one episode (plain data, no distributions).

Sampling turns the scenario's ``lighting:`` and ``weather:`` sections into these; the
effects stage consumes them. Absent weather effects are ``None``. Frames: vectors are in
the world frame (z up) unless a name says otherwise; colours are linear RGB in 0..1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

Vec3 = tuple[float, float, float]
RGB = tuple[float, float, float]

TIMES_OF_DAY = ("day", "dusk", "night")


@dataclass(frozen=True)
class LightingParams:
    """Sun and sky light, and the camera's exposure response to it.

    ``sun_azimuth_deg`` is measured in the world x-y plane from +x towards +y;
    ``sun_elevation_deg`` above the horizon (negative: the sun has set).
    ``intensity`` scales the sun and sky light; ``colour_temperature_k`` is the colour
    of that light (the camera is white-balanced for 6500 K, so lower is warmer/redder).
    """

    time_of_day: str = "day"
    sun_azimuth_deg: float = 135.0
    sun_elevation_deg: float = 50.0
    intensity: float = 1.0
    colour_temperature_k: float = 6500.0
    headlights: bool = True
    street_light_spacing_m: float = 30.0
    shadows: str = "auto"  # auto (EGL only), on, off


@dataclass(frozen=True)
class PointLight:
    """An artificial light (headlight, street lamp) in the world frame.

    ``direction`` is None for an omnidirectional lamp, else the unit axis of a spot
    with half-angle ``cone_half_angle_deg``. ``intensity`` is the brightness it adds to
    a white surface facing it at 1 m (in the recorded image's linear units).
    """

    position_m: Vec3
    direction: Vec3 | None
    cone_half_angle_deg: float
    intensity: float
    colour_temperature_k: float


@dataclass(frozen=True)
class FogParams:
    """Koschmieder fog: meteorological visibility and airlight colour."""

    visibility_m: float
    airlight_rgb: RGB = (0.8, 0.82, 0.85)


@dataclass(frozen=True)
class RainParams:
    """Falling rain (rate in mm/h, Marshall-Palmer drops) and how wet surfaces are."""

    rate_mm_per_h: float
    wetness: float = 0.7


@dataclass(frozen=True)
class SnowParams:
    """Falling snow and accumulation whitening upward-facing surfaces."""

    intensity: float  # 0..1, flake density relative to heavy snowfall
    flake_size_mm: float = 6.0
    accumulation: float = 0.5  # 0..1, cover on upward-facing surfaces


@dataclass(frozen=True)
class GlareParams:
    """Veiling glare and lens-flare ghosts from the sun (and bright lights)."""

    strength: float = 0.6


@dataclass(frozen=True)
class MotionBlurParams:
    """Blur from the camera's own motion during the exposure."""

    exposure_s: float = 0.02


@dataclass(frozen=True)
class NoiseParams:
    """Sensor noise: photon shot noise and read noise, in electrons."""

    full_well_e: float = 6000.0
    read_noise_e: float = 4.0


@dataclass(frozen=True)
class LensParams:
    """Dirt smudges and water droplets on the lens (fixed for an episode)."""

    dirt: float = 0.3  # 0..1, share of the lens covered by smudges
    droplets: int = 0  # number of droplets


@dataclass(frozen=True)
class LowLightParams:
    """Less light reaching the sensor than the scene's exposure expects."""

    exposure_ev: float = -2.0  # stops (<= 0): the image gets 2**ev of the light


@dataclass(frozen=True)
class WeatherParams:
    """Every weather and sensor effect of an episode; ``None`` means off."""

    fog: FogParams | None = None
    rain: RainParams | None = None
    snow: SnowParams | None = None
    glare: GlareParams | None = None
    motion_blur: MotionBlurParams | None = None
    noise: NoiseParams | None = None
    lens: LensParams | None = None
    low_light: LowLightParams | None = None


@dataclass(frozen=True)
class Atmosphere:
    """Lighting, weather and the artificial lights of one episode."""

    lighting: LightingParams = field(default_factory=LightingParams)
    weather: WeatherParams = field(default_factory=WeatherParams)


def atmosphere_record(atmosphere: Atmosphere) -> dict[str, object]:
    """The lighting and weather values as flat columns (the same columns for every
    episode: an effect that is off has ``on`` False and NaN parameters)."""
    out: dict[str, object] = {}
    for f in fields(LightingParams):
        out[f"lighting.{f.name}"] = getattr(atmosphere.lighting, f.name)
    for effect in fields(WeatherParams):
        value = getattr(atmosphere.weather, effect.name)
        out[f"weather.{effect.name}.on"] = value is not None
        for f in fields(_EFFECT_TYPES[effect.name]):
            item = math.nan if value is None else getattr(value, f.name)
            if isinstance(item, tuple):
                for i, component in enumerate(item):
                    out[f"weather.{effect.name}.{f.name}[{i}]"] = float(component)
            elif f.name.endswith("_rgb") and value is None:
                for i in range(3):
                    out[f"weather.{effect.name}.{f.name}[{i}]"] = math.nan
            else:
                out[f"weather.{effect.name}.{f.name}"] = float(item)
    return out


_EFFECT_TYPES: dict[str, type] = {
    "fog": FogParams, "rain": RainParams, "snow": SnowParams, "glare": GlareParams,
    "motion_blur": MotionBlurParams, "noise": NoiseParams, "lens": LensParams,
    "low_light": LowLightParams,
}
