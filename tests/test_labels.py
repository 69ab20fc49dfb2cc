"""The label contract against geometry computed here, independently of the labelling code:
full-extent boxes are projected 3D boxes, camera-frame 3D boxes are world boxes seen
through the extrinsics, truncation is the share outside the image, hidden objects get no
box but are listed."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from conftest import RENDERERS, generate

from simgen.catalog import ASSETS
from simgen.world.bullet import p

WIDTH, HEIGHT, FOV = 160, 120, 60.0
#: How far to the side (m) an object 8 m ahead must stand for its centre to project onto
#: the image's left edge: the edge ray makes tan = (W / 2) / f with the optical axis.
EDGE_Y_M = 8.0 * (WIDTH / 2) / ((HEIGHT / 2) / math.tan(math.radians(FOV / 2)))

SCENE = f"""\
name: labels_probe
domain: driving
seed: 5
duration_s: 0.1
renderer: {{renderer}}
capture: {{{{rate_hz: 10, width: {WIDTH}, height: {HEIGHT}}}}}
labels: {{{{min_visible_px: 5}}}}
lighting: {{{{street_light_spacing_m: null}}}}
cameras:
  - {{{{name: cam, position_m: [0.0, 0.0, 1.0], look_at_m: [10.0, 0.0, 1.0], fov_deg: {FOV},
      near_m: 0.1, far_m: 200}}}}
world:
  road: {{{{lanes: 2, oncoming_lanes: 2, length_m: 220, start_x_m: -40,
          shoulder_width_m: 4, sidewalk_width_m: 4}}}}
  ego: {{{{name: ego, asset: sedan, placement: {{{{region: lane, lane: 0, x_m: -30}}}},
         behaviour: {{{{kind: parked}}}}}}}}
  objects:
    - {{{{name: turned, asset: cardboard_box, placement: {{{{region: area, x_m: 6, y_m: -1.2,
         yaw_deg: 30}}}}}}}}
    - {{{{name: edge, asset: cardboard_box, placement: {{{{region: area, x_m: 8, y_m: {EDGE_Y_M},
         yaw_deg: 0}}}}}}}}
    - {{{{name: wall, asset: van, placement: {{{{region: area, x_m: 12, y_m: 0.8, yaw_deg: 0}}}}}}}}
    - {{{{name: hidden, asset: cardboard_box, placement: {{{{region: area, x_m: 16, y_m: 0.8,
         yaw_deg: 0}}}}}}}}
"""


@pytest.fixture(scope="module", params=RENDERERS)
def probe(request, tmp_path_factory):
    tmp = tmp_path_factory.mktemp(f"labels_{request.param}")
    path = tmp / "s.yaml"
    path.write_text(SCENE.format(renderer=request.param))
    generate(path, tmp / "out")
    out = tmp / "out"
    objects = pd.read_parquet(out / "frame_objects.parquet")
    frames = pd.read_parquet(out / "frames.parquet")
    traj = pd.read_parquet(out / "trajectories.parquet")
    return out, objects[objects.frame == 0], frames[frames.frame == 0].iloc[0], traj[
        traj.step == 0]


def _row(objects, name):
    return objects[objects.name == name].iloc[0]


def _corners(traj, name):
    """World corners of a catalog box body from its logged pose and its catalog size
    (the cardboard box's centre of mass is its centre)."""
    state = traj[traj.actor == name].iloc[0]
    rotation = np.array(p.getMatrixFromQuaternion(
        [state.qx, state.qy, state.qz, state.qw])).reshape(3, 3)
    half = np.array(ASSETS["cardboard_box"].size_m) / 2
    centre = np.array([state.x_m, state.y_m, state.z_m])
    return np.array([centre + rotation @ (half * s) for s in
                     np.array(np.meshgrid([-1, 1], [-1, 1], [-1, 1])).T.reshape(-1, 3)])


def _project(frame, points):
    cam_to_world = np.array(frame.cam_to_world).reshape(4, 4)
    K = np.array(frame.K).reshape(3, 3)
    cam = (points - cam_to_world[:3, 3]) @ cam_to_world[:3, :3]
    uv = cam @ K.T
    return uv[:, :2] / uv[:, 2:3] + 0.5  # pixel-centre coordinates -> pixel edges


def test_full_extent_box_is_the_projection_of_the_3d_box(probe):
    _, objects, frame, traj = probe
    row = _row(objects, "turned_0")
    uv = _project(frame, _corners(traj, "turned_0"))
    expected = [uv[:, 0].min(), uv[:, 1].min(), uv[:, 0].max(), uv[:, 1].max()]
    got = [row.full_x, row.full_y, row.full_x + row.full_w, row.full_y + row.full_h]
    assert got == pytest.approx(expected, abs=1.0)
    assert row.truncation == pytest.approx(0.0, abs=1e-9)
    # The visible box lies inside the full-extent one (to the pixel).
    assert row.x >= row.full_x - 1 and row.x + row.w <= row.full_x + row.full_w + 1


def test_camera_frame_box_is_the_world_box_through_the_extrinsics(probe):
    _, objects, frame, _ = probe
    cam_to_world = np.array(frame.cam_to_world).reshape(4, 4)
    for row in objects.itertuples():
        world = np.array([row.world_x_m, row.world_y_m, row.world_z_m])
        cam = np.array([row.cam_x_m, row.cam_y_m, row.cam_z_m])
        assert np.allclose(cam_to_world[:3, :3] @ cam + cam_to_world[:3, 3], world, atol=1e-3)
        r_world = np.array(p.getMatrixFromQuaternion(
            [row.world_qx, row.world_qy, row.world_qz, row.world_qw])).reshape(3, 3)
        r_cam = np.array(p.getMatrixFromQuaternion(
            [row.cam_qx, row.cam_qy, row.cam_qz, row.cam_qw])).reshape(3, 3)
        residual = (cam_to_world[:3, :3] @ r_cam).T @ r_world
        angle = math.degrees(math.acos(min(1.0, (np.trace(residual) - 1) / 2)))
        assert angle < 0.1
        assert row.centre_distance_m == pytest.approx(np.linalg.norm(cam), abs=1e-6)


def test_3d_box_has_the_catalog_size_and_the_planned_heading(probe):
    _, objects, _, _ = probe
    row = _row(objects, "turned_0")
    assert [row.length_m, row.width_m, row.height_m] == pytest.approx(
        ASSETS["cardboard_box"].size_m, abs=0.01)
    r_world = np.array(p.getMatrixFromQuaternion(
        [row.world_qx, row.world_qy, row.world_qz, row.world_qw])).reshape(3, 3)
    assert math.degrees(math.atan2(r_world[1, 0], r_world[0, 0])) == pytest.approx(30, abs=0.5)


def test_object_half_out_of_frame_is_half_truncated(probe):
    _, objects, _, _ = probe
    row = _row(objects, "edge_0")
    assert row.truncation == pytest.approx(0.5, abs=0.05)
    assert row.full_x == 0.0


def test_hidden_object_is_listed_but_gets_no_box(probe):
    out, objects, frame, _ = probe
    row = _row(objects, "hidden_0")
    assert row.status == "hidden" and row.visible_px == 0 and math.isnan(row.x)
    assert row.full_w > 0 and row.truncation == 0.0  # in the view, behind the van
    boxes = pd.read_parquet(out / "boxes.parquet")
    assert "hidden_0" not in set(boxes.name)
    coco = json.loads((out / "annotations" / "coco.json").read_text())
    instance = int(row.instance_id)
    assert not [a for a in coco["annotations"] if a["image_id"] == frame.image_id
                and a["instance_id"] == instance]
    # Everything labeled in the frame is in boxes.parquet and in COCO, and nothing else.
    labeled = objects[objects.status == "labeled"]
    assert set(labeled.name) == set(boxes[boxes.frame == 0].name)


#: A cube whose left half is hidden by construction: the camera sits at the cube's
#: mid-height on its axis (so only the cube's front face is in view), and a box in front
#: of it has its right edge exactly on the optical axis (y = 0) and covers all of y > 0.
HALF_HIDDEN = f"""\
name: half_hidden
domain: driving
seed: 1
duration_s: 0.1
renderer: {{renderer}}
capture: {{{{rate_hz: 10, width: {WIDTH}, height: {HEIGHT}}}}}
labels: {{{{min_visible_px: 5, min_visible_fraction: {{fraction}}}}}}
lighting: {{{{street_light_spacing_m: null}}}}
cameras:
  - {{{{name: cam, position_m: [0.0, 0.0, 0.201], look_at_m: [10.0, 0.0, 0.201], fov_deg: 12,
      near_m: 0.1, far_m: 200}}}}
world:
  road: {{{{lanes: 2, oncoming_lanes: 2, length_m: 220, start_x_m: -40}}}}
  ego: {{{{name: ego, asset: sedan, placement: {{{{region: lane, lane: 0, x_m: -30}}}},
         behaviour: {{{{kind: parked}}}}}}}}
  objects:
    - {{{{name: cube, asset: cardboard_box, placement: {{{{region: area, x_m: 8, y_m: 0,
         yaw_deg: 0}}}}}}}}
    - {{{{name: wall, asset: cardboard_box, placement: {{{{region: area, x_m: 4,
         y_m: {{wall_y}}, yaw_deg: 90}}}}}}}}
"""


@pytest.mark.parametrize("renderer", RENDERERS)
def test_cube_half_hidden_behind_a_wall_is_half_visible(tmp_path, renderer):
    # Turned 90 degrees, the wall's length (its catalog x size) spans y from 0 up.
    wall_y = ASSETS["cardboard_box"].size_m[0] / 2
    path = tmp_path / "s.yaml"
    path.write_text(HALF_HIDDEN.format(renderer=renderer, fraction=0.0, wall_y=wall_y))
    generate(path, tmp_path / "out")
    objects = pd.read_parquet(tmp_path / "out" / "frame_objects.parquet")
    cube, wall = _row(objects, "cube_0"), _row(objects, "wall_0")
    assert cube.visible_fraction == pytest.approx(0.5, abs=0.05)
    assert list(cube.occluders) == [wall.instance_id]
    assert wall.visible_fraction == pytest.approx(1.0, abs=0.02) and len(wall.occluders) == 0
    assert cube.truncation == 0.0


def test_visible_fraction_rule_keeps_the_half_hidden_cube_out(tmp_path):
    wall_y = ASSETS["cardboard_box"].size_m[0] / 2
    path = tmp_path / "s.yaml"
    path.write_text(HALF_HIDDEN.format(renderer="tiny", fraction=0.7, wall_y=wall_y))
    generate(path, tmp_path / "out")
    objects = pd.read_parquet(tmp_path / "out" / "frame_objects.parquet")
    assert _row(objects, "cube_0").status == "below_rule"
    assert _row(objects, "wall_0").status == "labeled"
    boxes = pd.read_parquet(tmp_path / "out" / "boxes.parquet")
    assert set(boxes.name) == {"wall_0"}
