"""Shared fixtures: small generated datasets and renderer parametrisation."""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from simgen.runner.run import run_scenario
from simgen.spec import load_scenario
from simgen.world.engine import PhysicsSession
from simgen.writers.dataset import PERFORMANCE_LOG

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))
#: Overrides that make any shipped scenario quick: one short episode at low resolution.
SMALL = ["episodes=1", "duration_s=1.0", "capture.width=160", "capture.height=120"]


def egl_available() -> bool:
    """True when PyBullet's EGL renderer plugin loads on this machine."""
    with PhysicsSession("auto") as session:
        return session.renderer_used == "egl"


RENDERERS = ["tiny", pytest.param("egl", marks=pytest.mark.skipif(
    not egl_available(), reason="EGL renderer plugin does not load here"))]


def digest(root: Path) -> dict[str, str]:
    """sha256 of every file of a dataset by relative path, but its run timings (the one
    file identical runs write differently)."""
    return {path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(root.rglob("*"))
            if path.is_file() and path.relative_to(root).as_posix() != PERFORMANCE_LOG}


def generate(scenario_path: Path, out_dir: Path, overrides=()):
    """Validate and run a scenario into ``out_dir``; returns (scenario, summary)."""
    scenario = load_scenario(scenario_path, list(overrides))
    summary = run_scenario(scenario, scenario_path, out_dir)
    return scenario, summary


@pytest.fixture(scope="session", params=[s.name for s in SCENARIOS])
def small_dataset(request, tmp_path_factory):
    """Each shipped scenario generated small (one short episode, 160x120)."""
    path = ROOT / "scenarios" / request.param
    out = tmp_path_factory.mktemp(path.stem)
    scenario, summary = generate(path, out, SMALL)
    return path, scenario, summary, out


def chromium(*args: str, tmp: Path) -> subprocess.CompletedProcess:
    """Headless Chromium with a throwaway profile (the test is skipped without it)."""
    exe = shutil.which("chromium")
    if exe is None:
        pytest.skip("chromium is not installed (apt-get install chromium); CI installs it")
    return subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu",
                           f"--user-data-dir={tmp / 'profile'}", *args],
                          capture_output=True, text=True, timeout=120, check=True)


def figures_rendered(page: Path, tmp: Path) -> tuple[int, int, str]:
    """(figures, figures drawn, names of those that failed) as a simgen HTML page reports
    them on its ``<body>`` once Chromium has loaded it."""
    dom = chromium("--dump-dom", page.as_uri(), tmp=tmp).stdout
    body = re.search(r"<body([^>]*)>", dom)
    assert body, dom[:500]
    attributes = dict(re.findall(r'([\w-]+)="([^"]*)"', body.group(1)))
    return (int(attributes["data-figures"]), int(attributes["data-figures-ok"]),
            attributes["data-figures-failed"])
