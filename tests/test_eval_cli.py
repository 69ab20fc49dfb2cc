"""simgen eval end to end: a model from a file, eval.json, a baseline that fails the
build naming the slices that regressed, JUnit XML, and one-line errors."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
from conftest import ROOT, figures_rendered, generate

pytest.importorskip("pycocotools")

ORACLE = '''
"""Test models: the ground truth itself, found by the image's bytes."""
import hashlib, json, os
from pathlib import Path
import cv2

_root = Path(os.environ["SIMGEN_TEST_DATASET"])
_coco = json.loads((_root / "annotations" / "coco.json").read_text())
_names = {c["id"]: c["name"] for c in _coco["categories"]}
_image_of = {}
for image in _coco["images"]:
    rgb = cv2.cvtColor(cv2.imread(str(_root / image["file_name"])), cv2.COLOR_BGR2RGB)
    _image_of[hashlib.sha1(rgb.tobytes()).hexdigest()] = image["id"]
_labels = {}
for ann in _coco["annotations"]:
    _labels.setdefault(ann["image_id"], []).append(ann)


def _found(rgb, max_m):
    image_id = _image_of[hashlib.sha1(rgb.tobytes()).hexdigest()]
    return [(ann["bbox"], _names[ann["category_id"]], 1.0) for ann in _labels.get(image_id, [])
            if ann["attributes"]["distance_m"] <= max_m]


def perfect(rgb):
    return _found(rgb, float("inf"))


def near_only(rgb):
    return _found(rgb, 20.0)
'''


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """driving_urban, small, with objects from a few metres to beyond 40 m."""
    out = tmp_path_factory.mktemp("evalcli") / "data"
    generate(ROOT / "scenarios" / "driving_urban.yaml", out,
             ["episodes=4", "duration_s=1.0", "capture.width=320", "capture.height=240",
              "labels.min_visible_px=12"])
    return out


def simgen(*args: str, cwd, dataset) -> subprocess.CompletedProcess:
    env = {**os.environ, "SIMGEN_TEST_DATASET": str(dataset)}
    return subprocess.run([sys.executable, "-m", "simgen.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def test_a_regression_fails_the_build_and_names_its_slices(dataset, tmp_path):
    (tmp_path / "oracle.py").write_text(ORACLE)
    base = simgen("eval", str(dataset), "--model", "oracle.py:perfect", "--out", "v1",
                  "--resamples", "50", cwd=tmp_path, dataset=dataset)
    assert base.returncode == 0, base.stderr
    baseline = json.loads((tmp_path / "v1" / "eval.json").read_text())
    assert baseline["model"] == "oracle.py:perfect"
    assert all(s["ap"] == 1.0 for s in [baseline["overall"], *baseline["slices"]]
               if s["gt_objects"])
    detections = json.loads((tmp_path / "v1" / "detections.json").read_text())
    assert sum(map(len, detections.values())) == baseline["overall"]["gt_objects"]

    worse = simgen("eval", str(dataset), "--model", "oracle.py:near_only", "--out", "v2",
                   "--baseline", "v1/eval.json", "--max-drop", "0.05", "--junit", "j.xml",
                   "--resamples", "50", cwd=tmp_path, dataset=dataset)
    assert worse.returncode == 4, worse.stderr
    assert "Traceback" not in worse.stderr
    result = json.loads((tmp_path / "v2" / "eval.json").read_text())
    regressed = [r["name"] for r in result["comparison"]["regressions"]]
    slices = {s["name"]: s for s in result["slices"]}
    # the far slices lost their objects; the near ones lost nothing and are not named
    assert {"distance=20-40m", "distance=40m+"} <= set(regressed)
    assert not {"distance=0-10m", "distance=10-20m"} & set(regressed)
    assert slices["distance=0-10m"]["ap"] == 1.0 and slices["distance=10-20m"]["ap"] == 1.0
    reported = [line for line in worse.stderr.splitlines() if line.startswith("regression: ")]
    assert [line.split(": ")[1] for line in reported] == regressed
    # the page and its figures: one per slice kind, and baseline against current
    plots = {p.stem for p in (tmp_path / "v2" / "plots").glob("*.svg")}
    assert plots == {s["kind"] for s in result["slices"]} | {"overall", "comparison"}
    page = (tmp_path / "v2" / "eval.html").read_text()
    data = json.loads(re.search(r'id="eval-data">(.*?)</script>', page, re.S).group(1))
    assert data["regressed"] == sorted(regressed)
    assert all(f"<tr class=\"regressed\"><td class=\"text\">{name}</td>" in page
               for name in regressed)
    cases = ET.parse(tmp_path / "j.xml").getroot()
    failed = [c.get("name") for c in cases.iter("testcase") if c.find("failure") is not None]
    assert failed == regressed
    assert int(cases.get("failures")) == len(regressed)

    # compared with itself, nothing regresses and the exit code is 0
    same = simgen("eval", str(dataset), "--model", "oracle.py:perfect", "--out", "v3",
                  "--baseline", "v1/eval.json", "--resamples", "50", cwd=tmp_path,
                  dataset=dataset)
    assert same.returncode == 0, same.stderr
    assert "no regression" in same.stdout
    # and the same model, data and seed write the same bytes
    assert (tmp_path / "v3" / "detections.json").read_bytes() == \
        (tmp_path / "v1" / "detections.json").read_bytes()
    # last (it is skipped where Chromium is missing): every figure of the page renders
    figures, drawn, failed = figures_rendered(tmp_path / "v2" / "eval.html", tmp_path)
    assert failed == "" and figures == drawn == len(plots)


def test_the_reference_detector_runs_by_default(dataset, tmp_path):
    run = simgen("eval", str(dataset), "--out", "ref", "--resamples", "20", cwd=tmp_path,
                 dataset=dataset)
    assert run.returncode == 0, run.stderr
    result = json.loads((tmp_path / "ref" / "eval.json").read_text())
    assert result["model"] == "simgen.evaluation.reference_detector:detect"
    assert result["overall"]["ap50"] > 0  # it finds something on clear daylight frames
    names = {s["name"] for s in result["slices"]}
    assert {"time_of_day=day", "distance=0-10m", "visibility=0.7-1"} <= names


@pytest.mark.parametrize("args, message", [
    (["--model", "nonsense"], "--model: expected module:callable"),
    (["--model", "no_such_module_here:detect"], "--model: cannot import no_such_module_here"),
    (["--model", "simgen.evaluation.reference_detector:detekt"],
     "has no attribute 'detekt' (did you mean 'detect'?)"),
    (["--model", "simgen.evaluation.reference_detector:CLASS_NAMES"], "not a callable"),
    (["--baseline", "missing.json"], "missing.json: cannot read"),
    (["--metric", "f1"], "--metric: choose from ap, ap50, recall"),
])
def test_bad_input_is_one_line_and_writes_nothing(dataset, tmp_path, args, message):
    run = simgen("eval", str(dataset), "--out", "never", *args, cwd=tmp_path, dataset=dataset)
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    (line,) = run.stderr.strip().splitlines()
    assert message in line, line
    assert not (tmp_path / "never").exists()


def test_a_folder_that_is_not_a_dataset_is_refused(tmp_path):
    run = simgen("eval", str(tmp_path), cwd=tmp_path, dataset=tmp_path)
    assert run.returncode == 1
    assert run.stderr.strip() == f"error: {tmp_path}: not a simgen dataset (no dataset.json)"
