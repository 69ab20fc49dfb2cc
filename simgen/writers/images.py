"""Image writers keyed by modality, and the background threads frames are finished on.

PNG encoding (``simgen.writers.png``) releases the GIL, as do most of the OpenCV and
numpy calls that label a frame and apply its effects, so this work overlaps with
simulation and rendering on the main thread. Files are written under a temporary name
and renamed, so an image on disk is always complete.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np

from simgen.errors import write_error
from simgen.writers.png import encode_png

#: Depth PNGs store millimetres in uint16: 0 = no surface within the far plane,
#: 65535 = 65.535 m or farther.
DEPTH_SCALE_MM_PER_M = 1000.0


def encode_rgb(rgb: np.ndarray) -> np.ndarray:
    """RGB uint8 is stored as it is."""
    return rgb.astype(np.uint8, copy=False)


def encode_depth(depth_m: np.ndarray) -> np.ndarray:
    """Metres -> uint16 millimetres (rounded), saturating at 65535."""
    mm = np.rint(depth_m.astype(np.float64) * DEPTH_SCALE_MM_PER_M)
    return np.clip(mm, 0, 65535).astype(np.uint16)


def encode_instance(instance: np.ndarray) -> np.ndarray:
    """Instance ids are already uint16."""
    return instance.astype(np.uint16, copy=False)


#: Modality -> the array its PNG stores. Adding an image layer is adding an entry here
#: (and writing its array with ``write_image``).
IMAGE_ENCODERS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "rgb": encode_rgb,
    "depth": encode_depth,
    "instance": encode_instance,
    "semantic": encode_instance,  # class ids, uint16 like instance ids
}


def decode_depth_png(path: str | Path) -> np.ndarray:
    """Read a depth PNG back to metres (float32)."""
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    return raw.astype(np.float32) / DEPTH_SCALE_MM_PER_M


def write_image(path: Path, modality: str, array: np.ndarray) -> None:
    """Convert, encode and write one image (under a temporary name, then renamed)."""
    data = encode_png(IMAGE_ENCODERS[modality](array))
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except OSError as exc:
        raise write_error(path, exc) from None


class ImageWriter:
    """Runs frame work (labels, effects, encoding and writing images) on ``threads``
    threads with a bounded backlog of ``max_pending`` jobs."""

    def __init__(self, threads: int = 2, max_pending: int = 24):
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="png")
        self._pending: deque[Future] = deque()
        self._max_pending = max_pending

    def compute(self, fn, *args) -> Future:
        """Run ``fn(*args)`` on the writer threads (work that can overlap the simulation,
        such as ``write_image``; it must not wait for other work queued here, and its
        arguments must not change afterwards); the result comes from the returned future.
        Blocks while the backlog is full (bounding memory); ``drain`` waits for it."""
        while len(self._pending) >= self._max_pending:
            self._pending.popleft().result()
        future = self._pool.submit(fn, *args)
        self._pending.append(future)
        return future

    def drain(self) -> None:
        """Wait until every queued image is on disk (re-raising any write error)."""
        while self._pending:
            self._pending.popleft().result()

    def close(self) -> None:
        """Drain and stop the threads."""
        try:
            self.drain()
        finally:
            self._pool.shutdown(wait=True)
