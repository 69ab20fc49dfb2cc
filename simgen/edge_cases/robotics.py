"""Rare robotics events: a knocked camera, a slipping grasp, a hidden, tipped-over or
camouflaged target, and an object falling into the workspace.

Frames: positions are in the world frame (z up, metres); a body's ``position_m`` z is the
height of its bottom. Footprints are planned from the catalog's ``size_m``, as sampling
does not load assets. Edge cases apply in the order they are registered here: the target is
tipped and recoloured before clutter is packed around it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from pydantic import field_validator

from simgen.catalog import ASSETS, asset_size_m, assets_of_kind
from simgen.edge_cases.registry import EdgeCase, EpisodeDraft, edge_case
from simgen.sampling.scene import BodyPlan, CameraPlan
from simgen.spec.base import COLOURS, StrictModel
from simgen.spec.distributions import Category, Choice, Const, Integer, Number, one_of

#: Assumed size of an object the catalog does not describe (a scenario's own .urdf).
UNKNOWN_EXTENTS_M = (0.08, 0.08, 0.1)
#: Objects round about their own z axis: their footprint is the inscribed circle.
ROUND_OBJECTS = ("can", "bottle", "sphere_small")
#: Objects that look the same tipped onto a side: tipping them over shows nothing.
TILT_INVARIANT = ("block", "cube_small", "sphere_small")
#: Half-size (m) of pybullet_data's table top about its centre, and a margin kept from its
#: edges and from the arm's base.
TABLE_HALF_M = (0.75, 0.5)
EDGE_MARGIN_M = 0.03
ARM_BASE_CLEARANCE_M = 0.15
#: Most clutter objects around an occluded target, and most lying across its top.
MAX_CLUTTER = 12
MAX_COVER = 3
#: Where sampling records the arm's pick target (the arm is the one body of ``world.arm``).
ARM_TARGET_PATH = "world.arm.instances[0].behaviour.target"

OBJECT_ASSETS = tuple(assets_of_kind("object"))
_object_asset = one_of(OBJECT_ASSETS, "object asset")
ObjectAsset = Category(_object_asset, {"type": "string", "enum": list(OBJECT_ASSETS)})


def _classes_of(assets: list[str] | Const | Choice) -> tuple[str, ...]:
    """Catalog classes of asset ids (a list, a ``Const`` or a ``Choice``), in order."""
    if isinstance(assets, Const):
        assets = [assets.value]
    elif isinstance(assets, Choice):
        assets = list(assets.options)
    return tuple(dict.fromkeys(ASSETS[a].default_class for a in assets))


def _object_assets(values: list[str]) -> list[str]:
    for value in values:
        _object_asset(value)
    if not values:
        raise ValueError("give at least one asset")
    return values


# --- shared helpers ------------------------------------------------------------------------


def object_extents_m(body: BodyPlan) -> np.ndarray:
    """Size (m) of ``body`` along its own x, y, z axes (upright, scale applied)."""
    return np.array(asset_size_m(body.asset, body.scale, UNKNOWN_EXTENTS_M))


def tilted_size_m(extents_m, roll_pitch_deg: tuple[float, float]) -> np.ndarray:
    """World-axis bounding-box size (before the heading) of a box of ``extents_m`` tilted
    by roll about its x axis, then pitch about y (``BodyPlan.roll_pitch_deg``)."""
    roll, pitch = (math.radians(a) for a in roll_pitch_deg)
    rx = np.array([[1, 0, 0], [0, math.cos(roll), -math.sin(roll)],
                   [0, math.sin(roll), math.cos(roll)]])
    ry = np.array([[math.cos(pitch), 0, math.sin(pitch)], [0, 1, 0],
                   [-math.sin(pitch), 0, math.cos(pitch)]])
    return np.abs(ry @ rx) @ np.asarray(extents_m, dtype=float)


def body_size_m(body: BodyPlan) -> np.ndarray:
    """Bounding-box size (m) of ``body`` as it stands, tilt applied, before its heading."""
    return tilted_size_m(object_extents_m(body), body.roll_pitch_deg)


def footprint_radius_m(body: BodyPlan) -> float:
    """Radius (m) of a circle about ``body``'s centre covering its footprint at any yaw."""
    sx, sy, _ = body_size_m(body)
    if body.asset in ROUND_OBJECTS and body.roll_pitch_deg == (0.0, 0.0):
        return 0.5 * max(sx, sy)
    return 0.5 * math.hypot(sx, sy)


def _pick_target(draft: EpisodeDraft, rng: np.random.Generator, path: str,
                 prefer: Callable[[BodyPlan], bool] = lambda body: True) -> BodyPlan | None:
    """The arm's pick target, else a random labeled static object; None when there is none.

    When the arm's target fails ``prefer``, the arm is given another object of the same
    group that passes it, if there is one. The chosen name is recorded under ``path``.
    """
    objects = [b for b in draft.bodies if b.labeled and b.behaviour == "static"]
    arm = draft.body(draft.arm) if draft.arm is not None and draft.has(draft.arm) else None
    current = arm.behaviour_params.get("target") if arm is not None else None
    if current is not None:
        target = draft.body(current)
        if not prefer(target):
            better = [b for b in objects if b.group == target.group and prefer(b)]
            if better:
                target = better[int(rng.integers(len(better)))]
                draft.change(arm.name, behaviour_params={**arm.behaviour_params,
                                                         "target": target.name})
                if ARM_TARGET_PATH in draft.sampled:  # keep the record of the pick true
                    draft.sampled[ARM_TARGET_PATH] = target.name
    elif objects:
        better = [b for b in objects if prefer(b)] or objects
        target = better[int(rng.integers(len(better)))]
    else:
        target = None
    draft.sampled[path] = None if target is None else target.name
    return target


def _world_camera(draft: EpisodeDraft, name: str | None) -> CameraPlan | None:
    """Camera ``name``, else the first camera, if it is mounted in the world (its position
    is then in the world frame); None otherwise."""
    for cam in draft.cameras:
        if cam.mount == "world" and name in (None, cam.name):
            return cam
    return None


def _rotation_xyz_deg(axis: np.ndarray, angle_deg: float) -> tuple[float, float, float]:
    """Angles (deg) about a frame's own x, then y, then z axes (``axis_rotation``'s
    convention) that compose to a turn of ``angle_deg`` about the unit vector ``axis``."""
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    a = math.radians(angle_deg)
    r = np.eye(3) + math.sin(a) * k + (1 - math.cos(a)) * k @ k  # Rodrigues
    # r = Rx(ax) Ry(ay) Rz(az): r[0,2] = sin ay, r[1,2] = -sin ax cos ay, r[0,1] = -cos ay sin az
    ay = math.asin(float(np.clip(r[0, 2], -1.0, 1.0)))
    ax = math.atan2(-r[1, 2], r[2, 2])
    az = math.atan2(-r[0, 1], r[0, 0])
    return (math.degrees(ax), math.degrees(ay), math.degrees(az))


# --- the edge cases --------------------------------------------------------------------------


@edge_case("camera_bump", domain="robotics")
class CameraBump(EdgeCase):
    """A camera is knocked at a random time: from then on it points off by ``angle_deg``
    (about a random axis of the camera, mostly across the view rather than about it)."""

    class Params(StrictModel):
        camera: str | None = None  # default: the first camera
        at_s: Number(ge=0) = {"uniform": [0.5, 3.0]}
        angle_deg: Number(gt=0, le=45) = {"uniform": [4.0, 10.0]}

    def apply(self, draft: EpisodeDraft, params: dict[str, Any],
              rng: np.random.Generator) -> None:
        """Set the camera's bump time and rotation."""
        name = params["camera"] or draft.cameras[0].name
        axis = rng.normal(size=3) * np.array([1.0, 1.0, 0.3])
        axis /= np.linalg.norm(axis)
        rotation = _rotation_xyz_deg(axis, params["angle_deg"])
        draft.sampled[f"edge_cases.{self.name}.axis"] = [float(a) for a in axis]
        draft.sampled[f"edge_cases.{self.name}.rotation_deg"] = list(rotation)
        at_s = draft.event_time_s(params["at_s"], f"edge_cases.{self.name}.applied_at_s", 0.5)
        draft.change_camera(name, bump_at_s=at_s, bump_rotation_deg=rotation)


@edge_case("gripper_slip", domain="robotics")
class GripperSlip(EdgeCase):
    """The picked object slips out of the closed gripper while it is carried and falls.

    ``at_fraction`` is how far through the carry move (its planned duration) the grasp
    gives way; the arm carries on to the place position with the gripper closed, then
    opens and goes home. Nothing happens when the grasp itself failed.
    """

    class Params(StrictModel):
        at_fraction: Number(ge=0, le=1) = {"uniform": [0.15, 0.7]}

    def apply(self, draft: EpisodeDraft, params: dict[str, Any],
              rng: np.random.Generator) -> None:
        """Give the arm its slip time (a pick-and-place behaviour parameter)."""
        if draft.arm is None:
            return
        arm = draft.body(draft.arm)
        draft.change(arm.name, behaviour_params={
            **arm.behaviour_params, "slip_at_carry_fraction": float(params["at_fraction"])})


@edge_case("tipped_over", domain="robotics")
class TippedOver(EdgeCase):
    """The target starts lying on its side: tilted by ``tilt_deg`` about its own x or y axis
    (drawn, either way), with a heading that keeps it clear of its neighbours.

    An object that looks the same tipped over (a cube, a ball) is swapped for another of
    the target's group that does not, when there is one (the arm then picks that one).
    """

    class Params(StrictModel):
        tilt_deg: Number(ge=30, le=150) = 90.0

    def apply(self, draft: EpisodeDraft, params: dict[str, Any],
              rng: np.random.Generator) -> None:
        """Tilt the target and turn it to where it has the most room."""
        path = f"edge_cases.{self.name}"
        target = _pick_target(draft, rng, f"{path}.target",
                              prefer=lambda b: b.asset not in TILT_INVARIANT)
        if target is None:
            return
        tilt = float(params["tilt_deg"]) * (1 if rng.random() < 0.5 else -1)
        roll_pitch = (tilt, 0.0) if rng.random() < 0.5 else (0.0, tilt)
        size = tilted_size_m(object_extents_m(target), roll_pitch)
        centre = np.array(target.position_m[:2])
        others = [(np.array(b.position_m[:2]), footprint_radius_m(b)) for b in draft.bodies
                  if b.name not in (target.name, draft.arm)]
        offset = float(rng.uniform(0, 15))
        best_yaw, best_room = target.yaw_deg, -math.inf
        for yaw in offset + np.arange(0.0, 180.0, 15.0):
            room = _rectangle_room(centre, size[:2], yaw, others)
            if room > best_room + 1e-9:
                best_yaw, best_room = float(yaw), room
        draft.change(target.name, roll_pitch_deg=roll_pitch, yaw_deg=best_yaw)
        draft.sampled[f"{path}.roll_pitch_deg"] = list(roll_pitch)
        draft.sampled[f"{path}.yaw_deg"] = best_yaw


def _rectangle_room(centre: np.ndarray, size_xy: np.ndarray, yaw_deg: float,
                    others: list[tuple[np.ndarray, float]]) -> float:
    """Least clearance (m) between a rectangle (``size_xy`` turned by ``yaw_deg`` about
    ``centre``) and circles (centre, radius); +inf without circles."""
    yaw = math.radians(yaw_deg)
    rot = np.array([[math.cos(yaw), math.sin(yaw)], [-math.sin(yaw), math.cos(yaw)]])
    room = math.inf
    for xy, radius in others:
        local = np.abs(rot @ (xy - centre)) - 0.5 * size_xy
        room = min(room, float(np.hypot(*np.maximum(local, 0.0))) - radius)
    return room


@edge_case("low_contrast", domain="robotics")
class LowContrast(EdgeCase):
    """The target is coloured almost like the table: each channel within ``max_delta`` of
    the table's mean colour (the wood texture of pybullet_data's table, tinted by the
    table's ``colour`` if it has one, or the two colours of its procedural texture)."""

    class Params(StrictModel):
        max_delta: Number(ge=0, le=0.5) = {"uniform": [0.03, 0.08]}

    def apply(self, draft: EpisodeDraft, params: dict[str, Any],
              rng: np.random.Generator) -> None:
        """Recolour the target (and drop any texture of its own)."""
        path = f"edge_cases.{self.name}"
        target = _pick_target(draft, rng, f"{path}.target")
        if target is None or draft.table is None:
            return
        base = np.array(draft.table.mean_colour())
        delta = float(params["max_delta"])
        colour = np.clip(base + rng.uniform(-delta, delta, 3), 0.0, 1.0)
        draft.change(target.name, colour_rgba=(*(float(c) for c in colour), 1.0), texture=None)
        draft.sampled[f"{path}.colour"] = [float(c) for c in colour]


@edge_case("occluded_target", domain="robotics")
class OccludedTarget(EdgeCase):
    """The target sits in heavy clutter: labeled objects (``clutter_0``, ...) packed around
    it, the first ones on the camera's side, and ``cover`` objects lying across its top.

    First ``cover`` elongated objects from ``cover_assets`` rest across the target's top,
    each crossing the one below (round ones, bottles and cans, laid on their side). Then
    ``count`` objects from ``assets`` stand on the table around it, ``gap_m`` apart, each
    at the free spot nearest the target, ties going to the side facing ``camera``
    (default: the first camera, when it is mounted in the world; any side when the camera
    looks straight down or rides on the arm). Each piece gets a random named colour.
    """

    adds = tuple(f"clutter_{i}" for i in range(MAX_CLUTTER + MAX_COVER))

    class Params(StrictModel):
        camera: str | None = None
        count: Integer(ge=0, le=MAX_CLUTTER) = {"randint": [4, 8]}
        cover: Integer(ge=0, le=MAX_COVER) = {"randint": [1, 2]}
        gap_m: Number(ge=0, le=0.05) = {"uniform": [0.002, 0.01]}
        assets: list[str] = ["bottle", "can", "mug", "block"]
        cover_assets: list[str] = ["jenga", "bottle"]

        @field_validator("assets", "cover_assets")
        @classmethod
        def _known_objects(cls, value: list[str]) -> list[str]:
            return _object_assets(value)

    @classmethod
    def classes(cls, settings: Any) -> tuple[str, ...]:
        """Classes of the clutter it may add (from its scenario settings)."""
        return _classes_of([*settings.cover_assets, *settings.assets])

    def apply(self, draft: EpisodeDraft, params: dict[str, Any],
              rng: np.random.Generator) -> None:
        """Add the cover and the ring of clutter around the target."""
        path = f"edge_cases.{self.name}"
        target = _pick_target(draft, rng, f"{path}.target")
        if target is None:
            return
        placed: list[dict[str, Any]] = []
        # what already stands on the table, as footprint circles the ring keeps clear of
        others = [(np.array(b.position_m[:2]), footprint_radius_m(b)) for b in draft.bodies
                  if b.name not in (target.name, draft.arm)]
        self._cover(draft, target, int(params["cover"]), params["cover_assets"], rng, placed)
        self._ring(draft, target, params, rng, others, placed)
        draft.sampled[f"{path}.clutter"] = placed

    def _add(self, draft: EpisodeDraft, asset: str, xyz, yaw_deg: float,
             roll_pitch_deg: tuple[float, float], rng: np.random.Generator,
             placed: list[dict[str, Any]]) -> BodyPlan:
        colour = sorted(COLOURS)[int(rng.integers(len(COLOURS)))]
        body = BodyPlan(
            name=f"clutter_{len(placed)}", group=self.name, cls=ASSETS[asset].default_class,
            asset=asset, position_m=tuple(float(v) for v in xyz), yaw_deg=float(yaw_deg),
            scale=1.0, colour_rgba=(*COLOURS[colour], 1.0), behaviour="static",
            roll_pitch_deg=roll_pitch_deg)
        draft.add(body)
        placed.append({"name": body.name, "asset": asset, "position_m": list(body.position_m),
                       "yaw_deg": body.yaw_deg, "roll_pitch_deg": list(roll_pitch_deg),
                       "colour": colour})
        return body

    def _cover(self, draft: EpisodeDraft, target: BodyPlan, cover: int, assets: list[str],
               rng: np.random.Generator, placed: list[dict[str, Any]]) -> None:
        """Elongated objects lying across the target's top, each crossing the one below;
        round ones (which would roll off a round one) go on top of flat ones."""
        chosen = [assets[int(rng.integers(len(assets)))] for _ in range(cover)]
        chosen.sort(key=lambda a: a in ROUND_OBJECTS)
        top_z = target.position_m[2] + body_size_m(target)[2]
        yaw = target.yaw_deg + float(rng.uniform(-15, 15))
        for asset in chosen:
            ex, ey, ez = asset_size_m(asset, 1.0, UNKNOWN_EXTENTS_M)
            if asset in ROUND_OBJECTS:  # laid on its side, its length along its own x
                roll_pitch, long_axis_deg, height = (0.0, 90.0), 0.0, max(ex, ey)
            else:  # lies flat; its length is its longer horizontal axis
                roll_pitch, long_axis_deg, height = (0.0, 0.0), 0.0 if ex >= ey else 90.0, ez
            xyz = (target.position_m[0], target.position_m[1], top_z + 0.001)
            self._add(draft, asset, xyz, yaw - long_axis_deg, roll_pitch, rng, placed)
            top_z += height + 0.001
            yaw += 90.0 + float(rng.uniform(-20, 20))

    def _ring(self, draft: EpisodeDraft, target: BodyPlan, params: dict[str, Any],
              rng: np.random.Generator, others: list[tuple[np.ndarray, float]],
              placed: list[dict[str, Any]]) -> None:
        """Objects standing on the table around the target: each at the free spot nearest
        the target, ties going to the camera's side."""
        centre = np.array(target.position_m[:2])
        camera = _world_camera(draft, params["camera"])
        towards = None if camera is None else np.array(camera.position_m[:2]) - centre
        if towards is None or np.hypot(*towards) < 0.01:  # overhead: any side will do
            azimuth = float(rng.uniform(-math.pi, math.pi))
        else:
            azimuth = math.atan2(towards[1], towards[0])
        gap = float(params["gap_m"])
        assets = params["assets"]
        inner = footprint_radius_m(target)
        for _ in range(int(params["count"])):
            asset = assets[int(rng.integers(len(assets)))]
            ex, ey, _ = asset_size_m(asset, 1.0, UNKNOWN_EXTENTS_M)
            radius = 0.5 * (max(ex, ey) if asset in ROUND_OBJECTS else math.hypot(ex, ey))
            spot = _free_spot(draft, centre, inner + gap + radius, azimuth, radius, gap, others)
            if spot is None:
                continue  # no room left on the table around it
            others.append((spot, radius))
            self._add(draft, asset, (*spot, target.position_m[2]),
                      float(rng.uniform(-180, 180)), (0.0, 0.0), rng, placed)


#: How far out (m) past touching the target the clutter may stand, and the search steps.
CLUTTER_REACH_M = 0.15
_SPOT_STEP_M = 0.005
_SPOT_ANGLES = np.radians(np.arange(0.0, 360.0, 5.0))
#: Metres of extra distance a spot on the far side of the target is worth: the camera's
#: side is preferred among spots about equally near.
_FAR_SIDE_COST_M = 0.02


def _free_spot(draft: EpisodeDraft, centre: np.ndarray, nearest_m: float, azimuth_rad: float,
               radius_m: float, gap_m: float,
               others: list[tuple[np.ndarray, float]]) -> np.ndarray | None:
    """The free spot for a footprint of ``radius_m`` nearest ``centre`` (from ``nearest_m``
    out to ``CLUTTER_REACH_M`` more), on the table, ``gap_m`` from every circle in
    ``others``; None when there is none."""
    distances = nearest_m + np.arange(0.0, CLUTTER_REACH_M, _SPOT_STEP_M)
    off_axis = np.abs(np.remainder(_SPOT_ANGLES + math.pi, 2 * math.pi) - math.pi) / math.pi
    cost = (distances[:, None] + _FAR_SIDE_COST_M * off_axis[None, :]).ravel()
    angles = azimuth_rad + _SPOT_ANGLES
    # Every candidate at once: (distance, angle) pairs flattened in the order of ``cost``.
    xy = centre + (distances[:, None, None] * np.stack([np.cos(angles), np.sin(angles)],
                                                       axis=-1)[None]).reshape(-1, 2)
    free = _on_table_many(draft, xy, radius_m)
    for other, r in others:
        free &= np.hypot(*(xy - other).T) >= r + radius_m + gap_m
    if not free.any():
        return None
    candidates = np.flatnonzero(free)
    # The cheapest free spot; ties go to the first in (distance, angle) order.
    return xy[candidates[np.argmin(cost[candidates])]]


def _on_table_many(draft: EpisodeDraft, xy: np.ndarray, radius_m: float) -> np.ndarray:
    """For each row of ``xy``: whether a footprint of ``radius_m`` there lies on the
    table, clear of the arm."""
    table = draft.table
    if table is None:
        return np.zeros(len(xy), dtype=bool)
    half = np.array(TABLE_HALF_M) - EDGE_MARGIN_M - radius_m
    inside = np.all(np.abs(xy - np.array(table.centre_m[:2])) <= half, axis=1)
    clear = np.hypot(*(xy - np.array(table.arm_base_m[:2])).T) > ARM_BASE_CLEARANCE_M + radius_m
    return inside & clear


@edge_case("falling_object", domain="robotics")
class FallingObject(EdgeCase):
    """An object (``falling_object``, labeled) hangs ``height_m`` above a random point of
    the work area and drops at ``at_s`` onto the table or whatever lies below.

    Until it is let go it is held still in the air and collides with nothing (behaviour
    ``drop``).
    """

    adds = ("falling_object",)

    class Params(StrictModel):
        asset: ObjectAsset = {"choice": ["block", "can", "bottle", "mug", "duck", "lego"]}
        at_s: Number(ge=0) = {"uniform": [0.5, 2.5]}
        height_m: Number(gt=0, le=1.5) = {"uniform": [0.25, 0.45]}

    @classmethod
    def classes(cls, settings: Any) -> tuple[str, ...]:
        """Classes the falling object may have (from its scenario settings)."""
        return _classes_of(settings.asset)

    def apply(self, draft: EpisodeDraft, params: dict[str, Any],
              rng: np.random.Generator) -> None:
        """Add the held object above the work area."""
        if draft.table is None:
            return
        path = f"edge_cases.{self.name}"
        (x0, x1), (y0, y1) = draft.table.work_area_m
        xy = (float(rng.uniform(x0, x1)), float(rng.uniform(y0, y1)))
        yaw = float(rng.uniform(-180, 180))
        release_s = draft.event_time_s(params["at_s"], f"{path}.applied_at_s", 1.0)
        asset = params["asset"]
        draft.add(BodyPlan(
            name="falling_object", group="falling_object", cls=ASSETS[asset].default_class,
            asset=asset, position_m=(*xy, draft.table.top_z_m + float(params["height_m"])),
            yaw_deg=yaw, scale=1.0, colour_rgba=None, behaviour="drop",
            behaviour_params={"release_s": release_s}))
        draft.sampled[f"{path}.position_m"] = list(xy)
        draft.sampled[f"{path}.yaw_deg"] = yaw
