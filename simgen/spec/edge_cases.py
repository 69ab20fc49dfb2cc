"""The ``edge_cases:`` section, built from the edge-case registry.

Each registered edge case becomes an optional field whose value holds
``probability`` (the nominal rate), ``oversample`` (the rate actually used, default
``probability``) and the edge case's own parameters.
"""

from __future__ import annotations

from pydantic import Field, create_model

from simgen.edge_cases import EDGE_CASES
from simgen.spec.base import StrictModel


def _settings_model(name: str, params: type[StrictModel]) -> type[StrictModel]:
    title = "".join(part.capitalize() for part in name.split("_")) + "EdgeCase"
    return create_model(
        title,
        __base__=params,
        __doc__=(EDGE_CASES[name].__doc__ or "").strip(),
        probability=(float, Field(ge=0, le=1)),
        oversample=(float | None, Field(None, ge=0, le=1)),
    )


#: Settings model of each registered edge case, by name.
EDGE_CASE_SETTINGS: dict[str, type[StrictModel]] = {
    name: _settings_model(name, cls.Params) for name, cls in EDGE_CASES.items()
}

EdgeCases = create_model(
    "EdgeCases",
    __base__=StrictModel,
    __doc__="Rare events by name, each with its nominal probability and oversampled rate.",
    **{name: (model | None, None) for name, model in EDGE_CASE_SETTINGS.items()},
)
