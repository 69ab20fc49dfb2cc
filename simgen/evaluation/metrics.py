"""COCO detection metrics of a model on a generated dataset, overall and sliced by condition,
with episode-bootstrap confidence intervals and importance-weighted estimates.

The pipeline is: ``run_detector`` (the model on every frame) -> ``match_detections``
(pycocotools' per-image matching, once per ground-truth selection) -> ``accumulate`` (our
own re-implementation of ``COCOeval.accumulate`` + ``summarize`` under image weights, so
that bootstrap resamples and importance weights cost no new matching) ->
``evaluate_detections`` (the eval dict: overall and every slice).

Metrics: ``ap`` is COCO AP averaged over IoU .50:.95 (``stats[0]``), ``ap50`` is AP at IoU
.50 (``stats[1]``) and ``recall`` is COCO AR@100 (``stats[8]``: recall averaged over IoU
.50:.95 and categories, at most 100 detections per image); all over every object area.

Object-level slices (distance, visibility) follow COCO's own area ranges: objects outside
the bin are ignored (a detection matched to one is neither a true nor a false positive), and
an unmatched detection is ignored when its own value of the attribute is known and outside
the bin. ``run_detector`` gives each detection a ``distance_m`` measured on the depth image
(``attach_distances_m``), so a false positive counts only in the distance bin it lies in.
A detection has no visibility, so in visibility slices every unmatched detection counts as
a false positive: ignoring them would leave a precision of 1 and make AP a second recall,
and counting them errs on the side of never flattering the model.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import io
import json
import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from simgen.errors import SimgenError, did_you_mean
from simgen.evaluation.slices import (
    DISTANCE_BINS_M,
    FOG_VISIBILITY_BINS_M,
    VISIBILITY_BINS,
    ObjectSlice,
    image_slices,
    object_slices,
)
from simgen.writers.images import decode_depth_png
from simgen.writers.reader import read_dataset

#: A model under test: RGB uint8 image (H, W, 3) -> ``((x, y, w, h), class_name, score)``
#: per detection, boxes in COCO's pixel-edge convention.
Model = Callable[[np.ndarray], Sequence[tuple[Sequence[float], str, float]]]
#: COCO's recall thresholds, 0:.01:1, as pycocotools builds them.
RECALL_THRESHOLDS = np.linspace(.0, 1.00, int(np.round((1.00 - .0) / .01)) + 1, endpoint=True)
#: Every area, as pycocotools' "all" range: slicing by area is not ours to do.
_ALL_AREAS = [0 ** 2, 1e5 ** 2]
METRICS = ("ap", "ap50", "recall")
METRIC_DEFINITIONS = {
    "ap": "COCO AP, IoU .50:.95, 100 detections per image, all areas (COCOeval stats[0])",
    "ap50": "COCO AP at IoU .50, 100 detections per image, all areas (COCOeval stats[1])",
    "recall": "COCO AR@100, IoU .50:.95, all areas (COCOeval stats[8])",
}


@dataclass(frozen=True)
class Detection:
    """One detection in one image: a COCO pixel box ``(x, y, w, h)``, the dataset's COCO
    category id, a score, and the range to what it covers when known (``distance_m``)."""

    bbox_px: tuple[float, float, float, float]
    category_id: int
    score: float
    distance_m: float | None = None


#: Detections keyed by COCO image id.
Detections = dict[int, list[Detection]]


def _pycocotools():
    """pycocotools' ``COCO`` and ``COCOeval``, or a one-line error naming the extra."""
    try:
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    except ImportError:
        raise SimgenError("simgen eval needs pycocotools: pip install 'simgen[eval]'") from None
    return COCO, COCOeval


def load_coco(dataset_dir: Path) -> dict:
    """The dataset's ``annotations/coco.json``."""
    path = Path(dataset_dir) / "annotations" / "coco.json"
    try:
        return json.loads(path.read_text())
    except OSError as exc:
        raise SimgenError(f"{path}: cannot read: {exc.strerror or exc}") from None


# --------------------------------------------------------------------------- running a model

def _to_detection(item: object, category_ids: Mapping[str, int],
                  where: str) -> Detection | str:
    """Check one model output ``((x, y, w, h), class_name, score)`` and map its class name;
    a class the dataset does not have comes back as its name (the caller counts and drops
    it), unless it looks like a misspelt class of the dataset, which is an error."""
    try:
        box, name, score = item  # type: ignore[misc]
        x, y, w, h = (float(v) for v in box)
        score = float(score)
    except (TypeError, ValueError):
        raise SimgenError(f"{where}: the model returned {item!r}; expected "
                          "((x, y, w, h), class_name, score)") from None
    if not all(math.isfinite(v) for v in (x, y, w, h, score)) or w < 0 or h < 0:
        raise SimgenError(f"{where}: the model returned a box {box!r} with score {score!r}; "
                          "expected finite numbers and w, h >= 0")
    if name not in category_ids:
        if difflib.get_close_matches(str(name), list(category_ids), n=1, cutoff=0.8):
            raise SimgenError(f"{where}: the model returned class {name!r}, which is not a "
                              f"class of this dataset ({', '.join(category_ids)})"
                              f"{did_you_mean(name, category_ids)}")
        return str(name)
    return Detection((x, y, w, h), category_ids[name], score)


def run_detector(dataset_dir: Path, model: Model,
                 on_image: Callable[[int, int], None] | None = None,
                 other_classes: Counter | None = None) -> Detections:
    """Run ``model`` on every RGB frame of a dataset; detections keyed by COCO image id,
    class names mapped to the dataset's category ids, each with its depth-measured
    ``distance_m`` (see ``attach_distances_m``). Detections of classes the dataset does not
    have are left out and counted by name in ``other_classes``; ``on_image(done, total)``
    follows progress."""
    dataset_dir = Path(dataset_dir)
    frames = read_dataset(dataset_dir, ("frames",))["frames"]
    category_ids = {c["name"]: int(c["id"]) for c in load_coco(dataset_dir)["categories"]}
    detections: Detections = {}
    for image_id, rgb_path in zip(frames["image_id"], frames["rgb_path"], strict=True):
        bgr = cv2.imread(str(dataset_dir / rgb_path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise SimgenError(f"{dataset_dir / rgb_path}: cannot read the image")
        output = model(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        checked = [_to_detection(item, category_ids, rgb_path) for item in output]
        detections[int(image_id)] = [d for d in checked if isinstance(d, Detection)]
        if other_classes is not None:
            other_classes.update(d for d in checked if isinstance(d, str))
        if on_image is not None:
            on_image(len(detections), len(frames))
    return attach_distances_m(dataset_dir, detections)


def attach_distances_m(dataset_dir: Path, detections: Detections) -> Detections:
    """Give each detection ``distance_m``: the median range (metres, along the pixel rays,
    as the labels' ``distance_m``) of the depth pixels inside its box; ``inf`` when they
    are all sky, ``None`` when the box covers no pixel of the image."""
    dataset_dir = Path(dataset_dir)
    frames = pd.read_parquet(dataset_dir / "frames.parquet",
                             columns=["image_id", "depth_path", "fx", "fy", "cx", "cy"])
    out: Detections = {}
    for row in frames.itertuples(index=False):
        image_dets = detections.get(int(row.image_id), [])
        if not image_dets:
            continue
        depth_m = decode_depth_png(dataset_dir / row.depth_path)  # z along the optical axis
        height, width = depth_m.shape
        # K maps camera points to pixel coordinates whose integers are pixel centres.
        ray_x = (np.arange(width) - row.cx) / row.fx
        ray_y = (np.arange(height) - row.cy) / row.fy
        range_m = depth_m * np.sqrt(1.0 + ray_x[None, :] ** 2 + ray_y[:, None] ** 2)
        measured = []
        for det in image_dets:
            x, y, w, h = det.bbox_px
            x0, x1 = (int(np.clip(v, 0, width)) for v in (math.floor(x), math.ceil(x + w)))
            y0, y1 = (int(np.clip(v, 0, height)) for v in (math.floor(y), math.ceil(y + h)))
            inside_m = range_m[y0:y1, x0:x1]
            surface_m = inside_m[depth_m[y0:y1, x0:x1] > 0]  # depth 0 is the sky
            if inside_m.size == 0:
                distance_m = None
            elif surface_m.size == 0:
                distance_m = math.inf
            else:
                distance_m = float(np.median(surface_m))
            measured.append(replace(det, distance_m=distance_m))
        out[int(row.image_id)] = measured
    unknown = sorted(set(detections) - set(out) - {i for i, d in detections.items() if not d})
    if unknown:
        raise SimgenError(f"detections for image ids {unknown[:5]} that this dataset lacks")
    return out


# --------------------------------------------------------------------------- matching

@dataclass(frozen=True)
class CategoryMatches:
    """One category's detections over all images in pycocotools' accumulation order
    (images in id order, then by score, highest first, stable), with their match status."""

    det_image: np.ndarray  # (D,) index into MatchTable.image_ids of each detection
    true_positive: np.ndarray  # (T, D) bool: matched to a counted object, per IoU threshold
    false_positive: np.ndarray  # (T, D) bool: unmatched and not ignored
    gt_count: np.ndarray  # (I,) counted (not ignored) ground-truth objects per image


@dataclass(frozen=True)
class MatchTable:
    """pycocotools' per-image matching of one ground-truth selection (all objects, or one
    object slice), ready to be re-accumulated under any image weights."""

    image_ids: np.ndarray  # (I,) COCO image ids, ascending
    iou_thresholds: np.ndarray  # (T,)
    categories: tuple[CategoryMatches, ...]  # in category id order


@functools.cache
def _slice_eval_class() -> type:
    """``COCOeval`` restricted to one object slice (built on first use: pycocotools is an
    optional dependency)."""
    _, COCOeval = _pycocotools()

    class SliceEval(COCOeval):
        """``COCOeval`` (boxes, every area) that ignores ground-truth objects outside an
        object slice and unmatched detections whose own attribute value is outside it,
        as COCO does with area ranges."""

        def __init__(self, coco_gt, coco_dt, object_slice: ObjectSlice | None):
            super().__init__(coco_gt, coco_dt, iouType="bbox")
            self.object_slice = object_slice
            self.params.areaRng = [_ALL_AREAS]
            self.params.areaRngLbl = ["all"]

        def _prepare(self) -> None:
            # COCOeval._prepare sets each object's "ignore" from "iscrowd", overwriting any
            # earlier value, so the slice's own ignores go on after it.
            super()._prepare()
            if self.object_slice is None:
                return
            for objects in self._gts.values():
                for obj in objects:
                    value = obj.get("attributes", {}).get(self.object_slice.attribute)
                    obj["ignore"] = bool(obj["ignore"]) or not self.object_slice.contains(value)

        def evaluateImg(self, imgId, catId, aRng, maxDet):  # noqa: N802 (pycocotools' name)
            result = super().evaluateImg(imgId, catId, aRng, maxDet)
            if result is None or self.object_slice is None:
                return result
            outside = np.array([self._outside(self.cocoDt.anns[i]) for i in result["dtIds"]],
                               dtype=bool)
            unmatched = result["dtMatches"] == 0
            result["dtIgnore"] = np.logical_or(result["dtIgnore"], unmatched & outside[None, :])
            return result

        def _outside(self, det: dict) -> bool:
            """True when the detection's own value is known and outside the slice."""
            value = det.get("attributes", {}).get(self.object_slice.attribute)
            return value is not None and not self.object_slice.contains(value)

    return SliceEval


def _coco_objects(coco_gt: dict, annotations: list[dict]):
    """A pycocotools ``COCO`` holding ``annotations`` on ``coco_gt``'s images and classes."""
    COCO, _ = _pycocotools()
    coco = COCO()
    coco.dataset = {"images": coco_gt["images"], "categories": coco_gt["categories"],
                    "annotations": annotations}
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def _detection_annotations(coco_gt: dict, detections: Detections) -> list[dict]:
    """``detections`` as COCO result annotations (ids from 1, in image id order)."""
    image_ids = {int(img["id"]) for img in coco_gt["images"]}
    category_ids = {int(c["id"]) for c in coco_gt["categories"]}
    annotations = []
    for image_id in sorted(detections):
        if int(image_id) not in image_ids and detections[image_id]:
            raise SimgenError(f"detections for image id {image_id}, which this dataset lacks")
        for det in detections[image_id]:
            if det.category_id not in category_ids:
                raise SimgenError(f"a detection in image {image_id} has category id "
                                  f"{det.category_id}, not one of {sorted(category_ids)}")
            x, y, w, h = (float(v) for v in det.bbox_px)
            annotation = {"id": len(annotations) + 1, "image_id": int(image_id),
                          "category_id": int(det.category_id), "bbox": [x, y, w, h],
                          "area": w * h, "score": float(det.score), "iscrowd": 0}
            if det.distance_m is not None:
                annotation["attributes"] = {"distance_m": float(det.distance_m)}
            annotations.append(annotation)
    return annotations


def match_detections(coco_gt: dict, detections: Detections,
                     object_slice: ObjectSlice | None = None) -> MatchTable:
    """Match detections to ground truth per image and category with pycocotools
    (``COCOeval.evaluate``), counting only the objects of ``object_slice`` when given."""
    # Shallow copies: COCOeval writes "ignore" flags into the ground-truth dicts.
    coco_true = _coco_objects(coco_gt, [dict(a) for a in coco_gt["annotations"]])
    coco_dets = _coco_objects(coco_gt, _detection_annotations(coco_gt, detections))
    evaluation = _slice_eval_class()(coco_true, coco_dets, object_slice)
    with contextlib.redirect_stdout(io.StringIO()):
        evaluation.evaluate()
    params = evaluation.params
    image_ids = np.asarray(params.imgIds, dtype=np.int64)
    n_images, n_thresholds = len(image_ids), len(params.iouThrs)
    categories = []
    for k in range(len(params.catIds)):
        per_image = [(i, e) for i, e in enumerate(evaluation.evalImgs[k * n_images:
                                                                      (k + 1) * n_images])
                     if e is not None]
        scores = np.concatenate([np.asarray(e["dtScores"], dtype=float) for _, e in per_image]
                                + [np.zeros(0)])
        order = np.argsort(-scores, kind="mergesort")  # as accumulate(): stable, by score
        det_image = np.concatenate([np.full(len(e["dtScores"]), i) for i, e in per_image]
                                   + [np.zeros(0, dtype=int)]).astype(np.int64)[order]
        matched = np.concatenate([e["dtMatches"] for _, e in per_image]
                                 + [np.zeros((n_thresholds, 0))], axis=1)[:, order]
        ignored = np.concatenate([e["dtIgnore"] for _, e in per_image]
                                 + [np.zeros((n_thresholds, 0))], axis=1)[:, order]
        gt_count = np.zeros(n_images, dtype=np.int64)
        for i, e in per_image:
            gt_count[i] = np.count_nonzero(np.asarray(e["gtIgnore"]) == 0)
        categories.append(CategoryMatches(
            det_image=det_image,
            true_positive=np.logical_and(matched, np.logical_not(ignored)),
            false_positive=np.logical_and(np.logical_not(matched), np.logical_not(ignored)),
            gt_count=gt_count))
    return MatchTable(image_ids, np.asarray(params.iouThrs, dtype=float), tuple(categories))


# --------------------------------------------------------------------------- accumulating

def accumulate(table: MatchTable, image_weights: np.ndarray) -> dict[str, float | None]:
    """AP, AP50 and recall (AR@100) of matched detections, each image's true and false
    positives and ground-truth count weighted by ``image_weights`` (one per table image).

    With weights of 1 on a set of images (0 elsewhere) this is pycocotools'
    ``accumulate()`` + ``summarize()`` on those images, step for step; integer weights are
    the same on a multiset of images (a bootstrap resample), fractional ones give
    importance-weighted precision and recall. A metric is None when no counted object has
    weight.
    """
    weights = _whole_weights(np.asarray(image_weights, dtype=float))
    n_thresholds, n_recall = len(table.iou_thresholds), len(RECALL_THRESHOLDS)
    precision = -np.ones((n_thresholds, n_recall, len(table.categories)))
    recall = -np.ones((n_thresholds, len(table.categories)))
    for k, cat in enumerate(table.categories):
        n_objects = int(np.dot(weights, cat.gt_count))
        if n_objects == 0:
            continue
        det_weights = weights[cat.det_image]
        tp_sum = np.cumsum(cat.true_positive * det_weights, axis=1)
        fp_sum = np.cumsum(cat.false_positive * det_weights, axis=1)
        n_dets = tp_sum.shape[1]
        if n_dets == 0:
            precision[:, :, k] = 0.0
            recall[:, k] = 0.0
            continue
        rc = tp_sum / n_objects
        pr = tp_sum / (fp_sum + tp_sum + np.spacing(1))
        # Interpolated precision: the best precision at this recall or beyond.
        pr = np.maximum.accumulate(pr[:, ::-1], axis=1)[:, ::-1]
        recall[:, k] = rc[:, -1]
        for t in range(n_thresholds):
            at = np.searchsorted(rc[t], RECALL_THRESHOLDS, side="left")
            reached = at < n_dets  # recall levels never reached keep precision 0
            q = np.zeros(n_recall)
            q[reached] = pr[t, at[reached]]
            precision[t, :, k] = q
    at_50 = np.flatnonzero(np.isclose(table.iou_thresholds, 0.5))
    return {"ap": _mean_defined(precision),
            "ap50": _mean_defined(precision[at_50]) if at_50.size else None,
            "recall": _mean_defined(recall)}


def _whole_weights(weights: np.ndarray) -> np.ndarray:
    """Image weights as int64, so that every sum is exact whatever its order: whole weights
    (bootstrap counts) as they are, others scaled so the largest is 2**30 and rounded (a
    relative change below 1e-9 x largest / weight; scaling cancels in every ratio).

    Exact sums keep a detector that finds every object at a recall of exactly 1 (summed in
    floating point, detections and objects add up in different orders and can fall a
    rounding error short, losing the last recall threshold), and make constant weights give
    the unweighted numbers (up to rounding in
    pycocotools' ``+ eps`` guard against 0 / 0).
    """
    if np.any(weights < 0) or not np.all(np.isfinite(weights)):
        raise SimgenError("importance weights must be finite and >= 0")
    if np.all(weights == np.round(weights)):
        return weights.astype(np.int64)
    return np.round(weights * (2.0 ** 30 / weights.max())).astype(np.int64)


def _mean_defined(values: np.ndarray) -> float | None:
    """The mean of the entries that are not -1 (summarize()'s rule), None when there is none."""
    defined = values[values > -1]
    return float(np.mean(defined)) if defined.size else None


def bootstrap_intervals(table: MatchTable, image_weights: Sequence[np.ndarray],
                        image_episode: np.ndarray, rng: np.random.Generator,
                        resamples: int = 200, confidence: float = 0.95,
                        ) -> list[dict[str, list[float] | None]]:
    """Percentile bootstrap intervals of every metric, one per weighting in
    ``image_weights``, resampling the episodes that have weight with replacement (the frames
    of an episode are correlated, so the episode is the unit); the weightings share the
    resamples. Each result maps a metric to ``[low, high]``, or None when no resample
    defined it."""
    weights = [np.asarray(w, dtype=float) for w in image_weights]
    has_weight = np.logical_or.reduce([w > 0 for w in weights])
    all_episodes, image_slot = np.unique(image_episode, return_inverse=True)
    episode_slots = np.searchsorted(all_episodes, np.unique(image_episode[has_weight]))
    values = np.full((len(weights), len(METRICS), resamples), np.nan)
    for b in range(resamples):
        drawn = episode_slots[rng.integers(0, len(episode_slots), size=len(episode_slots))]
        image_copies = np.bincount(drawn, minlength=len(all_episodes))[image_slot]
        for j, w in enumerate(weights):
            metrics = accumulate(table, w * image_copies)
            values[j, :, b] = [np.nan if metrics[m] is None else metrics[m] for m in METRICS]
    tail = (1.0 - confidence) / 2.0
    intervals = []
    for j in range(len(weights)):
        interval: dict[str, list[float] | None] = {}
        for m, metric in enumerate(METRICS):
            defined = values[j, m][~np.isnan(values[j, m])]
            interval[metric] = ([float(np.quantile(defined, tail)),
                                 float(np.quantile(defined, 1.0 - tail))]
                                if defined.size else None)
        intervals.append(interval)
    return intervals


# --------------------------------------------------------------------------- the eval dict

def _slice_result(name: str, kind: str, table: MatchTable, in_slice: np.ndarray,
                  image_episode: np.ndarray, importance: np.ndarray | None,
                  rng: np.random.Generator, resamples: int, confidence: float) -> dict:
    """One entry of the eval dict: sizes, metrics and intervals of one slice."""
    in_slice = in_slice.astype(float)
    weightings = [in_slice] if importance is None else [in_slice, in_slice * importance]
    result = {"name": name, "kind": kind,
              "images": int(np.count_nonzero(in_slice)),
              "episodes": int(np.unique(image_episode[in_slice > 0]).size),
              "gt_objects": int(sum(np.dot(in_slice, c.gt_count) for c in table.categories))}
    if result["images"] == 0:
        intervals = [dict.fromkeys(METRICS) for _ in weightings]
    else:
        intervals = bootstrap_intervals(table, weightings, image_episode, rng, resamples,
                                        confidence)
    result.update(accumulate(table, in_slice))
    result["ci"] = intervals[0]
    if importance is not None:
        result["weighted"] = {**accumulate(table, weightings[1]), "ci": intervals[1]}
    return result


def evaluate_detections(dataset_dir: Path, detections: Detections, rng: np.random.Generator,
                        *, resamples: int = 200, confidence: float = 0.95,
                        importance_weights: Mapping[int, float] | None = None,
                        distance_bins_m: tuple[float, ...] = DISTANCE_BINS_M,
                        visibility_bins: tuple[float, ...] = VISIBILITY_BINS,
                        fog_visibility_bins_m: tuple[float, ...] = FOG_VISIBILITY_BINS_M,
                        ) -> dict:
    """The eval dict of ``detections`` on a dataset: overall and per slice, AP, AP50 and
    recall with episode-bootstrap intervals (``rng`` draws the resamples), plus
    importance-weighted estimates when episodes' weights are not all 1.

    ``importance_weights`` (episode -> weight) replaces episodes.parquet's
    ``importance_weight`` column.
    """
    dataset_dir = Path(dataset_dir)
    data = read_dataset(dataset_dir, ("frames", "episodes"))
    frames, episodes = data["frames"], data["episodes"]
    coco = load_coco(dataset_dir)
    if importance_weights is None and "importance_weight" in episodes:
        importance_weights = dict(zip(episodes["episode"].astype(int),
                                      episodes["importance_weight"].astype(float), strict=True))

    overall = match_detections(coco, detections)
    episode_of = {int(img["id"]): int(img["episode"]) for img in coco["images"]}
    image_episode = np.array([episode_of[int(i)] for i in overall.image_ids], dtype=np.int64)
    importance = None
    if importance_weights is not None:
        missing = sorted(set(image_episode.tolist()) - set(importance_weights))
        if missing:
            raise SimgenError(f"no importance weight for episodes {missing[:5]}")
        importance = np.array([importance_weights[e] for e in image_episode], dtype=float)
        if np.all(importance == 1.0):
            importance = None

    def entry(name: str, kind: str, table: MatchTable, in_slice: np.ndarray) -> dict:
        return _slice_result(name, kind, table, in_slice, image_episode, importance, rng,
                             resamples, confidence)

    every_image = np.ones(len(overall.image_ids), dtype=bool)
    slices = [{**entry(s.name, s.kind, overall, np.isin(overall.image_ids, list(s.image_ids))),
               **({"description": s.description} if s.description else {})}
              for s in image_slices(frames, episodes, fog_visibility_bins_m)]
    slices += [entry(s.name, s.kind, match_detections(coco, detections, s), every_image)
               for s in object_slices(distance_bins_m, visibility_bins)]
    return {"metrics": METRIC_DEFINITIONS,
            "confidence": confidence,
            "resamples": resamples,
            "resampling_unit": "episode",
            "weighted": importance is not None,
            "overall": entry("overall", "overall", overall, every_image),
            "slices": slices}
