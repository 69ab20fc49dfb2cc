"""The edge-case registry: rare events that change a sampled episode.

An edge case is one class: a ``Params`` model (its scenario fields, which accept
distributions) and ``apply``, which edits the episode being sampled — adding bodies,
changing a body's behaviour parameters (events at a sampled time are behaviour
parameters the behaviours act on), a camera's bump, a colour. Register it with
``@edge_case("name", domain=...)``; nothing else needs to change::

    @edge_case("stalled_vehicle", domain="driving")
    class StalledVehicle(EdgeCase):
        class Params(StrictModel):
            ahead_m: Number(gt=0) = {"uniform": [25, 45]}

        def apply(self, draft, params, rng):
            draft.add(...)

Scenarios switch one on with ``edge_cases: {NAME: {probability: p, oversample: q, ...}}``:
each episode fires it with probability ``q`` (``oversample``, default ``p``), and its
importance weight multiplies ``p / q`` when it fired and ``(1 - p) / (1 - q)`` when not.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np

from simgen.errors import SimgenError
from simgen.sampling.scene import BodyPlan, CameraPlan, RoadLayout, TableLayout
from simgen.spec.base import StrictModel


@dataclass
class EpisodeDraft:
    """The episode while it is sampled: edge cases read and edit it.

    ``ego`` and ``arm`` name the ego vehicle / the arm (None when the scenario has none).
    ``sampled`` records extra random values under their paths (the edge case's own
    parameters are recorded for it).
    """

    domain: str
    duration_s: float
    road: RoadLayout | None
    table: TableLayout | None
    bodies: list[BodyPlan]
    cameras: list[CameraPlan]
    ego: str | None
    arm: str | None
    sampled: dict[str, Any]

    def body(self, name: str) -> BodyPlan:
        """The planned body called ``name``."""
        for body in self.bodies:
            if body.name == name:
                return body
        raise KeyError(name)

    def has(self, name: str) -> bool:
        """Whether a body called ``name`` is planned."""
        return any(body.name == name for body in self.bodies)

    def add(self, body: BodyPlan) -> None:
        """Add a body (its name must be new)."""
        if self.has(body.name):
            raise SimgenError(f"edge case body {body.name!r} clashes with a body of that name")
        self.bodies.append(body)

    def change(self, name: str, **changes: Any) -> BodyPlan:
        """Replace fields of body ``name``; returns the new plan."""
        return _replace_named(self.bodies, name, changes)

    def event_time_s(self, at_s: float, path: str, after_s: float) -> float:
        """The drawn event time ``at_s`` moved into the episode, ``after_s`` before its end
        (at most half the episode), so the event and what follows it are seen; the time
        used is recorded under ``path``."""
        applied = float(min(at_s, self.duration_s - min(after_s, self.duration_s / 2)))
        self.sampled[path] = applied
        return applied

    def change_camera(self, name: str, **changes: Any) -> CameraPlan:
        """Replace fields of camera ``name``; returns the new plan."""
        return _replace_named(self.cameras, name, changes)


def _replace_named(items: list, name: str, changes: dict[str, Any]):
    """Replace fields of the item called ``name`` in ``items`` (in place); return it."""
    for i, item in enumerate(items):
        if item.name == name:
            items[i] = replace(item, **changes)
            return items[i]
    raise KeyError(name)


class EdgeCase:
    """Base class of edge cases (see the module docstring)."""

    name: ClassVar[str] = ""
    domain: ClassVar[str] = ""
    #: The scenario fields of this edge case (besides probability and oversample).
    Params: ClassVar[type[StrictModel]] = StrictModel
    #: Names of the bodies this edge case may add (constraints and tests refer to them).
    adds: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def problems(cls, scenario: Any, settings: Any) -> Iterator[tuple[tuple, str]]:
        """(location under ``edge_cases.NAME``, message) for each reason the scenario can
        never host this edge case (checked by ``simgen validate``); none by default."""
        return iter(())

    @classmethod
    def classes(cls, settings: Any) -> tuple[str, ...]:
        """Classes of the labeled bodies this edge case may add, given its scenario settings
        (they join the dataset's categories); none by default."""
        return ()

    def apply(self, draft: EpisodeDraft, params: dict[str, Any],
              rng: np.random.Generator) -> None:
        """Change ``draft``; ``params`` holds this episode's drawn parameter values."""
        raise NotImplementedError


EDGE_CASES: dict[str, type[EdgeCase]] = {}


def edge_case(name: str, *, domain: str) -> Callable[[type[EdgeCase]], type[EdgeCase]]:
    """Class decorator: register an edge case for ``domain`` (driving or robotics)."""
    if domain not in ("driving", "robotics"):
        raise ValueError(f"edge case {name!r}: domain must be driving or robotics")

    def decorate(cls: type[EdgeCase]) -> type[EdgeCase]:
        if name in EDGE_CASES:
            raise ValueError(f"edge case {name!r} registered twice")
        cls.name = name
        cls.domain = domain
        EDGE_CASES[name] = cls
        return cls

    return decorate


def importance_factor(probability: float, oversample: float, fired: bool) -> float:
    """One edge case's factor of the importance weight: p/q when it fired, else
    (1 - p)/(1 - q)."""
    if fired:
        return probability / oversample
    return (1.0 - probability) / (1.0 - oversample)
