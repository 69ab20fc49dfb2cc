"""Benchmark: where a frame's CPU time goes, stage by stage, on one core.

In this process, confined to one core: the bare loop of ``bench.py`` on a scenario's
episodes, standing still and then moving (behaviours run); then the scenario itself
(``workers=0``), with the pipeline's stages wrapped to add up the CPU time of the
thread running them (``time.thread_time``), whether that is the simulation thread or a
writer thread. Prints milliseconds per frame (frames count every camera) for each
stage, the process's CPU time per frame for each loop, and their ratios.

Stages nest: ``_process_frame`` (a frame's writer job) includes the PNG, labels,
effects, visibility and mask stages listed under it.

    python benchmarks/stages.py [--scenario robot_tabletop] [--episodes 4]
"""

from __future__ import annotations

import argparse
import functools
import os
import resource
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench  # noqa: E402  (the bare loop and scenario lookup)

import simgen.runner.episode as episode  # noqa: E402
from simgen.behaviours import BEHAVIOURS  # noqa: E402
from simgen.effects.pipeline import EpisodeEffects  # noqa: E402
from simgen.runner.run import run_scenario  # noqa: E402
from simgen.spec import load_scenario  # noqa: E402

_lock = threading.Lock()
_seconds: Counter = Counter()


def _timed(fn, key: str):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        start = time.thread_time()
        try:
            return fn(*args, **kwargs)
        finally:
            with _lock:
                _seconds[key] += time.thread_time() - start
    return wrapper


def instrument() -> None:
    """Wrap the pipeline's stages (module attributes the episode loop looks up at call
    time, and methods) with CPU-time accounting."""
    for name in ("capture", "settle_light", "build_world", "camera_view", "_process_frame",
                 "object_labels", "instance_rles", "object_visibility"):
        setattr(episode, name, _timed(getattr(episode, name), name))
    write_image = episode.write_image

    def write_png(path, modality, array):
        return _timed(write_image, f"png: {modality}")(path, modality, array)
    episode.write_image = write_png
    EpisodeEffects.apply = _timed(EpisodeEffects.apply, "effects")
    episode._TrajectoryLogger.log = _timed(episode._TrajectoryLogger.log, "trajectory log")
    for name, cls in BEHAVIOURS.items():
        if "step" in cls.__dict__:
            cls.step = _timed(cls.step, f"behaviour: {name}")
    step = episode.p.stepSimulation

    class _Bullet:  # the episode module's view of pybullet, with stepSimulation timed
        def __getattr__(self, attr):
            return getattr(bench.p, attr)
    episode.p = _Bullet()
    episode.p.stepSimulation = _timed(step, "stepSimulation")


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="robot_tabletop")
    parser.add_argument("--episodes", type=int, default=4)
    args = parser.parse_args()
    [path] = bench.scenario_paths([args.scenario])
    scenario = load_scenario(path, [f"episodes={args.episodes}"])
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    bare = bench.bare_loop(scenario, path)
    moving = bench.bare_loop(scenario, path, moving=True)
    instrument()
    with tempfile.TemporaryDirectory(prefix="simgen_stages_") as tmp:
        start = _cpu_s()
        summary = run_scenario(scenario, path, Path(tmp) / "out", workers=0)
        cpu_s = _cpu_s() - start
    frames = summary.frames_made
    print(f"{args.scenario}, {args.episodes} episodes, {frames} frames, renderer "
          f"{summary.renderer}, one core\n")
    print("| stage | ms per frame |\n|---|---|")
    for key, seconds in sorted(_seconds.items(), key=lambda item: -item[1]):
        print(f"| {key} | {1000 * seconds / frames:.2f} |")
    ms, bare_ms = 1000 * cpu_s / frames, 1000 * bare.cpu_s / bare.frames
    print(f"| **pipeline, process CPU** | {ms:.1f} |")
    moving_ms = 1000 * moving.cpu_s / moving.frames
    print(f"| **bare loop, process CPU** | {bare_ms:.1f} |")
    print(f"| **moving bare loop (behaviours run), process CPU** | {moving_ms:.1f} |")
    print(f"\npipeline / bare, per core: {bare_ms / ms:.2f}; "
          f"pipeline / moving bare: {moving_ms / ms:.2f}")


if __name__ == "__main__":
    main()
