"""Loading the model under test from ``--model module:callable``.

A model is any callable from an RGB uint8 image (H, W, 3) to a list of
``((x, y, w, h), class_name, score)``: boxes in pixels, COCO's convention (x, y the
top-left pixel edge). The module part is a dotted module name importable from the
current directory (``mypkg.detectors``) or a path to a ``.py`` file
(``tools/my_detector.py``).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from simgen.errors import SimgenError, did_you_mean

#: The detector bundled with simgen (``simgen.evaluation.reference_detector``).
REFERENCE_MODEL = "simgen.evaluation.reference_detector:detect"


def load_model(spec: str) -> Callable[[Any], Any]:
    """The callable named by ``spec`` (``module:callable`` or ``path/to/file.py:callable``);
    ``SimgenError`` (one line) when it cannot be imported or is not callable."""
    module_name, sep, attr = spec.rpartition(":")
    if not sep or not module_name or not attr:
        raise SimgenError(f"--model: expected module:callable (e.g. {REFERENCE_MODEL}), "
                          f"got {spec!r}")
    module = _import(module_name)
    found: Any = module
    for part in attr.split("."):
        if not hasattr(found, part):
            names = [n for n in dir(found) if not n.startswith("_")]
            raise SimgenError(f"--model: {module_name} has no attribute {attr!r}"
                              f"{did_you_mean(part, names)}")
        found = getattr(found, part)
    if not callable(found):
        raise SimgenError(f"--model: {spec} is a {type(found).__name__}, not a callable")
    return found


def _import(module_name: str):
    path = Path(module_name)
    try:
        if module_name.endswith(".py"):
            if not path.is_file():
                raise SimgenError(f"--model: no such file {module_name}")
            unique = f"simgen_model_{path.stem}"
            loader_spec = importlib.util.spec_from_file_location(unique, path)
            module = importlib.util.module_from_spec(loader_spec)
            sys.modules[unique] = module
            loader_spec.loader.exec_module(module)
            return module
        if "" not in sys.path:  # ``simgen`` as a console script: import from the cwd too
            sys.path.insert(0, "")
        return importlib.import_module(module_name)
    except SimgenError:
        raise
    except ModuleNotFoundError as exc:
        raise SimgenError(f"--model: cannot import {module_name}: {exc}") from None
    except Exception as exc:  # the user's module failed while importing
        raise SimgenError(f"--model: importing {module_name} failed: "
                          f"{type(exc).__name__}: {exc}") from None
