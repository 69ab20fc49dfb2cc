"""YOLO export in the Ultralytics detection layout.

Layout (OUT = the export folder)::

    OUT/data.yaml                          path, train, val, test, names
    OUT/images/{train,val,test}/NAME.png   RGB, hard-linked from the dataset
    OUT/labels/{train,val,test}/NAME.txt   one line per label: class cx cy w h

Class ids are 0-based in the dataset's class order (``dataset.json`` ``classes``); boxes
are the visible boxes, centre and size divided by the image width and height. A frame
without labels gets an empty label file (Ultralytics counts it as a background image).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import yaml

from simgen.writers.splits import SPLITS

if TYPE_CHECKING:
    from simgen.writers.export import ExportSource

#: data.yaml's ``path`` is empty: Ultralytics then takes the folder of data.yaml as the
#: dataset root, so the export can be moved or copied as it is.
DATA_YAML_HEADER = (
    "# simgen export, Ultralytics YOLO detection layout.\n"
    "# path '' = the folder of this file; set an absolute path for tools that resolve\n"
    "# relative paths elsewhere (YOLOv5, older Ultralytics).\n"
)


def write(source: ExportSource, out: Path) -> list[str]:
    """Write the YOLO layout of ``source`` under ``out``; returns warning lines (none)."""
    class_id = {name: i for i, name in enumerate(source.classes)}
    for split in SPLITS:
        (out / "images" / split).mkdir(parents=True, exist_ok=True)
        (out / "labels" / split).mkdir(parents=True, exist_ok=True)
        for frame in source.frames_in(split).to_dict("records"):
            name = frame["name"]
            source.place_image(frame["rgb_path"], out / "images" / split / f"{name}.png")
            labels = source.labels_of(frame["image_id"])
            lines = label_lines(labels, class_id, int(frame["width"]), int(frame["height"]))
            (out / "labels" / split / f"{name}.txt").write_text(
                "".join(f"{line}\n" for line in lines), encoding="utf-8")
    data = {"path": "", **{split: f"images/{split}" for split in SPLITS},
            "names": dict(enumerate(source.classes))}
    (out / "data.yaml").write_text(
        DATA_YAML_HEADER + yaml.safe_dump(data, sort_keys=False, allow_unicode=True),
        encoding="utf-8")
    return []


def label_lines(labels: pd.DataFrame, class_id: dict[str, int], width: int,
                height: int) -> list[str]:
    """``class cx cy w h`` lines of the visible boxes (pixel-edge) normalised to [0, 1]."""
    lines = []
    for cls, x, y, w, h in zip(labels["class"], labels["x"], labels["y"], labels["w"],
                               labels["h"], strict=True):
        cx, cy = (x + w / 2) / width, (y + h / 2) / height
        lines.append(f"{class_id[cls]} {cx:.6f} {cy:.6f} {w / width:.6f} {h / height:.6f}")
    return lines
