"""A run: every episode of a scenario, in order, into one dataset directory."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from simgen import __version__
from simgen.runner.episode import LabelSettings, run_episode
from simgen.sampling.episode import plan_episode
from simgen.sensors.labels import LabelRule
from simgen.sensors.silhouette import MeshLibrary
from simgen.spec import Scenario, scenario_to_data
from simgen.world.engine import PhysicsSession
from simgen.writers.dataset import DatasetWriter, prepare_output
from simgen.writers.export import export_dataset
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
    constraints: tuple[dict, ...] = ()  # per-constraint rejection statistics

    @property
    def frames_per_s(self) -> float:
        """Captured frames (all cameras) per second of wall time."""
        return self.frames / self.elapsed_s if self.elapsed_s > 0 else 0.0


#: Called after each captured frame and each episode with (episodes done, frames done).
ProgressCallback = Callable[[int, int], None]


class _Tally:
    """Counts episodes and frames (all cameras) and reports them to a progress callback."""

    def __init__(self, progress: ProgressCallback | None, cameras: int):
        self.progress = progress
        self.cameras = cameras
        self.episodes = 0
        self.frames = 0

    def frame(self) -> None:
        """One frame captured by every camera."""
        self.frames += self.cameras
        self._report()

    def episode(self) -> None:
        """One episode finished."""
        self.episodes += 1
        self._report()

    def _report(self) -> None:
        if self.progress is not None:
            self.progress(self.episodes, self.frames)


def run_scenario(scenario: Scenario, scenario_path: Path, out_dir: Path, *,
                 overwrite: bool = False, progress: ProgressCallback | None = None) -> RunSummary:
    """Generate the dataset of ``scenario`` into ``out_dir``.

    The manifest ``dataset.json`` is written last, so a directory without it is an
    incomplete run (it also keeps a ``.simgen-incomplete`` marker until the end).
    """
    start = time.perf_counter()
    prepare_output(out_dir, overwrite)
    writer = DatasetWriter(out_dir, scenario.classes(), scenario.require)
    semantic = scenario.semantic_classes()
    labels = LabelSettings(
        LabelRule(scenario.labels.min_visible_px, scenario.labels.min_visible_fraction),
        {name: i + 1 for i, name in enumerate(semantic)})
    images = ImageWriter()
    with PhysicsSession(scenario.renderer) as session, MeshLibrary() as meshes:
        try:
            tally = _Tally(progress, cameras=len(scenario.cameras))
            for index in range(scenario.episodes):
                plan = plan_episode(scenario, index, scenario_path.parent)
                record = run_episode(session, plan, scenario.seed, out_dir, images, labels,
                                     meshes, tally.frame)
                writer.add(record)
                tally.episode()
        except BaseException:
            writer.abort()
            raise
        finally:
            images.close()  # waits for every queued image before the tables are written
        renderer = session.renderer_used
    writer.finish({
        "tool": "simgen", "version": __version__,
        "scenario": scenario_to_data(scenario),
        "root_seed": scenario.seed,
        "renderer": renderer,
        "semantic_classes": semantic,
    })
    for fmt in dict.fromkeys(scenario.export.formats):
        export_dataset(out_dir, fmt, out_dir / "exports" / fmt, scenario.export.splits)
    return RunSummary(out_dir, scenario.episodes, writer.n_frames, writer.n_labels,
                      time.perf_counter() - start, renderer, tuple(writer.constraint_stats()))

