"""One episode's share of the dataset tables, written beside its images.

A worker turns a finished ``EpisodeRecord`` into a *part*: the rows the episode adds to
every table, with nothing that depends on other episodes (no image or annotation ids,
no category ids). Parts are written into the episode's folder, ``episode.json`` last,
and the dataset's tables are assembled from them in episode order (``dataset.py``).
Every run goes through parts, so the tables cannot depend on which process made an
episode, in what order episodes finished, or whether a run was resumed.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from simgen.errors import write_error
from simgen.geometry import rotation_to_quaternion
from simgen.runner.episode import EpisodeRecord
from simgen.sampling.conditions import atmosphere_record

#: The episode's rows (JSON), written after everything else in the episode folder.
PART_FILE = "episode.json"
#: The episode's trajectory rows.
TRAJECTORY_PART = "trajectories.parquet"
#: Files of an episode folder that are not images.
PART_FILES = (PART_FILE, TRAJECTORY_PART)


def episode_part(rec: EpisodeRecord, renderer: str) -> dict[str, Any]:
    """The rows ``rec`` adds to each table (waits for its masks' RLE futures)."""
    plan = rec.plan
    fired = ",".join(plan.edge_cases)
    objects = []
    for inst in rec.world.instances:
        body = next((b for b in plan.bodies if b.name == inst.name), None)
        objects.append({
            "episode": plan.index, "instance_id": inst.instance_id, "name": inst.name,
            "class": inst.cls, "labeled": inst.labeled,
            "group": body.group if body else None, "asset": inst.asset or None,
            "behaviour": body.behaviour if body else None,
            "scale": body.scale if body else None,
            "colour_rgba": list(body.colour_rgba) if body and body.colour_rgba else None,
            "initial_position_m": list(body.position_m) if body else None,
            "initial_yaw_deg": body.yaw_deg if body else None,
        })
    conditions = atmosphere_record(plan.atmosphere)
    # Bodies an edge case added belong to a group named after it.
    added_by = {b.name: b.group for b in plan.bodies if b.group in plan.edge_cases}
    frames = []
    for fr in rec.frames:
        masks = fr.labels.result().masks
        rows, annotations = [], []
        for obj in fr.objects:
            inst = rec.world.instances[obj.instance_id - 1]
            row = {"episode": plan.index, "frame": fr.frame, "camera": fr.camera,
                   "instance_id": obj.instance_id, "name": inst.name, "class": inst.cls,
                   **_object_columns(obj, fr.visibility),
                   "edge_cases": fired, "added_by": added_by.get(inst.name, "")}
            rows.append(row)
            if obj.status == "labeled":
                annotations.append({
                    "class": inst.cls, "bbox": list(obj.visible.xywh),
                    "area": obj.visible.pixels,
                    "segmentation": masks[obj.instance_id] if masks else None,
                    "instance_id": obj.instance_id, "object_name": inst.name,
                    "attributes": {k: row[k] for k in ANNOTATION_ATTRIBUTES}})
        frames.append({
            "row": {
                "episode": plan.index, "frame": fr.frame, "time_s": fr.time_s,
                "camera": fr.camera,
                "rgb_path": fr.files["rgb"], "depth_path": fr.files["depth"],
                "instance_path": fr.files["instance"], "semantic_path": fr.files["semantic"],
                "width": fr.width, "height": fr.height,
                "fx": fr.K[0, 0], "fy": fr.K[1, 1], "cx": fr.K[0, 2], "cy": fr.K[1, 2],
                "K": fr.K.ravel().tolist(), "cam_to_world": fr.cam_to_world.ravel().tolist(),
                "num_boxes": len(fr.boxes),
                **conditions,
                **{f"effects.{name}": value for name, value in fr.conditions.items()},
            },
            "objects": rows,
            "annotations": annotations,
        })
    return {
        "index": plan.index, "seed": plan.seed, "renderer": renderer,
        "attempts": plan.attempts, "constraint_failures": list(plan.constraint_failures),
        "episode": {"episode": plan.index, "seed": plan.seed, "edge_cases": fired,
                    "importance_weight": plan.importance_weight, **_flatten(plan.sampled)},
        "objects": objects,
        "frames": frames,
    }


def write_part(folder: Path, part: dict[str, Any], rec: EpisodeRecord) -> None:
    """Write the trajectories, then the rows (``PART_FILE`` last: its presence means the
    folder is whole)."""
    text = json.dumps(part, default=json_default, separators=(",", ":"))
    for path, write in ((folder / TRAJECTORY_PART,
                         lambda p: pq.write_table(trajectory_table(rec), p)),
                        (folder / PART_FILE, lambda p: p.write_text(text, encoding="utf-8"))):
        try:
            write(path)
        except OSError as exc:  # pyarrow's errors do not name the file
            raise write_error(path, exc) from None


def read_part(folder: Path) -> dict[str, Any]:
    """The rows written by ``write_part``."""
    return json.loads((folder / PART_FILE).read_text(encoding="utf-8"))


def trajectory_table(rec: EpisodeRecord) -> pa.Table:
    """Every body's per-step state and control, as rows of ``TRAJ_SCHEMA`` (NaN floats
    are nulls: no steering or throttle for bodies that are not vehicles)."""
    parts = []
    for tr in rec.trajectories:
        n = len(tr.position_m)
        cols: list[Any] = [
            np.full(n, rec.plan.index, dtype=np.int64), np.arange(n, dtype=np.int64),
            np.arange(n) * rec.plan.physics.time_step_s, [tr.name] * n, [tr.cls] * n,
            np.full(n, tr.instance_id, dtype=np.int64),
            *tr.position_m.T, *tr.orientation_xyzw.T, *tr.linear_velocity_mps.T,
            *tr.angular_velocity_radps.T,
            tr.steering_rad if tr.steering_rad is not None else np.full(n, np.nan),
            tr.throttle if tr.throttle is not None else np.full(n, np.nan),
            tr.joint_positions_rad if tr.joint_positions_rad is not None else [None] * n,
            tr.gripper_closed if tr.gripper_closed is not None else [None] * n,
        ]
        parts.append(pa.Table.from_arrays(
            [pa.array(col, type=field.type, from_pandas=True)
             for col, field in zip(cols, TRAJ_SCHEMA, strict=True)], schema=TRAJ_SCHEMA))
    if not parts:
        return TRAJ_SCHEMA.empty_table()
    return pa.concat_tables(parts).combine_chunks()


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


def json_default(value: Any) -> Any:
    """JSON for numpy scalars and arrays."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
