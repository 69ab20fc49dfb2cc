"""``require:`` constraints: the geometry they rely on, rejection sampling, its statistics
and its errors."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT

from simgen.errors import SimgenError, SpecError
from simgen.sampling.constraints import (
    BodyBox,
    CameraPose,
    boxes_overlap,
    failed_constraints,
    visible_fraction,
)
from simgen.sampling.episode import plan_episode
from simgen.spec import load_scenario

DRIVING = ROOT / "scenarios" / "driving_urban.yaml"


def _box(name, centre, size, yaw_deg=0.0):
    return BodyBox(name, name, np.array(centre, float), np.array(size, float) / 2,
                   math.radians(yaw_deg))


def _camera_looking_along_x(width=200, height=100, fov_deg=60.0):
    """Camera at the origin looking along +x (OpenCV axes: right = -y, down = -z)."""
    rotation = np.column_stack([[0, -1, 0], [0, 0, -1], [1, 0, 0]]).astype(float)
    f = (height / 2) / math.tan(math.radians(fov_deg) / 2)
    K = np.array([[f, 0, width / 2 - 0.5], [0, f, height / 2 - 0.5], [0, 0, 1]])
    return CameraPose(np.zeros(3), rotation, K, width, height, 0.1)


def test_unoccluded_box_in_the_middle_of_the_view_is_fully_visible():
    cam = _camera_looking_along_x()
    target = _box("t", (10, 0, 0), (1, 1, 1))
    assert visible_fraction(target, [], cam) == pytest.approx(1.0)


def test_wall_hiding_half_of_a_box_leaves_half_visible():
    # The wall is a thin box between camera and target covering the target's left half
    # as seen from the camera (y > 0 is left): the rays to the target's front face at
    # y > 0 cross the wall, whose y extent spans the left half of the view cone there.
    cam = _camera_looking_along_x()
    target = _box("t", (10, 0, 0), (0.01, 2, 2))  # a flat plate facing the camera
    wall = _box("w", (5, 1.0, 0), (0.01, 2.0, 4))  # y in [0, 2] at x = 5: hides y > 0
    assert visible_fraction(target, [wall], cam) == pytest.approx(0.5, abs=0.07)


def test_box_half_outside_the_image_is_half_visible():
    cam = _camera_looking_along_x()
    # At x = 10 the image spans |y| <= 10 * tan(hfov / 2); put the plate's centre on the edge.
    half_width = 10 * (cam.width / 2) / cam.K[0, 0]
    target = _box("t", (10, -half_width, 0), (0.01, 2, 2))
    assert visible_fraction(target, [], cam) == pytest.approx(0.5, abs=0.07)


def test_box_behind_the_camera_is_not_visible():
    cam = _camera_looking_along_x()
    assert visible_fraction(_box("t", (-10, 0, 0), (1, 1, 1)), [], cam) == 0.0


def test_box_overlap_uses_heading_and_height():
    a = _box("a", (0, 0, 0.5), (4, 1, 1))
    assert boxes_overlap(a, _box("b", (2.4, 0, 0.5), (1, 1, 1)))
    assert not boxes_overlap(a, _box("b", (2.6, 0, 0.5), (1, 1, 1)))
    assert not boxes_overlap(a, _box("b", (0, 0, 1.6), (1, 1, 1)))  # above it
    # Turned by 90 degrees the long box no longer reaches x = 1.
    assert not boxes_overlap(_box("a", (0, 0, 0.5), (4, 1, 1), 90), _box("b", (1.1, 0, 0.5),
                                                                       (1, 1, 1)))


def _scenario(*require, attempts=100, extra=()):
    rules = "[" + ", ".join(require) + "]"
    return load_scenario(DRIVING, [f"require={rules}", f"require_attempts={attempts}",
                                   *extra])


def test_accepted_episodes_satisfy_a_distance_constraint_checked_independently():
    scenario = _scenario("{kind: distance, a: ego, b: traffic, min_m: 20}")
    rejected = 0
    for index in range(12):
        plan = plan_episode(scenario, index, DRIVING.parent)
        ego = next(b for b in plan.bodies if b.name == "ego")
        for body in plan.bodies:
            if body.group == "traffic":
                gap = math.dist(ego.position_m[:2], body.position_m[:2])
                assert gap >= 20 - 1e-9
        assert plan.attempts == plan.constraint_failures[0] + 1
        rejected += plan.constraint_failures[0]
    assert rejected > 0  # the constraint had something to reject (traffic starts 12 m ahead)


def test_constraints_are_all_counted_and_only_failing_ones_reject():
    scenario = _scenario("{kind: distance, a: ego, b: traffic, min_m: 20}",
                         "{kind: distance, a: ego, b: traffic, max_m: 1000}")
    plan = plan_episode(scenario, 0, DRIVING.parent)
    assert plan.constraint_failures[1] == 0
    assert failed_constraints(scenario.require, plan.bodies, plan.cameras) == []


def test_impossible_constraint_names_itself_and_how_often_it_failed():
    scenario = _scenario("{kind: distance, a: ego, b: traffic, max_m: 1000}",
                         "{kind: in_region, body: ego, x_m: [500, 600], y_m: [0, 1]}",
                         attempts=7)
    with pytest.raises(SimgenError) as info:
        plan_episode(scenario, 0, DRIVING.parent)
    message = str(info.value)
    assert "require[1] (in_region ego" in message
    assert "failed 7 of 7 attempts" in message


def test_rejection_sampling_is_deterministic():
    scenario = _scenario("{kind: distance, a: ego, b: traffic, min_m: 20}")
    a = plan_episode(scenario, 3, DRIVING.parent)
    b = plan_episode(scenario, 3, DRIVING.parent)
    assert a == b


@pytest.mark.parametrize("rule, message", [
    ("{kind: distance, a: ego, b: trafic, min_m: 3}", "no body or group 'trafic' (did you "
                                                       "mean 'traffic'?)"),
    ("{kind: in_view, body: walker, camera: frnt}", "no camera 'frnt'"),
    ("{kind: distance, a: ego, b: traffic}", "give min_m, max_m or both"),
    ("{kind: near, a: ego}", "unknown constraint 'near'"),
])
def test_bad_constraints_are_reported_with_their_path(rule, message):
    with pytest.raises(SpecError) as info:
        _scenario(rule)
    text = "\n".join(info.value.lines)
    assert "require[0]" in text or "require.0" in text, text
    assert message in text, text


def test_constraints_may_name_bodies_of_configured_edge_cases():
    rule = "{kind: distance, a: ego, b: jaywalker, min_m: 5}"
    with pytest.raises(SpecError, match="no body or group 'jaywalker'"):
        _scenario(rule)
    scenario = _scenario(rule, extra=["edge_cases={jaywalker: {probability: 0.5}}"])
    fired = held_trivially = 0
    for index in range(8):
        plan = plan_episode(scenario, index, DRIVING.parent)
        names = {b.name for b in plan.bodies}
        if "jaywalker" in plan.edge_cases:
            fired += 1
            ego = next(b for b in plan.bodies if b.name == "ego")
            walker = next(b for b in plan.bodies if b.name == "jaywalker")
            assert math.dist(ego.position_m[:2], walker.position_m[:2]) >= 5
        else:
            assert "jaywalker" not in names
            held_trivially += 1
    assert fired and held_trivially
def test_run_prints_and_stores_rejection_statistics(tmp_path: Path):
    import json
    import subprocess
    import sys

    import pandas as pd

    out = tmp_path / "out"
    rule = "require=[{kind: distance, a: ego, b: traffic, min_m: 20}]"
    result = subprocess.run(
        [sys.executable, "-m", "simgen.cli", "run", str(DRIVING), "--out", str(out),
         "--set", rule, "--set", "episodes=4", "--set", "duration_s=0.2",
         "--set", "capture.width=64", "--set", "capture.height=48", "--renderer", "tiny"],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    attempts = pd.read_parquet(out / "episodes.parquet")["require.attempts"]
    rejected = int((attempts - 1).sum())
    stats = json.loads((out / "dataset.json").read_text())["constraints"]
    assert stats == [{"index": 0, "constraint": "distance ego to traffic >= 20 m",
                      "draws": int(attempts.sum()), "rejected": rejected,
                      "rejection_rate": rejected / int(attempts.sum())}]
    assert (f"require[0] distance ego to traffic >= 20 m: rejected {rejected} of "
            f"{int(attempts.sum())} draws") in result.stdout


def test_in_view_constraint_holds_in_the_rendered_frames(tmp_path: Path):
    """Episodes accepted for 'every walker at least half in view' show every walker in the
    first frame of the camera on the ego (the check used boxes; this is the render)."""
    import pandas as pd
    from conftest import generate

    out = tmp_path / "out"
    scenario, _ = generate(DRIVING, out, [
        "require=[{kind: in_view, body: walker, camera: front, min_visible_fraction: 0.5}]",
        "episodes=3", "duration_s=0.1", "capture.width=320", "capture.height=240",
        "labels.min_visible_px=4", "renderer=tiny"])
    objects = pd.read_parquet(out / "objects.parquet")
    boxes = pd.read_parquet(out / "boxes.parquet")
    first = boxes[boxes.frame == 0]
    for episode in range(3):
        walkers = set(objects[(objects.episode == episode) & (objects.group == "walker")].name)
        seen = set(first[first.episode == episode].name)
        assert walkers and walkers <= seen, (episode, walkers - seen)
