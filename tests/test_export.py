"""Dataset exports: COCO RLE, episode splits, and the COCO, YOLO and KITTI layouts."""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import ROOT, generate
from pycocotools import mask as coco_mask
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

import simgen.writers.export_yolo as export_yolo
from simgen.errors import SimgenError
from simgen.geometry import rotation_to_quaternion
from simgen.sensors.boxes3d import box_corners
from simgen.writers.dataset import INCOMPLETE_MARKER, MANIFEST
from simgen.writers.export import EXPORT_MANIFEST, export_dataset, frame_name
from simgen.writers.export_kitti import kitti_boxes, occluded_level
from simgen.writers.rle import instance_rles, mask_to_rle, rle_area
from simgen.writers.splits import episode_splits, split_counts

#: Two level cameras (one looking ahead, one ahead-left) on the ego, so KITTI's upright
#: boxes describe the objects exactly and names must be unique across cameras.
CAMERAS = ("cameras=[{name: front, mount: ego, position_m: [0.6, 0.0, 1.5], "
           "look_at_m: [20.0, 0.0, 1.5], fov_deg: 60, near_m: 0.2, far_m: 150}, "
           "{name: left, mount: ego, position_m: [0.6, 0.5, 1.5], "
           "look_at_m: [10.0, 8.0, 1.5], fov_deg: 70, near_m: 0.2, far_m: 150}]")
OVERRIDES = ["episodes=4", "duration_s=1.0", "capture.width=320", "capture.height=240", CAMERAS]
RATIOS = (0.5, 0.25, 0.25)  # 4 episodes -> 2 / 1 / 1
#: pycocotools' mask.decode is not yet written for NumPy 2's __array__ copy keyword.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    """A small driving dataset: 4 episodes of 1 s, two cameras, 320x240."""
    out = tmp_path_factory.mktemp("export_source")
    generate(ROOT / "scenarios" / "driving_urban.yaml", out, OVERRIDES)
    return out


@pytest.fixture(scope="module")
def exports(dataset, tmp_path_factory) -> dict[str, Path]:
    """The dataset exported once in each format."""
    root = tmp_path_factory.mktemp("exports")
    out = {}
    for fmt in ("coco", "yolo", "kitti"):
        export_dataset(dataset, fmt, root / fmt, ratios=RATIOS)
        out[fmt] = root / fmt
    return out


@pytest.fixture(scope="module")
def labels(dataset) -> pd.DataFrame:
    return pd.read_parquet(dataset / "boxes.parquet")


@pytest.fixture(scope="module")
def frames(dataset) -> pd.DataFrame:
    return pd.read_parquet(dataset / "frames.parquet")


# --- RLE ---------------------------------------------------------------------------------

def _reference_rle(mask: np.ndarray) -> dict:
    return coco_mask.encode(np.asfortranarray(mask.astype(np.uint8)))


@pytest.mark.parametrize("shape", [(1, 1), (2, 3), (7, 5), (120, 160), (480, 640)])
def test_rle_matches_pycocotools_on_random_empty_and_full_masks(shape):
    rng = np.random.default_rng(sum(shape))
    blob = np.zeros(shape, bool)
    blob[shape[0] // 3:, : shape[1] // 2 + 1] = True
    masks = [rng.random(shape) < p for p in (0.02, 0.5, 0.98)]
    masks += [np.zeros(shape, bool), np.ones(shape, bool), blob, ~blob]
    for mask in masks:
        rle = mask_to_rle(mask)
        assert rle["size"] == list(shape)
        assert rle["counts"] == _reference_rle(mask)["counts"].decode()
        np.testing.assert_array_equal(coco_mask.decode(rle), mask)
        assert rle_area(rle) == int(mask.sum()) == int(coco_mask.area(rle))
        if mask.any():
            ys, xs = np.nonzero(mask)
            box = [xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1]
            np.testing.assert_array_equal(coco_mask.toBbox(rle), box)


def test_rle_of_long_runs_and_large_deltas():
    """Counts up to h*w and negative deltas (a run much shorter than two before it)."""
    mask = np.zeros((1000, 1000), bool)
    mask[:, 999] = True
    mask[500, 0] = True
    mask[:3, 400:402] = True
    rle = mask_to_rle(mask)
    assert rle["counts"] == _reference_rle(mask)["counts"].decode()
    assert rle_area(rle) == int(mask.sum())


def test_instance_rles_of_a_real_frame_equal_each_mask(dataset, frames):
    row = frames.sort_values("num_boxes").iloc[-1]
    instance = cv2.imread(str(dataset / row["instance_path"]), cv2.IMREAD_UNCHANGED)
    ids = [int(i) for i in np.unique(instance)] + [65000]  # 65000: absent -> empty mask
    rles = instance_rles(instance, ids)
    for i in ids:
        mask = instance == i
        assert rles[i] == mask_to_rle(mask)
        assert rles[i]["counts"] == _reference_rle(mask)["counts"].decode()
        assert rle_area(rles[i]) == int(mask.sum())


# --- splits ------------------------------------------------------------------------------

def test_splits_follow_the_ratios_by_largest_remainder():
    assert split_counts(100, (0.7, 0.2, 0.1)) == (70, 20, 10)
    assert split_counts(10, (0.8, 0.1, 0.1)) == (8, 1, 1)
    assert split_counts(3, (0.8, 0.1, 0.1)) == (3, 0, 0)  # remainders .4 / .3 / .3
    assert split_counts(4, (0.8, 0.1, 0.1)) == (3, 1, 0)  # tie .4 / .4 -> val first
    assert split_counts(7, (1 / 3, 1 / 3, 1 / 3)) == (3, 2, 2)
    assert split_counts(0, (0.8, 0.1, 0.1)) == (0, 0, 0)
    splits = episode_splits(range(50), (0.6, 0.3, 0.1), seed=3)
    assert sorted(splits) == list(range(50))
    assert [list(splits.values()).count(s) for s in ("train", "val", "test")] == [30, 15, 5]


def test_splits_are_deterministic_and_independent_of_order():
    episodes = list(range(20))
    a = episode_splits(episodes, (0.8, 0.1, 0.1), seed=7)
    assert a == episode_splits(episodes[::-1], (0.8, 0.1, 0.1), seed=7)
    assert a == episode_splits(np.random.default_rng(1).permutation(20), (0.8, 0.1, 0.1), 7)
    assert a != episode_splits(episodes, (0.8, 0.1, 0.1), seed=8)


def test_splits_are_uniform_over_seeds():
    """Each episode lands in the test split ~10 % of the time over 400 seeds."""
    in_test = np.zeros(10)
    for seed in range(400):
        splits = episode_splits(range(10), (0.8, 0.1, 0.1), seed)
        in_test += [splits[e] == "test" for e in range(10)]
    assert in_test.sum() == 400
    assert (in_test > 20).all() and (in_test < 60).all()  # binomial(400, .1): 40 +- 6


@pytest.mark.parametrize("ratios, message", [
    ((0.8, 0.1), "3 numbers"), ((0.8, 0.3, 0.1), "sum to 1"), ((1.2, -0.1, -0.1), ">= 0"),
    ((float("nan"), 0.5, 0.5), ">= 0"), ((0.5, 0.5, 0.0 + 1e-3), "sum to 1"),
])
def test_split_ratios_are_validated(ratios, message):
    with pytest.raises(ValueError, match=message):
        episode_splits(range(5), ratios, seed=0)


def test_splits_refuse_repeated_episodes():
    with pytest.raises(ValueError, match="repeat"):
        episode_splits([1, 2, 2], (0.8, 0.1, 0.1), seed=0)


# --- export errors and atomicity ---------------------------------------------------------

def test_export_refuses_a_folder_that_is_not_a_dataset(tmp_path, dataset):
    with pytest.raises(SimgenError, match="not a simgen dataset"):
        export_dataset(tmp_path, "coco", tmp_path / "out")
    (tmp_path / INCOMPLETE_MARKER).write_text("")
    (tmp_path / MANIFEST).write_text("{}")
    with pytest.raises(SimgenError, match="incomplete"):
        export_dataset(tmp_path, "coco", tmp_path / "out")
    with pytest.raises(SimgenError, match="no such dataset"):
        export_dataset(tmp_path / "missing", "coco", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_export_refuses_an_unknown_format_with_a_suggestion(tmp_path, dataset):
    with pytest.raises(SimgenError, match=r"unknown export format 'coc'.*did you mean 'coco'"):
        export_dataset(dataset, "coc", tmp_path / "out")
    with pytest.raises(SimgenError, match="sum to 1"):
        export_dataset(dataset, "coco", tmp_path / "out", ratios=(0.5, 0.5, 0.5))
    assert not (tmp_path / "out").exists()


def test_export_refuses_a_non_empty_folder_and_overwrites_only_an_export(tmp_path, dataset):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(SimgenError, match="not empty"):
        export_dataset(dataset, "yolo", out)
    with pytest.raises(SimgenError, match="not a simgen export"):
        export_dataset(dataset, "yolo", out, overwrite=True)
    assert (out / "notes.txt").read_text() == "mine"
    with pytest.raises(SimgenError, match="dataset folder"):
        export_dataset(dataset, "yolo", dataset, overwrite=True)

    export_dataset(dataset, "yolo", tmp_path / "ex")
    summary = export_dataset(dataset, "kitti", tmp_path / "ex", overwrite=True)
    assert summary.format == "kitti"
    assert sorted(p.name for p in (tmp_path / "ex").iterdir()) == [
        "ImageSets", EXPORT_MANIFEST, "frames.csv", "training"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ex", "out"]  # no temporaries


def test_an_interrupted_export_leaves_nothing(tmp_path, dataset, monkeypatch):
    def dying(source, out):
        (out / "labels").mkdir()
        raise KeyboardInterrupt

    monkeypatch.setattr(export_yolo, "write", dying)
    with pytest.raises(KeyboardInterrupt):
        export_dataset(dataset, "yolo", tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_images_are_hard_linked_or_copied(tmp_path, dataset, exports, frames, monkeypatch):
    row = frames.iloc[0]
    name = frame_name(row["episode"], row["camera"], row["frame"])
    linked = next((exports["yolo"] / "images").rglob(f"{name}.png"))
    assert linked.stat().st_ino == (dataset / row["rgb_path"]).stat().st_ino

    def no_links(src, dst):
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", no_links)
    summary = export_dataset(dataset, "yolo", tmp_path / "out", ratios=RATIOS)
    assert summary.images_copied == len(frames) == sum(summary.images.values())
    copied = next((tmp_path / "out" / "images").rglob(f"{name}.png"))
    assert copied.read_bytes() == (dataset / row["rgb_path"]).read_bytes()
    assert copied.stat().st_ino != (dataset / row["rgb_path"]).stat().st_ino


def test_exports_are_identical_and_never_split_an_episode(dataset, exports, tmp_path):
    again = tmp_path / "again"
    export_dataset(dataset, "coco", again, ratios=RATIOS)
    first = exports["coco"]
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    for rel in files:
        assert (first / rel).read_bytes() == (again / rel).read_bytes(), rel

    manifest = json.loads((first / EXPORT_MANIFEST).read_text())
    splits = {s: manifest["splits"][s]["episodes"] for s in ("train", "val", "test")}
    assert [len(e) for e in splits.values()] == [2, 1, 1]
    assert sorted(sum(splits.values(), [])) == [0, 1, 2, 3]
    seed = json.loads((dataset / MANIFEST).read_text())["root_seed"]
    assert episode_splits(range(4), RATIOS, seed) == {
        e: s for s, eps in splits.items() for e in eps}
    for split, eps in splits.items():  # every frame of an episode is in its split
        images = json.loads((first / "annotations" / f"{split}.json").read_text())["images"]
        assert {im["episode"] for im in images} == set(eps)


# --- COCO --------------------------------------------------------------------------------

def _quiet(fn, *args):
    with contextlib.redirect_stdout(io.StringIO()):
        return fn(*args)


def test_coco_splits_load_and_score_ap_1_against_themselves(exports, labels, frames):
    out = exports["coco"]
    n_images = n_annotations = 0
    for split in ("train", "val", "test"):
        gt = _quiet(COCO, str(out / "annotations" / f"{split}.json"))
        n_images += len(gt.imgs)
        n_annotations += len(gt.anns)
        for image in gt.imgs.values():
            assert (out / image["file_name"]).is_file()
            assert image["file_name"] == f"images/{split}/" + frame_name(
                image["episode"], image["camera"], image["frame"]) + ".png"
        assert len(gt.anns) > 0
        for iou_type in ("bbox", "segm"):
            detections = [{"image_id": a["image_id"], "category_id": a["category_id"],
                           "bbox": a["bbox"], "segmentation": a["segmentation"],
                           "score": 1.0} for a in gt.anns.values()]
            ev = COCOeval(gt, _quiet(gt.loadRes, detections), iou_type)
            _quiet(ev.evaluate)
            _quiet(ev.accumulate)
            _quiet(ev.summarize)
            assert ev.stats[0] == pytest.approx(1.0), (split, iou_type)
    assert n_images == len(frames)
    assert n_annotations == len(labels)


def test_coco_annotations_match_the_dataset(dataset, exports, labels, frames):
    out = exports["coco"]
    source = json.loads((dataset / "annotations" / "coco.json").read_text())
    source_anns = {a["id"]: a for a in source["annotations"]}
    by_key = labels.set_index(["image_id", "instance_id"])
    frame_by_id = frames.set_index("image_id")
    classes = json.loads((dataset / MANIFEST).read_text())["classes"]
    for split in ("train", "val", "test"):
        data = json.loads((out / "annotations" / f"{split}.json").read_text())
        assert [c["name"] for c in data["categories"]] == classes
        assert [c["id"] for c in data["categories"]] == list(range(1, len(classes) + 1))
        images = {im["id"]: im for im in data["images"]}
        for ann in data["annotations"]:
            row = by_key.loc[(ann["image_id"], ann["instance_id"])]
            assert ann["bbox"] == [int(row[k]) for k in ("x", "y", "w", "h")]
            assert ann["area"] == row["visible_px"] == rle_area(ann["segmentation"])
            assert coco_mask.toBbox(ann["segmentation"]).tolist() == ann["bbox"]
            assert classes[ann["category_id"] - 1] == row["class"]
            assert ann["iscrowd"] == 0
            assert source_anns[ann["id"]]["bbox"] == ann["bbox"]  # same id as the dataset's
            attrs = ann["attributes"]
            assert attrs["truncation"] == pytest.approx(row["truncation"])
            assert attrs["cam_z_m"] == pytest.approx(row["cam_z_m"])
            assert attrs["edge_cases"] == images[ann["image_id"]]["edge_cases"]
            if "visible_fraction" in labels.columns:
                assert attrs["visible_fraction"] == pytest.approx(row["visible_fraction"])
        for image in data["images"][:3]:  # a decoded mask is the instance image's pixels
            anns = [a for a in data["annotations"] if a["image_id"] == image["id"]]
            instance = cv2.imread(str(dataset / frame_by_id.loc[image["id"], "instance_path"]),
                                  cv2.IMREAD_UNCHANGED)
            for ann in anns:
                np.testing.assert_array_equal(coco_mask.decode(ann["segmentation"]),
                                              instance == ann["instance_id"])
            cond = image["conditions"]
            assert cond["lighting.time_of_day"] == frame_by_id.loc[image["id"],
                                                                   "lighting.time_of_day"]
            assert not any(k.startswith("weather.") and not cond.get(
                f"weather.{k.split('.')[1]}.on") for k in cond)
            assert np.allclose(np.array(image["K"]).ravel(), frame_by_id.loc[image["id"], "K"])


# --- YOLO --------------------------------------------------------------------------------

def test_yolo_labels_give_back_the_visible_boxes(dataset, exports, labels, frames):
    out = exports["yolo"]
    data = yaml.safe_load((out / "data.yaml").read_text())
    classes = json.loads((dataset / MANIFEST).read_text())["classes"]
    assert data["names"] == dict(enumerate(classes))
    assert data["path"] == ""
    listed = set()
    for split in ("train", "val", "test"):
        assert data[split] == f"images/{split}"
        images = sorted((out / data[split]).glob("*.png"))
        assert images
        for image in images:
            label = out / "labels" / split / f"{image.stem}.txt"
            assert label.is_file()  # one label file per image, empty when no labels
            listed.add(image.stem)
    assert len(listed) == len(frames)  # names are unique across episodes and cameras

    frames = frames.assign(name=[frame_name(e, c, f) for e, c, f in zip(
        frames["episode"], frames["camera"], frames["frame"], strict=True)])
    split_of = {p.stem: p.parent.name for p in (out / "labels").rglob("*.txt")}
    checked = 0
    for frame in frames.itertuples():
        text = (out / "labels" / split_of[frame.name] / f"{frame.name}.txt").read_text()
        rows = [line.split() for line in text.splitlines()]
        expected = labels[labels["image_id"] == frame.image_id]
        assert len(rows) == len(expected)
        for row, (_, lab) in zip(rows, expected.iterrows(), strict=True):
            cls, cx, cy, w, h = int(row[0]), *map(float, row[1:])
            assert 0 <= min(cx, cy, w, h) and max(cx, cy, w, h) <= 1
            assert classes[cls] == lab["class"]
            box = [(cx - w / 2) * frame.width, (cy - h / 2) * frame.height,
                   w * frame.width, h * frame.height]
            np.testing.assert_allclose(box, lab[["x", "y", "w", "h"]].to_numpy(float),
                                       atol=0.5)
            checked += 1
    assert checked == len(labels) > 100


# --- KITTI -------------------------------------------------------------------------------

def _read_kitti_label(path: Path) -> list[dict]:
    """An independent reader of KITTI label files (devkit readme field order)."""
    keys = ("truncated", "occluded", "alpha", "x1", "y1", "x2", "y2", "h", "w", "l",
            "x", "y", "z", "ry")
    objects = []
    for line in path.read_text().splitlines():
        fields = line.split()
        assert len(fields) == 15
        obj = {"type": fields[0], **dict(zip(keys, map(float, fields[1:]), strict=True))}
        assert obj["occluded"] == int(obj["occluded"])
        objects.append(obj)
    return objects


def _read_kitti_calib(path: Path) -> dict[str, np.ndarray]:
    out = {}
    for line in path.read_text().splitlines():
        key, values = line.split(":")
        out[key] = np.array(values.split(), float)
    assert [len(out[k]) for k in ("P0", "P1", "P2", "P3", "R0_rect", "Tr_velo_to_cam",
                                  "Tr_imu_to_velo")] == [12, 12, 12, 12, 9, 12, 12]
    return out


def _kitti_corners(obj: dict) -> np.ndarray:
    """The 8 corners (3, 8) of a KITTI box, as the devkit's computeBox3D builds them."""
    ry, length, w, h = obj["ry"], obj["l"], obj["w"], obj["h"]
    R = np.array([[math.cos(ry), 0, math.sin(ry)], [0, 1, 0], [-math.sin(ry), 0, math.cos(ry)]])
    half = length / 2
    corners = np.array([[half, half, -half, -half, half, half, -half, -half],
                        [0, 0, 0, 0, -h, -h, -h, -h],
                        [w / 2, -w / 2, -w / 2, w / 2, w / 2, -w / 2, -w / 2, w / 2]])
    return R @ corners + np.array([[obj["x"]], [obj["y"]], [obj["z"]]])


def test_kitti_boxes_project_onto_their_2d_boxes(dataset, exports, labels, frames):
    out = exports["kitti"]
    mapping = pd.read_csv(out / "frames.csv", dtype={"name": str})
    assert len(mapping) == len(frames)
    by_image = dict(zip(frames["image_id"], frames.to_dict("records"), strict=True))
    classes = set(labels["class"])
    projected = 0
    for m in mapping.itertuples():
        frame = by_image[m.image_id]
        assert (m.episode, m.camera, m.frame) == (frame["episode"], frame["camera"],
                                                  frame["frame"])
        assert (out / "training" / "image_2" / f"{m.name}.png").is_file()
        calib = _read_kitti_calib(out / "training" / "calib" / f"{m.name}.txt")
        P2 = calib["P2"].reshape(3, 4)
        np.testing.assert_allclose(P2[:, :3], np.reshape(frame["K"], (3, 3)), rtol=1e-9)
        np.testing.assert_allclose(P2[:, 3], 0)
        objects = _read_kitti_label(out / "training" / "label_2" / f"{m.name}.txt")
        expected = labels[labels["image_id"] == m.image_id]
        assert len(objects) == len(expected)
        for obj, (_, lab) in zip(objects, expected.iterrows(), strict=True):
            assert obj["type"].lower() == lab["class"] and obj["type"][0].isupper()
            assert lab["class"] in classes
            assert obj["truncated"] == pytest.approx(lab["truncation"], abs=1e-4)
            assert (obj["h"], obj["w"], obj["l"]) == pytest.approx(
                (lab["height_m"], lab["width_m"], lab["length_m"]), abs=1e-4)
            assert -math.pi <= obj["ry"] <= math.pi and -math.pi <= obj["alpha"] <= math.pi
            alpha = obj["ry"] - math.atan2(obj["x"], obj["z"])
            assert math.cos(alpha - obj["alpha"]) == pytest.approx(1, abs=1e-6)
            fraction = lab.get("visible_fraction", None)
            assert obj["occluded"] == occluded_level(fraction)
            # The box's centre is the object's centre (location = bottom centre).
            centre = _kitti_corners(obj).mean(axis=1)
            np.testing.assert_allclose(centre, lab[["cam_x_m", "cam_y_m", "cam_z_m"]]
                                       .to_numpy(float), atol=2e-4)
            corners = _kitti_corners(obj)
            if lab["truncation"] > 0 or (corners[2] < 0.2).any():
                continue
            uvw = P2 @ np.vstack((corners, np.ones(8)))
            u, v = uvw[0] / uvw[2], uvw[1] / uvw[2]
            np.testing.assert_allclose([u.min(), v.min(), u.max(), v.max()],
                                       [obj["x1"], obj["y1"], obj["x2"], obj["y2"]], atol=0.1)
            projected += 1
    assert projected > 100


def test_kitti_rotation_y_follows_the_heading(exports, labels, frames):
    """rotation_y from the world headings of object and (level) camera: a car driving the
    way the camera looks has ry = -pi/2, one coming towards it +pi/2 (KITTI's convention)."""
    out = exports["kitti"]
    mapping = pd.read_csv(out / "frames.csv", dtype={"name": str})
    name_of = dict(zip(mapping["image_id"], mapping["name"], strict=True))
    cam_yaw = {}
    for f in frames.itertuples():
        forward = np.reshape(f.cam_to_world, (4, 4))[:3, 2]
        cam_yaw[f.image_id] = math.atan2(forward[1], forward[0])
    checked = {"same way": 0, "oncoming": 0}
    for image_id, group in labels.groupby("image_id"):
        objects = _read_kitti_label(out / "training" / "label_2" / f"{name_of[image_id]}.txt")
        for obj, (_, lab) in zip(objects, group.iterrows(), strict=True):
            qx, qy, qz, qw = lab[["world_qx", "world_qy", "world_qz", "world_qw"]]
            yaw = math.atan2(2 * (qw * qz + qx * qy), 1 - 2 * (qy * qy + qz * qz))
            delta = yaw - cam_yaw[image_id]  # heading relative to the camera, left positive
            expected = -delta - math.pi / 2
            assert math.cos(obj["ry"] - expected) == pytest.approx(1, abs=1e-6)
            if lab["class"] not in ("car", "van") or abs(cam_yaw[image_id]) > 0.05:
                continue  # only vehicles seen by the camera looking down the road
            if math.cos(yaw) > 0.999:
                assert obj["ry"] == pytest.approx(-math.pi / 2, abs=0.06)
                checked["same way"] += 1
            elif math.cos(yaw) < -0.999:
                assert obj["ry"] == pytest.approx(math.pi / 2, abs=0.06)
                checked["oncoming"] += 1
    assert min(checked.values()) > 0, checked


def test_kitti_calib_velo_frame_is_gravity_aligned(exports, frames):
    out = exports["kitti"]
    mapping = pd.read_csv(out / "frames.csv", dtype={"name": str})
    by_image = frames.set_index("image_id")
    for m in mapping.itertuples():
        calib = _read_kitti_calib(out / "training" / "calib" / f"{m.name}.txt")
        Tr = calib["Tr_velo_to_cam"].reshape(3, 4)
        R, t = Tr[:, :3], Tr[:, 3]
        np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-9)
        assert np.linalg.det(R) == pytest.approx(1)
        np.testing.assert_allclose(t, 0)
        world_to_cam = np.reshape(by_image.loc[m.image_id, "cam_to_world"], (4, 4))[:3, :3].T
        np.testing.assert_allclose(R[:, 2], world_to_cam @ [0, 0, 1], atol=1e-9)  # z up
        assert R[2, 0] > 0  # velo x (forward) is in front of the camera
        np.testing.assert_allclose(calib["R0_rect"], np.eye(3).ravel())
        np.testing.assert_allclose(calib["Tr_imu_to_velo"].reshape(3, 4), np.eye(3, 4))
    sets = {s: (out / "ImageSets" / f"{s}.txt").read_text().split() for s in
            ("train", "val", "test", "trainval")}
    assert sets["trainval"] == sets["train"] + sets["val"]
    assert sorted(sets["train"] + sets["val"] + sets["test"]) == sorted(mapping["name"])
    split_of = dict(zip(mapping["name"], mapping["split"], strict=True))
    assert all(split_of[n] == s for s in ("train", "val", "test") for n in sets[s])


def test_kitti_box_of_a_tilted_camera_is_an_upright_approximation():
    """With the camera pitched by 5 deg, the KITTI box keeps the object's centre, size and
    heading; its corners are off by at most the tilt times the half-diagonal."""
    size = np.array([4.5, 1.8, 1.5])  # length, width, height
    pitch = math.radians(5.0)
    # Object frame (x forward, y left, z up) in a level camera (x right, y down, z fwd),
    # heading 30 deg to the camera's left; then the camera pitched down by 5 deg.
    yaw = math.radians(30.0)
    level = np.array([[-math.sin(yaw), -math.cos(yaw), 0.0],
                      [0.0, 0.0, -1.0],
                      [math.cos(yaw), -math.sin(yaw), 0.0]])
    tilt = np.array([[1, 0, 0], [0, math.cos(pitch), math.sin(pitch)],
                     [0, -math.sin(pitch), math.cos(pitch)]])
    rotation = tilt @ level
    centre = tilt @ np.array([2.0, 1.0, 15.0])
    q = np.array([rotation_to_quaternion(rotation)])
    location, ry, alpha, tilt_deg = kitti_boxes(centre[None], q, size[2:3])
    assert tilt_deg[0] == pytest.approx(5.0, abs=1e-6)
    assert ry[0] == pytest.approx(-math.pi / 2 - yaw, abs=0.01)  # heading kept
    obj = {"x": location[0, 0], "y": location[0, 1], "z": location[0, 2], "ry": ry[0],
           "l": size[0], "w": size[1], "h": size[2]}
    kitti = _kitti_corners(obj).T
    true = box_corners(centre, rotation, size)
    np.testing.assert_allclose(kitti.mean(axis=0), centre, atol=1e-9)
    nearest = np.linalg.norm(kitti[:, None] - true[None], axis=2).min(axis=1)
    assert nearest.max() <= pitch * np.linalg.norm(size) / 2 + 1e-9
    # Level: exact.
    location, ry, _, tilt_deg = kitti_boxes(np.array([[2.0, 1.0, 15.0]]),
                                            np.array([rotation_to_quaternion(level)]),
                                            size[2:3])
    obj.update(x=location[0, 0], y=location[0, 1], z=location[0, 2], ry=ry[0])
    true = box_corners(np.array([2.0, 1.0, 15.0]), level, size)
    nearest = np.linalg.norm(_kitti_corners(obj).T[:, None] - true[None], axis=2).min(axis=1)
    assert nearest.max() < 1e-9 and tilt_deg[0] < 1e-6


def test_occluded_levels():
    assert [occluded_level(f) for f in (1.0, 0.8, 0.79, 0.4, 0.39, 0.0)] == [0, 0, 1, 1, 2, 2]
    assert occluded_level(None) == occluded_level(float("nan")) == 3


def test_visible_fraction_and_occluders_are_exported_when_present(dataset, tmp_path):
    """Datasets that have ``visible_fraction`` and ``occluders`` columns get KITTI occlusion
    levels and the COCO attributes."""
    copy = tmp_path / "ds"
    shutil.copytree(dataset, copy, copy_function=os.link)
    boxes = pd.read_parquet(copy / "boxes.parquet")
    boxes["visible_fraction"] = np.linspace(0.0, 1.0, len(boxes))
    boxes["occluders"] = [[int(i) + 1] if k % 2 else [] for k, i in
                          enumerate(boxes["instance_id"])]
    (copy / "boxes.parquet").unlink()  # a hard link: never write through it
    boxes.to_parquet(copy / "boxes.parquet", index=False)

    summary = export_dataset(copy, "kitti", tmp_path / "kitti", ratios=RATIOS)
    assert not any("visible_fraction" in w for w in summary.warnings)
    mapping = pd.read_csv(tmp_path / "kitti" / "frames.csv", dtype={"name": str})
    levels = []
    for m in mapping.itertuples():
        levels += [o["occluded"] for o in _read_kitti_label(
            tmp_path / "kitti" / "training" / "label_2" / f"{m.name}.txt")]
    expected = [occluded_level(f) for f in boxes.sort_values("image_id", kind="stable")
                ["visible_fraction"]]
    assert levels == expected and set(levels) == {0, 1, 2}

    export_dataset(copy, "coco", tmp_path / "coco", ratios=RATIOS)
    by_id = boxes.assign(id=np.arange(1, len(boxes) + 1)).set_index("id")
    for split in ("train", "val", "test"):
        data = json.loads((tmp_path / "coco" / "annotations" / f"{split}.json").read_text())
        for ann in data["annotations"]:
            row = by_id.loc[ann["id"]]
            assert ann["attributes"]["visible_fraction"] == pytest.approx(row["visible_fraction"])
            assert ann["attributes"]["occluders"] == list(row["occluders"])


def _tree_digest(root: Path) -> dict[str, bytes]:
    return {str(f.relative_to(root)): f.read_bytes() for f in sorted(root.rglob("*"))
            if f.is_file()}


def test_exports_written_during_generation_equal_simgen_export(tmp_path, exports):
    """export: {formats, splits} in the scenario writes OUT/exports/FORMAT when the run
    completes, byte for byte what `simgen export` makes of the same dataset."""
    import subprocess
    import sys

    out = tmp_path / "run"
    formats = "export={formats: [coco, yolo, kitti], splits: [0.5, 0.25, 0.25]}"
    generate(ROOT / "scenarios" / "driving_urban.yaml", out, [*OVERRIDES, formats])
    for fmt in ("coco", "yolo", "kitti"):
        assert _tree_digest(out / "exports" / fmt) == _tree_digest(exports[fmt]), fmt
    # The command line: the same export, then a one-line error for a bad format.
    cli = [sys.executable, "-m", "simgen.cli", "export", str(out), "--format", "yolo",
           "--out", str(tmp_path / "cli_yolo"), "--split", "0.5,0.25,0.25"]
    done = subprocess.run(cli, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert _tree_digest(tmp_path / "cli_yolo") == _tree_digest(exports["yolo"])
    bad = subprocess.run([*cli[:6], "yolk"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1
    assert bad.stderr.strip().splitlines() == [
        "error: unknown export format 'yolk' (did you mean 'yolo'?) (one of: coco, yolo, kitti)"]


def test_generated_coco_file_scores_ap_1_against_itself(dataset):
    """The annotations/coco.json written during generation (boxes and RLE masks) loads and
    COCOeval of its ground truth against itself gives AP = 1 for boxes and masks."""
    gt = _quiet(COCO, str(dataset / "annotations" / "coco.json"))
    assert gt.anns
    for iou_type in ("bbox", "segm"):
        detections = [{"image_id": a["image_id"], "category_id": a["category_id"],
                       "bbox": a["bbox"], "segmentation": a["segmentation"], "score": 1.0}
                      for a in gt.anns.values()]
        ev = COCOeval(gt, _quiet(gt.loadRes, detections), iou_type)
        _quiet(ev.evaluate)
        _quiet(ev.accumulate)
        _quiet(ev.summarize)
        assert ev.stats[0] == pytest.approx(1.0), iou_type
