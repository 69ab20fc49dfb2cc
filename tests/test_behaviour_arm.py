"""Pick and place with the Panda and the KUKA iiwa on the standard table layout.

Each episode loads the scene itself in a DIRECT client (plane, table with its top at
z = 0.626, arm base on the table facing +x, three objects in the work area) and
drives ``PickAndPlace`` directly, as the episode runner would: ``step`` once per
simulation step, before ``stepSimulation``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pybullet as p
import pybullet_data
import pytest

from simgen.behaviours.arm import (
    PHASES,
    PickAndPlace,
    arm_home_joints,
    down_quaternion,
    min_jerk,
)
from simgen.behaviours.base import BehaviourContext
from simgen.sampling.scene import BodyPlan, EpisodePlan, PhysicsPlan, TableLayout

TABLE_TOP_Z_M = 0.626
TIME_STEP_S = 1.0 / 240.0
START_S = 0.25
TIME_LIMIT_S = 8.0
WORK_AREA_M = ((0.35, 0.65), (-0.25, 0.25))
PLACE_AREA_M = ((0.3, 0.5), (0.3, 0.42))
ARM_URDF = {"panda": "franka_panda/panda.urdf", "kuka_iiwa": "kuka_iiwa/model.urdf"}
#: pybullet_data file, globalScaling and upright roll (rad) of each test object; "box" is a
#: 5 cm createMultiBody box. The duck mesh is y-up: it stands when rolled +90 deg (at scale
#: 0.8 it is then 7.3 x 5.3 cm across and 6.8 cm tall).
OBJECTS = {
    "cube": ("cube_small.urdf", 1.0, 0.0),
    "lego": ("lego/lego.urdf", 1.0, 0.0),
    "duck": ("duck_vhacd.urdf", 0.8, math.pi / 2),
    "sphere": ("sphere_small.urdf", 1.0, 0.0),
    "box": (None, 1.0, 0.0),
}


@dataclass
class EpisodeResult:
    """What one pick-and-place episode did, measured from PyBullet (world frame, m, s)."""

    place_xy_m: tuple[float, float]
    final_xyz_m: np.ndarray  # target's base position at the end
    settled_z_m: float  # target's base z resting on the table before the pick
    resting_on_table: bool  # target touching the table top and still at the end
    max_carry_lift_m: float  # highest underside of the target above the table during carry
    lifted_steps: int  # steps with the target's underside over 5 cm above the table
    gripper_closed_while_lifted: bool
    gripper_closed_at_end: bool
    grasped_ever: bool
    phase_started_s: dict[str, float]
    others_moved_m: float  # largest displacement of a non-target object
    control_mismatch_rad: float  # largest |control().joint_positions_rad - getJointState|

    @property
    def placed_error_m(self) -> float:
        """Horizontal distance between the target's base and the place position."""
        return float(math.hypot(*(self.final_xyz_m[:2] - np.asarray(self.place_xy_m))))

    @property
    def success(self) -> bool:
        """Placed within 4 cm, resting on the table, lifted 10 cm, nothing else knocked."""
        return (
            self.placed_error_m < 0.04
            and self.resting_on_table
            and abs(self.final_xyz_m[2] - self.settled_z_m) < 0.01
            and self.max_carry_lift_m > 0.10
            and self.others_moved_m < 0.03
        )


def _base_position(client: int, uid: int) -> np.ndarray:
    return np.array(p.getBasePositionAndOrientation(uid, physicsClientId=client)[0])


def _load_object(client: int, kind: str) -> int:
    path, scale, _ = OBJECTS[kind]
    if path is None:
        half = (0.025, 0.025, 0.025)
        shape = p.createCollisionShape(p.GEOM_BOX, halfExtents=half, physicsClientId=client)
        visual = p.createVisualShape(p.GEOM_BOX, halfExtents=half, physicsClientId=client)
        return p.createMultiBody(0.1, shape, visual, (0, 0, 2), physicsClientId=client)
    return p.loadURDF(path, (0, 0, 2), globalScaling=scale, physicsClientId=client)


def _set_on_table(
    client: int, uid: int, centre_xy: tuple[float, float], roll: float, yaw: float
) -> None:
    """Rest ``uid`` on the table top with its bounding-box centre at ``centre_xy``."""
    orn = p.getQuaternionFromEuler((roll, 0.0, yaw), physicsClientId=client)
    p.resetBasePositionAndOrientation(uid, (0, 0, 2), orn, physicsClientId=client)
    lo, hi = p.getAABB(uid, -1, physicsClientId=client)
    base = (
        centre_xy[0] - 0.5 * (lo[0] + hi[0]),
        centre_xy[1] - 0.5 * (lo[1] + hi[1]),
        TABLE_TOP_Z_M + 0.0005 + 2 - lo[2],
    )
    p.resetBasePositionAndOrientation(uid, base, orn, physicsClientId=client)


def _sample_layout(rng: np.random.Generator, count: int) -> list[tuple[tuple[float, float], float]]:
    """``count`` (centre_xy, yaw) in the work area, centres at least 12 cm apart."""
    spots: list[tuple[tuple[float, float], float]] = []
    while len(spots) < count:
        xy = (float(rng.uniform(*WORK_AREA_M[0])), float(rng.uniform(*WORK_AREA_M[1])))
        if all(math.dist(xy, other) > 0.12 for other, _ in spots):
            spots.append((xy, float(rng.uniform(-math.pi, math.pi))))
    return spots


def _episode_plan(
    arm: str, names: list[str], place_xy: tuple[float, float], target: str | None = ""
) -> EpisodePlan:
    """A one-arm tabletop plan; the arm picks ``target`` (default: the first of ``names``)."""
    table = TableLayout(
        top_z_m=TABLE_TOP_Z_M,
        centre_m=(0.45, 0.0, 0.0),
        work_area_m=WORK_AREA_M,
        place_area_m=PLACE_AREA_M,
        arm_base_m=(0.0, 0.0, TABLE_TOP_Z_M),
    )
    arm_body = BodyPlan(
        name="arm",
        group="robot",
        cls="robot",
        asset=arm,
        position_m=table.arm_base_m,
        yaw_deg=0.0,
        scale=1.0,
        colour_rgba=None,
        behaviour="pick_and_place",
        behaviour_params={
            "target": names[0] if target == "" else target,
            "place_position_m": place_xy,
            "start_s": START_S,
        },
    )
    objects = tuple(
        BodyPlan(
            name=name,
            group="objects",
            cls="object",
            asset=name,
            position_m=(0.5, 0.0, 0.0),
            yaw_deg=0.0,
            scale=1.0,
            colour_rgba=None,
            behaviour="static",
        )
        for name in names
    )
    return EpisodePlan(
        index=0,
        seed=0,
        domain="tabletop",
        duration_s=TIME_LIMIT_S,
        capture_rate_hz=10.0,
        physics=PhysicsPlan(
            time_step_s=TIME_STEP_S, gravity_mps2=9.81, solver_iterations=50, substeps=0
        ),
        road=None,
        table=table,
        bodies=(arm_body, *objects),
        cameras=(),
        sampled={},
    )


def run_episode(
    arm: str,
    target: str,
    rng: np.random.Generator,
    target_xy_m: tuple[float, float] | None = None,
) -> EpisodeResult:
    """Build the scene with ``target`` and two other objects and run the pick and place.

    Layout and place position are drawn from ``rng``; ``target_xy_m`` overrides where
    the target's centre stands.
    """
    client = p.connect(p.DIRECT)
    try:
        return _run(client, arm, target, rng, target_xy_m)
    finally:
        p.disconnect(physicsClientId=client)


def _run(
    client: int,
    arm: str,
    target: str,
    rng: np.random.Generator,
    target_xy_m: tuple[float, float] | None,
) -> EpisodeResult:
    p.setAdditionalSearchPath(pybullet_data.getDataPath(), physicsClientId=client)
    p.setGravity(0, 0, -9.81, physicsClientId=client)
    p.setTimeStep(TIME_STEP_S, physicsClientId=client)
    p.setPhysicsEngineParameter(numSolverIterations=50, physicsClientId=client)
    p.loadURDF("plane.urdf", physicsClientId=client)
    table = p.loadURDF(
        "table/table.urdf", (0.45, 0.0, 0.0), useFixedBase=True, physicsClientId=client
    )
    arm_uid = p.loadURDF(
        ARM_URDF[arm], (0.0, 0.0, TABLE_TOP_Z_M), useFixedBase=True, physicsClientId=client
    )
    others = [str(k) for k in rng.choice([k for k in OBJECTS if k != target], 2, replace=False)]
    names = [target, *others]
    uids = {name: _load_object(client, name) for name in names}
    layout = _sample_layout(rng, len(names))
    if target_xy_m is not None:
        layout[0] = (target_xy_m, layout[0][1])
    for name, (xy, yaw) in zip(names, layout, strict=True):
        _set_on_table(client, uids[name], xy, OBJECTS[name][2], yaw)
    place_xy = (float(rng.uniform(*PLACE_AREA_M[0])), float(rng.uniform(*PLACE_AREA_M[1])))

    plan = _episode_plan(arm, names, place_xy)
    ctx = BehaviourContext(
        client=client,
        plan=plan,
        uids={"arm": arm_uid, **uids},
        rng=np.random.default_rng(0),
    )
    behaviour = PickAndPlace(ctx, plan.bodies[0], arm_uid)
    target_uid = uids[target]
    joints = list(range(7)) + ([9, 10] if arm == "panda" else [])

    settled: dict[str, np.ndarray] = {}  # base positions once the scene has settled
    max_carry_lift = -1.0
    closed_while_lifted = True
    lifted_steps = 0
    mismatch = 0.0
    grasped_ever = False
    t = 0.0
    for _ in range(int(TIME_LIMIT_S / TIME_STEP_S)):
        if not settled and t >= START_S:
            settled = {name: _base_position(client, uid) for name, uid in uids.items()}
        behaviour.step(t, TIME_STEP_S)
        control = behaviour.control()
        actual = [s[0] for s in p.getJointStates(arm_uid, joints, physicsClientId=client)]
        error = np.max(np.abs(np.subtract(control.joint_positions_rad, actual)))
        mismatch = max(mismatch, float(error))
        p.stepSimulation(physicsClientId=client)
        t += TIME_STEP_S
        grasped_ever |= behaviour.grasped
        underside = p.getAABB(target_uid, -1, physicsClientId=client)[0][2] - TABLE_TOP_Z_M
        if behaviour.phase == "carry":
            max_carry_lift = max(max_carry_lift, underside)
        if underside > 0.05:
            lifted_steps += 1
            closed_while_lifted &= bool(control.gripper_closed)
        if behaviour.phase == "done":
            break
    for _ in range(60):  # let the placed target settle
        behaviour.step(t, TIME_STEP_S)
        p.stepSimulation(physicsClientId=client)
        t += TIME_STEP_S

    on_table = bool(p.getContactPoints(target_uid, table, physicsClientId=client))
    speed = float(np.linalg.norm(p.getBaseVelocity(target_uid, physicsClientId=client)[0]))
    return EpisodeResult(
        place_xy_m=place_xy,
        final_xyz_m=_base_position(client, target_uid),
        settled_z_m=float(settled[target][2]),
        resting_on_table=on_table and speed < 0.01,
        max_carry_lift_m=max_carry_lift,
        lifted_steps=lifted_steps,
        gripper_closed_while_lifted=closed_while_lifted,
        gripper_closed_at_end=bool(behaviour.control().gripper_closed),
        grasped_ever=grasped_ever,
        phase_started_s=dict(behaviour.phase_started_s),
        others_moved_m=max(
            float(np.linalg.norm(_base_position(client, uids[name]) - settled[name]))
            for name in others
        ),
        control_mismatch_rad=mismatch,
    )


CASES = [
    ("panda", "cube", 1),
    ("panda", "lego", 2),
    ("panda", "duck", 3),
    ("panda", "sphere", 4),
    ("panda", "box", 5),
    ("kuka_iiwa", "cube", 11),
    ("kuka_iiwa", "lego", 12),
    ("kuka_iiwa", "duck", 13),
    ("kuka_iiwa", "sphere", 14),
    ("kuka_iiwa", "box", 15),
]


@pytest.mark.parametrize(("arm", "target", "seed"), CASES)
def test_pick_and_place_puts_target_down_at_place_position(arm: str, target: str, seed: int):
    result = run_episode(arm, target, np.random.default_rng(seed))

    assert result.placed_error_m < 0.04
    assert result.resting_on_table
    assert result.final_xyz_m[2] == pytest.approx(result.settled_z_m, abs=0.005)
    if target in ("cube", "box", "sphere"):  # base at the centre: top + half the height
        half_height = 0.03 if target == "sphere" else 0.025
        assert result.final_xyz_m[2] == pytest.approx(TABLE_TOP_Z_M + half_height, abs=0.003)
    assert result.max_carry_lift_m > 0.10
    assert result.lifted_steps > 0 and result.gripper_closed_while_lifted
    assert result.grasped_ever
    assert not result.gripper_closed_at_end
    assert result.others_moved_m < 0.03
    assert result.control_mismatch_rad == 0.0
    started = result.phase_started_s
    assert started["pre_grasp"] == pytest.approx(START_S, abs=TIME_STEP_S)
    assert list(started) == [phase.name for phase in PHASES[1:]]
    assert started["done"] - START_S < 7.0  # typically 5-6 s


@pytest.mark.parametrize("arm", ["panda", "kuka_iiwa"])
def test_missed_grasp_times_out_and_goes_home(arm: str):
    # the far end of the table, 1.1 m from the base: neither arm reaches it
    result = run_episode(arm, "cube", np.random.default_rng(7), target_xy_m=(1.1, 0.0))

    assert list(result.phase_started_s) == [
        "pre_grasp",
        "descend",
        "close",
        "retreat",
        "home",
        "done",
    ]
    assert not result.grasped_ever and not result.gripper_closed_at_end
    assert result.lifted_steps == 0
    assert np.linalg.norm(result.final_xyz_m[:2] - (1.1, 0.0)) < 0.01


@pytest.mark.parametrize("arm", ["panda", "kuka_iiwa"])
def test_new_arm_starts_in_home_pose_pointing_down(arm: str):
    client = p.connect(p.DIRECT)
    try:
        p.setAdditionalSearchPath(pybullet_data.getDataPath(), physicsClientId=client)
        uid = p.loadURDF(
            ARM_URDF[arm], (0, 0, TABLE_TOP_Z_M), useFixedBase=True, physicsClientId=client
        )
        cube = p.loadURDF(
            "cube_small.urdf", (0.5, 0, TABLE_TOP_Z_M + 0.025), physicsClientId=client
        )
        plan = _episode_plan(arm, ["cube"], (0.4, 0.35))
        ctx = BehaviourContext(client, plan, {"arm": uid, "cube": cube}, np.random.default_rng(0))
        behaviour = PickAndPlace(ctx, plan.bodies[0], uid)

        control = behaviour.control()
        assert control.joint_positions_rad == pytest.approx(arm_home_joints(arm), abs=1e-9)
        assert control.gripper_closed is False
        assert behaviour.phase == "wait" and not behaviour.grasped
        tool = p.getLinkState(uid, 11 if arm == "panda" else 6, physicsClientId=client)
        rotation = np.reshape(p.getMatrixFromQuaternion(tool[5], physicsClientId=client), (3, 3))
        assert rotation[:, 2] == pytest.approx((0.0, 0.0, -1.0), abs=0.01)
        assert tool[4][2] - TABLE_TOP_Z_M > 0.4  # well clear of the objects
    finally:
        p.disconnect(physicsClientId=client)


def test_with_nothing_to_pick_the_arm_holds_home():
    client = p.connect(p.DIRECT)
    try:
        p.setAdditionalSearchPath(pybullet_data.getDataPath(), physicsClientId=client)
        p.setGravity(0, 0, -9.81, physicsClientId=client)
        uid = p.loadURDF(
            ARM_URDF["panda"], (0, 0, TABLE_TOP_Z_M), useFixedBase=True, physicsClientId=client
        )
        plan = _episode_plan("panda", ["cube"], (0.4, 0.35), target=None)
        ctx = BehaviourContext(client, plan, {"arm": uid}, np.random.default_rng(0))
        behaviour = PickAndPlace(ctx, plan.bodies[0], uid)
        for i in range(240):
            behaviour.step(i * TIME_STEP_S, TIME_STEP_S)
            p.stepSimulation(physicsClientId=client)

        assert behaviour.phase == "wait" and not behaviour.control().gripper_closed
        joints = behaviour.control().joint_positions_rad
        assert joints == pytest.approx(arm_home_joints("panda"), abs=0.01)
    finally:
        p.disconnect(physicsClientId=client)


def test_unknown_target_is_named_with_a_suggestion():
    client = p.connect(p.DIRECT)
    try:
        p.setAdditionalSearchPath(pybullet_data.getDataPath(), physicsClientId=client)
        uid = p.loadURDF(ARM_URDF["panda"], useFixedBase=True, physicsClientId=client)
        plan = _episode_plan("panda", ["cube"], (0.4, 0.35))
        ctx = BehaviourContext(client, plan, {"arm": uid, "cub": 1}, np.random.default_rng(0))
        with pytest.raises(ValueError, match="did you mean 'cub'"):
            PickAndPlace(ctx, plan.bodies[0], uid)
    finally:
        p.disconnect(physicsClientId=client)


def test_unknown_arm_asset_is_rejected():
    with pytest.raises(ValueError, match="kuka_iiwa"):
        arm_home_joints("ur5")


def test_down_quaternion_points_tool_down_at_yaw():
    for yaw in (-2.0, 0.0, 0.7):
        rotation = np.reshape(p.getMatrixFromQuaternion(down_quaternion(yaw)), (3, 3))
        assert rotation[:, 2] == pytest.approx((0.0, 0.0, -1.0), abs=1e-12)
        assert rotation[:, 0] == pytest.approx((math.cos(yaw), math.sin(yaw), 0.0), abs=1e-12)


def test_min_jerk_starts_and_ends_at_rest():
    assert min_jerk(0.0, 2.0) == 0.0 and min_jerk(2.0, 2.0) == 1.0
    assert min_jerk(1.0, 2.0) == pytest.approx(0.5)
    assert min_jerk(0.001, 2.0) < 1e-8 and min_jerk(5.0, 2.0) == 1.0
    assert min_jerk(0.0, 0.0) == 1.0  # a zero-length move is already over
