"""Turn a validated scenario into concrete episode plans (plain data, no PyBullet)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
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
        """Whether (x, y) keeps the mean of both spacings from every body in strip ``key``."""
        return all(math.hypot(x - ox, y - oy) >= (spacing + os) / 2
                   for ox, oy, os in self.taken.get(key, []))

    def add(self, key: tuple, x: float, y: float, spacing: float) -> None:
        """Mark (x, y) taken in strip ``key``."""
        self.taken.setdefault(key, []).append((x, y, spacing))


def _plan_bodies(scenario, d, road, table, scenario_dir) -> tuple[BodyPlan, ...]:
    planner = _BodyPlanner(d, road, table, scenario_dir)
    bodies: list[BodyPlan] = []
    for gpath, group in scenario.world.groups():
        count = int(d(group.count, f"{gpath}.count"))
        for i in range(count):
            single = count == 1 and gpath in ("world.ego", "world.arm")
            name = group.name if single else f"{group.name}_{i}"
            bodies.append(planner.body(group, gpath, name, i, count))
    return tuple(planner.assign_pick_targets(bodies))


class _BodyPlanner:
    """Draws each body's asset, look, behaviour and a free place in its region."""

    def __init__(self, d: _Draws, road, table, scenario_dir: Path):
        self.d = d
        self.road = road
        self.table = table
        self.scenario_dir = scenario_dir
        self.occupancy = _Occupancy()
        self.pickers: dict[str, tuple[BodyGroup, str]] = {}  # arm name -> (group, path)

    def body(self, group: BodyGroup, gpath: str, name: str, index: int, count: int):
        """Plan body ``index`` of ``count`` of ``group``."""
        d = self.d
        ipath = f"{gpath}.instances[{index}]"
        asset = str(d(group.asset, f"{ipath}.asset"))
        resolved = resolve_asset_path(asset, self.scenario_dir)
        colour = None
        if group.colour is not None:
            value = d(group.colour, f"{ipath}.colour")
            rgb = COLOURS[value] if isinstance(value, str) else tuple(value)
            colour = (*map(float, rgb), 1.0)
        mass = float(d(group.mass_kg, f"{ipath}.mass_kg")) if group.mass_kg is not None \
            else None
        params = {
            fname: d(getattr(group.behaviour, fname), f"{ipath}.behaviour.{fname}")
            for fname in type(group.behaviour).model_fields
            if fname not in ("kind", "target_group")
        }
        position, yaw = self._place(group, gpath, ipath, params, index, count)
        if group.behaviour.kind == "pick_and_place":
            self.pickers[name] = (group, ipath)
        return BodyPlan(
            name=name,
            group=group.name,
            cls=group.class_of(asset),
            asset=asset,
            position_m=position,
            yaw_deg=yaw,
            scale=float(d(group.scale, f"{ipath}.scale")),
            colour_rgba=colour,
            behaviour=group.behaviour.kind,
            behaviour_params=params,
            labeled=group.labeled,
            mass_kg=mass,
            asset_file=None if resolved == asset else resolved,
        )

    def _place(self, group, gpath, ipath, params, index, count):
        """A free position (rejection sampling); adds region-given behaviour params."""
        spacing = group.placement.min_spacing_m
        for _ in range(PLACEMENT_ATTEMPTS):
            # A trial's draws are recorded only if it is accepted.
            trial = _Draws(self.d.rng)
            extra: dict[str, Any] = {}
            if group.placement.region in ("lane", "shoulder", "sidewalk"):
                x, y, z, yaw, key = self._on_road(group, trial, ipath, params, extra)
            else:
                x, y, z, yaw, key = self._on_surface(group.placement, trial, ipath)
            if self.occupancy.free(key, x, y, spacing):
                self.occupancy.add(key, x, y, spacing)
                self.d.sampled.update(trial.sampled)
                params.update(extra)
                return (x, y, z), yaw
        raise SimgenError(
            f"{gpath} ({group.name}): could not place body {index + 1} of {count} "
            f"{spacing:g} m from the others after {PLACEMENT_ATTEMPTS} tries; lower count or "
            "min_spacing_m, or widen the placement range"
        )

    def _on_road(self, group: BodyGroup, d: _Draws, ipath: str, params, extra):
        """Lane, shoulder or sidewalk: x along the road, y from the strip, heading from it."""
        road, p, placement = self.road, f"{ipath}.placement", group.placement
        z = float(d(placement.z_m, f"{p}.z_m")) if placement.z_m is not None else 0.0
        x = float(_draw_or_implicit(
            d, placement.x_m, f"{p}.x_m",
            lambda: d.rng.uniform(road.start_x_m + 10, road.end_x_m - 10)))
        if placement.region == "lane":
            lane = int(_draw_or_implicit(d, placement.lane, f"{p}.lane",
                                         lambda: d.rng.integers(road.total_lanes)))
            if lane >= road.total_lanes:  # only possible when lanes or lane is random
                raise SimgenError(f"{p}.lane: lane {lane} drawn, but this episode's road has "
                                  f"{road.total_lanes} lanes (0..{road.total_lanes - 1})")
            y = road.lane_centre_y_m(lane)
            heading = 0.0 if road.lane_direction(lane) > 0 else 180.0
            extra["lane"] = lane
            key: tuple = ("lane", lane)
        else:
            side = str(d(placement.side, f"{p}.side"))
            key = (placement.region, side)
            if placement.region == "shoulder":
                y = road.shoulder_centre_y_m(side)
                heading = 0.0 if side == "right" else 180.0
            else:
                half = max(road.sidewalk_width_m / 2 - 0.5, 0.0)
                offset = float(d.rng.uniform(-half, half))  # across the sidewalk
                d.sampled[f"{p}.sidewalk_offset_m"] = offset
                y = road.sidewalk_centre_y_m(side) + offset
                z += road.kerb_height_m
                heading = _sidewalk_heading(group.behaviour.kind, params, side, extra)
        if placement.yaw_deg is not None:
            heading += float(d(placement.yaw_deg, f"{p}.yaw_deg"))
        return x, y, z, heading, key

    def _on_surface(self, placement: Placement, d: _Draws, ipath: str):
        """Table (work area unless x/y given, on the top) or area (x/y given, on the ground)."""
        p = f"{ipath}.placement"
        z = float(d(placement.z_m, f"{p}.z_m")) if placement.z_m is not None else 0.0
        (x0, x1), (y0, y1) = self.table.work_area_m if self.table else ((0, 0), (0, 0))
        if placement.region == "table":
            z += self.table.top_z_m
        x = float(_draw_or_implicit(d, placement.x_m, f"{p}.x_m",
                                    lambda: d.rng.uniform(x0, x1)))
        y = float(_draw_or_implicit(d, placement.y_m, f"{p}.y_m",
                                    lambda: d.rng.uniform(y0, y1)))
        yaw = float(_draw_or_implicit(d, placement.yaw_deg, f"{p}.yaw_deg",
                                      lambda: d.rng.uniform(-180, 180)))
        return x, y, z, yaw, (placement.region,)

    def assign_pick_targets(self, bodies: list[BodyPlan]) -> list[BodyPlan]:
        """Give each pick-and-place arm a random target object and a place position."""
        d = self.d
        out = []
        for body in bodies:
            if body.name not in self.pickers:
                out.append(body)
                continue
            group, ipath = self.pickers[body.name]
            wanted = group.behaviour.target_group
            candidates = [b.name for b in bodies if b.labeled and b.behaviour == "static"
                          and (wanted is None or b.group == wanted)]
            params = dict(body.behaviour_params)
            params["target"] = None
            if candidates:
                params["target"] = candidates[int(d.rng.integers(len(candidates)))]
                d.sampled[f"{ipath}.behaviour.target"] = params["target"]
            (x0, x1), (y0, y1) = self.table.place_area_m
            params["place_position_m"] = (float(d.rng.uniform(x0, x1)),
                                          float(d.rng.uniform(y0, y1)))
            d.sampled[f"{ipath}.behaviour.place_position_m"] = list(params["place_position_m"])
            out.append(replace(body, behaviour_params=params))
        return out


def _draw_or_implicit(d: _Draws, dist: Dist | None, path: str, implicit) -> Any:
    """Draw ``dist`` when the scenario gives one, else the region's implicit default draw.

    Implicit draws are random too, so they are recorded under the field's path.
    """
    if dist is not None:
        return d(dist, path)
    value = implicit()
    value = value.item() if isinstance(value, np.generic) else value  # plain int or float
    d.sampled[path] = value
    return value


def _sidewalk_heading(kind: str, params: dict[str, Any], side: str,
                      extra: dict[str, Any]) -> float:
    """A crosser faces the road it is about to cross (and gets its direction); walkers face
    their walking direction; anything else faces along the road."""
    if kind == "cross":
        extra["direction"] = 1 if side == "right" else -1
        return 90.0 if side == "right" else -90.0
    direction = int(params.get("direction", 1))
    return 0.0 if direction > 0 else 180.0
