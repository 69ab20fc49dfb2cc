"""Artificial lights of an episode: street lamps along the road and vehicle headlights.

Lamps are approximate light sources for the image-space lighting of
``simgen.effects``: positions, aim and strength in the world frame, recomputed each
frame from the bodies' poses. Street lamp posts are real (unlabeled) bodies.
"""

from __future__ import annotations

import math

import numpy as np

from simgen.catalog import ASSETS
from simgen.sampling.conditions import PointLight
from simgen.sampling.scene import EpisodePlan
from simgen.world.build import BuiltWorld, body_aabb
from simgen.world.bullet import p

#: Street lamp brightness (linear image units on a white surface at 1 m) and colour
#: (warm LED). Where the lamps stand is ``RoadLayout.lamp_positions``.
LAMP_INTENSITY = 14.0
LAMP_COLOUR_K = 3000.0
#: Headlights: height, spot half-angle, downward aim, brightness and colour.
HEADLIGHT_HEIGHT_M = 0.65
HEADLIGHT_CONE_DEG = 22.0
HEADLIGHT_PITCH_DOWN_DEG = 4.0
HEADLIGHT_INTENSITY = 40.0
HEADLIGHT_COLOUR_K = 4800.0
#: Light visible from the lamps' positions only at these times of day.
LIT_TIMES = ("dusk", "night")


class EpisodeLights:
    """The artificial lights of one episode, posed each frame."""

    def __init__(self, client: int, plan: EpisodePlan, world: BuiltWorld):
        self.client = client
        lighting = plan.atmosphere.lighting
        lit = lighting.time_of_day in LIT_TIMES
        self.lamps: list[PointLight] = []
        if lit and plan.road is not None:
            self.lamps = [PointLight(pos, None, 180.0, LAMP_INTENSITY, LAMP_COLOUR_K)
                          for pos in plan.road.lamp_positions(lighting.street_light_spacing_m)]
        # uid, half length, half width, height of the base origin above the body's bottom
        self.vehicles: list[tuple[int, float, float, float]] = []
        if lit and lighting.headlights:
            for body in plan.bodies:
                entry = ASSETS.get(body.asset)
                if entry is None or entry.kind != "vehicle":
                    continue
                uid = world.uids[body.name]
                lo, _ = body_aabb(client, uid)
                base_z = p.getBasePositionAndOrientation(uid, physicsClientId=client)[0][2]
                self.vehicles.append((uid, *_half_size(client, uid, body.yaw_deg),
                                      base_z - lo[2]))

    def at_now(self) -> list[PointLight]:
        """Every light at the bodies' current poses."""
        lights = list(self.lamps)
        for uid, half_length, half_width, base_height in self.vehicles:
            pos, orn = p.getBasePositionAndOrientation(uid, physicsClientId=self.client)
            rot = np.array(p.getMatrixFromQuaternion(orn)).reshape(3, 3)
            forward, left = rot[:, 0], rot[:, 1]
            pitch = math.radians(HEADLIGHT_PITCH_DOWN_DEG)
            aim = forward * math.cos(pitch) - np.array([0, 0, math.sin(pitch)])
            for side in (1.0, -1.0):
                lamp = np.array(pos) + forward * half_length + left * side * half_width * 0.75
                lamp[2] = pos[2] - base_height + HEADLIGHT_HEIGHT_M
                lights.append(PointLight(tuple(float(v) for v in lamp),
                                         tuple(float(v) for v in aim), HEADLIGHT_CONE_DEG,
                                         HEADLIGHT_INTENSITY, HEADLIGHT_COLOUR_K))
        return lights


def _half_size(client: int, uid: int, yaw_deg: float) -> tuple[float, float]:
    """Half length and half width of a vehicle from its world AABB at its initial yaw."""
    lo, hi = body_aabb(client, uid)
    ex, ey = (hi[0] - lo[0]) / 2, (hi[1] - lo[1]) / 2
    c, s = abs(math.cos(math.radians(yaw_deg))), abs(math.sin(math.radians(yaw_deg)))
    det = c * c - s * s
    if abs(det) > 0.3:  # solve ex = L c + W s, ey = L s + W c
        half_length = (ex * c - ey * s) / det
        half_width = (ey * c - ex * s) / det
        return max(half_length, 0.3), max(half_width, 0.3)
    return max(ex, ey) * 0.7, max(ex, ey) * 0.3
