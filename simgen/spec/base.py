"""Building blocks shared by every part of the scenario format."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from simgen.errors import did_you_mean
from simgen.spec.distributions import Category

#: Named colours a scenario may use (RGB in 0..1); a colour may also be [r, g, b].
COLOURS: dict[str, tuple[float, float, float]] = {
    "red": (0.75, 0.08, 0.08),
    "blue": (0.1, 0.2, 0.7),
    "white": (0.92, 0.92, 0.92),
    "black": (0.06, 0.06, 0.06),
    "silver": (0.7, 0.72, 0.75),
    "grey": (0.4, 0.4, 0.42),
    "yellow": (0.95, 0.8, 0.1),
    "green": (0.1, 0.5, 0.15),
    "orange": (0.95, 0.45, 0.05),
    "brown": (0.45, 0.28, 0.12),
    "purple": (0.4, 0.15, 0.55),
    "cyan": (0.1, 0.7, 0.8),
    "beige": (0.85, 0.78, 0.62),
    "pink": (0.95, 0.55, 0.7),
}


class StrictModel(BaseModel):
    """Base for every spec model: unknown keys are errors, instances are immutable."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, validate_default=True
    )


def _check_colour(value: Any) -> Any:
    if isinstance(value, str):
        if value not in COLOURS:
            raise ValueError(f"unknown colour {value!r}{did_you_mean(value, COLOURS)}; "
                             f"use a name ({', '.join(COLOURS)}) or [r, g, b] in 0..1")
        return value
    if (isinstance(value, list | tuple) and len(value) == 3
            and all(isinstance(c, int | float) and not isinstance(c, bool) and 0 <= c <= 1
                    for c in value)):
        return tuple(float(c) for c in value)
    raise ValueError(f"a colour is a name or [r, g, b] with components in 0..1, got {value!r}")


Colour = Category(_check_colour, {"anyOf": [
    {"enum": list(COLOURS)},
    {"type": "array", "items": {"type": "number", "minimum": 0, "maximum": 1},
     "minItems": 3, "maxItems": 3}]})
