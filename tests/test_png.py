"""The PNG encoder: files any decoder reads back exactly (libpng through OpenCV, which
checks every chunk's CRC), for every array the dataset writes."""

from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np
import pytest

from simgen.writers.png import SIGNATURE, encode_png


def _decode(data: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert image is not None
    return image[:, :, ::-1] if image.ndim == 3 else image  # OpenCV hands out BGR


@pytest.mark.parametrize("shape, dtype", [
    ((48, 64, 3), np.uint8), ((48, 64), np.uint16), ((48, 64), np.uint8),
    ((1, 1), np.uint16), ((1, 9, 3), np.uint8), ((7, 1), np.uint16)])
def test_random_images_read_back_exactly(shape, dtype):
    rng = np.random.default_rng(len(shape) + shape[0])
    image = rng.integers(0, np.iinfo(dtype).max + 1, shape).astype(dtype)
    back = _decode(encode_png(image))
    assert back.dtype == dtype
    assert np.array_equal(back.reshape(shape), image)


def test_chunks_are_well_formed_and_smooth_images_compress():
    # a depth-like ramp with a flat region: rows barely differ, so the Up filter leaves
    # mostly zeros and deflate must shrink it far below its 2 x 480 x 640 bytes
    ramp = np.add.outer(np.arange(480) * 7, np.arange(640)).astype(np.uint16)
    ramp[100:200, 100:300] = 1234
    data = encode_png(ramp)
    assert data.startswith(SIGNATURE)
    at, kinds = len(SIGNATURE), []
    while at < len(data):
        length, = struct.unpack(">I", data[at:at + 4])
        kind, body = data[at + 4:at + 8], data[at + 8:at + 8 + length]
        crc, = struct.unpack(">I", data[at + 8 + length:at + 12 + length])
        assert zlib.crc32(kind + body) == crc
        kinds.append(kind)
        at += 12 + length
    assert kinds == [b"IHDR", b"IDAT", b"IEND"]
    assert len(data) < ramp.nbytes / 20
    assert np.array_equal(_decode(data), ramp)


def test_arrays_png_cannot_hold_are_refused():
    with pytest.raises(ValueError, match="float32"):
        encode_png(np.zeros((4, 4), np.float32))
    with pytest.raises(ValueError, match="shape"):
        encode_png(np.zeros((4, 4, 4), np.uint8))
    with pytest.raises(ValueError, match="empty"):
        encode_png(np.zeros((0, 4), np.uint8))
