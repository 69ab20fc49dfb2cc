"""The README documents every scenario field and every shipped asset."""

from __future__ import annotations

import typing

from conftest import ROOT
from pydantic import BaseModel

from simgen.catalog import ASSETS
from simgen.spec.models import Scenario


def _models(annotation, seen):
    for arg in (annotation, *typing.get_args(annotation)):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            if arg not in seen:
                seen.add(arg)
                for field in arg.model_fields.values():
                    _models(field.annotation, seen)
        else:
            _models_of_args(arg, seen)


def _models_of_args(annotation, seen):
    for arg in typing.get_args(annotation):
        _models(arg, seen)


def test_readme_documents_every_scenario_field():
    readme = (ROOT / "README.md").read_text()
    models: set[type[BaseModel]] = set()
    _models(Scenario, models)
    assert len(models) > 10
    missing = sorted({
        f"{model.__name__}.{field.alias or name}"
        for model in models for name, field in model.model_fields.items()
        if f"`{field.alias or name}`" not in readme
    })
    assert not missing, missing


def test_readme_lists_every_asset():
    readme = (ROOT / "README.md").read_text()
    missing = [a for a in ASSETS if a not in readme]
    assert not missing, missing
