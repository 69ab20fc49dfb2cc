"""Train/val/test splits of a dataset by whole episodes, reproducible from the root seed.

Frames of one episode are strongly correlated (same world, same actors, consecutive
instants), so a split never divides an episode. Each episode gets a random sort key drawn
from its own stream ``SeedSequence(seed, spawn_key=(SPLIT_STREAM, episode))``; episodes
are ranked by that key and the ranking is cut into consecutive train, val and test blocks
whose sizes come from the ratios by the largest-remainder method. The generator's episode
streams use ``spawn_key=(episode,)`` and ``(episode, k)`` with small ``k``, so the split
streams never coincide with them. Because every episode's key depends only on the seed and
its own index, the result does not depend on the order episodes are given in, and adding
episodes to a dataset only inserts them into the ranking (existing episodes keep their
relative order).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

#: The splits, in the order their blocks are cut from the ranking (and ties are broken).
SPLITS = ("train", "val", "test")
#: First spawn-key word of the split streams: far above any episode index.
SPLIT_STREAM = 2**32 - 1
#: Tolerance on the sum of the ratios.
RATIO_TOLERANCE = 1e-6


def validate_ratios(ratios: Sequence[float]) -> tuple[float, float, float]:
    """Return ``ratios`` as a (train, val, test) tuple of floats, or raise ``ValueError``.

    Each ratio must be a finite non-negative number and they must sum to 1 within 1e-6.
    """
    values = tuple(ratios)
    if len(values) != 3:
        raise ValueError(f"split ratios: expected 3 numbers (train, val, test), got "
                         f"{len(values)}")
    try:
        floats = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        raise ValueError(f"split ratios: not numbers: {values!r}") from None
    for name, value in zip(SPLITS, floats, strict=True):
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"split ratios: {name} ratio {value:g} must be a finite "
                             f"number >= 0")
    total = math.fsum(floats)
    if abs(total - 1.0) > RATIO_TOLERANCE:
        raise ValueError(f"split ratios: must sum to 1, got {total:g} "
                         f"({' + '.join(f'{v:g}' for v in floats)})")
    return floats  # type: ignore[return-value]


def split_counts(n: int, ratios: Sequence[float]) -> tuple[int, int, int]:
    """Episodes per split for ``n`` episodes: floor of ``n * ratio``, then the leftover
    episodes one each to the largest fractional parts (ties to train, then val)."""
    floats = validate_ratios(ratios)
    quotas = [n * r for r in floats]
    counts = [math.floor(q) for q in quotas]
    leftover = n - sum(counts)
    by_remainder = sorted(range(3), key=lambda i: (-(quotas[i] - counts[i]), i))
    for i in by_remainder[:leftover]:
        counts[i] += 1
    return counts[0], counts[1], counts[2]


def episode_splits(episodes: Sequence[int], ratios: tuple[float, float, float],
                   seed: int) -> dict[int, str]:
    """Map each episode index to ``"train"``, ``"val"`` or ``"test"``.

    Deterministic from ``seed`` (the dataset's root seed) and independent of the order of
    ``episodes``; split sizes follow ``ratios`` (train, val, test) by largest remainder.
    Raises ``ValueError`` for invalid ratios or repeated or negative episode indices.
    """
    indices = [int(e) for e in episodes]
    if len(set(indices)) != len(indices):
        raise ValueError("episode_splits: episode indices repeat")
    if any(e < 0 for e in indices):
        raise ValueError("episode_splits: episode indices must be >= 0")
    counts = split_counts(len(indices), ratios)
    ranked = sorted(indices, key=lambda e: (_sort_key(seed, e), e))
    out: dict[int, str] = {}
    start = 0
    for name, count in zip(SPLITS, counts, strict=True):
        for episode in ranked[start:start + count]:
            out[episode] = name
        start += count
    return dict(sorted(out.items()))


def _sort_key(seed: int, episode: int) -> int:
    """A 64-bit random key for one episode from its own split stream."""
    words = np.random.SeedSequence(seed, spawn_key=(SPLIT_STREAM, episode)).generate_state(
        2, np.uint32)
    return (int(words[0]) << 32) | int(words[1])
