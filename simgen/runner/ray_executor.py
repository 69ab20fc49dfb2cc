"""Episodes as tasks on Ray actors (``--executor ray``; the ``simgen[ray]`` extra).

Each actor holds one ``EpisodeWorker`` (one PyBullet connection) for its lifetime and
reserves one CPU. An actor makes an episode in a temporary folder on its own node and
returns the files, which the driver writes into the staging folder and commits: the
cluster's nodes need simgen installed and the scenario's own asset files at the same
paths, but no shared file system. An actor that dies (a segfault, the out-of-memory
killer, a lost node) fails the episode it was making and is replaced.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from simgen.errors import SimgenError
from simgen.runner.executors import Done, Failed, Task, attempt_task
from simgen.runner.worker import EpisodeWorker
from simgen.spec import Scenario, scenario_to_data

RAY_MISSING = ("--executor ray needs Ray, which is not installed; install the extra: "
               "pip install 'simgen[ray]'")


def _ray():
    try:
        import ray
    except ImportError:
        raise SimgenError(RAY_MISSING) from None
    return ray


class EpisodeActor:
    """The body of a Ray actor: one worker, episodes made in a local temporary folder."""

    def __init__(self, scenario_data: dict, base_dir: str):
        self._worker = EpisodeWorker(Scenario.model_validate(scenario_data), Path(base_dir))
        self._tmp = Path(tempfile.mkdtemp(prefix="simgen-ray-"))

    def produce(self, index: int, attempt: int) -> tuple[Done | Failed, dict[str, bytes]]:
        """Make one episode; its outcome and files (relative path -> bytes)."""
        staging = self._tmp / f"{index:06d}.{attempt}"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        try:
            outcome = attempt_task(self._worker, Task(index, attempt, staging), lambda: None)
            files: dict[str, bytes] = {}
            if isinstance(outcome, Done):
                for path in sorted(staging.rglob("*")):
                    if path.is_file():
                        files[path.relative_to(staging).as_posix()] = path.read_bytes()
            return outcome, files
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def close(self) -> None:
        self._worker.close()
        shutil.rmtree(self._tmp, ignore_errors=True)


class RayExecutor:
    """``workers`` Ray actors (None or 0: one per CPU of the cluster)."""

    name = "ray"

    def __init__(self, scenario: Scenario, base_dir: Path, workers: int | None,
                 address: str | None):
        ray = _ray()
        self._ray = ray
        self._started = not ray.is_initialized()
        if self._started:
            try:
                ray.init(address=address, include_dashboard=False, log_to_driver=False,
                         configure_logging=False)
            except (ConnectionError, ValueError, RuntimeError) as exc:
                where = address or "a local instance"
                raise SimgenError(f"--executor ray: cannot connect to {where}: {exc}") from None
        cpus = int(ray.cluster_resources().get("CPU", 1))
        self.workers = workers if workers else max(cpus, 1)
        self._actor_class = ray.remote(num_cpus=1, max_restarts=0)(EpisodeActor)
        self._scenario = ray.put(scenario_to_data(scenario))  # models built at run time
        # do not pickle; actors validate the data again
        self._base_dir = str(base_dir.resolve())
        self._idle: list[Any] = []
        self._actors = 0
        self._running: dict[Any, tuple[Any, Task]] = {}  # object ref -> (actor, task)

    @property
    def free(self) -> int:
        return len(self._idle) + self.workers - self._actors

    def submit(self, task: Task) -> None:
        if self._idle:
            actor = self._idle.pop()
        else:
            actor = self._actor_class.remote(self._scenario, self._base_dir)
            self._actors += 1
        self._running[actor.produce.remote(task.index, task.attempt)] = (actor, task)

    def wait(self) -> list[Done | Failed]:
        if not self._running:
            return []
        ready, _ = self._ray.wait(list(self._running), num_returns=1)
        outcomes: list[Done | Failed] = []
        for ref in ready:
            actor, task = self._running.pop(ref)
            try:
                outcome, files = self._ray.get(ref)
            except self._ray.exceptions.RayError as exc:  # the actor died
                self._ray.kill(actor, no_restart=True)
                self._actors -= 1
                outcomes.append(Failed(task, _actor_death(exc)))
                continue
            self._idle.append(actor)
            if isinstance(outcome, Done):
                for rel, blob in files.items():
                    path = task.staging / rel
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(blob)
                outcome = Done(task, outcome.result)
            else:
                outcome = Failed(task, outcome.error, outcome.fatal)
            outcomes.append(outcome)
        return outcomes

    def close(self) -> None:
        for actor in self._idle:
            try:
                self._ray.get(actor.close.remote(), timeout=30)
            except Exception:  # noqa: BLE001 - a dead actor has nothing to close
                pass
        for actor in self._idle + [actor for actor, _ in self._running.values()]:
            self._ray.kill(actor, no_restart=True)  # busy ones: an interrupted run
        self._idle, self._running, self._actors = [], {}, 0
        if self._started:
            self._ray.shutdown()


def _actor_death(exc: Exception) -> str:
    """One line on why a Ray actor died."""
    text = str(exc).strip().splitlines()
    first = next((line for line in text if line.strip()), type(exc).__name__)
    return f"Ray worker died ({type(exc).__name__}): {first[:200]}"
