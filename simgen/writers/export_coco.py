"""COCO export: one detection/instance-segmentation annotation file per split.

Layout (OUT = the export folder)::

    OUT/annotations/{train,val,test}.json   every split written, an empty one with no
                                            images and annotations (still loads)
    OUT/images/{train,val,test}/NAME.png    RGB, hard-linked from the dataset
    OUT/export.json

``file_name`` is relative to OUT (``images/train/NAME.png``). Image ids and annotation ids
are those of the dataset's ``annotations/coco.json`` (unique across the splits).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from simgen import __version__
from simgen.writers.export import json_value, write_json
from simgen.writers.rle import instance_rles
from simgen.writers.splits import SPLITS

if TYPE_CHECKING:
    from simgen.writers.export import ExportSource

#: Label columns copied into each annotation's ``attributes`` (names as in boxes.parquet):
#: the full-extent box (pixel-edge floats), truncation, the 3D box (size; centre and
#: orientation in the camera frame, OpenCV axes, and in the world frame), distances, fog
#: transmittance, contrast and visibility.
ATTRIBUTE_COLUMNS = (
    "visible_fraction", "occluders",  # optional: only in datasets that have them
    "truncation", "full_x", "full_y", "full_w", "full_h",
    "length_m", "width_m", "height_m",
    "cam_x_m", "cam_y_m", "cam_z_m", "cam_qx", "cam_qy", "cam_qz", "cam_qw",
    "world_x_m", "world_y_m", "world_z_m", "world_qx", "world_qy", "world_qz", "world_qw",
    "centre_distance_m", "distance_m", "fog_transmittance", "contrast", "visibility",
)


def write(source: ExportSource, out: Path) -> list[str]:
    """Write the COCO layout of ``source`` under ``out``; returns warning lines (none)."""
    categories = [{"id": i + 1, "name": name, "supercategory": "object"}
                  for i, name in enumerate(source.classes)]
    category_id = {name: i + 1 for i, name in enumerate(source.classes)}
    attribute_columns = [c for c in ATTRIBUTE_COLUMNS if c in source.labels.columns]
    scenario = source.manifest.get("scenario", {}).get("name", "")
    for split in SPLITS:
        images: list[dict[str, Any]] = []
        annotations: list[dict[str, Any]] = []
        for frame in source.frames_in(split).to_dict("records"):
            file_name = f"images/{split}/{frame['name']}.png"
            source.place_image(frame["rgb_path"], out / file_name)
            images.append(image_entry(frame, file_name))
            labels = source.labels_of(frame["image_id"])
            if labels.empty:
                continue
            instance = cv2.imread(str(source.root / frame["instance_path"]),
                                  cv2.IMREAD_UNCHANGED)
            if instance is None:
                raise OSError(f"cannot read {source.root / frame['instance_path']}")
            rles = instance_rles(instance, labels["instance_id"].astype(int).tolist())
            for label in labels.to_dict("records"):
                attributes = {c: label[c] for c in attribute_columns}
                attributes["edge_cases"] = frame["edge_cases"]
                annotations.append({
                    "id": int(label["annotation_id"]), "image_id": int(frame["image_id"]),
                    "category_id": category_id[label["class"]],
                    "bbox": [int(label[k]) for k in ("x", "y", "w", "h")],
                    "area": int(label["visible_px"]), "iscrowd": 0,
                    "segmentation": rles[int(label["instance_id"])],
                    "instance_id": int(label["instance_id"]), "object_name": label["name"],
                    "attributes": attributes,
                })
        write_json(out / "annotations" / f"{split}.json", {
            "info": {"description": f"simgen export of {scenario}: {split} split",
                     "version": __version__},
            "images": images, "annotations": annotations, "categories": categories,
        })
        (out / "images" / split).mkdir(parents=True, exist_ok=True)  # even when empty
    return []


def image_entry(frame: dict[str, Any], file_name: str) -> dict[str, Any]:
    """A COCO image entry with the frame's identity, camera and sampled conditions."""
    return {
        "id": int(frame["image_id"]), "file_name": file_name,
        "width": int(frame["width"]), "height": int(frame["height"]),
        "episode": int(frame["episode"]), "frame": int(frame["frame"]),
        "camera": frame["camera"], "time_s": frame.get("time_s"),
        "edge_cases": frame["edge_cases"], "importance_weight": frame["importance_weight"],
        "conditions": frame_conditions(frame),
        "K": np.asarray(frame["K"], float).reshape(3, 3).tolist(),
        "cam_to_world": np.asarray(frame["cam_to_world"], float).reshape(4, 4).tolist(),
    }


def frame_conditions(frame: dict[str, Any]) -> dict[str, Any]:
    """The frame's ``lighting.*`` values and the ``weather.NAME.*`` values of each weather
    that is on (``weather.NAME.on`` true), keyed as the columns of frames.parquet."""
    out: dict[str, Any] = {}
    for key, value in frame.items():
        if key.startswith("lighting."):
            out[key] = json_value(value)
        elif key.startswith("weather."):
            name = key.split(".")[1]
            if bool(frame.get(f"weather.{name}.on", False)):
                out[key] = json_value(value)
    return out
