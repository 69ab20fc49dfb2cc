"""The scenario's ``lighting:`` and ``weather:`` sections.

Every numeric field accepts a distribution (drawn once per episode). Each weather
effect is off unless its section is present; ``probability`` is the chance that an
episode has it at all (drawn per episode, recorded like every other draw).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from simgen.spec.base import Colour, StrictModel
from simgen.spec.distributions import Category, Integer, Number, one_of

TIMES_OF_DAY = ("day", "dusk", "night")
TimeOfDay = Category(one_of(TIMES_OF_DAY, "time of day"), {"enum": list(TIMES_OF_DAY)})


class Lighting(StrictModel):
    """Sun, sky and artificial lights.

    ``sun_azimuth_deg`` is measured in the ground plane from world +x towards +y.
    ``sun_elevation_deg`` and ``colour_temperature_k`` default by time of day (day:
    50 deg, 6500 K; dusk: 4 deg, 3200 K; night: -20 deg, 8000 K moonlit sky).
    At dusk and night, vehicles' headlights are on (``headlights``) and street lamps
    stand along the road every ``street_light_spacing_m`` (``null`` for none).
    ``shadows``: ``auto`` casts sun shadows with the EGL renderer only (TinyRenderer's
    shadows cost about four times its render time); ``on`` / ``off`` force it.
    """

    time_of_day: TimeOfDay = "day"
    sun_azimuth_deg: Number(ge=-360, le=360) = 135.0
    sun_elevation_deg: Number(ge=-90, le=90) | None = None
    intensity: Number(ge=0, le=10) = 1.0
    colour_temperature_k: Number(ge=1000, le=20000) | None = None
    headlights: bool = True
    shadows: Literal["auto", "on", "off"] = "auto"
    street_light_spacing_m: Number(ge=5, le=500) | None = 30.0


class _Effect(StrictModel):
    probability: float = Field(1.0, ge=0, le=1)


class Fog(_Effect):
    """Koschmieder fog: meteorological visibility (distance where contrast falls to 2%)."""

    visibility_m: Number(gt=0, le=100000)
    airlight: Colour = (0.8, 0.82, 0.85)


class Rain(_Effect):
    """Rain falling at ``rate_mm_per_h`` (2.5 light, 10 moderate, 50 heavy); wet surfaces."""

    rate_mm_per_h: Number(gt=0, le=200)
    wetness: Number(ge=0, le=1) = 0.7


class Snow(_Effect):
    """Falling snow (``intensity`` 1 = heavy snowfall) and cover on upward surfaces."""

    intensity: Number(ge=0, le=1)
    flake_size_mm: Number(gt=0, le=30) = 6.0
    accumulation: Number(ge=0, le=1) = 0.5


class Glare(_Effect):
    """Veiling glare and lens-flare ghosts from the sun and bright lamps."""

    strength: Number(ge=0, le=3) = 0.6


class MotionBlur(_Effect):
    """Blur from the camera's own motion during an exposure of ``exposure_s``."""

    exposure_s: Number(gt=0, le=0.25) = 0.02


class Noise(_Effect):
    """Photon shot noise and read noise (gain rises with darkness, so does the noise)."""

    full_well_e: Number(gt=0, le=1e6) = 6000.0
    read_noise_e: Number(ge=0, le=1000) = 4.0


class Lens(_Effect):
    """Dirt smudges (share of the lens covered) and water droplets on the lens."""

    dirt: Number(ge=0, le=1) = 0.3
    droplets: Integer(ge=0, le=500) = 0


class LowLight(_Effect):
    """Less light reaches the sensor: the image gets ``2 ** exposure_ev`` of it."""

    exposure_ev: Number(ge=-10, le=0) = -2.0


class Weather(StrictModel):
    """Image effects driven by depth; depth, segmentation and boxes are never altered."""

    fog: Fog | None = None
    rain: Rain | None = None
    snow: Snow | None = None
    glare: Glare | None = None
    motion_blur: MotionBlur | None = None
    noise: Noise | None = None
    lens: Lens | None = None
    low_light: LowLight | None = None
