"""How visible each labelled object stays after weather and the sensor: distance, fog
transmittance and contrast against its surround."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from simgen.effects.colour import image_luminance
from simgen.effects.weather import fog_transmittance
from simgen.sampling.conditions import FogParams
from simgen.sensors.pixels import InstancePixels

#: The surround box grows the object's box by this share of its size on each side ...
SURROUND_MARGIN_SHARE = 0.25
#: ... and by at least this many pixels.
SURROUND_MARGIN_MIN_PX = 3
#: Reference contrasts below this count as zero (the object is not distinguishable).
MIN_REFERENCE_CONTRAST = 1e-3
_MIN_LUMINANCE = 1e-6


@dataclass(frozen=True)
class ObjectVisibility:
    """How visible one object is in a recorded frame.

    ``distance_m``: median distance along the rays over the object's visible pixels.
    ``fog_transmittance``: ``exp(-beta distance)``, 1.0 without fog.
    ``contrast``: Weber contrast ``|L_obj - L_surround| / L_surround`` of mean Rec. 709
    luminances in the recorded linear image, the surround being the pixels of the
    object's box grown by 25 % (at least 3 px) on each side that are not the object.
    ``visibility``: that contrast divided by the same contrast in the lit image before
    fog, precipitation, glare, blur, lens and sensor, clipped to [0, 1] (1 = the weather
    and sensor did not reduce it). When it is undefined (no surround pixels, or a
    reference contrast below 1e-3) it is ``fog_transmittance``, the reduction the fog
    alone would apply to any contrast.
    """

    distance_m: float
    fog_transmittance: float
    contrast: float
    visibility: float


def _weber(obj: np.ndarray, surround: np.ndarray) -> float:
    l_obj, l_sur = float(obj.mean()), float(surround.mean())
    return abs(l_obj - l_sur) / max(l_sur, _MIN_LUMINANCE)


def object_visibility(instance: np.ndarray, ids: Iterable[int], depth_m: np.ndarray,
                      K: np.ndarray, lit_linear: np.ndarray, final_linear: np.ndarray,
                      fog: FogParams | None,
                      pixels: InstancePixels | None = None) -> dict[int, ObjectVisibility]:
    """``ObjectVisibility`` of each id in ``ids`` that has visible pixels in ``instance``.

    Ids with no pixel (hidden, out of view, absent) are left out. One pass over the image
    finds every object's pixels and box (``pixels``, ``InstancePixels.of(instance, ids)``
    for these ids or more, when the caller has it already); each object then costs only
    its grown box.
    """
    wanted = np.unique(np.asarray(list(ids), dtype=np.int64))
    wanted = wanted[wanted > 0]
    if wanted.size == 0:
        return {}
    if pixels is None:
        pixels = InstancePixels.of(instance, wanted)
    height, width = instance.shape
    K = np.asarray(K, dtype=np.float64)
    k_inv = np.linalg.inv(K)
    final_y = lit_y = None  # whole-image luminances, made when an object needs them
    result: dict[int, ObjectVisibility] = {}
    for obj_id in wanted.tolist():
        k = pixels.index(obj_id)
        if k is None:
            continue
        r, c = pixels.pixels(k)
        z = depth_m[r, c].astype(np.float64)
        hit = z > 0
        if hit.any():
            xn = k_inv[0, 0] * c[hit] + k_inv[0, 1] * r[hit] + k_inv[0, 2]
            yn = k_inv[1, 1] * r[hit] + k_inv[1, 2]
            distance = float(np.median(z[hit] * np.sqrt(xn * xn + yn * yn + 1)))
        else:
            distance = float("nan")
        if fog is None or not math.isfinite(distance):
            transmittance = 1.0
        else:
            transmittance = float(fog_transmittance(distance, fog.visibility_m))
        r0, r1 = int(pixels.top[k]), int(pixels.bottom[k])
        c0, c1 = int(pixels.left[k]), int(pixels.right[k])
        grow_r = max(SURROUND_MARGIN_MIN_PX, int(math.ceil(SURROUND_MARGIN_SHARE * (r1 - r0))))
        grow_c = max(SURROUND_MARGIN_MIN_PX, int(math.ceil(SURROUND_MARGIN_SHARE * (c1 - c0))))
        box = (slice(max(r0 - grow_r, 0), min(r1 + grow_r, height)),
               slice(max(c0 - grow_c, 0), min(c1 + grow_c, width)))
        is_obj = instance[box] == obj_id
        surround = ~is_obj
        if not surround.any():
            result[obj_id] = ObjectVisibility(distance, transmittance, 0.0, transmittance)
            continue
        if final_y is None:
            final_y = image_luminance(final_linear)
            lit_y = final_y if lit_linear is final_linear else image_luminance(lit_linear)
        contrast = _weber(final_y[box][is_obj], final_y[box][surround])
        reference = _weber(lit_y[box][is_obj], lit_y[box][surround])
        if reference < MIN_REFERENCE_CONTRAST:
            visibility = transmittance
        else:
            visibility = float(np.clip(contrast / reference, 0.0, 1.0))
        result[obj_id] = ObjectVisibility(distance, transmittance, contrast, visibility)
    return result
