"""A worker: one PyBullet connection reused for every episode it is given.

``EpisodeWorker.produce`` plans, simulates, renders and labels one episode, writing its
images and its part (``episode.json``, ``trajectories.parquet``) into a staging folder.
The same object runs in the main process (``--workers 0``), in a local worker process
or in a Ray actor, so an episode's files never depend on where it was made.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from simgen.errors import write_error
from simgen.runner.episode import LabelSettings, run_episode
from simgen.sampling.episode import plan_episode
from simgen.sensors.labels import LabelRule
from simgen.sensors.silhouette import MeshLibrary
from simgen.spec import Scenario
from simgen.world.engine import PhysicsSession
from simgen.writers.images import ImageWriter
from simgen.writers.parts import episode_part, write_part

#: Environment variable naming faults to inject, for testing crash handling:
#: ``INDEX:KIND[:ATTEMPTS]`` items separated by commas. KIND is ``segfault`` (the worker
#: process gets SIGSEGV, as from a crash in the physics engine), ``kill`` (SIGKILL, as
#: from the out-of-memory killer) or ``exception``; the fault hits the first ATTEMPTS
#: attempts at episode INDEX (default: every attempt).
FAULTS_ENV = "SIMGEN_INJECT_FAULTS"


@dataclass(frozen=True)
class EpisodeDone:
    """What a worker reports for a finished (not yet committed) episode."""

    index: int
    frames: int  # captured frames, all cameras
    labels: int
    renderer: str
    seconds: float


class InjectedFault(RuntimeError):
    """The exception an injected ``exception`` fault raises."""


#: Frames whose buffers may wait for the writer threads (one job each, ~4 MB at
#: 640x480) before the simulation waits for them.
FRAMES_IN_FLIGHT = 8


class EpisodeWorker:
    """Makes episodes of one scenario with one physics connection, mesh cache and image
    writer, kept from one episode to the next."""

    def __init__(self, scenario: Scenario, base_dir: Path):
        self.scenario = scenario
        self.base_dir = base_dir
        semantic = scenario.semantic_classes()
        self.labels = LabelSettings(
            LabelRule(scenario.labels.min_visible_px, scenario.labels.min_visible_fraction),
            {name: i + 1 for i, name in enumerate(semantic)})
        self.faults = parse_faults(os.environ.get(FAULTS_ENV, ""))
        self._session: PhysicsSession | None = None
        self._meshes: MeshLibrary | None = None
        self._images: ImageWriter | None = None

    @property
    def session(self) -> PhysicsSession:
        """The physics connection, started on first use."""
        if self._session is None:
            self._session = PhysicsSession(self.scenario.renderer)
        return self._session

    def produce(self, index: int, attempt: int, staging: Path,
                on_frame: Callable[[], None] | None = None) -> EpisodeDone:
        """Make episode ``index`` into ``staging`` (images, then its part)."""
        start = time.perf_counter()
        self._inject(index, attempt)
        session = self.session
        if self._meshes is None:
            self._meshes = MeshLibrary()
        if self._images is None:
            self._images = ImageWriter(max_pending=FRAMES_IN_FLIGHT)
        plan = plan_episode(self.scenario, index, self.base_dir)
        try:
            record = run_episode(session, plan, self.scenario.seed, staging, self._images,
                                 self.labels, self._meshes, on_frame)
            self._images.drain()  # every image on disk before the part says it is whole
            write_part(staging, episode_part(record, session.renderer_used), record)
        except OSError as exc:  # disk full, permissions: the run stops, resumable
            raise write_error(exc.filename or staging, exc) from None
        labels = sum(len(fr.boxes) for fr in record.frames)
        return EpisodeDone(index, len(record.frames), labels, session.renderer_used,
                           time.perf_counter() - start)

    def _inject(self, index: int, attempt: int) -> None:
        kind = self.faults.get((index, attempt))
        if kind == "segfault":
            os.kill(os.getpid(), signal.SIGSEGV)
        elif kind == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        elif kind == "exception":
            raise InjectedFault(f"injected fault in episode {index} (attempt {attempt + 1})")

    def recover(self) -> None:
        """Start afresh after an episode failed part-way (its state may be anything)."""
        try:
            self.close()
        except Exception:  # noqa: BLE001 - the episode's own error is the one reported
            pass

    def close(self) -> None:
        """Release the connection, meshes and writer threads."""
        images, self._images = self._images, None
        meshes, self._meshes = self._meshes, None
        session, self._session = self._session, None
        try:
            if images is not None:
                images.close()
        finally:
            if meshes is not None:
                meshes.close()
            if session is not None:
                session.close()


def parse_faults(text: str) -> dict[tuple[int, int], str]:
    """``"3:segfault:1,5:exception"`` -> {(3, 0): "segfault", (5, 0..99): "exception"}."""
    faults: dict[tuple[int, int], str] = {}
    for item in filter(None, (s.strip() for s in text.split(","))):
        fields = item.split(":")
        if len(fields) not in (2, 3) or fields[1] not in ("segfault", "kill", "exception"):
            raise ValueError(f"{FAULTS_ENV}: cannot read {item!r} (INDEX:KIND[:ATTEMPTS])")
        attempts = int(fields[2]) if len(fields) == 3 else 100
        for attempt in range(attempts):
            faults[(int(fields[0]), attempt)] = fields[1]
    return faults
