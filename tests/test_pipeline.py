"""End to end: every shipped scenario runs, and its outputs agree with themselves and geometry."""

from __future__ import annotations

import hashlib
import json
import math

import cv2
import numpy as np
import pandas as pd
import pytest
from conftest import RENDERERS, ROOT, SMALL, digest, generate

from simgen.catalog import ASSETS
from simgen.edge_cases import EDGE_CASES
from simgen.sampling.episode import plan_episode
from simgen.writers.images import decode_depth_png


def _frames(out):
    return pd.read_parquet(out / "frames.parquet")


def test_manifest_and_tables_are_complete(small_dataset):
    path, scenario, summary, out = small_dataset
    manifest = json.loads((out / "dataset.json").read_text())
    assert manifest["root_seed"] == scenario.seed
    assert manifest["renderer"] in ("egl", "tiny")
    assert manifest["scenario"]["name"] == scenario.name
    assert manifest["classes"] == scenario.classes()
    assert [e["status"] for e in manifest["episodes"]] == ["complete"] * scenario.episodes
    assert not (out / ".simgen-incomplete").exists()
    frames = _frames(out)
    # 1 s at the capture rate, frames at t = 0 included, for every camera.
    per_camera = int(1.0 * scenario.capture.rate_hz) + 1
    assert len(frames) == per_camera * len(scenario.cameras) == manifest["counts"]["frames"]
    for col in ("rgb_path", "depth_path", "instance_path"):
        for rel in frames[col]:
            assert (out / rel).is_file()
    episodes = pd.read_parquet(out / "episodes.parquet")
    assert list(episodes["episode"]) == list(range(scenario.episodes))
    traj = pd.read_parquet(out / "trajectories.parquet")
    objects = pd.read_parquet(out / "objects.parquet")
    planned = objects[objects["group"].notna()]
    assert set(traj["actor"]) == set(planned["name"])
    # Groups without a class label each body with the catalog class of the asset it drew.
    # Bodies an edge case added belong to a group named after it, in an episode where it fired.
    groups = {g.name: g for _, g in scenario.world.groups()}
    fired = dict(zip(episodes["episode"], episodes["edge_cases"].str.split(","), strict=True))
    for episode, group_name, asset, cls in zip(planned["episode"], planned["group"],
                                               planned["asset"], planned["class"], strict=True):
        if group_name in EDGE_CASES:
            assert group_name in fired[episode]
            continue
        group = groups[group_name]
        assert cls == (group.cls if group.cls is not None else ASSETS[asset].default_class)


def test_boxes_are_tight_bounds_of_their_masks(small_dataset):
    """Each COCO box equals the bounds of its instance's pixels; no qualifying object is missed."""
    _, scenario, _, out = small_dataset
    coco = json.loads((out / "annotations" / "coco.json").read_text())
    objects = pd.read_parquet(out / "objects.parquet")
    labeled = set(objects.loc[objects["labeled"], "instance_id"])
    by_image: dict[int, list] = {}
    for ann in coco["annotations"]:
        by_image.setdefault(ann["image_id"], []).append(ann)
    frames = _frames(out)
    assert sum(len(v) for v in by_image.values()) > 0
    for row in frames.itertuples():
        mask = cv2.imread(str(out / row.instance_path), cv2.IMREAD_UNCHANGED)
        assert mask.dtype == np.uint16 and mask.shape == (row.height, row.width)
        anns = {a["instance_id"]: a for a in by_image.get(row.image_id, [])}
        ids, counts = np.unique(mask, return_counts=True)
        expected = {int(i) for i, n in zip(ids, counts, strict=True)
                    if i in labeled and n >= scenario.labels.min_visible_px}
        assert set(anns) == expected
        for inst, ann in anns.items():
            ys, xs = np.nonzero(mask == inst)
            assert ann["bbox"] == [xs.min(), ys.min(), xs.max() - xs.min() + 1,
                                   ys.max() - ys.min() + 1]
            assert ann["area"] == len(xs)
            name = objects.loc[(objects["instance_id"] == inst), "class"].iloc[0]
            category = next(c for c in coco["categories"] if c["id"] == ann["category_id"])
            assert category["name"] == name


def test_depth_and_calibration_are_consistent(small_dataset):
    _, scenario, _, out = small_dataset
    frames = _frames(out)
    episodes = pd.read_parquet(out / "episodes.parquet").set_index("episode")
    for row in frames.itertuples():
        depth = decode_depth_png(out / row.depth_path)
        mask = cv2.imread(str(out / row.instance_path), cv2.IMREAD_UNCHANGED)
        assert (depth[mask == 0] == 0).all()
        cam = next(c for c in scenario.cameras if c.name == row.camera)
        near = cam.near_m.value
        assert (depth[mask > 0] >= near - 0.001).all()
        pose = np.array(row.cam_to_world).reshape(4, 4)
        assert np.allclose(pose[:3, :3] @ pose[:3, :3].T, np.eye(3), atol=1e-9)
        assert np.isclose(np.linalg.det(pose[:3, :3]), 1.0)
        # The focal length follows from the field of view the episode used (sampled or not).
        i = scenario.cameras.index(cam)
        fov_deg = episodes.loc[row.episode, f"cameras[{i}].fov_deg"] \
            if f"cameras[{i}].fov_deg" in episodes.columns else cam.fov_deg.value
        K = np.array(row.K).reshape(3, 3)
        focal = (row.height / 2) / np.tan(np.radians(fov_deg) / 2)
        assert K[0, 0] == pytest.approx(focal) and K[1, 1] == pytest.approx(focal)
        assert abs(K[0, 2] - (row.width - 1) / 2) <= 0.5


def test_pycocotools_loads_the_annotations(small_dataset):
    from pycocotools.coco import COCO

    _, scenario, summary, out = small_dataset
    coco = COCO(str(out / "annotations" / "coco.json"))
    assert len(coco.getImgIds()) == summary.frames
    assert len(coco.getAnnIds()) == summary.labels == _frames(out)["num_boxes"].sum()
    assert [c["name"] for c in coco.loadCats(coco.getCatIds())] == scenario.classes()
    for img in coco.loadImgs(coco.getImgIds()[:3]):
        assert (out / img["file_name"]).is_file()


def test_positions_integrate_logged_velocities(small_dataset):
    _, scenario, _, out = small_dataset
    traj = pd.read_parquet(out / "trajectories.parquet")
    dt = scenario.physics.time_step_s.value
    moving = 0
    for _, tr in traj.groupby(["episode", "actor"]):
        pos = tr[["x_m", "y_m", "z_m"]].to_numpy()
        vel = tr[["vx_mps", "vy_mps", "vz_mps"]].to_numpy()
        # x[n] - x[n-1] = v[n] dt (the velocity of the step that led to x[n]).
        step_error = np.abs(np.diff(pos, axis=0) - vel[1:] * dt).max(axis=1)
        drift = np.abs(pos[1:] - pos[0] - np.cumsum(vel[1:] * dt, axis=0)).max()
        if np.abs(vel).max() > 0.05:
            moving += 1
        assert drift < 0.01, tr["actor"].iloc[0]
        assert np.median(step_error) < 1e-5, tr["actor"].iloc[0]
    assert moving >= 1


@pytest.mark.parametrize("renderer", RENDERERS)
@pytest.mark.parametrize("scenario", ["driving_edge_cases.yaml", "robot_bin_clutter.yaml"])
def test_run_is_byte_identical_for_the_same_seed(tmp_path, renderer, scenario):
    """Two runs of the same scenario and seed (into different folders) give the same bytes,
    with weather, noise, textures and edge cases in play."""
    path = ROOT / "scenarios" / scenario
    overrides = [*SMALL, "episodes=2", "duration_s=0.6", f"renderer={renderer}"]
    digests = []
    for name in ("a", "b"):
        generate(path, tmp_path / name, overrides)
        digests.append(digest(tmp_path / name))
    assert len(digests[0]) > 20
    assert digests[0] == digests[1]
    generate(path, tmp_path / "c", [*overrides, "seed=8"])
    other = hashlib.sha256((tmp_path / "c" / "episodes.parquet").read_bytes()).hexdigest()
    assert other != digests[0]["episodes.parquet"]


@pytest.fixture(scope="module")
def driving_run(tmp_path_factory):
    path = ROOT / "scenarios" / "driving_urban.yaml"
    out = tmp_path_factory.mktemp("drive")
    scenario, _ = generate(path, out, ["episodes=2", "duration_s=4.0", "capture.rate_hz=1",
                                       "capture.width=96", "capture.height=72"])
    return path, scenario, out


def test_ego_stays_in_its_lane_at_its_speed(driving_run):
    path, scenario, out = driving_run
    traj = pd.read_parquet(out / "trajectories.parquet")
    for episode, tr in traj[traj["actor"] == "ego"].groupby("episode"):
        plan = plan_episode(scenario, int(episode), path.parent)
        ego = next(b for b in plan.bodies if b.name == "ego")
        road = plan.road
        centre = road.lane_centre_y_m(ego.behaviour_params["lane"])
        half_width = 1.81 / 2 if ego.asset == "sedan" else 1.3
        lateral = np.abs(tr["y_m"].to_numpy() - centre)
        assert (lateral + half_width < road.lane_width_m / 2).all()
        speed = np.hypot(tr["vx_mps"], tr["vy_mps"]).to_numpy()
        assert tr["x_m"].iloc[-1] > tr["x_m"].iloc[0] + 3.0  # it drove forward
        assert speed.max() <= ego.behaviour_params["speed_mps"] * 1.05
        assert tr["steering_rad"].notna().all() and tr["throttle"].between(-1, 1).all()


def test_pick_and_place_moves_the_target(tmp_path):
    path = ROOT / "scenarios" / "robot_tabletop.yaml"
    scenario, _ = generate(path, tmp_path, ["episodes=1", "capture.rate_hz=1",
                                            "capture.width=96", "capture.height=72"])
    plan = plan_episode(scenario, 0, path.parent)
    arm = next(b for b in plan.bodies if b.name == "arm")
    target = arm.behaviour_params["target"]
    traj = pd.read_parquet(tmp_path / "trajectories.parquet")
    obj = traj[traj["actor"] == target].reset_index(drop=True)
    arm_tr = traj[traj["actor"] == "arm"].reset_index(drop=True)
    lifted = obj["z_m"] > obj["z_m"].iloc[0] + 0.05
    assert lifted.any()
    assert arm_tr.loc[lifted, "gripper_closed"].all()  # lifted only while gripped
    assert not arm_tr["gripper_closed"].iloc[-1]
    px, py = arm.behaviour_params["place_position_m"]
    assert math.hypot(obj["x_m"].iloc[-1] - px, obj["y_m"].iloc[-1] - py) < 0.05
    joints = np.stack(arm_tr["joint_positions_rad"].to_numpy())
    assert joints.shape[1] >= 7 and np.ptp(joints[:, 0]) > 0.1


def test_a_scenario_can_use_its_own_urdf(tmp_path):
    """A .urdf path relative to the scenario loads; the dataset records it as written."""
    import shutil

    shutil.copy(ROOT / "assets" / "robotics" / "block.urdf", tmp_path / "my_block.urdf")
    text = (ROOT / "scenarios" / "robot_tabletop.yaml").read_text().replace(
        "    - name: lego\n",
        "    - name: mine\n      class: my_block\n      asset: my_block.urdf\n      count: 2\n"
        "      placement: {region: table, min_spacing_m: 0.08}\n    - name: lego\n")
    path = tmp_path / "custom.yaml"
    path.write_text(text)
    generate(path, tmp_path / "out", SMALL)
    objects = pd.read_parquet(tmp_path / "out" / "objects.parquet")
    mine = objects[objects["group"] == "mine"]
    assert list(mine["asset"]) == ["my_block.urdf"] * 2
    assert str(tmp_path) not in (tmp_path / "out" / "dataset.json").read_text()
    coco = json.loads((tmp_path / "out" / "annotations" / "coco.json").read_text())
    assert "my_block" in [c["name"] for c in coco["categories"]]


def test_semantic_mask_is_the_class_of_each_instance_pixel(small_dataset):
    """Semantic ids follow the manifest's semantic_classes (labeled classes first, with
    their COCO ids), and every pixel of every body has its body's class."""
    _, scenario, _, out = small_dataset
    manifest = json.loads((out / "dataset.json").read_text())
    semantic = manifest["semantic_classes"]
    assert semantic[:len(manifest["classes"])] == manifest["classes"]
    objects = pd.read_parquet(out / "objects.parquet")
    for row in _frames(out).itertuples():
        instance = cv2.imread(str(out / row.instance_path), cv2.IMREAD_UNCHANGED)
        classes = cv2.imread(str(out / row.semantic_path), cv2.IMREAD_UNCHANGED)
        assert classes.dtype == np.uint16 and classes.shape == instance.shape
        bodies = objects[objects["episode"] == row.episode]
        lut = np.zeros(int(bodies["instance_id"].max()) + 1, dtype=np.int64)
        for inst, cls in zip(bodies["instance_id"], bodies["class"], strict=True):
            lut[inst] = semantic.index(cls) + 1
        assert np.array_equal(classes, lut[instance])
        assert (classes[instance > 0] > 0).all()


def test_labels_carry_the_episode_edge_cases_and_who_added_the_body(small_dataset):
    _, scenario, _, out = small_dataset
    labels = pd.read_parquet(out / "frame_objects.parquet")
    episodes = pd.read_parquet(out / "episodes.parquet").set_index("episode")
    objects = pd.read_parquet(out / "objects.parquet")
    group = {(e, n): g for e, n, g in zip(objects["episode"], objects["name"], objects["group"],
                                          strict=True)}
    for row in labels.itertuples():
        assert row.edge_cases == episodes.loc[row.episode, "edge_cases"]
        g = group[(row.episode, row.name)]
        assert row.added_by == (g if g in EDGE_CASES else "")
    if any(settings is not None for _, settings in scenario.edge_cases):
        # The shipped edge-case scenarios' first episode fires cases whose bodies are seen.
        assert (labels["added_by"] != "").any()


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
def test_coco_segmentation_is_each_labels_mask(small_dataset):
    """annotations/coco.json carries compressed RLE masks that decode (with pycocotools) to
    exactly the instance's pixels, with area = its pixel count."""
    from pycocotools import mask as coco_mask

    _, _, _, out = small_dataset
    coco = json.loads((out / "annotations" / "coco.json").read_text())
    images = {im["id"]: im for im in coco["images"]}
    frames = _frames(out).set_index("image_id")
    masks = {}
    assert coco["annotations"]
    for ann in coco["annotations"]:
        row = frames.loc[ann["image_id"]]
        if ann["image_id"] not in masks:
            masks[ann["image_id"]] = cv2.imread(str(out / row.instance_path),
                                                cv2.IMREAD_UNCHANGED)
        rle = dict(ann["segmentation"], counts=ann["segmentation"]["counts"].encode())
        decoded = coco_mask.decode(rle).astype(bool)
        assert rle["size"] == [images[ann["image_id"]]["height"],
                               images[ann["image_id"]]["width"]]
        assert np.array_equal(decoded, masks[ann["image_id"]] == ann["instance_id"])
        assert int(coco_mask.area(rle)) == ann["area"]
