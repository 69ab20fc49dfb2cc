"""Effects: a clean render -> the image a real camera records under the episode's
lighting and weather (pure numpy/OpenCV; depth and segmentation are never changed)."""

from simgen.effects.colour import colour_temperature_rgb
from simgen.effects.lighting import renderer_light_direction, sun_direction
from simgen.effects.pipeline import CameraFrame, EffectsResult, EpisodeEffects
from simgen.effects.visibility import ObjectVisibility, object_visibility
from simgen.effects.weather import fog_transmittance

__all__ = [
    "CameraFrame",
    "EffectsResult",
    "EpisodeEffects",
    "ObjectVisibility",
    "colour_temperature_rgb",
    "fog_transmittance",
    "object_visibility",
    "renderer_light_direction",
    "sun_direction",
]
