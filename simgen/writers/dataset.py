"""The dataset directory: tables, COCO annotations and the manifest.

Layout (DIR = ``--out``)::

    DIR/dataset.json                 manifest, written last (its presence = complete)
    DIR/episodes.parquet             one row per episode, every sampled parameter
    DIR/objects.parquet              one row per episode and body: instance id -> name, class
    DIR/frames.parquet               one row per frame and camera, with its conditions
    DIR/boxes.parquet                one row per label (object passing the rule) per frame
    DIR/frame_objects.parquet        one row per labeled body in view per frame, with status
    DIR/trajectories.parquet         one row per episode, simulation step and body
    DIR/annotations/coco.json        COCO detection annotations
    DIR/episodes/NNNNNN/{rgb,depth,instance,semantic}/CAMERA_FFFFF.png
"""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from simgen import __version__
from simgen.errors import SimgenError
from simgen.geometry import rotation_to_quaternion
from simgen.runner.episode import EpisodeRecord
from simgen.sampling.conditions import atmosphere_record

INCOMPLETE_MARKER = ".simgen-incomplete"
MANIFEST = "dataset.json"


def prepare_output(out_dir: Path, overwrite: bool) -> None:
    """Create ``out_dir`` or refuse to write into a non-empty one unless ``overwrite``.

    Overwrite only ever deletes a folder that holds a simgen dataset (complete or not).
    """
    if out_dir.exists() and not out_dir.is_dir():
        raise SimgenError(f"{out_dir}: exists and is not a directory")
    if out_dir.is_dir() and any(out_dir.iterdir()):
        is_dataset = (out_dir / MANIFEST).exists() or (out_dir / INCOMPLETE_MARKER).exists()
        if not overwrite:
            raise SimgenError(f"{out_dir}: directory is not empty; pass --overwrite to replace "
                              "the dataset in it, or choose another --out")
        if not is_dataset:
            raise SimgenError(f"{out_dir}: not empty and not a simgen dataset; refusing to "
                              "delete it even with --overwrite")
        shutil.rmtree(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / INCOMPLETE_MARKER).write_text("generation in progress or interrupted\n")
    except OSError as exc:
        raise SimgenError(f"{out_dir}: cannot write: {exc.strerror or exc}") from None


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


class DatasetWriter:
    """Collects episode records and writes the tables, COCO file and manifest."""

    def __init__(self, out_dir: Path, classes: list[str], constraints=()):
        self.out_dir = out_dir
        self.classes = list(classes)
        self.constraints = [rule.describe() for rule in constraints]
        self.draws = 0  # whole-episode draws, accepted or rejected
        self.rejections = [0] * len(self.constraints)
        self.category_id = {name: i + 1 for i, name in enumerate(classes)}
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

    def add(self, rec: EpisodeRecord) -> None:
        """Add one finished episode (episodes must be added in index order)."""
        plan = rec.plan
        self.draws += plan.attempts
        for i, failed in enumerate(plan.constraint_failures):
            self.rejections[i] += failed
        self._episodes.append({"episode": plan.index, "seed": plan.seed,
                               "edge_cases": ",".join(plan.edge_cases),
                               "importance_weight": plan.importance_weight,
                               **_flatten(plan.sampled)})
        inst_by_name = {i.name: i for i in rec.world.instances}
        for inst in rec.world.instances:  # classes only some episodes have (edge cases)
            if inst.labeled and inst.cls not in self.category_id:
                self.classes.append(inst.cls)
                self.category_id[inst.cls] = len(self.classes)
        for inst in rec.world.instances:
            body = next((b for b in plan.bodies if b.name == inst.name), None)
            self._objects.append({
                "episode": plan.index, "instance_id": inst.instance_id, "name": inst.name,
                "class": inst.cls, "labeled": inst.labeled,
                "category_id": self.category_id.get(inst.cls) if inst.labeled else None,
                "group": body.group if body else None, "asset": inst.asset or None,
                "behaviour": body.behaviour if body else None,
                "scale": body.scale if body else None,
                "colour_rgba": list(body.colour_rgba) if body and body.colour_rgba else None,
                "initial_position_m": list(body.position_m) if body else None,
                "initial_yaw_deg": body.yaw_deg if body else None,
            })
        conditions = atmosphere_record(plan.atmosphere)
        fired = ",".join(plan.edge_cases)
        # Bodies an edge case added belong to a group named after it.
        added_by = {b.name: b.group for b in plan.bodies if b.group in plan.edge_cases}
        for fr in rec.frames:
            image_id = len(self._images) + 1
            self._frames.append({
                "episode": plan.index, "frame": fr.frame, "time_s": fr.time_s,
                "camera": fr.camera, "image_id": image_id,
                "rgb_path": fr.files["rgb"], "depth_path": fr.files["depth"],
                "instance_path": fr.files["instance"], "semantic_path": fr.files["semantic"],
                "width": fr.width, "height": fr.height,
                "fx": fr.K[0, 0], "fy": fr.K[1, 1], "cx": fr.K[0, 2], "cy": fr.K[1, 2],
                "K": fr.K.ravel().tolist(), "cam_to_world": fr.cam_to_world.ravel().tolist(),
                "num_boxes": len(fr.boxes),
                **conditions,
                **{f"effects.{name}": value for name, value in fr.conditions.items()},
            })
            self._images.append({"id": image_id, "file_name": fr.files["rgb"],
                                 "width": fr.width, "height": fr.height,
                                 "episode": plan.index, "frame": fr.frame, "camera": fr.camera,
                                 "time_s": fr.time_s})
            masks = fr.segmentation.result() if fr.segmentation is not None else None
            for obj in fr.objects:
                inst = rec.world.instances[obj.instance_id - 1]
                row = {"episode": plan.index, "frame": fr.frame, "camera": fr.camera,
                       "image_id": image_id, "instance_id": obj.instance_id, "name": inst.name,
                       "class": inst.cls, **_object_columns(obj, fr.visibility),
                       "edge_cases": fired, "added_by": added_by.get(inst.name, "")}
                self._frame_objects.append(row)
                if obj.status != "labeled":
                    continue
                attributes = {k: row[k] for k in ANNOTATION_ATTRIBUTES}
                self._annotations.append({
                    "id": len(self._annotations) + 1, "image_id": image_id,
                    "category_id": self.category_id[inst.cls], "bbox": obj.visible.xywh,
                    "area": obj.visible.pixels, "iscrowd": 0,
                    "segmentation": masks[obj.instance_id] if masks else None,
                    "instance_id": obj.instance_id,
                    "object_name": inst.name, "attributes": attributes})
            self.n_labels += len(fr.boxes)
        self.n_frames += len(rec.frames)
        self._write_trajectories(rec, inst_by_name)
        self._status.append({"index": plan.index, "seed": plan.seed, "status": "complete",
                             "frames": len(rec.frames)})

    def _write_trajectories(self, rec: EpisodeRecord, inst_by_name) -> None:
        parts = []
        for tr in rec.trajectories:
            n = len(tr.position_m)
            cols: dict[str, Any] = {
                "episode": np.full(n, rec.plan.index, dtype=np.int64),
                "step": np.arange(n, dtype=np.int64),
                "time_s": np.arange(n) * rec.plan.physics.time_step_s,
                "actor": [tr.name] * n, "class": [tr.cls] * n,
                "instance_id": np.full(n, tr.instance_id, dtype=np.int64),
            }
            for k, axis in enumerate("xyz"):
                cols[f"{axis}_m"] = tr.position_m[:, k]
            for k, axis in enumerate("xyzw"):
                cols[f"q{axis}"] = tr.orientation_xyzw[:, k]
            for k, axis in enumerate("xyz"):
                cols[f"v{axis}_mps"] = tr.linear_velocity_mps[:, k]
            for k, axis in enumerate("xyz"):
                cols[f"w{axis}_radps"] = tr.angular_velocity_radps[:, k]
            cols["steering_rad"] = tr.steering_rad if tr.steering_rad is not None \
                else np.full(n, np.nan)
            cols["throttle"] = tr.throttle if tr.throttle is not None else np.full(n, np.nan)
            cols["joint_positions_rad"] = tr.joint_positions_rad if tr.joint_positions_rad \
                is not None else [None] * n
            cols["gripper_closed"] = pd.array(tr.gripper_closed, dtype="boolean") \
                if tr.gripper_closed is not None else pd.array([None] * n, dtype="boolean")
            parts.append(pd.DataFrame(cols))
        if not parts:
            return
        table = pa.Table.from_pandas(pd.concat(parts, ignore_index=True), schema=TRAJ_SCHEMA,
                                     preserve_index=False)
        if self._traj_writer is None:
            self._traj_writer = pq.ParquetWriter(self._traj_path, TRAJ_SCHEMA)
        self._traj_writer.write_table(table)

    def constraint_stats(self) -> list[dict[str, Any]]:
        """Per ``require`` constraint: how many episode draws it rejected, of all draws."""
        return [{"index": i, "constraint": text, "draws": self.draws, "rejected": failed,
                 "rejection_rate": failed / self.draws if self.draws else 0.0}
                for i, (text, failed) in enumerate(zip(self.constraints, self.rejections,
                                                       strict=True))]

    def abort(self) -> None:
        """Close open files after a failed run (the folder stays marked incomplete)."""
        if self._traj_writer is not None:
            self._traj_writer.close()
            self._traj_writer = None

    def finish(self, manifest: dict[str, Any]) -> None:
        """Write every table, the COCO file, then the manifest; clear the incomplete marker."""
        out = self.out_dir
        if self._traj_writer is None:
            self._traj_writer = pq.ParquetWriter(self._traj_path, TRAJ_SCHEMA)
        self._traj_writer.close()
        os.replace(self._traj_path, out / "trajectories.parquet")
        _write_parquet(pd.DataFrame(self._episodes), out / "episodes.parquet")
        _write_parquet(pd.DataFrame(self._objects), out / "objects.parquet")
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
        _atomic_write_text(out / "annotations" / "coco.json", json.dumps(coco))
        manifest = {**manifest, "classes": self.classes, "episodes": self._status,
                    "constraints": self.constraint_stats(),
                    "counts": {"episodes": len(self._status), "frames": self.n_frames,
                               "labels": self.n_labels}}
        _atomic_write_text(out / MANIFEST, json.dumps(manifest, indent=2, default=_json_default))
        (out / INCOMPLETE_MARKER).unlink(missing_ok=True)


#: Columns of frame_objects.parquet (boxes.parquet: the rows with status "labeled",
#: without the status column). Frames: ``world_*`` in the world frame, ``cam_*`` in the
#: camera's OpenCV frame (x right, y down, z forward); 2D boxes in pixel-edge coordinates.
FRAME_OBJECT_COLUMNS = [
    "episode", "frame", "camera", "image_id", "instance_id", "name", "class", "status",
    "x", "y", "w", "h", "visible_px",
    "full_x", "full_y", "full_w", "full_h", "truncation",
    "unoccluded_px", "visible_fraction", "occluders",
    "length_m", "width_m", "height_m",
    "world_x_m", "world_y_m", "world_z_m", "world_qx", "world_qy", "world_qz", "world_qw",
    "cam_x_m", "cam_y_m", "cam_z_m", "cam_qx", "cam_qy", "cam_qz", "cam_qw",
    "centre_distance_m", "distance_m", "fog_transmittance", "contrast", "visibility",
    "edge_cases", "added_by",
]
#: Per-annotation attributes in coco.json.
ANNOTATION_ATTRIBUTES = [
    "full_x", "full_y", "full_w", "full_h", "truncation", "unoccluded_px",
    "visible_fraction", "occluders", "length_m", "width_m", "height_m",
    "world_x_m", "world_y_m", "world_z_m", "world_qx", "world_qy", "world_qz", "world_qw",
    "cam_x_m", "cam_y_m", "cam_z_m", "cam_qx", "cam_qy", "cam_qz", "cam_qw",
    "centre_distance_m", "distance_m", "fog_transmittance", "contrast", "visibility",
    "edge_cases", "added_by",
]


def _object_columns(obj, visibility: dict) -> dict[str, Any]:
    """The per-object columns of one labeled body in one frame (NaN where not defined)."""
    nan = math.nan
    box = obj.visible
    x0, y0, x1, y1 = obj.full.box
    world_q = rotation_to_quaternion(obj.rotation_world)
    cam_q = rotation_to_quaternion(obj.rotation_cam)
    seen = visibility.get(obj.instance_id)
    return {
        "status": obj.status,
        **dict(zip(("x", "y", "w", "h"), box.xywh if box else (nan,) * 4, strict=True)),
        "visible_px": box.pixels if box else 0,
        "full_x": x0, "full_y": y0, "full_w": x1 - x0, "full_h": y1 - y0,
        "truncation": obj.full.truncation,
        "unoccluded_px": obj.unoccluded_px, "visible_fraction": obj.visible_fraction,
        "occluders": list(obj.occluders),
        "length_m": float(obj.size_m[0]), "width_m": float(obj.size_m[1]),
        "height_m": float(obj.size_m[2]),
        **{f"world_{a}_m": float(v) for a, v in zip("xyz", obj.centre_world_m, strict=True)},
        **{f"world_q{a}": v for a, v in zip("xyzw", world_q, strict=True)},
        **{f"cam_{a}_m": float(v) for a, v in zip("xyz", obj.centre_cam_m, strict=True)},
        **{f"cam_q{a}": v for a, v in zip("xyzw", cam_q, strict=True)},
        "centre_distance_m": float(np.linalg.norm(obj.centre_cam_m)),
        "distance_m": seen.distance_m if seen else nan,
        "fog_transmittance": seen.fog_transmittance if seen else nan,
        "contrast": seen.contrast if seen else nan,
        "visibility": seen.visibility if seen else nan,
    }


TRAJ_SCHEMA = pa.schema([
    ("episode", pa.int64()), ("step", pa.int64()), ("time_s", pa.float64()),
    ("actor", pa.string()), ("class", pa.string()), ("instance_id", pa.int64()),
    ("x_m", pa.float64()), ("y_m", pa.float64()), ("z_m", pa.float64()),
    ("qx", pa.float64()), ("qy", pa.float64()), ("qz", pa.float64()), ("qw", pa.float64()),
    ("vx_mps", pa.float64()), ("vy_mps", pa.float64()), ("vz_mps", pa.float64()),
    ("wx_radps", pa.float64()), ("wy_radps", pa.float64()), ("wz_radps", pa.float64()),
    ("steering_rad", pa.float64()), ("throttle", pa.float64()),
    ("joint_positions_rad", pa.list_(pa.float64())), ("gripper_closed", pa.bool_()),
])


def _flatten(sampled) -> dict[str, Any]:
    """Sampled values as flat scalar columns: a list value ``v`` at ``p`` becomes ``p[i]``."""
    out: dict[str, Any] = {}
    for path, value in sampled.items():
        if isinstance(value, list | tuple) and any(isinstance(v, dict) for v in value):
            out[path] = json.dumps(value)  # a list of records (e.g. push events) as JSON
        elif isinstance(value, list | tuple):
            for i, item in enumerate(value):
                out[f"{path}[{i}]"] = item
        else:
            out[path] = value
    return out


def _write_parquet(df: pd.DataFrame, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    df.to_parquet(tmp, index=False)
    os.replace(tmp, path)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
