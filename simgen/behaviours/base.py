"""The behaviour interface and its registry.

A behaviour drives one body: ``step`` is called once per simulation step, before
``stepSimulation``. Kinematic behaviours (vehicles, pedestrians) set the body's pose
themselves and report the velocity they integrated; dynamic ones (arms) command
motors and let the physics engine move the body.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from simgen.sampling.scene import BodyPlan, EpisodePlan


@dataclass
class BehaviourContext:
    """What a behaviour may look at: the PyBullet client, the episode plan and the bodies.

    ``uids`` maps each body name to its PyBullet unique id. ``rng`` is the episode's
    behaviour generator (derived from the episode seed; never global state).
    """

    client: int
    plan: EpisodePlan
    uids: Mapping[str, int]
    rng: np.random.Generator
    shared: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Control:
    """The control a behaviour applied in the last step, as logged in trajectories.

    Vehicles fill ``steering_rad`` and ``throttle`` (normalised, -1 full brake .. 1 full
    throttle); arms fill ``joint_positions_rad`` and ``gripper_closed``.
    """

    steering_rad: float | None = None
    throttle: float | None = None
    joint_positions_rad: tuple[float, ...] | None = None
    gripper_closed: bool | None = None


class Behaviour(ABC):
    """Per-step control of one body."""

    #: True when the behaviour sets the pose itself (then ``velocity`` is authoritative).
    kinematic: bool = False

    def __init__(self, ctx: BehaviourContext, body: BodyPlan, uid: int):
        self.ctx = ctx
        self.body = body
        self.uid = uid

    @abstractmethod
    def step(self, t_s: float, dt_s: float) -> None:
        """Advance the behaviour by one simulation step of ``dt_s`` seconds at time ``t_s``."""

    def control(self) -> Control:
        """The control applied in the last step (empty for passive bodies)."""
        return Control()

    def velocity(self) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
        """Linear (m/s) and angular (rad/s) world-frame velocity, for kinematic behaviours."""
        raise NotImplementedError


BEHAVIOURS: dict[str, type[Behaviour]] = {}


def register_behaviour(name: str) -> Callable[[type[Behaviour]], type[Behaviour]]:
    """Class decorator: make a behaviour available to scenarios under ``name``."""

    def decorate(cls: type[Behaviour]) -> type[Behaviour]:
        if name in BEHAVIOURS:
            raise ValueError(f"behaviour {name!r} registered twice")
        BEHAVIOURS[name] = cls
        return cls

    return decorate


@register_behaviour("static")
class Static(Behaviour):
    """Does nothing: the body rests where it was placed (obstacles, parked vehicles)."""

    def step(self, t_s: float, dt_s: float) -> None:
        """Nothing to do."""
