"""The seed tree: one root seed per run, one generator per episode.

Episode ``i`` of a run with root seed ``r`` draws from
``SeedSequence(r, spawn_key=(i,))``, the same sequence ``SeedSequence(r).spawn(n)[i]``
gives, so episodes are independent of how many there are and of which worker runs
them. Within an episode, separate child streams serve scenario sampling and
behaviours so that adding a draw to one does not shift the other.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class EpisodeSeeds:
    """The generators of one episode, derived from (root seed, episode index)."""

    index: int
    seed: int
    sampling: np.random.Generator
    behaviour: np.random.Generator


def episode_sequence(root_seed: int, index: int) -> np.random.SeedSequence:
    """The seed sequence of episode ``index`` under ``root_seed``."""
    return np.random.SeedSequence(root_seed, spawn_key=(index,))


def episode_seeds(root_seed: int, index: int) -> EpisodeSeeds:
    """Fresh generators for episode ``index``; ``seed`` is a 63-bit summary for the record."""
    seq = episode_sequence(root_seed, index)
    sampling_seq, behaviour_seq = seq.spawn(2)
    # One 64-bit word cut to 63 bits, in integers throughout (no float rounding).
    seed = int(seq.generate_state(1, dtype=np.uint64)[0]) >> 1
    return EpisodeSeeds(
        index=index,
        seed=seed,
        sampling=np.random.Generator(np.random.PCG64(sampling_seq)),
        behaviour=np.random.Generator(np.random.PCG64(behaviour_seq)),
    )


#: Child streams of an episode's sequence, by position: sampling, behaviour, effects.
EFFECTS_STREAM = 2


def effects_rng(root_seed: int, index: int, *key: int) -> np.random.Generator:
    """A generator for image effects of episode ``index``, keyed further by ``key``
    (e.g. camera and frame), independent of every other stream and of draw order."""
    seq = np.random.SeedSequence(root_seed, spawn_key=(index, EFFECTS_STREAM, *key))
    return np.random.Generator(np.random.PCG64(seq))


#: Second entropy word of the sweep design's sequence: (root seed, tag) is a different
#: entropy pool from every episode's (root seed alone, spawn key = episode index).
SWEEP_TAG = 0x5357454550  # "SWEEP"


def sweep_rng(root_seed: int) -> np.random.Generator:
    """The generator that places a run's sweep design (random, Latin hypercube, Sobol)."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([root_seed, SWEEP_TAG])))
