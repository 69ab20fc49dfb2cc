"""Robot-arm behaviours: a scripted top-down pick and place for the Panda and the KUKA iiwa.

Frames: every position is in the world frame (z up, metres). The arm's tool points
straight down throughout; its heading about world z is the *tool yaw*.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from simgen.behaviours.base import Behaviour, BehaviourContext, Control, register_behaviour
from simgen.errors import did_you_mean
from simgen.sampling.scene import BodyPlan
from simgen.world.bullet import p

Vec3 = tuple[float, float, float]


@dataclass(frozen=True)
class ArmModel:
    """Joint and link indices and limits of one arm asset, as loaded from its URDF.

    ``tool_link`` is the link inverse kinematics drives; the tool point lies
    ``tool_offset_m`` along that link's z axis (the Panda's ``panda_grasptarget`` is
    the point itself; the iiwa's suction face is 5 cm below its flange frame).
    ``hold_link`` is the link a grasped object is constrained to.
    """

    arm_joints: tuple[int, ...]
    finger_joints: tuple[int, ...]
    tool_link: int
    tool_offset_m: float
    hold_link: int
    home_rad: tuple[float, ...]
    max_force_nm: tuple[float, ...]
    max_velocity_rad_s: tuple[float, ...]
    finger_open_m: float = 0.0
    finger_force_n: float = 0.0
    finger_velocity_m_s: float = 0.0
    #: lowest height of the tool point above the grasp point's geometry (fingertips
    #: reach 1.1 cm below ``panda_grasptarget``); keeps fingers off the table.
    fingertip_below_tool_m: float = 0.0
    #: how far the fingers reach above the tool point before the palm begins.
    palm_above_tool_m: float = 0.0

    @property
    def has_fingers(self) -> bool:
        """True for a parallel gripper, False for the suction tool."""
        return bool(self.finger_joints)


ARM_MODELS: dict[str, ArmModel] = {
    "panda": ArmModel(
        arm_joints=(0, 1, 2, 3, 4, 5, 6),
        finger_joints=(9, 10),
        tool_link=11,
        tool_offset_m=0.0,
        hold_link=8,
        home_rad=(0.0, -0.785, 0.0, -2.356, 0.0, 1.571, 0.785),
        max_force_nm=(87.0, 87.0, 87.0, 87.0, 12.0, 12.0, 12.0),
        max_velocity_rad_s=(2.0, 2.0, 2.0, 2.0, 2.5, 2.5, 2.5),
        finger_open_m=0.04,
        finger_force_n=20.0,
        finger_velocity_m_s=0.1,
        fingertip_below_tool_m=0.011,
        palm_above_tool_m=0.035,
    ),
    "kuka_iiwa": ArmModel(
        arm_joints=(0, 1, 2, 3, 4, 5, 6),
        finger_joints=(),
        tool_link=6,
        tool_offset_m=0.05,
        hold_link=6,
        home_rad=(0.0, 0.35, 0.0, -1.6, 0.0, 1.19, 0.0),
        max_force_nm=(300.0, 300.0, 200.0, 200.0, 100.0, 60.0, 60.0),
        max_velocity_rad_s=(1.7, 1.7, 1.7, 2.2, 2.4, 3.1, 3.1),
    ),
}


def arm_model(asset: str) -> ArmModel:
    """The ``ArmModel`` of an arm asset id (``"panda"`` or ``"kuka_iiwa"``)."""
    try:
        return ARM_MODELS[asset]
    except KeyError:
        raise ValueError(
            f"no arm model for asset {asset!r}; known arms: {sorted(ARM_MODELS)}"
        ) from None


def arm_home_joints(asset: str) -> tuple[float, ...]:
    """Home configuration (rad; the arm joints, then the open fingers in m for the Panda).

    The tool points straight down about 0.5 m above the arm's base, in front of it.
    """
    model = arm_model(asset)
    return model.home_rad + tuple(model.finger_open_m for _ in model.finger_joints)


# --- motion primitives ---------------------------------------------------------------


def min_jerk(elapsed_s: float, duration_s: float) -> float:
    """Minimum-jerk time scaling: 0 -> 0, 1 -> 1, zero velocity and acceleration at both ends."""
    s = min(max(elapsed_s / duration_s, 0.0), 1.0) if duration_s > 0 else 1.0
    return s * s * s * (10.0 + s * (-15.0 + 6.0 * s))


#: peak speed of a min-jerk profile over its mean speed
_MIN_JERK_PEAK = 1.875
#: peak speed (rad/s) of turning the tool about the vertical
_TOOL_TURN_SPEED_RAD_S = 2.0


@dataclass(frozen=True)
class CartesianMove:
    """A straight-line move of the tool point (world frame), turning the tool yaw on the way."""

    start_m: Vec3
    end_m: Vec3
    start_yaw_rad: float
    end_yaw_rad: float
    start_s: float
    duration_s: float

    @classmethod
    def between(
        cls,
        start_m: Sequence[float],
        end_m: Sequence[float],
        yaws_rad: tuple[float, float],
        start_s: float,
        peak_speed_m_s: float,
        min_duration_s: float = 0.25,
    ) -> CartesianMove:
        """A move whose duration keeps the tool's peak speed at ``peak_speed_m_s``.

        ``yaws_rad`` is the tool yaw at the start and at the end.
        """
        distance = float(np.linalg.norm(np.subtract(end_m, start_m)))
        turn = abs(yaws_rad[1] - yaws_rad[0])
        duration = max(
            min_duration_s,
            _MIN_JERK_PEAK * distance / peak_speed_m_s,
            _MIN_JERK_PEAK * turn / _TOOL_TURN_SPEED_RAD_S,
        )
        return cls(_vec3(start_m), _vec3(end_m), yaws_rad[0], yaws_rad[1], start_s, duration)

    @classmethod
    def hold(
        cls, at_m: Sequence[float], yaw_rad: float, start_s: float, duration_s: float
    ) -> CartesianMove:
        """Stay at ``at_m`` for ``duration_s``."""
        return cls(_vec3(at_m), _vec3(at_m), yaw_rad, yaw_rad, start_s, duration_s)

    def position_m(self, t_s: float) -> np.ndarray:
        """Tool target at simulation time ``t_s``."""
        s = min_jerk(t_s - self.start_s, self.duration_s)
        return np.add(self.start_m, s * np.subtract(self.end_m, self.start_m))

    def yaw_rad(self, t_s: float) -> float:
        """Tool yaw at simulation time ``t_s``."""
        s = min_jerk(t_s - self.start_s, self.duration_s)
        return self.start_yaw_rad + s * (self.end_yaw_rad - self.start_yaw_rad)


@dataclass(frozen=True)
class JointMove:
    """A joint-space move of the arm joints (rad)."""

    start_rad: tuple[float, ...]
    end_rad: tuple[float, ...]
    start_s: float
    duration_s: float

    def joints_rad(self, t_s: float) -> np.ndarray:
        """Arm joint targets at simulation time ``t_s``."""
        s = min_jerk(t_s - self.start_s, self.duration_s)
        return np.add(self.start_rad, s * np.subtract(self.end_rad, self.start_rad))


Move = CartesianMove | JointMove


def _vec3(values: Sequence[float]) -> Vec3:
    return (float(values[0]), float(values[1]), float(values[2]))


def down_quaternion(yaw_rad: float) -> tuple[float, float, float, float]:
    """Tool orientation (x, y, z, w) pointing down, its x axis at heading ``yaw_rad``.

    The rotation Rz(yaw) Rx(pi): z axis along world -z, x axis (cos yaw, sin yaw, 0).
    """
    return (math.cos(yaw_rad / 2), math.sin(yaw_rad / 2), 0.0, 0.0)


def _wrap_half_turn(angle_rad: float, near_rad: float) -> float:
    """``angle`` shifted by a multiple of pi to lie nearest ``near`` (grippers are symmetric)."""
    return near_rad + (angle_rad - near_rad + math.pi / 2) % math.pi - math.pi / 2


# --- grasp planning ------------------------------------------------------------------


@dataclass(frozen=True)
class GraspPlan:
    """Where and how to take the target, planned from its pose when the approach begins.

    ``tool_m`` is the tool point at the grasp (world frame); ``yaw_rad`` the tool yaw.
    ``width_m`` is the target's width between the fingers (0 for suction).
    """

    tool_m: Vec3
    yaw_rad: float
    width_m: float


#: candidate finger-closing directions tried, spanning a half turn
_CLOSING_CANDIDATES = 12
#: lateral offsets (m) of the rays standing in for each finger pad's width
_PAD_OFFSETS_M = (-0.009, 0.0, 0.009)


def plan_finger_grasp(
    client: int,
    target_uid: int,
    table_top_z_m: float,
    model: ArmModel,
    preferred_yaw_rad: float,
) -> GraspPlan:
    """Pick the finger-closing direction across which the target is narrowest.

    For each candidate direction, horizontal rays from both sides toward the target's
    centre (at the heights the finger pads span) measure the width the fingers must
    straddle; a ray stopped by another body counts as that side blocked. Ties favour
    the tool yaw nearest ``preferred_yaw_rad`` (least wrist turn). The grasp point is
    centred between the two sides.
    """
    lo, hi = p.getAABB(target_uid, -1, physicsClientId=client)
    centre = np.multiply(np.add(lo, hi), 0.5)
    height = hi[2] - lo[2]
    tool_z = max(
        centre[2],
        table_top_z_m + model.fingertip_below_tool_m + 0.006,
        hi[2] - model.palm_above_tool_m + 0.005,
    )
    reach = 0.5 * math.hypot(hi[0] - lo[0], hi[1] - lo[1]) + 0.02
    # the pad spans the grasp height, a little above and a little below, within the target
    heights = (
        max(tool_z - 0.008, lo[2] + 0.003),
        tool_z,
        min(tool_z + 0.012, lo[2] + 0.9 * height),
    )
    _, _, object_yaw = p.getEulerFromQuaternion(
        p.getBasePositionAndOrientation(target_uid, physicsClientId=client)[1],
        physicsClientId=client,
    )
    rays_from, rays_to = [], []
    directions = []
    for k in range(_CLOSING_CANDIDATES):
        angle = object_yaw + k * math.pi / _CLOSING_CANDIDATES
        d = np.array([math.cos(angle), math.sin(angle), 0.0])
        n = np.array([-d[1], d[0], 0.0])
        directions.append((angle, d))
        for z in heights:
            for offset in _PAD_OFFSETS_M:
                mid = np.array([centre[0], centre[1], z]) + offset * n
                for side in (1.0, -1.0):
                    rays_from.append(mid + side * reach * d)
                    rays_to.append(mid)
    hits = p.rayTestBatch(rays_from, rays_to, physicsClientId=client)
    per_direction = len(heights) * len(_PAD_OFFSETS_M) * 2
    best: tuple[float, float, float, float] | None = None  # (score, width, angle, shift)
    for k, (angle, d) in enumerate(directions):
        outer_plus, outer_minus = -reach, -reach  # extent along +d and -d from the centre
        for i in range(per_direction):
            uid, _, _, position, _ = hits[k * per_direction + i]
            side = 1.0 if i % 2 == 0 else -1.0
            if uid == target_uid:
                extent = float(np.dot(np.subtract(position, centre), side * d))
            elif uid >= 0:
                extent = reach  # something else inside the finger sweep: treat as blocked
            else:
                continue
            if side > 0:
                outer_plus = max(outer_plus, extent)
            else:
                outer_minus = max(outer_minus, extent)
        if outer_plus < -reach + 1e-9 or outer_minus < -reach + 1e-9:
            width, shift = 0.0, 0.0  # rays missed (very thin object): any direction will do
        else:
            width = outer_plus + outer_minus
            shift = 0.5 * (outer_plus - outer_minus)
        yaw = _wrap_half_turn(angle + math.pi / 2, preferred_yaw_rad)
        # 5 mm of width is worth a quarter turn of wrist: prefer narrow, then little turn
        score = width + 0.005 * abs(yaw - preferred_yaw_rad) / (math.pi / 2)
        if best is None or score < best[0]:
            best = (score, width, angle, shift)
    assert best is not None
    _, width, angle, shift = best
    d = np.array([math.cos(angle), math.sin(angle), 0.0])
    tool = np.array([centre[0], centre[1], tool_z]) + shift * d
    yaw = _wrap_half_turn(angle + math.pi / 2, preferred_yaw_rad)
    return GraspPlan(_vec3(tool), yaw, width)


def plan_suction_grasp(client: int, target_uid: int, preferred_yaw_rad: float) -> GraspPlan:
    """Suction point: the target's upper surface under the centre of its bounding box.

    A downward ray finds the surface; if it misses the target (a hole, a ring) the
    highest point of a small grid of rays around the centre is used instead.
    """
    lo, hi = p.getAABB(target_uid, -1, physicsClientId=client)
    centre = np.multiply(np.add(lo, hi), 0.5)
    offsets = [(0.0, 0.0)] + [
        (r * math.cos(a), r * math.sin(a))
        for r in (0.01, 0.02)
        for a in np.linspace(0.0, 2 * math.pi, 8, endpoint=False)
    ]
    rays_from = [(centre[0] + dx, centre[1] + dy, hi[2] + 0.05) for dx, dy in offsets]
    rays_to = [(x, y, lo[2] - 0.01) for x, y, _ in rays_from]
    hits = p.rayTestBatch(rays_from, rays_to, physicsClientId=client)
    on_target = [h[3] for h in hits if h[0] == target_uid]
    if hits[0][0] == target_uid:
        surface = hits[0][3]
    elif on_target:
        surface = max(on_target, key=lambda pos: pos[2])
    else:
        surface = (centre[0], centre[1], hi[2])
    return GraspPlan(_vec3(surface), preferred_yaw_rad, 0.0)


# --- the behaviour -------------------------------------------------------------------


@dataclass(frozen=True)
class Phase:
    """One row of the pick-and-place script.

    ``enter`` runs once when the phase begins and returns the move to follow;
    ``done`` says when to go on. A phase also ends ``slack_s`` after its move's
    planned duration, whatever ``done`` says, so the script cannot hang (only
    ``wait``, which ends at ``start_s``, and the final ``done`` have no time limit).
    Phases that ``need_grasp`` are skipped when nothing is held (a missed grasp goes
    straight to ``retreat``).
    """

    name: str
    enter: Callable[[PickAndPlace, float], Move]
    done: Callable[[PickAndPlace, float], bool]
    slack_s: float
    needs_grasp: bool = False


#: peak tool speeds (m/s) for free-space transfers and for moves near the table
_TRANSFER_SPEED_M_S = 1.0
_APPROACH_SPEED_M_S = 0.35
#: the move home peaks at this fraction of each joint's velocity limit
_HOMING_SPEED_FRACTION = 0.9
#: the approach starts this far above the grasp point
_HOVER_M = 0.10
#: tool position error accepted at the end of a move
_WAYPOINT_TOLERANCE_M = 0.01
#: a tool slower than this (m/s) at the end of a move has stopped
_SETTLED_SPEED_M_S = 0.01
#: suction engages when the tool is this close to the target
_SUCTION_RANGE_M = 0.005
#: the target is let go this high above the table
_RELEASE_CLEARANCE_M = 0.005
#: the tool rises this far after letting go
_RETREAT_M = 0.10
#: a slipped target's hand collisions come back once its box is this far from the hand's
_SLIP_CLEARANCE_M = 0.005
#: How often the joint targets are recomputed (inverse kinematics included), as an arm
#: controller does; PyBullet's position motors track the last targets in between.
CONTROL_RATE_HZ = 60.0


@register_behaviour("pick_and_place")
class PickAndPlace(Behaviour):
    """Scripted top-down pick and place of one target body for a fixed-base arm.

    Parameters (``body.behaviour_params``): ``target`` (body name; None when there is
    nothing to pick, and the arm then holds its home pose), ``place_position_m``
    (x, y in the world frame: where the target's base position, as PyBullet reports it
    (its centre-of-mass frame), is set down on the table),
    ``start_s`` (default 0), ``lift_height_m`` (how high the target's underside is
    carried above the table top, default 0.15) and ``slip_at_carry_fraction`` (None, the
    default, or 0..1: the target slips out of the hand when that fraction of the carry
    move's planned duration has passed; the ``gripper_slip`` edge case sets it).

    Script: ``wait`` until ``start_s`` -> ``pre_grasp`` (above the target, planned from
    its pose when this phase begins) -> ``descend`` -> ``close`` -> ``lift`` -> ``carry``
    (above the place position) -> ``lower`` -> ``release`` -> ``retreat`` -> ``home``
    -> ``done``; a missed grasp skips from ``close`` to ``retreat``. The tool follows
    min-jerk straight lines through inverse kinematics, pointing down; the joints are
    position-controlled, so the physics moves the arm. During ``carry`` the tool turns
    with the arm's first joint (the wrist keeps its angle), so the target's yaw changes
    by the turn between pick and place; its base position ends at ``place_position_m``.

    Grasp assist. The Panda's fingers close physically (with a squeeze force) across
    the target's narrowest width, found by ray casts. Once both fingers touch the
    target, a fixed constraint ties it to the hand at their current relative pose, so
    any shape holds; the constraint is removed on release. The KUKA iiwa has no
    gripper and emulates a suction cup: when its flange face comes within 5 mm of the
    target's top, the same fixed constraint is made ("gripper closed" = suction on).

    Slip. At the slip time the constraint is removed while the gripper stays commanded
    closed and the arm goes on carrying; the fingers stop touching the target (their
    collisions with it are off until it has dropped clear of the hand) so it falls. The
    arm finishes the carry, skips ``lower`` and ``release`` (nothing held), opens in
    ``retreat`` and goes home; it does not grasp again.
    """

    kinematic = False

    def __init__(self, ctx: BehaviourContext, body: BodyPlan, uid: int):
        super().__init__(ctx, body, uid)
        self.model = arm_model(body.asset)
        params = body.behaviour_params
        target = params.get("target")
        if target is not None and target not in ctx.uids:
            raise ValueError(
                f"pick_and_place target {target!r} is not a body of this episode"
                + did_you_mean(target, ctx.uids)
            )
        #: PyBullet uid of the body to pick; None when the episode has nothing to pick
        self.target_uid: int | None = None if target is None else ctx.uids[target]
        place = params["place_position_m"]
        self.place_xy_m: tuple[float, float] = (float(place[0]), float(place[1]))
        self.start_s: float = float(params.get("start_s", 0.0))
        self.lift_height_m: float = float(params.get("lift_height_m", 0.15))
        slip = params.get("slip_at_carry_fraction")
        if slip is not None and not 0.0 <= float(slip) <= 1.0:
            raise ValueError(f"pick_and_place slip_at_carry_fraction must lie in 0..1, got {slip}")
        #: fraction (0..1) of the carry after which the target slips out; None: no slip
        self.slip_at_carry_fraction: float | None = None if slip is None else float(slip)
        if ctx.plan.table is None:
            raise ValueError("pick_and_place needs a table in the episode plan")
        self.table_top_z_m: float = ctx.plan.table.top_z_m

        #: name of the current phase (a row of ``PHASES``)
        self.phase: str = PHASES[0].name
        #: True while the grasp-assist constraint holds the target
        self.grasped: bool = False
        #: fingers commanded closed (Panda) or suction on (iiwa)
        self.gripper_closed: bool = False
        #: simulation time (s) at which each phase began
        self.phase_started_s: dict[str, float] = {}
        #: simulation time (s) at which the target slipped out of the hand (None: it did not)
        self.slipped_at_s: float | None = None
        self._slip_links: tuple[int, ...] = ()  # hand links not colliding with the target
        self._constraint: int | None = None
        self._phase_index = 0
        self._phase_start_s = 0.0
        self._grasp: GraspPlan | None = None
        self._steps_to_command = 0  # physics steps until the joints are commanded again

        self._limits_low, self._limits_high, self._rest = self._null_space()
        for joint, q in zip(
            self.model.arm_joints + self.model.finger_joints,
            arm_home_joints(body.asset),
            strict=True,
        ):
            p.resetJointState(self.uid, joint, q, 0.0, physicsClientId=self.client)
        base, _ = p.getBasePositionAndOrientation(self.uid, physicsClientId=self.client)
        self._base_xy_m = (base[0], base[1])
        # tool yaw minus the tool's azimuth about the base, at home: turning the first
        # joint alone keeps this difference, so a tool yaw of azimuth + this needs no wrist turn
        self._home_yaw_offset_rad = self._tool_yaw() - self._azimuth(self._tool_pose()[0])
        self._move: Move = self._enter_hold_home(0.0)

    @property
    def client(self) -> int:
        """The PyBullet client this behaviour talks to."""
        return self.ctx.client

    # -- the per-step loop -----------------------------------------------------------

    def step(self, t_s: float, dt_s: float) -> None:
        """Advance the script; at the control rate (and whenever a phase begins), command
        the joints toward this step's waypoint. The motors hold their targets between."""
        spec = PHASES[self._phase_index]
        overdue = t_s - self._phase_start_s > self._move.duration_s + spec.slack_s
        entered = False
        if self._phase_index + 1 < len(PHASES) and (spec.done(self, t_s) or overdue):
            self._enter(self._phase_index + 1, t_s)
            entered = True
        if self._slip_due(t_s):
            self._slip(t_s)
        elif self._slip_links:
            self._restore_hand_collisions()
        if entered or self._steps_to_command <= 0:
            self._command(t_s)
            self._steps_to_command = max(int(round(1.0 / (CONTROL_RATE_HZ * dt_s))), 1)
        self._steps_to_command -= 1
        if (self.gripper_closed and not self.grasped and self.slipped_at_s is None
                and self._ready_to_attach()):
            self._attach()

    def control(self) -> Control:
        """Current joint positions (arm joints, then fingers) and the gripper/suction state."""
        joints = self.model.arm_joints + self.model.finger_joints
        states = p.getJointStates(self.uid, joints, physicsClientId=self.client)
        return Control(
            joint_positions_rad=tuple(float(s[0]) for s in states),
            gripper_closed=self.gripper_closed,
        )

    def _enter(self, index: int, t_s: float) -> None:
        while PHASES[index].needs_grasp and not self.grasped:
            index += 1
        self._phase_index = index
        self._phase_start_s = t_s
        spec = PHASES[index]
        self.phase = spec.name
        self.phase_started_s[spec.name] = t_s
        self._move = spec.enter(self, t_s)

    def _command(self, t_s: float) -> None:
        move = self._move
        if isinstance(move, CartesianMove):
            targets = self._inverse_kinematics(move.position_m(t_s), move.yaw_rad(t_s))
        else:
            targets = move.joints_rad(t_s)
        for joint, q, force, speed in zip(
            self.model.arm_joints,
            targets,
            self.model.max_force_nm,
            self.model.max_velocity_rad_s,
            strict=True,
        ):
            p.setJointMotorControl2(
                self.uid,
                joint,
                p.POSITION_CONTROL,
                targetPosition=float(q),
                force=force,
                maxVelocity=speed,
                physicsClientId=self.client,
            )
        finger_target = 0.0 if self.gripper_closed else self.model.finger_open_m
        for joint in self.model.finger_joints:
            p.setJointMotorControl2(
                self.uid,
                joint,
                p.POSITION_CONTROL,
                targetPosition=finger_target,
                force=self.model.finger_force_n,
                maxVelocity=self.model.finger_velocity_m_s,
                physicsClientId=self.client,
            )

    # -- phase entries (each returns the move to follow) ------------------------------

    def _enter_pre_grasp(self, t_s: float) -> Move:
        target, _ = p.getBasePositionAndOrientation(self.target_uid, physicsClientId=self.client)
        natural_yaw = self._azimuth(target) + self._home_yaw_offset_rad
        if self.model.has_fingers:
            self._grasp = plan_finger_grasp(
                self.client, self.target_uid, self.table_top_z_m, self.model, natural_yaw
            )
        else:
            self._grasp = plan_suction_grasp(self.client, self.target_uid, natural_yaw)
        above = np.add(self._grasp.tool_m, (0.0, 0.0, _HOVER_M))
        return self._line_to(above, t_s, _TRANSFER_SPEED_M_S, self._grasp.yaw_rad)

    def _enter_descend(self, t_s: float) -> Move:
        assert self._grasp is not None
        goal = np.array(self._grasp.tool_m)
        if not self.model.has_fingers:
            goal[2] -= 0.5 * _SUCTION_RANGE_M  # press lightly so suction surely engages
            self.gripper_closed = True  # suction on for the approach
        return self._line_to(goal, t_s, _APPROACH_SPEED_M_S)

    def _enter_close(self, t_s: float) -> Move:
        self.gripper_closed = True
        if self.grasped:  # suction engaged on the way down: stay where it caught
            here = _vec3(self._tool_pose()[0])
            return CartesianMove.hold(here, self._yaw(), t_s, 0.1)
        return self._hold_here(t_s, 0.35 if self.model.has_fingers else 0.1)

    def _enter_lift(self, t_s: float) -> Move:
        lo, _ = p.getAABB(self.target_uid, -1, physicsClientId=self.client)
        tool, _ = self._tool_pose()
        rise = max(self.table_top_z_m + self.lift_height_m - lo[2], 0.05)
        return self._line_to(np.add(tool, (0, 0, rise)), t_s, _APPROACH_SPEED_M_S)

    def _enter_carry(self, t_s: float) -> Move:
        tool, _ = self._tool_pose()
        obj, _ = p.getBasePositionAndOrientation(self.target_uid, physicsClientId=self.client)
        lo, _ = p.getAABB(self.target_uid, -1, physicsClientId=self.client)
        # the tool turns with the arm's first joint, so the wrist keeps its angle (and
        # far from its limits); the target, fixed to the hand, turns as much about the tool
        turn = math.remainder(self._azimuth(self.place_xy_m) - self._azimuth(tool), math.tau)
        c, s = math.cos(turn), math.sin(turn)
        dx, dy = obj[0] - tool[0], obj[1] - tool[1]
        # end _HOVER_M above the release height, so the lowering is short
        release_tool_z = self.table_top_z_m + _RELEASE_CLEARANCE_M + tool[2] - lo[2]
        goal = (
            self.place_xy_m[0] - (c * dx - s * dy),
            self.place_xy_m[1] - (s * dx + c * dy),
            min(self._move_end()[2], release_tool_z + _HOVER_M),
        )
        return self._line_to(goal, t_s, _TRANSFER_SPEED_M_S, self._yaw() + turn)

    def _enter_lower(self, t_s: float) -> Move:
        lo, _ = p.getAABB(self.target_uid, -1, physicsClientId=self.client)
        tool, _ = self._tool_pose()
        drop = lo[2] - (self.table_top_z_m + _RELEASE_CLEARANCE_M)
        goal = np.array(self._move_end())
        goal[2] = tool[2] - drop
        return self._line_to(goal, t_s, _APPROACH_SPEED_M_S)

    def _enter_release(self, t_s: float) -> Move:
        self._detach()
        self.gripper_closed = False
        return self._hold_here(t_s, 0.2 if self.model.has_fingers else 0.1)

    def _enter_retreat(self, t_s: float) -> Move:
        self._detach()  # already let go, unless the grasp missed and release was skipped
        self.gripper_closed = False
        goal = np.add(self._move_end(), (0.0, 0.0, _RETREAT_M))
        return self._line_to(goal, t_s, _APPROACH_SPEED_M_S)

    def _enter_home(self, t_s: float) -> Move:
        now = self._arm_joints_rad()
        peak_speed = _HOMING_SPEED_FRACTION * np.asarray(self.model.max_velocity_rad_s)
        travel = np.abs(np.subtract(self.model.home_rad, now))
        duration = max(0.5, float(np.max(_MIN_JERK_PEAK * travel / peak_speed)))
        return JointMove(tuple(now), self.model.home_rad, t_s, duration)

    def _enter_hold_home(self, t_s: float) -> Move:
        return JointMove(self.model.home_rad, self.model.home_rad, t_s, 0.0)

    # -- phase completion tests -------------------------------------------------------

    def _at_waypoint(self, t_s: float) -> bool:
        """The move's time is up and the tool is on its end point, or as near as it gets."""
        move = self._move
        if not isinstance(move, CartesianMove) or t_s < move.start_s + move.duration_s:
            return False
        tool, _ = self._tool_pose()
        if float(np.linalg.norm(np.subtract(tool, move.end_m))) < _WAYPOINT_TOLERANCE_M:
            return True
        # out of reach (the iiwa cannot point down close to its base): go on once stopped
        state = p.getLinkState(
            self.uid, self.model.tool_link, computeLinkVelocity=True, physicsClientId=self.client
        )
        return float(np.linalg.norm(state[6])) < _SETTLED_SPEED_M_S

    def _started(self, t_s: float) -> bool:
        return t_s >= self.start_s and self.target_uid is not None

    def _descended(self, t_s: float) -> bool:
        return self.grasped or self._at_waypoint(t_s)

    def _holding(self, t_s: float) -> bool:
        # let the fingers settle into a squeeze for a moment after the grasp is made
        return self.grasped and t_s - self._phase_start_s >= min(0.15, self._move.duration_s)

    def _released(self, t_s: float) -> bool:
        if t_s - self._phase_start_s < self._move.duration_s:
            return False
        if not self.model.has_fingers:
            return True
        fingers = p.getJointStates(self.uid, self.model.finger_joints, physicsClientId=self.client)
        return all(s[0] > 0.9 * self.model.finger_open_m for s in fingers)

    def _at_home(self, t_s: float) -> bool:
        if t_s < self._move.start_s + self._move.duration_s:
            return False
        error = np.subtract(self._arm_joints_rad(), self.model.home_rad)
        return float(np.max(np.abs(error))) < 0.02

    def _never(self, t_s: float) -> bool:
        return False

    # -- grasp assist -------------------------------------------------------------------

    def _ready_to_attach(self) -> bool:
        if self.model.has_fingers:
            # a finger link has its joint's index
            return all(
                p.getContactPoints(
                    self.uid, self.target_uid, linkIndexA=finger, physicsClientId=self.client
                )
                for finger in self.model.finger_joints
            )
        near = p.getClosestPoints(
            self.uid,
            self.target_uid,
            _SUCTION_RANGE_M,
            linkIndexA=self.model.tool_link,
            physicsClientId=self.client,
        )
        return bool(near)

    def _attach(self) -> None:
        """Fix the target to the hold link at their current relative pose."""
        hold = p.getLinkState(self.uid, self.model.hold_link, physicsClientId=self.client)
        obj_pos, obj_orn = p.getBasePositionAndOrientation(
            self.target_uid, physicsClientId=self.client
        )
        # constraint frames are relative to the centre-of-mass frames of both bodies
        inv_pos, inv_orn = p.invertTransform(hold[0], hold[1], physicsClientId=self.client)
        rel_pos, rel_orn = p.multiplyTransforms(
            inv_pos, inv_orn, obj_pos, obj_orn, physicsClientId=self.client
        )
        self._constraint = p.createConstraint(
            self.uid,
            self.model.hold_link,
            self.target_uid,
            -1,
            p.JOINT_FIXED,
            (0.0, 0.0, 0.0),
            rel_pos,
            (0.0, 0.0, 0.0),
            rel_orn,
            (0.0, 0.0, 0.0, 1.0),
            physicsClientId=self.client,
        )
        p.changeConstraint(self._constraint, maxForce=200.0, physicsClientId=self.client)
        self.grasped = True

    def _detach(self) -> None:
        if self._constraint is not None:
            p.removeConstraint(self._constraint, physicsClientId=self.client)
            self._constraint = None
        self.grasped = False

    # -- slip -------------------------------------------------------------------------------

    def _slip_due(self, t_s: float) -> bool:
        """Whether the carry has run the slip fraction of its planned duration, holding."""
        if self.slip_at_carry_fraction is None or self.phase != "carry" or not self.grasped:
            return False
        move = self._move
        return t_s >= move.start_s + self.slip_at_carry_fraction * move.duration_s

    def _slip(self, t_s: float) -> None:
        """Let the target go with the gripper still closed: no constraint, no finger contact."""
        self._detach()
        self.slipped_at_s = t_s
        if self.model.has_fingers:
            # the squeezing fingers would hold it by friction alone
            self._slip_links = (self.model.hold_link, *self.model.finger_joints)
            for link in self._slip_links:
                p.setCollisionFilterPair(self.uid, self.target_uid, link, -1, 0,
                                         physicsClientId=self.client)

    def _restore_hand_collisions(self) -> None:
        """Turn the hand's collisions with the slipped target back on once it is clear."""
        lo, hi = p.getAABB(self.target_uid, -1, physicsClientId=self.client)
        for link in self._slip_links:
            link_lo, link_hi = p.getAABB(self.uid, link, physicsClientId=self.client)
            if all(a <= d + _SLIP_CLEARANCE_M and c <= b + _SLIP_CLEARANCE_M
                   for a, b, c, d in zip(lo, hi, link_lo, link_hi, strict=True)):
                return  # still overlapping: turning contacts on now would fling it
        for link in self._slip_links:
            p.setCollisionFilterPair(self.uid, self.target_uid, link, -1, 1,
                                     physicsClientId=self.client)
        self._slip_links = ()

    # -- kinematics -----------------------------------------------------------------------

    def _null_space(self) -> tuple[list[float], list[float], list[float]]:
        """Joint limits and rest pose over all movable joints, for null-space IK."""
        low, high, rest = [], [], []
        home = dict(
            zip(
                self.model.arm_joints + self.model.finger_joints,
                arm_home_joints(self.body.asset),
                strict=True,
            )
        )
        for joint in range(p.getNumJoints(self.uid, physicsClientId=self.client)):
            info = p.getJointInfo(self.uid, joint, physicsClientId=self.client)
            if info[2] == p.JOINT_FIXED:
                continue
            low.append(info[8])
            high.append(info[9])
            rest.append(home.get(joint, 0.0))
        return low, high, rest

    def _inverse_kinematics(self, tool_m: Sequence[float], yaw_rad: float) -> np.ndarray:
        """Arm joint angles that put the tool point at ``tool_m`` pointing down at ``yaw``."""
        orn = down_quaternion(yaw_rad)
        # the tool point lies tool_offset_m along the link's z axis, which points down
        link_target = np.add(tool_m, (0.0, 0.0, self.model.tool_offset_m))
        solution = p.calculateInverseKinematics(
            self.uid,
            self.model.tool_link,
            link_target.tolist(),
            orn,
            lowerLimits=self._limits_low,
            upperLimits=self._limits_high,
            jointRanges=[h - lo for lo, h in zip(self._limits_low, self._limits_high, strict=True)],
            restPoses=self._rest,
            maxNumIterations=50,
            residualThreshold=1e-4,
            physicsClientId=self.client,
        )
        return np.asarray(solution[: len(self.model.arm_joints)])

    def _tool_pose(self) -> tuple[np.ndarray, tuple[float, ...]]:
        """World position of the tool point and orientation of the tool link."""
        state = p.getLinkState(
            self.uid,
            self.model.tool_link,
            computeForwardKinematics=True,
            physicsClientId=self.client,
        )
        r = self._rotation(state[5])
        return np.add(state[4], self.model.tool_offset_m * r[:, 2]), state[5]

    def _rotation(self, quaternion: Sequence[float]) -> np.ndarray:
        matrix = p.getMatrixFromQuaternion(quaternion, physicsClientId=self.client)
        return np.reshape(matrix, (3, 3))

    def _tool_yaw(self) -> float:
        """Heading (rad) of the tool link's x axis."""
        r = self._rotation(self._tool_pose()[1])
        return math.atan2(r[1, 0], r[0, 0])

    def _arm_joints_rad(self) -> np.ndarray:
        states = p.getJointStates(self.uid, self.model.arm_joints, physicsClientId=self.client)
        return np.array([s[0] for s in states])

    def _yaw(self) -> float:
        """Tool yaw at the end of the current move (the tool's own yaw between moves)."""
        if isinstance(self._move, CartesianMove):
            return self._move.end_yaw_rad
        return self._tool_yaw()

    def _azimuth(self, point_m: Sequence[float]) -> float:
        """Heading (rad, about world z) of a point as seen from the arm's base."""
        return math.atan2(point_m[1] - self._base_xy_m[1], point_m[0] - self._base_xy_m[0])

    def _move_end(self) -> Vec3:
        """Where the current move ends (the tool's position if it is not Cartesian)."""
        if isinstance(self._move, CartesianMove):
            return self._move.end_m
        return _vec3(self._tool_pose()[0])

    def _line_to(
        self, goal_m: Sequence[float], t_s: float, speed_m_s: float, yaw_rad: float | None = None
    ) -> CartesianMove:
        """Straight on from where the current move ends, turning to ``yaw_rad`` if given."""
        start = self._move_end()
        end_yaw = self._yaw() if yaw_rad is None else yaw_rad
        start_yaw = end_yaw + math.remainder(self._yaw() - end_yaw, math.tau)  # the short way
        return CartesianMove.between(start, goal_m, (start_yaw, end_yaw), t_s, speed_m_s)

    def _hold_here(self, t_s: float, duration_s: float) -> CartesianMove:
        end = self._move_end()
        return CartesianMove.hold(end, self._yaw(), t_s, duration_s)


#: the script, in order
PHASES: tuple[Phase, ...] = (
    Phase("wait", PickAndPlace._enter_hold_home, PickAndPlace._started, math.inf),
    Phase("pre_grasp", PickAndPlace._enter_pre_grasp, PickAndPlace._at_waypoint, 1.0),
    Phase("descend", PickAndPlace._enter_descend, PickAndPlace._descended, 0.5),
    Phase("close", PickAndPlace._enter_close, PickAndPlace._holding, 0.4),
    Phase("lift", PickAndPlace._enter_lift, PickAndPlace._at_waypoint, 0.5, needs_grasp=True),
    Phase("carry", PickAndPlace._enter_carry, PickAndPlace._at_waypoint, 1.0, needs_grasp=True),
    Phase("lower", PickAndPlace._enter_lower, PickAndPlace._at_waypoint, 0.5, needs_grasp=True),
    Phase("release", PickAndPlace._enter_release, PickAndPlace._released, 0.3, needs_grasp=True),
    Phase("retreat", PickAndPlace._enter_retreat, PickAndPlace._at_waypoint, 0.5),
    Phase("home", PickAndPlace._enter_home, PickAndPlace._at_home, 1.0),
    Phase("done", PickAndPlace._enter_hold_home, PickAndPlace._never, math.inf),
)
