"""Contact sheets: a dataset's frames with their labels drawn, one sheet per condition.

``simgen preview DIR`` groups the frames by the same slices ``simgen eval`` reports
(weather, time of day, edge case, sweep point), picks frames spread evenly over each
group (no randomness: the same dataset gives the same sheets), draws every label's
visible box with its class and instance id, and writes one PNG per group plus
``index.json`` listing the frames on each sheet.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from simgen.errors import SimgenError, did_you_mean
from simgen.evaluation.slices import image_slices
from simgen.writers.dataset import atomic_write_bytes, atomic_write_text
from simgen.writers.png import encode_png
from simgen.writers.reader import read_dataset

#: ``--by`` choices: the slice kinds each one shows (``all``: one sheet of every frame).
GROUPINGS: dict[str, tuple[str, ...]] = {
    "condition": ("weather", "time_of_day"),
    "weather": ("weather",),
    "time_of_day": ("time_of_day",),
    "edge_case": ("edge_case",),
    "sweep_point": ("sweep_point",),
    "all": (),
}
#: Class colours (RGB), by the class's position in the manifest's class list.
PALETTE = ((230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48),
           (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212),
           (0, 128, 128), (220, 190, 255), (170, 110, 40), (255, 250, 200), (128, 0, 0))
TITLE_PX = 26
CAPTION_PX = 16
GAP_PX = 4
BACKGROUND_RGB = (24, 24, 28)
FONT = cv2.FONT_HERSHEY_SIMPLEX


@dataclass(frozen=True)
class SheetLayout:
    """How many frames a sheet shows, in how many columns, at what thumbnail width."""

    per_sheet: int = 12
    columns: int = 4
    thumb_width_px: int = 320


@dataclass(frozen=True)
class Sheet:
    """One written contact sheet: its group, file and the frames it shows."""

    name: str
    kind: str
    path: Path
    frames_in_group: int
    image_ids: tuple[int, ...]


def class_colour(cls: str, classes: list[str]) -> tuple[int, int, int]:
    """The drawing colour of ``cls`` (RGB): by its place in ``classes``."""
    index = classes.index(cls) if cls in classes else len(classes)
    return PALETTE[index % len(PALETTE)]


def spread(items: list, count: int) -> list:
    """``count`` items spread evenly over ``items`` (the first and last among them)."""
    if len(items) <= count:
        return list(items)
    picks = np.linspace(0, len(items) - 1, count).round().astype(int)
    return [items[i] for i in picks]


def draw_labels(rgb: np.ndarray, labels: pd.DataFrame, scale: float,
                classes: list[str]) -> np.ndarray:
    """``rgb`` resized by ``scale`` with each label's visible box (``x, y, w, h`` in the
    full image's pixels, COCO convention) and ``class #instance_id`` drawn on it."""
    height, width = rgb.shape[:2]
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    thumb = np.ascontiguousarray(cv2.resize(rgb, size, interpolation=cv2.INTER_AREA))
    thickness = 2 if size[0] >= 320 else 1
    boxes = []
    for x, y, w, h, cls, instance in zip(labels["x"], labels["y"], labels["w"], labels["h"],
                                         labels["class"], labels["instance_id"], strict=True):
        left, top = int(round(x * scale)), int(round(y * scale))
        right = max(left, int(round((x + w) * scale)) - 1)
        bottom = max(top, int(round((y + h) * scale)) - 1)
        colour = class_colour(cls, classes)
        cv2.rectangle(thumb, (left, top), (right, bottom), colour, thickness)
        boxes.append((left, top, colour, f"{cls} #{instance}"))
    for left, top, colour, text in boxes:  # text after every box: no box hides a name
        (tw, th), base = cv2.getTextSize(text, FONT, 0.35, 1)
        y = top - 2 if top - th - base - 2 >= 0 else top + th + 2
        cv2.rectangle(thumb, (left, y - th - 1), (left + tw + 1, y + base - 1), colour, -1)
        ink = (0, 0, 0) if sum(colour) > 380 else (255, 255, 255)
        cv2.putText(thumb, text, (left + 1, y - 1), FONT, 0.35, ink, 1, cv2.LINE_AA)
    return thumb


def contact_sheet(root: Path, frames: pd.DataFrame, labels_by_image: dict[int, pd.DataFrame],
                  classes: list[str], title: str, layout: SheetLayout) -> np.ndarray:
    """One sheet (RGB): a title bar, then ``frames`` (rows of frames.parquet) as labelled
    thumbnails in ``layout.columns`` columns, each with an episode/camera/frame caption."""
    first = frames.iloc[0]
    scale = layout.thumb_width_px / float(first["width"])
    thumb_h = max(1, round(float(first["height"]) * scale))
    cols = min(layout.columns, len(frames))
    rows = -(-len(frames) // cols)
    cell_w, cell_h = layout.thumb_width_px + GAP_PX, thumb_h + CAPTION_PX + GAP_PX
    sheet = np.empty((TITLE_PX + rows * cell_h + GAP_PX, cols * cell_w + GAP_PX, 3), np.uint8)
    sheet[:] = BACKGROUND_RGB
    cv2.putText(sheet, title, (GAP_PX + 2, TITLE_PX - 8), FONT, 0.5, (235, 235, 235), 1,
                cv2.LINE_AA)
    empty = next(iter(labels_by_image.values()), pd.DataFrame()).iloc[:0]
    for k, frame in enumerate(frames.itertuples(index=False)):
        rgb = cv2.imread(str(root / frame.rgb_path), cv2.IMREAD_COLOR)
        if rgb is None:
            raise SimgenError(f"{root / frame.rgb_path}: cannot read the image")
        labels = labels_by_image.get(int(frame.image_id), empty)
        thumb = draw_labels(cv2.cvtColor(rgb, cv2.COLOR_BGR2RGB), labels,
                            layout.thumb_width_px / float(frame.width), classes)
        top = TITLE_PX + (k // cols) * cell_h
        left = GAP_PX + (k % cols) * cell_w
        sheet[top:top + thumb.shape[0], left:left + thumb.shape[1]] = thumb
        caption = (f"ep {frame.episode}  {frame.camera} {frame.frame:05d}  "
                   f"{len(labels)} label{'s' if len(labels) != 1 else ''}")
        cv2.putText(sheet, caption, (left + 2, top + thumb_h + CAPTION_PX - 4), FONT, 0.38,
                    (200, 200, 200), 1, cv2.LINE_AA)
    return sheet


def sheet_file_name(index: int, name: str) -> str:
    """``03_fog=on.png``: the sheet's order, then its group name made file-safe."""
    return f"{index:02d}_{re.sub(r'[^A-Za-z0-9.=+_-]+', '_', name)}.png"


def write_previews(dataset_dir: Path, out_dir: Path | None = None, by: str = "condition",
                   layout: SheetLayout = SheetLayout()) -> list[Sheet]:
    """Write one contact sheet per group of ``by`` (see ``GROUPINGS``) into ``out_dir``
    (default ``DATASET/preview``) and ``index.json`` listing each sheet's frames."""
    if by not in GROUPINGS:
        raise SimgenError(f"unknown grouping '{by}'{did_you_mean(by, GROUPINGS)}; choose from "
                          f"{', '.join(GROUPINGS)}")
    if layout.per_sheet < 1 or layout.columns < 1 or layout.thumb_width_px < 32:
        raise SimgenError("a sheet needs at least 1 frame, 1 column and thumbnails of 32 px")
    data = read_dataset(dataset_dir, ("frames", "boxes", "episodes"))
    frames = data["frames"].sort_values("image_id", kind="stable").reset_index(drop=True)
    if frames.empty:
        raise SimgenError(f"{dataset_dir}: the dataset has no frames to preview")
    classes = list(data.manifest.get("classes", ()))
    labels_by_image = {int(k): g for k, g in data["boxes"].groupby("image_id", sort=False)}
    groups = [("all frames", "all", frozenset(frames["image_id"].astype(int)), "")] \
        if by == "all" else [(s.name, s.kind, s.image_ids, s.description)
                             for s in image_slices(frames, data["episodes"])
                             if s.kind in GROUPINGS[by]]
    if not groups:
        raise SimgenError(f"{dataset_dir}: no {by.replace('_', ' ')} groups in this dataset "
                          "(try --by all)")
    out_dir = out_dir if out_dir is not None else dataset_dir / "preview"
    out_dir.mkdir(parents=True, exist_ok=True)
    name = data.manifest.get("scenario", {}).get("name", dataset_dir.name)
    sheets = []
    for index, (group, kind, ids, description) in enumerate(groups):
        members = frames[frames["image_id"].isin(ids)]
        shown = members.iloc[spread(list(range(len(members))), layout.per_sheet)]
        title = (f"{name}: {group}{f' ({description})' if description else ''}  "
                 f"({len(members)} frames, {len(shown)} shown)")
        image = contact_sheet(dataset_dir, shown, labels_by_image, classes, title, layout)
        path = out_dir / sheet_file_name(index, group)
        atomic_write_bytes(path, encode_png(image))
        sheets.append(Sheet(group, kind, path, len(members),
                            tuple(int(i) for i in shown["image_id"])))
    atomic_write_text(out_dir / "index.json", json.dumps(
        {"dataset": str(dataset_dir), "by": by, "sheets": [
            {"name": s.name, "kind": s.kind, "file": s.path.name,
             "frames_in_group": s.frames_in_group, "image_ids": list(s.image_ids)}
            for s in sheets]}, indent=2))
    return sheets
