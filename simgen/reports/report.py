"""``simgen report DIR``: one self-contained HTML page describing a dataset.

The page has inline CSS, figures as inline SVG (``simgen.reports.svg``), sample frames as
base64 JPEG data URIs, the numbers behind every figure as JSON in ``<script
type="application/json" id="report-data">``, and a small script that checks, in the
browser, that every figure was drawn (``data-figures`` / ``data-figures-ok`` on
``<body>``). The same dataset gives the same bytes: nothing is random and the only times
shown are those of the dataset's ``performance.json``.
"""

from __future__ import annotations

import base64
import json
import math
import re
from dataclasses import dataclass
from html import escape
from itertools import combinations
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd
from pydantic import TypeAdapter
from scipy import stats

from simgen.errors import SimgenError
from simgen.evaluation.slices import image_slices
from simgen.reports import html as page
from simgen.reports import svg
from simgen.reports.preview import draw_labels, spread
from simgen.spec.distributions import (
    DIST_KEYS,
    Category,
    Choice,
    Const,
    Dist,
    LogUniform,
    Normal,
    Number,
    RandInt,
    Range,
    Uniform,
    dist_to_yaml,
)
from simgen.writers.dataset import PERFORMANCE_LOG, atomic_write_text
from simgen.writers.reader import read_dataset

REPORT_FILE = "report.html"
THUMB_WIDTH_PX = 240
FRAMES_PER_SLICE = 4
JPEG_QUALITY = 80
#: How many numeric parameters the pairwise coverage section crosses.
PAIRWISE_PARAMETERS = 6
#: episodes.parquet columns that are bookkeeping, not draws from the scenario.
NOT_DRAWN = {"episode", "seed", "edge_cases", "importance_weight", "sweep.point"}

_MISSING = object()
_NUMBER = TypeAdapter(Number())
_CATEGORY = TypeAdapter(Category(lambda option: option, {}))
_RANGE = TypeAdapter(Range())


# --- parameter coverage --------------------------------------------------------------------

def spec_path(column: str) -> str:
    """The scenario field a per-body column was drawn from: ``.instances[i]`` removed
    (``world.actors[0].instances[2].colour`` -> ``world.actors[0].colour``)."""
    return re.sub(r"\.instances\[\d+\]", "", column)


def lookup(scenario: Any, path: str) -> Any:
    """The value at field path ``path`` (``a.b[0].c``; ``a.b.0.c`` too) of the resolved
    scenario, or ``None`` when the path is not there."""
    node = scenario
    for key, index in re.findall(r"([^.\[\]]+)|\[(\d+)\]", path):
        if index or key.isdigit():
            position = int(index or key)
            if not isinstance(node, list) or position >= len(node):
                return None
            node = node[position]
        elif isinstance(node, dict) and key in node:
            node = node[key]
        else:
            return None
    return node


def spec_distribution(raw: Any) -> Dist | None:
    """The distribution a resolved-scenario value describes (``{uniform: [a, b]}``, ...),
    parsed by the spec's own validators; ``None`` for constants, sections and nulls."""
    if not (isinstance(raw, dict) and set(raw) & set(DIST_KEYS)):
        return None
    dist = (_CATEGORY if "choice" in raw else _NUMBER).validate_python(raw)
    return None if isinstance(dist, Const) else dist


def _sweep_distributions(scenario: dict[str, Any]) -> dict[str, Dist]:
    """Each swept path (bracket form) -> its range, or its grid values as an even choice."""
    found: dict[str, Dist] = {}
    for parameter in (scenario.get("sweep") or {}).get("parameters") or ():
        path = re.sub(r"\.(\d+)(?=\.|$)", r"[\1]", str(parameter["path"]))
        if parameter.get("range") is not None:
            found[path] = _RANGE.validate_python(parameter["range"])
        elif parameter.get("values") is not None:
            found[path] = Choice(tuple(parameter["values"]))
    return found


def kind_of(dist: Dist) -> str:
    """``continuous`` (uniform, loguniform, normal), ``discrete`` (randint) or
    ``categorical`` (choice)."""
    if isinstance(dist, Choice):
        return "categorical"
    return "discrete" if isinstance(dist, RandInt) else "continuous"


def frozen_distribution(dist: Dist) -> Any:
    """The scipy.stats frozen distribution of a numeric ``dist``."""
    if isinstance(dist, Uniform):
        return stats.uniform(dist.low, dist.high - dist.low)
    if isinstance(dist, LogUniform):
        return stats.loguniform(dist.low, dist.high)
    if isinstance(dist, Normal):
        return stats.truncnorm((dist.min - dist.mean) / dist.std,
                               (dist.max - dist.mean) / dist.std, dist.mean, dist.std)
    if isinstance(dist, RandInt):
        return stats.randint(dist.low, dist.high + 1)
    raise TypeError(f"not a numeric distribution: {dist!r}")


def cdf_values(dist: Dist, values: np.ndarray) -> np.ndarray:
    """``F(value)`` in [0, 1] for each value (for an integer distribution, the middle of the
    value's CDF step, so equally likely integers spread evenly over [0, 1])."""
    frozen = frozen_distribution(dist)
    values = np.asarray(values, dtype=float)
    if isinstance(dist, RandInt):
        return (frozen.cdf(values) + frozen.cdf(values - 1)) / 2
    return np.clip(frozen.cdf(values), 0.0, 1.0)


def bin_edges(dist: Dist, n: int) -> np.ndarray:
    """Histogram edges for ``n`` draws of a numeric ``dist``: about sqrt(n) + 1 bins (3 to
    20) over its support (log-spaced for loguniform; mean +- 3 std clipped to the bounds for
    a normal; whole integers for randint)."""
    bins = min(20, max(3, math.ceil(math.sqrt(max(n, 1))) + 1))
    if isinstance(dist, RandInt):
        width = math.ceil((dist.high - dist.low + 1) / 20)
        return np.arange(dist.low - 0.5, dist.high + 0.5 + width, width, dtype=float).clip(
            max=dist.high + 0.5)
    if isinstance(dist, LogUniform):
        return np.geomspace(dist.low, dist.high, bins + 1)
    if isinstance(dist, Normal):
        low = max(dist.min, dist.mean - 3 * dist.std)
        high = min(dist.max, dist.mean + 3 * dist.std)
        return np.linspace(low, high, bins + 1)
    return np.linspace(dist.low, dist.high, bins + 1)


def expected_counts(dist: Dist, edges: np.ndarray, n: int) -> np.ndarray:
    """Expected number of ``n`` draws of ``dist`` in each bin; the outer bins take the tails
    beyond the first and last edge, so the counts sum to ``n``."""
    inner = frozen_distribution(dist).cdf(np.asarray(edges[1:-1], dtype=float))
    return n * np.diff(np.concatenate([[0.0], inner, [1.0]]))


def category_key(value: Any) -> str:
    """A canonical text for a categorical value, equal for the spec's option and the value
    read back from the table (``150`` == ``150.0``, a mapping == its JSON text, NaN ==
    ``null``)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "null"
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, int | float | np.integer | np.floating):
        return repr(float(value))
    if isinstance(value, str):
        if value[:1] in "{[":
            try:
                return category_key(json.loads(value))
            except ValueError:
                return value
        return value
    if isinstance(value, dict):
        return json.dumps({str(k): json.loads(category_key(v)) if not isinstance(v, str)
                           else v for k, v in sorted(value.items())}, sort_keys=True)
    if isinstance(value, list | tuple | np.ndarray):
        return json.dumps([float(v) if isinstance(v, int | float) and not isinstance(v, bool)
                           else v for v in value])
    return str(value)


def _option_text(key: str) -> str:
    """``0.3`` for ``'0.3'`` float keys, ``3`` for ``'3.0'``, other keys as they are."""
    try:
        return svg.number_text(float(key))
    except ValueError:
        return key


@dataclass(frozen=True)
class ParameterCoverage:
    """How the draws of one scenario parameter cover its distribution.

    Numeric parameters have histogram ``edges`` (``bins`` are their texts); categorical
    ones have one bin per option (plus ``other`` when a value is no option). ``observed``
    and ``expected`` are counts per bin; ``p_value`` is the KS test's (continuous) or the
    chi-square test's (integer, categorical).
    """

    path: str
    kind: str
    distribution: Dist
    columns: tuple[str, ...]
    n: int
    bins: tuple[str, ...]
    edges: tuple[float, ...]
    observed: tuple[int, ...]
    expected: tuple[float, ...]
    test: str
    p_value: float


def _chi_square(observed: np.ndarray, expected: np.ndarray) -> float:
    """Chi-square p-value over the bins that can hold draws; 0 when a value fell where the
    distribution puts none, 1 when there is only one possible bin."""
    if (observed[expected <= 0] > 0).any():
        return 0.0
    keep = expected > 0
    if keep.sum() < 2:
        return 1.0
    return float(stats.chisquare(observed[keep], expected[keep]).pvalue)


def _integer_bin_text(low_edge: float, high_edge: float) -> str:
    """``3`` for the bin [2.5, 3.5), ``3-5`` for [2.5, 5.5)."""
    low, high = math.ceil(low_edge), math.floor(high_edge)
    return str(low) if low == high else f"{low}-{high}"


def measure_coverage(dist: Dist, values: Any, path: str = "",
                     columns: tuple[str, ...] = ()) -> ParameterCoverage:
    """Histogram of ``values`` against the counts ``dist`` expects, and a goodness-of-fit
    p-value (KS for a continuous distribution, chi-square for randint and choice)."""
    kind = kind_of(dist)
    if kind == "categorical":
        keys = [category_key(v) for v in values]
        weights = np.ones(len(dist.options)) if dist.weights is None else np.asarray(
            dist.weights, dtype=float)
        shares: dict[str, float] = {}
        for option, weight in zip(dist.options, weights / weights.sum(), strict=True):
            shares[category_key(option)] = shares.get(category_key(option), 0.0) + weight
        other = sum(1 for k in keys if k not in shares)
        bins = list(shares) + (["other"] if other else [])
        observed = np.array([sum(1 for k in keys if k == b) for b in shares] +
                            ([other] if other else []))
        expected = np.array([len(keys) * s for s in shares.values()] + ([0.0] if other else []))
        return ParameterCoverage(path, kind, dist, columns, len(keys),
                                 tuple(_option_text(b) for b in bins), (),
                                 tuple(int(c) for c in observed),
                                 tuple(float(e) for e in expected), "chi-square",
                                 _chi_square(observed, expected))
    data = np.asarray(values, dtype=float)
    edges = bin_edges(dist, len(data))
    observed, _ = np.histogram(np.clip(data, edges[0], edges[-1]), edges)
    expected = expected_counts(dist, edges, len(data))
    if kind == "discrete":
        test, p_value = "chi-square", _chi_square(observed, expected)
    else:
        test = "ks"
        p_value = float(stats.kstest(data, frozen_distribution(dist).cdf).pvalue) \
            if len(data) else math.nan
    texts = tuple(_integer_bin_text(a, b) if kind == "discrete" else
                  f"{svg.number_text(a)}-{svg.number_text(b)}"
                  for a, b in zip(edges[:-1], edges[1:], strict=True))
    return ParameterCoverage(path, kind, dist, columns, len(data), texts,
                             tuple(float(e) for e in edges), tuple(int(c) for c in observed),
                             tuple(float(e) for e in expected), test, p_value)


def _single_valued(dist: Dist) -> bool:
    """True for a continuous range of zero width (``{uniform: [a, a]}``): nothing to test."""
    return isinstance(dist, Uniform | LogUniform) and dist.high <= dist.low


def _column_source(column: str, scenario: dict[str, Any], swept: dict[str, Dist],
                   ) -> tuple[str, Dist, int | None] | None:
    """(parameter name, its distribution, list index or None) of an episodes.parquet
    column, or None when the column was not drawn from a distribution of the scenario."""
    if column in NOT_DRAWN or re.fullmatch(r"edge_cases\.[^.]+\.fired", column):
        return None
    if column.startswith("sweep."):
        path = re.sub(r"\.(\d+)(?=\.|$)", r"[\1]", column[len("sweep."):])
        return (column, swept[path], None) if path in swept else None
    path = spec_path(column)
    if any(path == p or path.startswith((p + ".", p + "[")) for p in swept):
        return None  # the sweep sets this field: its values are the sweep's, not the spec's
    dist = spec_distribution(lookup(scenario, path))
    if dist is not None and not _single_valued(dist):
        return path, dist, None
    match = re.fullmatch(r"(.*)\[(\d+)\]", path)
    if match:  # one element of a list value chosen whole: {choice: [[r, g, b], ...]}
        dist = spec_distribution(lookup(scenario, match.group(1)))
        if isinstance(dist, Choice) and all(isinstance(o, list) for o in dist.options):
            return match.group(1), dist, int(match.group(2))
    return None


def parameter_coverage(episodes: pd.DataFrame, scenario: dict[str, Any],
                       ) -> list[ParameterCoverage]:
    """Coverage of every scenario parameter drawn into ``episodes`` (one entry per spec
    field, pooling the per-body columns of a group), in the order of first column."""
    swept = _sweep_distributions(scenario)
    sources: dict[str, tuple[Dist, dict[str, dict[int | None, str]]]] = {}
    for column in episodes.columns:
        source = _column_source(column, scenario, swept)
        if source is None:
            continue
        name, dist, index = source
        base = column if index is None else re.sub(r"\[\d+\]$", "", column)
        sources.setdefault(name, (dist, {}))[1].setdefault(base, {})[index] = column
    found = []
    for name, (dist, bases) in sources.items():
        values: list[Any] = []
        for parts in bases.values():
            if None in parts:
                series = episodes[parts[None]]
                keep_null = isinstance(dist, Choice) and "null" in {
                    category_key(o) for o in dist.options}
                values += list(series if keep_null else series.dropna())
            else:
                table = episodes[[parts[i] for i in sorted(parts)]].dropna()
                values += [list(row) for row in table.itertuples(index=False)]
        if not values:
            continue
        if kind_of(dist) != "categorical":
            values = list(pd.to_numeric(pd.Series(values), errors="coerce").dropna())
        columns = tuple(c for parts in bases.values() for c in parts.values())
        found.append(measure_coverage(dist, values, name, columns))
    return found


def occupied_share(u: np.ndarray, v: np.ndarray, cells: int) -> float:
    """Share of the ``cells`` x ``cells`` grid over the unit square holding a point."""
    i = np.minimum((np.asarray(u) * cells).astype(int), cells - 1)
    j = np.minimum((np.asarray(v) * cells).astype(int), cells - 1)
    return len(set(zip(i.tolist(), j.tolist(), strict=True))) / cells ** 2


def expected_occupied_share(n: int, cells: int) -> float:
    """Share of ``cells`` x ``cells`` cells that ``n`` independent uniform points occupy,
    on average: 1 - (1 - 1/cells^2)^n."""
    return 1.0 - (1.0 - 1.0 / cells ** 2) ** n


def grid_cells(n: int) -> int:
    """Cells per side of the pairwise coverage grid for ``n`` points: about sqrt(n)/2, >= 2."""
    return max(2, round(math.sqrt(n) / 2))


# --- edge cases ----------------------------------------------------------------------------

@dataclass(frozen=True)
class EdgeCaseRate:
    """How often one configured edge case fired: raw (share of episodes), importance-
    weighted (the estimate of its nominal rate), and its nominal and oversampled rates."""

    name: str
    probability: float
    oversample: float
    fired_episodes: int
    raw_rate: float
    weighted_rate: float


def edge_case_rates(episodes: pd.DataFrame, scenario: dict[str, Any]) -> list[EdgeCaseRate]:
    """The rates of every edge case the scenario configures, in the scenario's order."""
    fired_sets = [{n.strip() for n in str(names).split(",") if n.strip()}
                  for names in episodes.get("edge_cases", pd.Series(dtype=str)).fillna("")]
    weights = episodes["importance_weight"].to_numpy(float) if "importance_weight" in episodes \
        else np.ones(len(episodes))
    rates = []
    for name, settings in (scenario.get("edge_cases") or {}).items():
        if not settings:
            continue
        p = float(settings["probability"])
        q = p if settings.get("oversample") is None else float(settings["oversample"])
        fired = np.array([name in s for s in fired_sets], dtype=bool)
        raw = float(fired.mean()) if len(fired) else math.nan
        weighted = float(weights[fired].sum() / weights.sum()) if weights.sum() > 0 \
            else math.nan
        rates.append(EdgeCaseRate(name, p, q, int(fired.sum()), raw, weighted))
    return rates


def _summary_section(manifest: dict[str, Any], data: dict[str, Any]) -> str:
    scenario = manifest.get("scenario", {})
    counts = manifest.get("counts", {})
    capture = scenario.get("capture", {})
    cameras = [str(c.get("name")) for c in scenario.get("cameras", [])]
    summary = {"scenario": scenario.get("name", ""), "simgen_version": manifest.get("version"),
               "root_seed": manifest.get("root_seed"), "renderer": manifest.get("renderer"),
               "episodes": counts.get("episodes"), "frames": counts.get("frames"),
               "labels": counts.get("labels"), "failed_episodes": counts.get("failed", 0),
               "complete": manifest.get("complete"), "cameras": cameras,
               "resolution_px": f"{capture.get('width')} x {capture.get('height')}"}
    data["summary"] = summary
    rows = [[key.replace("_", " "), ", ".join(v) if isinstance(v, list) else
             ("n/a" if v is None else v)] for key, v in summary.items()]
    return page.section("summary", "1. Summary", "What the dataset is and how much it holds "
                    "(from dataset.json).", page.table(["field", "value"], rows))


def _class_section(boxes: pd.DataFrame, classes: list[str], data: dict[str, Any]) -> str:
    labels = boxes["class"].value_counts()
    frames = boxes.groupby("class")["image_id"].nunique()
    names = classes + sorted(set(labels.index) - set(classes))
    rows = [{"class": c, "labels": int(labels.get(c, 0)), "frames": int(frames.get(c, 0))}
            for c in names]
    data["classes"] = rows
    chart = svg.bar_chart(names, {"labels": [r["labels"] for r in rows],
                                  "frames": [r["frames"] for r in rows]},
                          "Labels and frames per class", "count", "class-balance")
    table = page.table(["class", "labels", "frames containing it"],
                   [[r["class"], r["labels"], r["frames"]] for r in rows])
    return page.section("classes", "2. Class balance", "How many labels each class has, and in "
                    "how many frames (camera images) it appears.",
                    f'<div class="figures">{chart}{table}</div>')


def _box_size_section(boxes: pd.DataFrame, data: dict[str, Any]) -> str:
    size_px = np.sqrt(boxes["w"].to_numpy(float) * boxes["h"].to_numpy(float))
    intro = "The size of the visible boxes, sqrt(w x h) in pixels, on log-spaced bins."
    if not len(size_px):
        data["box_size"] = {"edges": [], "counts": [], "median_px_by_class": {}}
        return page.section("box-size", "3. Box size", intro, '<p class="note">No labels.</p>')
    low, high = max(1.0, float(size_px.min())), float(size_px.max())
    high = max(high, low * 1.5)
    edges = np.geomspace(low / 1.0001, high * 1.0001, min(16, max(4, len(size_px) // 4)) + 1)
    counts, _ = np.histogram(size_px, edges)
    medians = {c: float(np.median(size_px[(boxes["class"] == c).to_numpy()]))
               for c in sorted(boxes["class"].unique())}
    data["box_size"] = {"edges": edges, "counts": counts, "median_px_by_class": medians}
    chart = svg.histogram(edges, counts, "Box size", "sqrt(w x h) [px]", "box-size",
                          log_x=True)
    table = page.table(["class", "labels", "median size [px]"],
                   [[c, int((boxes["class"] == c).sum()), m] for c, m in medians.items()])
    return page.section("box-size", "3. Box size", intro + " Per class: the median.",
                    f'<div class="figures">{chart}{table}</div>')


def _linear_histogram(values: np.ndarray, low: float, high: float, bins: int, title: str,
                      x_label: str, name: str) -> tuple[str, dict[str, Any]]:
    edges = np.linspace(low, high, bins + 1)
    counts, _ = np.histogram(np.clip(values, low, high), edges)
    return (svg.histogram(edges, counts, title, x_label, name),
            {"edges": edges, "counts": counts, "n": len(values)})


def _visibility_section(boxes: pd.DataFrame, frame_objects: pd.DataFrame,
                        data: dict[str, Any]) -> str:
    figures = []
    distance_m = boxes["distance_m"].to_numpy(float)
    finite = distance_m[np.isfinite(distance_m)]
    if len(finite):
        high = svg.nice_ticks(float(finite.max()))[-1]
        chart, data["distance_m"] = _linear_histogram(
            finite, 0.0, high, 10, "Label distance", "distance_m [m]", "distance")
        figures.append(chart)
    for column in ("visibility", "visible_fraction"):
        values = boxes[column].to_numpy(float) if column in boxes else np.array([])
        values = values[np.isfinite(values)]
        if len(values):
            chart, data[column] = _linear_histogram(values, 0.0, 1.0, 10, f"Label {column}",
                                                    column, column)
            figures.append(chart)
    statuses = ["labeled", "below_rule", "hidden"]
    status_counts = frame_objects["status"].value_counts()
    statuses += sorted(set(status_counts.index) - set(statuses))
    data["status_counts"] = {s: int(status_counts.get(s, 0)) for s in statuses}
    figures.append(svg.bar_chart(statuses, {"objects": list(data["status_counts"].values())},
                                 "Objects in view by label status", "count", "status",
                                 width=320))
    unlabelled = len(distance_m) - len(finite)
    note = f' <span class="note">({unlabelled} labels with no finite distance.)</span>' \
        if unlabelled else ""
    return page.section("visibility", "4. Distance and visibility",
                    "How far the labeled objects are (median distance along their visible "
                    "pixels' rays), how much weather and sensor reduced their contrast "
                    "(visibility, 1 = not at all), how much of each is unoccluded "
                    "(visible_fraction), and how every object in a camera's view was labeled "
                    "(frame_objects.parquet status)." + note,
                    f'<div class="figures">{"".join(figures)}</div>')


def _distribution_text(dist: Dist) -> str:
    return json.dumps(page.plain(dist_to_yaml(dist)), separators=(", ", ": "))


def _coverage_section(episodes: pd.DataFrame, scenario: dict[str, Any],
                      data: dict[str, Any]) -> str:
    coverage = parameter_coverage(episodes, scenario)
    data["coverage"] = {"parameters": [
        {"path": c.path, "kind": c.kind, "distribution": dist_to_yaml(c.distribution),
         "columns": c.columns, "n": c.n, "bins": c.bins, "edges": c.edges,
         "observed": c.observed, "expected": c.expected, "test": c.test,
         "p_value": c.p_value} for c in coverage], "pairs": []}
    if not coverage:
        return page.section("coverage", "5. Parameter coverage", "Draws of the scenario's "
                        "distributions.", '<p class="note">No parameter of this dataset was '
                        'drawn from a distribution.</p>')
    figures, rows = [], []
    for k, c in enumerate(coverage):
        title = f"{c.path} (n={c.n})"
        if c.kind == "categorical":
            share = max(c.n, 1)
            figures.append(svg.bar_chart(
                list(c.bins), {"observed share": [o / share for o in c.observed],
                               "expected share": [e / share for e in c.expected]},
                title, "share", f"coverage-{k}", y_max=1.0, width=360, height=220))
        else:
            figures.append(svg.histogram(
                c.edges, c.observed, title, c.path, f"coverage-{k}", expected=c.expected,
                log_x=isinstance(c.distribution, LogUniform),
                bin_labels=c.bins if c.kind == "discrete" else None, width=360, height=220))
        low = ' class="low"' if c.p_value < 0.01 else ""
        rows.append(f'<tr><td>{escape(c.path)}</td><td class="text">'
                    f"{escape(_distribution_text(c.distribution))}"
                    f"</td><td>{c.n}</td><td>{c.test}</td><td{low}>{svg.number_text(c.p_value)}"
                    f"</td></tr>")
    table = ("<table><tr><th>parameter</th><th>distribution</th><th>draws</th><th>test</th>"
             f"<th>p-value</th></tr>{''.join(rows)}</table>")
    body = f'{table}<div class="figures">{"".join(figures)}</div>' + _pairwise(
        episodes, [c for c in coverage if c.kind != "categorical"], data)
    return page.section("coverage", "5. Parameter coverage",
                    "Every scenario parameter drawn from a distribution (per-body draws of a "
                    "group pooled; sweep parameters against their range): the draws against "
                    "the counts the distribution expects (red line, or expected share), with "
                    "a KS (continuous) or chi-square (integer, categorical) p-value. With few "
                    "episodes these tests have little power: a low p-value flags a parameter "
                    "that is not drawn as specified (e.g. reshaped by a constraint).", body)


def _pairwise(episodes: pd.DataFrame, numeric: list[ParameterCoverage],
              data: dict[str, Any]) -> str:
    """Scatters, in CDF space, of each pair of the best-covered numeric parameters (each
    parameter's first column: one value per episode)."""
    present = [(int(episodes[c.columns[0]].notna().sum()), k, c) for k, c in enumerate(numeric)]
    chosen = [c for _, _, c in sorted(present, key=lambda t: (-t[0], t[1]))[:PAIRWISE_PARAMETERS]]
    figures, rows = [], []
    for a, b in combinations(chosen, 2):
        both = episodes[[a.columns[0], b.columns[0]]].apply(pd.to_numeric, errors="coerce")
        both = both.dropna()
        if len(both) < 2:
            continue
        u = cdf_values(a.distribution, both.iloc[:, 0].to_numpy())
        v = cdf_values(b.distribution, both.iloc[:, 1].to_numpy())
        cells = grid_cells(len(both))
        pair = {"x": a.path, "y": b.path, "x_column": a.columns[0], "y_column": b.columns[0],
                "n": len(both), "cells": cells, "occupied_share": occupied_share(u, v, cells),
                "expected_share": expected_occupied_share(len(both), cells)}
        data["coverage"]["pairs"].append(pair)
        figures.append(svg.unit_scatter(
            u, v, cells, f"pair {len(rows) + 1}: {pair['occupied_share']:.2f} vs "
            f"{pair['expected_share']:.2f}", f"F({a.path})", f"F({b.path})",
            f"pair-{len(rows)}", size_px=220))
        rows.append([len(rows) + 1, a.columns[0], b.columns[0], len(both), f"{cells}x{cells}",
                     pair["occupied_share"], pair["expected_share"]])
    if not rows:
        return ""
    return ("<h3>Pairwise coverage</h3><p>Each pair of up to "
            f"{PAIRWISE_PARAMETERS} numeric parameters (their first column, one value per "
            "episode) in CDF space, u = F(value): uniform coverage of the unit square is the "
            "target. Shaded: the occupied cells of a k x k grid (k about sqrt(n)/2), against "
            "the share n independent uniform points occupy on average, 1 - (1 - 1/k^2)^n.</p>"
            + page.table(["pair", "x", "y", "episodes", "grid", "occupied share",
                      "expected share"], rows)
            + f'<div class="figures">{"".join(figures)}</div>')


def _edge_case_section(episodes: pd.DataFrame, scenario: dict[str, Any],
                       data: dict[str, Any]) -> str:
    rates = edge_case_rates(episodes, scenario)
    data["edge_cases"] = [r.__dict__ for r in rates]
    intro = ("Per configured edge case: the share of episodes where it fired (raw, near its "
             "oversample rate), the importance-weighted share (sum of importance_weight where "
             "it fired / sum of all weights, which estimates the nominal rate), and the "
             "nominal probability.")
    if not rates:
        return page.section("edge-cases", "6. Edge cases", intro,
                        '<p class="note">The scenario configures no edge cases.</p>')
    names = [r.name for r in rates]
    chart = svg.bar_chart(names, {"raw": [r.raw_rate for r in rates],
                                  "weighted": [r.weighted_rate for r in rates],
                                  "nominal": [r.probability for r in rates],
                                  "oversample": [r.oversample for r in rates]},
                          "Edge-case rates", "share of episodes", "edge-cases", y_max=1.0,
                          width=640)
    table = page.table(["edge case", "fired (episodes)", "raw rate", "weighted rate",
                    "nominal", "oversample"],
                   [[r.name, r.fired_episodes, r.raw_rate, r.weighted_rate, r.probability,
                     r.oversample] for r in rates])
    return page.section("edge-cases", "6. Edge cases", intro,
                    f'<div class="figures">{chart}{table}</div>')


def _samples_section(root: Path, frames: pd.DataFrame, episodes: pd.DataFrame,
                     boxes: pd.DataFrame, classes: list[str], data: dict[str, Any]) -> str:
    frames = frames.sort_values("image_id", kind="stable").reset_index(drop=True)
    labels_by_image = {int(k): g for k, g in boxes.groupby("image_id", sort=False)}
    thumbs: dict[int, str] = {}
    blocks, data["slices"] = [], []
    for image_slice in image_slices(frames, episodes):
        members = frames[frames["image_id"].isin(image_slice.image_ids)]
        shown = members.iloc[spread(list(range(len(members))), FRAMES_PER_SLICE)]
        data["slices"].append({"name": image_slice.name, "kind": image_slice.kind,
                               "frames": len(members),
                               "image_ids": [int(i) for i in shown["image_id"]]})
        cells = []
        for frame in shown.itertuples(index=False):
            image_id = int(frame.image_id)
            labels = labels_by_image.get(image_id, boxes.iloc[:0])
            if image_id not in thumbs:
                thumbs[image_id] = _thumbnail(root, frame.rgb_path, labels, classes,
                                              THUMB_WIDTH_PX / float(frame.width))
            caption = f"ep {frame.episode} {frame.camera} {frame.frame:05d}, {len(labels)} labels"
            cells.append(f'<figure class="thumb"><img alt="{escape(caption)}" '
                         f'src="data:image/jpeg;base64,{thumbs[image_id]}">'
                         f"<figcaption>{escape(caption)}</figcaption></figure>")
        blocks.append(f"<h3>{escape(image_slice.name)} ({len(members)} frames)</h3>"
                      f'<div class="figures">{"".join(cells)}</div>')
    body = "".join(blocks) or '<p class="note">No image slices.</p>'
    return page.section("samples", "7. Sample images per condition",
                    f"Up to {FRAMES_PER_SLICE} frames spread over each image slice (weather "
                    "on/off and fog visibility, time of day, edge case, sweep point), with "
                    "their labels' visible boxes.", body)


def _thumbnail(root: Path, rgb_path: str, labels: pd.DataFrame, classes: list[str],
               scale: float) -> str:
    """A frame with its labels drawn, as base64 JPEG."""
    bgr = cv2.imread(str(root / rgb_path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise SimgenError(f"{root / rgb_path}: cannot read the image")
    thumb = draw_labels(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), labels, scale, classes)
    ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(thumb, cv2.COLOR_RGB2BGR),
                            [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise SimgenError(f"{root / rgb_path}: cannot encode a thumbnail")
    return base64.b64encode(jpeg.tobytes()).decode("ascii")


def _performance_section(root: Path, data: dict[str, Any]) -> str:
    intro = "How long the runs that made the dataset took (performance.json)."
    path = root / PERFORMANCE_LOG
    if not path.is_file():
        data["performance"] = None
        return page.section("performance", "8. Generation performance", intro,
                        '<p class="note">No performance.json in this dataset.</p>')
    try:
        runs = json.loads(path.read_text(encoding="utf-8")).get("runs", [])
    except (ValueError, AttributeError) as exc:
        raise SimgenError(f"{path}: not readable as JSON ({exc})") from None
    if not runs:
        data["performance"] = {"runs": [], "totals": None}
        return page.section("performance", "8. Generation performance", intro,
                        '<p class="note">performance.json lists no runs.</p>')
    wall_s = sum(float(r.get("elapsed_s", 0)) for r in runs)
    frames = sum(int(r.get("frames_made", 0)) for r in runs)
    totals = {"runs": len(runs), "elapsed_s": wall_s,
              "episodes_made": sum(int(r.get("episodes_made", 0)) for r in runs),
              "frames_made": frames, "frames_per_s": frames / wall_s if wall_s else None}
    data["performance"] = {"runs": runs, "totals": totals}
    keys = ["started_utc", "elapsed_s", "episodes_made", "frames_made", "frames_per_s",
            "workers", "executor", "renderer", "cpu_count"]
    rows = [[r.get(k, "") for k in keys] for r in runs]
    rows.append(["total", wall_s, totals["episodes_made"], frames,
                 totals["frames_per_s"] or "", "", "", "", ""])
    chart = svg.bar_chart([f"run {i + 1}" for i in range(len(runs))],
                          {"frames/s": [float(r.get("frames_per_s", 0)) for r in runs]},
                          "Frames per second by run", "frames/s", "performance", width=320)
    table = page.table(["start (UTC)", "wall [s]", "episodes", "frames", "frames/s", "workers",
                    "executor", "renderer", "cores"], rows)
    return page.section("performance", "8. Generation performance", intro,
                    f'<div class="figures">{chart}{table}</div>')


def render_report(dataset_dir: Path) -> str:
    """The report of the dataset in ``dataset_dir`` as HTML text (``SimgenError`` for a
    folder that is not a complete dataset)."""
    tables = read_dataset(dataset_dir, ("frames", "boxes", "episodes", "frame_objects"))
    manifest = tables.manifest
    scenario = manifest.get("scenario", {})
    classes = list(manifest.get("classes", ()))
    data: dict[str, Any] = {}
    sections = [
        _summary_section(manifest, data),
        _class_section(tables["boxes"], classes, data),
        _box_size_section(tables["boxes"], data),
        _visibility_section(tables["boxes"], tables["frame_objects"], data),
        _coverage_section(tables["episodes"], scenario, data),
        _edge_case_section(tables["episodes"], scenario, data),
        _samples_section(dataset_dir, tables["frames"], tables["episodes"], tables["boxes"],
                         classes, data),
        _performance_section(dataset_dir, data),
    ]
    name = str(scenario.get("name", dataset_dir.name))
    nav = [("summary", "Summary"), ("classes", "Classes"), ("box-size", "Box size"),
           ("visibility", "Visibility"), ("coverage", "Coverage"), ("edge-cases", "Edge cases"),
           ("samples", "Samples"), ("performance", "Performance")]
    return page.document(f"simgen report: {name}", f"Dataset report: {name}", nav, sections,
                         data, "report-data")


def write_report(dataset_dir: Path, out_path: Path | None = None) -> Path:
    """Write the dataset's HTML report (default ``DIR/report.html``) atomically; returns
    its path."""
    out_path = out_path if out_path is not None else dataset_dir / REPORT_FILE
    html = render_report(dataset_dir)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out_path, html)
    return out_path
