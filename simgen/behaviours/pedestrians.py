"""Pedestrian behaviours: walking along a sidewalk and crossing the road.

Pedestrians are kinematic like vehicles (see :mod:`simgen.behaviours.vehicles`): each step
advances the base position by ``velocity() * dt`` exactly and writes the pose. A walk cycle
swings the joints ``left_hip``, ``right_hip``, ``left_shoulder`` and ``right_shoulder``
(revolute about y) when the asset has them; the cycle is purely visual.
"""

from __future__ import annotations

import math

from simgen.behaviours.base import Behaviour, BehaviourContext, register_behaviour
from simgen.behaviours.vehicles import (
    KinematicPose,
    Velocity,
    behaviour_param,
    require_road,
    revolute_joints,
)
from simgen.errors import SimgenError
from simgen.sampling.scene import BodyPlan, RoadLayout
from simgen.world.bullet import p

#: Stride (two steps) as a fraction of body height; the cycle frequency is speed / stride.
STRIDE_PER_HEIGHT = 0.83
#: Peak swing of the hips and shoulders (rad).
HIP_SWING_RAD = math.radians(25.0)
SHOULDER_SWING_RAD = math.radians(20.0)
#: Time constant (s) with which the swing fades in when walking starts and out when it stops.
SWING_FADE_S = 0.2
#: Horizontal run (m) of the ramp that carries a pedestrian up or down the kerb.
KERB_RAMP_M = 0.3
#: Where a walker stops before the end of the road (its front to the road end, m).
ROAD_END_MARGIN_M = 0.5
#: Joint names the walk cycle drives, with the sign of their swing.
GAIT_JOINTS = {"left_hip": 1.0, "right_hip": -1.0, "left_shoulder": -1.0, "right_shoulder": 1.0}


def _direction(body: BodyPlan) -> int:
    direction = int(behaviour_param(body, "direction", 1))
    if direction not in (1, -1):
        raise SimgenError(f"body {body.name!r}: direction must be 1 or -1, got {direction}")
    return direction


class WalkCycle:
    """Swings hips and shoulders in a walk cycle whose frequency is speed / stride length.

    Same-side hip and shoulder swing in opposition, like a person walking. The swing
    amplitude eases in and out with ``SWING_FADE_S`` so the limbs settle when the
    pedestrian stops.
    """

    def __init__(self, client: int, uid: int, stride_length_m: float):
        self.client = client
        self.uid = uid
        self.stride_length_m = max(stride_length_m, 0.1)
        joints = revolute_joints(client, uid)
        self.joints = [
            (joints[name], sign, HIP_SWING_RAD if "hip" in name else SHOULDER_SWING_RAD)
            for name, sign in GAIT_JOINTS.items()
            if name in joints
        ]
        self.phase_rad = 0.0
        self.amplitude = 0.0

    def advance(self, speed_mps: float, dt_s: float) -> None:
        """Advance the cycle by ``dt_s`` at walking speed ``speed_mps`` and pose the joints."""
        if not self.joints:
            return
        frequency_hz = speed_mps / self.stride_length_m
        self.phase_rad = (self.phase_rad + 2.0 * math.pi * frequency_hz * dt_s) % (2.0 * math.pi)
        target = 1.0 if speed_mps > 0.0 else 0.0
        self.amplitude += (target - self.amplitude) * (1.0 - math.exp(-dt_s / SWING_FADE_S))
        swing = self.amplitude * math.sin(self.phase_rad)
        for j, sign, peak_rad in self.joints:
            p.resetJointState(self.uid, j, sign * peak_rad * swing, physicsClientId=self.client)


class _Pedestrian(Behaviour):
    """Shared set-up: pose, size, walk cycle, and the velocity of the last step."""

    kinematic = True

    def __init__(self, ctx: BehaviourContext, body: BodyPlan, uid: int, heading_rad: float):
        super().__init__(ctx, body, uid)
        self.road: RoadLayout = require_road(ctx, body)
        self.speed_mps = float(behaviour_param(body, "speed_mps"))
        self.pose = KinematicPose(ctx.client, uid)
        self.pose.heading_rad = heading_rad
        self.pose.write()
        self.extents = self.pose.extents()
        self.gait = WalkCycle(ctx.client, uid, STRIDE_PER_HEIGHT * self.extents.height_m)
        self._velocity: Velocity = ((0.0, 0.0, 0.0), (0.0, 0.0, 0.0))

    def _move(self, vx_mps: float, vy_mps: float, vz_mps: float, dt_s: float) -> None:
        """Advance the base by ``v * dt``, write the pose, record the velocity, animate."""
        pose = self.pose
        pose.x_m += vx_mps * dt_s
        pose.y_m += vy_mps * dt_s
        pose.z_m += vz_mps * dt_s
        pose.write()
        self._velocity = ((vx_mps, vy_mps, vz_mps), (0.0, 0.0, 0.0))
        self.gait.advance(math.hypot(vx_mps, vy_mps), dt_s)

    def velocity(self) -> Velocity:
        """World-frame linear (m/s) and angular (rad/s) velocity integrated in the last step."""
        return self._velocity


@register_behaviour("walk")
class Walk(_Pedestrian):
    """Walk along x at ``speed_mps`` (``direction`` +1 towards +x, -1 towards -x).

    The pedestrian faces its direction of travel, keeps its y (its sidewalk) and stops
    with its front ``ROAD_END_MARGIN_M`` before the end of the road.
    """

    def __init__(self, ctx: BehaviourContext, body: BodyPlan, uid: int):
        self.direction = _direction(body)
        super().__init__(ctx, body, uid, 0.0 if self.direction > 0 else math.pi)
        if self.direction > 0:
            self.stop_x_m = self.road.end_x_m - ROAD_END_MARGIN_M - self.extents.front_m
        else:
            self.stop_x_m = self.road.start_x_m + ROAD_END_MARGIN_M + self.extents.front_m

    def step(self, t_s: float, dt_s: float) -> None:
        """Walk one step of ``dt_s`` towards the road end, stopping on reaching it."""
        remaining_m = max(self.direction * (self.stop_x_m - self.pose.x_m), 0.0)
        speed = min(self.speed_mps, remaining_m / dt_s)
        self._move(self.direction * speed, 0.0, 0.0, dt_s)


@register_behaviour("cross")
class Cross(_Pedestrian):
    """Wait at the kerb, step off at ``start_s`` and cross the road to the far sidewalk.

    Faces the crossing direction (``direction`` +1 towards +y, -1 towards -y) from the
    start, walks at ``speed_mps`` to the centre of the far sidewalk and stops there. The
    base height follows the surface: down the kerb onto the road and up onto the far
    sidewalk along a short ramp, so the reported velocity has a z component there.
    """

    def __init__(self, ctx: BehaviourContext, body: BodyPlan, uid: int):
        self.direction = _direction(body)
        self.start_s = float(behaviour_param(body, "start_s", 0.0))
        super().__init__(ctx, body, uid, self.direction * 0.5 * math.pi)
        far_side = "left" if self.direction > 0 else "right"
        self.target_y_m = self.road.sidewalk_centre_y_m(far_side)
        # Height of the base above the surface it stands on, kept while crossing.
        self.clearance_m = self.pose.z_m - self.surface_height_m(self.pose.y_m)

    def surface_height_m(self, y_m: float) -> float:
        """Height of the walking surface at ``y_m``: kerb height on sidewalks, 0 on the road.

        The step is a linear ramp ``KERB_RAMP_M`` wide centred on each kerb line.
        """
        road = self.road
        kerb_right = road.right_edge_y_m - road.shoulder_width_m
        kerb_left = road.left_edge_y_m + road.shoulder_width_m
        outside_m = max(kerb_right - y_m, y_m - kerb_left)
        return road.kerb_height_m * min(max(outside_m / KERB_RAMP_M + 0.5, 0.0), 1.0)

    def step(self, t_s: float, dt_s: float) -> None:
        """Stand still before ``start_s``; then walk one step of ``dt_s`` across the road."""
        speed = 0.0
        if t_s >= self.start_s:
            remaining_m = max(self.direction * (self.target_y_m - self.pose.y_m), 0.0)
            speed = min(self.speed_mps, remaining_m / dt_s)
        vy = self.direction * speed
        vz = 0.0
        if speed > 0.0:
            next_z = self.clearance_m + self.surface_height_m(self.pose.y_m + vy * dt_s)
            vz = (next_z - self.pose.z_m) / dt_s
        self._move(0.0, vy, vz, dt_s)
