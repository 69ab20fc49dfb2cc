"""Behaviours: per-step control of actors, registered by name."""

from simgen.behaviours import arm, drop, pedestrians, vehicles  # noqa: F401  (registration)
from simgen.behaviours.base import BEHAVIOURS, Behaviour, BehaviourContext, Control

__all__ = ["BEHAVIOURS", "Behaviour", "BehaviourContext", "Control"]
