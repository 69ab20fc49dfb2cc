"""simgen preview: contact sheets grouped by condition, with every label drawn in place."""

from __future__ import annotations

import json
import subprocess
import sys

import cv2
import numpy as np
import pandas as pd
import pytest
from conftest import ROOT, generate

from simgen.errors import SimgenError
from simgen.evaluation.slices import image_slices
from simgen.reports.preview import (
    CAPTION_PX,
    GAP_PX,
    TITLE_PX,
    SheetLayout,
    class_colour,
    draw_labels,
    write_previews,
)

SCENARIO = ROOT / "scenarios" / "driving_edge_cases.yaml"
LAYOUT = SheetLayout(per_sheet=5, columns=3, thumb_width_px=120)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """driving_edge_cases small: fog, rain, night and edge cases in a few episodes."""
    out = tmp_path_factory.mktemp("preview") / "data"
    generate(SCENARIO, out, ["episodes=4", "seed=3", "duration_s=1.4", "capture.width=240",
                             "capture.height=180"])
    return out


def _read_rgb(path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def test_boxes_are_drawn_where_the_labels_are(dataset):
    boxes = pd.read_parquet(dataset / "boxes.parquet")
    classes = json.loads((dataset / "dataset.json").read_text())["classes"]
    image_id = boxes["image_id"].value_counts().index[0]  # the frame with most labels
    labels = boxes[boxes.image_id == image_id]
    scale = 0.5
    drawn = draw_labels(np.zeros((180, 240, 3), np.uint8), labels, scale, classes)
    assert drawn.shape == (90, 120, 3)
    checked = 0
    for row in labels.itertuples(index=False):
        left, top = round(row.x * scale), round(row.y * scale)
        right, bottom = round((row.x + row.w) * scale) - 1, round((row.y + row.h) * scale) - 1
        if right - left < 4 or bottom - top < 4:
            continue
        colour = class_colour(labels.loc[labels.instance_id == row.instance_id,
                                         "class"].iloc[0], classes)
        edge = drawn[bottom, left + 1:right]  # the bottom edge: names are written above
        assert np.mean((edge == colour).all(axis=1)) >= 0.6
        checked += 1
    assert checked >= 1
    # nothing is drawn far from every box
    mask = np.zeros((90, 120), bool)
    for row in labels.itertuples(index=False):
        x0, y0 = int(row.x * scale) - 2, int(row.y * scale) - 12
        mask[max(y0, 0):int((row.y + row.h) * scale) + 2,
             max(x0, 0):int((row.x + row.w) * scale) + 80] = True
    assert not drawn[~mask].any()


def test_sheets_group_frames_by_condition_and_spread_over_each_group(dataset, tmp_path):
    sheets = write_previews(dataset, tmp_path, "condition", LAYOUT)
    frames = pd.read_parquet(dataset / "frames.parquet")
    episodes = pd.read_parquet(dataset / "episodes.parquet")
    slices = [s for s in image_slices(frames, episodes) if s.kind in ("weather", "time_of_day")]
    assert [s.name for s in sheets] == [s.name for s in slices]
    assert any(s.name == "fog=on" for s in sheets) and any(
        s.name.startswith("time_of_day=") for s in sheets)
    index = json.loads((tmp_path / "index.json").read_text())
    for sheet, group in zip(sheets, slices, strict=True):
        members = sorted(group.image_ids)
        assert sheet.frames_in_group == len(members)
        assert len(sheet.image_ids) == min(LAYOUT.per_sheet, len(members))
        assert set(sheet.image_ids) <= group.image_ids
        assert sheet.image_ids[0] == members[0] and sheet.image_ids[-1] == members[-1]
        entry = next(e for e in index["sheets"] if e["name"] == sheet.name)
        assert entry["image_ids"] == list(sheet.image_ids)
    fog = next(s for s in sheets if s.name == "fog=on")
    assert frames.set_index("image_id").loc[list(fog.image_ids), "weather.fog.on"].all()


def test_a_sheet_shows_each_listed_frame_with_its_labels(dataset, tmp_path):
    sheets = write_previews(dataset, tmp_path, "edge_case", LAYOUT)
    episodes = pd.read_parquet(dataset / "episodes.parquet")
    fired = {n for names in episodes["edge_cases"].fillna("") for n in names.split(",") if n}
    assert fired and {f"edge_case={n}" for n in fired} <= {s.name for s in sheets}
    frames = pd.read_parquet(dataset / "frames.parquet").set_index("image_id")
    boxes = pd.read_parquet(dataset / "boxes.parquet")
    classes = json.loads((dataset / "dataset.json").read_text())["classes"]
    sheet = max(sheets, key=lambda s: len(s.image_ids))
    image = _read_rgb(sheet.path)
    thumb_h = round(180 * LAYOUT.thumb_width_px / 240)
    cols = min(LAYOUT.columns, len(sheet.image_ids))
    rows = -(-len(sheet.image_ids) // cols)
    cell_w, cell_h = LAYOUT.thumb_width_px + GAP_PX, thumb_h + CAPTION_PX + GAP_PX
    assert image.shape == (TITLE_PX + rows * cell_h + GAP_PX, cols * cell_w + GAP_PX, 3)
    for k, image_id in enumerate(sheet.image_ids):
        frame = frames.loc[image_id]
        expected = draw_labels(_read_rgb(dataset / frame["rgb_path"]),
                               boxes[boxes.image_id == image_id], 0.5, classes)
        top, left = TITLE_PX + (k // cols) * cell_h, GAP_PX + (k % cols) * cell_w
        assert np.array_equal(image[top:top + thumb_h, left:left + LAYOUT.thumb_width_px],
                              expected)


def test_bad_requests_are_one_line_errors(dataset, tmp_path):
    with pytest.raises(SimgenError, match="unknown grouping 'wether' .did you mean 'weather'"):
        write_previews(dataset, tmp_path, "wether")
    with pytest.raises(SimgenError, match="not a simgen dataset"):
        write_previews(tmp_path, None)
    result = subprocess.run([sys.executable, "-m", "simgen.cli", "preview", str(dataset),
                             "--out", str(tmp_path / "cli"), "--by", "sweep_point"],
                            capture_output=True, text=True)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        f"error: {dataset}: no sweep point groups in this dataset (try --by all)"]
    assert not (tmp_path / "cli").exists() or not any((tmp_path / "cli").iterdir())
