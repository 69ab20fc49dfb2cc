"""The scenario's ``sweep:`` section: a design of points, each fixing named fields.

A sweep makes ``episodes_per_point`` episodes at each point; at a point, every swept
field holds the point's value instead of what the rest of the scenario says. ``grid``
takes the Cartesian product of listed ``values`` (the first parameter varies slowest);
``random``, ``latin_hypercube`` and ``sobol`` place ``points`` points in the unit cube
and map each coordinate through its parameter's ``range`` (a distribution's quantile
function). The spec only describes the design; ``simgen.sampling.sweep`` computes it.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import Field

from simgen.spec.base import StrictModel
from simgen.spec.distributions import Choice, LogUniform, Normal, Range, Uniform, support

SWEEP_DESIGNS = ("grid", "random", "latin_hypercube", "sobol")
#: Top-level sections whose fields a sweep may set; the others are the run's own
#: (name, seed, episodes, capture, renderer, labels, export, require_attempts).
SWEEPABLE_SECTIONS = ("duration_s", "physics", "lighting", "weather", "edge_cases",
                      "require", "cameras", "world")


class SweepParameter(StrictModel):
    """One swept field: ``path`` (as in ``--set``) and its grid ``values`` or its ``range``."""

    path: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*|\.\d+|\[\d+\])*$")
    values: list[Any] | None = Field(None, min_length=1)
    range: Range() | None = None


class Sweep(StrictModel):
    """A design over named fields, with ``episodes_per_point`` episodes at each point."""

    design: Literal["grid", "random", "latin_hypercube", "sobol"] = "grid"
    points: int | None = Field(None, ge=1, le=1_000_000)
    episodes_per_point: int = Field(1, ge=1, le=1_000_000)
    parameters: list[SweepParameter] = Field(min_length=1)

    def point_count(self) -> int:
        """How many points the design has (for a grid, the product of the value counts)."""
        if self.design == "grid":
            return math.prod(len(p.values or ()) for p in self.parameters)
        return self.points or 0

    def episode_count(self) -> int:
        """Episodes the sweep makes: points x episodes per point."""
        return self.point_count() * self.episodes_per_point


def probe_values(parameter: SweepParameter) -> list[tuple[tuple, Any]]:
    """Values that show whether ``parameter`` can set its field, with where each is
    written (a location under the parameter): every grid value; for a range, its ends
    and an interior value (the field's bounds are an interval, and an integer field
    rejects the interior value of a continuous range) or every option of a choice."""
    if parameter.values is not None:
        return [(("values", i), value) for i, value in enumerate(parameter.values)]
    dist = parameter.range
    if isinstance(dist, Choice):
        return [(("range",), option) for option in dist.options]
    low, high = support(dist)
    if isinstance(dist, Uniform | Normal | LogUniform):
        values = [low, low + (high - low) * 0.3819660112501051, high]  # not a round number
    else:  # randint
        values = [int(low), int(high)]
    return [(("range",), value) for value in values]


def design_problems(sweep: Sweep) -> list[tuple[tuple, str]]:
    """(loc under ``sweep``, message) for a design that does not fit its parameters."""
    out: list[tuple[tuple, str]] = []
    grid = sweep.design == "grid"
    if grid and sweep.points is not None:
        out.append((("points",), "a grid has as many points as value combinations; remove "
                    "points (or choose design random, latin_hypercube or sobol)"))
    if not grid and sweep.points is None:
        out.append((("design",), f"design {sweep.design!r} needs points (how many to place)"))
    seen: dict[str, int] = {}
    for i, parameter in enumerate(sweep.parameters):
        loc = ("parameters", i)
        if parameter.path in seen:
            out.append((loc + ("path",), f"{parameter.path} is swept twice (also "
                        f"parameters[{seen[parameter.path]}])"))
        seen.setdefault(parameter.path, i)
        top = parameter.path.split(".")[0].split("[")[0]
        if top not in SWEEPABLE_SECTIONS:
            out.append((loc + ("path",), f"{parameter.path} is a run-level field; a sweep sets "
                        f"fields under {', '.join(SWEEPABLE_SECTIONS)}"))
        if grid and (parameter.values is None or parameter.range is not None):
            out.append((loc, "a grid parameter lists its values (values: [...]), not a range"))
        if not grid and (parameter.range is None or parameter.values is not None):
            out.append((loc, f"a {sweep.design} parameter has a range ([low, high] or a "
                        "distribution), not values"))
    return out
