"""PNG encoding built for throughput: one row filter and ISA-L's deflate.

libpng (through OpenCV) spent 40-75 % of a frame's extra CPU time: it tries five row
filters per row, then deflates with zlib. Here every row uses the Up filter (the
difference from the row above: one numpy subtraction for the whole image) and the
filtered bytes are deflated by ISA-L at level 1, which releases the GIL. Measured on the
shipped scenarios' 640x480 frames: RGB 1.9 ms (libpng adaptive + zlib level 1: 14.5
ms), 16-bit depth 1.0 ms (4.5 ms); files are up to 17 % larger (RGB 244 KiB against
208 KiB). The output is a plain PNG: any decoder reads it.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np
from isal import isal_zlib

SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: PNG colour types: greyscale and truecolour (RGB).
_GREY, _RGB = 0, 2
#: Filter type byte starting each row: Up (row minus the row above; the first row's
#: "above" is zero, so it is stored as is).
_FILTER_UP = 2
#: ISA-L's fastest level that still matches repeats (0 is a plain Huffman pass).
DEFLATE_LEVEL = 1


def _chunk(kind: bytes, data) -> bytes:
    crc = zlib.crc32(data, zlib.crc32(kind))
    return b"".join((struct.pack(">I", len(data)), kind, bytes(data),
                     struct.pack(">I", crc & 0xFFFFFFFF)))


def encode_png(image: np.ndarray) -> bytes:
    """The PNG file of ``image``: (H, W) uint8 or uint16 greyscale, or (H, W, 3) uint8 RGB
    (in that channel order)."""
    if image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8:
        colour = _RGB
    elif image.ndim == 2 and image.dtype in (np.uint8, np.uint16):
        colour = _GREY
    else:
        raise ValueError(f"cannot encode a {image.dtype} array of shape {image.shape} as PNG")
    height, width = image.shape[:2]
    if height == 0 or width == 0:
        raise ValueError(f"cannot encode an empty {width}x{height} image as PNG")
    bit_depth = 8 * image.dtype.itemsize
    # PNG stores 16-bit samples big-endian; rows as bytes.
    rows = np.ascontiguousarray(image, dtype=image.dtype.newbyteorder(">")).view(np.uint8)
    rows = rows.reshape(height, -1)
    filtered = np.empty((height, rows.shape[1] + 1), dtype=np.uint8)
    filtered[:, 0] = _FILTER_UP
    filtered[0, 1:] = rows[0]
    np.subtract(rows[1:], rows[:-1], out=filtered[1:, 1:])  # modulo 256, as PNG wants
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour, 0, 0, 0)
    return b"".join((SIGNATURE, _chunk(b"IHDR", header),
                     _chunk(b"IDAT", isal_zlib.compress(filtered, DEFLATE_LEVEL)),
                     _chunk(b"IEND", b"")))
