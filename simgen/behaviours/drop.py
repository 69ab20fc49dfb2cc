"""A body held still in the air until a release time, then dropped to physics."""

from __future__ import annotations

from simgen.behaviours.base import Behaviour, BehaviourContext, register_behaviour
from simgen.sampling.scene import BodyPlan
from simgen.world.bullet import p


@register_behaviour("drop")
class Drop(Behaviour):
    """Holds the body at its planned pose until ``release_s``, then lets it fall.

    Parameters (``body.behaviour_params``): ``release_s`` (simulation time, s, at which
    it is let go; default 0, released at once). The body is dynamic: while held, each step
    puts it back at its starting pose (world frame) at rest and cancels its weight, so its
    pose is exactly constant; it collides with none of the episode's planned bodies then
    (an arm passing through the air it hangs in is not stopped by a body that is not yet
    really there). From ``release_s`` on, gravity and contacts move it like any object.
    """

    kinematic = False

    def __init__(self, ctx: BehaviourContext, body: BodyPlan, uid: int):
        super().__init__(ctx, body, uid)
        c = ctx.client
        self.release_s: float = float(body.behaviour_params.get("release_s", 0.0))
        #: True once the body has been let go
        self.released: bool = False
        self._pose = p.getBasePositionAndOrientation(uid, physicsClientId=c)
        links = range(-1, p.getNumJoints(uid, physicsClientId=c))
        # gravity_mps2 is world z's component (negative): this force cancels the weight
        self._lift_n = -ctx.plan.physics.gravity_mps2 * sum(
            p.getDynamicsInfo(uid, link, physicsClientId=c)[0] for link in links)
        # (other body uid, its link, this body's link) pairs kept from colliding while held
        self._pairs = [
            (other, other_link, link)
            for other in ctx.uids.values() if other != uid
            for other_link in range(-1, p.getNumJoints(other, physicsClientId=c))
            for link in range(-1, p.getNumJoints(uid, physicsClientId=c))
        ]
        self._set_collisions(False)

    def step(self, t_s: float, dt_s: float) -> None:
        """Hold the body still before ``release_s``; from then on, do nothing."""
        if self.released:
            return
        c = self.ctx.client
        if t_s >= self.release_s:
            self.released = True
            self._set_collisions(True)
            return
        p.resetBasePositionAndOrientation(self.uid, *self._pose, physicsClientId=c)
        p.resetBaseVelocity(self.uid, (0.0, 0.0, 0.0), (0.0, 0.0, 0.0), physicsClientId=c)
        p.applyExternalForce(self.uid, -1, (0.0, 0.0, self._lift_n), self._pose[0],
                             p.WORLD_FRAME, physicsClientId=c)

    def _set_collisions(self, enabled: bool) -> None:
        for other, other_link, link in self._pairs:
            p.setCollisionFilterPair(self.uid, other, link, other_link, int(enabled),
                                     physicsClientId=self.ctx.client)
