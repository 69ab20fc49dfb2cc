"""A "version 2" of a detector, for the README's regression walkthrough: the bundled
reference detector made cheaper by working on a quarter-width image. Small (far) objects
fall below its minimum blob size, which the suite's distance slices catch.

    simgen eval suite --model examples/detector_v2.py:detect --baseline baseline.json
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from simgen.evaluation.reference_detector import DEFAULT_PARAMS, Detection
from simgen.evaluation.reference_detector import detect as reference_detect

CHEAPER = replace(DEFAULT_PARAMS, work_width_px=DEFAULT_PARAMS.work_width_px // 2)


def detect(rgb: np.ndarray) -> list[Detection]:
    """The reference detector at half its working width."""
    return reference_detect(rgb, CHEAPER)
