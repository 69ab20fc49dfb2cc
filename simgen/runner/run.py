"""A run: every episode of a scenario, in order, into one dataset directory."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from simgen import __version__
from simgen.runner.episode import run_episode
from simgen.sampling.episode import plan_episode
from simgen.spec import Scenario, scenario_to_data
from simgen.world.engine import PhysicsSession
from simgen.writers.dataset import DatasetWriter, prepare_output
from simgen.writers.images import ImageWriter


@dataclass(frozen=True)
class RunSummary:
    """What a run produced and how long it took."""

    out_dir: Path
    episodes: int
    frames: int
    labels: int
    elapsed_s: float
    renderer: str

    @property
    def frames_per_s(self) -> float:
        """Captured frames (all cameras) per second of wall time."""
        return self.frames / self.elapsed_s if self.elapsed_s > 0 else 0.0


#: Called after each episode with (episodes done, frames done so far).
ProgressCallback = Callable[[int, int], None]


def run_scenario(scenario: Scenario, scenario_path: Path, out_dir: Path, *,
                 overwrite: bool = False, progress: ProgressCallback | None = None) -> RunSummary:
    """Generate the dataset of ``scenario`` into ``out_dir``.

    The manifest ``dataset.json`` is written last, so a directory without it is an
    incomplete run (it also keeps a ``.simgen-incomplete`` marker until the end).
    """
    start = time.perf_counter()
    prepare_output(out_dir, overwrite)
    writer = DatasetWriter(out_dir, scenario.classes())
    images = ImageWriter()
    with PhysicsSession(scenario.renderer) as session:
        try:
            for index in range(scenario.episodes):
                plan = plan_episode(scenario, index, scenario_path.parent)
                record = run_episode(session, plan, scenario.seed, out_dir, images,
                                     scenario.labels.min_visible_px)
                writer.add(record)
                if progress is not None:
                    progress(index + 1, writer.n_frames)
            images.drain()
        finally:
            images.close()
        renderer = session.renderer_used
    writer.finish({
        "tool": "simgen", "version": __version__,
        "scenario": scenario_to_data(scenario),
        "root_seed": scenario.seed,
        "renderer": renderer,
    })
    return RunSummary(out_dir, scenario.episodes, writer.n_frames, writer.n_labels,
                      time.perf_counter() - start, renderer)


def frames_per_episode(scenario: Scenario) -> int | None:
    """Captured frames per episode across cameras when duration is fixed, else None."""
    from simgen.spec.distributions import Const

    if not isinstance(scenario.duration_s, Const) or not isinstance(
            scenario.physics.time_step_s, Const):
        return None
    dt = scenario.physics.time_step_s.value
    steps = max(int(round(scenario.duration_s.value / dt)), 1)
    every = max(int(round(1.0 / (scenario.capture.rate_hz * dt))), 1)
    return (steps // every + 1) * len(scenario.cameras)
