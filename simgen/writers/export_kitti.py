"""KITTI object (3D detection) export.

Layout (OUT = the export folder)::

    OUT/training/image_2/NAME.png     RGB, hard-linked from the dataset
    OUT/training/label_2/NAME.txt     one line per label (below)
    OUT/training/calib/NAME.txt       P0..P3, R0_rect, Tr_velo_to_cam, Tr_imu_to_velo
    OUT/ImageSets/{train,val,test,trainval}.txt   the NAMEs of each split
    OUT/frames.csv                    NAME -> episode, camera, frame, image_id, split
    OUT/export.json

Every frame is under ``training/`` (all have labels); the splits are the ImageSets lists.
NAME is a 6-digit index (000000, 000001, ... in the dataset's image id order), as KITTI
tools expect numbered files; ``frames.csv`` maps it back to the dataset.

Label line: ``type truncated occluded alpha x1 y1 x2 y2 h w l x y z rotation_y``, in the
camera frame of the image (KITTI's: x right, y down, z forward, the same as simgen's):

- ``type``: the class name with its first letter capitalised (``car`` -> ``Car``,
  ``traffic_cone`` -> ``Traffic_cone``); no ``DontCare`` regions.
- ``truncated``: ``truncation`` (share of the projected 3D box outside the image, 0..1).
- ``occluded``: from ``visible_fraction`` (visible / unoccluded pixels): 0 when >= 0.8,
  1 when >= 0.4, 2 below; 3 (unknown) when the dataset has no ``visible_fraction``.
- ``x1 y1 x2 y2``: the full-extent box (projection of the 3D box, clipped to the image) in
  KITTI's pixel coordinates, whose integers are pixel centres as ``P2`` projects: the
  dataset's pixel-edge box minus 0.5, clipped to [0, W-1] x [0, H-1].
- ``h w l``: the 3D box's height, width, length in metres.
- ``x y z``: the bottom centre of the box: its centre moved down (+y) by h/2.
- ``rotation_y``: the heading of the object's forward axis in the camera's x-z plane,
  KITTI's convention (devkit ``computeBox3D``: forward = (cos ry, 0, -sin ry)): 0 faces the
  camera's +x (right), -pi/2 faces away from the camera (+z), pi/2 faces it.
- ``alpha`` = rotation_y - atan2(x, z), wrapped to [-pi, pi): the observation angle.

KITTI boxes turn only about the camera's y axis. A camera pitched or rolled relative to
the object's up axis (the driving cameras look a few degrees down) or a tipped object make
the KITTI box an upright approximation sharing the true box's centre, size and heading;
the export warns how many objects are tilted more than ``TILT_WARN_DEG``. The exact pose
is in ``boxes.parquet`` (``cam_*``).

Calibration: every camera is the one that took the image: ``P0..P3 = K [I | 0]`` (no
stereo baseline) and ``R0_rect = I``, so labels project with ``P2`` directly.
``Tr_velo_to_cam`` maps a gravity-aligned frame with KITTI's velodyne axes (x forward =
the camera's viewing direction made horizontal, y left, z up against gravity), placed at
the camera centre, into the camera frame: tools that move labels to the "LiDAR" frame get
z-up boxes near the origin, and its rotation holds the camera's pitch and roll. There is
no LiDAR or IMU: ``Tr_imu_to_velo`` is the identity.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from simgen.writers.splits import SPLITS

if TYPE_CHECKING:
    from simgen.writers.export import ExportSource

#: visible_fraction thresholds of KITTI's occlusion levels 0 (fully visible), 1 (partly).
OCCLUDED_THRESHOLDS = (0.8, 0.4)
#: Objects whose up axis is further than this from the camera's -y get a warning.
TILT_WARN_DEG = 10.0


def write(source: ExportSource, out: Path) -> list[str]:
    """Write the KITTI object layout of ``source`` under ``out``; returns warning lines."""
    training = out / "training"
    for sub in ("image_2", "label_2", "calib"):
        (training / sub).mkdir(parents=True, exist_ok=True)
    has_fraction = "visible_fraction" in source.labels.columns
    names: dict[str, list[str]] = {split: [] for split in SPLITS}
    tilted = total = 0
    rows = []
    for index, frame in enumerate(source.frames.to_dict("records")):
        name = f"{index:06d}"
        names[frame["split"]].append(name)
        rows.append([name, frame["episode"], frame["camera"], frame["frame"],
                     frame["image_id"], frame["split"]])
        source.place_image(frame["rgb_path"], training / "image_2" / f"{name}.png")
        K = np.asarray(frame["K"], float).reshape(3, 3)
        cam_to_world = np.asarray(frame["cam_to_world"], float).reshape(4, 4)
        (training / "calib" / f"{name}.txt").write_text(calib_text(K, cam_to_world),
                                                         encoding="utf-8")
        labels = source.labels_of(frame["image_id"])
        lines, tilt_deg = label_lines(labels, int(frame["width"]), int(frame["height"]),
                                      has_fraction)
        tilted += int(np.sum(tilt_deg > TILT_WARN_DEG))
        total += len(lines)
        (training / "label_2" / f"{name}.txt").write_text(
            "".join(f"{line}\n" for line in lines), encoding="utf-8")
    (out / "ImageSets").mkdir(exist_ok=True)
    for split, listed in {**names, "trainval": names["train"] + names["val"]}.items():
        (out / "ImageSets" / f"{split}.txt").write_text(
            "".join(f"{n}\n" for n in listed), encoding="utf-8")
    with open(out / "frames.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["name", "episode", "camera", "frame", "image_id", "split"])
        writer.writerows(rows)
    warnings = []
    if tilted:
        warnings.append(f"kitti: {tilted} of {total} objects are tilted more than "
                        f"{TILT_WARN_DEG:g} deg from upright in their camera (camera pitch or "
                        f"roll, or tipped objects); their boxes, which turn about the "
                        f"camera's y axis only, are upright approximations")
    if not has_fraction and total:
        warnings.append("kitti: the dataset has no visible_fraction column; every "
                        "object's occluded level is 3 (unknown)")
    return warnings


def kitti_type(class_name: str) -> str:
    """KITTI ``type`` of a class: first letter capitalised, spaces as underscores."""
    name = "_".join(str(class_name).split())
    return name[:1].upper() + name[1:]


def occluded_level(visible_fraction: float | None) -> int:
    """KITTI occlusion level of a visible fraction: 0 >= 0.8 > 1 >= 0.4 > 2; 3 unknown."""
    if visible_fraction is None or not math.isfinite(visible_fraction):
        return 3
    if visible_fraction >= OCCLUDED_THRESHOLDS[0]:
        return 0
    return 1 if visible_fraction >= OCCLUDED_THRESHOLDS[1] else 2


def quaternion_axes(q_xyzw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Forward (x) and up (z) axes (N, 3) of unit quaternions (N, 4) in (x, y, z, w)."""
    x, y, z, w = (q_xyzw[:, i] for i in range(4))
    forward = np.stack((1 - 2 * (y * y + z * z), 2 * (x * y + z * w), 2 * (x * z - y * w)), 1)
    up = np.stack((2 * (x * z + y * w), 2 * (y * z - x * w), 1 - 2 * (x * x + y * y)), 1)
    return forward, up


def kitti_boxes(centre_cam_m: np.ndarray, q_cam_xyzw: np.ndarray, height_m: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """KITTI location (N, 3), rotation_y (N,), alpha (N,) and tilt in degrees (N,) of 3D
    boxes given by their centres and orientations (object x forward, z up) in the camera
    frame (OpenCV axes). The location is the centre moved down by half the height."""
    forward, up = quaternion_axes(np.asarray(q_cam_xyzw, float))
    rotation_y = np.arctan2(-forward[:, 2], forward[:, 0])
    location = np.asarray(centre_cam_m, float) + np.outer(np.asarray(height_m) / 2, [0, 1, 0])
    alpha = _wrap(rotation_y - np.arctan2(location[:, 0], location[:, 2]))
    tilt_deg = np.degrees(np.arccos(np.clip(-up[:, 1] / np.linalg.norm(up, axis=1), -1, 1)))
    return location, _wrap(rotation_y), alpha, tilt_deg


def label_lines(labels: pd.DataFrame, width: int, height: int,
                has_fraction: bool) -> tuple[list[str], np.ndarray]:
    """KITTI label lines of one image's labels, and each object's tilt from upright (deg)."""
    if labels.empty:
        return [], np.zeros(0)
    centre = labels[["cam_x_m", "cam_y_m", "cam_z_m"]].to_numpy(float)
    quat = labels[["cam_qx", "cam_qy", "cam_qz", "cam_qw"]].to_numpy(float)
    location, rotation_y, alpha, tilt = kitti_boxes(centre, quat, labels["height_m"].to_numpy())
    x1 = np.clip(labels["full_x"].to_numpy(float) - 0.5, 0, width - 1)
    y1 = np.clip(labels["full_y"].to_numpy(float) - 0.5, 0, height - 1)
    x2 = np.clip((labels["full_x"] + labels["full_w"]).to_numpy(float) - 0.5, 0, width - 1)
    y2 = np.clip((labels["full_y"] + labels["full_h"]).to_numpy(float) - 0.5, 0, height - 1)
    fractions = labels["visible_fraction"] if has_fraction else [None] * len(labels)
    lines = []
    for i, (cls, trunc, fraction, h_m, w_m, l_m) in enumerate(zip(
            labels["class"], labels["truncation"], fractions, labels["height_m"],
            labels["width_m"], labels["length_m"], strict=True)):
        lx, ly, lz = location[i]
        lines.append(
            f"{kitti_type(cls)} {float(trunc):.4f} {occluded_level(fraction)} "
            f"{_angle(alpha[i])} {x1[i]:.2f} {y1[i]:.2f} {x2[i]:.2f} {y2[i]:.2f} "
            f"{h_m:.4f} {w_m:.4f} {l_m:.4f} {lx:.4f} {ly:.4f} {lz:.4f} {_angle(rotation_y[i])}")
    return lines, tilt


def velo_to_cam(cam_to_world: np.ndarray) -> np.ndarray:
    """3x4 transform from the gravity-aligned velodyne-axes frame at the camera centre (x
    forward horizontal, y left, z up) to the camera frame (OpenCV axes)."""
    r_wc = cam_to_world[:3, :3]  # camera axes in the world frame
    up = np.array([0.0, 0.0, 1.0])
    forward = r_wc[:, 2] - (r_wc[:, 2] @ up) * up
    if np.linalg.norm(forward) < 1e-6:  # looking straight up or down: image-up is forward
        forward = -r_wc[:, 1] - (-r_wc[:, 1] @ up) * up
    forward /= np.linalg.norm(forward)
    r_wv = np.stack((forward, np.cross(up, forward), up), axis=1)  # velo axes in world
    return np.hstack((r_wc.T @ r_wv, np.zeros((3, 1))))


def calib_text(K: np.ndarray, cam_to_world: np.ndarray) -> str:
    """A KITTI object calib file for one image."""
    P = np.hstack((K, np.zeros((3, 1))))
    rows = [(f"P{i}", P) for i in range(4)]
    rows += [("R0_rect", np.eye(3)), ("Tr_velo_to_cam", velo_to_cam(cam_to_world)),
             ("Tr_imu_to_velo", np.hstack((np.eye(3), np.zeros((3, 1)))))]
    return "".join(f"{key}: {' '.join(f'{v:.12e}' for v in np.ravel(m))}\n"
                   for key, m in rows)


def _angle(angle: float) -> str:
    """An angle in radians to 4 decimals, kept inside [-pi, pi] after rounding."""
    return f"{min(max(round(float(angle), 4), -3.1415), 3.1415):.4f}"


def _wrap(angle: np.ndarray) -> np.ndarray:
    """Angles wrapped to [-pi, pi)."""
    return (np.asarray(angle) + np.pi) % (2 * np.pi) - np.pi
