"""``simgen eval``: a model on a dataset, its sliced metrics written out, and the verdict
against a baseline.

Writes into the output folder: ``eval.json`` (the eval dict of
``simgen.evaluation.metrics.evaluate_detections`` plus what was evaluated and, with a
baseline, the comparison), ``detections.json`` (every detection, by image), ``plots/``
(SVG figures) and ``eval.html`` (the results as a page); ``--junit FILE`` adds JUnit XML.
Everything is a function of the dataset, the model and the bootstrap seed: the same inputs
give the same bytes.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from simgen.errors import SimgenError
from simgen.evaluation.compare import Regression, compare, eval_slices, write_junit
from simgen.evaluation.metrics import (
    METRICS,
    Detections,
    evaluate_detections,
    load_coco,
    run_detector,
)
from simgen.evaluation.models import load_model
from simgen.reports.eval_page import write_eval_outputs
from simgen.writers.dataset import atomic_write_text
from simgen.writers.reader import read_dataset

EVAL_FILE = "eval.json"
DETECTIONS_FILE = "detections.json"


@dataclass(frozen=True)
class EvalOutcome:
    """What ``evaluate_model`` wrote and found: the eval dict, where it went, and the
    slices that regressed against the baseline (empty without one)."""

    result: dict
    out_dir: Path
    regressions: tuple[Regression, ...]
    compared: bool


def read_eval(path: Path) -> dict:
    """An ``eval.json`` written by ``simgen eval`` (for ``--baseline``); one-line errors."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise SimgenError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise SimgenError(f"{path}:{exc.lineno}: not JSON: {exc.msg}") from None
    if not isinstance(data, dict) or "overall" not in data or "slices" not in data:
        raise SimgenError(f"{path}: not an eval.json written by simgen eval")
    return data


def detections_record(detections: Detections, classes: dict[int, str]) -> dict:
    """Detections as JSON: image id -> ``[[x, y, w, h], class, score, distance_m]`` each."""
    def distance(value):
        return None if value is None or not np.isfinite(value) else round(float(value), 3)
    return {str(image_id): [[list(d.bbox_px), classes[d.category_id], d.score,
                             distance(d.distance_m)] for d in found]
            for image_id, found in sorted(detections.items())}


def evaluate_model(dataset_dir: Path, model_spec: str, out_dir: Path, *,
                   baseline: Path | None = None, max_drop: float = 0.05, metric: str = "ap",
                   junit: Path | None = None, seed: int = 0, resamples: int = 200,
                   on_image: Callable[[int, int], None] | None = None) -> EvalOutcome:
    """Run the model ``model_spec`` (``module:callable``) on every frame of the dataset,
    compute its sliced metrics, compare them with ``baseline`` (an earlier eval.json)
    when given, and write the results into ``out_dir``."""
    if metric not in METRICS:
        raise SimgenError(f"--metric: choose from {', '.join(METRICS)}, got {metric!r}")
    if not 0 <= max_drop < 1:
        raise SimgenError(f"--max-drop: a drop in [0, 1), got {max_drop}")
    if resamples < 10:
        raise SimgenError(f"--resamples: at least 10 for an interval, got {resamples}")
    old = read_eval(baseline) if baseline is not None else None  # fail before the long part
    model = load_model(model_spec)
    other_classes: Counter = Counter()
    detections = run_detector(dataset_dir, model, on_image, other_classes)
    result = evaluate_detections(dataset_dir, detections, np.random.default_rng(seed),
                                 resamples=resamples)
    manifest = read_dataset(dataset_dir, ()).manifest
    result = {"model": model_spec,
              "dataset": {"name": manifest["scenario"]["name"], "root_seed":
                          manifest["root_seed"], "episodes": manifest["counts"]["episodes"],
                          "frames": manifest["counts"]["frames"]},
              "bootstrap_seed": seed,
              # detections of classes the dataset does not have: left out, counted here
              "other_classes": dict(sorted(other_classes.items())), **result}
    regressions: list[Regression] = []
    if old is not None:
        regressions = compare(result, old, max_drop, metric)
        result["comparison"] = {"baseline_model": old.get("model"), "metric": metric,
                                "max_drop": max_drop,
                                "regressions": [r.to_json() for r in regressions],
                                "baseline_values": {e["name"]: e.get(metric)
                                                    for e in eval_slices(old)}}
    out_dir.mkdir(parents=True, exist_ok=True)
    classes = {int(c["id"]): c["name"] for c in load_coco(dataset_dir)["categories"]}
    atomic_write_text(out_dir / DETECTIONS_FILE,
                      json.dumps(detections_record(detections, classes)))
    atomic_write_text(out_dir / EVAL_FILE, json.dumps(result, indent=2))
    write_eval_outputs(result, out_dir)
    if junit is not None:
        write_junit(junit, result, regressions, metric)
    return EvalOutcome(result, out_dir, tuple(regressions), old is not None)
