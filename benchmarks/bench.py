"""Benchmark: the shipped scenarios end to end against a bare PyBullet loop on the same
worlds, on 1 and 2 worker processes; then sampling alone.

Throughput, for each scenario (same episodes, same resolution, same renderer on every side):

- bare, on 1 core: in this process, confined to one core, a PyBullet session started and
  the same episode worlds built, then only ``stepSimulation`` and ``getCameraImage``
  (with the same light direction and shadows, and a fresh EGL client for textured worlds
  as the pipeline does) at the capture cadence: no behaviours, effects, labels, encoding
  or writing; the scene stands still (parked cars, an arm at rest);
- moving bare, on 1 core (for reference; the target is judged on the bare loop above):
  the same with the bodies' behaviours and disturbances run before each step, so that
  the scene moves as in the pipeline (moving bodies cost the physics more, and what a
  mounted camera sees changes what it costs to render);
- pipeline, 1 worker on 1 core: ``run_scenario(..., workers=1)`` into a temporary folder
  (everything written: images, tables, exports), this process and its worker confined to
  the same one core;
- pipeline, 1 worker, free: the same on every core (the worker's render and writer
  threads spread over them);
- pipeline, 2 workers on 2 cores: ``workers=2``, free.

"Per core" is literal: the bare loop and the pipeline each get one core, all their
threads included (Mesa llvmpipe's rasterizer threads, the image writer's), and their
frames per second are compared. Scaling compares 2 workers on 2 cores with 1 worker on
1 core. A free single worker keeps more than one core busy (llvmpipe rasterizes on one
thread per core; the writer threads label, apply effects and encode beside the
simulation), so 2 workers over a free 1 worker is shown too.

Every side is timed from its start to its end, so fixed costs count: the bare loop's
session start (EGL context) and world building; the pipeline's worker process start
(interpreter and imports), its session start, the commits, the dataset tables and the
exports. Frames count every camera. CPU seconds come from ``getrusage`` (this process's
and its joined children's user + system time); CPU seconds over wall seconds are the
average number of cores busy. The machine's busy time (``/proc/stat``, hypervisor steal
included) beyond this benchmark's own is checked too: a scenario during which other work
kept the cores busy is flagged as unreliable.

Targets (640x480, EGL): pipeline >= 0.85 x bare per core; 2 workers >= 1.7 x 1 worker on
2 cores.

Sampling: episode plans per second for each scenario without and with a set of
``require`` constraints (rejection sampling), their ratio and the mean draws per episode.

    python benchmarks/bench.py [--scenarios NAME ...] [--episodes 8] [--width 640]
        [--height 480] [--renderer auto|egl|tiny] [--plans 200]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from simgen.effects import renderer_light_direction
from simgen.errors import did_you_mean
from simgen.runner.episode import make_behaviours
from simgen.runner.run import run_scenario
from simgen.sampling.episode import plan_episode
from simgen.sensors.camera import camera_view, mount_pose
from simgen.spec import load_scenario
from simgen.world.build import build_world, has_textures
from simgen.world.bullet import p, quiet_stdout
from simgen.world.disturbances import Disturbances
from simgen.world.engine import PhysicsSession

ROOT = Path(__file__).resolve().parent.parent
#: The issue's targets: pipeline / bare per core, and 2 workers / 1 worker in wall time.
PIPELINE_TARGET = 0.85
TWO_WORKER_TARGET = 1.7
#: Cores busy with other work during a measurement above which its figures are flagged.
OTHER_LOAD_WARNING = 0.15


@dataclass(frozen=True)
class Throughput:
    """Frames made by one side of the benchmark, its wall and CPU time (seconds)."""

    frames: int
    wall_s: float
    cpu_s: float
    renderer: str
    other_cores: float  # average cores busy with other processes meanwhile (or stolen)

    @property
    def fps(self) -> float:
        """Frames (all cameras) per wall second."""
        return self.frames / self.wall_s

    @property
    def cores_busy(self) -> float:
        """Average number of cores busy: CPU seconds over wall seconds."""
        return self.cpu_s / self.wall_s


def _cpu_s(who: int) -> float:
    """User + system CPU seconds of ``resource.RUSAGE_SELF`` or ``RUSAGE_CHILDREN``."""
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def _machine_busy_s() -> float:
    """CPU seconds the whole machine has been busy or stolen by the hypervisor (Linux
    ``/proc/stat``; 0 elsewhere), to tell whether other processes shared the cores."""
    try:
        with open("/proc/stat") as fh:
            fields = [int(v) for v in fh.readline().split()[1:9]]
    except OSError:
        return 0.0
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


class _Stopwatch:
    """Wall, own CPU (``RUSAGE_SELF`` and, with ``children``, ``RUSAGE_CHILDREN``) and
    the rest of the machine's busy time, from creation to ``stop``."""

    def __init__(self, children: bool):
        self._children = children
        self._cpu = self._own_cpu_s()
        self._machine = _machine_busy_s()
        self._wall = time.perf_counter()

    def _own_cpu_s(self) -> float:
        own = _cpu_s(resource.RUSAGE_SELF)
        return own + _cpu_s(resource.RUSAGE_CHILDREN) if self._children else own

    def stop(self, frames: int, renderer: str) -> Throughput:
        wall_s = time.perf_counter() - self._wall
        cpu_s = self._own_cpu_s() - self._cpu
        other_s = max(_machine_busy_s() - self._machine - cpu_s, 0.0)
        return Throughput(frames, wall_s, cpu_s, renderer, other_s / wall_s)


@contextlib.contextmanager
def confined(cores: set[int] | None):
    """Run this process (and what it starts meanwhile: threads, worker processes) on
    ``cores`` only; None leaves it free. Linux; elsewhere everything runs free."""
    if cores is None or not hasattr(os, "sched_setaffinity"):
        yield
        return
    previous = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cores)
    try:
        yield
    finally:
        os.sched_setaffinity(0, previous)


def bare_loop(scenario, path: Path, moving: bool = False) -> Throughput:
    """Step + getCameraImage on the scenario's worlds in this process (all cameras).

    ``moving``: the bodies' behaviours and disturbances also run before each step, as in
    the pipeline, so that cars drive and arms move (the scene the pipeline renders); by
    default the scene stands still.
    """
    frames = 0
    watch = _Stopwatch(children=False)
    with PhysicsSession(scenario.renderer) as session:
        for index in range(scenario.episodes):
            plan = plan_episode(scenario, index, path.parent)
            textured = has_textures(plan)
            session.prepare_for_world(textured)  # renews the connection as the pipeline does
            c = session.client
            session.reset(plan.physics)
            world = build_world(c, plan, session.textures if textured else None)
            behaviours, disturbances = [], None
            if moving:
                behaviours = make_behaviours(c, plan, world, scenario.seed)
                disturbances = Disturbances(c, plan, world)
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
                if step == steps:
                    break
                for behaviour in behaviours:
                    behaviour.step(step * dt, dt)
                if disturbances is not None:
                    disturbances.apply(step * dt, dt)
                p.stepSimulation(physicsClientId=c)
        renderer = session.renderer_used
    return watch.stop(frames, renderer)


def pipeline(scenario, path: Path, workers: int) -> Throughput:
    """``run_scenario`` with ``workers`` worker processes into a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="simgen_bench_") as tmp:
        watch = _Stopwatch(children=True)
        summary = run_scenario(scenario, path, Path(tmp) / "out", workers=workers)
        measured = watch.stop(summary.frames_made, summary.renderer)
    if summary.failed:
        raise RuntimeError(f"{scenario.name}: episodes failed: {summary.failed}")
    return measured


def _verdict(value: float, target: float) -> str:
    return f"{value:.2f} {'ok' if value >= target else 'MISS'}"


def throughput_table(paths: list[Path], overrides: list[str]) -> list[str]:
    """Run the four sides on each scenario, printing a table row as each finishes; the
    lines saying which figures meet the targets."""
    try:
        one_core = {min(os.sched_getaffinity(0))}
    except AttributeError:
        one_core = None
    print("| scenario | renderer | frames | bare fps, 1 core | 1w fps, 1 core | per core 1w/bare "
          "| moving bare fps, 1 core | 1w / moving bare "
          "| 1w fps, free | 2w fps | 2w / 1w on 1 core | 2w / free 1w "
          "| cores busy 1w free / 2w |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    notes = []
    for path in paths:
        scenario = load_scenario(path, overrides)
        with confined(one_core):
            bare = bare_loop(scenario, path)
            moving = bare_loop(scenario, path, moving=True)
            one = pipeline(scenario, path, workers=1)
        free = pipeline(scenario, path, workers=1)
        two = pipeline(scenario, path, workers=2)
        sides = (bare, moving, one, free, two)
        if len({side.frames for side in sides}) != 1:
            raise RuntimeError(f"{scenario.name}: frame counts differ: "
                               f"{[side.frames for side in sides]}")
        renderers = {side.renderer for side in sides}
        per_core = one.fps / bare.fps
        scaling = two.fps / one.fps
        print(f"| {scenario.name} | {'/'.join(sorted(renderers))} | {bare.frames} "
              f"| {bare.fps:.1f} | {one.fps:.1f} | {per_core:.2f} | {moving.fps:.1f} "
              f"| {one.fps / moving.fps:.2f} | {free.fps:.1f} "
              f"| {two.fps:.1f} | {scaling:.2f} | {two.fps / free.fps:.2f} "
              f"| {free.cores_busy:.2f} / {two.cores_busy:.2f} |", flush=True)
        notes.append(f"{scenario.name}: pipeline/bare per core "
                     f"{_verdict(per_core, PIPELINE_TARGET)} (target {PIPELINE_TARGET}), "
                     f"2 workers on 2 cores / 1 worker on 1 core "
                     f"{_verdict(scaling, TWO_WORKER_TARGET)} (target {TWO_WORKER_TARGET}); "
                     f"wall s: bare {bare.wall_s:.1f}, 1w on 1 core {one.wall_s:.1f}, "
                     f"1w free {free.wall_s:.1f}, 2w {two.wall_s:.1f}")
        other = max(side.other_cores for side in sides)
        if other > OTHER_LOAD_WARNING:
            notes.append(f"{scenario.name}: WARNING other processes (or the hypervisor) kept "
                         f"up to {other:.2f} cores busy meanwhile; the figures are unreliable")
    return notes


def scenario_paths(names: list[str] | None) -> list[Path]:
    """The shipped scenarios named (all of them for None), exiting on an unknown name."""
    shipped = {path.stem: path for path in sorted((ROOT / "scenarios").glob("*.yaml"))}
    if names is None:
        return list(shipped.values())
    for name in names:
        if name not in shipped:
            sys.exit(f"--scenarios: no scenario {name!r}{did_you_mean(name, shipped)}; "
                     f"shipped: {', '.join(shipped)}")
    return [shipped[name] for name in names]


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
    for index in range(n):  # a sweep has only so many episodes: go round them again
        if scenario.sweep is not None:
            index %= scenario.episodes
        draws += plan_episode(scenario, index, path.parent).attempts
    return n / (time.perf_counter() - start), draws / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", nargs="+", default=None, metavar="NAME",
                        help="shipped scenarios to run (default: all)")
    parser.add_argument("--episodes", type=int, default=8)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--renderer", default="auto", choices=("auto", "egl", "tiny"))
    parser.add_argument("--plans", type=int, default=200,
                        help="episodes for sampling rates (0: skip sampling)")
    args = parser.parse_args()
    paths = scenario_paths(args.scenarios)
    overrides = [f"episodes={args.episodes}", f"capture.width={args.width}",
                 f"capture.height={args.height}", f"renderer={args.renderer}"]
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count()
    print(f"os.cpu_count() {os.cpu_count()}, usable cores {cores}; {args.episodes} episodes "
          f"per scenario at {args.width}x{args.height}, renderer {args.renderer} (used: see "
          f"table); LP_NUM_THREADS={os.environ.get('LP_NUM_THREADS', 'unset')}\n")
    notes = throughput_table(paths, overrides)
    print()
    for line in notes:
        print(line)
    if args.plans <= 0:
        return
    print()
    print("| scenario | plans/s | plans/s with constraints | ratio | draws per episode |")
    print("|---|---|---|---|---|")
    print(sampling_table(paths, args.plans))


def sampling_table(paths: list[Path], plans: int) -> str:
    """Episode plans per second of each scenario, and with the constraints of
    ``CONSTRAINTS`` where it has some (a sweep also validates its point's scenario)."""
    rows = []
    for path in paths:
        scenario = load_scenario(path)
        plain, draws = sampling_rate(scenario, path, plans)
        if scenario.name in CONSTRAINTS:
            constrained = load_scenario(path, CONSTRAINTS[scenario.name])
            rate, draws = sampling_rate(constrained, path, plans)
            rows.append(f"| {scenario.name} | {plain:.0f} | {rate:.0f} | {rate / plain:.2f} | "
                        f"{draws:.2f} |")
        else:
            rows.append(f"| {scenario.name} | {plain:.0f} | - | - | {draws:.2f} |")
    return "\n".join(rows)


if __name__ == "__main__":
    main()
