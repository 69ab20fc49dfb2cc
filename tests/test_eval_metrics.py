"""simgen.evaluation: COCO metrics sliced by condition, bootstrap intervals, importance
weights and the baseline comparison, on a small generated driving dataset."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from conftest import ROOT, generate

from simgen.errors import SimgenError
from simgen.evaluation.compare import compare, eval_slices, write_junit
from simgen.evaluation.metrics import (
    Detection,
    accumulate,
    attach_distances_m,
    bootstrap_intervals,
    evaluate_detections,
    load_coco,
    match_detections,
    run_detector,
)
from simgen.evaluation.slices import ObjectSlice, image_slices

pycocotools = pytest.importorskip("pycocotools")
from pycocotools.coco import COCO  # noqa: E402
from pycocotools.cocoeval import COCOeval  # noqa: E402

#: Eight 1 s episodes at 320x240 with a low labelling threshold, so objects from 5 m to
#: beyond 40 m are labeled; fog in about half the episodes, day and night, and a jaywalker
#: over-sampled (so episodes carry importance weights other than 1). TinyRenderer: the same
#: images on every machine.
OVERRIDES = ["episodes=8", "duration_s=1.0", "capture.width=320", "capture.height=240",
             "labels.min_visible_px=12", "renderer=tiny",
             "weather={fog: {probability: 0.5, visibility_m: {loguniform: [40, 300]}}}",
             "lighting={time_of_day: {choice: [day, night]}}",
             "edge_cases={jaywalker: {probability: 0.05, oversample: 0.5}}"]
RESAMPLES = 100
FAR_M = 20.0


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("eval") / "dataset"
    generate(ROOT / "scenarios" / "driving_urban.yaml", out, OVERRIDES)
    return out


@pytest.fixture(scope="module")
def coco(dataset) -> dict:
    return load_coco(dataset)


def _ground_truth_detections(coco: dict, keep=lambda ann: True) -> dict[int, list[Detection]]:
    """The ground-truth boxes as detections of score 1 (those ``keep`` accepts)."""
    detections = {img["id"]: [] for img in coco["images"]}
    for ann in coco["annotations"]:
        if keep(ann):
            detections[ann["image_id"]].append(
                Detection(tuple(ann["bbox"]), ann["category_id"], 1.0))
    return detections


def _noisy_detections(coco: dict, rng: np.random.Generator) -> dict[int, list[Detection]]:
    """Ground truth found with probability 0.8, boxes jittered by ~10 % of their size,
    random scores, and about one false positive of a random class per image."""
    categories = [c["id"] for c in coco["categories"]]
    detections = {img["id"]: [] for img in coco["images"]}
    for ann in coco["annotations"]:
        if rng.random() < 0.8:
            x, y, w, h = ann["bbox"]
            dx, dy = rng.normal(0.0, 0.1, 2) * (w, h)
            sw, sh = np.exp(rng.normal(0.0, 0.1, 2))
            detections[ann["image_id"]].append(Detection(
                (x + dx, y + dy, w * sw, h * sh), ann["category_id"], float(rng.random())))
    for img in coco["images"]:
        for _ in range(rng.poisson(1.0)):
            w, h = rng.uniform(4, 40, 2)
            x, y = rng.uniform(0, img["width"] - w), rng.uniform(0, img["height"] - h)
            detections[img["id"]].append(Detection(
                (x, y, w, h), int(rng.choice(categories)), float(rng.random())))
    return detections


@pytest.fixture(scope="module")
def perfect(dataset, coco) -> dict:
    detections = attach_distances_m(dataset, _ground_truth_detections(coco))
    return evaluate_detections(dataset, detections, np.random.default_rng(1),
                               resamples=RESAMPLES)


@pytest.fixture(scope="module")
def noisy(dataset, coco) -> dict[int, list[Detection]]:
    return attach_distances_m(dataset, _noisy_detections(coco, np.random.default_rng(5)))


def _by_name(result: dict) -> dict[str, dict]:
    return {s["name"]: s for s in eval_slices(result)}


def _pycocotools_stats(coco: dict, detections, image_ids=None, gt_area=None,
                       dt_area=None) -> tuple[float, float, float]:
    """(AP, AP50, AR@100) from plain pycocotools, the reference; optional areas replace
    the objects' and detections' own to slice with COCO's area range."""
    gt = COCO()
    gt.dataset = {**coco, "annotations": [
        {**a, "area": gt_area(a) if gt_area else a["area"]} for a in coco["annotations"]]}
    gt.createIndex()
    results = [{"image_id": i, "category_id": d.category_id, "bbox": list(d.bbox_px),
                "score": d.score} for i, dets in sorted(detections.items()) for d in dets]
    dt = gt.loadRes(results)
    if dt_area:
        for ann, det in zip(dt.dataset["annotations"], (d for _, ds in sorted(
                detections.items()) for d in ds), strict=True):
            ann["area"] = dt_area(det)
    evaluation = COCOeval(gt, dt, "bbox")
    if image_ids is not None:
        evaluation.params.imgIds = sorted(image_ids)
    evaluation.evaluate()
    evaluation.accumulate()
    evaluation.summarize()
    return evaluation.stats[0], evaluation.stats[1], evaluation.stats[8]


def test_perfect_detector_scores_one_everywhere(perfect, coco):
    slices = _by_name(perfect)
    assert perfect["overall"]["gt_objects"] == len(coco["annotations"])
    for name in ("distance=0-10m", "distance=10-20m", "distance=20-40m", "distance=40m+",
                 "fog=on", "fog=off", "time_of_day=night", "edge_case=jaywalker"):
        assert slices[name]["gt_objects"] > 0, name
    assert perfect["weighted"]  # the over-sampled jaywalker makes weights other than 1
    for entry in eval_slices(perfect):
        if entry["gt_objects"] == 0:
            continue
        for metric in ("ap", "ap50", "recall"):
            assert entry[metric] == 1.0, (entry["name"], metric)
            assert entry["ci"][metric] == [1.0, 1.0], (entry["name"], metric)
            assert entry["weighted"][metric] == 1.0, (entry["name"], metric)
    json.dumps(perfect)  # the eval dict is JSON


def test_distance_slices_count_each_object_once(perfect, coco):
    distance_m = np.array([a["attributes"]["distance_m"] for a in coco["annotations"]])
    slices = _by_name(perfect)
    assert slices["distance=0-10m"]["gt_objects"] == np.count_nonzero(distance_m < 10)
    assert slices["distance=40m+"]["gt_objects"] == np.count_nonzero(distance_m >= 40)
    assert sum(slices[n]["gt_objects"] for n in slices if n.startswith("distance=")) == len(
        distance_m)
    assert sum(slices[n]["images"] for n in ("fog=on", "fog=off")) == len(coco["images"])


def test_missing_far_objects_shows_in_far_slices_and_fails_the_comparison(
        dataset, coco, perfect, tmp_path):
    near_only = attach_distances_m(dataset, _ground_truth_detections(
        coco, keep=lambda a: a["attributes"]["distance_m"] <= FAR_M))
    result = evaluate_detections(dataset, near_only, np.random.default_rng(2),
                                 resamples=RESAMPLES)
    slices = _by_name(result)
    for near in ("distance=0-10m", "distance=10-20m"):
        assert (slices[near]["ap"], slices[near]["ap50"], slices[near]["recall"]) == (1, 1, 1)
    for far in ("distance=20-40m", "distance=40m+"):
        assert slices[far]["ap"] < 0.1 and slices[far]["recall"] < 0.1, slices[far]
    assert slices["overall"]["recall"] < 0.9

    regressions = compare(result, perfect, max_drop=0.05)
    names = {r.name for r in regressions}
    assert {n for n in names if n.startswith("distance=")} == {"distance=20-40m",
                                                               "distance=40m+"}
    # Every image-level slice that fails holds far objects.
    far_images = {a["image_id"] for a in coco["annotations"]
                  if a["attributes"]["distance_m"] > FAR_M}
    image_sets = {s.name: s.image_ids for s in image_slices(
        pd.read_parquet(dataset / "frames.parquet"), pd.read_parquet(dataset / "episodes.parquet"))}
    for name in names & set(image_sets):
        assert image_sets[name] & far_images, name
    assert "overall" in names
    assert not compare(perfect, perfect, max_drop=0.05)

    junit = tmp_path / "eval.xml"
    write_junit(junit, result, regressions)
    suite = ET.parse(junit).getroot()
    cases = suite.findall("testcase")
    assert len(cases) == 1 + len(result["slices"])
    failed = {c.get("name") for c in cases if c.find("failure") is not None}
    assert failed == names
    assert int(suite.get("failures")) == len(names)


def test_accumulate_reproduces_pycocotools(dataset, coco, noisy):
    table = match_detections(coco, noisy)
    ours = accumulate(table, np.ones(len(table.image_ids)))
    reference = _pycocotools_stats(coco, noisy)
    assert 0.2 < ours["ap"] < 0.9  # a detector with a real precision-recall curve
    assert (ours["ap"], ours["ap50"], ours["recall"]) == reference  # to the bit

    # An image slice: weight 0 outside equals pycocotools run on the slice's images.
    fog = next(s for s in image_slices(pd.read_parquet(dataset / "frames.parquet"),
                                       pd.read_parquet(dataset / "episodes.parquet"))
               if s.name == "fog=on")
    ours = accumulate(table, np.isin(table.image_ids, list(fog.image_ids)).astype(float))
    reference = _pycocotools_stats(coco, noisy, image_ids=fog.image_ids)
    assert (ours["ap"], ours["ap50"], ours["recall"]) == pytest.approx(reference, abs=1e-12)


def test_object_slice_is_cocos_area_range_with_distance_for_area(coco, noisy):
    """Slicing by distance = COCO's own area-range rule with each object's distance (and each
    detection's depth-measured distance) in place of its area."""
    band = ObjectSlice("distance=20-40m", "distance", "distance_m", 20.0, 40.0)
    ours = accumulate(match_detections(coco, noisy, band), np.ones(len(coco["images"])))
    assert sum(d.distance_m is not None and 20 <= d.distance_m < 40
               for dets in noisy.values() for d in dets) > 0
    inside, outside = 100.0, 1e12  # COCO's "all" range is [0, 1e10]
    reference = _pycocotools_stats(
        coco, noisy,
        gt_area=lambda a: inside if band.contains(a["attributes"]["distance_m"]) else outside,
        dt_area=lambda d: outside if d.distance_m is not None and not band.contains(
            d.distance_m) else inside)
    assert (ours["ap"], ours["ap50"], ours["recall"]) == pytest.approx(reference, abs=1e-12)


def test_importance_weights_recover_the_nominal_recall(dataset, coco):
    """Half the episodes play an edge case that is nominally rare (p = 0.1, over-sampled at
    q = 0.5) and in which the detector sees nothing. The scenes do not depend on it, so
    the nominal recall is 1 - p = 0.9, and the raw recall about 0.5."""
    p, q = 0.1, 0.5
    episode_of = {img["id"]: img["episode"] for img in coco["images"]}
    fired = {e for e in set(episode_of.values()) if e % 2 == 0}
    weights = {e: p / q if e in fired else (1 - p) / (1 - q) for e in set(episode_of.values())}
    detections = _ground_truth_detections(coco, keep=lambda a: episode_of[a["image_id"]]
                                          not in fired)
    result = evaluate_detections(dataset, detections, np.random.default_rng(3),
                                 resamples=400, importance_weights=weights)
    overall = result["overall"]
    low, high = overall["weighted"]["ci"]["recall"]
    assert low <= 1 - p <= high
    assert overall["recall"] < 0.7 and overall["ci"]["recall"][1] < 1 - p
    assert abs(overall["weighted"]["recall"] - (1 - p)) < abs(overall["recall"] - (1 - p)) / 4

    # The weighted point estimate, by hand: per class, weighted found / weighted objects,
    # then averaged over classes (AR@100; the boxes are exact, so every IoU agrees).
    boxes = pd.read_parquet(dataset / "boxes.parquet")
    boxes["w"] = boxes["episode"].map(weights)
    boxes["found"] = ~boxes["episode"].isin(fired)
    by_class = boxes.groupby("class").apply(
        lambda b: (b.w * b.found).sum() / b.w.sum(), include_groups=False)
    assert overall["weighted"]["recall"] == pytest.approx(by_class.mean(), abs=1e-8)


def test_uniform_importance_weights_change_nothing(dataset, noisy):
    episodes = pd.read_parquet(dataset / "episodes.parquet")["episode"]
    ones = evaluate_detections(dataset, noisy, np.random.default_rng(4), resamples=20,
                               importance_weights=dict.fromkeys(episodes, 1.0))
    assert not ones["weighted"] and "weighted" not in ones["overall"]
    scaled = evaluate_detections(dataset, noisy, np.random.default_rng(4), resamples=20,
                                 importance_weights=dict.fromkeys(episodes, 0.37))
    for a, b in zip(eval_slices(ones), eval_slices(scaled), strict=True):
        for metric in ("ap", "ap50", "recall"):
            if a[metric] is not None:
                assert b["weighted"][metric] == pytest.approx(a[metric], abs=1e-12)
                assert b[metric] == a[metric]


def test_bootstrap_is_seeded_and_contains_the_estimate(dataset, noisy):
    first = evaluate_detections(dataset, noisy, np.random.default_rng(7), resamples=60)
    again = evaluate_detections(dataset, noisy, np.random.default_rng(7), resamples=60)
    other = evaluate_detections(dataset, noisy, np.random.default_rng(8), resamples=60)
    assert first == again
    assert first["overall"]["ci"] != other["overall"]["ci"]
    for entry in eval_slices(first):
        for metric in ("ap", "ap50", "recall"):
            if entry[metric] is None:
                continue
            low, high = entry["ci"][metric]
            assert low <= entry[metric] <= high, (entry["name"], metric)
            if entry["episodes"] > 1:
                assert low < high, (entry["name"], metric)


def _synthetic(episodes: int, rng: np.random.Generator):
    """A COCO dict of ``episodes`` episodes x 5 images x 3 objects, and detections that find
    each object with probability 0.7 and add one false positive per image."""
    coco = {"images": [], "annotations": [], "categories": [{"id": 1, "name": "car"},
                                                            {"id": 2, "name": "pedestrian"}]}
    detections = {}
    for image_id in range(1, episodes * 5 + 1):
        coco["images"].append({"id": image_id, "episode": (image_id - 1) // 5,
                               "width": 100, "height": 100})
        detections[image_id] = []
        for k in range(3):
            box = (30.0 * k, 10.0, 20.0, 20.0)
            category = int(rng.integers(1, 3))
            coco["annotations"].append({"id": len(coco["annotations"]) + 1,
                                        "image_id": image_id, "category_id": category,
                                        "bbox": list(box), "area": 400.0, "iscrowd": 0})
            if rng.random() < 0.7:
                detections[image_id].append(Detection(box, category, float(rng.random())))
        detections[image_id].append(Detection((10.0, 60.0, 20.0, 20.0), int(rng.integers(1, 3)),
                                              float(rng.random())))
    return coco, detections


def test_bootstrap_interval_shrinks_with_more_episodes():
    widths = {}
    for episodes in (8, 64):
        coco, detections = _synthetic(episodes, np.random.default_rng(episodes))
        table = match_detections(coco, detections)
        image_episode = np.array([(i - 1) // 5 for i in table.image_ids])
        (interval,) = bootstrap_intervals(table, [np.ones(len(image_episode))], image_episode,
                                          np.random.default_rng(0), resamples=200)
        widths[episodes] = {m: hi - lo for m, (lo, hi) in interval.items()}
    for metric in ("ap", "ap50", "recall"):
        # The width goes as 1/sqrt(episodes): 8x the episodes, about a third of the width.
        assert widths[64][metric] < 0.6 * widths[8][metric], (metric, widths)


def test_compare_needs_the_whole_interval_below_the_tolerance():
    def result(ap: float, ci: list[float]) -> dict:
        entry = {"name": "fog=on", "kind": "weather", "images": 10, "gt_objects": 50,
                 "ap": ap, "ci": {"ap": ci}}
        return {"overall": {**entry, "name": "overall", "kind": "overall"}, "slices": [entry]}

    baseline = result(0.60, [0.55, 0.65])
    assert not compare(result(0.50, [0.40, 0.58]), baseline, max_drop=0.05)  # noise
    assert not compare(result(0.57, [0.50, 0.62]), baseline, max_drop=0.05)  # within drop
    (overall, fog) = compare(result(0.45, [0.40, 0.52]), baseline, max_drop=0.05)
    assert (fog.name, fog.baseline, fog.current) == ("fog=on", 0.60, 0.45)
    assert fog.drop == pytest.approx(0.15)


def test_run_detector_maps_classes_and_measures_distance(dataset, coco):
    def two_boxes(rgb: np.ndarray):
        assert rgb.dtype == np.uint8 and rgb.shape == (240, 320, 3)
        return [((100.0, 100.0, 40.0, 30.0), "car", 0.9), ((10.5, 150.2, 60, 20.3), "van", 0.2)]

    detections = run_detector(dataset, two_boxes)
    assert set(detections) == {img["id"] for img in coco["images"]}
    names = {c["id"]: c["name"] for c in coco["categories"]}
    frames = pd.read_parquet(dataset / "frames.parquet").set_index("image_id")
    for image_id, found in detections.items():
        assert [(names[d.category_id], d.bbox_px, d.score) for d in found] == [
            ("car", (100.0, 100.0, 40.0, 30.0), 0.9), ("van", (10.5, 150.2, 60.0, 20.3), 0.2)]
        # The range to each pixel, from K's inverse: |z K^-1 (u, v, 1)|.
        frame = frames.loc[image_id]
        z_m = cv2.imread(str(dataset / frame["depth_path"]), cv2.IMREAD_UNCHANGED) / 1000.0
        v, u = np.mgrid[:z_m.shape[0], :z_m.shape[1]]
        rays = np.linalg.inv(np.reshape(frame["K"], (3, 3))) @ np.stack(
            [u.ravel(), v.ravel(), np.ones(u.size)])
        range_m = (z_m.ravel() * np.linalg.norm(rays, axis=0)).reshape(z_m.shape)
        for det, (rows, cols) in zip(found, [(slice(100, 130), slice(100, 140)),
                                             (slice(150, 171), slice(10, 71))], strict=True):
            surface = z_m[rows, cols] > 0
            expected = np.median(range_m[rows, cols][surface]) if surface.any() else math.inf
            # decode_depth_png gives float32 metres: 7 digits.
            assert det.distance_m == pytest.approx(expected, rel=1e-6)

    # A box on the sky is beyond every range; one outside the image has no distance.
    image_id, frame = next(iter(frames.iterrows()))
    z = cv2.imread(str(dataset / frame["depth_path"]), cv2.IMREAD_UNCHANGED)
    v, u = np.argwhere(z == 0)[0]
    car = found[0].category_id
    sky, off = attach_distances_m(dataset, {image_id: [
        Detection((float(u), float(v), 1.0, 1.0), car, 0.5),
        Detection((400.0, 10.0, 5.0, 5.0), car, 0.5)]})[image_id]
    assert sky.distance_m == math.inf and off.distance_m is None

    with pytest.raises(SimgenError, match=r"class 'cars'.*did you mean 'car'"):
        run_detector(dataset, lambda rgb: [((0, 0, 5, 5), "cars", 1.0)])
    with pytest.raises(SimgenError, match="expected"):
        run_detector(dataset, lambda rgb: [((0, 0, 5), "car", 1.0)])


def test_image_slices_read_sweep_points_and_several_edge_cases():
    frames = pd.DataFrame({"episode": [0, 0, 1, 2], "image_id": [1, 2, 3, 4],
                           "lighting.time_of_day": ["day", "day", "night", "dusk"],
                           "weather.rain.on": [False, False, True, True],
                           "weather.snow.on": [False] * 4})
    episodes = pd.DataFrame({"episode": [0, 1, 2], "edge_cases": ["a,b", "", "b"],
                             "sweep.point": [0, 1, 1]})
    slices = {s.name: set(s.image_ids) for s in image_slices(frames, episodes)}
    assert slices == {"rain=off": {1, 2}, "rain=on": {3, 4}, "time_of_day=day": {1, 2},
                      "time_of_day=dusk": {4}, "time_of_day=night": {3},
                      "edge_case=a": {1, 2}, "edge_case=b": {1, 2, 4},
                      "edge_case=none": {3}, "sweep.point=0": {1, 2},
                      "sweep.point=1": {3, 4}}
    without = image_slices(frames, episodes.drop(columns="sweep.point"))
    assert not [s for s in without if s.kind == "sweep_point"]


def test_object_slice_bins():
    far = ObjectSlice("distance=40m+", "distance", "distance_m", 40.0, math.inf)
    top = ObjectSlice("visibility=0.7-1", "visibility", "visibility", 0.7, 1.0, True)
    assert far.contains(40.0) and far.contains(math.inf) and not far.contains(39.99)
    assert top.contains(1.0) and not top.contains(None) and not top.contains(math.nan)


def test_metrics_import_without_pycocotools_and_name_the_extra():
    empty = "{'images': [], 'annotations': [], 'categories': []}"
    code = ("import sys; sys.modules['pycocotools'] = None\n"
            "import simgen.evaluation.metrics as m\n"
            "from simgen.errors import SimgenError\n"
            f"try:\n    m.match_detections({empty}, {{}})\n"
            "except SimgenError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT)
    assert "pip install 'simgen[eval]'" in out.stdout
