"""Sample an episode's lighting and weather from the scenario's sections."""

from __future__ import annotations

from typing import Any

from simgen.sampling.conditions import (
    Atmosphere,
    FogParams,
    GlareParams,
    LensParams,
    LightingParams,
    LowLightParams,
    MotionBlurParams,
    NoiseParams,
    RainParams,
    SnowParams,
    WeatherParams,
)
from simgen.spec.base import COLOURS
from simgen.spec.models import Scenario

#: Sun elevation (deg) and light colour temperature (K) when the scenario leaves them out.
TIME_OF_DAY_DEFAULTS: dict[str, tuple[float, float]] = {
    "day": (50.0, 6500.0),
    "dusk": (4.0, 3200.0),
    "night": (-20.0, 8000.0),
}

#: Each weather section, the parameters class it becomes, and how its fields map.
_EFFECTS: dict[str, type] = {
    "fog": FogParams,
    "rain": RainParams,
    "snow": SnowParams,
    "glare": GlareParams,
    "motion_blur": MotionBlurParams,
    "noise": NoiseParams,
    "lens": LensParams,
    "low_light": LowLightParams,
}


def plan_atmosphere(scenario: Scenario, d) -> Atmosphere:
    """Draw lighting and weather; ``d`` draws and records values under their field paths."""
    spec = scenario.lighting
    time_of_day = str(d(spec.time_of_day, "lighting.time_of_day"))
    default_elevation, default_kelvin = TIME_OF_DAY_DEFAULTS[time_of_day]
    elevation = default_elevation if spec.sun_elevation_deg is None else \
        float(d(spec.sun_elevation_deg, "lighting.sun_elevation_deg"))
    kelvin = default_kelvin if spec.colour_temperature_k is None else \
        float(d(spec.colour_temperature_k, "lighting.colour_temperature_k"))
    spacing = spec.street_light_spacing_m
    lighting = LightingParams(
        time_of_day=time_of_day,
        sun_azimuth_deg=float(d(spec.sun_azimuth_deg, "lighting.sun_azimuth_deg")),
        sun_elevation_deg=elevation,
        intensity=float(d(spec.intensity, "lighting.intensity")),
        colour_temperature_k=kelvin,
        headlights=spec.headlights,
        shadows=spec.shadows,
        street_light_spacing_m=0.0 if spacing is None else
        float(d(spacing, "lighting.street_light_spacing_m")),
    )
    effects: dict[str, Any] = {}
    for name, params_cls in _EFFECTS.items():
        section = getattr(scenario.weather, name)
        effects[name] = None if section is None else _plan_effect(section, name, params_cls, d)
    return Atmosphere(lighting=lighting, weather=WeatherParams(**effects))


def _plan_effect(section, name: str, params_cls: type, d):
    """The effect's parameters, or None when this episode does not have it."""
    path = f"weather.{name}"
    if section.probability < 1.0:
        on = bool(d.rng.random() < section.probability)
        d.sampled[f"{path}.on"] = on
        if not on:
            return None
    values: dict[str, Any] = {}
    for field in type(section).model_fields:
        if field == "probability":
            continue
        value = d(getattr(section, field), f"{path}.{field}")
        if field == "airlight":
            values["airlight_rgb"] = tuple(float(c) for c in (
                COLOURS[value] if isinstance(value, str) else value))
        elif field == "droplets":
            values[field] = int(value)
        else:
            values[field] = float(value)
    return params_cls(**values)
