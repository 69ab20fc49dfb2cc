"""The ``require:`` section: structured constraints on a sampled episode.

Each constraint is checked on the episode's initial state (bodies at their planned
poses, approximated by their catalog boxes); an episode that breaks one is drawn again,
up to ``require_attempts`` times. Names refer to a body (``car_0``), a whole group
(``car``: every body of it) or a body an edge case adds (``jaywalker``); a constraint on a
name with no body in an episode (e.g. an edge case that did not fire) holds trivially.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from simgen.spec.base import StrictModel


class DistanceConstraint(StrictModel):
    """Every body of ``a`` is between ``min_m`` and ``max_m`` (ground-plane distance between
    box centres) from every body of ``b``."""

    kind: Literal["distance"]
    a: str
    b: str
    min_m: float | None = Field(None, ge=0)
    max_m: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _a_bound(self) -> DistanceConstraint:
        if self.min_m is None and self.max_m is None:
            raise ValueError("give min_m, max_m or both")
        if self.min_m is not None and self.max_m is not None and self.max_m <= self.min_m:
            raise ValueError("max_m must be greater than min_m")
        return self

    def describe(self) -> str:
        """One line naming the constraint."""
        bounds = " and ".join(x for x in (
            f">= {self.min_m:g} m" if self.min_m is not None else "",
            f"<= {self.max_m:g} m" if self.max_m is not None else "") if x)
        return f"distance {self.a} to {self.b} {bounds}"


class InViewConstraint(StrictModel):
    """At least ``min_visible_fraction`` of ``body`` is inside ``camera``'s image and not
    hidden behind other bodies (each body of a group must satisfy it)."""

    kind: Literal["in_view"]
    body: str
    camera: str
    min_visible_fraction: float = Field(0.5, gt=0, le=1)

    def describe(self) -> str:
        """One line naming the constraint."""
        return f"in_view {self.body} in {self.camera} >= {self.min_visible_fraction:g} visible"


class NoOverlapConstraint(StrictModel):
    """No two of ``bodies`` (default: all bodies) intersect (boxes at their initial poses)."""

    kind: Literal["no_overlap"]
    bodies: list[str] | None = None

    def describe(self) -> str:
        """One line naming the constraint."""
        return "no_overlap " + (", ".join(self.bodies) if self.bodies else "all bodies")


class InRegionConstraint(StrictModel):
    """``body``'s centre lies in the world-frame rectangle ``x_m`` x ``y_m``."""

    kind: Literal["in_region"]
    body: str
    x_m: tuple[float, float]
    y_m: tuple[float, float]

    @model_validator(mode="after")
    def _ordered(self) -> InRegionConstraint:
        if self.x_m[0] > self.x_m[1] or self.y_m[0] > self.y_m[1]:
            raise ValueError("ranges are [low, high]")
        return self

    def describe(self) -> str:
        """One line naming the constraint."""
        return f"in_region {self.body} x in {list(self.x_m)} y in {list(self.y_m)}"


Constraint = Annotated[
    DistanceConstraint | InViewConstraint | NoOverlapConstraint | InRegionConstraint,
    Field(discriminator="kind"),
]
