"""Drawing values from spec distributions with an explicit generator."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from simgen.spec.distributions import Choice, Const, Dist, LogUniform, Normal, RandInt, Uniform


def draw(dist: Dist, rng: np.random.Generator) -> Any:
    """One value from ``dist``; constants are returned as they are, without drawing."""
    if isinstance(dist, Const):
        return dist.value
    if isinstance(dist, Uniform):
        return float(rng.uniform(dist.low, dist.high))
    if isinstance(dist, LogUniform):
        value = math.exp(rng.uniform(math.log(dist.low), math.log(dist.high)))
        # exp(log(x)) can round past x; the spec promised every draw lies in [low, high].
        return float(min(max(value, dist.low), dist.high))
    if isinstance(dist, RandInt):
        return int(rng.integers(dist.low, dist.high, endpoint=True))
    if isinstance(dist, Normal):
        return truncated_normal(dist.mean, dist.std, dist.min, dist.max, rng)
    if isinstance(dist, Choice):
        if dist.weights is None:
            index = int(rng.integers(len(dist.options)))
        else:
            weights = np.asarray(dist.weights, dtype=float)
            index = int(rng.choice(len(dist.options), p=weights / weights.sum()))
        return dist.options[index]
    raise TypeError(f"not a distribution: {dist!r}")


def truncated_normal(
    mean: float, std: float, low: float, high: float, rng: np.random.Generator
) -> float:
    """Normal(mean, std) conditioned on [low, high], by inverse-CDF sampling.

    Inverse CDF (not rejection) so the cost is the same for any truncation and each
    call consumes exactly one uniform draw.
    """
    return _truncated_normal_at(mean, std, low, high, float(rng.random()))


def truncated_normal_quantile(mean: float, std: float, low: float, high: float,
                              u: float) -> float:
    """The value of Normal(mean, std) conditioned on [low, high] at cumulative
    probability ``u`` in [0, 1)."""
    mirrored = (low - mean) / std > 0
    return _truncated_normal_at(mean, std, low, high, 1.0 - u if mirrored else u)


def _truncated_normal_at(mean: float, std: float, low: float, high: float, r: float) -> float:
    """The truncated normal's value at position ``r`` in [0, 1) of its CDF interval,
    counted from the low end, or from the high end when the interval lies above the mean."""
    z_low, z_high = (low - mean) / std, (high - mean) / std
    # Above the mean, sample the mirror image below it: Phi near 0 keeps full relative
    # precision (erfc), while Phi near 1 rounds to 1 beyond ~8 std and loses the interval.
    mirrored = z_low > 0
    if mirrored:
        z_low, z_high = -z_high, -z_low
    a, b = _phi(z_low), _phi(z_high)
    if not b > a:
        # Beyond ~38 std Phi underflows: the truncated mass sits at the nearer bound.
        return float(low if abs(low - mean) < abs(high - mean) else high)
    z = _phi_inv(a + (b - a) * r)
    if mirrored:
        z = -z
    return float(min(max(mean + std * z, low), high))


def quantile(dist: Dist, u: float) -> Any:
    """The value of ``dist`` at cumulative probability ``u`` in [0, 1): the map from a
    sweep design's unit interval to the distribution (uniform ``u`` gives its draws)."""
    if isinstance(dist, Const):
        return dist.value
    if isinstance(dist, Uniform):
        return float(min(dist.low + (dist.high - dist.low) * u, dist.high))
    if isinstance(dist, LogUniform):
        log_low, log_high = math.log(dist.low), math.log(dist.high)
        return float(min(max(math.exp(log_low + (log_high - log_low) * u), dist.low),
                         dist.high))
    if isinstance(dist, RandInt):
        count = dist.high - dist.low + 1
        return int(dist.low + min(int(u * count), count - 1))
    if isinstance(dist, Normal):
        return truncated_normal_quantile(dist.mean, dist.std, dist.min, dist.max, u)
    if isinstance(dist, Choice):
        weights = np.ones(len(dist.options)) if dist.weights is None else \
            np.asarray(dist.weights, dtype=float)
        edges = np.cumsum(weights) / weights.sum()
        index = int(np.searchsorted(edges, u, side="right"))
        return dist.options[min(index, len(dist.options) - 1)]
    raise TypeError(f"not a distribution: {dist!r}")


def _phi(z: float) -> float:
    return 0.5 * math.erfc(-z / math.sqrt(2.0))


def _phi_inv(p: float) -> float:
    """Inverse of the standard normal CDF (Acklam's rational approximation + one Newton step)."""
    p = min(max(p, 1e-300), 1 - 1e-16)
    a = (-3.969683028665376e01, 2.209460984245205e02, -2.759285104469687e02,
         1.383577518672690e02, -3.066479806614716e01, 2.506628277459239e00)
    b = (-5.447609879822406e01, 1.615858368580409e02, -1.556989798598866e02,
         6.680131188771972e01, -1.328068155288572e01)
    c = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e00,
         -2.549732539343734e00, 4.374664141464968e00, 2.938163982698783e00)
    d = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00,
         3.754408661907416e00)
    if p < 0.02425:
        q = math.sqrt(-2 * math.log(p))
        x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / \
            ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
    elif p > 1 - 0.02425:
        q = math.sqrt(-2 * math.log(1 - p))
        x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / \
            ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
    else:
        q = p - 0.5
        r = q * q
        x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q / \
            (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)
    # One Newton step against the exact CDF sharpens the approximation to ~1e-15.
    e = _phi(x) - p
    return x - e * math.sqrt(2 * math.pi) * math.exp(x * x / 2)
