"""Colour in linear light: sRGB transfer curves, luminance, blackbody colour temperature.

Every effect works on linear RGB (float32, relative radiance with the camera white
balanced for a 6500 K blackbody); images enter and leave as 8-bit sRGB (IEC 61966-2-1).
"""

from __future__ import annotations

import functools

import cv2
import numpy as np

#: Rec. 709 / sRGB luminance weights for linear RGB.
LUMA_WEIGHTS = np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)
_LUMA_ROW = LUMA_WEIGHTS.reshape(1, 3)

#: Linear levels 0..1 of the linear -> 8-bit look-up table are quantised to this many
#: steps; the table runs on to 65535 (all 255) so that saturating values need no clip.
_ENCODE_LEVELS = 16384


def _srgb_decode(v: np.ndarray) -> np.ndarray:
    """The sRGB electro-optical transfer function on values in [0, 1]."""
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def _srgb_encode(x: np.ndarray) -> np.ndarray:
    """The inverse of ``_srgb_decode`` on values in [0, 1]."""
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055)


#: 256-entry table: 8-bit sRGB code -> linear value (float32).
SRGB_TO_LINEAR = _srgb_decode(np.arange(256) / 255.0).astype(np.float32)
#: Table: round(linear x 16383) -> nearest 8-bit sRGB code (255 beyond 16383).
_LINEAR_TO_SRGB = np.full(1 << 16, 255, dtype=np.uint8)
_LINEAR_TO_SRGB[:_ENCODE_LEVELS] = np.clip(
    np.rint(_srgb_encode(np.linspace(0.0, 1.0, _ENCODE_LEVELS)) * 255), 0, 255)
_ENCODE_SCALE = (float(_ENCODE_LEVELS - 1),) * 3 + (0.0,)


def decode_srgb(rgb: np.ndarray, gain_rgb: np.ndarray | None = None) -> np.ndarray:
    """8-bit sRGB (H, W, 3) -> linear float32, optionally times a per-channel gain.

    The gain is folded into the look-up table, so scaling costs nothing extra.
    """
    if gain_rgb is None:
        return cv2.LUT(rgb, SRGB_TO_LINEAR)
    lut = (SRGB_TO_LINEAR[:, None] * np.asarray(gain_rgb, dtype=np.float32)[None, :])
    return cv2.LUT(rgb, np.ascontiguousarray(lut[None, :, :], dtype=np.float32))


def encode_srgb(linear: np.ndarray) -> np.ndarray:
    """Linear float32 (H, W, 3) -> 8-bit sRGB; values outside [0, 1] saturate.

    Linear values are rounded to 16384 levels (with OpenCV's saturating conversion to
    16 bits, one pass) and looked up; the level step (1/16383 of full scale) is finer than
    one 8-bit code everywhere on the curve, so the result is within one code of the exact
    encoding.
    """
    linear = np.asarray(linear, dtype=np.float32)
    return _LINEAR_TO_SRGB.take(cv2.multiply(linear, _ENCODE_SCALE, dtype=cv2.CV_16U))


def channel_scalar(rgb) -> tuple[float, float, float, float]:
    """A per-channel constant as an OpenCV scalar, for ``cv2.add``/``multiply`` on images.

    (numpy broadcasting of a length-3 vector over (H, W, 3) runs ~10x slower than
    OpenCV's per-channel scalar arithmetic.)
    """
    r, g, b = (float(c) for c in rgb)
    return (r, g, b, 0.0)


def luminance(linear: np.ndarray) -> np.ndarray:
    """Rec. 709 relative luminance Y of linear RGB (last axis = channel)."""
    linear = np.asarray(linear, dtype=np.float32)
    return (LUMA_WEIGHTS[0] * linear[..., 0] + LUMA_WEIGHTS[1] * linear[..., 1]
            + LUMA_WEIGHTS[2] * linear[..., 2])


def image_luminance(linear: np.ndarray) -> np.ndarray:
    """``luminance`` of a whole (H, W, 3) float32 image in one OpenCV pass (several times
    faster; equal up to float32 rounding)."""
    linear = np.ascontiguousarray(linear, dtype=np.float32)
    return cv2.transform(linear, _LUMA_ROW).reshape(linear.shape[:2])


# --- Blackbody colour -------------------------------------------------------------------
# CIE 1931 2-degree colour matching functions from the multi-lobe piecewise-Gaussian fit
# of Wyman, Sloan & Shirley, "Simple Analytic Approximations to the CIE XYZ Color
# Matching Functions", JCGT 2(2), 2013 (their eq. 2); (weight, mean nm, sigma below the
# mean, sigma above it).
_CMF_LOBES = {
    "x": ((1.056, 599.8, 37.9, 31.0), (0.362, 442.0, 16.0, 26.7), (-0.065, 501.1, 20.4, 26.2)),
    "y": ((0.821, 568.8, 46.9, 40.5), (0.286, 530.9, 16.3, 31.1)),
    "z": ((1.217, 437.0, 11.8, 36.0), (0.681, 459.0, 26.0, 13.8)),
}
#: CIE XYZ -> linear sRGB (IEC 61966-2-1, D65 white).
_XYZ_TO_LINEAR_SRGB = np.array([[3.2404542, -1.5371385, -0.4985314],
                                [-0.9692660, 1.8760108, 0.0415560],
                                [0.0556434, -0.2040259, 1.0572252]])
_WAVELENGTHS_NM = np.arange(360.0, 831.0, 1.0)
_C2_M_K = 1.438776877e-2  # second radiation constant h c / k_B


def _cmf(lobes) -> np.ndarray:
    lam = _WAVELENGTHS_NM
    total = np.zeros_like(lam)
    for weight, mean, sigma_lo, sigma_hi in lobes:
        sigma = np.where(lam < mean, sigma_lo, sigma_hi)
        total += weight * np.exp(-0.5 * ((lam - mean) / sigma) ** 2)
    return total


_CMFS = np.stack([_cmf(_CMF_LOBES[c]) for c in "xyz"])  # (3, n_wavelengths)


def _blackbody_linear_srgb(kelvin: float) -> np.ndarray:
    """Linear sRGB of a blackbody's spectrum (Planck's law through the CIE 1931 CMFs)."""
    lam_m = _WAVELENGTHS_NM * 1e-9
    radiance = lam_m ** -5 / np.expm1(_C2_M_K / (lam_m * kelvin))
    xyz = _CMFS @ radiance
    return _XYZ_TO_LINEAR_SRGB @ (xyz / xyz[1])


@functools.lru_cache(maxsize=512)
def _colour_temperature_rgb_cached(kelvin: float) -> tuple[float, float, float]:
    ratio = _blackbody_linear_srgb(kelvin) / _blackbody_linear_srgb(6500.0)
    ratio = np.maximum(ratio, 1e-4)  # below ~1200 K blue falls just outside the sRGB gamut
    ratio = ratio / float(LUMA_WEIGHTS.astype(np.float64) @ ratio)
    return tuple(float(c) for c in ratio)


def colour_temperature_rgb(kelvin: float) -> np.ndarray:
    """Linear-RGB multiplier of light from a blackbody at ``kelvin``, relative to 6500 K.

    Planck's law is integrated against the CIE 1931 2-degree colour matching functions
    (the analytic fit of Wyman, Sloan & Shirley, JCGT 2013) over 360-830 nm, converted to
    linear sRGB (IEC 61966-2-1 matrix), divided channel-wise by the same for 6500 K (the
    camera is white-balanced for a 6500 K blackbody, so 6500 K gives (1, 1, 1)), and
    normalised to unit Rec. 709 luminance: the temperature changes the colour of light,
    not its level. Lower temperatures are redder (R/B > 1), higher ones bluer.
    """
    if not np.isfinite(kelvin) or kelvin <= 0:
        raise ValueError(f"colour temperature must be a positive number of kelvin, got {kelvin}")
    return np.array(_colour_temperature_rgb_cached(float(kelvin)), dtype=np.float32)
