"""Vehicle behaviours: lane following on a kinematic bicycle model, and parked cars.

Vehicles are kinematic: each step integrates the behaviour's own planar state and writes
the base pose with ``resetBasePositionAndOrientation``; ``velocity()`` reports the
world-frame velocity used for that integration, so that logged positions integrate the
logged velocities exactly. The helpers :class:`KinematicPose` and :func:`body_aabb_m` are
shared with the pedestrian behaviours.

Lane following also carries the events edge cases schedule through behaviour parameters: a
lane change, a sideways swerve, a hard brake and driving against the lane's direction.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from simgen.behaviours.base import (
    Behaviour,
    BehaviourContext,
    Control,
    Static,
    register_behaviour,
)
from simgen.errors import SimgenError
from simgen.sampling.scene import BodyPlan, RoadLayout, Vec3
from simgen.world.bullet import p

#: World-frame (linear m/s, angular rad/s) velocity of a body.
Velocity = tuple[Vec3, Vec3]

#: Stanley cross-track gain (1/s): the front-axle offset decays roughly as exp(-k t).
STANLEY_GAIN_PER_S = 1.5
#: Stanley softening speed (m/s): keeps the cross-track term bounded at low speed.
STANLEY_SOFTENING_MPS = 1.0
#: Proportional speed gain: throttle per m/s of speed error (1 m/s error = full throttle).
SPEED_GAIN_PER_MPS = 1.0
#: Constant time-gap policy for following: the gap kept is TIME_GAP_S * v + STANDSTILL_GAP_M.
TIME_GAP_S = 2.0
STANDSTILL_GAP_M = 3.0
#: Fraction of max_accel_mps2 used to plan stops (the rest absorbs the speed-loop lag).
PLANNED_DECEL_FRACTION = 0.5
#: Where a vehicle stops before the end of the road (front bumper to road end, m).
ROAD_END_MARGIN_M = 1.0
#: Below this allowed speed (m/s) the vehicle brakes to a clean standstill and holds it.
STOP_SPEED_MPS = 0.1
#: How often (s) the path ahead is rescanned; in between, the last gap shrinks by this
#: vehicle's own travel (conservative: the other body is treated as standing still).
GAP_REFRESH_S = 0.05
#: The corridor checked for bodies ahead: this vehicle's lateral extent widened by this (m).
CORRIDOR_MARGIN_M = 0.3
#: Below this speed (m/s) the path heading of a moving lateral reference is taken at this
#: speed, so a reference that moves while the vehicle stands still cannot ask for 90 degrees.
FEEDFORWARD_MIN_SPEED_MPS = 1.0


def wrap_angle_rad(angle_rad: float) -> float:
    """Wrap an angle to [-pi, pi)."""
    return (angle_rad + math.pi) % (2.0 * math.pi) - math.pi


_REQUIRED = object()


def behaviour_param(body: BodyPlan, name: str, default: Any = _REQUIRED) -> Any:
    """A behaviour parameter of ``body``; a ``SimgenError`` naming it if required and absent."""
    params: Mapping[str, Any] = body.behaviour_params
    if name in params:
        return params[name]
    if default is _REQUIRED:
        raise SimgenError(
            f"body {body.name!r}: behaviour {body.behaviour!r} needs parameter {name!r}"
        )
    return default


def require_road(ctx: BehaviourContext, body: BodyPlan) -> RoadLayout:
    """The episode's road; a ``SimgenError`` if the behaviour runs without one."""
    if ctx.plan.road is None:
        raise SimgenError(f"body {body.name!r}: behaviour {body.behaviour!r} needs a road")
    return ctx.plan.road


def body_aabb_m(client: int, uid: int) -> tuple[Vec3, Vec3]:
    """World-frame axis-aligned bounding box (min, max corners, m) over all links of a body."""
    lo, hi = (list(c) for c in p.getAABB(uid, -1, physicsClientId=client))
    for link in range(p.getNumJoints(uid, physicsClientId=client)):
        link_lo, link_hi = p.getAABB(uid, link, physicsClientId=client)
        for k in range(3):
            lo[k] = min(lo[k], link_lo[k])
            hi[k] = max(hi[k], link_hi[k])
    return (lo[0], lo[1], lo[2]), (hi[0], hi[1], hi[2])


def revolute_joints(client: int, uid: int) -> dict[str, int]:
    """Revolute (and continuous) joints of a body: name -> joint index."""
    joints: dict[str, int] = {}
    for j in range(p.getNumJoints(uid, physicsClientId=client)):
        info = p.getJointInfo(uid, j, physicsClientId=client)
        if info[2] == p.JOINT_REVOLUTE:
            joints[info[1].decode()] = j
    return joints


def joint_axis_world(client: int, uid: int, joint: int) -> Vec3:
    """World-frame direction of a joint's axis at the current pose."""
    # PyBullet reports the axis in the child link's inertial frame, not its URDF frame.
    axis = p.getJointInfo(uid, joint, physicsClientId=client)[13]
    orn = p.getLinkState(uid, joint, computeForwardKinematics=True, physicsClientId=client)[1]
    m = p.getMatrixFromQuaternion(orn)
    return (
        m[0] * axis[0] + m[1] * axis[1] + m[2] * axis[2],
        m[3] * axis[0] + m[4] * axis[1] + m[5] * axis[2],
        m[6] * axis[0] + m[7] * axis[1] + m[8] * axis[2],
    )


@dataclass(frozen=True)
class BodyExtents:
    """A body's extent about its base position, in its heading frame (x forward, y left), m."""

    front_m: float
    rear_m: float
    left_m: float
    right_m: float
    height_m: float

    @property
    def length_m(self) -> float:
        """Length along the heading."""
        return self.front_m + self.rear_m


class KinematicPose:
    """A kinematic body's planar pose, read from PyBullet once and written back each step.

    ``x_m, y_m, z_m`` is the base position exactly as ``getBasePositionAndOrientation``
    reports it (what trajectories log); ``heading_rad`` is the yaw about world z of the
    base link's URDF frame (its +x is the body's forward direction). Writing turns the
    initial orientation about world z by the change of heading, so any roll, pitch or
    inertial-frame rotation the body was loaded with is kept.
    """

    def __init__(self, client: int, uid: int):
        self.client = client
        self.uid = uid
        pos, orn = p.getBasePositionAndOrientation(uid, physicsClientId=client)
        self.x_m, self.y_m, self.z_m = (float(c) for c in pos)
        self._initial_orn = orn
        # The base position/orientation PyBullet reports is the inertial frame; the
        # heading belongs to the link frame: link = inertial * inverse(local inertial).
        local_orn = p.getDynamicsInfo(uid, -1, physicsClientId=client)[4]
        _, inv_local = p.invertTransform((0.0, 0.0, 0.0), local_orn)
        _, link_orn = p.multiplyTransforms((0.0, 0.0, 0.0), orn, (0.0, 0.0, 0.0), inv_local)
        m = p.getMatrixFromQuaternion(link_orn)
        self._initial_heading_rad = math.atan2(m[3], m[0])
        self.heading_rad = self._initial_heading_rad

    def _orientation(self, heading_rad: float) -> tuple[float, float, float, float]:
        turn = p.getQuaternionFromEuler((0.0, 0.0, heading_rad - self._initial_heading_rad))
        _, orn = p.multiplyTransforms((0.0, 0.0, 0.0), turn, (0.0, 0.0, 0.0), self._initial_orn)
        return orn

    def write(self) -> None:
        """Set the body's base pose in PyBullet from this pose."""
        p.resetBasePositionAndOrientation(
            self.uid,
            (self.x_m, self.y_m, self.z_m),
            self._orientation(self.heading_rad),
            physicsClientId=self.client,
        )

    def extents(self) -> BodyExtents:
        """Measure the body's collision extents about the base in its heading frame.

        The body is briefly turned to heading 0 for the measurement and turned back.
        """
        base = (self.x_m, self.y_m, self.z_m)
        p.resetBasePositionAndOrientation(
            self.uid, base, self._orientation(0.0), physicsClientId=self.client
        )
        lo, hi = body_aabb_m(self.client, self.uid)
        self.write()
        return BodyExtents(
            front_m=hi[0] - self.x_m,
            rear_m=self.x_m - lo[0],
            left_m=hi[1] - self.y_m,
            right_m=self.y_m - lo[1],
            height_m=hi[2] - lo[2],
        )


def smoothstep(u: float) -> tuple[float, float]:
    """Minimum-jerk blend of ``u`` in [0, 1] (clipped) and its derivative d/du.

    ``10u^3 - 15u^4 + 6u^5``: zero velocity and acceleration at both ends.
    """
    u = min(max(u, 0.0), 1.0)
    return u * u * u * (10.0 + u * (-15.0 + 6.0 * u)), 30.0 * u * u * (1.0 - u) ** 2


@dataclass(frozen=True)
class Manoeuvre:
    """A lateral shift of ``shift_m`` made between ``start_s`` and ``start_s + duration_s``.

    The shift follows :func:`smoothstep`; before the start it is 0, after the end
    ``shift_m`` (the vehicle stays shifted).
    """

    start_s: float
    duration_s: float
    shift_m: float

    def at(self, t_s: float) -> tuple[float, float]:
        """Shift (m) at ``t_s`` and its rate (m/s)."""
        s, ds_du = smoothstep((t_s - self.start_s) / self.duration_s)
        rate = ds_du / self.duration_s if self.start_s < t_s < self.start_s + self.duration_s \
            else 0.0
        return self.shift_m * s, self.shift_m * rate


class LateralReference:
    """Where across the road a lane-following vehicle should be: world y (m) at time t.

    The lane's centre line, moved to another lane's by a lane change, plus an offset to the
    left of the direction of travel (a constant ``lateral_offset_m`` and a swerve). Each
    shift follows a :class:`Manoeuvre`, so the reference and its rate are smooth.
    """

    def __init__(self, road: RoadLayout, body: BodyPlan, lane: int, direction: int):
        self.direction = direction
        self.lane_y_m = _lane_centre_y_m(road, body, lane)
        self.offset_m = float(behaviour_param(body, "lateral_offset_m", 0.0))
        self.lane_change: Manoeuvre | None = None
        self.target_lane = lane
        change_at = behaviour_param(body, "lane_change_at_s", None)
        if change_at is not None:
            self.target_lane = int(behaviour_param(body, "lane_change_to"))
            target_y = _lane_centre_y_m(road, body, self.target_lane)
            self.lane_change = Manoeuvre(
                float(change_at),
                _positive(body, "lane_change_duration_s",
                          behaviour_param(body, "lane_change_duration_s", 3.0)),
                target_y - self.lane_y_m)
        self.swerve: Manoeuvre | None = None
        swerve_at = behaviour_param(body, "swerve_at_s", None)
        if swerve_at is not None:
            self.swerve = Manoeuvre(
                float(swerve_at),
                _positive(body, "swerve_duration_s",
                          behaviour_param(body, "swerve_duration_s", 1.0)),
                float(behaviour_param(body, "swerve_m")))

    def lane_centre_y_m(self, t_s: float) -> float:
        """World y of the centre line the vehicle is on at ``t_s`` (moving during a change)."""
        if self.lane_change is None:
            return self.lane_y_m
        return self.lane_y_m + self.lane_change.at(t_s)[0]

    def at(self, t_s: float) -> tuple[float, float]:
        """Reference world y (m) at ``t_s`` and its rate of change (m/s)."""
        y, rate = self.lane_y_m, 0.0
        if self.lane_change is not None:
            shift, shift_rate = self.lane_change.at(t_s)
            y, rate = y + shift, rate + shift_rate
        # Offsets are to the left of the travel direction: +y when driving +x.
        y += self.direction * self.offset_m
        if self.swerve is not None:
            shift, shift_rate = self.swerve.at(t_s)
            y, rate = y + self.direction * shift, rate + self.direction * shift_rate
        return y, rate


def _check_lane(road: RoadLayout, body: BodyPlan, lane: int) -> None:
    if not 0 <= lane < road.total_lanes:
        raise SimgenError(f"body {body.name!r}: lane {lane} outside 0..{road.total_lanes - 1}")


def _lane_centre_y_m(road: RoadLayout, body: BodyPlan, lane: int) -> float:
    _check_lane(road, body, lane)
    return road.lane_centre_y_m(lane)


def _lane_direction(road: RoadLayout, body: BodyPlan, lane: int) -> int:
    _check_lane(road, body, lane)
    return road.lane_direction(lane)


def _positive(body: BodyPlan, name: str, value: Any) -> float:
    value = float(value)
    if value <= 0:
        raise SimgenError(f"body {body.name!r}: {name} must be positive, got {value:g}")
    return value


@register_behaviour("lane_follow")
class LaneFollow(Behaviour):
    """Drive along a lane's centre line at a target speed, keeping a time gap to what is ahead.

    Model: kinematic bicycle about the base point (state x, y, heading, speed v; yaw rate
    ``v tan(steer) / wheelbase``). Steering: the Stanley controller on the front axle,
    ``steer = heading_error + atan2(k * cross_track, k_soft + v)`` with
    ``k = STANLEY_GAIN_PER_S`` (1.5 /s) and ``k_soft = STANLEY_SOFTENING_MPS`` (1 m/s),
    clipped to ``max_steer_deg``. Speed: a proportional controller, ``throttle =
    clip(SPEED_GAIN_PER_MPS * (v_allowed - v), -1, 1)`` (gain 1 per m/s), acceleration
    ``throttle * max_accel_mps2``, no reversing. ``v_allowed`` is the target speed
    capped by (a) a braking curve that stops the front bumper ``ROAD_END_MARGIN_M``
    before the road end and (b) a constant time-gap policy on the nearest body ahead in
    its path (see :meth:`gap_ahead_m`): ``min((gap - 3 m) / 2 s, sqrt(2 a_plan (gap -
    3 m)))`` with ``a_plan`` half of ``max_accel_mps2``, so the gap settles at
    >= 2 s * v + 3 m. When ``v_allowed`` and ``v`` are both below ``STOP_SPEED_MPS`` the
    brake is held (throttle -1) so the vehicle stands still instead of creeping.

    Params: ``speed_mps``, ``lane``, optional ``initial_speed_mps`` (default
    ``speed_mps``), ``max_accel_mps2`` (3), ``max_steer_deg`` (30), ``wheelbase_m``
    (0.6 x the body's length along its heading). Joints named ``*steer*`` follow the
    steering angle and joints named ``*wheel*`` spin with the distance travelled.

    Events (all optional; times in seconds of episode time):

    - ``wrong_way`` (false): drive against the lane's direction (towards -x in a forward
      lane); every rule above then applies along that direction of travel.
    - ``lateral_offset_m`` (0): keep this far left of the centre line (negative: right),
      left as seen along the direction of travel.
    - ``lane_change_at_s``, ``lane_change_to`` (a lane index), ``lane_change_duration_s``
      (3): from ``lane_change_at_s`` the reference moves from this lane's centre line to
      ``lane_change_to``'s along a minimum-jerk profile lasting the duration.
    - ``swerve_at_s``, ``swerve_m`` (left positive), ``swerve_duration_s`` (1): from
      ``swerve_at_s`` the offset grows by ``swerve_m`` along the same profile and stays.
    - ``brake_at_s``, ``brake_decel_mps2``: from ``brake_at_s`` on, brake at exactly
      ``brake_decel_mps2`` (whatever ``max_accel_mps2`` is) to a standstill, and stay
      stopped.

    Stanley tracks the moving reference (:class:`LateralReference`) with its path heading
    ``atan2(dy_ref/dt, v)`` as the heading to hold, so shifts are followed without lag.
    """

    kinematic = True

    def __init__(self, ctx: BehaviourContext, body: BodyPlan, uid: int):
        super().__init__(ctx, body, uid)
        self.road = require_road(ctx, body)
        self.lane = int(behaviour_param(body, "lane"))
        self.wrong_way = bool(behaviour_param(body, "wrong_way", False))
        self.direction = _lane_direction(self.road, body, self.lane) * (-1 if self.wrong_way
                                                                         else 1)
        self.reference = LateralReference(self.road, body, self.lane, self.direction)
        self.centre_y_m = self.reference.lane_centre_y_m(0.0)
        self._reference_y_m, self._reference_rate_mps = self.reference.at(0.0)
        brake_at = behaviour_param(body, "brake_at_s", None)
        self.brake_at_s = None if brake_at is None else float(brake_at)
        self.brake_decel_mps2 = 0.0
        if self.brake_at_s is not None:
            self.brake_decel_mps2 = _positive(body, "brake_decel_mps2",
                                              behaviour_param(body, "brake_decel_mps2"))
        self.target_speed_mps = float(behaviour_param(body, "speed_mps"))
        self.speed_mps = float(behaviour_param(body, "initial_speed_mps", self.target_speed_mps))
        self.max_accel_mps2 = float(behaviour_param(body, "max_accel_mps2", 3.0))
        self.max_steer_rad = math.radians(float(behaviour_param(body, "max_steer_deg", 30.0)))

        self.pose = KinematicPose(ctx.client, uid)
        self.extents = self.pose.extents()
        self.wheelbase_m = float(
            behaviour_param(body, "wheelbase_m", 0.6 * self.extents.length_m)
        )
        if self.wheelbase_m <= 0:
            raise SimgenError(f"body {body.name!r}: wheelbase_m must be positive")

        self.steering_rad = 0.0
        self.throttle = 0.0
        self._velocity: Velocity = ((0.0, 0.0, 0.0), (0.0, 0.0, 0.0))
        self._gap_m: float | None = None
        self._gap_age_s = math.inf
        self._travel_since_gap_m = 0.0
        # The nearest body ahead at the last scan: its uid and its near end (along travel).
        self._ahead: tuple[int, float] | None = None
        self._oncoming_mps = 0.0
        self._steer_joints, self._wheel_joints = self._find_animated_joints()
        self._wheel_angles_rad = [0.0] * len(self._wheel_joints)

    # -- joints -----------------------------------------------------------------------

    def _find_animated_joints(
        self,
    ) -> tuple[list[tuple[int, float]], list[tuple[int, float, float]]]:
        """Steering joints as (index, sign) and wheel joints as (index, sign, radius_m).

        Signs make a positive steering angle turn left and a positive wheel angle roll
        forward, whatever the URDF's axis conventions; radii come from the wheel links'
        vertical extent.
        """
        client, uid = self.ctx.client, self.uid
        cos_h, sin_h = math.cos(self.pose.heading_rad), math.sin(self.pose.heading_rad)
        left = (-sin_h, cos_h, 0.0)
        steer: list[tuple[int, float]] = []
        wheels: list[tuple[int, float, float]] = []
        for name, j in revolute_joints(client, uid).items():
            axis = joint_axis_world(client, uid, j)
            if "steer" in name.lower():
                steer.append((j, 1.0 if axis[2] >= 0 else -1.0))
            elif "wheel" in name.lower():
                along_left = sum(a * b for a, b in zip(axis, left, strict=True))
                lo, hi = p.getAABB(uid, j, physicsClientId=client)
                radius_m = max(0.5 * (hi[2] - lo[2]), 0.05)
                wheels.append((j, 1.0 if along_left >= 0 else -1.0, radius_m))
        return steer, wheels

    def _animate(self, distance_m: float) -> None:
        client, uid = self.ctx.client, self.uid
        for j, sign in self._steer_joints:
            p.resetJointState(uid, j, sign * self.steering_rad, physicsClientId=client)
        for k, (j, sign, radius_m) in enumerate(self._wheel_joints):
            angle = wrap_angle_rad(self._wheel_angles_rad[k] + distance_m / radius_m)
            self._wheel_angles_rad[k] = angle
            p.resetJointState(uid, j, sign * angle, physicsClientId=client)

    # -- speed policy -----------------------------------------------------------------

    def _along_m(self, x_m: float) -> float:
        """Distance along the lane's direction of travel of a world x coordinate."""
        return self.direction * x_m

    def _braking_speed_mps(self, distance_m: float) -> float:
        """The speed from which a planned deceleration stops within ``distance_m``."""
        decel = PLANNED_DECEL_FRACTION * self.max_accel_mps2
        return math.sqrt(2.0 * decel * max(distance_m, 0.0))

    def _front_along_m(self) -> float:
        return self._along_m(self.pose.x_m) + self.extents.front_m

    def _road_end_distance_m(self) -> float:
        """Free distance from the front bumper to the stopping point before the road end."""
        end_x = self.road.end_x_m if self.direction > 0 else self.road.start_x_m
        return self._along_m(end_x) - ROAD_END_MARGIN_M - self._front_along_m()

    def gap_ahead_m(self) -> float | None:
        """Free distance (m) from the front bumper to the nearest body ahead in its path.

        See :meth:`nearest_ahead`.
        """
        ahead = self.nearest_ahead()
        return None if ahead is None else ahead[0]

    def nearest_ahead(self) -> tuple[float, int] | None:
        """Free distance (m) to the nearest body ahead in its path, and that body's uid.

        The path is the corridor this vehicle sweeps: its current lateral extent (world
        y, from its bounding box) widened by ``CORRIDOR_MARGIN_M`` each side, which lies
        within its lane once it tracks the centre line. A body counts when its current
        bounding box reaches into the corridor and its near end lies ahead of this
        body's middle, so queued or stopped vehicles, obstacles and crossing pedestrians
        all do, while vehicles in neighbouring lanes do not. None when the path is clear
        within the look-ahead range.
        """
        client = self.ctx.client
        own_lo, own_hi = body_aabb_m(client, self.uid)
        lane_lo, lane_hi = own_lo[1] - CORRIDOR_MARGIN_M, own_hi[1] + CORRIDOR_MARGIN_M
        half_w = 0.5 * self.road.lane_width_m
        front = self._front_along_m()
        middle = front - 0.5 * self.extents.length_m
        v = max(self.target_speed_mps, self.speed_mps)
        look_ahead_m = STANDSTILL_GAP_M + TIME_GAP_S * v + v * v / self.max_accel_mps2 + 50.0
        best: tuple[float, int] | None = None
        for other in self.ctx.plan.bodies:
            uid = self.ctx.uids.get(other.name)
            if other.name == self.body.name or uid is None or uid == self.uid:
                continue
            # Cheap prefilter on the base position before the per-link bounding box.
            (ox, oy, _), _ = p.getBasePositionAndOrientation(uid, physicsClientId=client)
            if abs(oy - self.centre_y_m) > half_w + 10.0:
                continue
            if not -20.0 < self._along_m(ox) - front < look_ahead_m + 20.0:
                continue
            lo, hi = body_aabb_m(client, uid)
            if hi[1] <= lane_lo or lo[1] >= lane_hi:
                continue
            near = min(self._along_m(lo[0]), self._along_m(hi[0]))
            if near < middle:
                continue
            gap = near - front
            if best is None or gap < best[0]:
                best = (gap, uid)
        return best

    def _rescan_ahead(self) -> None:
        """Scan the path ahead; estimate how fast the nearest body comes towards this one.

        The approach speed is the change of that body's near end (along this vehicle's
        travel) since the last scan, when the same body was nearest then too.
        """
        ahead = self.nearest_ahead()
        self._gap_m = None if ahead is None else ahead[0]
        self._oncoming_mps = 0.0
        if ahead is not None:
            gap, uid = ahead
            near_along = self._front_along_m() + gap
            if self._ahead is not None and self._ahead[0] == uid and 0 < self._gap_age_s < math.inf:
                speed_along = (near_along - self._ahead[1]) / self._gap_age_s
                self._oncoming_mps = max(-speed_along, 0.0)
            self._ahead = (uid, near_along)
        else:
            self._ahead = None
        self._gap_age_s = 0.0
        self._travel_since_gap_m = 0.0

    def allowed_speed_mps(self) -> float:
        """The speed the vehicle may drive now: target, road-end and time-gap caps.

        A body coming towards this one (an oncoming or wrong-way vehicle in its path)
        closes the gap from both ends: only this vehicle's share of it, the distance it
        covers before they would meet at the present speeds, counts as free.
        """
        allowed = min(self.target_speed_mps, self._braking_speed_mps(self._road_end_distance_m()))
        if self._gap_age_s >= GAP_REFRESH_S:  # scanning every body each step is the hot spot
            self._rescan_ahead()
        if self._gap_m is not None:
            gap = self._gap_m - self._travel_since_gap_m - self._oncoming_mps * self._gap_age_s
            free = gap - STANDSTILL_GAP_M
            if self._oncoming_mps > 0.0 and free > 0.0:
                free *= self.speed_mps / (self.speed_mps + self._oncoming_mps)
            allowed = min(allowed, max(free, 0.0) / TIME_GAP_S, self._braking_speed_mps(free))
        return allowed

    # -- steering ---------------------------------------------------------------------

    def _stanley_steering_rad(self) -> float:
        pose = self.pose
        front_y = pose.y_m + self.wheelbase_m * math.sin(pose.heading_rad)
        # Positive when the front axle is right of the reference (seen along travel).
        cross_track_m = -(front_y - self._reference_y_m) * self.direction
        # Heading of the reference path: along the lane, turned by its lateral rate.
        path_heading = math.atan2(
            self._reference_rate_mps,
            self.direction * max(self.speed_mps, FEEDFORWARD_MIN_SPEED_MPS))
        heading_error = wrap_angle_rad(path_heading - pose.heading_rad)
        steer = heading_error + math.atan2(
            STANLEY_GAIN_PER_S * cross_track_m, STANLEY_SOFTENING_MPS + self.speed_mps
        )
        return min(max(steer, -self.max_steer_rad), self.max_steer_rad)

    # -- Behaviour --------------------------------------------------------------------

    def _update_lane(self, t_s: float) -> None:
        """Move the reference to ``t_s``; the lane becomes the target once a change is over."""
        self._reference_y_m, self._reference_rate_mps = self.reference.at(t_s)
        self.centre_y_m = self.reference.lane_centre_y_m(t_s)
        change = self.reference.lane_change
        if change is not None and t_s >= change.start_s + change.duration_s:
            self.lane = self.reference.target_lane

    def braking(self, t_s: float) -> bool:
        """Whether the brake event is on at ``t_s``."""
        return self.brake_at_s is not None and t_s >= self.brake_at_s

    def step(self, t_s: float, dt_s: float) -> None:
        """Steer, set the throttle, integrate the bicycle model by ``dt_s`` and pose the body."""
        self._update_lane(t_s)
        self.steering_rad = self._stanley_steering_rad()
        if self.braking(t_s):
            self.throttle = -1.0
            v = max(self.speed_mps - self.brake_decel_mps2 * dt_s, 0.0)
        else:
            allowed = self.allowed_speed_mps()
            if allowed < STOP_SPEED_MPS:
                allowed = 0.0
            self.throttle = min(max(SPEED_GAIN_PER_MPS * (allowed - self.speed_mps), -1.0), 1.0)
            if allowed == 0.0 and self.speed_mps < STOP_SPEED_MPS:
                self.throttle = -1.0  # hold the brake rather than creep towards the stop point
            v = max(self.speed_mps + self.throttle * self.max_accel_mps2 * dt_s, 0.0)
        if self._road_end_distance_m() + ROAD_END_MARGIN_M <= 0.0:
            v = 0.0  # already at the road end: never drive off it
        self.speed_mps = v
        self._gap_age_s += dt_s
        self._travel_since_gap_m += v * dt_s

        pose = self.pose
        yaw_rate = v * math.tan(self.steering_rad) / self.wheelbase_m
        # Midpoint heading: second-order accurate, and the reported velocity is exactly
        # the one the position is advanced with.
        mid_heading = pose.heading_rad + 0.5 * yaw_rate * dt_s
        vx, vy = v * math.cos(mid_heading), v * math.sin(mid_heading)
        pose.x_m += vx * dt_s
        pose.y_m += vy * dt_s
        pose.heading_rad = wrap_angle_rad(pose.heading_rad + yaw_rate * dt_s)
        pose.write()
        self._velocity = ((vx, vy, 0.0), (0.0, 0.0, yaw_rate))
        self._animate(v * dt_s)

    def control(self) -> Control:
        """Steering angle (rad, positive left) and throttle (-1 brake .. 1) of the last step."""
        return Control(steering_rad=self.steering_rad, throttle=self.throttle)

    def velocity(self) -> Velocity:
        """World-frame linear (m/s) and angular (rad/s) velocity integrated in the last step."""
        return self._velocity


@register_behaviour("parked")
class Parked(Static):
    """A parked vehicle: never moves, logged as a vehicle with zero steering and throttle."""

    def control(self) -> Control:
        """Zero steering and throttle."""
        return Control(steering_rad=0.0, throttle=0.0)

    def velocity(self) -> Velocity:
        """Always at rest."""
        return ((0.0, 0.0, 0.0), (0.0, 0.0, 0.0))
