"""Procedural textures for bodies: pattern images and putting them on links in PyBullet.

``make_texture`` is pure numpy/OpenCV: a (size, size, 3) uint8 RGB image that blends two
colours by a pattern whose parameters (angle, period, cell size, noise grid) are drawn
from the caller's generator, so the same generator state gives the same bytes.

``TextureBank`` writes those images as PNGs into its own temporary folder (PyBullet's
``loadTexture`` only reads files) and sets them on body links. Image row 0 is the top
of the texture; how PyBullet maps it onto a shape is the shape's own UV layout, and
primitive shapes show only part of it: each face of a box samples about a quarter of the
texture's width, so periods and cells here are at most a quarter of ``size``. Meshes
without texture coordinates take one uniform colour from a texture, no pattern.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from simgen.errors import SimgenError, did_you_mean
from simgen.world.bullet import p

Colour = tuple[float, float, float]
#: A pattern: (generator, size in pixels) -> (size, size) float weights in [0, 1] of colour b.
Pattern = Callable[[np.random.Generator, int], np.ndarray]

_PATTERNS: dict[str, Pattern] = {}


def _pattern(kind: str) -> Callable[[Pattern], Pattern]:
    """Register a pattern function under ``kind``."""

    def decorate(fn: Pattern) -> Pattern:
        _PATTERNS[kind] = fn
        return fn

    return decorate


@_pattern("noise")
def _noise(rng: np.random.Generator, size: int) -> np.ndarray:
    """Fractal value noise: random grids, bicubically upsampled, summed over 4 octaves."""
    base_cells = int(rng.integers(3, 7))  # features about size / 3 .. size / 6 across
    total = np.zeros((size, size), dtype=np.float64)
    amplitude = 1.0
    for octave in range(4):
        cells = base_cells * 2**octave
        grid = rng.random((cells + 1, cells + 1))
        total += amplitude * cv2.resize(grid, (size, size), interpolation=cv2.INTER_CUBIC)
        amplitude *= 0.5
    lo, hi = total.min(), total.max()
    return (total - lo) / max(hi - lo, 1e-12)


@_pattern("stripes")
def _stripes(rng: np.random.Generator, size: int) -> np.ndarray:
    """Two-colour bands of equal width at a random angle, period and phase (edges ~1 px soft)."""
    angle_rad = rng.uniform(0.0, np.pi)
    period_px = rng.uniform(size / 16, size / 4)
    phase = rng.uniform(0.0, 1.0)
    across = _projection(size, angle_rad) / period_px + phase
    # A clipped sine is a square wave whose edges ramp over about one pixel.
    sharpness = period_px / (2 * np.pi)
    return 0.5 + 0.5 * np.clip(sharpness * np.sin(2 * np.pi * across), -1.0, 1.0)


@_pattern("checker")
def _checker(rng: np.random.Generator, size: int) -> np.ndarray:
    """Axis-aligned checkerboard of a random whole-pixel cell size and offset."""
    cell_px = int(rng.integers(max(size // 32, 2), max(size // 8, 2) + 1))
    offset_x, offset_y = rng.integers(0, 2 * cell_px, size=2)
    idx = np.arange(size)
    cols = (idx + offset_x) // cell_px
    rows = (idx + offset_y) // cell_px
    return ((rows[:, None] + cols[None, :]) % 2).astype(np.float64)


@_pattern("gradient")
def _gradient(rng: np.random.Generator, size: int) -> np.ndarray:
    """Linear ramp from colour a to colour b across the image at a random angle."""
    along = _projection(size, rng.uniform(0.0, 2 * np.pi))
    return (along - along.min()) / max(along.max() - along.min(), 1e-12)


#: Texture kinds ``make_texture`` knows, in registration order.
TEXTURE_KINDS: tuple[str, ...] = tuple(_PATTERNS)


def _projection(size: int, angle_rad: float) -> np.ndarray:
    """Pixel coordinates projected on the unit vector at ``angle_rad`` (x right, y down), px."""
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64)
    return xs * np.cos(angle_rad) + ys * np.sin(angle_rad)


def make_texture(kind: str, colour_a: Colour, colour_b: Colour, rng: np.random.Generator,
                 size: int = 128) -> np.ndarray:
    """A ``size`` x ``size`` x 3 uint8 RGB texture of pattern ``kind`` blending two colours.

    ``colour_a`` and ``colour_b`` are RGB in 0..1. Every random choice (angle, period, cell
    size, noise grid) is drawn from ``rng``; the same generator state gives the same bytes.
    """
    if kind not in _PATTERNS:
        raise SimgenError(f"unknown texture kind {kind!r}{did_you_mean(kind, _PATTERNS)}; "
                          f"kinds are {', '.join(TEXTURE_KINDS)}")
    if size < 2:
        raise SimgenError(f"texture size must be at least 2 pixels, got {size}")
    a, b = (_rgb(c, name) for c, name in ((colour_a, "colour_a"), (colour_b, "colour_b")))
    weight = _PATTERNS[kind](rng, size)[:, :, None]
    rgb = (1.0 - weight) * a + weight * b
    return np.clip(np.rint(rgb * 255.0), 0, 255).astype(np.uint8)


def _rgb(colour: Colour, name: str) -> np.ndarray:
    rgb = np.asarray(colour, dtype=np.float64)
    if rgb.shape != (3,) or not np.all((rgb >= 0.0) & (rgb <= 1.0)):
        raise SimgenError(f"{name} must be three RGB values in 0..1, got {colour!r}")
    return rgb


class TextureBank:
    """Writes texture images as PNGs, loads them into PyBullet clients and sets them on links.

    Owns a temporary folder (removed by ``close()`` or on leaving a ``with`` block).
    Images are named by their content hash, never by a counter: TinyRenderer caches a
    texture by file path for the life of the client, resets included, so a reused name
    would show the old picture. At most ``max_files`` PNGs stay on disk; older ones are
    deleted and written again if needed.

    Texture ids are cached per client, so an image is loaded once per world however many
    links wear it, and the cache is dropped when the client is reset: after
    ``p.resetSimulation`` an old id silently shows whichever texture was loaded at the same
    slot since. The bank notices a reset by a user-data entry it puts on a body it
    textured (``resetSimulation`` removes all user data).

    PyBullet frees textures only when the client disconnects. TinyRenderer keeps every
    distinct image loaded (about 1.4x its raw size); EGL keeps a copy per load. Reconnect
    the client every so often to bound memory. With the EGL renderer (PyBullet 3.2.7) a
    texture shows the right image only in a client that has not been reset and into which
    no textured mesh (the table, tray, duck, jenga, sphere_small, the racecar's wheels)
    was loaded before it: the plugin indexes its GPU textures by a counter that a reset
    or a mesh texture puts out of step. In EGL, use a fresh client per textured episode
    and ``preload`` the episode's images before building the world.
    """

    def __init__(self, max_files: int = 1024) -> None:
        if max_files < 1:
            raise SimgenError(f"max_files must be at least 1, got {max_files}")
        self.max_files = max_files
        self.directory = Path(tempfile.mkdtemp(prefix="simgen_textures_"))
        self._marker_key = f"simgen_texture_bank:{self.directory.name}"
        self._files: OrderedDict[str, Path] = OrderedDict()  # digest -> PNG, oldest first
        self._worlds: dict[int, _ClientTextures] = {}

    def apply(self, client: int, uid: int, link: int, image: np.ndarray) -> int:
        """Put ``image`` (H x W x 3 uint8 RGB) on link ``link`` of body ``uid``; return its id.

        ``link`` is -1 for the base. The link's colour becomes white so the texture
        shows in its own colours.
        """
        world = self._world(client)
        texture = self._load(client, world, image)
        p.changeVisualShape(uid, link, textureUniqueId=texture, rgbaColor=[1, 1, 1, 1],
                            physicsClientId=client)
        if world.marker_uid != uid:
            p.addUserData(uid, self._marker_key, "1", physicsClientId=client)
            world.marker_uid = uid
        return texture

    def preload(self, client: int, images: list[np.ndarray]) -> list[int]:
        """Load ``images`` into ``client`` now and return their ids.

        Call it after the reset and before building the world; ``apply`` calls with the
        same images in that world reuse these ids (see the class notes on EGL).
        """
        world = self._world(client)
        return [self._load(client, world, image) for image in images]

    def _world(self, client: int) -> _ClientTextures:
        """The id cache of ``client``'s current world, emptied if the client was reset."""
        world = self._worlds.setdefault(client, _ClientTextures())
        if world.marker_uid is not None:
            try:
                marked = p.getUserDataId(world.marker_uid, self._marker_key,
                                         physicsClientId=client) >= 0
            except p.error:  # the client itself is gone (a new one may reuse its id)
                marked = False
            if not marked:
                self._worlds[client] = world = _ClientTextures()
        return world

    def _load(self, client: int, world: _ClientTextures, image: np.ndarray) -> int:
        digest = _digest(image)
        texture = world.ids.get(digest)
        if texture is None:
            path = self._write(digest, image)
            texture = p.loadTexture(str(path), physicsClientId=client)
            if texture < 0:
                raise SimgenError(f"PyBullet could not load the texture {path}")
            world.ids[digest] = texture
        return texture

    def _write(self, digest: str, image: np.ndarray) -> Path:
        path = self._files.pop(digest, None) or self.directory / f"{digest}.png"
        self._files[digest] = path  # most recently used last
        if not path.exists():
            cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        while len(self._files) > self.max_files:
            _, oldest = self._files.popitem(last=False)
            oldest.unlink(missing_ok=True)
        return path

    def close(self) -> None:
        """Delete the texture folder (idempotent). Loaded textures stay in their clients."""
        shutil.rmtree(self.directory, ignore_errors=True)
        self._files.clear()
        self._worlds.clear()

    def __enter__(self) -> TextureBank:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@dataclass
class _ClientTextures:
    """Texture ids loaded into one client since its last reset, by image digest."""

    ids: dict[str, int] = field(default_factory=dict)
    marker_uid: int | None = None


def _digest(image: np.ndarray) -> str:
    """Content hash of an RGB texture image (checks its type and shape)."""
    image = np.ascontiguousarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise SimgenError(f"a texture must be an H x W x 3 uint8 image, got {image.dtype} "
                          f"{image.shape}")
    h = hashlib.sha1(np.asarray(image.shape, dtype=np.int64).tobytes())
    h.update(image.tobytes())
    return h.hexdigest()[:24]
