"""A worker's memory does not grow with the number of episodes it makes, and it leaks no
PyBullet connections, file descriptors or threads (``benchmarks/memory.py`` measures the
same over 1,000 episodes)."""

from __future__ import annotations

import sys

from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
from memory import SHORT_EPISODE, worker_profile  # noqa: E402


def test_a_workers_peak_memory_is_the_same_after_10_and_200_episodes():
    """robot_tabletop reloads a table and an arm every episode: with the EGL renderer
    that once grew a worker by 10 MiB per episode (the plugin frees nothing before
    disconnect)."""
    at10, at200 = worker_profile(ROOT / "scenarios" / "robot_tabletop.yaml", SHORT_EPISODE,
                                 [10, 200], timeout_s=600)
    assert (at10["episodes"], at200["episodes"]) == (10, 200)
    assert at200["peak_rss_mib"] <= 1.10 * at10["peak_rss_mib"], (at10, at200)
    for key in ("fds", "connections", "threads", "os_threads"):
        assert at200[key] == at10[key], (key, at10, at200)
    assert at10["connections"] == 2  # the session's and the mesh library's
