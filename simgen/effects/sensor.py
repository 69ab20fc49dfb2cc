"""The sensor: under-exposure, photon shot noise and read noise, quantisation.

A pixel value v in 0..1 (linear, 1 = full well) at analogue gain g collected
``e = v x full_well / g`` photo-electrons. Their count is Poisson (variance e); the
read-out adds Gaussian noise of ``read_noise`` electrons; the gain maps electrons back:
``v' = e' g / full_well``. So per channel

    Var(v') = v g / full_well + (g read_noise / full_well)^2,

which grows with the gain: the same image level is noisier at night (the camera raised
its gain) than by day.
"""

from __future__ import annotations

import functools
import statistics

import numpy as np

from simgen.sampling.conditions import LowLightParams, NoiseParams

_NORMAL_TABLE_BITS = 16


@functools.lru_cache(maxsize=1)
def _normal_quantiles() -> np.ndarray:
    """65,536 standard-normal quantiles at probabilities (k + 0.5) / 65,536, rescaled to
    unit variance exactly (the table stops at +-4.3 sigma)."""
    n = 1 << _NORMAL_TABLE_BITS
    dist = statistics.NormalDist()
    table = np.array([dist.inv_cdf((k + 0.5) / n) for k in range(n)])
    table /= np.sqrt(np.mean(table * table))
    return table.astype(np.float32)


def standard_normal(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Standard-normal float32 samples by inverse-CDF table look-up of 16-bit uniforms.

    About 4x faster than ``rng.standard_normal`` on images; the distribution is exact up
    to the 16-bit quantisation of probability (tails beyond ~4.3 sigma are cut) and its
    variance is exactly 1.
    """
    index = rng.integers(0, 1 << _NORMAL_TABLE_BITS, size=shape, dtype=np.uint16)
    return _normal_quantiles().take(index)


def apply_low_light(image: np.ndarray, low_light: LowLightParams) -> None:
    """Scale the light reaching the sensor by ``2 ** exposure_ev`` (in place)."""
    image *= np.float32(2.0 ** low_light.exposure_ev)


def noise_variance(value: np.ndarray | float, noise: NoiseParams, gain: float):
    """Variance of a recorded linear value: ``v g / fw + (g read / fw)^2`` (v clipped at 0)."""
    fw = noise.full_well_e
    return np.maximum(value, 0) * (gain / fw) + (gain * noise.read_noise_e / fw) ** 2


def apply_noise(image: np.ndarray, noise: NoiseParams, gain: float,
                rng: np.random.Generator) -> None:
    """Add shot and read noise to every channel of ``image`` (in place).

    The Poisson count is approximated by a normal of the same mean and variance (so the
    variance is exact; the skew of very low counts is not modelled), and summed with the
    Gaussian read noise into one draw per pixel and channel.
    """
    std = np.sqrt(noise_variance(image, noise, gain).astype(np.float32))
    image += std * standard_normal(rng, image.shape)
