"""Reading scenario YAML safely while remembering the line of every key.

``ScenarioSource`` holds the plain data (dicts, lists, scalars) and a map from each
field path to where it was written: ``FILE:LINE`` or ``--set:N`` for the N-th
command-line override.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from simgen.errors import SpecError

Loc = tuple[str | int, ...]


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate mapping keys instead of keeping the last one."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False):
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (first at line {seen[key] + 1})",
                key_node.start_mark)
        seen[key] = key_node.start_mark.line
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


@dataclass
class ScenarioSource:
    """Scenario data plus the origin of each field path."""

    path: Path
    data: Any
    origins: dict[Loc, str] = field(default_factory=dict)

    def origin(self, loc: Loc) -> str:
        """Where the value at ``loc`` (or its closest written ancestor) came from."""
        for end in range(len(loc), -1, -1):
            found = self.origins.get(tuple(loc[:end]))
            if found is not None:
                return found
        return f"{self.path}:1"


def _collect_origins(node: yaml.Node, loc: Loc, file: str, out: dict[Loc, str]) -> None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            out[loc + (key,)] = f"{file}:{key_node.start_mark.line + 1}"
            _collect_origins(value_node, loc + (key,), file, out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            out[loc + (i,)] = f"{file}:{item.start_mark.line + 1}"
            _collect_origins(item, loc + (i,), file, out)


def read_source(path: Path) -> ScenarioSource:
    """Read a YAML scenario file; YAML syntax errors become a ``SpecError``."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError([f"{path}: cannot read: {exc.strerror or exc}"]) from None
    try:
        node = yaml.compose(text, Loader=_UniqueKeyLoader)
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 (SafeLoader subclass)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        raise SpecError([f"{path}:{line}: <yaml>: {exc.problem or exc}"]) from None
    except yaml.YAMLError as exc:
        raise SpecError([f"{path}:1: <yaml>: {exc}"]) from None
    if not isinstance(data, dict):
        raise SpecError([f"{path}:1: <root>: a scenario is a mapping of fields"])
    origins: dict[Loc, str] = {(): f"{path}:1"}
    if node is not None:
        _collect_origins(node, (), str(path), origins)
    return ScenarioSource(path=path, data=data, origins=origins)


def parse_field_path(text: str) -> Loc:
    """``world.actors[0].count`` or ``world.actors.0.count`` -> ('world','actors',0,'count')."""
    loc: list[str | int] = []
    for part in text.replace("[", ".").replace("]", "").split("."):
        if part == "":
            raise ValueError(f"bad field path {text!r}")
        loc.append(int(part) if part.isdigit() else part)
    return tuple(loc)


def format_loc(loc: Loc) -> str:
    """('world','actors',0,'count') -> ``world.actors[0].count``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out or "<root>"


def apply_override(source: ScenarioSource, assignment: str, where: str) -> None:
    """Apply ``path.to.field=value`` (value parsed as YAML) to the source data in place.

    ``where`` names the override in error lines, e.g. ``--set:2`` or ``--seed``.
    """
    path_text, sep, value_text = assignment.partition("=")
    if not sep or not path_text.strip():
        raise SpecError([f"{where}: <set>: expected path.to.field=value, got {assignment!r}"])
    path_text = path_text.strip()
    try:
        loc = parse_field_path(path_text)
        value = yaml.safe_load(value_text) if value_text.strip() else None
    except ValueError as exc:
        raise SpecError([f"{where}: {path_text}: {exc}"]) from None
    except yaml.YAMLError as exc:
        # A YAML error's str() spans several lines; report only its one-line cause.
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SpecError([f"{where}: {path_text}: bad YAML value {value_text!r}: {problem}"]) \
            from None
    set_value(source, loc, value, where)


def set_value(source: ScenarioSource, loc: Loc, value: Any, where: str) -> None:
    """Set the field at ``loc`` to ``value`` in place (creating missing mappings on the
    way) and record ``where`` as its origin; ``SpecError`` if there is no such place."""
    node = source.data
    for depth, part in enumerate(loc[:-1]):
        nxt = loc[depth + 1]
        if isinstance(node, dict):
            if part not in node or node[part] is None:
                node[part] = [] if isinstance(nxt, int) else {}
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            raise SpecError([f"{where}: {format_loc(loc[:depth + 1])}: no such field to set"])
    last = loc[-1]
    if isinstance(node, dict) and isinstance(last, str):
        node[last] = value
    elif isinstance(node, list) and isinstance(last, int) and last < len(node):
        node[last] = value
    else:
        raise SpecError([f"{where}: {format_loc(loc)}: no such field to set"])
    for key in [k for k in source.origins if k[: len(loc)] == loc]:
        del source.origins[key]
    source.origins[loc] = where
