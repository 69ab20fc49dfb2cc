"""Scale: worker processes and Ray give the same bytes, runs survive SIGKILL and resume
exactly, crashed workers are retried then listed as failed, write errors stop cleanly."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import multiprocessing
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from conftest import ROOT, digest

from simgen.runner.run import run_scenario
from simgen.runner.worker import EpisodeWorker
from simgen.spec import load_scenario
from simgen.writers.dataset import INCOMPLETE_MARKER, MANIFEST, PERFORMANCE_LOG

SCENARIO = ROOT / "scenarios" / "driving_edge_cases.yaml"
#: Four short episodes with edge cases, weather and effects, small frames.
OVERRIDES = ["episodes=4", "duration_s=1.0", "capture.width=160", "capture.height=120"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict[str, str]:
    """The dataset made in the test process (``--workers 0``), uninterrupted."""
    out = tmp_path_factory.mktemp("reference") / "out"
    summary = run_scenario(load_scenario(SCENARIO, OVERRIDES), SCENARIO, out, workers=0)
    assert summary.episodes == 4 and not summary.failed
    files = digest(out)
    assert sum(name.endswith(".png") for name in files) > 4 * 4 * 4
    return files


def simgen(*args: str, env: dict | None = None, **kwargs) -> subprocess.Popen:
    """``simgen run`` on the test scenario in a child process."""
    cmd = [sys.executable, "-m", "simgen", "run", str(SCENARIO),
           *[f"--set={o}" for o in OVERRIDES], *args]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})}, **kwargs)


def finish(proc: subprocess.Popen, timeout: float = 300) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def test_one_worker_two_workers_and_in_process_write_the_same_bytes(tmp_path, reference):
    for workers in (1, 2):
        out = tmp_path / f"w{workers}"
        summary = run_scenario(load_scenario(SCENARIO, OVERRIDES), SCENARIO, out,
                               workers=workers)
        assert (summary.executor, summary.workers) == ("local processes", workers)
        assert digest(out) == reference
        # the run's timing is logged beside the data (the one file digest leaves out)
        (run,) = json.loads((out / PERFORMANCE_LOG).read_text())["runs"]
        assert (run["episodes_made"], run["frames_made"], run["workers"], run["resumed"]) == \
            (4, summary.frames, workers, False)
        assert run["frames_per_s"] == pytest.approx(summary.frames_per_s, rel=1e-3)


def test_progress_counts_frames_live_across_workers(tmp_path, reference):
    states = []
    summary = run_scenario(load_scenario(SCENARIO, OVERRIDES), SCENARIO, tmp_path / "out",
                           workers=2, progress=lambda s: states.append(dataclasses.replace(s)))
    last = states[-1]
    assert (last.done, last.total, last.failed, last.workers) == (4, 4, 0, 2)
    assert last.frames == summary.frames == summary.frames_made
    assert last.renderer == summary.renderer
    frames = [s.frames for s in states]
    assert frames == sorted(frames)  # never counts down
    # Frames are reported as the workers capture them, not only when episodes commit.
    per_episode = summary.frames // 4
    assert len(states) >= summary.frames // len(load_scenario(SCENARIO, OVERRIDES).cameras)
    assert any(s.frames % per_episode for s in states)


def _wait_for(predicate, proc: subprocess.Popen, timeout: float = 120) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        assert proc.poll() is None, f"the run ended before the kill point: {proc.stderr.read()}"
        assert time.monotonic() < end, "kill point never reached"
        time.sleep(0.005)


def _committed(out: Path) -> list[str]:
    folder = out / "episodes"
    return sorted(d.name for d in folder.iterdir() if not d.name.startswith(".")) \
        if folder.is_dir() else []


def _staging(out: Path) -> list[Path]:
    folder = out / "episodes"
    return [d for d in folder.iterdir() if d.name.endswith(".tmp")] if folder.is_dir() else []


def test_sigkill_at_several_points_then_resume_gives_the_uninterrupted_bytes(tmp_path,
                                                                             reference):
    out = tmp_path / "out"
    kill_points = [
        # mid-episode: a staging folder with images in it, nothing committed yet
        ("mid-episode", lambda: any(any(d.rglob("*.png")) for d in _staging(out))),
        # just after an episode was committed
        ("after a commit", lambda: len(_committed(out)) >= 2),
        # every episode committed: assembling the tables (or about to)
        ("while assembling", lambda: len(_committed(out)) == 4),
    ]
    flags: list[str] = []
    for what, point in kill_points:
        proc = simgen("--out", str(out), "--workers", "2", *flags)
        _wait_for(point, proc)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert (out / INCOMPLETE_MARKER).exists(), what
        # The workers die with the run: nothing under the folder changes afterwards.
        before = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
        time.sleep(0.5)
        assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == before, what
        flags = ["--resume"]
    code, stdout, stderr = finish(simgen("--out", str(out), "--workers", "2", "--resume"))
    assert code == 0, stderr
    assert "already there" in stdout
    assert digest(out) == reference
    # Resuming a finished dataset does nothing and says so.
    code, stdout, stderr = finish(simgen("--out", str(out), "--resume"))
    assert code == 0, stderr
    assert "done: 4 episodes, 4 already there" in stdout
    assert digest(out) == reference


def test_ctrl_c_stops_every_worker_and_the_run_resumes(tmp_path, reference):
    out = tmp_path / "out"
    proc = simgen("--out", str(out), "--workers", "2", start_new_session=True)
    _wait_for(lambda: any(any(d.rglob("*.png")) for d in _staging(out)), proc)
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C reaches the whole process group
    code, _, stderr = finish(proc)
    assert code == 130 and "continue it with --resume" in stderr
    assert "Traceback" not in stderr
    assert not _staging(out)  # the interrupted attempts' folders are gone
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
    time.sleep(0.5)
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == before
    code, _, stderr = finish(simgen("--out", str(out), "--workers", "2", "--resume"))
    assert code == 0, stderr
    assert digest(out) == reference


def test_a_non_empty_folder_is_refused_without_resume_or_overwrite(tmp_path, reference):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    code, _, stderr = finish(simgen("--out", str(out)))
    assert code == 1 and "not a simgen dataset" in stderr and "Traceback" not in stderr
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    # An interrupted dataset is refused too, naming --resume, and left as it was.
    other = tmp_path / "other"
    run_scenario(load_scenario(SCENARIO, OVERRIDES), SCENARIO, other, workers=0)
    (other / INCOMPLETE_MARKER).write_text(json.dumps({"version": "x"}))
    before = digest(other)
    code, _, stderr = finish(simgen("--out", str(other)))
    assert code == 1 and "--resume to continue it" in stderr
    assert digest(other) == before


def test_crashed_workers_are_retried_then_failures_are_listed(tmp_path, reference):
    out = tmp_path / "out"
    # Episode 1's worker segfaults once and episode 2's is SIGKILLed once (both retried);
    # episode 3 raises on every attempt.
    faults = {"SIMGEN_INJECT_FAULTS": "1:segfault:1,2:kill:1,3:exception"}
    code, stdout, stderr = finish(simgen("--out", str(out), "--workers", "2", "--retries", "1",
                                         env=faults))
    assert code == 3, stderr
    assert "3 failed attempts (crashed or raised) tried again" in stdout
    assert "1 episode failed" in stderr and "episode 3 (2 attempts): InjectedFault" in stderr
    assert "Traceback" not in stderr
    manifest = json.loads((out / MANIFEST).read_text())
    statuses = {ep["index"]: ep for ep in manifest["episodes"]}
    assert [statuses[i]["status"] for i in range(4)] == ["complete"] * 3 + ["failed"]
    assert statuses[3]["attempts"] == 2 and "injected fault" in statuses[3]["error"]
    assert manifest["complete"] is False and manifest["counts"]["failed"] == 1
    assert (out / INCOMPLETE_MARKER).exists()  # not a finished dataset
    # The crashed-then-retried episodes are exactly what an uncrashed run makes.
    got = digest(out)
    for index in (0, 1, 2):
        prefix = f"episodes/{index:06d}/"
        assert {k: v for k, v in got.items() if k.startswith(prefix)} == \
            {k: v for k, v in reference.items() if k.startswith(prefix)}
    assert not any(k.startswith("episodes/000003") for k in got)
    check = subprocess.run([sys.executable, "-m", "simgen", "check", str(out)],
                           capture_output=True, text=True, timeout=300)
    assert check.returncode == 2
    problems = [line for line in check.stdout.splitlines() if line.startswith(MANIFEST)]
    assert problems == [f"{MANIFEST}: episode 3 failed after 2 attempts: "
                        f"{statuses[3]['error']} (simgen run --resume tries it again)"]
    # Once the cause is gone, --resume makes the failed episode and completes the dataset.
    code, _, stderr = finish(simgen("--out", str(out), "--workers", "2", "--resume"))
    assert code == 0, stderr
    assert digest(out) == reference


def _limit_file_size(limit_bytes: int):
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes fail with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))
    return apply


@pytest.mark.parametrize("limit_kib", [4, 60])
def test_a_write_error_stops_cleanly_and_the_run_resumes(tmp_path, reference, limit_kib):
    """No file may grow past the limit (as when the disk fills): the run stops with one
    line naming the file, and --resume afterwards completes the exact dataset."""
    out = tmp_path / "out"
    proc = simgen("--out", str(out), "--workers", "2",
                  preexec_fn=_limit_file_size(limit_kib * 1024))
    code, _, stderr = finish(proc)
    assert code == 1, stderr
    assert "cannot write: File too large" in stderr and "--resume" in stderr
    assert f"error: {out}/" in stderr  # names the file (or the folder) that failed
    assert "Traceback" not in stderr and len(stderr.strip().splitlines()) == 1
    assert not (out / MANIFEST).exists() or (out / INCOMPLETE_MARKER).exists()
    code, _, stderr = finish(simgen("--out", str(out), "--workers", "2", "--resume"))
    assert code == 0, stderr
    assert digest(out) == reference


def test_a_full_disk_stops_cleanly_and_the_run_resumes_once_there_is_space(tmp_path,
                                                                           reference):
    """A real ENOSPC on a small tmpfs (needs the right to mount; skipped without it)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=400k", "tmpfs", str(disk)],
                             capture_output=True)
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (not root, or no CAP_SYS_ADMIN)")
    try:
        out = disk / "out"
        code, _, stderr = finish(simgen("--out", str(out), "--workers", "2"))
        assert code == 1, stderr
        assert "cannot write: No space left on device" in stderr and "--resume" in stderr
        assert "Traceback" not in stderr and len(stderr.strip().splitlines()) == 1
        subprocess.run(["mount", "-o", "remount,size=64m", str(disk)], check=True)
        code, _, stderr = finish(simgen("--out", str(out), "--workers", "2", "--resume"))
        assert code == 0, stderr
        assert digest(out) == reference
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ray_cluster_writes_the_same_bytes_and_survives_a_crash(tmp_path, reference):
    pytest.importorskip("ray")
    port = _free_port()
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0",
           # Episode 2's actor segfaults on its first attempt; Ray reports the dead actor.
           "SIMGEN_INJECT_FAULTS": "2:segfault:1"}
    ray = Path(sys.executable).with_name("ray")
    # Ray's socket paths must stay under 108 bytes: a short folder of its own.
    ray_tmp = tempfile.mkdtemp(prefix="sg-ray-", dir="/tmp")
    start = subprocess.run(
        [str(ray), "start", "--head", f"--port={port}", "--num-cpus=2",
         "--include-dashboard=false", f"--temp-dir={ray_tmp}"],
        capture_output=True, text=True, env=env, timeout=120)
    assert start.returncode == 0, start.stderr
    try:
        out = tmp_path / "out"
        code, stdout, stderr = finish(simgen("--out", str(out), "--executor", "ray",
                                             "--ray-address", f"127.0.0.1:{port}"))
        assert code == 0, stderr
        assert "2 workers ray" in stdout
        assert "1 failed attempt (crashed or raised) tried again" in stdout
        assert digest(out) == reference
    finally:
        subprocess.run([str(ray), "stop", "--force"], capture_output=True, env=env,
                       timeout=120)
        shutil.rmtree(ray_tmp, ignore_errors=True)


def test_ray_missing_names_the_extra(tmp_path):
    code = ("import sys; sys.modules['ray'] = None; sys.argv = ['simgen', 'run', "
            f"{str(SCENARIO)!r}, '--executor', 'ray', '--out', {str(tmp_path / 'o')!r}]; "
            "from simgen.cli import main; main()")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 1
    assert "pip install 'simgen[ray]'" in proc.stderr and "Traceback" not in proc.stderr


def test_an_episode_does_not_depend_on_what_its_worker_made_before(tmp_path):
    """PyBullet's EGL renderer lights a render with the light of earlier calls: unless
    flushed, an episode's first frames showed the previous episode's sun, so the bytes
    depended on which worker made the episode and what it had made before."""
    path = ROOT / "scenarios" / "driving_urban.yaml"
    scenario = load_scenario(path, ["episodes=2", "duration_s=0.5", "capture.width=320",
                                    "capture.height=240"])
    seasoned, fresh = EpisodeWorker(scenario, path.parent), EpisodeWorker(scenario, path.parent)
    try:
        seasoned.produce(0, 0, tmp_path / "before")
        after = seasoned.produce(1, 0, tmp_path / "after")
        fresh.produce(1, 0, tmp_path / "fresh")
    finally:
        seasoned.close()
        fresh.close()
    if after.renderer != "egl":
        pytest.skip("only the EGL renderer keeps light state between calls")
    made = digest(tmp_path / "after")
    assert sum(name.endswith(".png") for name in made) >= 8
    assert made == digest(tmp_path / "fresh")


def _worker_affinities(workers: int, out: Path) -> list[frozenset[int]]:
    """The cores each worker process may run on, read while the run makes frames."""
    seen: dict[int, frozenset[int]] = {}

    def look(_state) -> None:
        for child in multiprocessing.active_children():
            if child.name == "simgen-worker":
                with contextlib.suppress(OSError):  # it may just have exited
                    seen[child.pid] = frozenset(os.sched_getaffinity(child.pid))

    summary = run_scenario(load_scenario(SCENARIO, OVERRIDES), SCENARIO, out,
                           workers=workers, progress=look)
    assert not summary.failed
    return sorted(seen.values(), key=sorted)


def test_one_worker_per_core_pins_each_worker_to_its_own_core(tmp_path):
    cores = os.sched_getaffinity(0)
    if len(cores) < 2:
        pytest.skip("needs 2 cores")
    assert _worker_affinities(len(cores), tmp_path / "all") == [frozenset({c})
                                                                for c in sorted(cores)]
    # fewer workers than cores: they stay free to use the idle ones
    assert _worker_affinities(len(cores) - 1, tmp_path / "fewer") == [
        frozenset(cores)] * (len(cores) - 1)
