"""Rare driving events: a jaywalker, a cut-in, a hard-braking lead, debris on the lane, a
stalled vehicle, a wrong-way driver, an animal crossing and a swerving cyclist.

Each edge case places its bodies relative to the ego so that the event happens in front
of the ego's forward cameras, and times it from the ego's planned motion: the ego starts
at its planned position and drives at its ``lane_follow`` target speed (its time-gap
policy may slow it once the event is in its path, which only adds room). Events at a
sampled time become behaviour parameters (see :class:`simgen.behaviours.vehicles.
LaneFollow` and :class:`simgen.behaviours.pedestrians.Cross`).

Frames: world frame, z up, metres; roads run along x (see :class:`RoadLayout`). "Ahead" is
along the ego's direction of travel; "left" and "right" are as seen along a lane's
direction of travel. A body's ``position_m`` z is the height of its bottom. Footprints
are planned from the catalog's sizes, as sampling does not load assets.

Bodies of the scenario's own groups that stand where an edge case puts its bodies, or
in the stretch of lane its event needs clear, are left out of the episode; their names
are recorded under ``edge_cases.NAME.removed`` (comma-separated).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Annotated, Any

import numpy as np
from pydantic import AfterValidator

from simgen.catalog import ASSETS, asset_size_m
from simgen.edge_cases.registry import EDGE_CASES, EdgeCase, EpisodeDraft, edge_case
from simgen.errors import SimgenError
from simgen.sampling.scene import BodyPlan, RoadLayout
from simgen.spec.base import COLOURS, StrictModel
from simgen.spec.distributions import Category, Choice, Const, Integer, Number, largest_int, one_of

#: Size (m: length along its heading, width, height) assumed for an asset the catalog
#: gives no size for (a scenario's own URDF): about a car.
UNKNOWN_SIZE_M = (4.5, 1.8, 1.5)
#: Ego speed (m/s) assumed when the ego has no ``lane_follow`` target speed.
DEFAULT_EGO_SPEED_MPS = 8.0
#: Named colours edge-case vehicles and pedestrians are painted with (one drawn each).
VEHICLE_COLOURS = ("red", "blue", "white", "black", "silver", "grey", "green", "yellow")
SHIRT_COLOURS = ("red", "blue", "green", "yellow", "orange", "purple", "cyan", "pink")
#: Where a crosser waits before stepping off: on the sidewalk, this far from the kerb (m).
KERB_SETBACK_M = 0.4
#: A crosser that must already be walking at t = 0 starts on road level only when it is
#: at least this far past the kerb line (clear of the kerb ramp), else at the kerb (m).
KERB_CLEAR_M = 0.3
#: Bumper gap (m) between the two parked cars a jaywalker steps out between.
PARKED_GAP_M = 1.4
#: Margin (m) by which the footprint of an edge-case body is widened when making room.
ROOM_MARGIN_M = 1.0
#: What lane following plans its stops with (see ``simgen.behaviours.vehicles``): half of
#: ``max_accel_mps2`` (default 3 m/s^2) as deceleration, stopping 3 m short of what is ahead.
PLANNED_DECEL_FRACTION = 0.5
DEFAULT_MAX_ACCEL_MPS2 = 3.0
STANDSTILL_GAP_M = 3.0
#: Time (s) at the closing speed allowed for the speed loop to react, in head-on spacing.
REACTION_S = 1.0
#: Closest distance (m) between debris objects' centres.
DEBRIS_SPACING_M = 1.2
#: Debris lies within the lane, this far (m) from its edges at least.
DEBRIS_EDGE_MARGIN_M = 0.4

Side = Category(one_of(("right", "left"), "side"), {"enum": ["right", "left"]})


def _vehicle_asset(value: Any) -> str:
    """A catalog id of a vehicle (checked when validated, so later catalog entries count)."""
    return one_of(sorted(a for a, e in ASSETS.items() if e.kind == "vehicle"),
                  "vehicle asset")(value)


def _catalog_assets(values: list[str]) -> list[str]:
    """One or more catalog ids."""
    if not values:
        raise ValueError("give at least one asset")
    return [one_of(tuple(ASSETS), "asset")(v) for v in values]


VehicleAsset = Category(_vehicle_asset, {"type": "string",
                                         "description": "catalog id of a vehicle"})
CatalogAssets = Annotated[list[str], AfterValidator(_catalog_assets)]


# --- shared helpers ------------------------------------------------------------------------


def asset_classes(assets: Any) -> tuple[str, ...]:
    """Catalog classes of asset ids (a list, a ``Const`` or a ``Choice``), in order."""
    if isinstance(assets, Const):
        assets = [assets.value]
    elif isinstance(assets, Choice):
        assets = list(assets.options)
    return tuple(dict.fromkeys(ASSETS[a].default_class for a in assets))


def size_m(asset: str, scale: float = 1.0) -> tuple[float, float, float]:
    """Length (along its heading), width and height (m) of an asset at ``scale`` (a car's
    size when the catalog does not know it)."""
    return asset_size_m(asset, scale, UNKNOWN_SIZE_M)


@dataclass(frozen=True)
class EgoMotion:
    """The ego as the edge cases plan around it: where it starts, its lane, its direction
    of travel (+1 towards +x) and its planned speed."""

    x_m: float
    lane: int
    direction: int
    speed_mps: float
    length_m: float
    max_accel_mps2: float = DEFAULT_MAX_ACCEL_MPS2

    def x_at(self, t_s: float, ahead_m: float = 0.0) -> float:
        """World x of the point ``ahead_m`` ahead of the ego's base at time ``t_s``."""
        return self.x_m + self.direction * (self.speed_mps * t_s + ahead_m)


def ego_motion(draft: EpisodeDraft, case: str) -> tuple[RoadLayout, EgoMotion]:
    """The road and the ego's planned motion; a ``SimgenError`` without a road and an ego."""
    if draft.road is None or draft.ego is None or not draft.has(draft.ego):
        raise SimgenError(f"edge case {case!r} needs a road and an ego vehicle")
    road, ego = draft.road, draft.body(draft.ego)
    x, y, _ = ego.position_m
    lane = ego.behaviour_params.get("lane")
    if lane is None:
        lane = min(range(road.total_lanes), key=lambda k: abs(road.lane_centre_y_m(k) - y))
    lane = int(lane)
    if ego.behaviour == "lane_follow":
        direction = road.lane_direction(lane) * (-1 if ego.behaviour_params.get("wrong_way")
                                                 else 1)
        speed = float(ego.behaviour_params.get("speed_mps", DEFAULT_EGO_SPEED_MPS))
    else:
        direction = 1 if math.cos(math.radians(ego.yaw_deg)) >= 0 else -1
        speed = 0.0
    accel = float(ego.behaviour_params.get("max_accel_mps2", DEFAULT_MAX_ACCEL_MPS2))
    return road, EgoMotion(float(x), lane, direction, speed, size_m(ego.asset, ego.scale)[0],
                           accel)


def stopping_distance_m(speed_mps: float, max_accel_mps2: float) -> float:
    """Distance (m) lane following plans to stop in from ``speed_mps``."""
    return speed_mps ** 2 / (2.0 * PLANNED_DECEL_FRACTION * max_accel_mps2)


def side_lane(road: RoadLayout, lane: int, side: str) -> int | None:
    """The lane beside ``lane`` on ``side`` (as seen along its travel) with the same
    direction, or None."""
    direction = road.lane_direction(lane)
    step = direction if side == "left" else -direction
    y = road.lane_centre_y_m(lane) + step * road.lane_width_m
    for other in range(road.total_lanes):
        if (road.lane_direction(other) == direction
                and abs(road.lane_centre_y_m(other) - y) < 1e-6):
            return other
    return None


def neighbour_lane(road: RoadLayout, lane: int) -> int | None:
    """The lane beside ``lane`` running the same way: its left if there is one, else its
    right; None on a one-lane carriageway."""
    left = side_lane(road, lane, "left")
    return left if left is not None else side_lane(road, lane, "right")


def rightmost_lane(road: RoadLayout, direction: int) -> int:
    """The rightmost lane (as seen along travel) of the lanes driving in ``direction``."""
    lanes = [k for k in range(road.total_lanes) if road.lane_direction(k) == direction]
    return min(lanes, key=lambda k: direction * road.lane_centre_y_m(k))


def lane_span_y_m(road: RoadLayout, lane: int) -> tuple[float, float]:
    """World y interval (m) a lane covers."""
    centre, half = road.lane_centre_y_m(lane), 0.5 * road.lane_width_m
    return centre - half, centre + half


def on_road_x_m(road: RoadLayout, x_m: float, margin_m: float) -> float:
    """``x_m`` kept ``margin_m`` inside the ends of the road."""
    return min(max(x_m, road.start_x_m + margin_m), road.end_x_m - margin_m)


def draw_colour(draft: EpisodeDraft, rng: np.random.Generator, names: tuple[str, ...],
                path: str) -> tuple[float, float, float, float]:
    """A named colour drawn from ``names`` (recorded under ``path``) as RGBA."""
    name = names[int(rng.integers(len(names)))]
    draft.sampled[path] = name
    return (*COLOURS[name], 1.0)


def footprint_m(body: BodyPlan, road: RoadLayout | None
                ) -> tuple[tuple[float, float], tuple[float, float]]:
    """World x and y intervals (m) a planned body takes: its catalog box turned by its
    heading, and for a crosser (``cross``) on ``road`` the whole strip to the far sidewalk."""
    length, width, _ = size_m(body.asset, body.scale)
    yaw = math.radians(body.yaw_deg)
    c, s = abs(math.cos(yaw)), abs(math.sin(yaw))
    half_x, half_y = 0.5 * (length * c + width * s), 0.5 * (length * s + width * c)
    x, y, _ = body.position_m
    y_lo, y_hi = y - half_y, y + half_y
    if body.behaviour == "cross" and road is not None:
        far_side = "left" if int(body.behaviour_params.get("direction", 1)) > 0 else "right"
        far_y = road.sidewalk_centre_y_m(far_side)
        y_lo, y_hi = min(y_lo, far_y), max(y_hi, far_y)
    return (x - half_x, x + half_x), (y_lo, y_hi)


def _overlap(a: tuple[float, float], b: tuple[float, float], margin_m: float = 0.0) -> bool:
    return a[1] + margin_m > b[0] and a[0] - margin_m < b[1]


def make_room(draft: EpisodeDraft, case: str, x_m: tuple[float, float],
              y_m: tuple[float, float]) -> list[str]:
    """Leave out the scenario's own bodies whose footprint (:func:`footprint_m`) reaches
    into the rectangle ``x_m`` x ``y_m`` (world frame); returns their names and records
    them. The ego and bodies added by edge cases stay."""
    x_span, y_span = tuple(sorted(x_m)), tuple(sorted(y_m))
    kept: list[BodyPlan] = []
    removed: list[str] = []
    for body in draft.bodies:
        fx, fy = footprint_m(body, draft.road)
        if (body.name != draft.ego and body.group not in EDGE_CASES
                and _overlap(fx, x_span) and _overlap(fy, y_span)):
            removed.append(body.name)
        else:
            kept.append(body)
    draft.bodies[:] = kept
    path = f"edge_cases.{case}.removed"
    before = [n for n in str(draft.sampled.get(path, "")).split(",") if n]
    draft.sampled[path] = ",".join(before + removed)
    return removed


def make_room_around(draft: EpisodeDraft, case: str, body: BodyPlan) -> list[str]:
    """:func:`make_room` over ``body``'s footprint widened by ``ROOM_MARGIN_M``."""
    (x_lo, x_hi), (y_lo, y_hi) = footprint_m(body, draft.road)
    return make_room(draft, case, (x_lo - ROOM_MARGIN_M, x_hi + ROOM_MARGIN_M),
                     (y_lo - ROOM_MARGIN_M, y_hi + ROOM_MARGIN_M))


def clear_of_edge_cases(draft: EpisodeDraft, case: str, body: BodyPlan,
                        direction: int) -> BodyPlan:
    """``body`` moved along x in ``direction`` until its footprint keeps ``ROOM_MARGIN_M``
    from those of the bodies other edge cases added (several may fire in one episode).

    The largest shift (m) of this edge case's bodies is recorded as ``shift_m``.
    """
    others = [footprint_m(other, draft.road) for other in draft.bodies
              if other.group in EDGE_CASES and other.group != case]
    shift = 0.0
    for _ in range(len(others) + 1):
        moved = replace(body, position_m=(body.position_m[0] + shift, *body.position_m[1:]))
        fx, fy = footprint_m(moved, draft.road)
        blocking = [ox for ox, oy in others
                    if _overlap(fx, ox, ROOM_MARGIN_M) and _overlap(fy, oy, ROOM_MARGIN_M)]
        if not blocking:
            break
        if direction > 0:
            shift += max(b[1] for b in blocking) + ROOM_MARGIN_M - fx[0]
        else:
            shift -= fx[1] - (min(b[0] for b in blocking) - ROOM_MARGIN_M)
    path = f"edge_cases.{case}.shift_m"
    draft.sampled[path] = max(float(draft.sampled.get(path, 0.0)), abs(shift))
    return moved


@dataclass(frozen=True)
class CrossingStart:
    """Where and when a crosser starts so that it reaches a lane's centre at ``at_s``.

    ``position_m`` is its base (bottom) at t = 0, ``start_s`` when it steps off,
    ``direction`` +1 when it crosses towards +y.
    """

    position_m: tuple[float, float, float]
    start_s: float
    at_s: float
    direction: int


def crossing_start(road: RoadLayout, side: str, x_m: float, lane: int, speed_mps: float,
                   at_s: float) -> CrossingStart:
    """Plan a crossing from the sidewalk on ``side`` that is at ``lane``'s centre at ``at_s``.

    The crosser waits on the sidewalk ``KERB_SETBACK_M`` from the kerb and steps off in
    time. When there is not time enough to walk from there, it is already walking at t = 0,
    on the road level part of its path; when that point would be on the kerb ramp, it
    starts from the kerb at t = 0 and reaches the lane a little after ``at_s``.
    """
    direction = 1 if side == "right" else -1
    kerb_y = (road.right_edge_y_m - road.shoulder_width_m if side == "right"
              else road.left_edge_y_m + road.shoulder_width_m)
    wait_y = kerb_y - direction * KERB_SETBACK_M
    lane_y = road.lane_centre_y_m(lane)
    walk_s = abs(lane_y - wait_y) / speed_mps
    if at_s >= walk_s:
        return CrossingStart((x_m, wait_y, road.kerb_height_m), at_s - walk_s, at_s, direction)
    y0 = lane_y - direction * speed_mps * at_s
    if direction * (y0 - kerb_y) < KERB_CLEAR_M:
        return CrossingStart((x_m, wait_y, road.kerb_height_m), 0.0, walk_s, direction)
    return CrossingStart((x_m, y0, 0.0), 0.0, at_s, direction)


def ahead_body_x_m(ego: EgoMotion, t_s: float, gap_m: float, length_m: float) -> float:
    """World x of the base (centre) of a vehicle ``length_m`` long whose rear is ``gap_m``
    ahead of the ego's front bumper at ``t_s``."""
    return ego.x_at(t_s, 0.5 * ego.length_m + gap_m + 0.5 * length_m)


def heading_deg(direction: int) -> float:
    """Yaw (deg) of a body travelling along x in ``direction``."""
    return 0.0 if direction > 0 else 180.0


# --- the edge cases --------------------------------------------------------------------------


class _Crossing(EdgeCase):
    """Shared by the jaywalker and the animal: a ``cross`` body timed against the ego."""

    body_name = ""

    def _cross(self, draft: EpisodeDraft, params: dict[str, Any], asset: str, cls: str,
               colour) -> tuple[BodyPlan, RoadLayout, EgoMotion]:
        name = self.name
        road, ego = ego_motion(draft, name)
        at_s = draft.event_time_s(params["at_s"], f"edge_cases.{name}.applied_at_s", 1.0)
        speed = float(params["speed_mps"])
        side = str(params["side"])
        # The crossing point depends on when it reaches the lane, which depends on where it
        # can start; a second pass places it against the ego at the time actually reached.
        start = crossing_start(road, side, 0.0, ego.lane, speed, at_s)
        x = on_road_x_m(road, ego.x_at(start.at_s, params["distance_m"]), 5.0)
        start = crossing_start(road, side, x, ego.lane, speed, at_s)
        draft.sampled[f"edge_cases.{name}.reaches_lane_at_s"] = start.at_s
        draft.sampled[f"edge_cases.{name}.start_s"] = start.start_s
        draft.sampled[f"edge_cases.{name}.start_y_m"] = start.position_m[1]
        body = BodyPlan(
            name=self.body_name, group=name, cls=cls, asset=asset,
            position_m=start.position_m, yaw_deg=90.0 * start.direction, scale=1.0,
            colour_rgba=colour, behaviour="cross",
            behaviour_params={"speed_mps": speed, "start_s": start.start_s,
                              "direction": start.direction})
        body = clear_of_edge_cases(draft, name, body, ego.direction)
        # Nothing parked or standing across its path (shoulders and sidewalks included).
        make_room_around(draft, name, body)
        draft.add(body)
        return body, road, ego


@edge_case("jaywalker", domain="driving")
class Jaywalker(_Crossing):
    """A pedestrian crosses mid-block in front of the ego, from the sidewalk on ``side``.

    It reaches the centre of the ego's lane at ``at_s`` (moved to at most 1 s before the end
    of the episode; recorded as ``applied_at_s``) when the ego is ``distance_m`` behind it
    (base to base, at the ego's planned speed), walking at ``speed_mps``. With probability
    ``between_parked`` it steps out between two parked sedans on that side's shoulder.
    """

    body_name = "jaywalker"
    adds = ("jaywalker", "jaywalker_parked_0", "jaywalker_parked_1")

    class Params(StrictModel):
        distance_m: Number(gt=0) = {"uniform": [10.0, 30.0]}
        at_s: Number(ge=0) = {"uniform": [1.5, 3.0]}
        speed_mps: Number(gt=0, le=4) = {"uniform": [1.2, 2.0]}
        side: Side = {"choice": ["right", "left"], "weights": [0.7, 0.3]}
        between_parked: Number(ge=0, le=1) = 0.5

    @classmethod
    def classes(cls, settings: Any) -> tuple[str, ...]:
        """The pedestrian's class, and the parked sedans' unless they never appear."""
        if settings.between_parked == Const(0.0):
            return ("pedestrian",)
        return ("pedestrian", ASSETS["sedan"].default_class)

    def apply(self, draft: EpisodeDraft, params: dict[str, Any],
              rng: np.random.Generator) -> None:
        """Add the pedestrian (and the two parked cars when it steps out between them)."""
        shirt = draw_colour(draft, rng, SHIRT_COLOURS, f"edge_cases.{self.name}.colour")
        between = bool(rng.random() < params["between_parked"])
        draft.sampled[f"edge_cases.{self.name}.emerges_between_parked"] = between
        walker, road, _ = self._cross(draft, params, "pedestrian", "pedestrian", shirt)
        if not between:
            return
        side = str(params["side"])
        length, _, _ = size_m("sedan")
        offset = 0.5 * length + 0.5 * PARKED_GAP_M
        x = walker.position_m[0]
        y = road.shoulder_centre_y_m(side)
        make_room(draft, self.name, (x - offset - 0.5 * length - ROOM_MARGIN_M,
                                     x + offset + 0.5 * length + ROOM_MARGIN_M),
                  (y - 0.5 * road.shoulder_width_m, y + 0.5 * road.shoulder_width_m))
        for k, sign in enumerate((-1.0, 1.0)):
            colour = draw_colour(draft, rng, VEHICLE_COLOURS,
                                 f"edge_cases.{self.name}.parked_colour[{k}]")
            draft.add(BodyPlan(
                name=f"jaywalker_parked_{k}", group=self.name, cls=ASSETS["sedan"].default_class,
                asset="sedan", position_m=(x + sign * offset, y, 0.0),
                yaw_deg=0.0 if side == "right" else 180.0, scale=1.0, colour_rgba=colour,
                behaviour="parked"))


@edge_case("animal_crossing", domain="driving")
class AnimalCrossing(_Crossing):
    """A deer or a dog runs across the road in front of the ego, from either side.

    Timed like the jaywalker: it reaches the centre of the ego's lane at ``at_s`` (moved to
    at most 1 s before the end; ``applied_at_s``) with the ego ``distance_m`` behind it,
    running at ``speed_mps``. Class ``animal``.
    """

    body_name = "animal"
    adds = ("animal",)

    class Params(StrictModel):
        animal: Category(one_of(("deer", "dog"), "animal"), {"enum": ["deer", "dog"]}) = {
            "choice": ["deer", "dog"]}
        distance_m: Number(gt=0) = {"uniform": [15.0, 35.0]}
        at_s: Number(ge=0) = {"uniform": [1.0, 2.5]}
        speed_mps: Number(gt=0, le=20) = {"uniform": [3.0, 7.0]}
        side: Side = {"choice": ["right", "left"]}

    @classmethod
    def classes(cls, settings: Any) -> tuple[str, ...]:
        """Class ``animal``."""
        return ("animal",)

    def apply(self, draft: EpisodeDraft, params: dict[str, Any],
              rng: np.random.Generator) -> None:
        """Add the running animal."""
        self._cross(draft, params, str(params["animal"]), "animal", None)


class _VehicleCase(EdgeCase):
    """An edge case that adds a vehicle drawn from its ``asset`` parameter."""

    @classmethod
    def classes(cls, settings: Any) -> tuple[str, ...]:
        """Classes of the vehicle assets it may draw."""
        return asset_classes(settings.asset)


@edge_case("cut_in", domain="driving")
class CutIn(_VehicleCase):
    """A vehicle in the lane beside the ego (its left if that lane runs the same way, else
    its right) overtakes and changes into the ego's lane close in front of it.

    It drives ``speed_delta_mps`` faster than the ego and starts its lane change at
    ``at_s``, taking ``lane_change_duration_s`` (``at_s`` is moved so that the change ends
    0.5 s before the end of the episode, or at least starts in its first half;
    ``applied_at_s``). It is placed so that when the change is over its rear is
    ``gap_m`` ahead of the ego's front bumper at the ego's planned speed (the ego's
    time-gap policy then brakes, opening the gap).
    """

    adds = ("cut_in_vehicle",)

    class Params(StrictModel):
        asset: VehicleAsset = {"choice": ["sedan", "van"], "weights": [0.7, 0.3]}
        at_s: Number(ge=0) = {"uniform": [1.0, 2.5]}
        gap_m: Number(ge=0) = {"uniform": [4.0, 10.0]}
        speed_delta_mps: Number(ge=0, le=20) = {"uniform": [0.5, 2.0]}
        lane_change_duration_s: Number(gt=0, le=10) = {"uniform": [1.5, 2.5]}

    @classmethod
    def problems(cls, scenario: Any, settings: Any) -> Iterator[tuple[tuple, str]]:
        """A cut-in needs a second lane running the ego's way on every possible road."""
        road = scenario.world.road
        if road is not None and max(largest_int(road.lanes),
                                    largest_int(road.oncoming_lanes)) < 2:
            yield (), ("needs a lane beside the ego running the same way; the road has at "
                       "most one lane in each direction")

    def apply(self, draft: EpisodeDraft, params: dict[str, Any],
              rng: np.random.Generator) -> None:
        """Add the vehicle beside the ego with its lane change scheduled."""
        road, ego = ego_motion(draft, self.name)
        from_lane = neighbour_lane(road, ego.lane)
        if from_lane is None:
            raise SimgenError(
                f"edge case {self.name!r} needs a lane beside the ego's running the same way; "
                f"this episode's road has {road.lanes} forward lane(s)")
        draft.sampled[f"edge_cases.{self.name}.from_lane"] = from_lane
        change_s = float(params["lane_change_duration_s"])
        at_s = draft.event_time_s(params["at_s"], f"edge_cases.{self.name}.applied_at_s",
                              change_s + 0.5)
        asset = str(params["asset"])
        length, _, _ = size_m(asset)
        speed = ego.speed_mps + float(params["speed_delta_mps"])
        end_s = at_s + change_s
        # Where it must be at the end of the change, less what it gains on the ego until then.
        end_x = ahead_body_x_m(ego, end_s, params["gap_m"], length)
        x = on_road_x_m(road, end_x - ego.direction * speed * end_s, 5.0)
        colour = draw_colour(draft, rng, VEHICLE_COLOURS, f"edge_cases.{self.name}.colour")
        body = BodyPlan(
            name="cut_in_vehicle", group=self.name, cls=ASSETS[asset].default_class,
            asset=asset, position_m=(x, road.lane_centre_y_m(from_lane), 0.0),
            yaw_deg=heading_deg(ego.direction), scale=1.0, colour_rgba=colour,
            behaviour="lane_follow",
            behaviour_params={"lane": from_lane, "speed_mps": speed, "initial_speed_mps": speed,
                              "lane_change_at_s": at_s, "lane_change_to": ego.lane,
                              "lane_change_duration_s": change_s})
        body = clear_of_edge_cases(draft, self.name, body, ego.direction)
        # Clear its own lane from beside the ego to past where it ends, and the ego's lane
        # from the ego's front to past where it cuts in.
        end_x = body.position_m[0] + ego.direction * speed * end_s
        ego_front = ego.x_at(0.0, 0.5 * ego.length_m)
        make_room(draft, self.name, (ego.x_at(0.0, -ego.length_m), end_x + ego.direction * 10.0),
                  lane_span_y_m(road, from_lane))
        make_room(draft, self.name, (ego_front, end_x + ego.direction * 10.0),
                  lane_span_y_m(road, ego.lane))
        draft.add(body)


@edge_case("hard_brake", domain="driving")
class HardBrake(_VehicleCase):
    """The vehicle ahead of the ego brakes hard to a stop.

    A lead vehicle in the ego's lane, its rear ``gap_m`` ahead of the ego's front bumper,
    drives at ``speed_ratio`` times the ego's speed; at ``at_s`` (moved to at most 1.5 s
    before the end; ``applied_at_s``) it brakes at ``decel_mps2`` to a standstill. The
    ego's lane between them is cleared of the scenario's own bodies.
    """

    adds = ("braking_lead",)

    class Params(StrictModel):
        asset: VehicleAsset = {"choice": ["sedan", "van"], "weights": [0.7, 0.3]}
        gap_m: Number(gt=0) = {"uniform": [15.0, 25.0]}
        speed_ratio: Number(gt=0, le=3) = {"uniform": [0.9, 1.1]}
        at_s: Number(ge=0) = {"uniform": [1.0, 2.5]}
        decel_mps2: Number(gt=0, le=15) = {"uniform": [6.0, 9.0]}

    def apply(self, draft: EpisodeDraft, params: dict[str, Any],
              rng: np.random.Generator) -> None:
        """Add the lead vehicle with its brake event."""
        road, ego = ego_motion(draft, self.name)
        at_s = draft.event_time_s(params["at_s"], f"edge_cases.{self.name}.applied_at_s",
                              1.5)
        asset = str(params["asset"])
        length, _, _ = size_m(asset)
        speed = float(params["speed_ratio"]) * (ego.speed_mps or DEFAULT_EGO_SPEED_MPS)
        x = on_road_x_m(road, ahead_body_x_m(ego, 0.0, params["gap_m"], length), 5.0)
        colour = draw_colour(draft, rng, VEHICLE_COLOURS, f"edge_cases.{self.name}.colour")
        body = BodyPlan(
            name="braking_lead", group=self.name, cls=ASSETS[asset].default_class, asset=asset,
            position_m=(x, road.lane_centre_y_m(ego.lane), 0.0),
            yaw_deg=heading_deg(ego.direction), scale=1.0, colour_rgba=colour,
            behaviour="lane_follow",
            behaviour_params={"lane": ego.lane, "speed_mps": speed, "initial_speed_mps": speed,
                              "brake_at_s": at_s, "brake_decel_mps2": params["decel_mps2"]})
        body = clear_of_edge_cases(draft, self.name, body, ego.direction)
        x = body.position_m[0]
        make_room(draft, self.name, (ego.x_at(0.0, 0.5 * ego.length_m),
                                     x + ego.direction * (0.5 * length + ROOM_MARGIN_M)),
                  lane_span_y_m(road, ego.lane))
        draft.add(body)


@edge_case("debris", domain="driving")
class Debris(EdgeCase):
    """``count`` objects (tyres, crates, boxes: one of ``assets`` each) lie on the ego's lane
    about ``ahead_m`` ahead of the ego, scattered over a few metres. Class ``debris``;
    they are dynamic bodies resting on the road."""

    adds = tuple(f"debris_{k}" for k in range(6))

    class Params(StrictModel):
        count: Integer(ge=1, le=6) = {"randint": [1, 3]}
        ahead_m: Number(gt=0) = {"uniform": [25.0, 45.0]}
        spread_m: Number(ge=0, le=20) = 4.0
        assets: CatalogAssets = ["tyre", "crate", "cardboard_box"]

    @classmethod
    def classes(cls, settings: Any) -> tuple[str, ...]:
        """Class ``debris``."""
        return ("debris",)

    def apply(self, draft: EpisodeDraft, params: dict[str, Any],
              rng: np.random.Generator) -> None:
        """Scatter the objects on the ego's lane ahead."""
        road, ego = ego_motion(draft, self.name)
        assets = list(params["assets"])
        centre_x = on_road_x_m(road, ego.x_at(0.0, params["ahead_m"]), 5.0)
        lane_lo, lane_hi = lane_span_y_m(road, ego.lane)
        half_spread = 0.5 * float(params["spread_m"])
        placed: list[tuple[float, float]] = []
        records = []
        for k in range(int(params["count"])):
            asset = assets[int(rng.integers(len(assets)))]
            length, width, _ = size_m(asset)
            reach = 0.5 * math.hypot(length, width) + DEBRIS_EDGE_MARGIN_M
            y_lo, y_hi = lane_lo + reach, lane_hi - reach
            if y_lo > y_hi:
                y_lo = y_hi = 0.5 * (lane_lo + lane_hi)
            for _ in range(100):  # rejection sampling: keep debris objects apart
                x = centre_x + float(rng.uniform(-half_spread, half_spread))
                y = float(rng.uniform(y_lo, y_hi))
                if all(math.hypot(x - px, y - py) >= DEBRIS_SPACING_M for px, py in placed):
                    break
            placed.append((x, y))
            yaw = float(rng.uniform(-180.0, 180.0))
            records.append({"name": f"debris_{k}", "asset": asset, "x_m": x, "y_m": y,
                            "yaw_deg": yaw})
            body = BodyPlan(
                name=f"debris_{k}", group=self.name, cls="debris", asset=asset,
                position_m=(x, y, 0.0), yaw_deg=yaw, scale=1.0, colour_rgba=None,
                behaviour="static")
            body = clear_of_edge_cases(draft, self.name, body, ego.direction)
            make_room_around(draft, self.name, body)
            draft.add(body)
        draft.sampled[f"edge_cases.{self.name}.objects"] = records


@edge_case("stalled_vehicle", domain="driving")
class StalledVehicle(_VehicleCase):
    """A broken-down vehicle stands in the ego's lane ``ahead_m`` ahead of the ego (base to
    base), ``lateral_offset_m`` off the lane's centre (left positive) and turned by
    ``yaw_deg`` from the lane's direction. It never moves (``parked`` behaviour)."""

    adds = ("stalled_vehicle",)

    class Params(StrictModel):
        asset: VehicleAsset = {"choice": ["sedan", "van"], "weights": [0.7, 0.3]}
        ahead_m: Number(gt=0) = {"uniform": [25.0, 45.0]}
        lateral_offset_m: Number(ge=-2, le=2) = {"uniform": [-0.4, 0.4]}
        yaw_deg: Number(ge=-45, le=45) = {"uniform": [-8.0, 8.0]}

    def apply(self, draft: EpisodeDraft, params: dict[str, Any],
              rng: np.random.Generator) -> None:
        """Add the stopped vehicle."""
        road, ego = ego_motion(draft, self.name)
        asset = str(params["asset"])
        x = on_road_x_m(road, ego.x_at(0.0, params["ahead_m"]), 5.0)
        y = road.lane_centre_y_m(ego.lane) + ego.direction * float(params["lateral_offset_m"])
        colour = draw_colour(draft, rng, VEHICLE_COLOURS, f"edge_cases.{self.name}.colour")
        body = BodyPlan(
            name="stalled_vehicle", group=self.name, cls=ASSETS[asset].default_class,
            asset=asset, position_m=(x, y, 0.0),
            yaw_deg=heading_deg(ego.direction) + float(params["yaw_deg"]), scale=1.0,
            colour_rgba=colour, behaviour="parked")
        body = clear_of_edge_cases(draft, self.name, body, ego.direction)
        make_room_around(draft, self.name, body)
        draft.add(body)


@edge_case("wrong_way", domain="driving")
class WrongWay(_VehicleCase):
    """A vehicle drives against the traffic towards the ego: in the lane beside the ego that
    runs the ego's way (its left first), else in the ego's own lane.

    It starts ``ahead_m`` ahead of the ego (base to base) at ``speed_mps``. In the ego's
    lane both vehicles' time-gap policies see each other coming and they stop face to face;
    there it starts at least as far away as both need to stop (their planned stopping
    distances, the standstill gap and 1 s at the closing speed), recorded as
    ``start_ahead_m``. The lane is cleared of the scenario's own bodies between them.
    """

    adds = ("wrong_way_vehicle",)

    class Params(StrictModel):
        asset: VehicleAsset = {"choice": ["sedan", "van"], "weights": [0.7, 0.3]}
        ahead_m: Number(gt=0) = {"uniform": [40.0, 70.0]}
        speed_mps: Number(gt=0, le=40) = {"uniform": [5.0, 10.0]}

    def apply(self, draft: EpisodeDraft, params: dict[str, Any],
              rng: np.random.Generator) -> None:
        """Add the wrong-way vehicle."""
        road, ego = ego_motion(draft, self.name)
        lane = neighbour_lane(road, ego.lane)
        if lane is None:
            lane = ego.lane
        draft.sampled[f"edge_cases.{self.name}.lane"] = lane
        asset = str(params["asset"])
        length, _, _ = size_m(asset)
        speed = float(params["speed_mps"])
        ahead = float(params["ahead_m"])
        if lane == ego.lane:  # head-on: leave both room to stop
            ahead = max(ahead, 0.5 * (ego.length_m + length) + STANDSTILL_GAP_M
                        + stopping_distance_m(ego.speed_mps, ego.max_accel_mps2)
                        + stopping_distance_m(speed, DEFAULT_MAX_ACCEL_MPS2)
                        + REACTION_S * (ego.speed_mps + speed))
        draft.sampled[f"edge_cases.{self.name}.start_ahead_m"] = ahead
        x = on_road_x_m(road, ego.x_at(0.0, ahead), 5.0)
        colour = draw_colour(draft, rng, VEHICLE_COLOURS, f"edge_cases.{self.name}.colour")
        body = BodyPlan(
            name="wrong_way_vehicle", group=self.name, cls=ASSETS[asset].default_class,
            asset=asset, position_m=(x, road.lane_centre_y_m(lane), 0.0),
            yaw_deg=heading_deg(-ego.direction), scale=1.0, colour_rgba=colour,
            behaviour="lane_follow",
            behaviour_params={"lane": lane, "speed_mps": speed, "initial_speed_mps": speed,
                              "wrong_way": True})
        body = clear_of_edge_cases(draft, self.name, body, ego.direction)
        x = body.position_m[0]
        make_room(draft, self.name, (ego.x_at(0.0, 0.5 * ego.length_m),
                                     x + ego.direction * (0.5 * length + ROOM_MARGIN_M)),
                  lane_span_y_m(road, lane))
        draft.add(body)


@edge_case("cyclist_swerve", domain="driving")
class CyclistSwerve(EdgeCase):
    """A cyclist rides ahead of the ego near the right edge of the rightmost lane, slower
    than the ego, and swerves left into the lane.

    It starts ``ahead_m`` ahead of the ego (base to base), its centre ``edge_gap_m`` from
    the lane's right edge, at ``speed_mps``; at ``at_s`` (moved to at most 1.5 s before
    the end; ``applied_at_s``) it moves ``swerve_m`` to the left over
    ``swerve_duration_s`` and rides on there.
    """

    adds = ("cyclist",)

    class Params(StrictModel):
        ahead_m: Number(gt=0) = {"uniform": [15.0, 30.0]}
        speed_mps: Number(gt=0, le=15) = {"uniform": [3.0, 5.5]}
        edge_gap_m: Number(gt=0, le=2) = {"uniform": [0.5, 0.8]}
        at_s: Number(ge=0) = {"uniform": [1.0, 2.5]}
        swerve_m: Number(gt=0, le=3) = {"uniform": [0.8, 1.5]}
        swerve_duration_s: Number(gt=0, le=5) = {"uniform": [0.8, 1.2]}

    @classmethod
    def classes(cls, settings: Any) -> tuple[str, ...]:
        """Class ``cyclist``."""
        return ("cyclist",)

    def apply(self, draft: EpisodeDraft, params: dict[str, Any],
              rng: np.random.Generator) -> None:
        """Add the cyclist with its swerve scheduled."""
        road, ego = ego_motion(draft, self.name)
        lane = rightmost_lane(road, ego.direction)
        at_s = draft.event_time_s(params["at_s"], f"edge_cases.{self.name}.applied_at_s",
                              1.5)
        offset = -(0.5 * road.lane_width_m - float(params["edge_gap_m"]))  # left positive
        draft.sampled[f"edge_cases.{self.name}.lateral_offset_m"] = offset
        x = on_road_x_m(road, ego.x_at(0.0, params["ahead_m"]), 5.0)
        y = road.lane_centre_y_m(lane) + ego.direction * offset
        body = BodyPlan(
            name="cyclist", group=self.name, cls="cyclist", asset="cyclist",
            position_m=(x, y, 0.0), yaw_deg=heading_deg(ego.direction), scale=1.0,
            colour_rgba=None, behaviour="lane_follow",
            behaviour_params={"lane": lane, "speed_mps": params["speed_mps"],
                              "initial_speed_mps": params["speed_mps"], "max_accel_mps2": 2.0,
                              "lateral_offset_m": offset, "swerve_at_s": at_s,
                              "swerve_m": params["swerve_m"],
                              "swerve_duration_s": params["swerve_duration_s"]})
        body = clear_of_edge_cases(draft, self.name, body, ego.direction)
        make_room_around(draft, self.name, body)
        draft.add(body)
