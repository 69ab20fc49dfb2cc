"""The command line reports scenario problems as one line each, exit code 2, no traceback.

Runs the real entry points in a subprocess (``python -m simgen.cli``, ``run_sim.py``) so
that what is checked is exactly what a user sees.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, SCENARIOS

GOOD = """\
name: t
domain: driving
cameras:
  - name: front
    mount: ego
    position_m: [0.0, 0.0, 1.5]
    look_at_m: [10.0, 0.0, 0.0]
world:
  road:
    lanes: 2
  ego:
    name: ego
    class: car
    asset: sedan
    placement: {region: lane, lane: 0, x_m: 0}
    behaviour: {kind: lane_follow, speed_mps: 5}
"""
BAD_SPEED = "    behaviour: {kind: lane_follow, speed_mps: {uniform: [9, 3]}}"
BAD_ASSET = "    asset: sedann"


def bad_text() -> str:
    return (GOOD.replace("    behaviour: {kind: lane_follow, speed_mps: 5}", BAD_SPEED)
            .replace("    asset: sedan", BAD_ASSET))


def line_of(text: str, line: str) -> int:
    hits = [i + 1 for i, x in enumerate(text.splitlines()) if x == line]
    assert len(hits) == 1
    return hits[0]


def expected_prefixes(path: Path, text: str) -> list[str]:
    """The start of each error line the bad file must produce, from where we wrote them."""
    return [
        f"{path}:{line_of(text, BAD_ASSET)}: world.ego.asset: ",
        f"{path}:{line_of(text, BAD_SPEED)}: world.ego.behaviour.speed_mps.uniform: ",
    ]


def simgen(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run ``simgen ARGS`` as a user would (a fresh process, no colour)."""
    return python("-m", "simgen.cli", *args, cwd=cwd)


def python(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "PYTHONWARNINGS")}
    env.update(NO_COLOR="1", COLUMNS="80", TERM="dumb")
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


def error_lines(result: subprocess.CompletedProcess) -> list[str]:
    """Non-empty stderr lines, less PyBullet's import banner."""
    return [line for line in result.stderr.splitlines() if line.strip()
            and not line.startswith("pybullet build time")]


def assert_reports(result: subprocess.CompletedProcess, prefixes: list[str]) -> None:
    """Exit 2, no traceback, exactly one stderr line starting with each prefix."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    lines = error_lines(result)
    assert len(lines) == len(prefixes), lines
    for prefix in prefixes:
        assert [x for x in lines if x.startswith(prefix)], (prefix, lines)


@pytest.fixture
def bad(tmp_path: Path) -> Path:
    path = tmp_path / "bad.yaml"
    path.write_text(bad_text())
    return path


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_validate_shipped_scenario_exits_0(path: Path):
    result = simgen("validate", str(path), cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert str(path) in result.stdout
    assert error_lines(result) == []


def test_validate_bad_file_prints_one_line_per_error(bad: Path):
    result = simgen("validate", bad.name, cwd=bad.parent)
    assert_reports(result, expected_prefixes(Path(bad.name), bad_text()))
    assert "did you mean 'sedan'" in result.stderr


def test_validate_reports_every_file(bad: Path, tmp_path: Path):
    good = tmp_path / "good.yaml"
    good.write_text(GOOD)
    result = simgen("validate", str(good), str(bad), cwd=tmp_path)
    assert_reports(result, expected_prefixes(bad, bad_text()))
    assert str(good) in result.stdout


def test_validate_with_bad_override(tmp_path: Path):
    good = tmp_path / "good.yaml"
    good.write_text(GOOD)
    result = simgen("validate", str(good), "--set", "world.road.lanes=3",
                    "--set", "world.road.lanes=99", cwd=tmp_path)
    assert_reports(result, ["--set:2: world.road.lanes: "])


def test_validate_malformed_override(tmp_path: Path):
    good = tmp_path / "good.yaml"
    good.write_text(GOOD)
    result = simgen("validate", str(good), "--set", "world.road.lanes", cwd=tmp_path)
    assert_reports(result, ["--set:1: "])
    assert "path.to.field=value" in result.stderr


def test_validate_yaml_syntax_error(tmp_path: Path):
    text = GOOD.replace("    lanes: 2", "    lanes: 2: 3")
    path = tmp_path / "syntax.yaml"
    path.write_text(text)
    result = simgen("validate", str(path), cwd=tmp_path)
    assert_reports(result, [f"{path}:{line_of(text, '    lanes: 2: 3')}: "])


def test_validate_prints_messages_with_brackets_verbatim(tmp_path: Path):
    text = GOOD.replace("    asset: sedan", "    asset: sedan\n    colour: bleu")
    path = tmp_path / "colour.yaml"
    path.write_text(text)
    result = simgen("validate", str(path), cwd=tmp_path)
    assert_reports(result, [f"{path}:{line_of(text, '    colour: bleu')}: world.ego.colour: "])
    assert "[r, g, b]" in result.stderr


def test_run_bad_file_exits_2_and_writes_no_dataset(bad: Path, tmp_path: Path):
    out = tmp_path / "out"
    result = simgen("run", str(bad), "--out", str(out), cwd=tmp_path)
    assert_reports(result, expected_prefixes(bad, bad_text()))
    assert not (out / "dataset.json").exists()


def test_run_bad_option_override_exits_2(tmp_path: Path):
    good = tmp_path / "good.yaml"
    good.write_text(GOOD)
    out = tmp_path / "out"
    result = simgen("run", str(good), "--out", str(out), "--renderer", "eggl", cwd=tmp_path)
    assert_reports(result, ["--renderer: renderer: "])
    assert "did you mean 'egl'" in result.stderr
    assert not (out / "dataset.json").exists()


def test_run_sim_script_behaves_like_simgen_run(bad: Path, tmp_path: Path):
    out_a, out_b = tmp_path / "a", tmp_path / "b"
    via_cli = simgen("run", str(bad), "--out", str(out_a), cwd=tmp_path)
    via_script = python(str(ROOT / "run_sim.py"), str(bad), "--out", str(out_b), cwd=tmp_path)
    assert_reports(via_script, expected_prefixes(bad, bad_text()))
    assert via_script.returncode == via_cli.returncode
    assert error_lines(via_script) == error_lines(via_cli)
    assert not (out_b / "dataset.json").exists()


def test_schema_prints_json_schema(tmp_path: Path):
    result = simgen("schema", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    schema = json.loads(result.stdout)
    assert {"name", "domain", "cameras", "world"} <= set(schema["properties"])
