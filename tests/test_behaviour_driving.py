"""Driving behaviours: lane following, parking, walking and crossing, on a bare road."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pybullet as p
import pybullet_data
import pytest

from simgen.behaviours.base import BEHAVIOURS, Behaviour, BehaviourContext, Control
from simgen.behaviours.pedestrians import Cross, Walk
from simgen.behaviours.vehicles import STANDSTILL_GAP_M, TIME_GAP_S, LaneFollow, Parked
from simgen.sampling.scene import BodyPlan, EpisodePlan, PhysicsPlan, RoadLayout

ROAD = RoadLayout(
    lanes=3,
    oncoming_lanes=1,
    lane_width_m=3.5,
    length_m=200.0,
    start_x_m=-20.0,
    shoulder_width_m=2.5,
    sidewalk_width_m=3.0,
    kerb_height_m=0.15,
    marking_width_m=0.15,
    dash_length_m=3.0,
    dash_gap_m=6.0,
)
DT_S = 1.0 / 120.0
RACECAR = str(Path(pybullet_data.getDataPath()) / "racecar" / "racecar.urdf")
RACECAR_SCALE = 4.0
DRIVING_ASSETS = Path(__file__).resolve().parents[1] / "assets" / "driving"
PEDESTRIAN_URDF = DRIVING_ASSETS / "pedestrian.urdf"
SEDAN_URDF = DRIVING_ASSETS / "sedan.urdf"
PERSON_HALF_EXTENTS_M = (0.25, 0.3, 0.875)


@pytest.fixture
def client() -> Iterator[int]:
    """A fresh headless PyBullet client, disconnected afterwards."""
    cid = p.connect(p.DIRECT)
    p.setGravity(0, 0, -9.81, physicsClientId=cid)
    yield cid
    p.disconnect(cid)


@dataclass
class Actor:
    """A body to put in the test world: asset ('racecar', a URDF path, or a box) and plan."""

    name: str
    asset: str
    behaviour: str
    position_m: tuple[float, float]
    yaw_deg: float = 0.0
    params: dict[str, Any] = field(default_factory=dict)
    half_extents_m: tuple[float, float, float] = (2.2, 0.9, 0.75)
    ground_z_m: float = 0.0


def _load(client: int, actor: Actor) -> int:
    """Load an actor fixed-base with its bottom on ``ground_z_m`` and heading ``yaw_deg``."""
    orn = p.getQuaternionFromEuler((0.0, 0.0, math.radians(actor.yaw_deg)))
    x, y = actor.position_m
    if actor.asset == "racecar":
        uid = p.loadURDF(RACECAR, (x, y, 0.0), orn, useFixedBase=True,
                         globalScaling=RACECAR_SCALE, physicsClientId=client)
    elif actor.asset.endswith(".urdf"):
        uid = p.loadURDF(actor.asset, (x, y, 0.0), orn, useFixedBase=True,
                         physicsClientId=client)
    else:
        shape = p.createCollisionShape(p.GEOM_BOX, halfExtents=actor.half_extents_m,
                                       physicsClientId=client)
        uid = p.createMultiBody(0.0, shape, -1, (x, y, 0.0), orn, physicsClientId=client)
    lo = _aabb(client, uid)[0]
    pos, orn = p.getBasePositionAndOrientation(uid, physicsClientId=client)
    p.resetBasePositionAndOrientation(
        uid, (pos[0], pos[1], pos[2] - lo[2] + actor.ground_z_m), orn, physicsClientId=client
    )
    return uid


def _aabb(client: int, uid: int) -> tuple[np.ndarray, np.ndarray]:
    boxes = [p.getAABB(uid, link, physicsClientId=client)
             for link in range(-1, p.getNumJoints(uid, physicsClientId=client))]
    return np.min([b[0] for b in boxes], axis=0), np.max([b[1] for b in boxes], axis=0)


@dataclass
class World:
    """The loaded test world: context, ids and the behaviours by body name."""

    client: int
    ctx: BehaviourContext
    uids: dict[str, int]
    behaviours: dict[str, Behaviour]


def build(client: int, actors: list[Actor]) -> World:
    """Load ``actors``, make the episode plan and context, and instantiate behaviours."""
    bodies = tuple(
        BodyPlan(name=a.name, group=a.name, cls="person" if "walk" in a.behaviour or
                 a.behaviour == "cross" else "car", asset=a.asset,
                 position_m=(*a.position_m, a.ground_z_m), yaw_deg=a.yaw_deg, scale=1.0,
                 colour_rgba=None, behaviour=a.behaviour, behaviour_params=a.params)
        for a in actors
    )
    plan = EpisodePlan(
        index=0, seed=0, domain="driving", duration_s=10.0, capture_rate_hz=10.0,
        physics=PhysicsPlan(time_step_s=DT_S, gravity_mps2=9.81, solver_iterations=10,
                            substeps=0),
        road=ROAD, table=None, bodies=bodies, cameras=(), sampled={},
    )
    uids = {a.name: _load(client, a) for a in actors}
    ctx = BehaviourContext(client=client, plan=plan, uids=uids, rng=np.random.default_rng(0))
    behaviours = {b.name: BEHAVIOURS[b.behaviour](ctx, b, uids[b.name]) for b in bodies}
    return World(client, ctx, uids, behaviours)


@dataclass
class Trace:
    """Per-step log of one body: pose after the step, velocity and control of the step."""

    t_s: np.ndarray
    position_m: np.ndarray
    heading_rad: np.ndarray
    linear_mps: np.ndarray
    angular_rps: np.ndarray
    controls: list[Control]


def pose(world: World, name: str) -> tuple[np.ndarray, float]:
    """Base position and yaw of a body as PyBullet reports them."""
    pos, orn = p.getBasePositionAndOrientation(world.uids[name], physicsClientId=world.client)
    return np.array(pos), p.getEulerFromQuaternion(orn)[2]


def simulate(world: World, duration_s: float, watch: str) -> tuple[Trace, np.ndarray, float]:
    """Step every behaviour then the physics for ``duration_s``; log ``watch``.

    Returns the trace and the initial position and heading of the watched body.
    """
    start_pos, start_heading = pose(world, watch)
    rows: dict[str, list] = {k: [] for k in ("t", "pos", "yaw", "lin", "ang", "ctl")}
    for i in range(int(round(duration_s / DT_S))):
        t = i * DT_S
        for behaviour in world.behaviours.values():
            behaviour.step(t, DT_S)
        p.stepSimulation(physicsClientId=world.client)
        pos, yaw = pose(world, watch)
        lin, ang = world.behaviours[watch].velocity()
        rows["t"].append(t + DT_S)
        rows["pos"].append(pos)
        rows["yaw"].append(yaw)
        rows["lin"].append(lin)
        rows["ang"].append(ang)
        rows["ctl"].append(world.behaviours[watch].control())
    trace = Trace(np.array(rows["t"]), np.array(rows["pos"]), np.unwrap(rows["yaw"]),
                  np.array(rows["lin"]), np.array(rows["ang"]), rows["ctl"])
    return trace, start_pos, start_heading


def assert_integrates(trace: Trace, start_pos: np.ndarray, start_heading: float) -> None:
    """Positions (and headings) are the running sums of the logged velocities times dt."""
    integrated = start_pos + np.cumsum(trace.linear_mps * DT_S, axis=0)
    np.testing.assert_allclose(trace.position_m, integrated, rtol=0, atol=1e-6)
    logged = np.unwrap([start_heading, *trace.heading_rad])
    heading = logged[0] + np.cumsum(trace.angular_rps[:, 2] * DT_S)
    np.testing.assert_allclose(logged[1:], heading, rtol=0, atol=1e-6)


def car(name: str, lane: int, x_m: float, speed_mps: float, **params: Any) -> Actor:
    """A racecar on a lane's centre line heading along the lane."""
    yaw = 0.0 if ROAD.lane_direction(lane) > 0 else 180.0
    return Actor(name, "racecar", "lane_follow", (x_m, ROAD.lane_centre_y_m(lane)), yaw,
                 {"lane": lane, "speed_mps": speed_mps, **params})


def racecar_front_m(world: World, name: str) -> float:
    """x of the front of a +x-facing racecar's collision box."""
    return float(_aabb(world.client, world.uids[name])[1][0])


# -- lane following ------------------------------------------------------------------


def test_racecar_faces_plus_x_and_steering_hinges_turn_about_z(client: int) -> None:
    uid = p.loadURDF(RACECAR, (0, 0, 0), useFixedBase=True, globalScaling=RACECAR_SCALE,
                     physicsClientId=client)
    links = {p.getJointInfo(uid, j, physicsClientId=client)[12].decode(): j
             for j in range(p.getNumJoints(uid, physicsClientId=client))}
    hinge = p.getLinkState(uid, links["left_steering_hinge"], physicsClientId=client)[4]
    rear = p.getLinkState(uid, links["left_rear_wheel"], physicsClientId=client)[4]
    assert hinge[0] - rear[0] == pytest.approx(0.325 * RACECAR_SCALE, abs=1e-6)  # front at +x
    assert hinge[1] > 0  # left at +y


def test_lane_follow_converges_to_centre_and_stays_in_lane(client: int) -> None:
    lane = 0
    centre = ROAD.lane_centre_y_m(lane)
    # 1 m left of the centre line, heading 10 degrees further left.
    ego = Actor("ego", "racecar", "lane_follow", (0.0, centre + 1.0), 10.0,
                {"lane": lane, "speed_mps": 10.0})
    world = build(client, [ego])
    trace, start_pos, start_heading = simulate(world, 12.0, "ego")

    offset = trace.position_m[:, 1] - centre
    after_5s = trace.t_s >= 5.0
    assert np.all(np.abs(offset[after_5s]) < 0.2)
    converged = int(np.argmax(np.abs(offset) < 0.2))
    assert np.all(np.abs(offset[converged:]) < ROAD.lane_width_m / 2)
    assert abs(offset[-1]) < 0.02
    assert abs(trace.heading_rad[-1]) < math.radians(0.5)
    steering = np.array([c.steering_rad for c in trace.controls])
    assert steering[0] < 0  # left of the line: steer right first
    assert np.all(np.abs(steering) <= math.radians(30.0) + 1e-12)
    assert_integrates(trace, start_pos, start_heading)


def test_lane_follow_steering_is_clipped_to_max_steer(client: int) -> None:
    centre = ROAD.lane_centre_y_m(1)
    ego = Actor("ego", "racecar", "lane_follow", (0.0, centre - 1.5), -20.0,
                {"lane": 1, "speed_mps": 8.0, "max_steer_deg": 12.0})
    world = build(client, [ego])
    trace, start_pos, start_heading = simulate(world, 8.0, "ego")
    steering = np.array([c.steering_rad for c in trace.controls])
    assert np.max(np.abs(steering)) == pytest.approx(math.radians(12.0))  # saturates
    assert np.all(np.abs(steering) <= math.radians(12.0) + 1e-12)
    assert abs(trace.position_m[-1, 1] - centre) < 0.2
    assert_integrates(trace, start_pos, start_heading)


def test_lane_follow_speed_converges_to_target(client: int) -> None:
    world = build(client, [car("ego", 1, 0.0, 12.0, initial_speed_mps=0.0)])
    trace, start_pos, start_heading = simulate(world, 10.0, "ego")
    speed = np.linalg.norm(trace.linear_mps, axis=1)
    assert np.all(np.abs(speed[trace.t_s >= 5.0] - 12.0) <= 0.05 * 12.0)
    assert speed[-1] == pytest.approx(12.0, abs=1e-3)
    accel = np.diff(speed) / DT_S
    assert np.all(np.abs(accel) <= 3.0 + 1e-9)  # max_accel_mps2 default
    throttles = np.array([c.throttle for c in trace.controls])
    assert throttles[0] == 1.0 and np.all(np.abs(throttles) <= 1.0)
    assert_integrates(trace, start_pos, start_heading)


def test_lane_follow_stops_behind_stationary_box_without_contact(client: int) -> None:
    lane = 1
    box = Actor("stalled", "box", "static", (120.0, ROAD.lane_centre_y_m(lane)),
                half_extents_m=(2.2, 0.9, 0.75))
    neighbour = Actor("beside", "box", "parked", (20.0, ROAD.lane_centre_y_m(0)))
    world = build(client, [car("ego", lane, 0.0, 14.0), box, neighbour])
    trace, start_pos, start_heading = simulate(world, 20.0, "ego")

    box_rear = 120.0 - 2.2
    gaps = box_rear - (trace.position_m[:, 0] + (racecar_front_m(world, "ego")
                                                 - trace.position_m[-1, 0]))
    assert np.all(gaps > 1.0)
    assert gaps[-1] == pytest.approx(STANDSTILL_GAP_M, abs=0.5)
    assert np.linalg.norm(trace.linear_mps[-1]) == 0.0
    assert not p.getClosestPoints(world.uids["ego"], world.uids["stalled"], 1.0,
                                  physicsClientId=client)
    # The box in the next lane did not slow it down: full speed when passing it.
    passing = np.abs(trace.position_m[:, 0] - 20.0) < 2.0
    assert np.all(np.linalg.norm(trace.linear_mps[passing], axis=1) > 13.5)
    assert_integrates(trace, start_pos, start_heading)


def test_lane_follow_keeps_time_gap_behind_slower_leader(client: int) -> None:
    lane = 2
    leader = car("leader", lane, 40.0, 6.0)
    world = build(client, [car("ego", lane, 0.0, 12.0), leader])
    trace, _, _ = simulate(world, 20.0, "ego")
    ego_front = racecar_front_m(world, "ego")
    leader_rear = float(_aabb(client, world.uids["leader"])[0][0])
    speed = float(np.linalg.norm(trace.linear_mps[-1]))
    assert speed == pytest.approx(6.0, abs=0.1)
    assert leader_rear - ego_front >= TIME_GAP_S * speed + STANDSTILL_GAP_M - 0.2


def test_lane_follow_stops_before_road_end(client: int) -> None:
    world = build(client, [car("ego", 0, ROAD.end_x_m - 60.0, 12.0)])
    trace, _, _ = simulate(world, 15.0, "ego")
    assert np.linalg.norm(trace.linear_mps[-1]) == 0.0
    assert ROAD.end_x_m - 2.0 < racecar_front_m(world, "ego") < ROAD.end_x_m


def test_oncoming_lane_drives_towards_minus_x(client: int) -> None:
    lane = ROAD.lanes  # first oncoming lane
    world = build(client, [car("ego", lane, 100.0, 10.0)])
    trace, start_pos, start_heading = simulate(world, 5.0, "ego")
    assert trace.position_m[-1, 0] == pytest.approx(100.0 - 50.0, abs=1e-6)
    assert np.all(trace.linear_mps[:, 0] == pytest.approx(-10.0))
    assert np.all(np.abs(trace.position_m[:, 1] - ROAD.lane_centre_y_m(lane)) < 1e-6)
    assert_integrates(trace, start_pos, start_heading)


def test_oncoming_vehicle_stops_at_road_start(client: int) -> None:
    world = build(client, [car("ego", ROAD.lanes, ROAD.start_x_m + 40.0, 10.0)])
    simulate(world, 12.0, "ego")
    front = float(_aabb(client, world.uids["ego"])[0][0])
    assert ROAD.start_x_m < front < ROAD.start_x_m + 2.0


def test_racecar_steering_joints_and_wheels_are_animated(client: int) -> None:
    centre = ROAD.lane_centre_y_m(0)
    world = build(client, [Actor("ego", "racecar", "lane_follow", (0.0, centre - 1.0), 0.0,
                                 {"lane": 0, "speed_mps": 5.0})])
    uid = world.uids["ego"]
    joints = {p.getJointInfo(uid, j, physicsClientId=client)[1].decode(): j
              for j in range(p.getNumJoints(uid, physicsClientId=client))}
    behaviour = world.behaviours["ego"]
    behaviour.step(0.0, DT_S)
    steer = behaviour.control().steering_rad
    assert steer > 0  # right of the line: steer left
    hinge = p.getJointState(uid, joints["left_steering_hinge_joint"], physicsClientId=client)
    assert hinge[0] == pytest.approx(steer)
    wheel_before = p.getJointState(uid, joints["left_rear_wheel_joint"],
                                   physicsClientId=client)[0]
    behaviour.step(DT_S, DT_S)
    wheel_after = p.getJointState(uid, joints["left_rear_wheel_joint"],
                                  physicsClientId=client)[0]
    radius = 0.05 * RACECAR_SCALE
    assert wheel_after - wheel_before == pytest.approx(5.0 * DT_S / radius, rel=0.02)


@pytest.mark.parametrize("asset", [RACECAR, str(SEDAN_URDF)], ids=["racecar", "sedan"])
def test_wheels_roll_forward(client: int, asset: str) -> None:
    if not Path(asset).exists():
        pytest.skip(f"{asset} missing")
    lane = 1
    actor = Actor("ego", "racecar" if asset == RACECAR else asset, "lane_follow",
                  (0.0, ROAD.lane_centre_y_m(lane)), 0.0, {"lane": lane, "speed_mps": 2.0})
    world = build(client, [actor])
    uid = world.uids["ego"]
    wheels = [j for j in range(p.getNumJoints(uid, physicsClientId=client))
              if b"wheel" in p.getJointInfo(uid, j, physicsClientId=client)[1]]
    assert len(wheels) == 4

    def top_of_wheel_in_link(j: int) -> tuple:
        """The point on top of the wheel (world z + 0.1 m over its centre), in link coordinates."""
        centre, orn = p.getLinkState(uid, j, physicsClientId=client)[4:6]
        inv_pos, inv_orn = p.invertTransform(centre, orn)
        top = (centre[0], centre[1], centre[2] + 0.1)
        return p.multiplyTransforms(inv_pos, inv_orn, top, (0, 0, 0, 1))[0]

    tops = {j: top_of_wheel_in_link(j) for j in wheels}
    for i in range(3):  # 3 cm: a small forward roll
        world.behaviours["ego"].step(i * DT_S, 0.01 / 2.0)
    for j in wheels:
        centre, orn = p.getLinkState(uid, j, physicsClientId=client)[4:6]
        top = p.multiplyTransforms(centre, orn, tops[j], (0, 0, 0, 1))[0]
        assert top[0] - centre[0] > 1e-3  # the top of the wheel moves forward


def test_parked_never_moves_and_logs_as_vehicle(client: int) -> None:
    world = build(client, [Actor("parked", "box", "parked",
                                 (30.0, ROAD.shoulder_centre_y_m("right")))])
    before, _ = pose(world, "parked")
    trace, _, _ = simulate(world, 1.0, "parked")
    assert isinstance(world.behaviours["parked"], Parked)
    assert np.all(trace.position_m == before)
    assert trace.controls[-1] == Control(steering_rad=0.0, throttle=0.0)
    assert np.all(trace.linear_mps == 0.0)


def test_lane_follow_is_registered_kinematic() -> None:
    assert BEHAVIOURS["lane_follow"] is LaneFollow and LaneFollow.kinematic
    assert BEHAVIOURS["walk"] is Walk and BEHAVIOURS["cross"] is Cross
    assert Walk.kinematic and Cross.kinematic


# -- pedestrians ---------------------------------------------------------------------


def _sidewalk_bounds(side: str) -> tuple[float, float]:
    centre = ROAD.sidewalk_centre_y_m(side)
    return centre - ROAD.sidewalk_width_m / 2, centre + ROAD.sidewalk_width_m / 2


def person(name: str, behaviour: str, x_m: float, y_m: float, **params: Any) -> Actor:
    """A box pedestrian standing on the sidewalk (kerb height)."""
    return Actor(name, "box", behaviour, (x_m, y_m), 0.0, params,
                 half_extents_m=PERSON_HALF_EXTENTS_M, ground_z_m=ROAD.kerb_height_m)


def test_walker_moves_along_x_at_its_speed_on_its_sidewalk(client: int) -> None:
    y = ROAD.sidewalk_centre_y_m("right")
    world = build(client, [person("walker", "walk", 50.0, y, speed_mps=1.4, direction=-1)])
    trace, start_pos, start_heading = simulate(world, 5.0, "walker")
    assert trace.position_m[-1, 0] == pytest.approx(50.0 - 7.0, abs=1e-6)
    assert np.all(trace.linear_mps[:, 0] == pytest.approx(-1.4))
    lo, hi = _sidewalk_bounds("right")
    assert np.all((trace.position_m[:, 1] > lo) & (trace.position_m[:, 1] < hi))
    assert np.all(trace.position_m[:, 2] == start_pos[2])
    assert abs(abs(trace.heading_rad[-1]) - math.pi) < 1e-6  # faces -x
    assert world.behaviours["walker"].control() == Control()
    assert_integrates(trace, start_pos, start_heading)


def test_walker_stops_at_road_end(client: int) -> None:
    y = ROAD.sidewalk_centre_y_m("left")
    world = build(client, [person("walker", "walk", ROAD.end_x_m - 3.0, y,
                                  speed_mps=1.5, direction=1)])
    trace, start_pos, start_heading = simulate(world, 5.0, "walker")
    front = float(_aabb(client, world.uids["walker"])[1][0])
    assert ROAD.end_x_m - 1.0 < front <= ROAD.end_x_m
    assert np.all(trace.linear_mps[-10:] == 0.0)
    assert_integrates(trace, start_pos, start_heading)


def test_crosser_waits_then_crosses_to_far_sidewalk(client: int) -> None:
    start_y = ROAD.right_edge_y_m - ROAD.shoulder_width_m - 0.5  # on the sidewalk, at the kerb
    world = build(client, [person("crosser", "cross", 30.0, start_y,
                                  speed_mps=2.0, start_s=1.0, direction=1)])
    trace, start_pos, start_heading = simulate(world, 12.0, "crosser")
    y = trace.position_m[:, 1]

    waiting = trace.t_s <= 1.0
    assert np.all(trace.position_m[waiting] == start_pos)
    assert np.all(np.diff(y) >= 0)
    assert np.all(trace.position_m[:, 0] == 30.0)
    assert y.min() < ROAD.right_edge_y_m and y.max() > ROAD.left_edge_y_m
    lo, hi = _sidewalk_bounds("left")
    assert lo < y[-1] < hi
    assert np.all(trace.linear_mps[-10:] == 0.0)
    assert trace.heading_rad[-1] == pytest.approx(math.pi / 2)
    # Down the kerb onto the road, up onto the far sidewalk.
    on_road = (y > ROAD.right_edge_y_m) & (y < ROAD.left_edge_y_m)
    np.testing.assert_allclose(trace.position_m[on_road, 2], start_pos[2] - ROAD.kerb_height_m)
    assert trace.position_m[-1, 2] == pytest.approx(start_pos[2])
    assert_integrates(trace, start_pos, start_heading)


def test_crosser_in_lane_stops_traffic(client: int) -> None:
    lane = min(range(ROAD.lanes), key=ROAD.lane_centre_y_m)  # the rightmost forward lane
    # A slow pedestrian already on the shoulder, about to walk through the ego's path.
    crosser = Actor("crosser", "box", "cross", (75.0, ROAD.right_edge_y_m - 0.4), 90.0,
                    {"speed_mps": 0.25, "start_s": 0.0, "direction": 1},
                    half_extents_m=PERSON_HALF_EXTENTS_M)
    world = build(client, [car("ego", lane, 0.0, 10.0), crosser])
    ego, crosser_uid = world.uids["ego"], world.uids["crosser"]
    gaps, speeds = [], []
    for i in range(int(18.0 / DT_S)):
        for behaviour in world.behaviours.values():
            behaviour.step(i * DT_S, DT_S)
        lo, hi = _aabb(client, crosser_uid)
        ego_lo, ego_hi = _aabb(client, ego)
        if hi[1] > ego_lo[1] and lo[1] < ego_hi[1]:  # pedestrian in the ego's path
            gaps.append(lo[0] - ego_hi[0])
        speeds.append(np.linalg.norm(world.behaviours["ego"].velocity()[0]))
    assert min(gaps) > 1.0
    assert min(speeds) < 0.5  # waited for the pedestrian to clear the lane
    assert speeds[-1] > 5.0  # then drove on


@pytest.mark.skipif(not PEDESTRIAN_URDF.exists(), reason="assets/driving/pedestrian.urdf missing")
def test_walk_cycle_swings_pedestrian_limbs_with_speed(client: int) -> None:
    def hip_crossings(speed_mps: float) -> tuple[int, float]:
        y = ROAD.sidewalk_centre_y_m("right")
        actor = Actor("walker", str(PEDESTRIAN_URDF), "walk", (0.0, y), 0.0,
                      {"speed_mps": speed_mps, "direction": 1}, ground_z_m=ROAD.kerb_height_m)
        world = build(client, [actor])
        uid = world.uids["walker"]
        joints = {p.getJointInfo(uid, j, physicsClientId=client)[1].decode(): j
                  for j in range(p.getNumJoints(uid, physicsClientId=client))}
        left, right = [], []
        for i in range(int(4.0 / DT_S)):
            world.behaviours["walker"].step(i * DT_S, DT_S)
            left.append(p.getJointState(uid, joints["left_hip"], physicsClientId=client)[0])
            right.append(p.getJointState(uid, joints["right_hip"], physicsClientId=client)[0])
            shoulder = p.getJointState(uid, joints["left_shoulder"], physicsClientId=client)[0]
            assert shoulder * left[-1] <= 0  # arms swing against the legs
        left_a = np.array(left)
        np.testing.assert_allclose(left_a, -np.array(right), atol=1e-12)
        p.removeBody(uid, physicsClientId=client)
        return int(np.sum(np.diff(np.sign(left_a)) != 0)), float(np.max(np.abs(left_a)))

    slow_crossings, slow_peak = hip_crossings(0.7)
    fast_crossings, fast_peak = hip_crossings(1.4)
    assert slow_peak > math.radians(15.0) and fast_peak > math.radians(15.0)
    assert fast_crossings == pytest.approx(2 * slow_crossings, abs=1)
