"""A run: every episode of a scenario, made by an executor, committed one by one, and the
dataset tables assembled from the committed episodes in index order.

Nothing is lost or duplicated whatever happens to the run: each episode is committed
atomically (``DatasetStore``), a resumed run makes only the episodes that are not
committed, and the tables are always assembled from the episodes' parts in index order,
so a resumed run, a run on 2 workers and a run on Ray all write the same bytes.
"""

from __future__ import annotations

import json
import os
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from simgen import __version__
from simgen.errors import SimgenError, write_error
from simgen.runner.executors import Done, Executor, Task, make_executor
from simgen.sampling.seeds import episode_seeds
from simgen.sampling.sweep import sweep_record
from simgen.spec import Scenario, scenario_to_data
from simgen.writers.dataset import (
    MANIFEST,
    PERFORMANCE_LOG,
    DatasetAssembler,
    atomic_write_text,
)
from simgen.writers.export import export_dataset
from simgen.writers.store import DatasetStore

#: Attempts at an episode after its first one fails (crash or exception).
DEFAULT_RETRIES = 2


@dataclass(frozen=True)
class RunSummary:
    """What a run produced and how long it took."""

    out_dir: Path
    episodes: int  # complete episodes in the dataset
    frames: int  # frames (all cameras) in the dataset
    labels: int
    elapsed_s: float
    renderer: str
    constraints: tuple[dict, ...] = ()  # per-constraint rejection statistics
    made: int = 0  # episodes made by this run (the others were there already: --resume)
    frames_made: int = 0
    failed: tuple[dict, ...] = ()  # {"index", "seed", "error", "attempts"} per failed episode
    executor: str = "in-process"
    workers: int = 1
    retried: int = 0  # failed attempts that were tried again

    @property
    def frames_per_s(self) -> float:
        """Frames (all cameras) made by this run per second of wall time."""
        return self.frames_made / self.elapsed_s if self.elapsed_s > 0 else 0.0


@dataclass
class RunProgress:
    """What the progress display shows: counts across all workers."""

    total: int  # episodes in the scenario
    done: int = 0  # committed, including those found on --resume
    failed: int = 0
    frames: int = 0  # frames made by this run (all cameras), including episodes in flight
    renderer: str = ""
    workers: int = 1
    retries: int = 0


ProgressCallback = Callable[[RunProgress], None]


@dataclass
class _Tally:
    """Counts frames per episode in flight so a failed attempt's frames are not counted."""

    state: RunProgress
    cameras: int
    callback: ProgressCallback | None
    committed_frames: int = 0
    in_flight: dict[int, int] = field(default_factory=dict)

    def frame(self, index: int) -> None:
        self.in_flight[index] = self.in_flight.get(index, 0) + self.cameras
        self._report()

    def done(self, index: int, frames: int, renderer: str) -> None:
        self.in_flight.pop(index, None)
        self.committed_frames += frames
        self.state.done += 1
        self.state.renderer = self.state.renderer or renderer
        self._report()

    def failed(self, index: int, final: bool) -> None:
        self.in_flight.pop(index, None)
        if final:
            self.state.failed += 1
        else:
            self.state.retries += 1
        self._report()

    def _report(self) -> None:
        self.state.frames = self.committed_frames + sum(self.in_flight.values())
        if self.callback is not None:
            self.callback(self.state)


def run_scenario(scenario: Scenario, scenario_path: Path, out_dir: Path, *,
                 overwrite: bool = False, resume: bool = False, workers: int | None = 0,
                 executor: str = "local", ray_address: str | None = None,
                 retries: int = DEFAULT_RETRIES,
                 progress: ProgressCallback | None = None) -> RunSummary:
    """Generate the dataset of ``scenario`` into ``out_dir``.

    ``workers``: local worker processes (None: one per core; 0: in this process) or, with
    ``executor="ray"``, Ray actors (None: one per CPU of the cluster). An episode that
    fails (an exception, or its worker process dying) is tried ``retries`` more times,
    then listed as failed in the manifest; the other episodes are still made and
    ``RunSummary.failed`` lists the failures. ``resume`` continues an interrupted run.
    """
    start = time.perf_counter()
    started_utc = datetime.now(timezone.utc).isoformat(timespec="seconds")
    if retries < 0:
        raise SimgenError(f"--retries must be 0 or more, got {retries}")
    data = scenario_to_data(scenario)
    store = DatasetStore.open(out_dir, data, overwrite=overwrite, resume=resume)
    if store.complete:  # --resume on a finished dataset: nothing to do
        return _finished_summary(out_dir, time.perf_counter() - start)
    committed = store.committed()
    todo = [i for i in range(scenario.episodes) if i not in committed]
    state = RunProgress(total=scenario.episodes, done=len(committed))
    tally = _Tally(state, len(scenario.cameras), progress)
    failed: dict[int, dict] = {}
    name, n_workers = "in-process", 1
    if todo:
        pool = make_executor(executor, scenario, scenario_path.parent, workers, tally.frame,
                             ray_address)
        name, n_workers = pool.name, pool.workers
        state.workers = n_workers
        try:
            failed = _make_episodes(pool, store, todo, scenario.seed, retries, tally)
        finally:
            pool.close()
            store.clean_staging()  # what an interrupted run's attempts left
    try:
        assembler = _assemble(scenario, out_dir, store, failed)
    except OSError as exc:
        raise write_error(out_dir, exc) from None
    summary = RunSummary(out_dir, len(committed) + len(todo) - len(failed), assembler.n_frames,
                         assembler.n_labels, time.perf_counter() - start, assembler.renderer,
                         tuple(assembler.constraint_stats()), made=len(todo) - len(failed),
                         frames_made=tally.committed_frames,
                         failed=tuple({"index": i, **f} for i, f in sorted(failed.items())),
                         executor=name, workers=n_workers, retried=state.retries)
    try:
        _log_performance(out_dir, summary, started_utc, resumed=bool(committed))
    except OSError as exc:
        raise write_error(out_dir / PERFORMANCE_LOG, exc) from None
    if not failed:
        for fmt in dict.fromkeys(scenario.export.formats):
            export_dataset(out_dir, fmt, out_dir / "exports" / fmt, scenario.export.splits)
    return summary


def _log_performance(out_dir: Path, summary: RunSummary, started_utc: str,
                     resumed: bool) -> None:
    """Append this run's timing to ``performance.json`` (a resumed dataset lists each run
    that made part of it). The only file of a dataset that differs between identical runs."""
    path = out_dir / PERFORMANCE_LOG
    runs = json.loads(path.read_text(encoding="utf-8"))["runs"] if path.exists() else []
    runs.append({
        "started_utc": started_utc, "elapsed_s": round(summary.elapsed_s, 3),
        "episodes_made": summary.made, "frames_made": summary.frames_made,
        "frames_per_s": round(summary.frames_per_s, 3), "failed": len(summary.failed),
        "retried": summary.retried, "resumed": resumed, "executor": summary.executor,
        "workers": summary.workers, "renderer": summary.renderer,
        "cpu_count": os.cpu_count(), "simgen": __version__})
    atomic_write_text(path, json.dumps({"runs": runs}, indent=2))


def _make_episodes(pool: Executor, store: DatasetStore, todo: list[int], root_seed: int,
                   retries: int, tally: _Tally) -> dict[int, dict]:
    """Run every episode of ``todo`` on ``pool``, committing each as it finishes; the
    episodes that failed every attempt, by index."""
    queue = deque((index, 0) for index in todo)
    running = 0
    failed: dict[int, dict] = {}
    while queue or running:
        while queue and pool.free > 0:
            index, attempt = queue.popleft()
            pool.submit(Task(index, attempt, store.staging(index, attempt)))
            running += 1
        for outcome in pool.wait():
            running -= 1
            task = outcome.task
            if isinstance(outcome, Done):
                store.commit(task.index, task.staging)
                tally.done(task.index, outcome.result.frames, outcome.result.renderer)
                continue
            store.discard(task.staging)
            if outcome.fatal:
                raise SimgenError(outcome.error)
            if task.attempt < retries:
                queue.appendleft((task.index, task.attempt + 1))
                tally.failed(task.index, final=False)
                continue
            seed = episode_seeds(root_seed, task.index).seed
            failed[task.index] = {"seed": seed, "error": outcome.error,
                                  "attempts": task.attempt + 1}
            store.record_failure(task.index, seed, outcome.error, task.attempt + 1)
            tally.failed(task.index, final=True)
    return failed


def _assemble(scenario: Scenario, out_dir: Path, store: DatasetStore,
              failed: dict[int, dict]) -> DatasetAssembler:
    """Write the tables, COCO file and manifest from every committed episode."""
    assembler = DatasetAssembler(out_dir, scenario.classes(), scenario.require)
    try:
        for index in range(scenario.episodes):
            if index in failed:
                f = failed[index]
                assembler.add_failed(index, f["seed"], f["error"], f["attempts"])
            else:
                assembler.add(store.episodes_dir / f"{index:06d}")
        assembler.finish({
            "tool": "simgen", "version": __version__,
            "scenario": store.scenario_data,
            "root_seed": scenario.seed,
            "semantic_classes": scenario.semantic_classes(),
            **({"sweep": sweep_record(scenario)} if scenario.sweep is not None else {}),
        }, complete=not failed)
    except BaseException:
        assembler.abort()
        raise
    return assembler


def _finished_summary(out_dir: Path, elapsed_s: float) -> RunSummary:
    """The summary of a dataset that was already complete."""
    manifest = json.loads((out_dir / MANIFEST).read_text(encoding="utf-8"))
    counts = manifest["counts"]
    return RunSummary(out_dir, counts["episodes"], counts["frames"], counts["labels"],
                      elapsed_s, manifest["renderer"], tuple(manifest.get("constraints", ())))
