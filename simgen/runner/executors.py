"""Where episodes run: in this process, in a pool of local worker processes, or on Ray.

An executor takes ``Task``s (an episode, which attempt, its staging folder) and reports
``Done`` or ``Failed`` for each. It never commits anything: the run commits a ``Done``
episode by renaming its staging folder. A worker process that dies (a segfault in the
physics engine, the out-of-memory killer) is reported as ``Failed`` for the episode it
was making and replaced.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import signal
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import wait as wait_for
from pathlib import Path
from typing import Protocol

from simgen.errors import SimgenError
from simgen.runner.worker import EpisodeDone, EpisodeWorker
from simgen.spec import Scenario, scenario_to_data


@dataclass(frozen=True)
class Task:
    """One attempt (0-based) at making episode ``index`` into ``staging``."""

    index: int
    attempt: int
    staging: Path


@dataclass(frozen=True)
class Done:
    task: Task
    result: EpisodeDone


@dataclass(frozen=True)
class Failed:
    """An attempt that failed; ``fatal`` errors (``SimgenError``: bad input, disk full)
    stop the run, the others are retried."""

    task: Task
    error: str
    fatal: bool = False


#: Called with an episode index each time a frame of it is captured (all cameras).
FrameCallback = Callable[[int], None]


class Executor(Protocol):
    name: str
    workers: int

    @property
    def free(self) -> int:
        """How many more tasks can start now."""

    def submit(self, task: Task) -> None: ...

    def wait(self) -> list[Done | Failed]:
        """Block until at least one running task ends; its outcomes."""

    def close(self) -> None: ...


def describe_exception(exc: BaseException) -> str:
    """``TypeError: message (file.py:123)`` for an episode's failure record."""
    where = ""
    frames = traceback.extract_tb(exc.__traceback__)
    if frames:
        where = f" ({Path(frames[-1].filename).name}:{frames[-1].lineno})"
    return f"{type(exc).__name__}: {exc}{where}"


def describe_exit(exitcode: int | None) -> str:
    """How a worker process ended, in words."""
    if exitcode is None:
        return "worker process vanished"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        why = {"SIGSEGV": "a crash in native code such as the physics engine",
               "SIGKILL": "killed from outside, e.g. by the out-of-memory killer",
               "SIGBUS": "a crash in native code", "SIGABRT": "aborted by native code"}
        return f"worker process died from {name}" + (f" ({why[name]})" if name in why else "")
    return f"worker process exited with code {exitcode}"


def attempt_task(worker: EpisodeWorker, task: Task,
             on_frame: Callable[[], None]) -> Done | Failed:
    """Run one task on ``worker``, turning exceptions into ``Failed``."""
    try:
        return Done(task, worker.produce(task.index, task.attempt, task.staging, on_frame))
    except SimgenError as exc:
        worker.recover()
        return Failed(task, str(exc), fatal=True)
    except Exception as exc:  # noqa: BLE001 - any bug in an episode is that episode's failure
        worker.recover()
        return Failed(task, describe_exception(exc))


class InlineExecutor:
    """Episodes one at a time in this process (``--workers 0``): no start-up cost and
    plain tracebacks for debugging, but a crash in native code ends the run."""

    name = "in-process"
    workers = 1

    def __init__(self, scenario: Scenario, base_dir: Path, on_frame: FrameCallback):
        self._worker = EpisodeWorker(scenario, base_dir)
        self._on_frame = on_frame
        self._task: Task | None = None

    @property
    def free(self) -> int:
        return 0 if self._task is not None else 1

    def submit(self, task: Task) -> None:
        self._task = task

    def wait(self) -> list[Done | Failed]:
        task, self._task = self._task, None
        if task is None:
            return []
        return [attempt_task(self._worker, task, lambda: self._on_frame(task.index))]

    def close(self) -> None:
        self._worker.close()


@dataclass
class _Process:
    process: multiprocessing.process.BaseProcess
    conn: multiprocessing.connection.Connection
    core: int | None  # the core it is pinned to (None: free)
    task: Task | None = None


def worker_cores(workers: int) -> list[int] | None:
    """The core each of ``workers`` processes is pinned to, or None to leave them free.

    With one worker per usable core the run has the machine to itself: pinning keeps
    each worker's render and writer threads on one core instead of spreading every
    worker's threads over all of them (measured: 5-10 % more frames per second with 2
    workers on 2 cores). With fewer workers they stay free to use the idle cores.
    """
    try:
        usable = sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return None
    return usable if workers == len(usable) > 1 else None


class ProcessPoolExecutor:
    """``workers`` local processes, each with one PyBullet connection kept across its
    episodes. Processes start on first use and die with the parent (even on SIGKILL)."""

    name = "local processes"

    def __init__(self, scenario: Scenario, base_dir: Path, workers: int,
                 on_frame: FrameCallback):
        if workers < 1:
            raise SimgenError(f"--workers must be at least 1 for a process pool, got {workers}")
        self.workers = workers
        self._scenario = scenario
        self._base_dir = base_dir
        self._on_frame = on_frame
        self._context = multiprocessing.get_context("spawn")
        self._processes: list[_Process] = []
        self._cores = worker_cores(workers)

    @property
    def free(self) -> int:
        idle = sum(p.task is None for p in self._processes)
        return idle + self.workers - len(self._processes)

    def submit(self, task: Task) -> None:
        proc = next((p for p in self._processes if p.task is None), None)
        if proc is None:
            proc = self._start()
        proc.task = task
        try:
            proc.conn.send(task)
        except OSError:
            pass  # the process died; wait() reports it

    def _start(self) -> _Process:
        core = None
        if self._cores is not None:  # a replacement takes the core of the one it replaces
            taken = {p.core for p in self._processes}
            core = next(c for c in self._cores if c not in taken)
        parent, child = self._context.Pipe()
        process = self._context.Process(
            target=_process_main, name="simgen-worker", daemon=True,
            args=(child, scenario_to_data(self._scenario), self._base_dir, os.getpid(), core))
        with _sigint_ignored():  # inherited through exec: Ctrl-C during the worker's
            process.start()      # start-up prints no traceback; the parent stops it
        child.close()
        proc = _Process(process, parent, core)
        self._processes.append(proc)
        return proc

    def wait(self) -> list[Done | Failed]:
        busy = [p for p in self._processes if p.task is not None]
        if not busy:
            return []
        wait_for([p.conn for p in busy] + [p.process.sentinel for p in busy])
        outcomes: list[Done | Failed] = []
        for proc in busy:
            outcome = self._read(proc)
            if outcome is not None:
                outcomes.append(outcome)
        return outcomes

    def _read(self, proc: _Process) -> Done | Failed | None:
        """Handle what ``proc`` sent; its outcome if its task ended."""
        task = proc.task
        assert task is not None
        try:
            while proc.conn.poll():
                kind, payload = proc.conn.recv()
                if kind == "frame":
                    self._on_frame(payload)
                elif kind == "done":
                    proc.task = None
                    return Done(task, payload)
                else:
                    proc.task = None
                    error, fatal = payload
                    return Failed(task, error, fatal)
        except (EOFError, OSError):
            pass
        if proc.process.is_alive():
            return None
        proc.process.join()
        self._processes.remove(proc)
        proc.conn.close()
        return Failed(task, describe_exit(proc.process.exitcode))

    def close(self) -> None:
        for proc in self._processes:
            with contextlib.suppress(OSError):
                proc.conn.send(None)
        for proc in self._processes:
            if proc.task is not None:
                proc.process.terminate()  # an interrupted run: its staging folder is dropped
            proc.process.join(timeout=10)
            if proc.process.is_alive():
                proc.process.kill()
                proc.process.join()
            proc.conn.close()
        self._processes = []


def _process_main(conn, scenario_data: dict, base_dir: Path, parent_pid: int,
                  core: int | None = None) -> None:
    """A worker process: make the episodes it is sent until told to stop, on ``core``
    alone if one is given (before any thread starts, so that they all stay there).

    The scenario travels as data (its edge-case models are built at run time and do not
    pickle) and is validated again here.
    """
    _die_with_parent(parent_pid)
    if core is not None:
        with contextlib.suppress(OSError):  # the core went away: run free
            os.sched_setaffinity(0, {core})
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C
    worker = EpisodeWorker(Scenario.model_validate(scenario_data), base_dir)
    try:
        while True:
            try:
                task = conn.recv()
            except (EOFError, OSError):
                break
            if task is None:
                break
            outcome = attempt_task(worker, task, lambda t=task: conn.send(("frame", t.index)))
            if isinstance(outcome, Done):
                conn.send(("done", outcome.result))
            else:
                conn.send(("failed", (outcome.error, outcome.fatal)))
    finally:
        worker.close()


@contextlib.contextmanager
def _sigint_ignored():
    """Ignore SIGINT in this process meanwhile (main thread only; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _die_with_parent(parent_pid: int) -> None:
    """Have the kernel kill this process when its parent dies (Linux), so no orphan keeps
    writing after the run was killed."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


def default_workers() -> int:
    """The number of cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def make_executor(kind: str, scenario: Scenario, base_dir: Path, workers: int | None,
                  on_frame: FrameCallback, ray_address: str | None = None) -> Executor:
    """The executor for ``kind`` (``local`` or ``ray``) and ``workers`` (None: one per
    core; 0 with ``local``: in this process)."""
    if kind == "ray":
        from simgen.runner.ray_executor import RayExecutor

        return RayExecutor(scenario, base_dir, workers, ray_address)
    if kind != "local":
        raise SimgenError(f"--executor: unknown executor {kind!r}; choose local or ray")
    if ray_address is not None:
        raise SimgenError("--ray-address needs --executor ray")
    if workers is None:
        workers = default_workers()
    if workers < 0:
        raise SimgenError(f"--workers must be 0 (in this process) or more, got {workers}")
    if workers == 0:
        return InlineExecutor(scenario, base_dir, on_frame)
    return ProcessPoolExecutor(scenario, base_dir, workers, on_frame)
