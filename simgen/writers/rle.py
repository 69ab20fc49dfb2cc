"""COCO run-length encoding of binary masks, without pycocotools.

COCO's RLE reads a mask of ``h x w`` pixels in column-major (Fortran) order and counts
alternating runs, starting with a run of zeros (which is 0 long when the first pixel is
set). The *compressed* form stores the counts as a string: each count, minus the count two
places before it from the fourth on (the "delta trick": runs of a compact shape repeat
from column to column), is written like LEB128 in 5-bit groups, least significant first,
one character ``48 + group`` per group with bit 5 set while more groups follow; the last
group's bit 4 is the sign. This is pycocotools' ``rleToString`` / ``rleFrString``.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

#: 5-bit groups per count: deltas of counts below 2**32 fit 34 bits with the sign.
_GROUPS = 8


def mask_to_rle(mask: np.ndarray) -> dict:
    """COCO compressed RLE ``{"size": [h, w], "counts": str}`` of a 2D mask (nonzero = set).

    Equal to ``pycocotools.mask.encode(np.asfortranarray(mask.astype(np.uint8)))`` with
    the counts decoded to ``str``.
    """
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"mask_to_rle: expected a 2D mask, got shape {mask.shape}")
    h, w = mask.shape
    flat = mask.ravel(order="F") != 0
    return {"size": [int(h), int(w)], "counts": encode_counts(_runs(flat))}


def instance_rles(instance: np.ndarray, ids: Iterable[int]) -> dict[int, dict]:
    """COCO compressed RLEs of ``instance == id`` for each id, from one pass over the image.

    ``instance`` is an integer id image (e.g. the uint16 instance PNG); ids without a pixel
    get the empty mask. Same result as ``mask_to_rle(instance == id)`` for each id, but the
    runs of the whole image are found once, so ~50 objects of a 640x480 frame cost about
    as much as one mask.
    """
    instance = np.asarray(instance)
    if instance.ndim != 2:
        raise ValueError(f"instance_rles: expected a 2D id image, got shape {instance.shape}")
    h, w = instance.shape
    size = [int(h), int(w)]
    flat = instance.ravel(order="F")
    n = flat.size
    if n == 0:
        return {int(i): {"size": size, "counts": encode_counts(np.zeros(1, np.int64))}
                for i in ids}
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    starts = np.concatenate(([0], change))
    ends = np.concatenate((change, [n]))
    values = flat[starts]
    order = np.argsort(values, kind="stable")  # runs grouped by id, in pixel order
    sorted_values = values[order]
    out: dict[int, dict] = {}
    for i in ids:
        lo = np.searchsorted(sorted_values, i, side="left")
        hi = np.searchsorted(sorted_values, i, side="right")
        runs = order[lo:hi]
        s, e = starts[runs], ends[runs]
        if s.size == 0:
            counts = np.array([n], np.int64)
        else:
            gaps = s - np.concatenate(([0], e[:-1]))  # zeros before each run of ones
            counts = np.stack((gaps, e - s), axis=1).ravel()
            if e[-1] < n:
                counts = np.concatenate((counts, [n - e[-1]]))
        out[int(i)] = {"size": size, "counts": encode_counts(counts)}
    return out


def rle_area(rle: dict) -> int:
    """Number of set pixels of a COCO RLE (compressed ``str``/``bytes`` or list counts)."""
    counts = rle["counts"]
    if not isinstance(counts, list | tuple | np.ndarray):
        counts = decode_counts(counts)
    return int(np.sum(np.asarray(counts, dtype=np.int64)[1::2]))


def encode_counts(counts: np.ndarray) -> str:
    """COCO's compressed string of run counts (pycocotools' ``rleToString``)."""
    c = np.asarray(counts, dtype=np.int64)
    x = c.copy()
    x[3:] -= c[1:-2]  # the delta trick: from the fourth count on, minus counts[i - 2]
    shifts = 5 * np.arange(_GROUPS, dtype=np.int64)
    shifted = x[:, None] >> shifts  # arithmetic shift: negative deltas stay negative
    groups = shifted & 0x1F
    rest = shifted >> 5
    more = np.where(groups & 0x10, rest != -1, rest != 0)
    if more[:, -1].any():
        raise ValueError("encode_counts: a run count does not fit 32 bits")
    length = np.argmin(more, axis=1) + 1  # groups up to and including the first final one
    keep = np.arange(_GROUPS) < length[:, None]
    chars = (groups | (more.astype(np.int64) << 5)) + 48
    return chars[keep].astype(np.uint8).tobytes().decode("ascii")


def decode_counts(text: str | bytes) -> np.ndarray:
    """Run counts of a COCO compressed string (pycocotools' ``rleFrString``)."""
    data = text.encode("ascii") if isinstance(text, str) else bytes(text)
    counts: list[int] = []
    p = 0
    while p < len(data):
        x = 0
        k = 0
        more = True
        while more:
            c = data[p] - 48
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and c & 0x10:
                x |= -1 << (5 * k)
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x)
    return np.array(counts, dtype=np.int64)


def _runs(flat: np.ndarray) -> np.ndarray:
    """Alternating run lengths of a flat boolean array, starting with a run of zeros."""
    n = flat.size
    if n == 0:
        return np.zeros(1, np.int64)
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    runs = np.diff(np.concatenate(([0], change, [n])))
    if flat[0]:
        runs = np.concatenate(([0], runs))
    return runs.astype(np.int64)
