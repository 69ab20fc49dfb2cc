"""Export a generated dataset to other layouts: COCO, YOLO (Ultralytics) and KITTI object.

``export_dataset`` reads a complete dataset folder (the tables and PNGs of
``simgen.writers.dataset``), splits it into train/val/test by whole episodes
(``simgen.writers.splits``, seeded by the manifest's ``root_seed``), and writes one format
into a new folder. The export is written under a temporary name next to ``out_dir`` and
renamed into place at the end, so an interrupted export leaves no folder that looks
complete. Images are hard-linked from the dataset (copied where the file system refuses a
link), so an export costs no image storage and survives the dataset's deletion.

Every export folder holds ``export.json``: the format, the source dataset's scenario, seed
and version, the split ratios, the episodes of each split and the counts. Same dataset and
ratios -> byte-identical export files (no timestamps, no absolute paths).

Formats are entries of ``FORMATS`` (format id -> module); a new format is a module with a
``write(source: ExportSource, out_dir: Path) -> list[str]`` function (it returns warning
lines) and one entry. The modules are imported when used, so they can import this one.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simgen import __version__
from simgen.errors import SimgenError, did_you_mean
from simgen.writers.dataset import MANIFEST
from simgen.writers.reader import read_dataset
from simgen.writers.splits import SPLITS, episode_splits, validate_ratios

#: Export formats by id: the module whose ``write(source, out_dir) -> warnings`` writes it.
FORMATS: dict[str, str] = {
    "coco": "simgen.writers.export_coco",
    "yolo": "simgen.writers.export_yolo",
    "kitti": "simgen.writers.export_kitti",
}
#: The file every export folder holds (what ``overwrite`` is allowed to replace).
EXPORT_MANIFEST = "export.json"
#: Label columns every format needs (``boxes.parquet``).
REQUIRED_LABEL_COLUMNS = (
    "episode", "frame", "camera", "image_id", "instance_id", "name", "class",
    "x", "y", "w", "h", "visible_px", "full_x", "full_y", "full_w", "full_h", "truncation",
    "length_m", "width_m", "height_m", "cam_x_m", "cam_y_m", "cam_z_m",
    "cam_qx", "cam_qy", "cam_qz", "cam_qw",
)
REQUIRED_FRAME_COLUMNS = ("episode", "frame", "camera", "image_id", "rgb_path",
                          "instance_path", "width", "height", "K", "cam_to_world")


@dataclass(frozen=True)
class ExportSummary:
    """What an export wrote: per split, its episodes, images and labels."""

    format: str
    out_dir: Path
    episodes: dict[str, tuple[int, ...]]
    images: dict[str, int]
    labels: dict[str, int]
    #: Images copied because the file system refused a hard link (0: all linked).
    images_copied: int
    #: One line each: empty splits, approximations of the format, ...
    warnings: tuple[str, ...] = ()


@dataclass
class ExportSource:
    """A complete dataset read for export: manifest, frames and labels with their splits.

    ``frames`` is ``frames.parquet`` in image id order plus ``split``, ``name`` (the file
    stem ``e{episode:06d}_{camera}_{frame:05d}``), ``edge_cases`` (list) and
    ``importance_weight`` of the frame's episode. ``labels`` is ``boxes.parquet`` (one row
    per label) plus ``split`` and ``annotation_id`` (its 1-based row number, the id of the
    same annotation in the dataset's ``annotations/coco.json``).
    """

    root: Path
    manifest: dict[str, Any]
    classes: tuple[str, ...]
    frames: pd.DataFrame
    labels: pd.DataFrame
    splits: dict[int, str]
    images_copied: int = 0
    _by_image: dict[int, pd.DataFrame] | None = field(default=None, repr=False)

    def labels_of(self, image_id: int) -> pd.DataFrame:
        """The label rows of one image (an empty frame when it has none)."""
        if self._by_image is None:
            self._by_image = {int(k): g for k, g in self.labels.groupby("image_id", sort=False)}
        return self._by_image.get(int(image_id), self.labels.iloc[:0])

    def frames_in(self, split: str) -> pd.DataFrame:
        """The frames of one split, in image id order."""
        return self.frames[self.frames["split"] == split]

    def place_image(self, rgb_path: str, dst: Path) -> None:
        """Hard-link the dataset's RGB file at ``rgb_path`` (relative) to ``dst``; copy it
        when the file system refuses (another device, no link support)."""
        src = self.root / rgb_path
        dst.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(src, dst)
        except OSError:
            shutil.copyfile(src, dst)
            self.images_copied += 1


def export_dataset(dataset_dir: Path, fmt: str, out_dir: Path,
                   ratios: Sequence[float] = (0.8, 0.1, 0.1),
                   overwrite: bool = False) -> ExportSummary:
    """Export the dataset in ``dataset_dir`` as ``fmt`` (coco, yolo, kitti) into ``out_dir``.

    Episodes are split train/val/test by ``ratios`` with the dataset's root seed. Raises
    ``SimgenError`` (one line) for a folder that is not a complete dataset, an unknown
    format, invalid ratios, or a non-empty ``out_dir`` (unless ``overwrite``, which only
    replaces a previous export).
    """
    dataset_dir, out_dir = Path(dataset_dir), Path(out_dir)
    if fmt not in FORMATS:
        raise SimgenError(f"unknown export format '{fmt}'{did_you_mean(fmt, FORMATS)} "
                          f"(one of: {', '.join(FORMATS)})")
    try:
        ratios = validate_ratios(ratios)
    except ValueError as exc:
        raise SimgenError(str(exc)) from None
    _check_out_dir(dataset_dir, out_dir, overwrite)
    source = load_source(dataset_dir, ratios)
    writer = importlib.import_module(FORMATS[fmt]).write

    target = out_dir.resolve()  # renames need a real name and parent, even for "."
    target.parent.mkdir(parents=True, exist_ok=True)
    # A hidden sibling (same file system, so the final rename is atomic), created with the
    # user's umask (mkdtemp's would be 0700); a leftover of a killed export of this process
    # id is stale and replaced.
    tmp = target.with_name(f".{target.name}.export-tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        warnings = _split_warnings(source, ratios)
        warnings += writer(source, tmp)
        summary = ExportSummary(
            format=fmt, out_dir=out_dir,
            episodes={s: tuple(e for e, name in source.splits.items() if name == s)
                      for s in SPLITS},
            images={s: int((source.frames["split"] == s).sum()) for s in SPLITS},
            labels={s: int((source.labels["split"] == s).sum()) for s in SPLITS},
            images_copied=source.images_copied, warnings=tuple(warnings))
        write_json(tmp / EXPORT_MANIFEST, _export_manifest(source, summary, ratios), indent=2)
        _move_into_place(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return summary


def load_source(dataset_dir: Path, ratios: Sequence[float]) -> ExportSource:
    """Read a complete dataset's manifest and tables and split its episodes."""
    dataset = read_dataset(dataset_dir, required={"frames": REQUIRED_FRAME_COLUMNS,
                                                  "boxes": REQUIRED_LABEL_COLUMNS})
    manifest = dataset.manifest
    frames, labels, episodes = dataset["frames"], dataset["boxes"], dataset["episodes"]
    classes = tuple(manifest.get("classes", ()))
    unknown = sorted(set(labels["class"]) - set(classes))
    if unknown:
        raise SimgenError(f"{dataset_dir}: labels of classes missing from {MANIFEST}: "
                          f"{', '.join(unknown)}")

    if not isinstance(manifest.get("root_seed"), int):
        raise SimgenError(f"{dataset_dir / MANIFEST}: no integer root_seed to split by")
    all_episodes = sorted(set(episodes["episode"].astype(int)) | set(frames["episode"]))
    try:
        splits = episode_splits(all_episodes, tuple(ratios), manifest["root_seed"])
    except ValueError as exc:
        raise SimgenError(str(exc)) from None

    edge_cases = {int(e): [t for t in (c if isinstance(c, str) else "").split(",") if t]
                  for e, c in zip(episodes["episode"], episodes["edge_cases"], strict=True)}
    weights = dict(zip(episodes["episode"].astype(int), episodes["importance_weight"],
                       strict=True))
    frames = frames.sort_values("image_id", kind="stable").reset_index(drop=True)
    frames["split"] = frames["episode"].map(splits)
    frames["name"] = [frame_name(e, c, f) for e, c, f in
                      zip(frames["episode"], frames["camera"], frames["frame"], strict=True)]
    frames["edge_cases"] = frames["episode"].map(lambda e: edge_cases.get(int(e), []))
    frames["importance_weight"] = frames["episode"].map(
        lambda e: float(weights.get(int(e), 1.0)))
    labels = labels.reset_index(drop=True)
    labels["annotation_id"] = np.arange(1, len(labels) + 1)
    labels["split"] = labels["episode"].map(splits)
    return ExportSource(root=dataset_dir, manifest=manifest, classes=classes, frames=frames,
                        labels=labels, splits=splits)


def frame_name(episode: int, camera: str, frame: int) -> str:
    """The file stem of one frame of one camera, unique in a dataset:
    ``e{episode:06d}_{camera}_{frame:05d}`` (camera names are ``[A-Za-z0-9_-]+``)."""
    return f"e{int(episode):06d}_{camera}_{int(frame):05d}"


def json_value(value: Any) -> Any:
    """``value`` as plain JSON data: numpy scalars and arrays unwrapped, NaN -> None."""
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [json_value(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json(path: Path, data: Any, indent: int | None = None) -> None:
    """Write ``data`` as strict JSON (NaN as null), creating the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(json_value(data), allow_nan=False, indent=indent)
    path.write_text(text + "\n", encoding="utf-8")


def _check_out_dir(dataset_dir: Path, out_dir: Path, overwrite: bool) -> None:
    out_abs, data_abs = out_dir.resolve(), dataset_dir.resolve()
    if out_abs == data_abs or out_abs in data_abs.parents:
        raise SimgenError(f"{out_dir}: the export folder cannot be the dataset folder or "
                          f"contain it; choose another folder")
    if out_dir.exists() and not out_dir.is_dir():
        raise SimgenError(f"{out_dir}: exists and is not a directory")
    if out_dir.is_dir() and any(out_dir.iterdir()):
        if not overwrite:
            raise SimgenError(f"{out_dir}: directory is not empty; pass --overwrite to "
                              f"replace the export in it, or choose another folder")
        if not (out_dir / EXPORT_MANIFEST).is_file():
            raise SimgenError(f"{out_dir}: not empty and not a simgen export (no "
                              f"{EXPORT_MANIFEST}); refusing to delete it even with "
                              f"--overwrite")


def _move_into_place(tmp: Path, out_dir: Path) -> None:
    """Rename the finished export to ``out_dir``, replacing an empty folder or (checked
    before) a previous export; the old export is removed only after the rename."""
    old = None
    if out_dir.is_dir():
        if any(out_dir.iterdir()):
            old = out_dir.with_name(tmp.name.replace(".export-tmp-", ".export-old-"))
            os.replace(out_dir, old)
        else:
            out_dir.rmdir()
    os.replace(tmp, out_dir)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _split_warnings(source: ExportSource, ratios: Sequence[float]) -> list[str]:
    """One line per split that has a positive ratio but got no episode."""
    out = []
    n = len(source.splits)
    for name, ratio in zip(SPLITS, ratios, strict=True):
        if ratio > 0 and name not in source.splits.values():
            out.append(f"split '{name}' is empty: {n} episode(s) at ratios "
                       f"{'/'.join(f'{r:g}' for r in ratios)} give it none")
    return out


def _export_manifest(source: ExportSource, summary: ExportSummary,
                     ratios: Sequence[float]) -> dict[str, Any]:
    scenario = source.manifest.get("scenario", {})
    return {
        "tool": "simgen", "version": __version__, "format": summary.format,
        "dataset": {"scenario": scenario.get("name"),
                    "root_seed": source.manifest.get("root_seed"),
                    "version": source.manifest.get("version"),
                    "counts": source.manifest.get("counts")},
        "split": {"by": "episode", "seed": source.manifest.get("root_seed"),
                  "ratios": dict(zip(SPLITS, (float(r) for r in ratios), strict=True))},
        "classes": list(source.classes),
        "splits": {s: {"episodes": list(summary.episodes[s]), "images": summary.images[s],
                       "labels": summary.labels[s]} for s in SPLITS},
        "warnings": list(summary.warnings),
    }
