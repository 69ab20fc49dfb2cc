"""Turn a validated scenario into concrete episode plans (plain data, no PyBullet)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from simgen.errors import SimgenError
from simgen.sampling.draw import draw
from simgen.sampling.scene import (
    BodyPlan,
    CameraPlan,
    EpisodePlan,
    PhysicsPlan,
    RoadLayout,
    TableLayout,
)
from simgen.sampling.seeds import episode_seeds
from simgen.spec.distributions import Const, Dist
from simgen.spec.models import COLOURS, BodyGroup, Camera, Placement, Scenario, resolve_asset_path

#: Height of the table top for the shipped table asset (pybullet_data table.urdf).
TABLE_TOP_Z_M = 0.626
#: Where the table stands and where the arm's base is (world frame).
TABLE_CENTRE_M = (0.45, 0.0, 0.0)
ARM_BASE_M = (0.0, 0.0, TABLE_TOP_Z_M)
#: Rejection-sampling attempts per body before placement is declared impossible.
PLACEMENT_ATTEMPTS = 200


@dataclass
class _Draws:
    """Draws values and records every non-constant one under its field path."""

    rng: np.random.Generator
    sampled: dict[str, Any] = field(default_factory=dict)

    def __call__(self, dist: Dist, path: str) -> Any:
        value = draw(dist, self.rng)
        if not isinstance(dist, Const):
            self.sampled[path] = list(value) if isinstance(value, tuple) else value
        return value


def plan_episode(scenario: Scenario, index: int, scenario_dir: Path) -> EpisodePlan:
    """Sample episode ``index`` of ``scenario`` from its own generator (root seed, index)."""
    seeds = episode_seeds(scenario.seed, index)
    d = _Draws(seeds.sampling)
    duration = float(d(scenario.duration_s, "duration_s"))
    ph = scenario.physics
    physics = PhysicsPlan(
        time_step_s=float(d(ph.time_step_s, "physics.time_step_s")),
        gravity_mps2=float(d(ph.gravity_mps2, "physics.gravity_mps2")),
        solver_iterations=int(d(ph.solver_iterations, "physics.solver_iterations")),
        substeps=int(d(ph.substeps, "physics.substeps")),
    )
    road = _plan_road(scenario, d) if scenario.world.road is not None else None
    table = _plan_table(scenario) if scenario.world.table is not None else None
    bodies = _plan_bodies(scenario, d, road, table, scenario_dir)
    cameras = tuple(_plan_camera(cam, i, scenario, d) for i, cam in enumerate(scenario.cameras))
    return EpisodePlan(
        index=index,
        seed=seeds.seed,
        domain=scenario.domain,
        duration_s=duration,
        capture_rate_hz=scenario.capture.rate_hz,
        physics=physics,
        road=road,
        table=table,
        bodies=bodies,
        cameras=cameras,
        sampled=d.sampled,
    )


def _plan_road(scenario: Scenario, d: _Draws) -> RoadLayout:
    r = scenario.world.road
    assert r is not None
    values = {
        name: d(getattr(r, name), f"world.road.{name}")
        for name in type(r).model_fields
    }
    return RoadLayout(**{k: (int(v) if k.endswith("lanes") else float(v))
                         for k, v in values.items()})


def _plan_table(scenario: Scenario) -> TableLayout:
    t = scenario.world.table
    assert t is not None
    return TableLayout(
        top_z_m=TABLE_TOP_Z_M,
        centre_m=TABLE_CENTRE_M,
        work_area_m=t.work_area_m,
        place_area_m=t.place_area_m,
        arm_base_m=ARM_BASE_M,
    )


def _plan_camera(cam: Camera, i: int, scenario: Scenario, d: _Draws) -> CameraPlan:
    path = f"cameras[{i}]"

    def vec(value, name):
        if value is None:
            return None
        return tuple(float(d(c, f"{path}.{name}[{k}]")) for k, c in enumerate(value))

    return CameraPlan(
        name=cam.name,
        mount=cam.mount,
        link=cam.link,
        position_m=vec(cam.position_m, "position_m"),
        look_at_m=vec(cam.look_at_m, "look_at_m"),
        rpy_deg=vec(cam.rpy_deg, "rpy_deg"),
        fov_deg=float(d(cam.fov_deg, f"{path}.fov_deg")),
        near_m=float(d(cam.near_m, f"{path}.near_m")),
        far_m=float(d(cam.far_m, f"{path}.far_m")),
        width=scenario.capture.width,
        height=scenario.capture.height,
    )


@dataclass
class _Occupancy:
    """Bodies placed so far, per strip of the world, for spacing checks."""

    taken: dict[tuple, list[tuple[float, float, float]]] = field(default_factory=dict)

    def free(self, key: tuple, x: float, y: float, spacing: float) -> bool:
        return all(math.hypot(x - ox, y - oy) >= (spacing + os) / 2
                   for ox, oy, os in self.taken.get(key, []))

    def add(self, key: tuple, x: float, y: float, spacing: float) -> None:
        self.taken.setdefault(key, []).append((x, y, spacing))


def _plan_bodies(scenario, d, road, table, scenario_dir) -> tuple[BodyPlan, ...]:
    occupancy = _Occupancy()
    bodies: list[BodyPlan] = []
    pick_groups: list[tuple[str, BodyGroup]] = []
    for gpath, group in scenario.world.groups():
        count = int(d(group.count, f"{gpath}.count"))
        for i in range(count):
            name = group.name if count == 1 and gpath in ("world.ego", "world.arm") \
                else f"{group.name}_{i}"
            ipath = f"{gpath}.instances[{i}]"
            if group.behaviour.kind == "pick_and_place":
                pick_groups.append((name, group, f"{gpath}.instances[{i}]"))
            bodies.append(_plan_body(group, name, ipath, d, road, table, occupancy,
                                     scenario_dir, gpath, i, count))
    if pick_groups:
        bodies = _assign_pick_targets(bodies, pick_groups, d, table)
    return tuple(bodies)


def _plan_body(group, name, ipath, d, road, table, occupancy, scenario_dir, gpath, i, count):
    asset = resolve_asset_path(str(d(group.asset, f"{ipath}.asset")), scenario_dir)
    scale = float(d(group.scale, f"{ipath}.scale"))
    colour = None
    if group.colour is not None:
        value = d(group.colour, f"{ipath}.colour")
        rgb = COLOURS[value] if isinstance(value, str) else tuple(value)
        colour = (*map(float, rgb), 1.0)
    mass = float(d(group.mass_kg, f"{ipath}.mass_kg")) if group.mass_kg is not None else None
    params = _behaviour_params(group, ipath, d)
    position, yaw, extra = _place(group.placement, group, ipath, d, road, table, occupancy,
                                  params, gpath, i, count)
    params.update(extra)
    return BodyPlan(
        name=name,
        group=group.name,
        cls=group.cls,
        asset=asset,
        position_m=position,
        yaw_deg=yaw,
        scale=scale,
        colour_rgba=colour,
        behaviour=group.behaviour.kind,
        behaviour_params=params,
        labeled=group.labeled,
        mass_kg=mass,
    )


def _behaviour_params(group: BodyGroup, ipath: str, d: _Draws) -> dict[str, Any]:
    spec = group.behaviour
    params: dict[str, Any] = {}
    for fname in type(spec).model_fields:
        if fname in ("kind", "target_group"):
            continue
        params[fname] = d(getattr(spec, fname), f"{ipath}.behaviour.{fname}")
    return params


def _place(placement: Placement, group, ipath, d, road, table, occupancy, params,
           gpath, index, count):
    """Sample a free position for one body; returns (position, yaw_deg, behaviour extras)."""
    spacing = placement.min_spacing_m
    for _ in range(PLACEMENT_ATTEMPTS):
        # Draws are recorded once the placement is accepted, so rejected tries leave no trace.
        trial = _Draws(d.rng)
        x, y, z, yaw, key, extra = _place_once(placement, trial, ipath, road, table, params)
        if occupancy.free(key, x, y, spacing):
            occupancy.add(key, x, y, spacing)
            d.sampled.update(trial.sampled)
            return (x, y, z), yaw, extra
    raise SimgenError(
        f"{gpath} ({group.name}): could not place body {index + 1} of {count} "
        f"{spacing:g} m from the others after {PLACEMENT_ATTEMPTS} tries; lower count or "
        "min_spacing_m, or widen the placement range"
    )


def _place_once(placement: Placement, d: _Draws, ipath: str, road, table, params):
    region = placement.region
    p = f"{ipath}.placement"
    z = float(d(placement.z_m, f"{p}.z_m")) if placement.z_m is not None else 0.0
    yaw_offset = float(d(placement.yaw_deg, f"{p}.yaw_deg")) if placement.yaw_deg is not None \
        else None
    extra: dict[str, Any] = {}
    if region in ("lane", "shoulder", "sidewalk"):
        if placement.x_m is not None:
            x = float(d(placement.x_m, f"{p}.x_m"))
        else:
            x = float(d.rng.uniform(road.start_x_m + 10, road.end_x_m - 10))
            d.sampled[f"{p}.x_m"] = x
        if region == "lane":
            if placement.lane is not None:
                lane = int(d(placement.lane, f"{p}.lane"))
            else:
                lane = int(d.rng.integers(road.total_lanes))
                d.sampled[f"{p}.lane"] = lane
            lane = min(lane, road.total_lanes - 1)
            y = road.lane_centre_y_m(lane)
            heading = 0.0 if road.lane_direction(lane) > 0 else 180.0
            extra["lane"] = lane
            key: tuple = ("lane", lane)
        else:
            side = str(d(placement.side, f"{p}.side"))
            if region == "shoulder":
                y = road.shoulder_centre_y_m(side)
                heading = 0.0 if side == "right" else 180.0
            else:
                half = max(road.sidewalk_width_m / 2 - 0.5, 0.0)
                offset = float(d.rng.uniform(-half, half))  # across the sidewalk
                d.sampled[f"{p}.sidewalk_offset_m"] = offset
                y = road.sidewalk_centre_y_m(side) + offset
                z += road.kerb_height_m
                heading = _pedestrian_heading(params, side, extra)
            key = (region, side)
        yaw = heading + (yaw_offset or 0.0)
    elif region in ("table", "area"):
        if region == "table":
            (x0, x1), (y0, y1) = table.work_area_m
            z += table.top_z_m
        x = _draw_or_implicit(d, placement.x_m, f"{p}.x_m", lambda: d.rng.uniform(x0, x1))
        y = _draw_or_implicit(d, placement.y_m, f"{p}.y_m", lambda: d.rng.uniform(y0, y1))
        yaw = _draw_or_implicit(d, placement.yaw_deg, f"{p}.yaw_deg",
                                lambda: d.rng.uniform(-180, 180))
        key = (region,)
    return x, y, z, yaw, key, extra


def _draw_or_implicit(d: _Draws, dist: Dist | None, path: str, implicit) -> float:
    """Draw ``dist`` when the scenario gives one, else the region's implicit default draw.

    Implicit draws are random too, so they are recorded under the field's path.
    """
    if dist is not None:
        return float(d(dist, path))
    value = float(implicit())
    d.sampled[path] = value
    return value


def _pedestrian_heading(params: dict[str, Any], side: str, extra: dict[str, Any]) -> float:
    if "start_s" in params:  # a crosser faces the road it is about to cross
        extra["direction"] = 1 if side == "right" else -1
        return 90.0 if side == "right" else -90.0
    direction = int(params.get("direction", 1))
    return 0.0 if direction > 0 else 180.0


def _assign_pick_targets(bodies, pick_groups, d, table) -> list[BodyPlan]:
    out = []
    for body in bodies:
        match = [(g, path) for n, g, path in pick_groups if n == body.name]
        if not match:
            out.append(body)
            continue
        group, ipath = match[0]
        target_group = group.behaviour.target_group
        candidates = [b.name for b in bodies if b.labeled and b.behaviour == "static"
                      and (target_group is None or b.group == target_group)]
        params = dict(body.behaviour_params)
        if candidates:
            params["target"] = candidates[int(d.rng.integers(len(candidates)))]
            d.sampled[f"{ipath}.behaviour.target"] = params["target"]
        else:
            params["target"] = None
        (x0, x1), (y0, y1) = table.place_area_m
        params["place_position_m"] = (float(d.rng.uniform(x0, x1)),
                                      float(d.rng.uniform(y0, y1)))
        d.sampled[f"{ipath}.behaviour.place_position_m"] = list(params["place_position_m"])
        out.append(BodyPlan(**{**body.__dict__, "behaviour_params": params}))
    return out
