"""The dataset checker: a generated dataset is clean, and each kind of damage is named."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from conftest import ROOT, generate

from simgen.writers.check import CheckReport, check_dataset

#: Two short episodes at low resolution, with a far plane drawn per episode (below the
#: 65.535 m that uint16 millimetres can hold, so that "beyond the far plane" is encodable).
#: TinyRenderer: the same images on every machine (EGL is checked with the shipped
#: scenarios below).
OVERRIDES = ["episodes=2", "duration_s=0.6", "capture.width=160", "capture.height=120",
             "cameras[0].far_m={uniform: [40, 50]}", "renderer=tiny"]


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("check") / "dataset"
    generate(ROOT / "scenarios" / "driving_urban.yaml", out, OVERRIDES)
    return out


@pytest.fixture
def ds(generated, tmp_path) -> Path:
    """A fresh copy of the generated dataset, to damage."""
    copy = tmp_path / "dataset"
    shutil.copytree(generated, copy)
    return copy


def _found(report: CheckReport, pattern: str) -> list[str]:
    """The problem lines matching ``pattern``; fails when there is none."""
    assert not [p for p in report.problems if "internal error" in p], report.problems
    lines = [p for p in report.problems if re.search(pattern, p)]
    assert lines, f"no problem matches {pattern!r}; found: {report.problems}"
    assert not report.ok
    return lines


def _table(ds: Path, name: str) -> pd.DataFrame:
    return pd.read_parquet(ds / name)


def _save(ds: Path, name: str, df: pd.DataFrame) -> None:
    df.to_parquet(ds / name, index=False)


def _coco(ds: Path) -> dict:
    return json.loads((ds / "annotations" / "coco.json").read_text())


def _save_coco(ds: Path, coco: dict) -> None:
    (ds / "annotations" / "coco.json").write_text(json.dumps(coco))


def _manifest(ds: Path) -> dict:
    return json.loads((ds / "dataset.json").read_text())


def _first_box(ds: Path) -> tuple[int, pd.Series]:
    """A label whose box has room to move right inside the image."""
    boxes = _table(ds, "boxes.parquet")
    frames = _table(ds, "frames.parquet").set_index("image_id")
    room = boxes["x"] + boxes["w"] + 3 <= boxes["image_id"].map(frames["width"])
    i = int(np.flatnonzero(room.to_numpy())[0])
    return i, boxes.iloc[i]


# ------------------------------------------------------------------------------ clean


def test_generated_dataset_has_no_problems_and_counts_what_it_read(generated):
    report = check_dataset(generated)
    assert report.ok, report.problems
    manifest = _manifest(generated)
    frames = _table(generated, "frames.parquet")
    assert report.summary["episodes"] == manifest["counts"]["episodes"] == 2
    assert report.summary["frames"] == manifest["counts"]["frames"] == len(frames)
    assert report.summary["labels"] == manifest["counts"]["labels"] > 0
    modalities = [c for c in frames.columns if c.endswith("_path")]
    assert report.summary["images_decoded"] == len(frames) * len(modalities)
    statuses = report.summary["frame_objects"]
    assert statuses["labeled"] == manifest["counts"]["labels"]
    assert statuses["hidden"] > 0 and statuses["below_rule"] > 0  # the fixture covers both


def test_progress_counts_every_frame_once(generated):
    calls = []
    check_dataset(generated, progress=lambda done, total: calls.append((done, total)),
                  threads=3)
    n = len(_table(generated, "frames.parquet"))
    assert calls == [(k, n) for k in range(n + 1)]


def test_every_shipped_scenario_passes(small_dataset):
    path, _, _, out = small_dataset
    report = check_dataset(out)
    assert report.ok, f"{path.name}: {report.problems}"


def test_tables_rewritten_unchanged_still_pass(ds):
    for name in ("boxes.parquet", "frame_objects.parquet", "frames.parquet", "objects.parquet"):
        _save(ds, name, _table(ds, name))
    assert check_dataset(ds).ok


# ------------------------------------------------------------------------------ files


def test_missing_image(ds):
    frames = _table(ds, "frames.parquet")
    rel = frames["rgb_path"].iloc[3]
    (ds / rel).unlink()
    assert _found(check_dataset(ds), rf"^{re.escape(rel)}: missing$")


def test_truncated_png(ds):
    rel = _table(ds, "frames.parquet")["instance_path"].iloc[2]
    data = (ds / rel).read_bytes()
    (ds / rel).write_bytes(data[: len(data) // 2])
    assert _found(check_dataset(ds), rf"^{re.escape(rel)}: truncated")


def test_corrupt_png_data(ds):
    rel = _table(ds, "frames.parquet")["depth_path"].iloc[1]
    data = bytearray((ds / rel).read_bytes())
    data[60:80] = bytes(20)  # inside the image data; the chunk CRC no longer matches
    (ds / rel).write_bytes(bytes(data))
    assert _found(check_dataset(ds), rf"^{re.escape(rel)}: does not decode")


def test_image_with_the_wrong_size_or_type(ds):
    frames = _table(ds, "frames.parquet")
    rgb, depth = frames["rgb_path"].iloc[0], frames["depth_path"].iloc[0]
    cv2.imwrite(str(ds / rgb), np.zeros((60, 80, 3), np.uint8))
    cv2.imwrite(str(ds / depth), np.zeros((120, 160), np.uint8))
    report = check_dataset(ds)
    assert _found(report, rf"^{re.escape(rgb)}: decodes to 60x80x3 uint8, expected "
                          r"120x160x3 uint8")
    assert _found(report, rf"^{re.escape(depth)}: decodes to 120x160 uint8, expected "
                          r"120x160 uint16")


@pytest.mark.parametrize("name", ["episodes.parquet", "objects.parquet", "frames.parquet",
                                  "boxes.parquet", "frame_objects.parquet",
                                  "trajectories.parquet", "annotations/coco.json"])
def test_missing_table(ds, name):
    (ds / name).unlink()
    assert _found(check_dataset(ds), rf"^{re.escape(name)}: missing$")


def test_table_that_does_not_load(ds):
    (ds / "boxes.parquet").write_bytes(b"PAR1 not really")
    assert _found(check_dataset(ds), r"^boxes\.parquet: does not load")


def test_file_not_listed_in_frames(ds):
    stray = ds / "episodes" / "000001" / "rgb" / "front_00099.png"
    shutil.copy(ds / _table(ds, "frames.parquet")["rgb_path"].iloc[0], stray)
    assert _found(check_dataset(ds),
                  r"^episodes/000001/rgb/front_00099\.png: not listed in frames\.parquet$")


# ------------------------------------------------------------------------------ manifest


def test_incomplete_marker_left_behind(ds):
    (ds / ".simgen-incomplete").write_text("generation in progress or interrupted\n")
    assert _found(check_dataset(ds), r"^\.simgen-incomplete: present")


def test_interrupted_run_without_manifest(ds):
    (ds / ".simgen-incomplete").write_text("generation in progress or interrupted\n")
    (ds / "dataset.json").unlink()
    report = check_dataset(ds)
    assert _found(report, r"^\.simgen-incomplete: present")
    assert _found(report, r"^dataset\.json: missing")


def test_manifest_that_does_not_parse(ds):
    (ds / "dataset.json").write_text('{"counts": ')
    assert _found(check_dataset(ds), r"^dataset\.json: does not parse")


@pytest.mark.parametrize("key, table", [("episodes", "episodes.parquet rows"),
                                        ("frames", "frames.parquet rows"),
                                        ("labels", "boxes.parquet rows")])
def test_manifest_counts_that_disagree(ds, key, table):
    manifest = _manifest(ds)
    real = manifest["counts"][key]
    manifest["counts"][key] = real + 1
    (ds / "dataset.json").write_text(json.dumps(manifest))
    assert _found(check_dataset(ds), rf"^dataset\.json: counts\.{key} is {real + 1} but "
                                     rf"{re.escape(table)} is {real}$")


def test_a_label_missing_from_boxes_and_coco(ds):
    boxes = _table(ds, "boxes.parquet")
    dropped = boxes.iloc[5]
    _save(ds, "boxes.parquet", boxes.drop(index=5))
    report = check_dataset(ds)
    assert _found(report, r"^dataset\.json: counts\.labels is \d+ but boxes\.parquet rows")
    assert _found(report, rf"^frame_objects\.parquet row \d+ \(episode {dropped['episode']}, "
                          rf"frame {dropped['frame']}, front, {dropped['name']}\): labeled but "
                          r"not in boxes\.parquet$")
    assert _found(report, r"^annotations/coco\.json annotation \d+: no boxes\.parquet row")


# ------------------------------------------------------------------------------ boxes


def test_shifted_box_in_boxes_and_coco(ds):
    i, box = _first_box(ds)
    boxes = _table(ds, "boxes.parquet")
    boxes.loc[i, "x"] += 2
    _save(ds, "boxes.parquet", boxes)
    report = check_dataset(ds)
    where = (rf"^boxes\.parquet row {i} \(episode {box['episode']}, frame {box['frame']}, "
             rf"front, {box['name']}\)")
    x, y, w, h = (int(box[c]) for c in ("x", "y", "w", "h"))
    assert _found(report, rf"{where}: box \[{x + 2}, {y}, {w}, {h}\] is not the tight box "
                          rf"\[{x}, {y}, {w}, {h}\] of instance {box['instance_id']}'s pixels")
    assert _found(report, rf"{where}: differs from frame_objects\.parquet row \d+: x {x + 2} "
                          rf"vs {x}")
    assert _found(report, rf"^annotations/coco\.json annotation \d+: bbox \[{x}, {y}, {w}, "
                          rf"{h}\] but boxes\.parquet row {i} has \[{x + 2}, {y}, {w}, {h}\]")
    # The same shift in COCO: the annotation no longer fits its mask either.
    coco = _coco(ds)
    ann = next(a for a in coco["annotations"] if a["image_id"] == box["image_id"]
               and a["instance_id"] == box["instance_id"])
    ann["bbox"][0] += 2
    _save_coco(ds, coco)
    report = check_dataset(ds)
    assert _found(report, rf"^annotations/coco\.json annotation {ann['id']}: box "
                          rf"\[{x + 2}, {y}, {w}, {h}\] is not the tight box")
    assert not [p for p in report.problems if re.search(r"annotation \d+: bbox .* but", p)]


def test_box_past_the_image(ds):
    i, box = _first_box(ds)
    boxes = _table(ds, "boxes.parquet")
    x = 160 - int(box["w"]) + 4
    boxes.loc[i, "x"] = x
    _save(ds, "boxes.parquet", boxes)
    assert _found(check_dataset(ds), rf"^boxes\.parquet row {i} .*: box \[{x}, .*\] extends "
                                     r"past the image \(160x120\)$")


def test_degenerate_box(ds):
    i, box = _first_box(ds)
    boxes = _table(ds, "boxes.parquet")
    boxes.loc[i, "w"] = 0
    _save(ds, "boxes.parquet", boxes)
    assert _found(check_dataset(ds), rf"^boxes\.parquet row {i} .*: box \[.*, 0, "
                                     rf"{int(box['h'])}\] is degenerate \(width 0")


def test_coco_area_that_is_not_the_pixel_count(ds):
    coco = _coco(ds)
    ann = coco["annotations"][3]
    ann["area"] += 1
    _save_coco(ds, coco)
    report = check_dataset(ds)
    assert _found(report, rf"^annotations/coco\.json annotation {ann['id']}: area "
                          rf"{ann['area']} but instance {ann['instance_id']} has "
                          rf"{ann['area'] - 1} pixels in episodes/")


def test_instance_mask_that_disagrees_with_its_boxes(ds):
    _, box = _first_box(ds)
    frames = _table(ds, "frames.parquet").set_index("image_id")
    rel = frames.loc[box["image_id"], "instance_path"]
    mask = cv2.imread(str(ds / rel), cv2.IMREAD_UNCHANGED)
    x, y = int(box["x"]), int(box["y"])
    mask[mask == box["instance_id"]] = 1  # the object vanishes into the ground
    cv2.imwrite(str(ds / rel), mask)
    report = check_dataset(ds)
    assert _found(report, rf"^boxes\.parquet row \d+ .*{box['name']}\): visible_px "
                          rf"{box['visible_px']} but instance {box['instance_id']} has 0 pixels "
                          rf"in {re.escape(rel)}$")
    assert _found(report, rf"{box['name']}\): box \[{x}, {y}, .*\] but instance "
                          rf"{box['instance_id']} has no pixels in {re.escape(rel)}$")


def test_hidden_row_with_a_box(ds):
    fo = _table(ds, "frame_objects.parquet")
    i = int(np.flatnonzero((fo["status"] == "hidden").to_numpy())[0])
    fo.loc[i, ["x", "y", "w", "h", "visible_px"]] = [0, 0, 5, 5, 25]
    _save(ds, "frame_objects.parquet", fo)
    report = check_dataset(ds)
    assert _found(report, rf"^frame_objects\.parquet row {i} .*: hidden but has box "
                          r"\[0, 0, 5, 5\] and visible_px 25")
    assert _found(report, rf"^frame_objects\.parquet row {i} .*: visible_px 25 but instance "
                          r"\d+ has 0 pixels")


def test_labeled_object_with_pixels_but_no_row(ds):
    fo = _table(ds, "frame_objects.parquet")
    i = int(np.flatnonzero((fo["status"] == "below_rule").to_numpy())[0])
    row = fo.iloc[i]
    _save(ds, "frame_objects.parquet", fo.drop(index=i))
    assert _found(check_dataset(ds), rf": labeled instance {row['instance_id']} "
                                     rf"\({row['name']}\) has {row['visible_px']} pixels but "
                                     r"no frame_objects\.parquet row$")


def test_status_that_disagrees_with_the_labelling_rule(ds):
    manifest = _manifest(ds)
    boxes = _table(ds, "boxes.parquet")
    strict = int(boxes["visible_px"].max()) + 1
    manifest["scenario"]["labels"]["min_visible_px"] = strict
    (ds / "dataset.json").write_text(json.dumps(manifest))
    report = check_dataset(ds)
    lines = _found(report, rf"^frame_objects\.parquet row \d+ .*: labeled with visible_px \d+, "
                           rf"visible_fraction 1, below the rule \(labels\.min_visible_px "
                           rf"{strict}, labels\.min_visible_fraction 0(\.0)?\)$")
    assert len(lines) == len(boxes)
    manifest["scenario"]["labels"]["min_visible_px"] = 1
    (ds / "dataset.json").write_text(json.dumps(manifest))
    assert _found(check_dataset(ds), r"^frame_objects\.parquet row \d+ .*: below_rule with "
                                     r"visible_px \d+, .* fail the rule\)$")


def test_labeled_row_below_the_visible_fraction_rule(ds):
    manifest = _manifest(ds)
    manifest["scenario"]["labels"]["min_visible_fraction"] = 0.5
    (ds / "dataset.json").write_text(json.dumps(manifest))
    i, box = _first_box(ds)
    if "visible_fraction" not in box:
        pytest.skip("this generator writes no visible fractions")
    # A consistent row (fraction = visible / unoccluded) that fails the fraction rule.
    for name in ("boxes.parquet", "frame_objects.parquet"):
        df = _table(ds, name)
        row = (df["image_id"] == box["image_id"]) & (df["instance_id"] == box["instance_id"])
        df.loc[row, "unoccluded_px"] = 4 * box["visible_px"]
        df.loc[row, "visible_fraction"] = 0.25
        _save(ds, name, df)
    report = check_dataset(ds)
    assert _found(report, rf"^boxes\.parquet row {i} .*: labeled with visible_px "
                          rf"{box['visible_px']}, visible_fraction 0\.25, below the rule")
    assert _found(report, r"^annotations/coco\.json annotation \d+: attributes differ from "
                          rf"boxes\.parquet row {i}: unoccluded_px")
    assert not [p for p in report.problems if "is not visible_px / unoccluded_px" in p]


def test_visible_fraction_that_is_not_the_pixel_ratio(ds):
    fo = _table(ds, "frame_objects.parquet")
    if "visible_fraction" not in fo.columns:
        pytest.skip("this generator writes no visible fractions")
    i = int(np.flatnonzero((fo["status"] == "below_rule").to_numpy())[0])
    fo.loc[i, "visible_fraction"] = 0.123
    _save(ds, "frame_objects.parquet", fo)
    assert _found(check_dataset(ds), rf"^frame_objects\.parquet row {i} .*: visible_fraction "
                                     r"0\.123 is not visible_px / unoccluded_px")


# ------------------------------------------------------------------------------ classes


def test_category_id_that_is_not_a_category(ds):
    coco = _coco(ds)
    ann = coco["annotations"][7]
    ann["category_id"] = 99
    _save_coco(ds, coco)
    assert _found(check_dataset(ds), rf"^annotations/coco\.json annotation {ann['id']}: "
                                     r"category_id 99 is not a category$")


def test_category_id_of_another_class(ds):
    coco = _coco(ds)
    names = {c["id"]: c["name"] for c in coco["categories"]}
    ann = coco["annotations"][0]
    other = next(k for k in names if k != ann["category_id"])
    ann["category_id"] = other
    _save_coco(ds, coco)
    assert _found(check_dataset(ds), rf"^annotations/coco\.json annotation {ann['id']}: "
                                     rf"category_id {other} \({names[other]}\) but instance")


def test_swapped_class(ds):
    i, box = _first_box(ds)
    classes = _manifest(ds)["classes"]
    other = next(c for c in classes if c != box["class"])
    boxes = _table(ds, "boxes.parquet")
    boxes.loc[i, "class"] = other
    _save(ds, "boxes.parquet", boxes)
    assert _found(check_dataset(ds), rf"^boxes\.parquet row {i} .*: class '{other}' but "
                                     rf"objects\.parquet says {box['name']} is "
                                     rf"'{box['class']}'$")


def test_class_not_in_the_manifest(ds):
    objects = _table(ds, "objects.parquet")
    i = int(np.flatnonzero(objects["labeled"].to_numpy())[0])
    objects.loc[i, "class"] = "zeppelin"
    _save(ds, "objects.parquet", objects)
    assert _found(check_dataset(ds), rf"^objects\.parquet row {i} .*: class 'zeppelin' is "
                                     r"not in dataset\.json classes$")


def test_semantic_mask_that_disagrees_with_the_classes(ds):
    frames = _table(ds, "frames.parquet")
    if "semantic_path" not in frames.columns:
        pytest.skip("this generator writes no semantic masks")
    rel = frames["semantic_path"].iloc[0]
    semantic = cv2.imread(str(ds / rel), cv2.IMREAD_UNCHANGED)
    semantic[:10, :] = 0  # sky where there are objects (or already sky: change row 60)
    semantic[60, :] = 1
    cv2.imwrite(str(ds / rel), semantic)
    assert _found(check_dataset(ds), rf"^{re.escape(rel)}: \d+ pixels disagree with the "
                                     r"classes of their instances")


# ------------------------------------------------------------------------------ depth


def _depth_on_object(ds: Path, row: int, value: int) -> tuple[str, int, int]:
    """Write ``value`` mm into one object pixel of frame ``row``'s depth; returns it."""
    frames = _table(ds, "frames.parquet")
    rel = frames["depth_path"].iloc[row]
    instance = cv2.imread(str(ds / frames["instance_path"].iloc[row]), cv2.IMREAD_UNCHANGED)
    depth = cv2.imread(str(ds / rel), cv2.IMREAD_UNCHANGED)
    y, x = np.argwhere(instance > 0)[0]
    depth[y, x] = value
    cv2.imwrite(str(ds / rel), depth)
    return rel, int(x), int(y)


def test_depth_beyond_the_far_plane_of_its_episode(ds):
    episodes = _table(ds, "episodes.parquet").set_index("episode")
    far = episodes["cameras[0].far_m"]
    assert far[0] < far[1]  # episode 0's limit is below episode 1's
    far_mm = round(far[0] * 1000)
    frames = _table(ds, "frames.parquet")
    first = int(np.flatnonzero((frames["episode"] == 0).to_numpy())[0])
    rel, x, y = _depth_on_object(ds, first, far_mm + 1)
    assert _found(check_dataset(ds), rf"^{re.escape(rel)}: 1 pixels beyond the far plane "
                                     rf"\({far[0]:g} m = {far_mm} mm\), max {far_mm + 1} mm, "
                                     rf"first at \({x}, {y}\)$")
    # Exactly at the far plane (a surface there rounds to it) is allowed.
    _depth_on_object(ds, first, far_mm)
    assert check_dataset(ds).ok


def test_far_plane_from_the_manifest_when_it_is_not_sampled(ds):
    episodes = _table(ds, "episodes.parquet")
    _save(ds, "episodes.parquet", episodes.drop(columns="cameras[0].far_m"))
    manifest = _manifest(ds)
    manifest["scenario"]["cameras"][0]["far_m"] = 20.0
    (ds / "dataset.json").write_text(json.dumps(manifest))
    assert _found(check_dataset(ds), r": \d+ pixels beyond the far plane \(20 m = 20000 mm\)")


def test_depth_zero_on_an_object_and_depth_on_background(ds):
    rel, x, y = _depth_on_object(ds, 2, 0)
    assert _found(check_dataset(ds), rf"^{re.escape(rel)}: 1 pixels are 0 \(no surface\) "
                                     rf"where .* has an object, first at \({x}, {y}\)")
    frames = _table(ds, "frames.parquet")
    instance = cv2.imread(str(ds / frames["instance_path"].iloc[2]), cv2.IMREAD_UNCHANGED)
    depth = cv2.imread(str(ds / rel), cv2.IMREAD_UNCHANGED)
    y, x = np.argwhere(instance == 0)[0]
    depth[y, x] = 1234
    cv2.imwrite(str(ds / rel), depth)
    assert _found(check_dataset(ds), rf"^{re.escape(rel)}: 1 pixels have a depth where .* is "
                                     rf"background 0, first at \({x}, {y}\): 1234 mm$")


def test_not_a_dataset(tmp_path):
    report = check_dataset(tmp_path)
    assert _found(report, r"^dataset\.json: missing")
    assert _found(report, r"^frames\.parquet: missing$")


def test_command_line_exit_codes_and_run_check(ds, tmp_path):
    import subprocess
    import sys

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "simgen.cli", *args], capture_output=True,
                              text=True, timeout=300)

    clean = cli("check", str(ds))
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert clean.stdout.startswith("ok: ")
    (ds / "episodes" / "000001" / "rgb" / "front_00002.png").unlink()
    broken = cli("check", str(ds))
    assert broken.returncode == 2
    assert broken.stdout.splitlines()[0] == "episodes/000001/rgb/front_00002.png: missing"
    assert cli("check", str(tmp_path / "nowhere")).returncode == 1
    fresh = cli("run", str(ROOT / "scenarios" / "robot_tabletop.yaml"), "--out",
                str(tmp_path / "run"), "--check", "--set", "episodes=1", "--set",
                "duration_s=0.2", "--set", "capture.width=96", "--set", "capture.height=72")
    assert fresh.returncode == 0, fresh.stderr
    assert "\nok: " in "\n" + fresh.stdout
