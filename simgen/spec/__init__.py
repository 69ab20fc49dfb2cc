"""The scenario spec: YAML loading, validation with file/line errors, and the JSON Schema."""

from simgen.spec.load import load_scenario, scenario_json_schema, scenario_to_data
from simgen.spec.models import Scenario

__all__ = ["Scenario", "load_scenario", "scenario_json_schema", "scenario_to_data"]
