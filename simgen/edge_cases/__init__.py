"""Rare events that change sampled episodes, registered by name (see ``registry``)."""

from simgen.edge_cases import driving, robotics  # noqa: F401  (registers the edge cases)
from simgen.edge_cases.registry import (
    EDGE_CASES,
    EdgeCase,
    EpisodeDraft,
    edge_case,
    importance_factor,
)

__all__ = ["EDGE_CASES", "EdgeCase", "EpisodeDraft", "edge_case", "importance_factor"]
