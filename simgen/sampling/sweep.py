"""A sweep's points: the design placed in the unit cube, mapped to field values.

Every point is a function of the scenario and its root seed alone (``sweep_rng``), so
each worker computes the same design, and episode ``i`` belongs to point
``i // episodes_per_point``.
"""

from __future__ import annotations

import itertools
import json
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from simgen.errors import SimgenError
from simgen.sampling.draw import quantile
from simgen.sampling.seeds import sweep_rng
from simgen.spec.models import Scenario
from simgen.spec.sweep import Sweep


@dataclass(frozen=True)
class SweepPoint:
    """One point of a sweep: its index and the value of each swept field (by path)."""

    index: int
    values: dict[str, Any]

    def record(self) -> dict[str, Any]:
        """The point as columns of the episodes table: ``sweep.point`` and
        ``sweep.PATH`` for each swept field (a mapping or list value as JSON text)."""
        return {"sweep.point": self.index,
                **{f"sweep.{path}": json.dumps(value, sort_keys=True)
                   if isinstance(value, dict | list) else value
                   for path, value in self.values.items()}}


def unit_design(sweep: Sweep, root_seed: int) -> np.ndarray:
    """The design's points in [0, 1)^d, one row per point (not used by a grid)."""
    dims = len(sweep.parameters)
    n = sweep.point_count()
    rng = sweep_rng(root_seed)
    if sweep.design == "random":
        return rng.random((n, dims))
    from scipy.stats import qmc  # here: workers of runs without a sweep never import scipy

    if sweep.design == "latin_hypercube":
        return qmc.LatinHypercube(dims, seed=rng).random(n)
    if sweep.design == "sobol":
        with warnings.catch_warnings():
            # Sobol's balance needs n a power of two; the README says so, the run goes on.
            warnings.simplefilter("ignore", UserWarning)
            return qmc.Sobol(dims, scramble=True, seed=rng).random(n)
    raise ValueError(f"{sweep.design!r} is not a unit-cube design")


def sweep_points(sweep: Sweep, root_seed: int) -> list[SweepPoint]:
    """Every point of the design, in order."""
    paths = [p.path for p in sweep.parameters]
    if sweep.design == "grid":
        combos = itertools.product(*(p.values for p in sweep.parameters))
        return [SweepPoint(i, dict(zip(paths, combo, strict=True)))
                for i, combo in enumerate(combos)]
    cube = unit_design(sweep, root_seed)
    return [SweepPoint(i, {p.path: quantile(p.range, float(u))
                           for p, u in zip(sweep.parameters, row, strict=True)})
            for i, row in enumerate(cube)]


def point_of_episode(scenario: Scenario, index: int) -> SweepPoint:
    """The sweep point episode ``index`` of ``scenario`` belongs to."""
    sweep = scenario.sweep
    if not 0 <= index < sweep.episode_count():
        raise SimgenError(f"episode {index}: the sweep has {sweep.episode_count()} episodes "
                          f"({sweep.point_count()} points x {sweep.episodes_per_point})")
    return sweep_points(sweep, scenario.seed)[index // sweep.episodes_per_point]


def sweep_record(scenario: Scenario) -> dict[str, Any]:
    """The sweep as the manifest records it: its design and every point, with the
    episodes ``[first, last]`` made at it (of the run's ``episodes``)."""
    sweep = scenario.sweep
    per = sweep.episodes_per_point
    points = [{"point": point.index,
               "episodes": [point.index * per, min((point.index + 1) * per, scenario.episodes) - 1],
               "values": point.values}
              for point in sweep_points(sweep, scenario.seed)
              if point.index * per < scenario.episodes]
    return {"design": sweep.design, "episodes_per_point": per,
            "parameters": [p.path for p in sweep.parameters], "points": points}
