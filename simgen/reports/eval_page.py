"""The results of ``simgen eval`` as figures (SVG files) and one self-contained HTML page."""

from __future__ import annotations

from html import escape
from pathlib import Path

from simgen.reports import html as page
from simgen.reports import svg
from simgen.writers.dataset import atomic_write_text

EVAL_PAGE = "eval.html"
PLOTS_DIR = "plots"
#: Slice kinds in the order the page shows them.
KIND_ORDER = ("overall", "weather", "time_of_day", "edge_case", "sweep_point", "distance",
              "visibility")
METRIC_NAMES = {"ap": "AP", "ap50": "AP50", "recall": "recall"}


def _entries(result: dict) -> list[dict]:
    return [result["overall"], *result["slices"]]


def _kinds(result: dict) -> list[str]:
    present = {e["kind"] for e in _entries(result)}
    return [k for k in KIND_ORDER if k in present] + sorted(present - set(KIND_ORDER))


def _value(entry: dict, metric: str) -> float:
    value = entry.get(metric)
    return 0.0 if value is None else float(value)


def kind_figure(result: dict, kind: str) -> str:
    """AP, AP50 and recall of each slice of ``kind``, with the intervals as error bars."""
    entries = [e for e in _entries(result) if e["kind"] == kind]
    names = [e["name"] for e in entries]
    series = {METRIC_NAMES[m]: [_value(e, m) for e in entries] for m in METRIC_NAMES}
    intervals = {METRIC_NAMES[m]: [(e.get("ci") or {}).get(m) for e in entries]
                 for m in METRIC_NAMES}
    return svg.bar_chart(names, series, f"{kind.replace('_', ' ')} slices", "score",
                         f"metrics-{kind}", y_max=1.0, width=max(420, 110 * len(names) + 180),
                         intervals=intervals)


def comparison_figure(result: dict) -> str:
    """The metric of every slice, baseline beside current ((!) marks a regression)."""
    comparison = result["comparison"]
    metric, before = comparison["metric"], comparison["baseline_values"]
    regressed = {r["name"] for r in comparison["regressions"]}
    entries = [e for e in _entries(result) if e["name"] in before]
    names = [e["name"] + (" (!)" if e["name"] in regressed else "") for e in entries]
    return svg.bar_chart(
        names, {"baseline":
                [0.0 if before[e["name"]] is None else before[e["name"]] for e in entries],
                "current": [_value(e, metric) for e in entries]},
        f"{METRIC_NAMES[metric]} against the baseline ((!) = regressed)",
        METRIC_NAMES[metric], "comparison", y_max=1.0, width=max(560, 34 * len(names) + 260),
        height=320)


def _slice_table(result: dict, regressed: set[str]) -> str:
    weighted = result.get("weighted", False)
    headers = ["slice", "kind", "images", "episodes", "objects", "AP", "AP interval", "AP50",
               "recall", *(["weighted AP", "weighted recall"] if weighted else [])]
    rows, classes = [], []
    for e in _entries(result):
        interval = (e.get("ci") or {}).get("ap")
        name = e["name"] + (f" ({e['description']})" if e.get("description") else "")
        row = [name, e["kind"], e["images"], e.get("episodes", ""), e["gt_objects"],
               "-" if e["ap"] is None else e["ap"],
               "-" if not interval else f"{interval[0]:.3f} - {interval[1]:.3f}",
               "-" if e["ap50"] is None else e["ap50"],
               "-" if e["recall"] is None else e["recall"]]
        if weighted:
            w = e.get("weighted") or {}
            row += ["-" if w.get("ap") is None else w["ap"],
                    "-" if w.get("recall") is None else w["recall"]]
        rows.append(row)
        classes.append("regressed" if e["name"] in regressed else "")
    return page.table(headers, rows, classes)


def render_eval_page(result: dict, figures: dict[str, str]) -> str:
    """The page: what was evaluated, the verdict against the baseline, a figure per slice
    kind and the table of every slice."""
    comparison = result.get("comparison")
    regressed = {r["name"] for r in comparison["regressions"]} if comparison else set()
    dataset = result["dataset"]
    summary = page.table(["field", "value"], [
        ["model", result["model"]], ["dataset", dataset["name"]],
        ["root seed", dataset["root_seed"]], ["episodes", dataset["episodes"]],
        ["frames", dataset["frames"]],
        ["metrics", "; ".join(f"{k}: {v}" for k, v in result["metrics"].items())],
        ["intervals", f"{result['confidence']:.0%}, {result['resamples']} bootstrap resamples "
                      f"of {result['resampling_unit']}s (seed {result['bootstrap_seed']})"],
        ["importance-weighted", result.get("weighted", False)],
        ["classes left out", ", ".join(f"{k} ({n})" for k, n in
                                       result.get("other_classes", {}).items()) or "none"]])
    sections = [page.section("summary", "What was evaluated", "The model, the dataset and how "
                             "the numbers were computed.", summary)]
    if comparison is not None:
        if regressed:
            items = "".join(f"<li><b>{escape(r['name'])}</b>: {escape(r['metric'])} "
                            f"{r['baseline']:.3f} -> {r['current']:.3f} (interval high "
                            f"{r['current_ci_high']:.3f})</li>"
                            for r in comparison["regressions"])
            verdict = f'<p class="low">{len(regressed)} slice(s) regressed:</p><ul>{items}</ul>'
        else:
            verdict = "<p>No slice regressed.</p>"
        sections.append(page.section(
            "comparison", "Against the baseline",
            f"Baseline model {escape(str(comparison['baseline_model']))}; a slice regresses "
            f"when its {escape(comparison['metric'])} fell more than "
            f"{comparison['max_drop']:g} and so did its interval's upper end.",
            verdict + f'<div class="figures">{figures["comparison"]}</div>'))
    kinds = _kinds(result)
    sections.append(page.section(
        "slices", "Slices", "AP, AP50 and recall of each slice, with 95 % bootstrap intervals.",
        '<div class="figures">' + "".join(figures[k] for k in kinds) + "</div>"
        + _slice_table(result, regressed)))
    nav = [("summary", "Summary"), *([("comparison", "Baseline")] if comparison else []),
           ("slices", "Slices")]
    title = f"{result['model']} on {dataset['name']}"
    return page.document(f"simgen eval: {title}", f"Evaluation: {title}", nav, sections,
                         {"overall": result["overall"], "regressed": sorted(regressed)},
                         "eval-data")


def write_eval_outputs(result: dict, out_dir: Path) -> Path:
    """Write ``plots/*.svg`` (a figure per slice kind, and the comparison when there is
    one) and ``eval.html`` into ``out_dir``; returns the page's path."""
    figures = {kind: kind_figure(result, kind) for kind in _kinds(result)}
    if result.get("comparison") is not None:
        figures["comparison"] = comparison_figure(result)
    plots = out_dir / PLOTS_DIR
    plots.mkdir(parents=True, exist_ok=True)
    for name, figure in figures.items():
        atomic_write_text(plots / f"{name}.svg", figure + "\n")
    path = out_dir / EVAL_PAGE
    atomic_write_text(path, render_eval_page(result, figures))
    return path
