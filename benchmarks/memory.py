"""Benchmark: one worker's memory, file descriptors, threads and PyBullet connections
over many episodes.

``worker_profile`` starts one fresh Python process that makes episodes 0, 1, 2, ... of a
scenario one after another with a single ``EpisodeWorker`` (one physics session, mesh
library and image writer kept across episodes, as in a ``--workers N`` run), each into
its own staging folder that is deleted once the episode is made, so disk use stays
small. After the episodes named by the checkpoints it records (after ``gc.collect()``):

- ``peak_rss_mib``: peak resident memory so far (``getrusage`` ``ru_maxrss``);
- ``rss_mib``: resident memory now (``/proc/self/statm``);
- ``fds``: open file descriptors (``/proc/self/fd``);
- ``threads``: live Python threads; ``os_threads``: every thread of the process,
  native ones included (Mesa llvmpipe's rasterizer threads, one set per EGL context);
- ``maps``: memory mappings (``/proc/self/maps``; a leaked GL context or library keeps
  its mappings);
- ``connections``: connected PyBullet clients (the session's, and the mesh library's
  private one), probed by id: with EGL a textured episode gets a fresh connection, so
  ids come and go and only the connected ones are counted;
- ``seconds``, ``mean_episode_s``: time since the first episode started and the mean
  episode time so far.

The process has the same imports as a worker process; the checkpoints after 10 and 200
episodes bound growth with the number of episodes, 1,000 short episodes bound leaks:

    python benchmarks/memory.py [--episodes 1000] [--scenario robot_tabletop]
        [--set capture.width=64 ...]

The default overrides make an episode short (64x48 frames, 0.1 s: one frame per camera)
so that 1,000 of them take minutes; the renderer is the scenario's (``auto``: EGL where
its plugin loads).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: A short episode: small frames, one capture per camera.
SHORT_EPISODE = ["capture.width=64", "capture.height=48", "duration_s=0.1"]
#: Episode counts at which ``main`` reports figures.
CHECKPOINTS = (1, 10, 200, 1000)
#: How much the peak RSS may grow from 10 to 200 episodes (the issue's 10%).
PEAK_RSS_TOLERANCE = 0.10
#: Marks the child's result lines on stdout (PyBullet prints there too).
_MARK = "@@simgen-memory@@ "


def worker_profile(scenario_path: Path, overrides: list[str], checkpoints: list[int], *,
                   timeout_s: float | None = None) -> list[dict]:
    """Make episodes ``0 .. max(checkpoints) - 1`` with one ``EpisodeWorker`` in a fresh
    Python process and return one record per checkpoint (in increasing order).

    Each record: ``episodes`` (done so far), ``peak_rss_mib``, ``rss_mib``, ``fds``,
    ``threads``, ``os_threads``, ``maps``, ``connections``, ``max_client_id``,
    ``seconds``, ``mean_episode_s``, ``renderer``. ``overrides`` are ``--set`` items
    (``"capture.width=64"``); ``episodes=`` is set here. Raises ``RuntimeError`` (with the
    child's output) if the child fails.
    """
    wanted = sorted({int(n) for n in checkpoints})
    if not wanted or wanted[0] < 1:
        raise ValueError(f"checkpoints must be episode counts of 1 or more, got {checkpoints}")
    request = {"scenario": str(Path(scenario_path).resolve()), "overrides": list(overrides),
               "checkpoints": wanted}
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child",
                           json.dumps(request)], capture_output=True, text=True,
                          timeout=timeout_s, check=False)
    records = [json.loads(line.split(_MARK, 1)[1]) for line in proc.stdout.splitlines()
               if _MARK in line]
    if proc.returncode != 0 or len(records) != len(wanted):
        raise RuntimeError(f"memory profile child failed (exit {proc.returncode}):\n"
                           f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return records


def _child(request: dict) -> None:
    """In the fresh process: make the episodes and print a record at each checkpoint."""
    import shutil
    import tempfile

    from simgen.runner.worker import EpisodeWorker
    from simgen.spec import load_scenario

    path = Path(request["scenario"])
    checkpoints = set(request["checkpoints"])
    total = max(checkpoints)
    scenario = load_scenario(path, [*request["overrides"], f"episodes={total}"])
    worker = EpisodeWorker(scenario, path.parent)
    max_client = 0
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="simgen_memory_") as tmp:
        try:
            for index in range(total):
                staging = Path(tmp) / f"{index:06d}"
                staging.mkdir()
                worker.produce(index, 0, staging)
                shutil.rmtree(staging)
                # Every client this worker has had, including its mesh library's private one.
                max_client = max(max_client, worker.session.client, _mesh_client(worker))
                done = index + 1
                if done in checkpoints:
                    seconds = time.perf_counter() - start
                    record = {"episodes": done, **_process_figures(max_client),
                              "seconds": round(seconds, 2),
                              "mean_episode_s": round(seconds / done, 4),
                              "renderer": worker.session.renderer_used}
                    print(_MARK + json.dumps(record), flush=True)
        finally:
            worker.close()


def _mesh_client(worker) -> int:
    """The mesh library's private client id (-1 before it connects)."""
    meshes = getattr(worker, "_meshes", None)
    return getattr(meshes, "_client", -1) if meshes is not None else -1


def _process_figures(max_client_id: int) -> dict:
    """This process's memory, descriptors, threads and PyBullet connections now."""
    from simgen.world.bullet import p

    gc.collect()
    page_mib = os.sysconf("SC_PAGE_SIZE") / 2**20
    with open("/proc/self/statm") as fh:
        rss_pages = int(fh.read().split()[1])
    with open("/proc/self/status") as fh:
        os_threads = next(int(line.split()[1]) for line in fh if line.startswith("Threads:"))
    with open("/proc/self/maps") as fh:
        maps = sum(1 for _ in fh)
    probe = max(max_client_id + 16, 64)
    connections = sum(bool(p.isConnected(physicsClientId=i)) for i in range(probe))
    return {
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "rss_mib": round(rss_pages * page_mib, 1),
        "fds": len(os.listdir("/proc/self/fd")),
        "threads": threading.active_count(),
        "os_threads": os_threads,
        "maps": maps,
        "connections": connections,
        "max_client_id": max_client_id,
    }


def _verdicts(by_count: dict[int, dict]) -> list[str]:
    """The issue's checks on the records at 10, 200 and the last checkpoint."""
    lines = []
    if 10 in by_count and 200 in by_count:
        a, b = by_count[10]["peak_rss_mib"], by_count[200]["peak_rss_mib"]
        growth = b / a - 1
        ok = growth <= PEAK_RSS_TOLERANCE
        lines.append(f"peak RSS 10 -> 200 episodes: {a:.1f} -> {b:.1f} MiB ({growth:+.1%}; "
                     f"target within {PEAK_RSS_TOLERANCE:.0%}): {'ok' if ok else 'MISS'}")
    last = max(by_count)
    if 10 in by_count and last > 10:
        for key in ("fds", "connections", "threads", "os_threads"):
            a, b = by_count[10][key], by_count[last][key]
            lines.append(f"{key} at 10 and {last} episodes: {a} and {b}: "
                         f"{'ok' if a == b else 'MISS'}")
        # Informational: the allocator maps and unmaps large blocks as it pleases.
        lines.append(f"memory maps at 10 and {last} episodes: {by_count[10]['maps']} and "
                     f"{by_count[last]['maps']}")
    if 200 in by_count and last > 200:
        a, b = by_count[200]["rss_mib"], by_count[last]["rss_mib"]
        per_k = (b - a) / (last - 200) * 1000
        lines.append(f"RSS 200 -> {last} episodes: {a:.1f} -> {b:.1f} MiB "
                     f"({b - a:+.1f} MiB, {per_k:+.2f} MiB per 1,000 episodes)")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=1000)
    parser.add_argument("--scenario", default="robot_tabletop",
                        help="a scenario name under scenarios/ or a YAML path")
    parser.add_argument("--set", dest="overrides", action="append", default=None,
                        help=f"scenario override (repeatable; default: {' '.join(SHORT_EPISODE)})")
    args = parser.parse_args()
    path = Path(args.scenario)
    if not path.suffix:
        path = ROOT / "scenarios" / f"{args.scenario}.yaml"
    if not path.is_file():
        from simgen.errors import did_you_mean

        names = [s.stem for s in (ROOT / "scenarios").glob("*.yaml")]
        sys.exit(f"no scenario {args.scenario!r}{did_you_mean(args.scenario, names)}")
    overrides = SHORT_EPISODE if args.overrides is None else args.overrides
    checkpoints = sorted({n for n in CHECKPOINTS if n < args.episodes} | {args.episodes})
    print(f"{path.stem} with {' '.join(overrides)}: {args.episodes} episodes in one worker "
          f"process, checkpoints {checkpoints}", flush=True)
    records = worker_profile(path, overrides, checkpoints)
    print(f"renderer {records[-1]['renderer']}, "
          f"{records[-1]['mean_episode_s']:.3f} s per episode\n")
    print("| episodes | peak RSS MiB | RSS MiB | fds | threads (Python / all) | maps "
          "| PyBullet connections (max id) | s |")
    print("|---|---|---|---|---|---|---|---|")
    for r in records:
        print(f"| {r['episodes']} | {r['peak_rss_mib']:.1f} | {r['rss_mib']:.1f} | {r['fds']} "
              f"| {r['threads']} / {r['os_threads']} | {r['maps']} "
              f"| {r['connections']} ({r['max_client_id']}) | {r['seconds']:.0f} |")
    print()
    for line in _verdicts({r["episodes"]: r for r in records}):
        print(line)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        _child(json.loads(sys.argv[2]))
    else:
        main()
