"""Comparing an eval dict against a baseline one, and the result as JUnit XML.

A slice regresses when its metric (AP by default) fell by more than ``max_drop`` and the
whole confidence interval of the current value lies below the tolerated level too:

    current < baseline - max_drop   and   current_ci_high < baseline - max_drop

The baseline is the accepted model's number, taken as a fixed reference; the current
interval says how far the current number could move under another draw of episodes, so a
slice fails only when even its optimistic end is more than ``max_drop`` below the
baseline. When both models ran on the same dataset their sampling noise is largely shared
(a paired comparison would be tighter), so this rule errs towards not failing on noise.
Slices that exist on one side only, or whose value is undefined (no ground truth) on either
side, are not compared.
"""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass
from pathlib import Path

from simgen.writers.dataset import atomic_write_bytes


@dataclass(frozen=True)
class Regression:
    """One slice whose metric dropped beyond the tolerance and its confidence interval."""

    name: str
    kind: str
    metric: str
    baseline: float
    current: float
    current_ci_high: float
    max_drop: float

    @property
    def drop(self) -> float:
        """How much the metric fell (baseline - current)."""
        return self.baseline - self.current

    def message(self) -> str:
        """One line for a report or a JUnit failure."""
        return (f"{self.metric} fell from {self.baseline:.4f} to {self.current:.4f} "
                f"(drop {self.drop:.4f} > {self.max_drop:g}; interval high "
                f"{self.current_ci_high:.4f} < {self.baseline - self.max_drop:.4f})")

    def to_json(self) -> dict:
        """A JSON-able dict of this regression."""
        return {**asdict(self), "drop": self.drop}


def eval_slices(result: dict) -> list[dict]:
    """The overall entry followed by every slice of an eval dict."""
    return [result["overall"], *result["slices"]]


def compare(current: dict, baseline: dict, max_drop: float = 0.05,
            metric: str = "ap") -> list[Regression]:
    """The slices (overall included) of ``current`` whose ``metric`` regressed against
    ``baseline`` by more than ``max_drop`` beyond the current confidence interval (see the
    module docstring for the rule), in ``current``'s order."""
    before = {s["name"]: s for s in eval_slices(baseline)}
    regressions = []
    for entry in eval_slices(current):
        old = before.get(entry["name"])
        value, interval = entry.get(metric), (entry.get("ci") or {}).get(metric)
        if old is None or old.get(metric) is None or value is None or interval is None:
            continue
        tolerated = old[metric] - max_drop
        if value < tolerated and interval[1] < tolerated:
            regressions.append(Regression(entry["name"], entry["kind"], metric, old[metric],
                                          value, interval[1], max_drop))
    return regressions


def junit_xml(current: dict, regressions: list[Regression], metric: str = "ap") -> ET.Element:
    """A JUnit ``<testsuite>``: one testcase per slice of ``current`` (overall first), a
    ``<failure>`` on each regressed one; slices without a value are skipped."""
    failed = {r.name: r for r in regressions}
    entries = eval_slices(current)
    suite = ET.Element("testsuite", name="simgen eval", tests=str(len(entries)),
                       failures=str(sum(e["name"] in failed for e in entries)), errors="0",
                       skipped=str(sum(e.get(metric) is None for e in entries)))
    for entry in entries:
        case = ET.SubElement(suite, "testcase", classname=f"simgen.eval.{entry['kind']}",
                             name=entry["name"])
        if entry["name"] in failed:
            regression = failed[entry["name"]]
            ET.SubElement(case, "failure", message=regression.message(),
                          type="regression").text = regression.message()
        elif entry.get(metric) is None:
            ET.SubElement(case, "skipped", message=f"no {metric}: no ground truth in this slice")
        else:
            ET.SubElement(case, "system-out").text = (
                f"{metric}={entry[metric]:.4f} images={entry['images']} "
                f"gt_objects={entry['gt_objects']}")
    return suite


def write_junit(path: Path, current: dict, regressions: list[Regression],
                metric: str = "ap") -> None:
    """Write ``junit_xml(current, regressions, metric)`` to ``path`` (UTF-8, declared)."""
    tree = ET.ElementTree(junit_xml(current, regressions, metric))
    ET.indent(tree)
    buffer = io.BytesIO()
    tree.write(buffer, encoding="utf-8", xml_declaration=True)
    atomic_write_bytes(Path(path), buffer.getvalue())
