"""The HTML dataset report: it renders in a browser, its numbers are the dataset's, its
goodness-of-fit checks catch a wrongly drawn parameter, and it is reproducible."""

from __future__ import annotations

import json
import re
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from conftest import ROOT, chromium, figures_rendered, generate
from scipy import stats

from simgen.errors import SimgenError
from simgen.reports.report import (
    expected_occupied_share,
    measure_coverage,
    occupied_share,
    render_report,
    write_report,
)
from simgen.spec.distributions import Choice, LogUniform, Normal, RandInt, Uniform

OVERRIDES = ["episodes=6", "seed=3", "duration_s=1.0", "capture.width=160", "capture.height=120"]
#: The scenario's numeric parameters outside edge cases that this seed draws (fog, rain
#: and lens dirt are on in some episodes).
NUMERIC_PARAMETERS = {
    "world.ego.behaviour.speed_mps", "world.ego.placement.x_m",
    "world.actors[0].count", "world.actors[0].behaviour.speed_mps",
    "world.actors[0].placement.x_m", "world.actors[1].count", "world.actors[1].placement.x_m",
    "world.actors[2].count", "world.actors[2].placement.x_m",
    "lighting.sun_azimuth_deg", "lighting.intensity", "weather.rain.rate_mm_per_h",
    "weather.rain.wetness", "weather.motion_blur.exposure_s", "weather.fog.visibility_m",
    "weather.lens.dirt", "weather.lens.droplets",
}
SECTIONS_WITH_FIGURES = ("classes", "box-size", "visibility", "coverage", "edge-cases",
                         "samples", "performance")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    """driving_edge_cases, 6 short episodes at 160x120 with fog, times of day, edge cases."""
    out = tmp_path_factory.mktemp("report") / "ds"
    generate(ROOT / "scenarios" / "driving_edge_cases.yaml", out, OVERRIDES)
    return out


@pytest.fixture(scope="module")
def report(dataset: Path) -> Path:
    """The dataset's report, written to its default place."""
    return write_report(dataset)


def report_data(path: Path) -> dict:
    """The report's machine-readable numbers (its report-data JSON block)."""
    html = path.read_text(encoding="utf-8")
    match = re.search(r'<script type="application/json" id="report-data">(.*?)</script>',
                      html, re.S)
    assert match, "no report-data block"
    return json.loads(match.group(1))


def test_report_renders_every_figure_in_chromium(report: Path, tmp_path: Path):
    html = report.read_text(encoding="utf-8")
    figures_in_html = len(re.findall(r'<svg class="figure"', html)) + html.count("<img ")
    figures, ok, failed = figures_rendered(report, tmp_path)
    assert failed == "" and figures == ok == figures_in_html
    sections = dict(re.findall(r'<section id="([^"]+)"(.*?)</section>', html, re.S))
    for name in SECTIONS_WITH_FIGURES:
        assert '<svg class="figure"' in sections[name] or "<img " in sections[name], name
    assert figures_in_html >= len(SECTIONS_WITH_FIGURES)

    shot = tmp_path / "report.png"
    chromium(f"--screenshot={shot}", "--window-size=1200,3000", report.as_uri(), tmp=tmp_path)
    pixels = cv2.imread(str(shot), cv2.IMREAD_GRAYSCALE)
    assert pixels is not None and pixels.shape == (3000, 1200)
    assert pixels.std() > 20  # text, tables and charts, not a blank page
    assert (pixels < 128).mean() > 0.01


def test_report_numbers_are_the_datasets(dataset: Path, report: Path):
    data = report_data(report)
    manifest = json.loads((dataset / "dataset.json").read_text())
    boxes = pd.read_parquet(dataset / "boxes.parquet")
    frame_objects = pd.read_parquet(dataset / "frame_objects.parquet")
    episodes = pd.read_parquet(dataset / "episodes.parquet")

    assert data["summary"]["episodes"] == manifest["counts"]["episodes"] == 6
    assert data["summary"]["labels"] == manifest["counts"]["labels"] == len(boxes)
    labels = {row["class"]: row["labels"] for row in data["classes"] if row["labels"]}
    assert labels == boxes["class"].value_counts().to_dict()
    frames = {row["class"]: row["frames"] for row in data["classes"] if row["frames"]}
    assert frames == boxes.groupby("class")["image_id"].nunique().to_dict()
    assert data["status_counts"] == {s: int((frame_objects["status"] == s).sum())
                                     for s in ("labeled", "below_rule", "hidden")}
    assert sum(data["box_size"]["counts"]) == len(boxes)

    weights = episodes["importance_weight"].to_numpy()
    fired_sets = [set(str(s).split(",")) for s in episodes["edge_cases"].fillna("")]
    configured = {k: v for k, v in manifest["scenario"]["edge_cases"].items() if v}
    rates = {r["name"]: r for r in data["edge_cases"]}
    assert set(rates) == set(configured)
    for name, settings in configured.items():
        fired = np.array([name in s for s in fired_sets])
        assert rates[name]["fired_episodes"] == fired.sum()
        assert rates[name]["raw_rate"] == pytest.approx(fired.mean())
        assert rates[name]["weighted_rate"] == pytest.approx(weights[fired].sum() / weights.sum())
        assert rates[name]["probability"] == settings["probability"]
    assert sum(r["fired_episodes"] > 0 for r in rates.values()) >= 3

    parameters = {p["path"]: p for p in data["coverage"]["parameters"]}
    numeric = {path for path, p in parameters.items() if p["kind"] != "categorical"}
    fired_names = set().union(*fired_sets) - {""}
    edge_numeric = {f"edge_cases.{name}.{field}" for name in fired_names
                    for field, raw in configured[name].items()
                    if isinstance(raw, dict) and raw.keys() & {"uniform", "loguniform",
                                                               "normal", "randint"}}
    assert episodes["weather.fog.on"].any() and episodes["weather.lens.on"].any()
    assert numeric == NUMERIC_PARAMETERS | edge_numeric
    assert {"lighting.time_of_day", "world.ego.colour", "world.actors[0].asset"} <= set(parameters)
    assert not any(p.startswith(("seed", "require.", "cameras[")) for p in parameters)
    for p in parameters.values():
        assert sum(p["observed"]) == p["n"]
        assert sum(p["expected"]) == pytest.approx(p["n"])
    # per-body draws pool over the group: one x_m per traffic car
    assert parameters["world.actors[0].placement.x_m"]["n"] == \
        episodes["world.actors[0].count"].sum()
    azimuth = episodes["lighting.sun_azimuth_deg"]
    assert parameters["lighting.sun_azimuth_deg"]["p_value"] == pytest.approx(
        stats.kstest(azimuth, stats.uniform(0, 360).cdf).pvalue)
    times = parameters["lighting.time_of_day"]
    assert times["bins"] == ["night", "dusk", "day"]
    assert times["observed"] == [int((episodes["lighting.time_of_day"] == t).sum())
                                 for t in ("night", "dusk", "day")]
    assert times["expected"] == pytest.approx([3.0, 1.5, 1.5])
    for pair in data["coverage"]["pairs"]:
        assert pair["n"] == 6 and pair["cells"] == 2
        assert pair["expected_share"] == pytest.approx(1 - 0.75 ** 6)
    assert len(data["coverage"]["pairs"]) == 15

    slice_names = {s["name"] for s in data["slices"]}
    assert {"fog=on", "fog=off", "time_of_day=night", "edge_case=hard_brake"} <= slice_names
    assert all(1 <= len(s["image_ids"]) <= min(4, s["frames"]) for s in data["slices"])
    html = report.read_text(encoding="utf-8")
    assert html.count("<img ") == sum(len(s["image_ids"]) for s in data["slices"])
    assert data["performance"]["totals"]["frames_made"] == manifest["counts"]["frames"]


@pytest.mark.parametrize("dist, right, wrong", [
    (Uniform(0.0, 10.0), lambda r, n: r.uniform(0, 10, n), lambda r, n: r.uniform(2, 10, n)),
    (LogUniform(30.0, 500.0), lambda r, n: np.exp(r.uniform(np.log(30), np.log(500), n)),
     lambda r, n: r.uniform(30, 500, n)),
    (Normal(5.0, 2.0, 0.0, 8.0),
     lambda r, n: stats.truncnorm(-2.5, 1.5, 5, 2).rvs(n, random_state=r),
     lambda r, n: stats.truncnorm(-3, 1, 6, 2).rvs(n, random_state=r)),
    (RandInt(0, 10), lambda r, n: r.integers(0, 11, n), lambda r, n: r.integers(0, 8, n)),
    (Choice(("sedan", "van"), (0.7, 0.3)), lambda r, n: r.choice(["sedan", "van"], n, p=[.7, .3]),
     lambda r, n: r.choice(["sedan", "van"], n)),
])
def test_goodness_of_fit_accepts_right_draws_and_flags_shifted_ones(dist, right, wrong):
    rng = np.random.default_rng(2024)
    good = measure_coverage(dist, right(rng, 400))
    bad = measure_coverage(dist, wrong(rng, 400))
    assert good.p_value > 0.05
    assert bad.p_value < 1e-4
    for coverage in (good, bad):
        assert sum(coverage.observed) == 400
        assert sum(coverage.expected) == pytest.approx(400)
    # the right draws fill each bin close to its expected count
    observed, expected = np.array(good.observed), np.array(good.expected)
    assert np.all(np.abs(observed - expected) < 5 * np.sqrt(expected) + 2)


def test_expected_occupied_share_matches_uniform_points():
    rng = np.random.default_rng(5)
    shares = [occupied_share(rng.uniform(size=12), rng.uniform(size=12), 3)
              for _ in range(2000)]
    assert np.mean(shares) == pytest.approx(expected_occupied_share(12, 3), abs=0.01)
    assert occupied_share(np.full(12, 0.1), np.full(12, 0.1), 3) == pytest.approx(1 / 9)


def test_report_is_reproducible_and_self_contained(dataset: Path, report: Path,
                                                   tmp_path: Path):
    again = write_report(dataset, tmp_path / "again.html")
    assert again.read_bytes() == report.read_bytes()
    html = report.read_text(encoding="utf-8")
    assert "<script src" not in html and "<link" not in html
    assert not re.search(r'(src|href)="(https?:)?//', html)


def test_report_of_a_folder_that_is_no_dataset_is_a_one_line_error(tmp_path: Path):
    with pytest.raises(SimgenError) as error:
        render_report(tmp_path)
    assert "\n" not in str(error.value) and "dataset" in str(error.value)
