"""External forces on dynamic bodies during an episode: steady wind and random pushes."""

from __future__ import annotations

import math

import numpy as np

from simgen.sampling.scene import EpisodePlan
from simgen.world.build import BuiltWorld, body_aabb
from simgen.world.bullet import p

#: Air density (kg/m^3) and the drag coefficient used for every body (a bluff body).
AIR_DENSITY_KGPM3 = 1.2
DRAG_COEFFICIENT = 1.0


class Disturbances:
    """Applies the episode's wind and pushes before each physics step.

    Wind is the drag of air moving at ``wind_speed_mps`` past a body at rest,
    ``0.5 rho Cd A v^2`` with ``A`` the body's bounding-box area facing the wind. A push
    is an impulse spread over the one physics step in which its time falls.
    """

    def __init__(self, client: int, plan: EpisodePlan, world: BuiltWorld):
        self.client = client
        ph = plan.physics
        self.wind: list[tuple[int, tuple[float, float, float]]] = []
        if ph.wind_speed_mps > 0:
            heading = math.radians(ph.wind_direction_deg)
            direction = np.array([math.cos(heading), math.sin(heading)])
            pressure = 0.5 * AIR_DENSITY_KGPM3 * DRAG_COEFFICIENT * ph.wind_speed_mps ** 2
            for body in plan.bodies:
                if not body.dynamic:
                    continue
                uid = world.uids[body.name]
                lo, hi = body_aabb(client, uid)
                size = hi - lo
                area = (abs(direction[0]) * size[1] + abs(direction[1]) * size[0]) * size[2]
                force = pressure * area * direction
                self.wind.append((uid, (float(force[0]), float(force[1]), 0.0)))
        self.pushes = sorted(((q.time_s, world.uids[q.body], q.impulse_n_s)
                              for q in plan.pushes), key=lambda q: q[0])
        self._next_push = 0

    def apply(self, t: float, dt: float) -> None:
        """Forces for the step from ``t`` to ``t + dt`` (PyBullet clears them after it)."""
        c = self.client
        for uid, force in self.wind:
            pos, _ = p.getBasePositionAndOrientation(uid, physicsClientId=c)
            p.applyExternalForce(uid, -1, force, pos, p.WORLD_FRAME, physicsClientId=c)
        while self._next_push < len(self.pushes) and self.pushes[self._next_push][0] < t + dt:
            _, uid, (jx, jy) = self.pushes[self._next_push]
            pos, _ = p.getBasePositionAndOrientation(uid, physicsClientId=c)
            p.applyExternalForce(uid, -1, (jx / dt, jy / dt, 0.0), pos, p.WORLD_FRAME,
                                 physicsClientId=c)
            self._next_push += 1
