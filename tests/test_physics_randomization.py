"""Physical and camera randomization: what the scenario asks for is what PyBullet gets,
wind and pushes move bodies as the physics says, camera jitter is drawn and applied."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from simgen.geometry import axis_rotation
from simgen.sampling.episode import plan_episode
from simgen.sensors.camera import camera_view
from simgen.spec import load_scenario
from simgen.world.build import body_aabb, build_world
from simgen.world.bullet import p
from simgen.world.disturbances import AIR_DENSITY_KGPM3, DRAG_COEFFICIENT, Disturbances
from simgen.world.engine import PhysicsSession

TABLETOP = """\
name: physics_test
domain: robotics
physics: {{time_step_s: 0.004166666666666667{physics}}}
cameras:
  - name: top
    position_m: [0.5, 0.0, 1.6]
    look_at_m: [0.5, 0.0, 0.6]
    {camera}
world:
  table: {{}}
  arm: {{name: arm, asset: panda, placement: {{region: area, x_m: 0, y_m: 0}}}}
  objects:
    - {{name: box, asset: cardboard_box, placement: {{region: area, x_m: 2.0, y_m: 1.5}}}}
    - {{name: obj, asset: block, count: 2, placement: {{region: table, min_spacing_m: 0.1}}}}
"""


def _scenario(tmp_path: Path, physics: str = "", camera: str = ""):
    path = tmp_path / "s.yaml"
    path.write_text(TABLETOP.format(physics=physics, camera=camera))
    return load_scenario(path), tmp_path


def _dynamics(client, uid):
    return [p.getDynamicsInfo(uid, link, physicsClientId=client)
            for link in range(-1, p.getNumJoints(uid, physicsClientId=client))]


def test_friction_restitution_and_mass_scale_reach_every_body(tmp_path):
    scenario, where = _scenario(tmp_path, ", friction: 0.35, restitution: 0.4, mass_scale: 2.0")
    plan = plan_episode(scenario, 0, where)
    plain = replace(plan, physics=replace(plan.physics, friction=None, restitution=None,
                                          mass_scale=1.0))
    with PhysicsSession("tiny") as session:
        session.reset(plain.physics)
        base = build_world(session.client, plain)
        base_mass = {i.name: [d[0] for d in _dynamics(session.client, i.uid)]
                     for i in base.instances}
        session.reset(plan.physics)
        world = build_world(session.client, plan)
        for inst in world.instances:
            infos = _dynamics(session.client, inst.uid)
            for info in infos:
                assert info[1] == pytest.approx(0.35)  # lateral friction
                assert info[5] == pytest.approx(0.4)  # restitution
            masses = [d[0] for d in infos]
            scale = 2.0 if inst.name in ("box_0", "obj_0", "obj_1") else 1.0
            assert masses == pytest.approx([m * scale for m in base_mass[inst.name]])


def test_wind_accelerates_a_box_as_drag_minus_friction(tmp_path):
    speed, mu, seconds = 20.0, 0.1, 1.0
    scenario, where = _scenario(
        tmp_path, f", friction: {mu}, wind: {{speed_mps: {speed}, direction_deg: 90}}")
    plan = plan_episode(scenario, 0, where)
    with PhysicsSession("tiny") as session:
        c = session.client
        session.reset(plan.physics)
        world = build_world(c, plan)
        uid = world.uids["box_0"]
        lo, hi = body_aabb(c, uid)
        mass = sum(d[0] for d in _dynamics(c, uid))
        # Wind along +y meets the box's x-z face.
        drag = 0.5 * AIR_DENSITY_KGPM3 * DRAG_COEFFICIENT * speed ** 2 * (hi[0] - lo[0]) \
            * (hi[2] - lo[2])
        expected_accel = drag / mass - mu * 9.81
        assert expected_accel > 0.5  # the test needs a box the wind can slide
        start = np.array(p.getBasePositionAndOrientation(uid, physicsClientId=c)[0])
        wind = Disturbances(c, plan, world)
        dt = plan.physics.time_step_s
        for step in range(int(seconds / dt)):
            wind.apply(step * dt, dt)
            p.stepSimulation(physicsClientId=c)
        moved = np.array(p.getBasePositionAndOrientation(uid, physicsClientId=c)[0]) - start
    assert moved[1] == pytest.approx(0.5 * expected_accel * seconds ** 2, rel=0.2)
    assert abs(moved[0]) < 0.1 * moved[1]


def test_pushes_change_velocity_by_impulse_over_mass(tmp_path):
    scenario, where = _scenario(
        tmp_path, ", friction: 0.0, pushes: {rate_hz: 3, impulse_n_s: 0.01}")
    plan = plan_episode(scenario, 2, where)
    settle_s = 0.3  # let the blocks come to rest on the table first
    pushes = [q for q in plan.pushes if q.body != "box_0" and q.time_s >= settle_s]
    assert pushes, "expected a push on a settled block in 5 s at 3 Hz"
    recorded = plan.sampled["physics.pushes.events"]
    assert [e["time_s"] for e in recorded] == [q.time_s for q in plan.pushes]
    with PhysicsSession("tiny") as session:
        c = session.client
        session.reset(plan.physics)
        world = build_world(c, plan)
        disturbances = Disturbances(c, plan, world)
        dt = plan.physics.time_step_s
        first = pushes[0]
        uid = world.uids[first.body]
        mass = p.getDynamicsInfo(uid, -1, physicsClientId=c)[0]
        step = 0
        while (step + 1) * dt <= first.time_s:  # up to the step the push falls in
            disturbances.apply(step * dt, dt)
            p.stepSimulation(physicsClientId=c)
            step += 1
        before = np.array(p.getBaseVelocity(uid, physicsClientId=c)[0])
        disturbances.apply(step * dt, dt)
        p.stepSimulation(physicsClientId=c)
        after = np.array(p.getBaseVelocity(uid, physicsClientId=c)[0])
    assert step * dt <= first.time_s < (step + 1) * dt
    change = (after - before)[:2]
    assert change == pytest.approx(np.array(first.impulse_n_s) / mass, rel=0.05, abs=1e-3)


def test_camera_jitter_is_drawn_with_its_spread_and_turns_the_camera(tmp_path):
    scenario, where = _scenario(tmp_path, camera="jitter: {position_m: 0.02, rotation_deg: 1.5}")
    offsets = []
    for i in range(300):
        cam = plan_episode(scenario, i, where).cameras[0]
        offsets.append(cam.rotation_offset_deg)
    offsets = np.array(offsets)
    for axis in range(3):
        assert stats.kstest(offsets[:, axis], stats.norm(0, 1.5).cdf).pvalue > 1e-3
    plan = plan_episode(scenario, 0, where)
    cam = plan.cameras[0]
    recorded = plan.sampled["cameras[0].jitter.position_offset_m"]
    assert np.allclose(np.array(cam.position_m) - (0.5, 0.0, 1.6), recorded)
    jittered = camera_view(cam, np.eye(4), "egl")
    aimed = camera_view(replace(cam, rotation_offset_deg=(0.0, 0.0, 0.0)), np.eye(4), "egl")
    turn = aimed.cam_to_world[:3, :3].T @ jittered.cam_to_world[:3, :3]
    assert np.allclose(turn, axis_rotation(cam.rotation_offset_deg), atol=1e-9)
    angle = math.degrees(math.acos((np.trace(turn) - 1) / 2))
    assert 0 < angle < 10


def test_camera_bump_turns_the_view_only_from_its_time(tmp_path):
    scenario, where = _scenario(tmp_path)
    cam = replace(plan_episode(scenario, 0, where).cameras[0], bump_at_s=1.0,
                  bump_rotation_deg=(3.0, -4.0, 0.0))
    before = camera_view(cam, np.eye(4), "egl", 0.99).cam_to_world
    after = camera_view(cam, np.eye(4), "egl", 1.0).cam_to_world
    assert np.allclose(before[:3, :3].T @ after[:3, :3], axis_rotation((3.0, -4.0, 0.0)))
    assert np.allclose(before[:3, 3], after[:3, 3])
