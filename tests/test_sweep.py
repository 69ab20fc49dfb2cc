"""Sweeps: designs, the scenario of each point, validation and what a run records."""

from __future__ import annotations

import itertools
import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import digest
from scipy import stats

from simgen.errors import SimgenError, SpecError
from simgen.evaluation.slices import image_slices
from simgen.runner.run import run_scenario
from simgen.sampling.draw import draw, quantile
from simgen.sampling.episode import plan_episode
from simgen.sampling.sweep import sweep_points, unit_design
from simgen.spec import load_scenario
from simgen.spec.distributions import Choice, LogUniform, Normal, RandInt, Uniform

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = ROOT / "scenarios" / "sweep_weather_lighting.yaml"


def _with(*overrides: str):
    return load_scenario(SCENARIO, list(overrides))


def _ranged(design: str, points: int, seed: int = 11):
    """The example scenario swept by ``design`` over three ranges of different kinds."""
    return _with(f"sweep.design={design}", f"sweep.points={points}", f"seed={seed}",
                 "sweep.parameters=[{path: lighting.sun_elevation_deg, range: [2, 60]},"
                 " {path: weather.fog.visibility_m, range: {loguniform: [30, 500]}},"
                 " {path: duration_s, range: {normal: {mean: 2, std: 0.5, min: 1, max: 4}}}]")


def _cdfs(scenario, points) -> np.ndarray:
    """Each point's coordinates back in [0, 1) through its parameter's CDF."""
    out = []
    for point in points:
        row = []
        for p in scenario.sweep.parameters:
            v, d = point.values[p.path], p.range
            if isinstance(d, Uniform):
                row.append((v - d.low) / (d.high - d.low))
            elif isinstance(d, LogUniform):
                row.append(math.log(v / d.low) / math.log(d.high / d.low))
            else:
                a, b = (d.min - d.mean) / d.std, (d.max - d.mean) / d.std
                row.append(stats.truncnorm.cdf(v, a, b, loc=d.mean, scale=d.std))
        out.append(row)
    return np.array(out)


def _one_per_stratum(column: np.ndarray, strata: int) -> bool:
    cells = np.minimum((column * strata).astype(int), strata - 1)
    return sorted(cells.tolist()) == list(range(strata))


def test_grid_enumerates_the_cartesian_product_exactly():
    scenario = _with("sweep.parameters=[{path: lighting.time_of_day, values: [day, night]},"
                     " {path: duration_s, values: [1.0, 1.5, 2.0]},"
                     " {path: lighting.intensity, values: [0.5, 1.0]}]",
                     "sweep.episodes_per_point=2")
    points = sweep_points(scenario.sweep, scenario.seed)
    combos = [tuple(p.values.values()) for p in points]
    # every combination once, the first parameter varying slowest
    assert combos == list(itertools.product(["day", "night"], [1.0, 1.5, 2.0], [0.5, 1.0]))
    assert [p.index for p in points] == list(range(12))
    assert scenario.episodes == 24
    for index in (0, 7, 23):
        plan = plan_episode(scenario, index, SCENARIO.parent)
        point = points[index // 2]
        assert plan.sampled["sweep.point"] == point.index
        # the point's values reach the episode itself, not only its record
        assert plan.atmosphere.lighting.time_of_day == point.values["lighting.time_of_day"]
        assert plan.duration_s == point.values["duration_s"]
        assert plan.atmosphere.lighting.intensity == point.values["lighting.intensity"]
        assert plan.sampled["sweep.duration_s"] == point.values["duration_s"]


def test_latin_hypercube_puts_one_point_in_every_stratum_of_every_range():
    scenario = _ranged("latin_hypercube", 20)
    points = sweep_points(scenario.sweep, scenario.seed)
    u = _cdfs(scenario, points)
    assert u.shape == (20, 3) and (u >= 0).all() and (u <= 1).all()
    for column in u.T:
        assert _one_per_stratum(column, 20)
    # the check has teeth: 20 independent uniform points almost never pass it
    random = _cdfs(scenario, sweep_points(_ranged("random", 20).sweep, scenario.seed))
    assert not any(_one_per_stratum(column, 20) for column in random.T)


def _is_net(x: np.ndarray, y: np.ndarray, m: int, t: int) -> bool:
    """Whether 2**m points form a (t, m, 2)-net: every box of 2**a x 2**b equal cells
    with a + b = m - t holds exactly 2**t points."""
    for a in range(m - t + 1):
        rows, cols = 2 ** a, 2 ** (m - t - a)
        cells = (np.minimum((x * rows).astype(int), rows - 1) * cols
                 + np.minimum((y * cols).astype(int), cols - 1))
        if not (np.bincount(cells, minlength=rows * cols) == 2 ** t).all():
            return False
    return True


def test_sobol_points_form_a_net_in_one_and_two_dimensions():
    scenario = _ranged("sobol", 32)
    u = _cdfs(scenario, sweep_points(scenario.sweep, scenario.seed))
    for column in u.T:
        assert _one_per_stratum(column, 32)
    # Sobol's first two coordinates form a (0, 5, 2)-net, pairs with the third a (1, 5, 2)-net
    assert _is_net(u[:, 0], u[:, 1], 5, 0)
    assert _is_net(u[:, 0], u[:, 2], 5, 1) and _is_net(u[:, 1], u[:, 2], 5, 1)
    latin = _cdfs(scenario, sweep_points(_ranged("latin_hypercube", 32).sweep, scenario.seed))
    assert not _is_net(latin[:, 0], latin[:, 1], 5, 0)


def test_random_design_follows_the_ranges_distributions():
    scenario = _ranged("random", 3000)
    u = _cdfs(scenario, sweep_points(scenario.sweep, scenario.seed))
    for column in u.T:
        assert stats.kstest(column, "uniform").pvalue > 1e-3


def test_designs_depend_on_the_root_seed_alone():
    for design in ("random", "latin_hypercube", "sobol"):
        a = unit_design(_ranged(design, 16, seed=3).sweep, 3)
        assert np.array_equal(a, unit_design(_ranged(design, 16, seed=3).sweep, 3))
        assert not np.array_equal(a, unit_design(_ranged(design, 16, seed=4).sweep, 4))


@pytest.mark.parametrize("dist, ppf", [
    (Uniform(2.0, 7.0), lambda u: stats.uniform.ppf(u, 2, 5)),
    (LogUniform(3.0, 300.0), lambda u: stats.loguniform.ppf(u, 3, 300)),
    (Normal(1.0, 2.0, -1.0, 6.0), lambda u: stats.truncnorm.ppf(u, -1, 2.5, loc=1, scale=2)),
    (Normal(0.0, 1.0, 1.5, 5.0), lambda u: stats.truncnorm.ppf(u, 1.5, 5, loc=0, scale=1)),
])
def test_quantile_is_the_inverse_cdf(dist, ppf):
    u = np.linspace(0.001, 0.999, 41)
    ours = np.array([quantile(dist, float(x)) for x in u])
    assert np.allclose(ours, ppf(u), rtol=1e-9, atol=1e-9)
    assert np.all(np.diff(ours) > 0)


def test_quantile_of_discrete_distributions_gives_each_value_its_share():
    u = (np.arange(6000) + 0.5) / 6000
    ints = np.array([quantile(RandInt(-1, 4), float(x)) for x in u])
    assert np.array_equal(np.bincount(ints + 1), [1000] * 6)
    picks = [quantile(Choice(("a", "b", "c"), (1.0, 2.0, 3.0)), float(x)) for x in u]
    assert [picks.count(c) for c in "abc"] == [1000, 2000, 3000]
    # the same law as draw()
    rng = np.random.default_rng(0)
    drawn = [draw(Choice(("a", "b", "c"), (1.0, 2.0, 3.0)), rng) for _ in range(6000)]
    assert stats.chisquare([drawn.count(c) for c in "abc"], [1000, 2000, 3000]).pvalue > 1e-3


def test_an_episode_beyond_the_sweep_is_a_clear_error():
    scenario = _with()
    with pytest.raises(SimgenError, match="episode 18: the sweep has 18 episodes"):
        plan_episode(scenario, 18, SCENARIO.parent)


def test_episodes_default_to_the_sweep_and_may_only_be_fewer():
    assert _with().episodes == 18
    assert _with("sweep.episodes_per_point=3").episodes == 27
    assert _with("episodes=5").episodes == 5  # the first five episodes of the sweep
    with pytest.raises(SpecError) as err:
        _with("episodes=19")
    (line,) = err.value.lines
    assert line.startswith("--set:1: episodes: the sweep makes 18 episodes (9 points x 2")


def test_sweep_values_are_validated_where_they_are_written():
    text = SCENARIO.read_text(encoding="utf-8").splitlines()
    values_line = next(i for i, t in enumerate(text, 1) if "values: [day, dusk, night]" in t)
    with pytest.raises(SpecError) as err:
        _with("sweep.parameters[0].path=lighting.time_of_dya")
    (line,) = err.value.lines
    assert line.startswith(f"{SCENARIO}:{values_line}: lighting.time_of_dya: unknown field")
    assert "did you mean 'time_of_day'" in line and "'day', 'dusk', 'night'" in line
    with pytest.raises(SpecError) as err:
        _with("sweep.parameters[1].values=[null, {visibility_m: -3}]")
    assert err.value.lines == [
        "--set:1: weather.fog.visibility_m: must be > 0 and <= 100000, got -3 "
        "(sweep.parameters[1] sets it to {'visibility_m': -3})"]
    # an integer field refuses a continuous range (its interior values are not integers)
    with pytest.raises(SpecError, match=r"world.actors\[0\].count: expected an integer"):
        _with("sweep.design=sobol", "sweep.points=8",
              "sweep.parameters=[{path: world.actors.0.count, range: [1, 3]}]")
    assert _with("sweep.design=sobol", "sweep.points=8",
                 "sweep.parameters=[{path: world.actors.0.count, range: {randint: [1, 3]}}]")


@pytest.mark.parametrize("overrides, expected", [
    (["sweep.design=sobol"], "sweep.design: design 'sobol' needs points"),
    (["sweep.points=4"], "sweep.points: a grid has as many points as value combinations"),
    (["sweep.parameters[0].path=seed"], "sweep.parameters[0].path: seed is a run-level field"),
    (["sweep.parameters[1].path=lighting.time_of_day"],
     "sweep.parameters[1].path: lighting.time_of_day is swept twice"),
    (["sweep.design=random", "sweep.points=4"],
     "sweep.parameters[0]: a random parameter has a range"),
    (["sweep.parameters[0].range=[1, 2]"], "sweep.parameters[0]: a grid parameter lists"),
    (["sweep.design=random", "sweep.points=4",
      "sweep.parameters=[{path: duration_s, range: {normal: {mean: 2, std: 1}}}]"],
     "a normal range needs min and max"),
])
def test_bad_designs_are_one_line_errors(overrides, expected):
    with pytest.raises(SpecError) as err:
        _with(*overrides)
    # each problem names where it was written: the file and line, or the override
    assert all(re.match(r"^(.+\.yaml:\d+|--set:\d+): ", line) for line in err.value.lines)
    assert any(expected in line for line in err.value.lines), err.value.lines


def test_a_sweep_run_records_its_points_identically_on_any_worker_count(tmp_path):
    overrides = ["sweep.episodes_per_point=1", "sweep.parameters[1].values=[null, "
                 "{visibility_m: 30}]", "duration_s=0.4", "capture.width=96",
                 "capture.height=72"]
    scenario = load_scenario(SCENARIO, overrides)
    assert scenario.episodes == 6
    outs = {}
    for workers in (0, 2):
        outs[workers] = tmp_path / f"w{workers}"
        summary = run_scenario(scenario, SCENARIO, outs[workers], workers=workers)
        assert summary.episodes == 6 and not summary.failed
    assert digest(outs[0]) == digest(outs[2])

    out = outs[2]
    episodes = pd.read_parquet(out / "episodes.parquet")
    manifest = json.loads((out / "dataset.json").read_text())["sweep"]
    assert manifest["design"] == "grid" and len(manifest["points"]) == 6
    assert episodes["sweep.point"].tolist() == list(range(6))
    frames = pd.read_parquet(out / "frames.parquet")
    # evaluation and preview slice by point, each described by its values
    described = {s.name: s.description for s in image_slices(frames, episodes)
                 if s.kind == "sweep_point"}

    def text(value) -> str:  # as episodes.parquet records it
        return "null" if value is None else json.dumps(value, sort_keys=True) \
            if isinstance(value, dict) else str(value)
    assert described == {f"sweep.point={p['point']}": ", ".join(
        f"{path}={text(v)}" for path, v in p["values"].items()) for p in manifest["points"]}
    for point in manifest["points"]:
        (episode,) = range(point["episodes"][0], point["episodes"][1] + 1)
        row = episodes[episodes.episode == episode].iloc[0]
        values = point["values"]
        assert row["sweep.lighting.time_of_day"] == values["lighting.time_of_day"]
        # the conditions each frame was rendered under are the point's
        shot = frames[frames.episode == episode]
        assert (shot["lighting.time_of_day"] == values["lighting.time_of_day"]).all()
        fog = values["weather.fog"]
        assert (shot["weather.fog.on"] == (fog is not None)).all()
        if fog is not None:
            assert json.loads(row["sweep.weather.fog"]) == fog
            assert (shot["weather.fog.visibility_m"] == fog["visibility_m"]).all()
