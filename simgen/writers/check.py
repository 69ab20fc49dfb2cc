"""Checking a written dataset against its format: files, tables, COCO, masks and depth.

``check_dataset`` reads a dataset directory the way a user of it would and reports every
way it disagrees with the format described in the README ("The dataset"): one line per
problem, naming the file (and row, annotation or pixel) and what is wrong. It decodes
every image once, on a thread pool (OpenCV's PNG decoder, most of the time, releases the
GIL), and checks the labels against the instance masks they were computed from.

What is exact in the data is checked exactly: boxes are the tight pixel bounds of their
instance's pixels, areas are pixel counts, depth is 0 exactly where the instance mask is
background, and no depth lies beyond the camera's far plane (in whole millimetres).
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd

from simgen.writers.dataset import INCOMPLETE_MARKER, MANIFEST
from simgen.writers.images import DEPTH_SCALE_MM_PER_M
from simgen.writers.parts import FRAME_OBJECT_COLUMNS, PART_FILES, TRAJ_SCHEMA

#: ``progress(done, total)``: frames (rows of frames.parquet) whose images are checked.
ProgressCallback = Callable[[int, int], None]

COCO_FILE = "annotations/coco.json"
#: What ``_read_json`` returns for a file that is missing or does not parse.
UNREADABLE = object()
STATUSES = ("labeled", "below_rule", "hidden")
#: Every table of the format and the columns the README promises in it.
TABLE_COLUMNS: dict[str, list[str]] = {
    "episodes.parquet": ["episode", "seed", "edge_cases", "importance_weight"],
    "objects.parquet": ["episode", "instance_id", "name", "class", "labeled", "category_id",
                        "group", "asset", "behaviour", "scale", "colour_rgba",
                        "initial_position_m", "initial_yaw_deg"],
    "frames.parquet": ["episode", "frame", "time_s", "camera", "image_id", "rgb_path",
                       "depth_path", "instance_path", "semantic_path", "width", "height", "fx",
                       "fy", "cx", "cy", "K", "cam_to_world", "num_boxes"],
    "frame_objects.parquet": list(FRAME_OBJECT_COLUMNS),
    "boxes.parquet": [c for c in FRAME_OBJECT_COLUMNS if c != "status"],
    "trajectories.parquet": list(TRAJ_SCHEMA.names),
}
#: The columns the checks below read (a table without one of them is not checked further).
_LABEL_CHECKED = ["episode", "frame", "camera", "image_id", "instance_id", "name", "class",
                  "x", "y", "w", "h", "visible_px", "full_x", "full_y", "full_w", "full_h",
                  "truncation"]
CHECKED_COLUMNS: dict[str, list[str]] = {
    "episodes.parquet": ["episode", "seed"],
    "objects.parquet": ["episode", "instance_id", "name", "class", "labeled", "category_id"],
    "frames.parquet": ["episode", "frame", "camera", "image_id", "rgb_path", "depth_path",
                       "instance_path", "width", "height", "fx", "fy", "cx", "cy", "K",
                       "cam_to_world", "num_boxes"],
    "frame_objects.parquet": _LABEL_CHECKED + ["status"],
    "boxes.parquet": _LABEL_CHECKED,
    "trajectories.parquet": ["episode", "step", "actor", "class", "instance_id"],
}
#: Columns that must hold numbers (so that the checks below can compare them).
NUMERIC_COLUMNS: dict[str, list[str]] = {
    "episodes.parquet": ["episode", "seed"],
    "objects.parquet": ["episode", "instance_id", "category_id"],
    "frames.parquet": ["episode", "frame", "image_id", "width", "height", "num_boxes"],
    "frame_objects.parquet": ["episode", "frame", "image_id", "instance_id", "x", "y", "w",
                              "h", "visible_px", "full_x", "full_y", "full_w", "full_h",
                              "truncation"],
    "boxes.parquet": ["episode", "frame", "image_id", "instance_id", "x", "y", "w", "h",
                      "visible_px", "full_x", "full_y", "full_w", "full_h", "truncation"],
    "trajectories.parquet": ["episode", "step", "instance_id"],
}
#: How far visible_px may exceed unoccluded_px: edge pixels the renderers and the
#: silhouette rasterizer disagree on (1 px at most in the shipped scenarios' good rows).
UNOCCLUDED_EDGE_PX = 2
UNOCCLUDED_EDGE_SHARE = 0.02
#: Tolerance of the full-extent box (floats, clipped to the image) against the image edges.
FULL_BOX_TOL_PX = 1e-6


@dataclass(frozen=True)
class ImageSpec:
    """What one image layer decodes to: ``channels`` 0 means a single (H, W) plane."""

    channels: int
    dtype: type


#: Image layers by modality (the ``MODALITY_path`` columns of frames.parquet).
IMAGE_SPECS: dict[str, ImageSpec] = {
    "rgb": ImageSpec(3, np.uint8),
    "depth": ImageSpec(0, np.uint16),
    "instance": ImageSpec(0, np.uint16),
    "semantic": ImageSpec(0, np.uint16),
}
REQUIRED_MODALITIES = ("rgb", "depth", "instance")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_END = b"IEND\xaeB`\x82"


@dataclass
class CheckReport:
    """What ``check_dataset`` found: one line per problem and counts of what it read."""

    problems: list[str] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.problems


def check_dataset(dataset_dir: Path, progress: ProgressCallback | None = None,
                  threads: int | None = None) -> CheckReport:
    """Check the dataset in ``dataset_dir`` against the format; never raises on bad data.

    ``progress(done, total)`` is called from the calling thread as the images of each
    frame (row of frames.parquet) are checked; ``threads`` decode images in parallel
    (default: one per CPU core).
    """
    start = time.perf_counter()
    check = _DatasetCheck(Path(dataset_dir))
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)  # libpng warnings
    try:
        check.run(progress, threads or _cpu_count())
    finally:
        cv2.utils.logging.setLogLevel(level)
    check.summary["seconds"] = round(time.perf_counter() - start, 3)
    check.summary["problems"] = len(check.problems)
    return CheckReport(check.problems, check.summary)


def _cpu_count() -> int:
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


# --------------------------------------------------------------------------- per frame


@dataclass(frozen=True)
class LabelRef:
    """One label of one image to compare with the instance mask.

    ``box`` is ``(x, y, w, h)`` in pixel edges, or None for a row that claims no box
    (hidden); ``check_box`` is False when the box already failed its geometry check.
    """

    where: str
    instance_id: int
    box: tuple[float, float, float, float] | None
    pixels: int
    pixels_name: str  # "visible_px" or "area"
    check_box: bool


@dataclass(frozen=True)
class EpisodeObjects:
    """The bodies of one episode as objects.parquet lists them."""

    names: dict[int, str]
    labeled_ids: frozenset[int]
    semantic_lut: np.ndarray | None  # instance id -> semantic class id


@dataclass(frozen=True)
class FrameTask:
    """Everything needed to check the images of one frame of one camera."""

    index: int
    files: dict[str, str]  # modality -> path relative to the dataset root
    width: int
    height: int
    episode: int
    objects: EpisodeObjects | None
    refs: list[LabelRef]
    far_mm: int | None  # deepest value the depth PNG may hold
    far_m: float | None
    near_mm: int | None  # shallowest non-zero value
    near_m: float | None
    listed: frozenset[int] | None  # instance ids with a frame_objects row (None: no table)


@dataclass
class FrameResult:
    """Problems found in one frame's images and how many images decoded."""

    problems: list[str] = field(default_factory=list)
    decoded: int = 0


def _decode_png(root: Path, rel: str, spec: ImageSpec | None, width: int, height: int,
                problems: list[str]) -> np.ndarray | None:
    """Read and decode one PNG, checking its layout; None (with a problem) when unusable."""
    if Path(rel).is_absolute() or ".." in Path(rel).parts:
        problems.append(f"{rel}: not a path inside the dataset folder")
        return None
    try:
        data = (root / rel).read_bytes()
    except FileNotFoundError:
        problems.append(f"{rel}: missing")
        return None
    except OSError as exc:
        problems.append(f"{rel}: cannot be read: {exc.strerror or exc}")
        return None
    if not data.startswith(PNG_SIGNATURE):
        problems.append(f"{rel}: not a PNG file")
        return None
    if not data.endswith(PNG_END):
        problems.append(f"{rel}: truncated (no PNG end chunk; {len(data)} bytes)")
        return None
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None:
        problems.append(f"{rel}: does not decode (corrupt PNG data)")
        return None
    if spec is None:
        return image
    want_shape = (height, width, spec.channels) if spec.channels else (height, width)
    if image.shape != want_shape or image.dtype != spec.dtype:
        layout = f"{'x'.join(map(str, image.shape))} {image.dtype}"
        want = f"{'x'.join(map(str, want_shape))} {np.dtype(spec.dtype)}"
        problems.append(f"{rel}: decodes to {layout}, expected {want} (HxW"
                        f"{'xC' if spec.channels else ''} from frames.parquet)")
        return None
    return image


def _instance_stats(instance: np.ndarray, wanted: np.ndarray):
    """Pixel counts of every id, and tight pixel-edge boxes ``(x, y, w, h)`` of ``wanted``."""
    counts = np.bincount(instance.ravel(), minlength=int(wanted.max(initial=0)) + 1)
    wanted = wanted[(wanted < len(counts))]
    wanted = wanted[counts[wanted] > 0]
    boxes: dict[int, tuple[int, int, int, int]] = {}
    if len(wanted):
        # Compact slots (np.take on a small table releases the GIL, unlike bincount).
        slot = np.full(len(counts), -1, dtype=np.int32)
        slot[wanted] = np.arange(len(wanted))
        which = np.take(slot, instance)
        rr, cc = np.nonzero(which >= 0)
        k = which[rr, cc]
        rows = np.zeros((len(wanted), instance.shape[0]), dtype=bool)
        cols = np.zeros((len(wanted), instance.shape[1]), dtype=bool)
        rows[k, rr] = True
        cols[k, cc] = True
        y0 = rows.argmax(axis=1)
        y1 = instance.shape[0] - rows[:, ::-1].argmax(axis=1)
        x0 = cols.argmax(axis=1)
        x1 = instance.shape[1] - cols[:, ::-1].argmax(axis=1)
        for j, i in enumerate(wanted.tolist()):
            boxes[i] = (int(x0[j]), int(y0[j]), int(x1[j] - x0[j]), int(y1[j] - y0[j]))
    return counts, boxes


def _first_at(mask: np.ndarray) -> tuple[int, int]:
    """``(x, y)`` of the first set pixel in row-major order."""
    y, x = np.unravel_index(int(mask.argmax()), mask.shape)
    return int(x), int(y)


def _check_frame(root: Path, task: FrameTask) -> FrameResult:
    """Decode one frame's images and check labels, depth and semantics against the mask."""
    out = FrameResult()
    images: dict[str, np.ndarray] = {}
    for modality, rel in task.files.items():
        image = _decode_png(root, rel, IMAGE_SPECS.get(modality), task.width, task.height,
                            out.problems)
        if image is not None:
            images[modality] = image
            out.decoded += 1
    instance = images.get("instance")
    if instance is None:
        return out
    instance_rel = task.files["instance"]
    objects = task.objects
    wanted = {ref.instance_id for ref in task.refs if ref.instance_id >= 0}
    if objects is not None:
        wanted |= objects.labeled_ids
    counts, boxes = _instance_stats(instance, np.array(sorted(wanted), dtype=np.int64))
    present = np.flatnonzero(counts)
    present = present[present > 0]
    if objects is not None:
        unknown = [int(i) for i in present if int(i) not in objects.names]
        if unknown:
            out.problems.append(f"{instance_rel}: instance ids {_fmt_ids(unknown)} are not in "
                                f"objects.parquet for episode {task.episode}")
        if task.listed is not None:
            for i in sorted(objects.labeled_ids):
                if i < len(counts) and counts[i] and i not in task.listed:
                    out.problems.append(
                        f"{instance_rel}: labeled instance {i} ({objects.names[i]}) has "
                        f"{counts[i]} pixels but no frame_objects.parquet row")
    for ref in task.refs:
        n = int(counts[ref.instance_id]) if 0 <= ref.instance_id < len(counts) else 0
        if n != ref.pixels:
            out.problems.append(f"{ref.where}: {ref.pixels_name} {ref.pixels} but instance "
                                f"{ref.instance_id} has {n} pixels in {instance_rel}")
        if ref.box is None or not ref.check_box:
            continue
        tight = boxes.get(ref.instance_id)
        if tight is None:
            out.problems.append(f"{ref.where}: box {_fmt_box(ref.box)} but instance "
                                f"{ref.instance_id} has no pixels in {instance_rel}")
        elif tuple(ref.box) != tight:
            out.problems.append(f"{ref.where}: box {_fmt_box(ref.box)} is not the tight box "
                                f"{_fmt_box(tight)} of instance {ref.instance_id}'s pixels in "
                                f"{instance_rel}")
    depth = images.get("depth")
    if depth is not None:
        _check_depth(task, depth, instance, out.problems)
    semantic = images.get("semantic")
    if semantic is not None and objects is not None and objects.semantic_lut is not None:
        lut = objects.semantic_lut
        ids = np.minimum(instance, len(lut) - 1)  # unknown ids are reported above
        expected = np.take(lut, ids)
        wrong = semantic != expected
        if wrong.any():
            x, y = _first_at(wrong)
            out.problems.append(
                f"{task.files['semantic']}: {int(wrong.sum())} pixels disagree with the "
                f"classes of their instances, first at ({x}, {y}): {int(semantic[y, x])} "
                f"where instance {int(instance[y, x])} has class id {int(expected[y, x])}")
    return out


def _check_depth(task: FrameTask, depth: np.ndarray, instance: np.ndarray,
                 problems: list[str]) -> None:
    rel = task.files["depth"]
    if task.far_mm is not None:
        beyond = depth > task.far_mm
        if beyond.any():
            x, y = _first_at(beyond)
            problems.append(f"{rel}: {int(beyond.sum())} pixels beyond the far plane "
                            f"({task.far_m:g} m = {task.far_mm} mm), max {int(depth.max())} "
                            f"mm, first at ({x}, {y})")
    if task.near_mm is not None:
        close = (depth > 0) & (depth < task.near_mm)
        if close.any():
            x, y = _first_at(close)
            problems.append(f"{rel}: {int(close.sum())} pixels nearer than the near plane "
                            f"({task.near_m:g} m = {task.near_mm} mm), first at ({x}, {y}): "
                            f"{int(depth[y, x])} mm")
    background = instance == 0
    no_surface = depth == 0
    hole = no_surface & ~background
    if hole.any():
        x, y = _first_at(hole)
        problems.append(f"{rel}: {int(hole.sum())} pixels are 0 (no surface) where "
                        f"{task.files['instance']} has an object, first at ({x}, {y}) "
                        f"(instance {int(instance[y, x])})")
    ghost = background & ~no_surface
    if ghost.any():
        x, y = _first_at(ghost)
        problems.append(f"{rel}: {int(ghost.sum())} pixels have a depth where "
                        f"{task.files['instance']} is background 0, first at ({x}, {y}): "
                        f"{int(depth[y, x])} mm")


# --------------------------------------------------------------------------- formatting


def _num(value: Any) -> Any:
    """An integral float as int, for messages."""
    if isinstance(value, float | np.floating) and math.isfinite(value) \
            and float(value).is_integer():
        return int(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


def _fmt_box(box: Iterable[Any]) -> str:
    return "[" + ", ".join(str(_num(v)) for v in box) + "]"


def _fmt_ids(ids: list[int], limit: int = 10) -> str:
    text = ", ".join(str(i) for i in ids[:limit])
    return text + (f", ... ({len(ids)} in all)" if len(ids) > limit else "")


def _box_problem(box: tuple[float, ...], width: int, height: int) -> str | None:
    """What is wrong with a visible box ``(x, y, w, h)`` in a ``width`` x ``height`` image."""
    if not all(isinstance(v, int | float | np.number) and math.isfinite(v) for v in box):
        return f"box {_fmt_box(box)} has a missing or non-numeric value"
    x, y, w, h = box
    if w <= 0 or h <= 0:
        return f"box {_fmt_box(box)} is degenerate (width {_num(w)}, height {_num(h)})"
    if any(not float(v).is_integer() for v in box):
        return f"box {_fmt_box(box)} is not on pixel edges (whole numbers)"
    if x < 0 or y < 0 or x + w > width or y + h > height:
        return f"box {_fmt_box(box)} extends past the image ({width}x{height})"
    return None


def _same(a: Any, b: Any) -> bool:
    """Equality that treats two missing values (None/NaN) as equal and compares lists."""
    if isinstance(a, np.ndarray | list | tuple) or isinstance(b, np.ndarray | list | tuple):
        try:
            return bool(np.array_equal(np.asarray(a, dtype=float), np.asarray(b, dtype=float),
                                       equal_nan=True))
        except (TypeError, ValueError):
            return list(a) == list(b)
    a_missing = a is None or (isinstance(a, float) and math.isnan(a)) or a is pd.NA
    b_missing = b is None or (isinstance(b, float) and math.isnan(b)) or b is pd.NA
    if a_missing or b_missing:
        return a_missing and b_missing
    return bool(a == b)


# --------------------------------------------------------------------------- the dataset


class _DatasetCheck:
    """The checks of one dataset directory, in the order data is needed."""

    def __init__(self, root: Path):
        self.root = root
        self.problems: list[str] = []
        self.summary: dict[str, Any] = {"dataset": str(root)}
        self.manifest: dict[str, Any] | None = None
        self.tables: dict[str, pd.DataFrame | None] = {}
        self.coco: dict[str, Any] | None = None
        self.classes: list[str] | None = None
        self.cameras: dict[str, int] = {}  # name -> index in the scenario's cameras
        self.min_visible_px: int | None = None
        self.coco_images: pd.DataFrame | None = None
        self.coco_annotations: pd.DataFrame | None = None
        self.coco_categories: dict[int, str] | None = None
        self._records: dict[str, list[dict[str, Any]]] = {}
        self._limits: dict[tuple[int, str], tuple] = {}

    def problem(self, line: str) -> None:
        self.problems.append(line)

    def run(self, progress: ProgressCallback | None, threads: int) -> None:
        if not self.root.is_dir():
            self.problem(f"{self.root}: not a directory")
            return
        stages = [("manifest", self.load_manifest), ("tables", self.load_tables),
                  ("coco", self.load_coco), ("counts", self.check_counts),
                  ("episodes", self.check_episodes), ("objects", self.check_objects),
                  ("frames", self.check_frames), ("frame objects", self.check_frame_objects),
                  ("boxes", self.check_boxes), ("coco", self.check_coco),
                  ("trajectories", self.check_trajectories),
                  ("images", lambda: self.check_images(progress, threads)),
                  ("files", self.check_unlisted_files)]
        for name, stage in stages:
            try:
                stage()
            except Exception as exc:  # a checker bug must not hide the rest of the report
                self.problem(f"checker: internal error in the {name} check: "
                             f"{type(exc).__name__}: {exc}")

    # ---- loading

    def _read_json(self, rel: str, when_missing: str) -> Any:
        """The parsed JSON file ``rel``, or ``UNREADABLE`` after reporting why it cannot be
        read."""
        path = self.root / rel
        if not path.is_file():
            self.problem(f"{rel}: {when_missing}")
            return UNREADABLE
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            self.problem(f"{rel}: does not parse: {exc}")
            return UNREADABLE

    def load_manifest(self) -> None:
        if (self.root / INCOMPLETE_MARKER).exists():
            self.problem(f"{INCOMPLETE_MARKER}: present: generation did not finish "
                         "(interrupted or failed run)")
        manifest = self._read_json(MANIFEST, "missing (not a finished simgen dataset)")
        if manifest is UNREADABLE:
            return
        if not isinstance(manifest, dict):
            self.problem(f"{MANIFEST}: not a JSON object")
            return
        ok = True
        for key, kind in (("classes", list), ("counts", dict), ("episodes", list),
                          ("renderer", str), ("scenario", dict), ("constraints", list)):
            if not isinstance(manifest.get(key), kind):
                self.problem(f"{MANIFEST}: {key}: missing or not a {kind.__name__}")
                ok = False
        if not ok:
            return
        counts = manifest["counts"]
        for key in ("episodes", "frames", "labels"):
            if not isinstance(counts.get(key), int):
                self.problem(f"{MANIFEST}: counts.{key}: missing or not an integer")
                ok = False
        classes = manifest["classes"]
        if not all(isinstance(c, str) for c in classes) or len(set(classes)) != len(classes):
            self.problem(f"{MANIFEST}: classes: not a list of distinct names: {classes}")
            ok = False
        for i, ep in enumerate(manifest["episodes"]):
            if not isinstance(ep, dict) or not all(isinstance(ep.get(k), int)
                                                   for k in ("index", "seed", "frames")):
                self.problem(f"{MANIFEST}: episodes[{i}]: needs integer index, seed, frames")
                ok = False
            elif ep.get("status", "complete") != "complete":
                self.problem(f"{MANIFEST}: episode {ep['index']} {ep.get('status')} after "
                             f"{ep.get('attempts')} attempts: {ep.get('error')} (simgen run "
                             "--resume tries it again)")
        scenario = manifest["scenario"]
        cameras = scenario.get("cameras")
        if not isinstance(cameras, list) or not all(isinstance(c, dict) and "name" in c
                                                    for c in cameras):
            self.problem(f"{MANIFEST}: scenario.cameras: missing or not a list of cameras")
            ok = False
        labels = scenario.get("labels")
        min_px = labels.get("min_visible_px") if isinstance(labels, dict) else None
        if not isinstance(min_px, int):
            self.problem(f"{MANIFEST}: scenario.labels.min_visible_px: missing or not an "
                         "integer")
            ok = False
        if not ok:
            return
        semantic = manifest.get("semantic_classes", classes)
        if not isinstance(semantic, list) or len(set(map(str, semantic))) != len(semantic) \
                or semantic[:len(classes)] != classes:
            self.problem(f"{MANIFEST}: semantic_classes {semantic} do not start with the "
                         f"classes {classes} (their ids must be the COCO category ids)")
        self.manifest = manifest
        self.classes = list(classes)
        self.cameras = {c["name"]: k for k, c in enumerate(cameras)}
        self.min_visible_px = min_px
        self.summary["renderer"] = manifest["renderer"]
        self.summary["classes"] = len(classes)

    def load_tables(self) -> None:
        for name, columns in TABLE_COLUMNS.items():
            path = self.root / name
            self.tables[name] = None
            if not path.is_file():
                self.problem(f"{name}: missing")
                continue
            try:
                df = pd.read_parquet(path)
            except Exception as exc:  # pyarrow raises several types for a damaged file
                self.problem(f"{name}: does not load: {type(exc).__name__}: {exc}")
                continue
            lacking = [c for c in columns if c not in df.columns]
            if lacking:
                self.problem(f"{name}: missing columns {', '.join(lacking)}")
            if any(c not in df.columns for c in CHECKED_COLUMNS[name]):
                continue
            wrong = [c for c in NUMERIC_COLUMNS[name]
                     if not pd.api.types.is_numeric_dtype(df[c]) and not df[c].isna().all()]
            if wrong:
                self.problem(f"{name}: columns {', '.join(wrong)} do not hold numbers")
                continue
            self.tables[name] = df.reset_index(drop=True)

    def load_coco(self) -> None:
        coco = self._read_json(COCO_FILE, "missing")
        if coco is UNREADABLE:
            return
        if not isinstance(coco, dict) or not all(isinstance(coco.get(k), list)
                                                 for k in ("images", "annotations",
                                                           "categories")):
            self.problem(f"{COCO_FILE}: needs lists images, annotations and categories")
            return
        self.coco = coco
        images = []
        for k, im in enumerate(coco["images"]):
            if not isinstance(im, dict) or not isinstance(im.get("id"), int) \
                    or not isinstance(im.get("file_name"), str) \
                    or not all(isinstance(im.get(c), int) for c in ("width", "height")):
                self.problem(f"{COCO_FILE}: images[{k}]: needs integer id, width, height and "
                             "a file_name")
                continue
            images.append(im)
        self.coco_images = pd.DataFrame(images, columns=["id", "file_name", "width",
                                                         "height", "episode", "frame",
                                                         "camera"])
        categories: dict[int, str] = {}
        for k, cat in enumerate(coco["categories"]):
            if not isinstance(cat, dict) or not isinstance(cat.get("id"), int) \
                    or not isinstance(cat.get("name"), str) or cat["id"] in categories:
                self.problem(f"{COCO_FILE}: categories[{k}]: needs a unique integer id and a "
                             "name")
                continue
            categories[cat["id"]] = cat["name"]
        self.coco_categories = categories
        annotations = []
        for k, ann in enumerate(coco["annotations"]):
            bbox = ann.get("bbox") if isinstance(ann, dict) else None
            if not isinstance(ann, dict) or not all(isinstance(ann.get(c), int) for c in (
                    "id", "image_id", "category_id", "instance_id")) \
                    or not isinstance(ann.get("area"), int | float) \
                    or not isinstance(bbox, list) or len(bbox) != 4 \
                    or not all(isinstance(v, int | float) for v in bbox):
                self.problem(f"{COCO_FILE}: annotations[{k}]: needs integer id, image_id, "
                             "category_id, instance_id, a number area and a 4-number bbox")
                continue
            annotations.append({"id": ann["id"], "image_id": ann["image_id"],
                                "iscrowd": ann.get("iscrowd", 0),
                                "category_id": ann["category_id"],
                                "instance_id": ann["instance_id"], "area": ann["area"],
                                "x": bbox[0], "y": bbox[1], "w": bbox[2], "h": bbox[3],
                                "object_name": ann.get("object_name"),
                                "attributes": ann.get("attributes")})
        self.coco_annotations = pd.DataFrame(
            annotations, columns=["id", "image_id", "iscrowd", "category_id", "instance_id",
                                  "area", "x", "y", "w", "h", "object_name", "attributes"])

    # ---- whole-dataset checks

    def check_counts(self) -> None:
        t = self.tables
        self.summary.update({
            "episodes": None if t.get("episodes.parquet") is None
            else len(t["episodes.parquet"]),
            "frames": None if t.get("frames.parquet") is None else len(t["frames.parquet"]),
            "labels": None if t.get("boxes.parquet") is None else len(t["boxes.parquet"]),
        })
        if self.manifest is None:
            return
        counts = self.manifest["counts"]
        listed = self._complete_episodes()
        found: list[tuple[str, str, int | None]] = [
            ("episodes", "dataset.json episodes list", len(listed)),
            ("episodes", "episodes.parquet rows", self.summary["episodes"]),
            ("frames", "the sum of dataset.json episodes[].frames",
             sum(ep["frames"] for ep in listed)),
            ("frames", "frames.parquet rows", self.summary["frames"]),
            ("labels", "boxes.parquet rows", self.summary["labels"]),
        ]
        if self.coco_images is not None:
            found.append(("frames", f"{COCO_FILE} images", len(self.coco["images"])))
            found.append(("labels", f"{COCO_FILE} annotations", len(self.coco["annotations"])))
        if t.get("frames.parquet") is not None:
            found.append(("labels", "the sum of frames.parquet num_boxes",
                          int(t["frames.parquet"]["num_boxes"].sum())))
        if t.get("frame_objects.parquet") is not None:
            fo = t["frame_objects.parquet"]
            found.append(("labels", "frame_objects.parquet labeled rows",
                          int((fo["status"] == "labeled").sum())))
        for key, what, n in found:
            if n is not None and n != counts[key]:
                self.problem(f"{MANIFEST}: counts.{key} is {counts[key]} but {what} is {n}")

    def _complete_episodes(self) -> list[dict[str, Any]]:
        """The manifest's episodes that were made (a run lists failed ones too)."""
        return [ep for ep in self.manifest["episodes"]
                if ep.get("status", "complete") == "complete"]

    def check_episodes(self) -> None:
        episodes = self.tables.get("episodes.parquet")
        if episodes is not None:
            dupes = episodes["episode"][episodes["episode"].duplicated()].tolist()
            if dupes:
                self.problem(f"episodes.parquet: episodes {_fmt_ids(dupes)} appear twice")
        if self.manifest is None:
            return
        listed = self._complete_episodes()
        indices = [ep["index"] for ep in listed]
        if episodes is not None:
            by_index = dict(zip(episodes["episode"].tolist(), episodes["seed"].tolist(),
                                strict=True))
            for ep in listed:
                seed = by_index.get(ep["index"])
                if seed is None:
                    self.problem(f"episodes.parquet: no row for episode {ep['index']} "
                                 f"(listed in {MANIFEST})")
                elif seed != ep["seed"]:
                    self.problem(f"episodes.parquet: episode {ep['index']} has seed {seed}, "
                                 f"{MANIFEST} says {ep['seed']}")
            extra = sorted(set(by_index) - set(indices))
            if extra:
                self.problem(f"episodes.parquet: episodes {_fmt_ids(extra)} are not in "
                             f"{MANIFEST}")
        frames = self.tables.get("frames.parquet")
        if frames is not None:
            per_episode = frames.groupby("episode").size().to_dict()
            for ep in listed:
                n = per_episode.get(ep["index"], 0)
                if n != ep["frames"]:
                    self.problem(f"frames.parquet: episode {ep['index']} has {n} rows, "
                                 f"{MANIFEST} says {ep['frames']} frames")
            extra = sorted(set(per_episode) - set(indices))
            if extra:
                self.problem(f"frames.parquet: episodes {_fmt_ids(extra)} are not in "
                             f"{MANIFEST}")

    def check_objects(self) -> None:
        objects = self.tables.get("objects.parquet")
        if objects is None:
            return
        records = self.records("objects.parquet")
        for i in _duplicated(objects, ["episode", "instance_id"]):
            self.problem(f"objects.parquet row {i}: episode {records[i]['episode']} instance "
                         f"{records[i]['instance_id']} appears twice")
        for i in np.flatnonzero(~(objects["instance_id"] >= 1).to_numpy()):
            self.problem(f"objects.parquet row {i}: instance_id {records[i]['instance_id']} is "
                         "not a positive id (0 is background)")
        if self.classes is None:
            return
        category = {name: k + 1 for k, name in enumerate(self.classes)}
        semantic = self._semantic_classes()
        for i, row in enumerate(records):
            where = f"objects.parquet row {i} (episode {row['episode']}, {row['name']})"
            labeled = row["labeled"]
            if labeled is not True and labeled is not False and labeled not in (0, 1):
                self.problem(f"{where}: labeled is {labeled!r}, not a boolean")
                continue
            cls, cat = row["class"], row["category_id"]
            if labeled:
                if cls not in category:
                    self.problem(f"{where}: class {cls!r} is not in {MANIFEST} classes")
                elif not _same(_num(cat), category[cls]):
                    self.problem(f"{where}: category_id {_num(cat)} but class {cls!r} is "
                                 f"category {category[cls]}")
            elif not _same(cat, None):
                self.problem(f"{where}: unlabeled body has category_id {_num(cat)}")
            if semantic is not None and cls not in semantic:
                self.problem(f"{where}: class {cls!r} is not in {MANIFEST} semantic_classes")

    def _semantic_classes(self) -> list[str] | None:
        if self.manifest is None or "semantic_classes" not in self.manifest:
            return None
        return list(self.manifest["semantic_classes"])

    def check_frames(self) -> None:
        frames = self.tables.get("frames.parquet")
        if frames is None:
            return
        records = self.records("frames.parquet")
        for cols, what in ((["image_id"], "image_id"),
                           (["episode", "frame", "camera"], "episode, frame and camera")):
            for i in _duplicated(frames, cols):
                self.problem(f"frames.parquet row {i}: {what} "
                             f"{', '.join(str(records[i][c]) for c in cols)} appears twice")
        for i, row in enumerate(records):
            where = f"frames.parquet row {i} (episode {row['episode']}, frame {row['frame']}, " \
                    f"{row['camera']})"
            if self.manifest is not None and row["camera"] not in self.cameras:
                self.problem(f"{where}: camera {row['camera']!r} is not in the scenario's "
                             "cameras")
            if not (row["width"] > 0 and row["height"] > 0):
                self.problem(f"{where}: image size {row['width']}x{row['height']}")
            for modality in self._modalities(frames):
                rel = row[f"{modality}_path"]
                expected = (f"episodes/{int(row['episode']):06d}/{modality}/"
                            f"{row['camera']}_{int(row['frame']):05d}.png")
                if rel != expected:
                    self.problem(f"{where}: {modality}_path {rel!r} is not {expected!r}")
            self._check_calibration(where, row)

    def _check_calibration(self, where: str, row: dict[str, Any]) -> None:
        try:
            K = np.asarray(row["K"], dtype=float).reshape(3, 3)
            pose = np.asarray(row["cam_to_world"], dtype=float).reshape(4, 4)
        except (TypeError, ValueError):
            self.problem(f"{where}: K is not 9 numbers or cam_to_world not 16")
            return
        if not (K[0, 0] > 0 and K[1, 1] > 0 and K[0, 1] == 0 and K[1, 0] == 0
                and np.array_equal(K[2], [0, 0, 1])):
            self.problem(f"{where}: K {K.ravel().tolist()} is not a pinhole intrinsic matrix")
        elif not np.allclose([row["fx"], row["fy"], row["cx"], row["cy"]],
                             [K[0, 0], K[1, 1], K[0, 2], K[1, 2]]):
            self.problem(f"{where}: fx, fy, cx, cy disagree with K")
        rotation = pose[:3, :3]
        if not (np.array_equal(pose[3], [0, 0, 0, 1]) and np.all(np.isfinite(pose))
                and np.allclose(rotation.T @ rotation, np.eye(3), atol=1e-5)
                and np.linalg.det(rotation) > 0):
            self.problem(f"{where}: cam_to_world is not a rigid transform")

    def _modalities(self, frames: pd.DataFrame) -> list[str]:
        return [c[:-len("_path")] for c in frames.columns if c.endswith("_path")]

    def records(self, name: str) -> list[dict[str, Any]]:
        """The rows of a loaded table as dicts (fast to iterate), cached."""
        if name not in self._records:
            self._records[name] = self.tables[name].to_dict("records")
        return self._records[name]

    def _frame_index(self) -> dict[int, dict[str, Any]] | None:
        """frames.parquet rows by image id (the first of duplicates)."""
        if self.tables.get("frames.parquet") is None:
            return None
        out: dict[int, dict[str, Any]] = {}
        for row in self.records("frames.parquet"):
            out.setdefault(int(row["image_id"]), row)
        return out

    def _object_index(self) -> dict[tuple[int, int], dict[str, Any]] | None:
        """objects.parquet rows by (episode, instance id) (the first of duplicates)."""
        if self.tables.get("objects.parquet") is None:
            return None
        out: dict[tuple[int, int], dict[str, Any]] = {}
        for row in self.records("objects.parquet"):
            out.setdefault((int(row["episode"]), int(row["instance_id"])), row)
        return out

    def _check_label_rows(self, name: str, df: pd.DataFrame) -> None:
        """Checks shared by frame_objects.parquet and boxes.parquet rows."""
        frames = self._frame_index()
        objects = self._object_index()
        records = self.records(name)
        for i in _duplicated(df, ["image_id", "instance_id"]):
            self.problem(f"{_label_where(name, i, records[i])}: image {records[i]['image_id']} "
                         f"instance {records[i]['instance_id']} appears twice")
        has_status = "status" in df.columns
        fired = self._fired_edge_cases()
        for i, row in enumerate(records):
            where = _label_where(name, i, row)
            status = row["status"] if has_status else "labeled"
            frame = frames.get(int(row["image_id"])) if frames is not None else None
            if frames is not None and frame is None:
                self.problem(f"{where}: image_id {row['image_id']} is not in frames.parquet")
            elif frame is not None and (frame["episode"], frame["frame"], frame["camera"]) \
                    != (row["episode"], row["frame"], row["camera"]):
                self.problem(f"{where}: image_id {row['image_id']} is episode "
                             f"{frame['episode']}, frame {frame['frame']}, {frame['camera']} "
                             "in frames.parquet")
            body = objects.get((int(row["episode"]), int(row["instance_id"]))) \
                if objects is not None else None
            if objects is not None and body is None:
                self.problem(f"{where}: instance {row['instance_id']} is not in "
                             "objects.parquet")
            elif body is not None:
                if not body["labeled"]:
                    self.problem(f"{where}: {body['name']} is not a labeled body in "
                                 "objects.parquet")
                if body["name"] != row["name"]:
                    self.problem(f"{where}: name {row['name']!r} but objects.parquet names "
                                 f"instance {row['instance_id']} {body['name']!r}")
                if body["class"] != row["class"]:
                    self.problem(f"{where}: class {row['class']!r} but objects.parquet says "
                                 f"{body['name']} is {body['class']!r}")
            if self.classes is not None and row["class"] not in self.classes:
                self.problem(f"{where}: class {row['class']!r} is not in {MANIFEST} classes")
            self._check_edge_case_columns(where, row, fired.get(int(row["episode"])), body)
            box = (row["x"], row["y"], row["w"], row["h"])
            px = row["visible_px"]
            if status not in STATUSES:
                self.problem(f"{where}: status {status!r} is not one of {', '.join(STATUSES)}")
                continue
            if status == "hidden":
                if not all(_same(v, math.nan) for v in box) or px != 0:
                    self.problem(f"{where}: hidden but has box {_fmt_box(box)} and "
                                 f"visible_px {_num(px)} (hidden rows have no box and 0 px)")
            elif frame is not None:
                bad = _box_problem(box, int(frame["width"]), int(frame["height"]))
                if bad:
                    self.problem(f"{where}: {bad}")
            self._check_visibility(where, row, status, objects)
            if frame is not None:
                self._check_full_box(where, row, int(frame["width"]), int(frame["height"]))

    def _check_visibility(self, where: str, row: dict[str, Any], status: str,
                          objects: dict[tuple[int, int], dict[str, Any]] | None) -> None:
        """The labelling rule decides the status; the visible fraction and occluders agree
        with the pixel counts and objects.parquet (when the table has those columns)."""
        px = row["visible_px"]
        fraction = row.get("visible_fraction")
        if fraction is not None and "unoccluded_px" in row:
            whole = row["unoccluded_px"]
            # Renderer and rasterizer may differ by an edge pixel: the fraction is capped at
            # 1, and a body seen although its own geometry covers no pixel counts as 1.
            expected = (min(px / whole, 1.0) if whole > 0 else (1.0 if px > 0 else 0.0)) \
                if whole >= 0 and px >= 0 else math.nan
            if not abs(fraction - expected) <= 1e-9:
                self.problem(f"{where}: visible_fraction {fraction} is not visible_px / "
                             f"unoccluded_px = {_num(px)} / {_num(whole)} (capped at 1)")
            # Visible pixels are a subset of the body's unoccluded pixels, up to the edge
            # pixels on which the renderer and the rasterizer may disagree.
            if px > whole + UNOCCLUDED_EDGE_PX + UNOCCLUDED_EDGE_SHARE * px:
                self.problem(f"{where}: visible_px {_num(px)} exceeds unoccluded_px "
                             f"{_num(whole)} by more than edge pixels (the body's silhouette "
                             "misses pixels it covers)")
        occluders = row.get("occluders")
        if occluders is not None and objects is not None:
            episode, own = int(row["episode"]), int(row["instance_id"])
            strange = [int(j) for j in occluders if int(j) == own or (episode, int(j))
                       not in objects]
            if strange:
                self.problem(f"{where}: occluders {_fmt_ids(strange)} are not other bodies "
                             f"of episode {episode} in objects.parquet")
        if self.min_visible_px is None or status == "hidden":
            return
        min_px = self.min_visible_px
        min_fraction = self.manifest["scenario"]["labels"].get("min_visible_fraction")
        use_fraction = fraction is not None and isinstance(min_fraction, int | float)
        passes = px >= min_px and (not use_fraction or fraction >= min_fraction)
        rule = f"labels.min_visible_px {min_px}" + (
            f", labels.min_visible_fraction {min_fraction}" if use_fraction else "")
        shown = f"visible_px {_num(px)}" + (f", visible_fraction {fraction:.4g}"
                                            if use_fraction else "")
        if status == "labeled" and not passes:
            self.problem(f"{where}: labeled with {shown}, below the rule ({rule})")
        if status == "below_rule" and (passes or not px >= 1):
            self.problem(f"{where}: below_rule with {shown} ({rule}; below_rule rows have "
                         "visible pixels and fail the rule)")

    def _fired_edge_cases(self) -> dict[int, str]:
        """episodes.parquet's ``edge_cases`` by episode (empty without the table)."""
        episodes = self.tables.get("episodes.parquet")
        if episodes is None or "edge_cases" not in episodes.columns:
            return {}
        return {int(e): (f if isinstance(f, str) else "") for e, f in
                zip(episodes["episode"].tolist(), episodes["edge_cases"].tolist(), strict=True)}

    def _check_edge_case_columns(self, where: str, row: dict[str, Any], fired: str | None,
                                 body: dict[str, Any] | None) -> None:
        """``edge_cases`` repeats the episode's; ``added_by`` is the group of an added body."""
        if fired is None:
            return
        if "edge_cases" in row and row["edge_cases"] != fired:
            self.problem(f"{where}: edge_cases {row['edge_cases']!r} but episodes.parquet has "
                         f"{fired!r} for episode {row['episode']}")
        if "added_by" in row and body is not None and "group" in body:
            names = fired.split(",") if fired else []
            expected = body["group"] if body["group"] in names else ""
            if row["added_by"] != expected:
                self.problem(f"{where}: added_by {row['added_by']!r}, expected {expected!r} "
                             f"(group {body['group']!r}; edge cases fired: {fired or 'none'})")

    def _check_full_box(self, where: str, row: dict[str, Any], width: int,
                        height: int) -> None:
        x, y, w, h = (row[c] for c in ("full_x", "full_y", "full_w", "full_h"))
        tol = FULL_BOX_TOL_PX
        if not all(math.isfinite(v) for v in (x, y, w, h)) or w < 0 or h < 0 \
                or x < -tol or y < -tol or x + w > width + tol or y + h > height + tol:
            self.problem(f"{where}: full-extent box {_fmt_box((x, y, w, h))} is not inside "
                         f"the image ({width}x{height})")
        if not 0 <= row["truncation"] <= 1:
            self.problem(f"{where}: truncation {row['truncation']} is not in [0, 1]")

    def check_frame_objects(self) -> None:
        fo = self.tables.get("frame_objects.parquet")
        if fo is None:
            return
        self._check_label_rows("frame_objects.parquet", fo)
        self.summary["frame_objects"] = {s: int((fo["status"] == s).sum()) for s in STATUSES}

    def check_boxes(self) -> None:
        boxes = self.tables.get("boxes.parquet")
        if boxes is None:
            return
        self._check_label_rows("boxes.parquet", boxes)
        frames = self.tables.get("frames.parquet")
        if frames is not None:
            per_image = boxes.groupby("image_id").size().to_dict()
            for i, row in enumerate(self.records("frames.parquet")):
                n = int(per_image.get(row["image_id"], 0))
                if n != row["num_boxes"]:
                    self.problem(f"frames.parquet row {i} (episode {row['episode']}, frame "
                                 f"{row['frame']}, {row['camera']}): num_boxes "
                                 f"{row['num_boxes']} but boxes.parquet has {n} rows for "
                                 f"image {row['image_id']}")
        fo = self.tables.get("frame_objects.parquet")
        if fo is None:
            return
        by_key: dict[tuple[int, int], tuple[int, dict[str, Any]]] = {}
        for j, r in enumerate(self.records("frame_objects.parquet")):
            if r["status"] == "labeled":
                by_key.setdefault((int(r["image_id"]), int(r["instance_id"])), (j, r))
        seen = set()
        columns = [c for c in boxes.columns if c in fo.columns]
        for i, row in enumerate(self.records("boxes.parquet")):
            key = (int(row["image_id"]), int(row["instance_id"]))
            seen.add(key)
            match = by_key.get(key)
            where = _label_where("boxes.parquet", i, row)
            if match is None:
                self.problem(f"{where}: no labeled row for image {key[0]}, instance {key[1]} in "
                             "frame_objects.parquet")
                continue
            j, other = match
            differ = [c for c in columns if not _same(row[c], other[c])]
            if differ:
                shown = ", ".join(f"{c} {_num(row[c])} vs {_num(other[c])}" for c in differ[:4])
                self.problem(f"{where}: differs from frame_objects.parquet row {j}: {shown}"
                             + (f" ({len(differ)} columns)" if len(differ) > 4 else ""))
        for key, (j, other) in by_key.items():
            if key not in seen:
                self.problem(f"{_label_where('frame_objects.parquet', j, other)}: labeled but "
                             "not in boxes.parquet")

    def check_coco(self) -> None:
        if self.coco_images is None or self.coco_annotations is None:
            return
        images, anns = self.coco_images, self.coco_annotations
        if self.classes is not None:
            expected = {k + 1: name for k, name in enumerate(self.classes)}
            if self.coco_categories != expected:
                self.problem(f"{COCO_FILE}: categories {self.coco_categories} are not "
                             f"{MANIFEST} classes numbered from 1: {expected}")
        for ids, what in ((images["id"], "image"), (anns["id"], "annotation")):
            dupes = ids[ids.duplicated()].tolist()
            if dupes:
                self.problem(f"{COCO_FILE}: {what} ids {_fmt_ids(dupes)} appear twice")
        frames = self._frame_index()
        if frames is not None:
            for im in images.to_dict("records"):
                where = f"{COCO_FILE} image {im['id']}"
                frame = frames.get(int(im["id"]))
                if frame is None:
                    self.problem(f"{where}: no frames.parquet row has image_id {im['id']}")
                    continue
                for key, col in (("file_name", "rgb_path"), ("width", "width"),
                                 ("height", "height"), ("episode", "episode"),
                                 ("frame", "frame"), ("camera", "camera")):
                    if not _same(im[key], frame[col]):
                        self.problem(f"{where}: {key} {im[key]!r} but frames.parquet has "
                                     f"{col} {frame[col]!r}")
            missing = sorted(set(frames) - set(images["id"].tolist()))
            if missing:
                self.problem(f"{COCO_FILE}: no image for frames.parquet image_id "
                             f"{_fmt_ids(missing)}")
        image_ids = set(images["id"].tolist())
        boxes = self.tables.get("boxes.parquet")
        by_key: dict[tuple[int, int], tuple[int, dict[str, Any]]] = {}
        if boxes is not None:
            for i, r in enumerate(self.records("boxes.parquet")):
                by_key.setdefault((int(r["image_id"]), int(r["instance_id"])), (i, r))
        objects = self._object_index()
        categories = self.coco_categories or {}
        category = {name: k for k, name in categories.items()}
        sizes = {int(r["id"]): (int(r["width"]), int(r["height"]))
                 for r in images.to_dict("records")}
        seen = set()
        for ann in anns.to_dict("records"):
            where = f"{COCO_FILE} annotation {ann['id']}"
            key = (int(ann["image_id"]), int(ann["instance_id"]))
            if key in seen:
                self.problem(f"{where}: a second annotation of instance {key[1]} in image "
                             f"{key[0]}")
            seen.add(key)
            if ann["image_id"] not in image_ids:
                self.problem(f"{where}: image_id {ann['image_id']} is not an image")
            if ann["category_id"] not in categories:
                self.problem(f"{where}: category_id {ann['category_id']} is not a category")
            box = (ann["x"], ann["y"], ann["w"], ann["h"])
            if key[0] in sizes:
                bad = _box_problem(box, *sizes[key[0]])
                if bad:
                    self.problem(f"{where}: bbox: {bad}")
            if ann["iscrowd"] != 0:
                self.problem(f"{where}: iscrowd is {ann['iscrowd']!r}, not 0")
            if boxes is None:
                continue
            match = by_key.get(key)
            if match is None:
                self.problem(f"{where}: no boxes.parquet row for image {key[0]}, instance "
                             f"{key[1]}")
                continue
            i, row = match
            if not all(_same(float(a), float(b)) for a, b in zip(
                    box, (row["x"], row["y"], row["w"], row["h"]), strict=True)):
                self.problem(f"{where}: bbox {_fmt_box(box)} but boxes.parquet row {i} has "
                             f"{_fmt_box((row['x'], row['y'], row['w'], row['h']))}")
            if not _same(float(ann["area"]), float(row["visible_px"])):
                self.problem(f"{where}: area {_num(ann['area'])} but boxes.parquet row {i} has "
                             f"visible_px {_num(row['visible_px'])}")
            if ann["object_name"] is not None and ann["object_name"] != row["name"]:
                self.problem(f"{where}: object_name {ann['object_name']!r} but boxes.parquet "
                             f"row {i} has name {row['name']!r}")
            attributes = ann["attributes"] if isinstance(ann["attributes"], dict) else {}
            differ = [k for k, v in attributes.items() if k in row and not _same(v, row[k])]
            if differ:
                shown = ", ".join(f"{k} {_num(attributes[k])} vs {_num(row[k])}"
                                  for k in differ[:4])
                self.problem(f"{where}: attributes differ from boxes.parquet row {i}: {shown}"
                             + (f" ({len(differ)} attributes)" if len(differ) > 4 else ""))
            body = objects.get((int(row["episode"]), key[1])) if objects is not None else None
            cls = body["class"] if body is not None else row["class"]
            if ann["category_id"] in categories and category.get(cls) != ann["category_id"]:
                self.problem(f"{where}: category_id {ann['category_id']} "
                             f"({categories[ann['category_id']]}) but instance "
                             f"{key[1]} is a {cls!r} (category {category.get(cls)})")
        for key, (i, row) in by_key.items():
            if key not in seen:
                self.problem(f"{_label_where('boxes.parquet', i, row)}: no annotation in "
                             f"{COCO_FILE}")

    def check_trajectories(self) -> None:
        traj = self.tables.get("trajectories.parquet")
        if traj is None:
            return
        episodes = None if self.manifest is None else {ep["index"]
                                                       for ep in self._complete_episodes()}
        objects = self._object_index()
        steps = traj.groupby(["episode", "instance_id"])["step"].agg(["min", "max", "count",
                                                                      "nunique"])
        firsts = np.flatnonzero(~traj.duplicated(["episode", "instance_id"]).to_numpy())
        names = traj.iloc[firsts].to_dict("records")
        for (episode, instance_id), st in steps.iterrows():
            where = f"trajectories.parquet (episode {episode}, instance {instance_id})"
            if episodes is not None and episode not in episodes:
                self.problem(f"{where}: episode {episode} is not in {MANIFEST}")
            if not (st["min"] == 0 and st["nunique"] == st["count"] == st["max"] + 1):
                self.problem(f"{where}: steps are not 0..N once each ({st['count']} rows, "
                             f"steps {st['min']}..{st['max']})")
        if objects is not None:
            for i, row in zip(firsts.tolist(), names, strict=True):
                body = objects.get((int(row["episode"]), int(row["instance_id"])))
                where = f"trajectories.parquet row {i} (episode {row['episode']}, " \
                        f"{row['actor']})"
                if body is None:
                    self.problem(f"{where}: instance {row['instance_id']} is not in "
                                 "objects.parquet")
                elif (body["name"], body["class"]) != (row["actor"], row["class"]):
                    self.problem(f"{where}: instance {row['instance_id']} is "
                                 f"{body['name']} ({body['class']}) in objects.parquet")
        per_episode = steps.groupby(level="episode")["count"].nunique()
        for episode, n in per_episode.items():
            if n != 1:
                self.problem(f"trajectories.parquet: episode {episode}: bodies have different "
                             "numbers of steps")

    # ---- images

    def _depth_limits(self, episode: int, camera: str):
        """``(far_m, far_mm, near_m, near_mm)`` of a camera in an episode (None: unknown).

        A plane drawn from a distribution is the episode's value in episodes.parquet
        (column ``cameras[k].far_m``); a fixed one is the manifest's resolved scenario's.
        """
        if (episode, camera) not in self._limits:
            self._limits[episode, camera] = self._find_depth_limits(episode, camera)
        return self._limits[episode, camera]

    def _find_depth_limits(self, episode: int, camera: str):
        if self.manifest is None or camera not in self.cameras:
            return None, None, None, None
        k = self.cameras[camera]
        spec = self.manifest["scenario"]["cameras"][k]
        episodes = self.tables.get("episodes.parquet")
        values = []
        for key in ("far_m", "near_m"):
            column = f"cameras[{k}].{key}"
            value = spec.get(key)
            if episodes is not None and column in episodes.columns:
                rows = episodes.loc[episodes["episode"] == episode, column]
                value = float(rows.iloc[0]) if len(rows) else None
            if not isinstance(value, int | float) or isinstance(value, bool):
                self.problem(f"{MANIFEST}: scenario.cameras[{k}].{key} is {value!r} and "
                             f"episodes.parquet has no {column} for episode {episode}: "
                             f"its depth is not checked against that plane")
                value = None
            values.append(None if value is None else float(value))
        far_m, near_m = values
        # Depth is rounded to whole millimetres (and saturates at 65535), so a surface just
        # inside the far plane may round to it, never past it.
        far_mm = None if far_m is None else min(round(far_m * DEPTH_SCALE_MM_PER_M), 65535)
        near_mm = None if near_m is None else round(near_m * DEPTH_SCALE_MM_PER_M)
        return far_m, far_mm, near_m, near_mm

    def _episode_objects(self) -> dict[int, EpisodeObjects]:
        objects = self.tables.get("objects.parquet")
        if objects is None:
            return {}
        semantic = self._semantic_classes()
        semantic_id = {name: k + 1 for k, name in enumerate(semantic or [])}
        out = {}
        for episode, group in objects.groupby("episode"):
            ids = group["instance_id"].astype(int).tolist()
            names = dict(zip(ids, group["name"].tolist(), strict=True))
            labeled = frozenset(i for i, flag in zip(ids, group["labeled"].tolist(), strict=True)
                                if flag is True or flag == 1)
            lut = None
            if semantic is not None and ids and min(ids) >= 1:
                lut = np.zeros(max(ids) + 2, dtype=np.uint16)  # last slot: unknown ids
                for i, cls in zip(ids, group["class"].tolist(), strict=True):
                    lut[i] = semantic_id.get(cls, 0)
            out[int(episode)] = EpisodeObjects(names, labeled, lut)
        return out

    def _label_refs(self) -> dict[int, list[LabelRef]]:
        """Every label that claims pixels of an image, by image id."""
        refs: dict[int, list[LabelRef]] = {}
        sizes = {}
        frames = self.tables.get("frames.parquet")
        if frames is not None:
            sizes = {int(r["image_id"]): (int(r["width"]), int(r["height"]))
                     for r in self.records("frames.parquet")}
        for name in ("frame_objects.parquet", "boxes.parquet"):
            df = self.tables.get(name)
            if df is None:
                continue
            for i, row in enumerate(self.records(name)):
                image_id = int(row["image_id"])
                hidden = row.get("status") == "hidden"
                box = None if hidden else (row["x"], row["y"], row["w"], row["h"])
                size = sizes.get(image_id)
                ok = box is not None and size is not None and _box_problem(box, *size) is None
                refs.setdefault(image_id, []).append(LabelRef(
                    _label_where(name, i, row), int(row["instance_id"]),
                    tuple(_num(v) for v in box) if box is not None else None,
                    _count(row["visible_px"]), "visible_px", ok))
        if self.coco_annotations is not None:
            for ann in self.coco_annotations.to_dict("records"):
                image_id = int(ann["image_id"])
                box = (ann["x"], ann["y"], ann["w"], ann["h"])
                size = sizes.get(image_id)
                ok = size is not None and _box_problem(box, *size) is None
                refs.setdefault(image_id, []).append(LabelRef(
                    f"{COCO_FILE} annotation {ann['id']}", int(ann["instance_id"]),
                    tuple(_num(v) for v in box), _count(ann["area"]), "area", ok))
        return refs

    def check_images(self, progress: ProgressCallback | None, threads: int) -> None:
        frames = self.tables.get("frames.parquet")
        if frames is None:
            return
        modalities = self._modalities(frames)
        objects = self._episode_objects()
        refs = self._label_refs()
        fo = self.tables.get("frame_objects.parquet")
        listed = None if fo is None else {
            int(k): frozenset(v.tolist()) for k, v in
            fo.groupby("image_id")["instance_id"].unique().items()}
        tasks = []
        for i, row in enumerate(self.records("frames.parquet")):
            far_m, far_mm, near_m, near_mm = self._depth_limits(int(row["episode"]),
                                                                row["camera"])
            image_id = int(row["image_id"])
            tasks.append(FrameTask(
                index=i, files={m: row[f"{m}_path"] for m in modalities
                                if isinstance(row[f"{m}_path"], str)},
                width=int(row["width"]), height=int(row["height"]),
                episode=int(row["episode"]), objects=objects.get(int(row["episode"])),
                refs=refs.get(image_id, []), far_mm=far_mm, far_m=far_m, near_mm=near_mm,
                near_m=near_m,
                listed=None if listed is None else listed.get(image_id, frozenset())))
        for task in tasks:
            missing = [m for m in REQUIRED_MODALITIES if m not in task.files]
            if missing:
                self.problem(f"frames.parquet row {task.index}: no path for "
                             f"{', '.join(missing)}")
        results: list[FrameResult | None] = [None] * len(tasks)
        total = len(tasks)
        if progress is not None:
            progress(0, total)
        with ThreadPoolExecutor(max_workers=max(threads, 1),
                                thread_name_prefix="check") as pool:
            futures = {pool.submit(_check_frame, self.root, task): k
                       for k, task in enumerate(tasks)}
            for done, future in enumerate(as_completed(futures), start=1):
                results[futures[future]] = future.result()
                if progress is not None:
                    progress(done, total)
        decoded = 0
        for result in results:
            self.problems.extend(result.problems)
            decoded += result.decoded
        self._check_coco_files(frames)
        self.summary["images_decoded"] = decoded + self.summary.get("images_decoded", 0)

    def _check_coco_files(self, frames: pd.DataFrame) -> None:
        """COCO file names that are not frames' RGB paths must still be decodable RGB."""
        if self.coco_images is None:
            return
        known = set(frames["rgb_path"].tolist())
        decoded = 0
        for im in self.coco_images.to_dict("records"):
            if im["file_name"] in known:
                continue
            problems: list[str] = []
            if _decode_png(self.root, im["file_name"], IMAGE_SPECS["rgb"], int(im["width"]),
                           int(im["height"]), problems) is not None:
                decoded += 1
            self.problems.extend(f"{line} ({COCO_FILE} image {im['id']})" for line in problems)
        self.summary["images_decoded"] = decoded

    def check_unlisted_files(self) -> None:
        """Files under episodes/ that frames.parquet does not list (leftovers, stale runs),
        besides each episode's part files."""
        frames = self.tables.get("frames.parquet")
        folder = self.root / "episodes"
        if frames is None or not folder.is_dir():
            return
        listed = set()
        for modality in self._modalities(frames):
            listed.update(p for p in frames[f"{modality}_path"].tolist() if isinstance(p, str))
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                rel = path.relative_to(self.root).as_posix()
                is_part = path.name in PART_FILES and path.parent.parent == folder
                if rel not in listed and not is_part:
                    self.problem(f"{rel}: not listed in frames.parquet")


def _duplicated(df: pd.DataFrame, columns: list[str]) -> list[int]:
    """Positions of rows repeating an earlier row's ``columns``."""
    return np.flatnonzero(df.duplicated(columns, keep="first").to_numpy()).tolist()


def _count(value: Any) -> int:
    """A pixel count as int (-1 for a missing or fractional value, which never matches)."""
    if isinstance(value, int | float | np.number) and math.isfinite(value) \
            and float(value).is_integer():
        return int(value)
    return -1


def _label_where(name: str, index: Any, row: dict[str, Any]) -> str:
    """``boxes.parquet row 17 (episode 0, frame 3, front, car_2)``."""
    return (f"{name} row {index} (episode {row['episode']}, frame {row['frame']}, "
            f"{row['camera']}, {row['name']})")
