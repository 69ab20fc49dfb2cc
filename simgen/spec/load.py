"""Load, override and validate a scenario, reporting every problem as one line.

Each problem reads ``FILE:LINE: path.to.field: message`` (``--set:N`` for the N-th
command-line override) and all of them are raised together in one ``SpecError``.
"""

from __future__ import annotations

import copy
import json
import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from simgen.errors import SpecError, did_you_mean
from simgen.spec.distributions import Dist, dist_to_yaml
from simgen.spec.models import Scenario, cross_field_problems
from simgen.spec.source import (
    Loc,
    ScenarioSource,
    apply_override,
    format_loc,
    parse_field_path,
    read_source,
    set_value,
)
from simgen.spec.sweep import probe_values


def load_scenario(path: str | Path, overrides: Sequence[str | tuple[str, str]] = ()) -> Scenario:
    """Read, override and validate a scenario file.

    Each override is a ``path=value`` string (reported as ``--set:N``, counting the
    strings from 1) or a ``(origin, "path=value")`` pair reported under ``origin``.
    """
    source = read_source(Path(path))
    index = 0
    for override in overrides:
        if isinstance(override, tuple):
            where, assignment = override
        else:
            index += 1
            where, assignment = f"--set:{index}", override
        apply_override(source, assignment, where)
    return validate_source(source)


def validate_source(source: ScenarioSource) -> Scenario:
    """Validate source data against the scenario models; raise ``SpecError`` listing problems.

    With a ``sweep``, every value it may give each swept field is tried in the scenario
    too (problems name the sweep's line), and ``episodes`` defaults to the sweep's count
    (a smaller ``episodes`` makes the first episodes of the sweep only).
    """
    scenario = _validate_once(source)
    if scenario.sweep is None:
        return scenario
    problems = _sweep_problems(source, scenario)
    count = scenario.sweep.episode_count()
    if "episodes" not in source.data:
        scenario = scenario.model_copy(update={"episodes": count})
    elif scenario.episodes > count:
        problems.append(
            f"{source.origin(('episodes',))}: episodes: the sweep makes {count} episodes "
            f"({scenario.sweep.point_count()} points x {scenario.sweep.episodes_per_point} per "
            f"point), not {scenario.episodes}; leave episodes out (or make it at most {count}), "
            "or change sweep.points or sweep.episodes_per_point")
    if problems:
        raise SpecError(problems)
    return scenario


def _validate_once(source: ScenarioSource) -> Scenario:
    try:
        scenario = Scenario.model_validate(source.data)
    except ValidationError as exc:
        raise SpecError(_format_errors(source, exc)) from None
    problems = [
        f"{source.origin(loc)}: {format_loc(loc)}: {message}"
        for loc, message in cross_field_problems(scenario, source.path.parent)
    ]
    if problems:
        raise SpecError(problems)
    return scenario


def _sweep_problems(source: ScenarioSource, scenario: Scenario) -> list[str]:
    """Each swept field set, alone, to each of its probe values: the problems that makes,
    reported at the line of the sweep value (or range) that caused them."""
    found: dict[str, list[str]] = {}  # problem -> the sweep values that make it
    for i, parameter in enumerate(scenario.sweep.parameters):
        loc = parse_field_path(parameter.path)
        for where, value in probe_values(parameter):
            trial = ScenarioSource(source.path, copy.deepcopy(source.data), dict(source.origins))
            origin = source.origin(("sweep", "parameters", i, *where))
            try:
                set_value(trial, loc, value, origin)
                _validate_once(trial)
            except SpecError as exc:
                for line in exc.lines:
                    found.setdefault(f"{line} (sweep.parameters[{i}] sets it to", []).append(
                        repr(value))
    return [f"{line} {', '.join(values)})" for line, values in found.items()]


def with_fields(scenario: Scenario, values: dict[str, Any]) -> Scenario:
    """``scenario`` with the field at each path (``world.actors[0].count``) set to its
    value and without its sweep: the scenario of one sweep point, validated again."""
    data = scenario_to_data(scenario)
    data.pop("sweep", None)
    source = ScenarioSource(Path("<sweep point>"), data)
    for path, value in values.items():
        set_value(source, parse_field_path(path), value, "<sweep point>")
    return Scenario.model_validate(source.data)


def _format_errors(source: ScenarioSource, exc: ValidationError) -> list[str]:
    lines: list[str] = []
    for err in exc.errors(include_url=False):
        loc = _data_loc(source.data, err["loc"])
        if err["type"] == "union_tag_invalid":
            # The offending key is the tag itself (``kind: ...``), not the mapping holding it.
            loc = loc + (str((err.get("ctx") or {}).get("discriminator", "kind")).strip("'"),)
        message = _message(err, loc, source.data)
        subpath = (err.get("ctx") or {}).get("subpath") if err["type"] == "distribution" else ""
        shown = format_loc(loc) + (f".{subpath}" if subpath else "")
        line = f"{source.origin(loc)}: {shown}: {message}"
        if line not in lines:
            lines.append(line)
    return sorted(lines, key=_line_order)


def _line_order(line: str) -> tuple:
    """Sort problems by where they were written: file lines in order, overrides last."""
    origin = line.split(": ", 1)[0]
    place, _, number = origin.rpartition(":")
    return (place.startswith("--"), place, int(number) if number.isdigit() else 0)


def _data_loc(data: Any, loc: Sequence[str | int]) -> Loc:
    """Drop the parts of a pydantic error location that are not in the YAML.

    Pydantic inserts the discriminator tag of a tagged union (e.g. ``lane_follow``) into
    locations; the user never wrote that key.
    """
    out: list[str | int] = []
    node = data
    for part in loc:
        if isinstance(node, dict) and isinstance(part, str):
            if part in node:
                out.append(part)
                node = node[part]
                continue
            if node.get("kind") == part:
                continue
            out.append(part)
            node = None
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            out.append(part)
            node = node[part]
        else:
            out.append(part)
            node = None
    return tuple(out)


def _message(err: dict, loc: Loc, data: Any) -> str:
    kind = err["type"]
    ctx = err.get("ctx") or {}
    if kind == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1], data)
        hint = did_you_mean(str(loc[-1]), allowed) if allowed else ""
        return f"unknown field '{loc[-1]}'{hint}"
    if kind == "missing":
        return "required field is missing"
    if kind == "union_tag_invalid":
        tags = [t.strip(" '") for t in str(ctx.get("expected_tags", "")).split(",")]
        tag = str(ctx.get("tag"))
        what = "constraint" if loc[:1] == ("require",) else "behaviour"
        return f"unknown {what} '{tag}'{did_you_mean(tag, tags)}; choose from {', '.join(tags)}"
    if kind == "union_tag_not_found":
        what = "constraint" if loc[:1] == ("require",) else "behaviour"
        return f"needs a 'kind' naming the {what}"
    if kind == "literal_error":
        expected = [t.strip(" '") for t in str(ctx.get("expected", "")).replace(" or ", ",")
                    .split(",") if t.strip(" '")]
        value = str(err.get("input"))
        return f"unknown value '{value}'{did_you_mean(value, expected)}; choose from " + \
            ", ".join(expected)
    message = err["msg"]
    return message.removeprefix("Value error, ")


def _allowed_keys(loc: Loc, data: Any) -> list[str]:
    """Field names (aliases where set) of the model at ``loc``, for did-you-mean hints."""
    annotation: Any = Scenario
    node = data
    for part in loc:
        annotation = _unwrap(annotation, node)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field = _field_by_key(annotation, str(part))
            if field is None:
                return []
            annotation = field.annotation
        else:
            args = typing.get_args(annotation)
            annotation = args[0] if args else Any
        node = node[part] if isinstance(node, dict | list) and _has(node, part) else None
    annotation = _unwrap(annotation, node)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [f.alias or name for name, f in annotation.model_fields.items()]
    return []


def _has(node: Any, part: str | int) -> bool:
    if isinstance(node, dict):
        return part in node
    return isinstance(part, int) and part < len(node)


def _field_by_key(model: type[BaseModel], key: str):
    for name, field in model.model_fields.items():
        if key in (name, field.alias):
            return field
    return None


def _unwrap(annotation: Any, node: Any) -> Any:
    """Strip Optional/Annotated; pick a tagged-union member by the data's ``kind``."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            members = [a for a in typing.get_args(annotation) if a is not type(None)]
            models = [m for m in members if isinstance(m, type) and issubclass(m, BaseModel)]
            if len(members) == 1:
                annotation = members[0]
            elif models and isinstance(node, dict):
                kind = node.get("kind")
                match = [m for m in models if typing.get_args(
                    m.model_fields["kind"].annotation) == (kind,)] if "kind" in \
                    models[0].model_fields else []
                return match[0] if match else Any
            else:
                return annotation
        else:
            return annotation


def scenario_to_data(scenario: Scenario) -> dict:
    """The fully resolved scenario (defaults filled in) as JSON-compatible data."""
    return _plain(scenario)


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        out = {}
        for name, field in type(value).model_fields.items():
            out[field.alias or name] = _plain(getattr(value, name))
        return out
    if isinstance(value, Dist.__args__):  # type: ignore[attr-defined]
        return _plain(dist_to_yaml(value))
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def scenario_json_schema() -> str:
    """The JSON Schema of the scenario format, for editor completion."""
    schema = Scenario.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "simgen scenario"
    return json.dumps(schema, indent=2)
