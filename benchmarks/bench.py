"""Benchmark: the shipped scenarios end to end against a bare PyBullet loop on the same worlds.

For each scenario, in one process:
- bare: a PyBullet session started and the same episode worlds built, then only
  ``stepSimulation`` and ``getCameraImage`` (with the same light direction and shadows)
  at the capture cadence (no behaviours, effects, labels, encoding or writing);
- pipeline: ``simgen run`` into a temporary folder (everything written).
Both are timed from session start to the end, so fixed costs count on both sides.
Prints frames per second of each and their ratio, and the pipeline's wall time.

Then sampling alone: episode plans per second for each scenario without and with a set of
``require`` constraints (rejection sampling), their ratio and the mean draws per episode.

    python benchmarks/bench.py [--episodes N] [--renderer auto|egl|tiny]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from simgen.effects import renderer_light_direction
from simgen.runner.run import run_scenario
from simgen.sampling.episode import plan_episode
from simgen.sensors.camera import camera_view, mount_pose
from simgen.spec import load_scenario
from simgen.world.build import build_world, has_textures
from simgen.world.bullet import p, quiet_stdout
from simgen.world.engine import PhysicsSession

ROOT = Path(__file__).resolve().parent.parent


def bare_loop_fps(scenario, path: Path) -> tuple[float, str]:
    """Frames (all cameras) per second of step + getCameraImage on the scenario's worlds."""
    frames = 0
    start = time.perf_counter()
    with PhysicsSession(scenario.renderer) as session:
        for index in range(scenario.episodes):
            plan = plan_episode(scenario, index, path.parent)
            textured = has_textures(plan)
            if textured:  # as the pipeline does (a fresh EGL client for textures)
                session.prepare_for_textures()
            c = session.client
            session.reset(plan.physics)
            world = build_world(c, plan, session.textures if textured else None)
            lighting = plan.atmosphere.lighting
            light = {"lightDirection": list(renderer_light_direction(lighting)),
                     "shadow": int(lighting.shadows == "on" or (
                         lighting.shadows == "auto" and session.renderer_used == "egl"))}
            dt = plan.physics.time_step_s
            steps = max(int(round(plan.duration_s / dt)), 1)
            every = max(int(round(1.0 / (plan.capture_rate_hz * dt))), 1)
            mounts = [(world.uids.get(cam.mount), None) for cam in plan.cameras]
            for step in range(steps + 1):
                if step % every == 0:
                    for cam, (uid, link) in zip(plan.cameras, mounts, strict=True):
                        view = camera_view(cam, mount_pose(c, uid, link), session.renderer_used)
                        with quiet_stdout():  # as the pipeline does (EGL prints on init)
                            p.getCameraImage(view.width, view.height, view.view_gl,
                                             view.proj_gl, renderer=session.render_flag,
                                             physicsClientId=c, **light)
                        frames += 1
                p.stepSimulation(physicsClientId=c)
        renderer = session.renderer_used
    return frames / (time.perf_counter() - start), renderer


_DRIVING = ["require=[{kind: distance, a: ego, b: traffic, min_m: 15}, "
            "{kind: in_view, body: walker, camera: front, min_visible_fraction: 0.3}, "
            "{kind: no_overlap}]"]
#: Constraints added to each shipped scenario for the sampling benchmark.
CONSTRAINTS = {
    "driving_urban": _DRIVING,
    "driving_edge_cases": _DRIVING,
    "robot_tabletop": ["require=[{kind: in_view, body: block, camera: overhead, "
                       "min_visible_fraction: 0.6}, "
                       "{kind: no_overlap, bodies: [block, can, duck, lego]}]"],
    "robot_bin_clutter": ["require=[{kind: in_view, body: block, camera: overhead, "
                          "min_visible_fraction: 0.6}, "
                          "{kind: no_overlap, bodies: [block, can, bottle, mug]}]"],
}


def sampling_rate(scenario, path: Path, n: int) -> tuple[float, float]:
    """Episode plans per second over ``n`` episodes, and mean whole-episode draws each."""
    start = time.perf_counter()
    draws = 0
    for index in range(n):
        draws += plan_episode(scenario, index, path.parent).attempts
    return n / (time.perf_counter() - start), draws / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=None)
    parser.add_argument("--renderer", default=None)
    parser.add_argument("--plans", type=int, default=200, help="episodes for sampling rates")
    args = parser.parse_args()
    overrides = []
    if args.episodes is not None:
        overrides.append(f"episodes={args.episodes}")
    if args.renderer is not None:
        overrides.append(f"renderer={args.renderer}")
    print("| scenario | renderer | episodes | frames | pipeline wall s | pipeline frames/s "
          "| bare frames/s | pipeline / bare |")
    print("|---|---|---|---|---|---|---|---|")
    for path in sorted((ROOT / "scenarios").glob("*.yaml")):
        scenario = load_scenario(path, overrides)
        bare_fps, renderer = bare_loop_fps(scenario, path)
        with tempfile.TemporaryDirectory() as tmp:
            summary = run_scenario(scenario, path, Path(tmp) / "out")
        print(f"| {scenario.name} | {renderer} | {summary.episodes} | {summary.frames} | "
              f"{summary.elapsed_s:.1f} | {summary.frames_per_s:.1f} | {bare_fps:.1f} | "
              f"{summary.frames_per_s / bare_fps:.2f} |")
    print()
    print("| scenario | plans/s | plans/s with constraints | ratio | draws per episode |")
    print("|---|---|---|---|---|")
    for path in sorted((ROOT / "scenarios").glob("*.yaml")):
        scenario = load_scenario(path)
        plain, _ = sampling_rate(scenario, path, args.plans)
        constrained = load_scenario(path, CONSTRAINTS[scenario.name])
        rate, draws = sampling_rate(constrained, path, args.plans)
        print(f"| {scenario.name} | {plain:.0f} | {rate:.0f} | {rate / plain:.2f} | "
              f"{draws:.2f} |")


if __name__ == "__main__":
    main()
