"""Slices of a dataset for evaluation: subsets of images chosen by the conditions of their
frame or episode (weather, time of day, edge case, sweep point), and subsets of ground-truth
objects chosen by an attribute of the object (distance, visibility)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from itertools import pairwise

import pandas as pd

#: Edges of the distance slices in metres, on the labels' ``distance_m`` (median range along
#: the pixel rays of the object's visible pixels): 0-10, 10-20, 20-40 and 40 m and beyond.
DISTANCE_BINS_M = (0.0, 10.0, 20.0, 40.0, math.inf)
#: Edges of the visibility slices, on the labels' ``visibility`` (1 = weather and sensor did
#: not reduce the object's contrast); the last bin includes 1.
VISIBILITY_BINS = (0.0, 0.3, 0.7, 1.0)
#: Edges of the fog slices in metres, on the frame's ``weather.fog.visibility_m``.
FOG_VISIBILITY_BINS_M = (0.0, 50.0, 150.0, math.inf)
#: The order of the time-of-day slices (other values follow, sorted).
TIMES_OF_DAY = ("day", "dusk", "night")


@dataclass(frozen=True)
class ImageSlice:
    """A subset of the dataset's images (COCO image ids), chosen by a frame or episode
    condition; every object in them counts."""

    name: str  # e.g. "fog=on", "time_of_day=night", "edge_case=jaywalker"
    kind: str  # "weather", "time_of_day", "edge_case" or "sweep_point"
    image_ids: frozenset[int]
    #: What the name stands for, where it does not say (a sweep point's values).
    description: str = ""


@dataclass(frozen=True)
class ObjectSlice:
    """The ground-truth objects whose annotation attribute lies in ``[low, high)`` (``[low,
    high]`` when ``closed_high``), over all images; other objects are ignored, neither
    found nor missed."""

    name: str  # e.g. "distance=20-40m"
    kind: str  # "distance" or "visibility"
    attribute: str  # the key in a COCO annotation's ``attributes``, e.g. "distance_m"
    low: float
    high: float
    closed_high: bool = False

    def contains(self, value: float | None) -> bool:
        """True when ``value`` is known and falls in this slice's bin."""
        if value is None or math.isnan(float(value)):
            return False
        value = float(value)
        # An open-ended bin (high = inf) takes inf too: a box on the sky is beyond any range.
        at_high = value == self.high and (self.closed_high or math.isinf(self.high))
        return self.low <= value and (value < self.high or at_high)


def _number(value: float) -> str:
    """``10.0`` -> ``10``, ``0.3`` -> ``0.3``."""
    return f"{value:g}"


def _bin_name(low: float, high: float, unit: str) -> str:
    """``0-10m``, ``40m+``."""
    if math.isinf(high):
        return f"{_number(low)}{unit}+"
    return f"{_number(low)}-{_number(high)}{unit}"


def object_slices(distance_bins_m: tuple[float, ...] = DISTANCE_BINS_M,
                  visibility_bins: tuple[float, ...] = VISIBILITY_BINS) -> list[ObjectSlice]:
    """The object-level slices: one per distance bin (metres) and one per visibility bin."""
    slices = [ObjectSlice(f"distance={_bin_name(lo, hi, 'm')}", "distance", "distance_m", lo, hi)
              for lo, hi in pairwise(distance_bins_m)]
    last = len(visibility_bins) - 2
    slices += [ObjectSlice(f"visibility={_bin_name(lo, hi, '')}", "visibility", "visibility",
                           lo, hi, closed_high=i == last)
               for i, (lo, hi) in enumerate(pairwise(visibility_bins))]
    return slices


def image_slices(frames: pd.DataFrame, episodes: pd.DataFrame,
                 fog_visibility_bins_m: tuple[float, ...] = FOG_VISIBILITY_BINS_M,
                 ) -> list[ImageSlice]:
    """The image-level slices that are not empty, from ``frames.parquet`` (weather, time of
    day) and ``episodes.parquet`` (edge cases, sweep point).

    Every weather effect that is on in some frame (``weather.NAME.on``) gives ``NAME=on``
    and ``NAME=off``; fog is also split by visibility (``fog=0-50m``, ...). ``edge_case=NAME``
    holds the episodes where NAME fired (an episode with several is in several slices) and
    ``edge_case=none`` those where none did. ``sweep.point=VALUE`` exists only where
    episodes.parquet has a ``sweep.point`` column.
    """
    slices: list[ImageSlice] = []

    def add(name: str, kind: str, rows: pd.Series, description: str = "") -> None:
        ids = frozenset(int(i) for i in frames.loc[rows.to_numpy(bool), "image_id"])
        if ids:
            slices.append(ImageSlice(name, kind, ids, description))

    for column in frames.columns:
        match = re.fullmatch(r"weather\.([^.]+)\.on", column)
        if not match:
            continue
        effect = match.group(1)
        on = frames[column].fillna(False).astype(bool)
        if not on.any():
            continue  # an effect this dataset never used is no condition of it
        add(f"{effect}=off", "weather", ~on)
        add(f"{effect}=on", "weather", on)
        if effect == "fog" and "weather.fog.visibility_m" in frames:
            visibility_m = frames["weather.fog.visibility_m"]
            for lo, hi in pairwise(fog_visibility_bins_m):
                add(f"fog={_bin_name(lo, hi, 'm')}", "weather",
                    on & (visibility_m >= lo) & (visibility_m < hi))

    if "lighting.time_of_day" in frames:
        times = frames["lighting.time_of_day"].astype(str)
        present = set(times)
        for time in [t for t in TIMES_OF_DAY if t in present] + sorted(present - set(TIMES_OF_DAY)):
            add(f"time_of_day={time}", "time_of_day", times == time)

    episode_of_frame = frames["episode"]
    if "edge_cases" in episodes:
        fired = {int(ep): {n.strip() for n in str(names or "").split(",") if n.strip()}
                 for ep, names in zip(episodes["episode"], episodes["edge_cases"].fillna(""),
                                      strict=True)}
        for name in sorted(set().union(*fired.values())):
            add(f"edge_case={name}", "edge_case",
                episode_of_frame.map(lambda ep, name=name: name in fired.get(int(ep), ())))
        add("edge_case=none", "edge_case", episode_of_frame.map(lambda ep: not fired.get(int(ep))))

    if "sweep.point" in episodes:
        point_of = dict(zip(episodes["episode"].astype(int), episodes["sweep.point"], strict=True))
        points = episode_of_frame.map(lambda ep: point_of.get(int(ep)))
        swept = [c for c in episodes.columns if c.startswith("sweep.") and c != "sweep.point"]
        for point in sorted(pd.unique(points.dropna())):
            row = episodes[episodes["sweep.point"] == point].iloc[0]
            values = ", ".join(f"{c.removeprefix('sweep.')}={_value_text(row[c])}"
                               for c in swept)
            add(f"sweep.point={point}", "sweep_point", points == point, values)
    return slices


def _value_text(value) -> str:
    """A swept value as the slice describes it (``null`` for none)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "null"
    return f"{value:g}" if isinstance(value, float) else str(value)
