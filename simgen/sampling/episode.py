"""Turn a validated scenario into concrete episode plans (plain data, no PyBullet)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from simgen.edge_cases import EDGE_CASES, EpisodeDraft, importance_factor
from simgen.errors import SimgenError
from simgen.sampling.atmosphere import plan_atmosphere
from simgen.sampling.constraints import failed_constraints
from simgen.sampling.draw import draw
from simgen.sampling.scene import (
    TABLE_WOOD_RGB,
    BodyPlan,
    CameraPlan,
    EpisodePlan,
    PhysicsPlan,
    Push,
    RoadLayout,
    TableLayout,
    TexturePlan,
)
from simgen.sampling.seeds import episode_seeds
from simgen.sampling.sweep import point_of_episode
from simgen.spec.base import COLOURS
from simgen.spec.distributions import Const, Dist
from simgen.spec.load import with_fields
from simgen.spec.models import BodyGroup, Camera, Placement, Scenario, resolve_asset_path

DIST_TYPES = Dist.__args__  # type: ignore[attr-defined]
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
    """Sample episode ``index`` of ``scenario`` from its own generator (root seed, index).

    In a sweep, the episode is sampled from the scenario of its point (each swept field
    set to the point's value), and the point is recorded with the sampled values.

    With ``require`` constraints, whole episodes are drawn (from the same generator, one
    after the other) until one satisfies them all, at most ``require_attempts`` times.
    """
    point = None
    if scenario.sweep is not None:
        point = point_of_episode(scenario, index)
        scenario = with_fields(scenario, point.values)
    seeds = episode_seeds(scenario.seed, index)
    rules = scenario.require
    failures = [0] * len(rules)
    for attempt in range(1, scenario.require_attempts + 1):
        plan = _sample_episode(scenario, index, seeds.seed, seeds.sampling, scenario_dir)
        broken = failed_constraints(rules, plan.bodies, plan.cameras) if rules else []
        for i in broken:
            failures[i] += 1
        if not broken:
            if rules:
                plan.sampled["require.attempts"] = attempt
            if point is not None:
                plan.sampled.update(point.record())
            return replace(plan, attempts=attempt, constraint_failures=tuple(failures))
    worst = max(range(len(rules)), key=lambda i: failures[i])
    others = "; ".join(f"require[{i}] ({rules[i].describe()}) failed {failures[i]}"
                       for i in range(len(rules)) if i != worst and failures[i])
    raise SimgenError(
        f"episode {index}: could not satisfy require[{worst}] ({rules[worst].describe()}): "
        f"it failed {failures[worst]} of {scenario.require_attempts} attempts"
        + (f"; {others}" if others else "")
        + "; loosen it, or raise require_attempts")


def _sample_episode(scenario: Scenario, index: int, seed: int, rng: np.random.Generator,
                    scenario_dir: Path) -> EpisodePlan:
    """One draw of a whole episode from ``rng``."""
    d = _Draws(rng)
    duration = float(d(scenario.duration_s, "duration_s"))
    ph = scenario.physics
    physics = PhysicsPlan(
        time_step_s=float(d(ph.time_step_s, "physics.time_step_s")),
        gravity_mps2=float(d(ph.gravity_mps2, "physics.gravity_mps2")),
        solver_iterations=int(d(ph.solver_iterations, "physics.solver_iterations")),
        substeps=int(d(ph.substeps, "physics.substeps")),
        friction=_maybe(d, ph.friction, "physics.friction"),
        restitution=_maybe(d, ph.restitution, "physics.restitution"),
        mass_scale=float(d(ph.mass_scale, "physics.mass_scale")),
        wind_speed_mps=float(d(ph.wind.speed_mps, "physics.wind.speed_mps")) if ph.wind else 0.0,
        wind_direction_deg=float(d(ph.wind.direction_deg, "physics.wind.direction_deg"))
        if ph.wind else 0.0,
    )
    road = _plan_road(scenario, d) if scenario.world.road is not None else None
    table = _plan_table(scenario, d) if scenario.world.table is not None else None
    bodies = _plan_bodies(scenario, d, road, table, scenario_dir)
    cameras = tuple(_plan_camera(cam, i, scenario, d) for i, cam in enumerate(scenario.cameras))
    draft = EpisodeDraft(
        domain=scenario.domain, duration_s=duration, road=road, table=table,
        bodies=list(bodies), cameras=list(cameras),
        ego=scenario.world.ego.name if scenario.world.ego is not None else None,
        arm=scenario.world.arm.name if scenario.world.arm is not None else None,
        sampled=d.sampled)
    fired, weight = _apply_edge_cases(scenario, draft, d)
    bodies, cameras = tuple(draft.bodies), tuple(draft.cameras)
    atmosphere = plan_atmosphere(scenario, d)
    pushes = _plan_pushes(ph, bodies, duration, d)
    return EpisodePlan(
        index=index,
        seed=seed,
        domain=scenario.domain,
        duration_s=duration,
        capture_rate_hz=scenario.capture.rate_hz,
        physics=physics,
        road=road,
        table=table,
        bodies=bodies,
        cameras=cameras,
        sampled=d.sampled,
        atmosphere=atmosphere,
        pushes=pushes,
        edge_cases=fired,
        importance_weight=weight,
    )


def _apply_edge_cases(scenario: Scenario, draft: EpisodeDraft, d: _Draws):
    """Fire each configured edge case with its oversampled rate; apply those that fire.

    Returns the names that fired and the importance weight that takes statistics back
    to the nominal rates (the product of p/q for fired and (1-p)/(1-q) for the others).
    """
    fired: list[str] = []
    weight = 1.0
    for name, case in EDGE_CASES.items():  # registry order: independent of YAML order
        settings = getattr(scenario.edge_cases, name)
        if settings is None:
            continue
        p = settings.probability
        q = p if settings.oversample is None else settings.oversample
        happens = bool(d.rng.random() < q)
        d.sampled[f"edge_cases.{name}.fired"] = happens
        weight *= importance_factor(p, q, happens)
        if not happens:
            continue
        fired.append(name)
        params = {}
        for field_name in case.Params.model_fields:
            value = getattr(settings, field_name)
            params[field_name] = d(value, f"edge_cases.{name}.{field_name}") \
                if isinstance(value, DIST_TYPES) else value
        case().apply(draft, params, d.rng)
    return tuple(fired), weight


def _maybe(d: _Draws, dist: Dist | None, path: str) -> float | None:
    """A drawn float, or None when the field is not given."""
    return None if dist is None else float(d(dist, path))


def _colour(d: _Draws, dist: Dist, path: str) -> tuple[float, float, float]:
    """A drawn colour as linear RGB in 0..1."""
    value = d(dist, path)
    return tuple(float(c) for c in (COLOURS[value] if isinstance(value, str) else value))


def _texture(d: _Draws, kind_dist: Dist, path: str, colour_a, colour_b) -> TexturePlan | None:
    """A texture plan when the drawn kind is not ``none``; its pattern seed is recorded."""
    kind = str(d(kind_dist, path))
    if kind == "none":
        return None
    if colour_b is None:  # no second colour given: a darker shade of the first
        colour_b = tuple(0.45 * c for c in colour_a)
    seed = int(d.rng.integers(2**31))
    d.sampled[f"{path}_seed"] = seed
    return TexturePlan(kind, tuple(colour_a), tuple(colour_b), seed)


def _plan_pushes(ph, bodies, duration: float, d: _Draws) -> tuple[Push, ...]:
    """Poisson push times over the episode, each on a random dynamic body."""
    if ph.pushes is None:
        return ()
    rate = float(d(ph.pushes.rate_hz, "physics.pushes.rate_hz"))
    impulse = float(d(ph.pushes.impulse_n_s, "physics.pushes.impulse_n_s"))
    targets = [b.name for b in bodies if b.dynamic]
    pushes: list[Push] = []
    t = float(d.rng.exponential(1 / rate))
    while targets and t < duration:
        body = targets[int(d.rng.integers(len(targets)))]
        heading = float(d.rng.uniform(-math.pi, math.pi))
        pushes.append(Push(t, body, (impulse * math.cos(heading), impulse * math.sin(heading))))
        t += float(d.rng.exponential(1 / rate))
    d.sampled["physics.pushes.events"] = [
        {"time_s": q.time_s, "body": q.body, "impulse_n_s": list(q.impulse_n_s)} for q in pushes]
    return tuple(pushes)


#: Road fields that are not plain numbers.
_ROAD_LOOKS = ("surface_colour", "surface_texture", "ground_colour")


def _plan_road(scenario: Scenario, d: _Draws) -> RoadLayout:
    r = scenario.world.road
    assert r is not None
    values = {
        name: d(getattr(r, name), f"world.road.{name}")
        for name in type(r).model_fields if name not in _ROAD_LOOKS
    }
    surface = _colour(d, r.surface_colour, "world.road.surface_colour")
    return RoadLayout(
        **{k: (int(v) if k.endswith("lanes") else float(v)) for k, v in values.items()},
        surface_colour=surface,
        surface_texture=_texture(d, r.surface_texture, "world.road.surface_texture", surface,
                                 None),
        ground_colour=_colour(d, r.ground_colour, "world.road.ground_colour"),
    )


def _plan_table(scenario: Scenario, d: _Draws) -> TableLayout:
    t = scenario.world.table
    assert t is not None
    colour = _colour(d, t.colour, "world.table.colour") if t.colour is not None else None
    return TableLayout(
        top_z_m=TABLE_TOP_Z_M,
        centre_m=TABLE_CENTRE_M,
        work_area_m=t.work_area_m,
        place_area_m=t.place_area_m,
        arm_base_m=ARM_BASE_M,
        colour=colour,
        texture=_texture(d, t.texture, "world.table.texture", colour or TABLE_WOOD_RGB, None),
        floor_colour=_colour(d, t.floor_colour, "world.table.floor_colour"),
    )


def _plan_camera(cam: Camera, i: int, scenario: Scenario, d: _Draws) -> CameraPlan:
    path = f"cameras[{i}]"

    def vec(value, name):
        if value is None:
            return None
        return tuple(float(d(c, f"{path}.{name}[{k}]")) for k, c in enumerate(value))

    position = vec(cam.position_m, "position_m")
    look_at = vec(cam.look_at_m, "look_at_m")
    rotation_offset = (0.0, 0.0, 0.0)
    if cam.jitter is not None:
        sd_pos = float(d(cam.jitter.position_m, f"{path}.jitter.position_m"))
        sd_rot = float(d(cam.jitter.rotation_deg, f"{path}.jitter.rotation_deg"))
        offset = tuple(float(v) for v in d.rng.normal(0.0, sd_pos, 3)) if sd_pos > 0 \
            else (0.0, 0.0, 0.0)
        rotation_offset = tuple(float(v) for v in d.rng.normal(0.0, sd_rot, 3)) \
            if sd_rot > 0 else (0.0, 0.0, 0.0)
        d.sampled[f"{path}.jitter.position_offset_m"] = list(offset)
        d.sampled[f"{path}.jitter.rotation_offset_deg"] = list(rotation_offset)
        # The whole camera moves (its look-at point with it), so only rotation_deg turns it.
        position = tuple(a + b for a, b in zip(position, offset, strict=True))
        if look_at is not None:
            look_at = tuple(a + b for a, b in zip(look_at, offset, strict=True))

    return CameraPlan(
        name=cam.name,
        mount=cam.mount,
        link=cam.link,
        position_m=position,
        look_at_m=look_at,
        rpy_deg=vec(cam.rpy_deg, "rpy_deg"),
        fov_deg=float(d(cam.fov_deg, f"{path}.fov_deg")),
        near_m=float(d(cam.near_m, f"{path}.near_m")),
        far_m=float(d(cam.far_m, f"{path}.far_m")),
        width=scenario.capture.width,
        height=scenario.capture.height,
        rotation_offset_deg=rotation_offset,
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
            colour = (*_colour(d, group.colour, f"{ipath}.colour"), 1.0)
        second = _colour(d, group.texture_colour, f"{ipath}.texture_colour") \
            if group.texture_colour is not None else None
        texture = _texture(d, group.texture, f"{ipath}.texture",
                           colour[:3] if colour else (0.6, 0.6, 0.6), second)
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
            texture=texture,
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
