"""Samplers match their distributions; the seed tree makes episodes reproducible and
independent; placement keeps bodies apart; nothing touches global random state.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from conftest import ROOT
from pydantic import BaseModel
from scipy import stats

from simgen.errors import SimgenError
from simgen.sampling.draw import draw, truncated_normal
from simgen.sampling.episode import plan_episode
from simgen.sampling.seeds import episode_seeds
from simgen.spec import Scenario, load_scenario
from simgen.spec.distributions import (
    Choice,
    Const,
    LogUniform,
    Normal,
    RandInt,
    Uniform,
)
from simgen.spec.source import parse_field_path

DRIVING = ROOT / "scenarios" / "driving_urban.yaml"
ROBOTICS = ROOT / "scenarios" / "robot_tabletop.yaml"
PACKAGE = ROOT / "simgen"

N = 20_000
SEED = 20240601
P_MIN = 1e-3


def draws(dist, n: int = N, seed: int = SEED) -> list[Any]:
    """``n`` values of ``dist`` from one explicitly seeded generator."""
    rng = np.random.default_rng(seed)
    return [draw(dist, rng) for _ in range(n)]


# --- samplers: KS / chi-squared against the exact distribution ------------------------------


def test_uniform_matches_cdf_and_support():
    low, high = -2.0, 3.5
    x = np.array(draws(Uniform(low, high)))
    assert low <= x.min() and x.max() <= high
    assert stats.kstest(x, stats.uniform(loc=low, scale=high - low).cdf).pvalue > P_MIN


def test_untruncated_normal_matches_cdf():
    mean, std = 1.5, 0.7
    x = np.array(draws(Normal(mean, std)))
    assert stats.kstest(x, stats.norm(loc=mean, scale=std).cdf).pvalue > P_MIN


@pytest.mark.parametrize(
    ("mean", "std", "low", "high"),
    [
        (1.4, 0.2, 0.8, 2.0),            # the shipped pedestrian speed
        (0.0, 1.0, 0.5, np.inf),         # one-sided
        (0.0, 1.0, -np.inf, -3.0),       # one-sided, lower tail
        (10.0, 2.0, 9.0, 9.5),           # narrow window below the mean
        (0.0, 1.0, 5.0, 6.0),            # far upper tail
        (0.0, 1.0, 8.0, 9.0),            # beyond where Phi(z) rounds to 1
        (0.0, 1.0, -9.0, -8.0),          # same, lower tail
        (3.0, 0.5, 18.0, 18.5),          # 30 std out
    ],
)
def test_truncated_normal_matches_truncnorm_and_stays_in_bounds(mean, std, low, high):
    x = np.array(draws(Normal(mean, std, low, high)))
    assert low <= x.min() and x.max() <= high
    assert np.unique(x).size > N // 2, "draws collapsed onto a few values"
    exact = stats.truncnorm((low - mean) / std, (high - mean) / std, loc=mean, scale=std)
    assert stats.kstest(x, exact.cdf).pvalue > P_MIN


def test_truncated_normal_function_draws_one_uniform_per_call():
    a, b = np.random.default_rng(1), np.random.default_rng(1)
    truncated_normal(0.0, 1.0, 5.0, 6.0, a)
    b.uniform()
    assert a.bit_generator.state == b.bit_generator.state


def test_loguniform_matches_cdf_and_support():
    low, high = 0.1, 10.0
    x = np.array(draws(LogUniform(low, high)))
    assert low <= x.min() and x.max() <= high
    assert stats.kstest(x, stats.loguniform(low, high).cdf).pvalue > P_MIN


def test_loguniform_never_rounds_past_its_bounds():
    # exp(log(10)) > 10 in floating point: a draw at the top of the range must not exceed it.
    for low, high in [(0.1, 10.0), (7.0, 60.0), (2.5, 3.0)]:
        x = draws(LogUniform(low, high), n=2000)
        assert all(low <= v <= high for v in x)
    assert draws(LogUniform(10.0, 10.0), n=10) == [10.0] * 10


def test_randint_is_uniform_on_inclusive_range():
    low, high = 2, 7
    x = draws(RandInt(low, high))
    assert all(isinstance(v, int) for v in x)
    counts = Counter(x)
    values = list(range(low, high + 1))
    assert set(counts) == set(values)  # both ends are reachable, nothing outside
    observed = [counts[v] for v in values]
    assert stats.chisquare(observed).pvalue > P_MIN


@pytest.mark.parametrize("weights", [(1.0, 2.0, 7.0), (0.2, 0.0, 0.8), None])
def test_choice_matches_weights(weights):
    options = ("a", "b", "c")
    x = draws(Choice(options, weights))
    counts = Counter(x)
    assert set(counts) <= set(options)
    w = np.ones(len(options)) if weights is None else np.asarray(weights)
    p = w / w.sum()
    for option, share in zip(options, p, strict=True):
        if share == 0:
            assert counts[option] == 0
    kept = [i for i, share in enumerate(p) if share > 0]
    observed = [counts[options[i]] for i in kept]
    expected = [N * p[i] for i in kept]
    assert stats.chisquare(observed, expected).pvalue > P_MIN


def test_choice_returns_options_unchanged():
    options = ((1.0, 0.0, 0.0), "red")
    assert set(draws(Choice(options), n=200)) == set(options)


def test_constant_is_returned_without_drawing():
    rng = np.random.default_rng(5)
    before = rng.bit_generator.state
    assert draw(Const(3.25), rng) == 3.25
    assert rng.bit_generator.state == before


def test_same_generator_seed_gives_same_draws():
    dist = Normal(0.0, 1.0, -1.0, 2.0)
    assert draws(dist, n=100, seed=3) == draws(dist, n=100, seed=3)
    assert draws(dist, n=100, seed=3) != draws(dist, n=100, seed=4)


# --- seed tree -----------------------------------------------------------------------------


def stream(gen: np.random.Generator, n: int = 8) -> list[int]:
    """The next ``n`` integers of a generator, to compare streams."""
    return gen.integers(0, 2**62, size=n).tolist()


def test_episode_seeds_are_reproducible():
    a, b = episode_seeds(7, 3), episode_seeds(7, 3)
    assert a.seed == b.seed and a.index == b.index == 3
    assert stream(a.sampling) == stream(b.sampling)
    assert stream(a.behaviour) == stream(b.behaviour)


@pytest.mark.parametrize(("other_root", "other_index"), [(7, 4), (8, 3), (0, 0)])
def test_episode_seeds_differ_across_episodes_and_roots(other_root, other_index):
    a, b = episode_seeds(7, 3), episode_seeds(other_root, other_index)
    assert a.seed != b.seed
    assert stream(a.sampling) != stream(b.sampling)
    assert stream(a.behaviour) != stream(b.behaviour)


def test_sampling_and_behaviour_streams_are_distinct():
    s = episode_seeds(7, 0)
    assert stream(s.sampling) != stream(s.behaviour)


@pytest.mark.parametrize("n_episodes", [4, 10, 1000])
def test_episode_stream_does_not_depend_on_run_length(n_episodes):
    # Episode 3's generators are the children of SeedSequence(root).spawn(n)[3] for any n.
    child = np.random.SeedSequence(7).spawn(n_episodes)[3]
    sampling_seq, behaviour_seq = child.spawn(2)
    s = episode_seeds(7, 3)
    assert stream(s.sampling) == stream(np.random.Generator(np.random.PCG64(sampling_seq)))
    assert stream(s.behaviour) == stream(np.random.Generator(np.random.PCG64(behaviour_seq)))


def test_recorded_seed_uses_all_63_bits():
    seeds = [episode_seeds(7, i).seed for i in range(256)]
    assert all(0 <= s < 2**63 for s in seeds)
    assert len(set(seeds)) == len(seeds)
    # Every low bit takes both values across episodes (no float rounding of the summary).
    for bit in range(12):
        assert len({(s >> bit) & 1 for s in seeds}) == 2, f"bit {bit} is constant"
    assert max(seeds) >= 2**62  # the top bit is used too


# --- episode plans -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def driving() -> Scenario:
    return load_scenario(DRIVING)


def test_plan_is_reproducible(driving: Scenario):
    assert plan_episode(driving, 3, DRIVING.parent) == plan_episode(driving, 3, DRIVING.parent)


def test_plan_does_not_depend_on_other_episodes(driving: Scenario):
    alone = plan_episode(load_scenario(DRIVING), 3, DRIVING.parent)
    for i in range(3):
        plan_episode(driving, i, DRIVING.parent)
    assert plan_episode(driving, 3, DRIVING.parent) == alone


def test_plans_differ_between_episodes_and_seeds(driving: Scenario):
    first = plan_episode(driving, 0, DRIVING.parent)
    assert plan_episode(driving, 1, DRIVING.parent).sampled != first.sampled
    reseeded = load_scenario(DRIVING, [f"seed={driving.seed + 1}"])
    assert plan_episode(reseeded, 0, DRIVING.parent).sampled != first.sampled


def test_sampled_records_ego_speed_within_yaml_range(driving: Scenario):
    low, high = yaml.safe_load(DRIVING.read_text())["world"]["ego"]["behaviour"][
        "speed_mps"]["uniform"]
    for i in range(5):
        plan = plan_episode(driving, i, DRIVING.parent)
        speed = plan.sampled["world.ego.instances[0].behaviour.speed_mps"]
        assert low <= speed <= high
        ego = next(b for b in plan.bodies if b.group == driving.world.ego.name)
        assert ego.behaviour_params["speed_mps"] == speed


#: Random draws a region makes on its own, with no spec field behind them.
IMPLICIT_DRAWS = ("placement.sidewalk_offset_m",)


def spec_value(scenario: Scenario, path: str) -> Any:
    """The spec value a sampled path came from (``instances[i]`` maps to its group).

    None for an implicit draw (a field left unspecified, or a region's own draw).
    """
    if path.endswith(IMPLICIT_DRAWS):
        return None
    loc = list(parse_field_path(path))
    if "instances" in loc:
        at = loc.index("instances")
        del loc[at:at + 2]
    node: Any = scenario
    for part in loc:
        if isinstance(part, int):
            node = node[part]
        elif isinstance(node, BaseModel):
            node = getattr(node, part)
        else:
            raise KeyError(path)
    return node


def random_fields(scenario: Scenario, plan) -> dict[str, Any]:
    """Every path where the scenario holds a non-constant distribution that gets drawn."""
    out: dict[str, Any] = {}

    def walk(value: Any, path: str) -> None:
        if isinstance(value, Uniform | Normal | LogUniform | RandInt | Choice):
            out[path] = value
        elif isinstance(value, BaseModel):
            for name in type(value).model_fields:
                walk(getattr(value, name), f"{path}.{name}" if path else name)
        elif isinstance(value, tuple | list):
            for i, item in enumerate(value):
                walk(item, f"{path}[{i}]")

    for name in ("duration_s", "physics", "cameras"):
        walk(getattr(scenario, name), name)
    walk(scenario.world.road, "world.road")
    for gpath, group in scenario.world.groups():
        count = group.count.value if isinstance(group.count, Const) \
            else plan.sampled[f"{gpath}.count"]
        walk(group.count, f"{gpath}.count")
        for name in type(group).model_fields:
            if name != "count":
                for i in range(count):
                    walk(getattr(group, name), f"{gpath}.instances[{i}].{name}")
    return out


def in_support(dist: Any, value: Any) -> bool:
    """Whether ``value`` is one ``dist`` can produce."""
    if isinstance(dist, Choice):
        return value in dist.options
    low, high = (dist.min, dist.max) if isinstance(dist, Normal) else (dist.low, dist.high)
    return low <= value <= high


def test_sampled_covers_every_random_field_and_no_constant(driving: Scenario):
    for i in range(4):
        plan = plan_episode(driving, i, DRIVING.parent)
        expected = random_fields(driving, plan)
        assert len(expected) > 20
        missing = sorted(set(expected) - set(plan.sampled))
        assert not missing, f"not recorded: {missing}"
        for path, dist in expected.items():
            assert in_support(dist, plan.sampled[path]), path
        for path in plan.sampled:
            source = spec_value(driving, path)
            # None: a placement left unspecified in the YAML, drawn implicitly.
            assert source is None or not isinstance(source, Const), f"{path} is constant"


def test_robotics_sampled_has_no_constant_fields():
    scenario = load_scenario(ROBOTICS)
    plan = plan_episode(scenario, 0, ROBOTICS.parent)
    constants = [p for p in plan.sampled
                 if not p.endswith((".behaviour.target", ".behaviour.place_position_m"))
                 and isinstance(spec_value(scenario, p), Const)]
    assert not constants


# --- placement -----------------------------------------------------------------------------


PLACEMENT_SCENARIO = """\
name: spacing
domain: driving
seed: 5
cameras:
  - {name: top, position_m: [0, 0, 50], look_at_m: [1, 0, 0]}
world:
  road: {lanes: 2, oncoming_lanes: 1, length_m: 220, start_x_m: -40}
  ego:
    name: ego
    class: car
    asset: sedan
    placement: {region: lane, lane: 0, x_m: -30, min_spacing_m: 1}
  actors:
    - name: parked
      class: car
      asset: sedan
      count: COUNT
      placement: {region: shoulder, side: right, x_m: {uniform: [0, 150]}, min_spacing_m: SPACING}
      behaviour: {kind: parked}
    - name: traffic
      class: car
      asset: van
      count: 8
      placement: {region: lane, min_spacing_m: 12}
      behaviour: {kind: lane_follow}
"""


def placement_scenario(tmp_path: Path, count: int, spacing: float) -> Path:
    """A driving scenario whose shoulder group has ``count`` bodies ``spacing`` m apart."""
    text = PLACEMENT_SCENARIO.replace("COUNT", str(count)).replace("SPACING", str(spacing))
    path = tmp_path / "spacing.yaml"
    path.write_text(text)
    return path


def test_group_bodies_keep_min_spacing_in_their_strip(tmp_path: Path):
    path = placement_scenario(tmp_path, count=6, spacing=12)
    scenario = load_scenario(path)
    for index in range(6):
        plan = plan_episode(scenario, index, path.parent)
        for group in scenario.world.actors:
            bodies = [b for b in plan.bodies if b.group == group.name]
            assert len(bodies) == group.count.value
            strips: dict[float, list] = {}
            for body in bodies:  # bodies of one strip (lane or shoulder) share its y
                strips.setdefault(round(body.position_m[1], 6), []).append(body)
            for members in strips.values():
                for i, a in enumerate(members):
                    for b in members[i + 1:]:
                        gap = np.hypot(a.position_m[0] - b.position_m[0],
                                       a.position_m[1] - b.position_m[1])
                        assert gap >= group.placement.min_spacing_m, (a.name, b.name, gap)


def test_impossible_placement_names_the_group(tmp_path: Path):
    path = placement_scenario(tmp_path, count=50, spacing=50)
    scenario = load_scenario(path)
    with pytest.raises(SimgenError) as info:
        plan_episode(scenario, 0, path.parent)
    assert "world.actors[0]" in str(info.value)
    assert "parked" in str(info.value)


# --- no global random state ----------------------------------------------------------------


@pytest.fixture
def global_random_restored():
    """Let a test seed and drain the global generators, then put them back."""
    np_state, py_state = np.random.get_state(), random.getstate()  # noqa: NPY002
    yield
    np.random.set_state(np_state)  # noqa: NPY002
    random.setstate(py_state)


def global_states() -> tuple:
    kind, keys, pos, has_gauss, gauss = np.random.get_state()  # noqa: NPY002
    return (kind, keys.tolist(), pos, has_gauss, gauss), random.getstate()


@pytest.mark.usefixtures("global_random_restored")
def test_plan_ignores_and_leaves_global_random_state(driving: Scenario):
    np.random.seed(1)  # noqa: NPY002 (the legacy global state is what is under test)
    random.seed(1)
    before = global_states()
    first = plan_episode(driving, 2, DRIVING.parent)
    assert global_states() == before  # planning drew nothing from the global generators
    np.random.seed(99)  # noqa: NPY002
    np.random.random(12345)  # noqa: NPY002
    random.seed(99)
    [random.random() for _ in range(1000)]
    assert plan_episode(driving, 2, DRIVING.parent) == first  # and does not depend on them


ALLOWED_NP_RANDOM = {"Generator", "SeedSequence", "PCG64", "default_rng"}
NP_RANDOM_CALL = re.compile(r"\b(?:np|numpy)\.random\.(\w+)\s*\(")
NP_RANDOM_IMPORT = re.compile(r"from\s+numpy\.random\s+import\s+([\w ,()]+)")
STDLIB_RANDOM = re.compile(r"^\s*(?:import\s+random\b|from\s+random\s+import)", re.M)
UNSEEDED_DEFAULT_RNG = re.compile(r"default_rng\(\s*\)")


def global_random_uses(source: str) -> list[str]:
    """Calls and imports in ``source`` that reach global or unseeded random state."""
    found = [f"np.random.{name}(" for name in NP_RANDOM_CALL.findall(source)
             if name not in ALLOWED_NP_RANDOM]
    for names in NP_RANDOM_IMPORT.findall(source):
        found += [n for n in re.findall(r"\w+", names) if n not in ALLOWED_NP_RANDOM]
    found += STDLIB_RANDOM.findall(source)
    found += UNSEEDED_DEFAULT_RNG.findall(source)
    return found


@pytest.mark.parametrize(
    ("snippet", "bad"),
    [
        ("x = np.random.uniform(0, 1)", True),
        ("np.random.seed(3)", True),
        ("numpy.random.normal()", True),
        ("rng = np.random.default_rng()", True),
        ("import random\n", True),
        ("from random import random", True),
        ("from numpy.random import rand", True),
        ("rng = np.random.default_rng(seed)", False),
        ("g = np.random.Generator(np.random.PCG64(np.random.SeedSequence(1)))", False),
        ("def f(rng: np.random.Generator): return rng.uniform()", False),
    ],
)
def test_global_random_detector(snippet: str, bad: bool):
    assert bool(global_random_uses(snippet)) is bad


def test_no_module_uses_global_random_state():
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) >= 10
    offenders = {str(f.relative_to(ROOT)): uses for f in files
                 if (uses := global_random_uses(f.read_text(encoding="utf-8")))}
    assert not offenders


def test_a_drawn_lane_beyond_the_drawn_road_is_an_error():
    """With a random lane count, a lane the episode's road lacks fails loudly, not clamped."""
    scenario = load_scenario(DRIVING, ["world.road.lanes={randint: [1, 2]}",
                                       "world.road.oncoming_lanes=0",
                                       "world.ego.placement.lane=1"])
    outcomes = []
    for index in range(12):
        try:
            plan = plan_episode(scenario, index, DRIVING.parent)
        except SimgenError as exc:
            assert "world.ego.instances[0].placement.lane: lane 1" in str(exc)
            outcomes.append("error")
        else:
            assert plan.road.lanes == 2
            outcomes.append("ok")
    assert set(outcomes) == {"ok", "error"}
