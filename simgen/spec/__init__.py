"""The scenario spec: YAML loading, validation with file/line errors, and the JSON Schema.

The names below load on first use, so that the format's building blocks
(``simgen.spec.base``, ``simgen.spec.distributions``) can be imported by the edge-case
registry without importing the whole scenario model (which imports the registry).
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["Scenario", "load_scenario", "scenario_json_schema", "scenario_to_data"]

_HOMES = {"Scenario": "simgen.spec.models", "load_scenario": "simgen.spec.load",
          "scenario_json_schema": "simgen.spec.load", "scenario_to_data": "simgen.spec.load"}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'simgen.spec' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)
