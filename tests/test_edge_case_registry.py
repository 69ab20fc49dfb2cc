"""The edge-case registry: firing at the oversampled rate, importance weights that recover
the nominal rate, recording, and the errors of the ``edge_cases:`` section."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from simgen.edge_cases import EDGE_CASES, EdgeCase, edge_case, importance_factor
from simgen.errors import SpecError
from simgen.geometry import axis_rotation
from simgen.sampling.episode import plan_episode
from simgen.spec import load_scenario

ROBOT = """\
name: registry_test
domain: robotics
cameras:
  - {name: top, position_m: [0.5, 0.0, 1.6], look_at_m: [0.5, 0.0, 0.6]}
world:
  table: {}
  arm: {name: arm, asset: panda, placement: {region: area, x_m: 0, y_m: 0},
        behaviour: {kind: pick_and_place}}
  objects:
    - {name: obj, asset: block, placement: {region: table}}
"""


def _scenario(tmp_path: Path, edge_cases: str) -> tuple:
    path = tmp_path / "s.yaml"
    path.write_text(ROBOT + "edge_cases:\n" + edge_cases)
    return load_scenario(path), tmp_path


def test_importance_factor_is_p_over_q_when_fired_and_complement_otherwise():
    assert importance_factor(0.02, 0.5, True) == pytest.approx(0.04)
    assert importance_factor(0.02, 0.5, False) == pytest.approx(0.98 / 0.5)
    assert importance_factor(0.3, 0.3, True) == importance_factor(0.3, 0.3, False) == 1.0


def test_oversampled_edge_case_fires_at_q_and_weights_recover_p(tmp_path):
    p, q, n = 0.05, 0.5, 1200
    scenario, where = _scenario(tmp_path, f"  camera_bump: {{probability: {p}, oversample: {q}}}\n")
    fired = np.zeros(n, dtype=bool)
    weights = np.zeros(n)
    for i in range(n):
        plan = plan_episode(scenario, i, where)
        fired[i] = "camera_bump" in plan.edge_cases
        weights[i] = plan.importance_weight
        assert plan.sampled["edge_cases.camera_bump.fired"] == fired[i]
    # The raw rate is the oversampled one...
    assert abs(fired.mean() - q) < 4 * math.sqrt(q * (1 - q) / n)
    # ...each weight is p/q or (1-p)/(1-q)...
    assert np.allclose(weights[fired], p / q)
    assert np.allclose(weights[~fired], (1 - p) / (1 - q))
    # ...and the weighted rate is the nominal one (within 4 standard errors of the
    # importance-sampling estimate, whose variance is var(w * fired) / n).
    estimate = np.mean(weights * fired)
    stderr = np.std(weights * fired) / math.sqrt(n)
    assert abs(estimate - p) < 4 * stderr
    assert abs(weights.mean() - 1.0) < 4 * np.std(weights) / math.sqrt(n)


def test_fired_edge_case_draws_and_records_its_parameters(tmp_path):
    scenario, where = _scenario(
        tmp_path, "  camera_bump: {probability: 1.0, at_s: {uniform: [1, 2]}, angle_deg: 7}\n")
    plan = plan_episode(scenario, 0, where)
    assert plan.edge_cases == ("camera_bump",)
    assert plan.importance_weight == 1.0
    at = plan.sampled["edge_cases.camera_bump.at_s"]
    assert 1 <= at <= 2
    cam = plan.cameras[0]
    assert cam.bump_at_s == at
    # The bump turns the camera by the drawn angle.
    turn = axis_rotation(cam.bump_rotation_deg)
    assert math.degrees(math.acos((np.trace(turn) - 1) / 2)) == pytest.approx(7.0)
    assert plan.sampled["edge_cases.camera_bump.rotation_deg"] == list(cam.bump_rotation_deg)


def test_never_firing_edge_case_changes_nothing_but_the_weight(tmp_path):
    scenario, where = _scenario(tmp_path, "  camera_bump: {probability: 0.2, oversample: 0}\n")
    plan = plan_episode(scenario, 0, where)
    assert plan.edge_cases == ()
    assert plan.cameras[0].bump_at_s is None
    assert plan.importance_weight == pytest.approx(0.8)


@pytest.mark.parametrize("text, message", [
    ("  camera_bmp: {probability: 0.1}\n", "unknown field 'camera_bmp' (did you mean "
                                           "'camera_bump'?)"),
    ("  camera_bump: {probability: 1.5}\n", "less than or equal to 1"),
    ("  camera_bump: {probability: 0.1, angle_deg: -3}\n", "angle_deg"),
    ("  camera_bump: {probability: 0.1, camera: side}\n", "no camera 'side'"),
])
def test_bad_edge_case_settings_are_reported_with_their_line(tmp_path, text, message):
    with pytest.raises(SpecError) as info:
        _scenario(tmp_path, text)
    joined = "\n".join(info.value.lines)
    assert message in joined, joined
    assert ":12:" in joined, joined  # the edge case's own line in the file


def test_edge_case_of_the_other_domain_is_refused(tmp_path):
    driving_only = [name for name, case in EDGE_CASES.items() if case.domain == "driving"]
    if not driving_only:
        pytest.skip("no driving edge case registered")
    with pytest.raises(SpecError, match="needs a driving scenario"):
        _scenario(tmp_path, f"  {driving_only[0]}: {{probability: 0.1}}\n")


def test_registering_a_name_twice_is_refused():
    with pytest.raises(ValueError, match="registered twice"):
        @edge_case("camera_bump", domain="robotics")
        class Again(EdgeCase):
            pass


def test_validate_refuses_an_edge_case_the_scenario_can_never_host():
    driving = Path(__file__).resolve().parent.parent / "scenarios" / "driving_urban.yaml"
    with pytest.raises(SpecError) as info:
        load_scenario(driving, ["world.road.lanes=1", "world.road.oncoming_lanes=1",
                                "edge_cases={cut_in: {probability: 0.1}}"])
    joined = "\n".join(info.value.lines)
    assert "edge_cases.cut_in: needs a lane beside the ego running the same way" in joined
    # Two lanes in some episodes: possible, so it is left to sampling.
    load_scenario(driving, ["world.road.lanes={randint: [1, 2]}",
                            "edge_cases={cut_in: {probability: 0.1}}"])
