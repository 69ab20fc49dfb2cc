"""Scenario validation: every bad input is one ``FILE:LINE: path: message`` line.

Each test writes a small scenario into ``tmp_path`` and derives the expected line
number from the text it wrote (the line holding the offending key), never from a
previous run of the code.
"""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import pytest
import yaml
from conftest import SCENARIOS

from simgen.catalog import ASSETS
from simgen.errors import SpecError
from simgen.spec import Scenario, load_scenario, scenario_json_schema, scenario_to_data
from simgen.spec.distributions import (
    Choice,
    Const,
    LogUniform,
    Normal,
    RandInt,
    Uniform,
)
from simgen.spec.source import apply_override, read_source

#: A small valid driving scenario; tests edit single lines of it.
BASE = """\
name: t
domain: driving
cameras:
  - name: front
    mount: ego
    position_m: [0.0, 0.0, 1.5]
    look_at_m: [10.0, 0.0, 0.0]
world:
  road:
    lanes: 2
  ego:
    name: ego
    class: car
    asset: sedan
    placement: {region: lane, lane: 0, x_m: 0}
    behaviour:
      kind: lane_follow
      speed_mps: 5
  actors:
    - name: traffic
      class: car
      asset: sedan
      count: 2
      placement:
        region: lane
        x_m: {uniform: [10, 50]}
"""

EGO_SPEED = "      speed_mps: 5"
EGO_SPEED_PATH = "world.ego.behaviour.speed_mps"


def edit(text: str, old_line: str, *new_lines: str) -> str:
    """Replace the one line equal to ``old_line`` by ``new_lines`` (none deletes it)."""
    lines = text.splitlines()
    hits = [i for i, line in enumerate(lines) if line == old_line]
    assert len(hits) == 1, f"{old_line!r} occurs {len(hits)} times"
    lines[hits[0]:hits[0] + 1] = list(new_lines)
    return "\n".join(lines) + "\n"


def line_of(text: str, line: str) -> int:
    """1-based number of the one line equal to ``line``."""
    hits = [i + 1 for i, x in enumerate(text.splitlines()) if x == line]
    assert len(hits) == 1, f"{line!r} occurs {len(hits)} times"
    return hits[0]


def write(tmp_path: Path, text: str, name: str = "scenario.yaml") -> Path:
    """Write a scenario file into the test's temporary folder."""
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def errors_of(path: Path, overrides: list[str] | None = None) -> list[str]:
    """The error lines validating ``path`` reports (the test fails if it validates)."""
    with pytest.raises(SpecError) as info:
        load_scenario(path, overrides or [])
    lines = info.value.lines
    assert lines and all("\n" not in line for line in lines)
    assert str(info.value).splitlines() == lines
    return lines


def one_error(path: Path, overrides: list[str] | None = None) -> str:
    """The single error line validating ``path`` reports."""
    lines = errors_of(path, overrides)
    assert len(lines) == 1, lines
    return lines[0]


def assert_error(line: str, where: str, field: str, *fragments: str) -> None:
    """``line`` is ``where: field: message`` with each fragment in the message."""
    prefix = f"{where}: {field}: "
    assert line.startswith(prefix), f"{line!r} does not start with {prefix!r}"
    message = line[len(prefix):]
    assert message.strip()
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"


# --- shipped scenarios -------------------------------------------------------------------


def test_scenarios_folder_is_not_empty():
    assert len(SCENARIOS) >= 2


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_shipped_scenario_validates(path: Path):
    scenario = load_scenario(path)
    assert scenario.name == yaml.safe_load(path.read_text())["name"]


def test_base_scenario_is_valid(tmp_path: Path):
    scenario = load_scenario(write(tmp_path, BASE))
    assert scenario.world.ego.behaviour.speed_mps == Const(5.0)


# --- unknown keys ------------------------------------------------------------------------


def test_unknown_top_level_key_names_its_line_and_suggests(tmp_path: Path):
    text = BASE + "durationn_s: 3\n"
    path = write(tmp_path, text)
    assert_error(one_error(path), f"{path}:{line_of(text, 'durationn_s: 3')}", "durationn_s",
                 "unknown field", "did you mean 'duration_s'")


def test_unknown_key_in_list_item(tmp_path: Path):
    text = edit(BASE, "      count: 2", "      cuont: 2")
    path = write(tmp_path, text)
    assert_error(one_error(path), f"{path}:{line_of(text, '      cuont: 2')}",
                 "world.actors[0].cuont", "did you mean 'count'")


def test_unknown_key_in_camera_list_item(tmp_path: Path):
    text = edit(BASE, "    mount: ego", "    mount: ego", "    fov_dg: 50")
    path = write(tmp_path, text)
    assert_error(one_error(path), f"{path}:{line_of(text, '    fov_dg: 50')}",
                 "cameras[0].fov_dg", "did you mean 'fov_deg'")


def test_unknown_key_in_behaviour(tmp_path: Path):
    text = edit(BASE, EGO_SPEED, "      speed_mpss: 5")
    path = write(tmp_path, text)
    assert_error(one_error(path), f"{path}:{line_of(text, '      speed_mpss: 5')}",
                 "world.ego.behaviour.speed_mpss", "did you mean 'speed_mps'")


def test_unknown_key_in_nested_placement_of_list_item(tmp_path: Path):
    text = edit(BASE, "        region: lane", "        region: lane", "        min_spacing: 3")
    path = write(tmp_path, text)
    assert_error(one_error(path), f"{path}:{line_of(text, '        min_spacing: 3')}",
                 "world.actors[0].placement.min_spacing", "did you mean 'min_spacing_m'")


# --- wrong types and bad distributions ------------------------------------------------------


@pytest.mark.parametrize("value", ["fast", "'5'", "true", "[1, 2]"])
def test_wrong_type_for_number(tmp_path: Path, value: str):
    bad = f"      speed_mps: {value}"
    text = edit(BASE, EGO_SPEED, bad)
    path = write(tmp_path, text)
    assert_error(one_error(path), f"{path}:{line_of(text, bad)}", EGO_SPEED_PATH,
                 "expected a number")


@pytest.mark.parametrize(
    ("value", "subpath", "fragments"),
    [
        ("{uniform: [9, 3]}", "uniform", ["low <= high", "[9, 3]"]),
        ("{uniform: [3]}", "uniform", ["two numbers"]),
        ("{unifrom: [3, 9]}", "unifrom", ["unknown distribution", "did you mean 'uniform'"]),
        ("{normal: {mean: 3}}", "normal", ["'std'"]),
        ("{normal: {mean: 3, stdd: 1}}", "normal.stdd", ["did you mean 'std'"]),
        ("{normal: {mean: 3, std: 0, min: 0, max: 5}}", "normal.std", ["> 0"]),
        ("{normal: {mean: 3, std: 1, min: 5, max: 1}}", "normal", ["min < max"]),
        ("{loguniform: [0, 3]}", "loguniform", ["0 < low"]),
        ("{choice: [1, 2, 3], weights: [1, 2]}", "weights", ["2 entries", "3"]),
        ("{choice: [1, 2], weights: [-1, 2]}", "weights", [">= 0"]),
        ("{choice: [1, 2], wieghts: [1, 2]}", "wieghts", ["unknown key"]),
        ("{choice: []}", "choice", ["non-empty"]),
        # Support outside the field's bounds (speed_mps is 0..60):
        ("{uniform: [-1, 3]}", "uniform", [">= 0", "[-1, 3]"]),
        ("{uniform: [10, 70]}", "uniform", ["<= 60"]),
        ("{normal: {mean: 3, std: 1}}", "normal", [">= 0", "min/max"]),
        ("{normal: {mean: 3, std: 1, min: -2, max: 5}}", "normal", [">= 0"]),
        ("{choice: [1, -2]}", "choice[1]", [">= 0"]),
    ],
)
def test_bad_distribution(tmp_path: Path, value: str, subpath: str, fragments: list[str]):
    bad = f"      speed_mps: {value}"
    text = edit(BASE, EGO_SPEED, bad)
    path = write(tmp_path, text)
    assert_error(one_error(path), f"{path}:{line_of(text, bad)}",
                 f"{EGO_SPEED_PATH}.{subpath}", *fragments)


def test_distribution_mapping_with_two_kinds_is_rejected(tmp_path: Path):
    bad = "      speed_mps: {uniform: [1, 2], randint: [1, 2]}"
    text = edit(BASE, EGO_SPEED, bad)
    path = write(tmp_path, text)
    assert_error(one_error(path), f"{path}:{line_of(text, bad)}", EGO_SPEED_PATH,
                 "exactly one of")


# --- unknown ids ---------------------------------------------------------------------------


def test_unknown_asset_suggests_closest(tmp_path: Path):
    text = edit(BASE, "    asset: sedan", "    asset: sedann")
    path = write(tmp_path, text)
    assert_error(one_error(path), f"{path}:{line_of(text, '    asset: sedann')}",
                 "world.ego.asset", "unknown asset 'sedann'", "did you mean 'sedan'")


def test_unknown_behaviour_kind_points_at_kind_key(tmp_path: Path):
    text = edit(BASE, "      kind: lane_follow", "      kind: lane_folow")
    path = write(tmp_path, text)
    assert_error(one_error(path), f"{path}:{line_of(text, '      kind: lane_folow')}",
                 "world.ego.behaviour.kind", "lane_folow", "did you mean 'lane_follow'")


def test_behaviour_without_kind_reports_the_behaviour(tmp_path: Path):
    text = edit(BASE, "      kind: lane_follow")
    path = write(tmp_path, text)
    assert_error(one_error(path), f"{path}:{line_of(text, '    behaviour:')}",
                 "world.ego.behaviour", "kind")


def test_unknown_renderer_suggests_closest(tmp_path: Path):
    text = BASE + "renderer: eggl\n"
    path = write(tmp_path, text)
    assert_error(one_error(path), f"{path}:{line_of(text, 'renderer: eggl')}", "renderer",
                 "eggl", "did you mean 'egl'")


# --- missing fields, YAML problems ---------------------------------------------------------


def test_missing_required_field_reports_parent_line(tmp_path: Path):
    text = edit(BASE, "    placement: {region: lane, lane: 0, x_m: 0}")
    path = write(tmp_path, text)
    assert_error(one_error(path), f"{path}:{line_of(text, '  ego:')}", "world.ego.placement",
                 "required")


def test_class_defaults_to_the_catalog_class_of_each_asset(tmp_path: Path):
    text = edit(BASE, "    class: car")
    scenario = load_scenario(write(tmp_path, text))
    assert scenario.world.ego.cls == ASSETS["sedan"].default_class
    # With a choice of catalog assets each body gets the class of the asset it drew.
    text = edit(text, "    asset: sedan", "    asset: {choice: [sedan, van]}")
    scenario = load_scenario(write(tmp_path, text))
    assert scenario.world.ego.cls is None
    assert scenario.world.ego.classes() == [ASSETS["sedan"].default_class,
                                            ASSETS["van"].default_class]
    assert scenario.world.ego.class_of("van") == ASSETS["van"].default_class
    # A .urdf file has no catalog class: then class is required.
    (tmp_path / "thing.urdf").write_text("<robot name='t'/>")
    text = edit(text, "    asset: {choice: [sedan, van]}",
                "    asset: {choice: [sedan, thing.urdf]}")
    path = write(tmp_path, text)
    assert_error(one_error(path), f"{path}:{line_of(text, '  ego:')}", "world.ego",
                 "give a class")


def test_missing_required_field_in_list_item_reports_item_line(tmp_path: Path):
    text = edit(BASE, "    position_m: [0.0, 0.0, 1.5]")
    path = write(tmp_path, text)
    assert_error(one_error(path), f"{path}:{line_of(text, '  - name: front')}",
                 "cameras[0].position_m", "required")


def test_missing_top_level_field_reports_line_1(tmp_path: Path):
    text = edit(BASE, "domain: driving")
    path = write(tmp_path, text)
    assert_error(one_error(path), f"{path}:1", "domain", "required")


def test_duplicate_key_reports_second_occurrence(tmp_path: Path):
    text = edit(BASE, "    lanes: 2", "    lanes: 2", "    lanes: 3")
    path = write(tmp_path, text)
    line = one_error(path)
    assert line.startswith(f"{path}:{line_of(text, '    lanes: 3')}: ")
    assert "duplicate key 'lanes'" in line
    assert f"line {line_of(text, '    lanes: 2')}" in line


@pytest.mark.parametrize("bad", ["    lanes: 2: 3", "    lanes: [2, 3]]", "\tlanes: 2"])
def test_yaml_syntax_error_reports_its_line(tmp_path: Path, bad: str):
    text = edit(BASE, "    lanes: 2", bad)
    path = write(tmp_path, text)
    line = one_error(path)
    assert line.startswith(f"{path}:{line_of(text, bad)}: ")


@pytest.mark.parametrize("text", ["- a\n- b\n", "just a string\n", "", "# only a comment\n"])
def test_non_mapping_root(tmp_path: Path, text: str):
    path = write(tmp_path, text)
    assert_error(one_error(path), f"{path}:1", "<root>", "mapping")


def test_missing_file_is_a_spec_error(tmp_path: Path):
    line = one_error(tmp_path / "nope.yaml")
    assert line.startswith(f"{tmp_path / 'nope.yaml'}: ")


# --- cross-field rules ---------------------------------------------------------------------


def test_driving_scenario_without_road(tmp_path: Path):
    text = edit(edit(BASE, "  road:"), "    lanes: 2")
    path = write(tmp_path, text)
    assert_error(one_error(path), f"{path}:{line_of(text, 'world:')}", "world.road",
                 "needs a road")


def test_camera_on_unknown_actor_suggests_closest(tmp_path: Path):
    text = edit(BASE, "    mount: ego", "    mount: eg")
    path = write(tmp_path, text)
    assert_error(one_error(path), f"{path}:{line_of(text, '    mount: eg')}",
                 "cameras[0].mount", "'eg'", "did you mean 'ego'")


def test_camera_on_group_with_several_bodies(tmp_path: Path):
    text = edit(BASE, "    mount: ego", "    mount: traffic")
    path = write(tmp_path, text)
    assert_error(one_error(path), f"{path}:{line_of(text, '    mount: traffic')}",
                 "cameras[0].mount", "traffic", "count 1")


def test_camera_on_group_with_random_count(tmp_path: Path):
    text = edit(edit(BASE, "    mount: ego", "    mount: traffic"),
                "      count: 2", "      count: {randint: [1, 1]}")
    path = write(tmp_path, text)
    assert_error(one_error(path), f"{path}:{line_of(text, '    mount: traffic')}",
                 "cameras[0].mount", "count 1")


# --- several errors -----------------------------------------------------------------------


def test_every_error_in_a_file_is_reported_once_in_a_fixed_order(tmp_path: Path):
    text = edit(BASE, EGO_SPEED, "      speed_mpss: 5")
    text = edit(text, "      count: 2", "      count: {uniform: [1, 3]}")
    text = text + "renderer: eggl\n"
    path = write(tmp_path, text)
    lines = errors_of(path)
    assert len(lines) == 3
    expected_prefixes = {
        f"{path}:{line_of(text, '      speed_mpss: 5')}: world.ego.behaviour.speed_mpss: ",
        f"{path}:{line_of(text, '      count: {uniform: [1, 3]}')}: world.actors[0].count: ",
        f"{path}:{line_of(text, 'renderer: eggl')}: renderer: ",
    }
    assert {p for p in expected_prefixes if any(x.startswith(p) for x in lines)} == \
        expected_prefixes
    assert errors_of(path) == lines


# --- --set overrides ----------------------------------------------------------------------


def test_override_changes_a_value(tmp_path: Path):
    path = write(tmp_path, BASE)
    scenario = load_scenario(path, ["world.road.lanes=4"])
    assert scenario.world.road.lanes == Const(4)


def test_override_parses_a_distribution(tmp_path: Path):
    path = write(tmp_path, BASE)
    scenario = load_scenario(path, ["cameras[0].fov_deg={uniform: [40, 50]}"])
    assert scenario.cameras[0].fov_deg == Uniform(40.0, 50.0)


def test_override_with_dotted_index(tmp_path: Path):
    path = write(tmp_path, BASE)
    assert yaml.safe_load(BASE)["world"]["actors"][0]["count"] != 3
    scenario = load_scenario(path, ["world.actors.0.count=3"])
    assert scenario.world.actors[0].count == Const(3)


def test_override_adds_a_missing_section(tmp_path: Path):
    path = write(tmp_path, BASE)
    scenario = load_scenario(path, ["physics.substeps=4"])
    assert scenario.physics.substeps == Const(4)


def test_later_override_wins(tmp_path: Path):
    path = write(tmp_path, BASE)
    scenario = load_scenario(path, ["world.road.lanes=4", "world.road.lanes=5"])
    assert scenario.world.road.lanes == Const(5)


def test_invalid_override_is_reported_at_its_index(tmp_path: Path):
    path = write(tmp_path, BASE)
    line = one_error(path, ["world.road.lanes=3", "world.ego.behaviour.speed_mps=-1"])
    assert_error(line, "--set:2", EGO_SPEED_PATH, ">= 0")


def test_override_of_unknown_field_suggests_closest(tmp_path: Path):
    path = write(tmp_path, BASE)
    assert_error(one_error(path, ["world.road.lanse=2"]), "--set:1", "world.road.lanse",
                 "did you mean 'lanes'")


def test_override_past_the_end_of_a_list(tmp_path: Path):
    path = write(tmp_path, BASE)
    n = len(yaml.safe_load(BASE)["world"]["actors"])
    assert_error(one_error(path, [f"world.actors.{n}.count=2"]), "--set:1",
                 f"world.actors[{n}]", "no such field")


@pytest.mark.parametrize("assignment", ["world.road.lanes", "=3", "  =3"])
def test_malformed_override(tmp_path: Path, assignment: str):
    path = write(tmp_path, BASE)
    line = one_error(path, [assignment])
    assert line.startswith("--set:1: ")
    assert "path.to.field=value" in line


def test_override_with_bad_yaml_value_is_one_line(tmp_path: Path):
    path = write(tmp_path, BASE)
    assert_error(one_error(path, ["world.road.lanes=[1"]), "--set:1", "world.road.lanes",
                 "[1")


def test_apply_override_records_origin(tmp_path: Path):
    source = read_source(write(tmp_path, BASE))
    apply_override(source, "world.road.lanes=6", "--set:3")
    assert source.data["world"]["road"]["lanes"] == 6
    assert source.origin(("world", "road", "lanes")) == "--set:3"
    # Fields the override did not touch keep their file line.
    assert source.origin(("world", "ego")) == f"{source.path}:{line_of(BASE, '  ego:')}"


def test_apply_override_without_equals_raises(tmp_path: Path):
    source = read_source(write(tmp_path, BASE))
    with pytest.raises(SpecError) as info:
        apply_override(source, "world.road.lanes", "--set:1")
    assert info.value.lines[0].startswith("--set:1: ")


# --- JSON Schema ---------------------------------------------------------------------------


def test_schema_is_json_naming_every_scenario_field():
    schema = json.loads(scenario_json_schema())
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert schema["type"] == "object"
    fields = {f.alias or name for name, f in Scenario.model_fields.items()}
    assert fields <= set(schema["properties"])
    assert set(schema["required"]) >= {"name", "domain", "cameras", "world"}


@pytest.mark.skipif(importlib.util.find_spec("jsonschema") is None,
                    reason="jsonschema not installed")
def test_shipped_scenarios_validate_against_schema_and_typos_do_not():
    import jsonschema

    schema = json.loads(scenario_json_schema())
    validator_cls = jsonschema.validators.validator_for(schema)
    validator_cls.check_schema(schema)
    validator = validator_cls(schema)
    for path in SCENARIOS:
        errors = list(validator.iter_errors(yaml.safe_load(path.read_text())))
        assert not errors, f"{path.name}: {errors[0].message}"
    typo = yaml.safe_load(BASE + "durationn_s: 3\n")
    assert not validator.is_valid(typo)
    bad_speed = yaml.safe_load(edit(BASE, EGO_SPEED, "      speed_mps: {unifrom: [1, 2]}"))
    assert not validator.is_valid(bad_speed)


# --- distribution forms --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("yaml_value", "expected"),
    [
        ("5", Const(5.0)),
        ("7.5", Const(7.5)),
        ("{uniform: [3, 9]}", Uniform(3.0, 9.0)),
        ("{uniform: [4, 4]}", Uniform(4.0, 4.0)),
        ("{normal: {mean: 3, std: 1, min: 0, max: 6}}", Normal(3.0, 1.0, 0.0, 6.0)),
        ("{loguniform: [1, 10]}", LogUniform(1.0, 10.0)),
        ("{randint: [2, 7]}", RandInt(2, 7)),
        ("{choice: [2, 4.5]}", Choice((2.0, 4.5))),
        ("{choice: [2, 4.5], weights: [1, 3]}", Choice((2.0, 4.5), (1.0, 3.0))),
    ],
)
def test_number_field_accepts_every_form(tmp_path: Path, yaml_value: str, expected):
    path = write(tmp_path, edit(BASE, EGO_SPEED, f"      speed_mps: {yaml_value}"))
    assert load_scenario(path).world.ego.behaviour.speed_mps == expected


def test_unbounded_field_accepts_untruncated_normal(tmp_path: Path):
    text = edit(BASE, "    placement: {region: lane, lane: 0, x_m: 0}",
                "    placement: {region: lane, lane: 0, x_m: {normal: {mean: 2, std: 3}}}")
    x_m = load_scenario(write(tmp_path, text)).world.ego.placement.x_m
    assert x_m == Normal(2.0, 3.0, -math.inf, math.inf)


@pytest.mark.parametrize(
    ("yaml_value", "expected"),
    [
        ("3", Const(3)),
        ("{randint: [1, 4]}", RandInt(1, 4)),
        ("{choice: [1, 3]}", Choice((1, 3))),
        ("{choice: [1, 3], weights: [2, 1]}", Choice((1, 3), (2.0, 1.0))),
    ],
)
def test_integer_field_accepts_integer_forms(tmp_path: Path, yaml_value: str, expected):
    path = write(tmp_path, edit(BASE, "      count: 2", f"      count: {yaml_value}"))
    count = load_scenario(path).world.actors[0].count
    assert count == expected
    values = count.options if isinstance(count, Choice) else [getattr(count, "value", 0)]
    assert all(isinstance(v, int) for v in values)


@pytest.mark.parametrize(
    ("yaml_value", "subpath"),
    [
        ("{uniform: [1, 3]}", ""),
        ("{normal: {mean: 2, std: 1, min: 0, max: 4}}", ""),
        ("{loguniform: [1, 3]}", ""),
        ("2.5", ""),
        ("{randint: [1.5, 3]}", ".randint"),
        ("{choice: [1, 2.5]}", ".choice[1]"),
        ("{randint: [-2, 3]}", ".randint"),
    ],
)
def test_integer_field_rejects_non_integers(tmp_path: Path, yaml_value: str, subpath: str):
    bad = f"      count: {yaml_value}"
    text = edit(BASE, "      count: 2", bad)
    path = write(tmp_path, text)
    assert_error(one_error(path), f"{path}:{line_of(text, bad)}",
                 f"world.actors[0].count{subpath}")


@pytest.mark.parametrize(
    ("field_line", "attr", "expected"),
    [
        ("      colour: {choice: [red, blue]}", "colour", Choice(("red", "blue"))),
        ("      colour: [0.1, 0.2, 0.3]", "colour", Const((0.1, 0.2, 0.3))),
        ("      colour: {choice: [red, [0, 1, 0]], weights: [3, 1]}", "colour",
         Choice(("red", (0.0, 1.0, 0.0)), (3.0, 1.0))),
        ("      asset: {choice: [sedan, van], weights: [0.7, 0.3]}", "asset",
         Choice(("sedan", "van"), (0.7, 0.3))),
    ],
)
def test_categorical_field_accepts_constant_and_choice(tmp_path: Path, field_line, attr,
                                                       expected):
    old = "      asset: sedan" if attr == "asset" else "      count: 2"
    text = edit(BASE, old, *([field_line] if attr == "asset" else [old, field_line]))
    assert getattr(load_scenario(write(tmp_path, text)).world.actors[0], attr) == expected


def test_side_accepts_choice(tmp_path: Path):
    text = edit(BASE, "        region: lane", "        region: shoulder",
                "        side: {choice: [right, left]}")
    side = load_scenario(write(tmp_path, text)).world.actors[0].placement.side
    assert side == Choice(("right", "left"))


@pytest.mark.parametrize(
    ("old", "new_lines", "field", "fragments"),
    [
        ("      count: 2", ["      count: 2", "      colour: {choice: [red, bleu]}"],
         "colour.choice[1]", ["'bleu'", "did you mean 'blue'"]),
        ("      asset: sedan", ["      asset: {choice: [sedan, vna]}"], "asset.choice[1]",
         ["'vna'", "did you mean 'van'"]),
        ("        region: lane", ["        region: shoulder",
                                   "        side: {choice: [right, lfet]}"],
         "placement.side.choice[1]", ["'lfet'", "did you mean 'left'"]),
        ("      count: 2", ["      count: 2", "      colour: {uniform: [0, 1]}"], "colour",
         ["choice"]),
        ("      count: 2", ["      count: 2", "      colour: [0, 2, 0]"], "colour", ["0..1"]),
    ],
)
def test_categorical_field_validates_each_option(tmp_path: Path, old, new_lines, field,
                                                 fragments):
    text = edit(BASE, old, *new_lines)
    path = write(tmp_path, text)
    assert_error(one_error(path), f"{path}:{line_of(text, new_lines[-1])}",
                 f"world.actors[0].{field}", *fragments)


# --- resolved scenario ---------------------------------------------------------------------


ALL_FORMS = edit(
    edit(BASE, EGO_SPEED, "      speed_mps: {normal: {mean: 3, std: 1, min: 0, max: 6}}"),
    "      count: 2", "      count: {choice: [1, 2], weights: [1, 3]}",
    "      colour: {choice: [red, [0, 1, 0]]}", "      scale: {loguniform: [0.5, 2]}",
) + "duration_s: {uniform: [2, 3]}\nphysics: {solver_iterations: {randint: [10, 20]}}\n"


@pytest.mark.parametrize("text", [BASE, ALL_FORMS], ids=["base", "all_forms"])
def test_resolved_scenario_round_trips(tmp_path: Path, text: str):
    scenario = load_scenario(write(tmp_path, text))
    data = scenario_to_data(scenario)
    json.dumps(data, allow_nan=False)  # plain JSON data, no infinities
    assert Scenario.model_validate(data) == scenario
    # The resolved form is itself a valid scenario file.
    again = load_scenario(write(tmp_path, yaml.safe_dump(data), "resolved.yaml"))
    assert again == scenario


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_shipped_resolved_scenario_round_trips(path: Path):
    scenario = load_scenario(path)
    data = scenario_to_data(scenario)
    assert Scenario.model_validate(json.loads(json.dumps(data))) == scenario
    # Defaults are filled in: every field of the model is present.
    assert set(data) == {f.alias or n for n, f in Scenario.model_fields.items()}


def test_misspelled_class_gets_a_suggestion(tmp_path: Path):
    text = edit(BASE, "      class: car", "      class: cra_")
    assert load_scenario(write(tmp_path, text)).world.actors[0].cls == "cra_"  # not near
    text = edit(BASE, "      class: car", "      class: pedestrain")
    path = write(tmp_path, text)
    assert_error(one_error(path), f"{path}:{line_of(text, '      class: pedestrain')}",
                 "world.actors[0].class", "did you mean 'pedestrian'?")


@pytest.mark.parametrize("old,new,field,message", [
    (EGO_SPEED, "      speed_mpss: 5", "world.ego.behaviour.speed_mpss",
     "unknown field 'speed_mpss' (did you mean 'speed_mps'?)"),
    (EGO_SPEED, "      speed_mps: fast", "world.ego.behaviour.speed_mps",
     "expected a number or a distribution, got 'fast'"),
    (EGO_SPEED, "      speed_mps: {uniform: [9, 3]}", "world.ego.behaviour.speed_mps.uniform",
     "uniform needs low <= high, got [9, 3]"),
    ("    asset: sedan", "    asset: sedann", "world.ego.asset",
     "unknown asset 'sedann' (did you mean 'sedan'?) (an asset id from the catalog, or a "
     "path to a .urdf file)"),
], ids=["unknown-key", "wrong-type", "bad-distribution", "unknown-asset"])
def test_error_lines_are_exact(tmp_path: Path, old, new, field, message):
    """The whole line, as documented in the README: FILE:LINE: path.to.field: message."""
    text = edit(BASE, old, new)
    path = write(tmp_path, text)
    assert errors_of(path) == [f"{path}:{line_of(text, new)}: {field}: {message}"]


def test_lane_beyond_the_road_is_an_error(tmp_path: Path):
    """Lane 3 on a road of 2 + 1 lanes names the field; lane 2 (the oncoming lane) is fine."""
    text = edit(BASE, "    placement: {region: lane, lane: 0, x_m: 0}",
                "    placement: {region: lane, lane: 3, x_m: 0}")
    path = write(tmp_path, text)
    placement = "    placement: {region: lane, lane: 3, x_m: 0}"
    assert_error(one_error(path), f"{path}:{line_of(text, placement)}",
                 "world.ego.placement.lane", "lane 3 does not exist", "0..2")
    text = edit(BASE, "    placement: {region: lane, lane: 0, x_m: 0}",
                "    placement: {region: lane, lane: 2, x_m: 0}")
    assert load_scenario(write(tmp_path, text)).world.ego.placement.lane == Const(2)
