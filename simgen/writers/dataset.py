"""The dataset directory: tables, COCO annotations and the manifest.

Layout (DIR = ``--out``)::

    DIR/dataset.json                 manifest, written last
    DIR/.simgen-incomplete           run journal; present until every episode is complete
    DIR/episodes.parquet             one row per episode, every sampled parameter
    DIR/objects.parquet              one row per episode and body: instance id -> name, class
    DIR/frames.parquet               one row per frame and camera, with its conditions
    DIR/boxes.parquet                one row per label (object passing the rule) per frame
    DIR/frame_objects.parquet        one row per labeled body in view per frame, with status
    DIR/trajectories.parquet         one row per episode, simulation step and body
    DIR/annotations/coco.json        COCO detection annotations
    DIR/episodes/NNNNNN/{rgb,depth,instance,semantic}/CAMERA_FFFFF.png
    DIR/episodes/NNNNNN/episode.json, trajectories.parquet   the episode's rows (its part)
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from simgen import __version__
from simgen.writers.parts import (
    FRAME_OBJECT_COLUMNS,
    TRAJ_SCHEMA,
    TRAJECTORY_PART,
    json_default,
    read_part,
)

#: Present from the start of a run until every episode is complete: the run journal.
INCOMPLETE_MARKER = ".simgen-incomplete"
MANIFEST = "dataset.json"
#: Timings of the runs that made a dataset (the one file identical runs write differently).
PERFORMANCE_LOG = "performance.json"


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) under a temporary name, then rename it into place."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` under a temporary name, then rename it into place."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class DatasetAssembler:
    """Builds the dataset tables, COCO file and manifest from episode parts, in index order.

    Global numbering (image and annotation ids, category ids of classes only some
    episodes have) is assigned here, so it depends on nothing but the parts.
    """

    def __init__(self, out_dir: Path, classes: list[str], constraints=()):
        self.out_dir = out_dir
        self.classes = list(classes)
        self.constraints = [rule.describe() for rule in constraints]
        self.draws = 0  # whole-episode draws, accepted or rejected
        self.rejections = [0] * len(self.constraints)
        self.category_id = {name: i + 1 for i, name in enumerate(classes)}
        self.renderers: list[str] = []
        self._episodes: list[dict[str, Any]] = []
        self._objects: list[dict[str, Any]] = []
        self._frames: list[dict[str, Any]] = []
        self._images: list[dict[str, Any]] = []
        self._annotations: list[dict[str, Any]] = []
        self._frame_objects: list[dict[str, Any]] = []
        self._status: list[dict[str, Any]] = []
        self._traj_path = out_dir / "trajectories.parquet.tmp"
        self._traj_writer: pq.ParquetWriter | None = None
        self.n_frames = 0
        self.n_labels = 0

    def add(self, folder: Path) -> None:
        """Add the committed episode in ``folder`` (in index order)."""
        part = read_part(folder)
        index = part["index"]
        self.draws += part["attempts"]
        for i, failed in enumerate(part["constraint_failures"]):
            self.rejections[i] += failed
        if part["renderer"] not in self.renderers:
            self.renderers.append(part["renderer"])
        self._episodes.append(part["episode"])
        for obj in part["objects"]:  # classes only some episodes have (edge cases)
            if obj["labeled"] and obj["class"] not in self.category_id:
                self.classes.append(obj["class"])
                self.category_id[obj["class"]] = len(self.classes)
        for obj in part["objects"]:
            category = self.category_id.get(obj["class"]) if obj["labeled"] else None
            self._objects.append({k: category if k == "category_id" else obj[k]
                                  for k in OBJECT_COLUMNS})
        for fr in part["frames"]:
            image_id = len(self._images) + 1
            row = fr["row"]
            self._frames.append({**{k: row[k] for k in ("episode", "frame", "time_s",
                                                        "camera")},
                                 "image_id": image_id, **row})
            self._images.append({"id": image_id, "file_name": row["rgb_path"],
                                 "width": row["width"], "height": row["height"],
                                 "episode": index, "frame": row["frame"],
                                 "camera": row["camera"], "time_s": row["time_s"]})
            for obj in fr["objects"]:
                self._frame_objects.append({**obj, "image_id": image_id})
            for ann in fr["annotations"]:
                self._annotations.append({
                    "id": len(self._annotations) + 1, "image_id": image_id,
                    "category_id": self.category_id[ann["class"]], "bbox": ann["bbox"],
                    "area": ann["area"], "iscrowd": 0, "segmentation": ann["segmentation"],
                    "instance_id": ann["instance_id"], "object_name": ann["object_name"],
                    "attributes": ann["attributes"]})
            self.n_labels += row["num_boxes"]
        self.n_frames += len(part["frames"])
        table = pq.read_table(folder / TRAJECTORY_PART, schema=TRAJ_SCHEMA)
        if self._traj_writer is None:
            self._traj_writer = pq.ParquetWriter(self._traj_path, TRAJ_SCHEMA)
        if table.num_rows:
            self._traj_writer.write_table(table)
        self._status.append({"index": index, "seed": part["seed"], "status": "complete",
                             "frames": len(part["frames"])})

    def add_failed(self, index: int, seed: int, error: str, attempts: int) -> None:
        """List an episode that failed after ``attempts`` tries (it has no rows)."""
        self._status.append({"index": index, "seed": seed, "status": "failed",
                             "frames": 0, "attempts": attempts, "error": error})

    @property
    def renderer(self) -> str:
        """The renderer that made the episodes (comma-separated if they differ)."""
        return ",".join(self.renderers) if self.renderers else "none"

    def constraint_stats(self) -> list[dict[str, Any]]:
        """Per ``require`` constraint: how many episode draws it rejected, of all draws."""
        return [{"index": i, "constraint": text, "draws": self.draws, "rejected": failed,
                 "rejection_rate": failed / self.draws if self.draws else 0.0}
                for i, (text, failed) in enumerate(zip(self.constraints, self.rejections,
                                                       strict=True))]

    def abort(self) -> None:
        """Close open files after a failed assembly (the folder stays marked incomplete)."""
        if self._traj_writer is not None:
            self._traj_writer.close()
            self._traj_writer = None
        self._traj_path.unlink(missing_ok=True)

    def finish(self, manifest: dict[str, Any], complete: bool) -> None:
        """Write every table, the COCO file, then the manifest; remove the run journal
        when ``complete`` (every episode is there)."""
        out = self.out_dir
        if self._traj_writer is None:
            self._traj_writer = pq.ParquetWriter(self._traj_path, TRAJ_SCHEMA)
        self._traj_writer.close()
        self._traj_writer = None
        os.replace(self._traj_path, out / "trajectories.parquet")
        _write_parquet(pd.DataFrame(self._episodes), out / "episodes.parquet")
        _write_parquet(pd.DataFrame(self._objects, columns=OBJECT_COLUMNS),
                       out / "objects.parquet")
        _write_parquet(pd.DataFrame(self._frames), out / "frames.parquet")
        objects = pd.DataFrame(self._frame_objects, columns=FRAME_OBJECT_COLUMNS)
        _write_parquet(objects, out / "frame_objects.parquet")
        _write_parquet(objects[objects["status"] == "labeled"].drop(columns="status"),
                       out / "boxes.parquet")
        (out / "annotations").mkdir(exist_ok=True)
        coco = {
            "info": {"description": f"simgen dataset: {manifest['scenario']['name']}",
                     "version": __version__},
            "images": self._images,
            "annotations": self._annotations,
            "categories": [{"id": i, "name": n, "supercategory": "object"}
                           for n, i in self.category_id.items()],
        }
        atomic_write_text(out / "annotations" / "coco.json", json.dumps(coco))
        done = sum(s["status"] == "complete" for s in self._status)
        manifest = {**manifest, "renderer": self.renderer, "complete": complete,
                    "classes": self.classes, "episodes": self._status,
                    "constraints": self.constraint_stats(),
                    "counts": {"episodes": done, "frames": self.n_frames,
                               "labels": self.n_labels, "failed": len(self._status) - done}}
        atomic_write_text(out / MANIFEST, json.dumps(manifest, indent=2, default=json_default))
        if complete:
            (out / INCOMPLETE_MARKER).unlink(missing_ok=True)


#: Columns of objects.parquet.
OBJECT_COLUMNS = [
    "episode", "instance_id", "name", "class", "labeled", "category_id", "group", "asset",
    "behaviour", "scale", "colour_rgba", "initial_position_m", "initial_yaw_deg",
]


def _write_parquet(df: pd.DataFrame, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    df.to_parquet(tmp, index=False)
    os.replace(tmp, path)
