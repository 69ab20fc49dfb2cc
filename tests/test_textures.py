"""Procedural textures have the structure they claim and show up on PyBullet bodies.

Pattern tests read the image itself (cell size, stripe direction, ramp direction) rather
than the generator's parameters. Render tests look at a unit box's +x face head-on, so
an untextured face is one flat colour and any variance over it is the texture.
"""

from __future__ import annotations

import os

import cv2
import numpy as np
import pybullet_data
import pytest
from conftest import RENDERERS

from simgen.errors import SimgenError
from simgen.world.bullet import p
from simgen.world.engine import PhysicsSession
from simgen.world.textures import TEXTURE_KINDS, TextureBank, make_texture

YELLOW = (0.9, 0.8, 0.1)
BLUE = (0.1, 0.2, 0.6)
RED = (1.0, 0.0, 0.0)
PURE_BLUE = (0.0, 0.0, 1.0)
SEEDS = range(8)


def weight_of_b(image: np.ndarray, a=YELLOW, b=BLUE) -> np.ndarray:
    """Per pixel, where it lies on the segment from colour ``a`` (0) to colour ``b`` (1)."""
    a, b = np.asarray(a) * 255, np.asarray(b) * 255
    return (image.astype(float) - a) @ (b - a) / float((b - a) @ (b - a))


def sample_line(values: np.ndarray, start_xy, direction_xy, length_px: float) -> np.ndarray:
    """Bilinear samples of ``values`` every pixel along a line (x right, y down)."""
    steps = np.arange(int(length_px))
    xs = (start_xy[0] + steps * direction_xy[0]).astype(np.float32)
    ys = (start_xy[1] + steps * direction_xy[1]).astype(np.float32)
    return cv2.remap(values.astype(np.float32), xs[None, :], ys[None, :], cv2.INTER_LINEAR)[0]


def structure_tensor(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (ascending) and unit (x, y) eigenvectors of the image's structure tensor.

    The eigenvalues are the mean squared derivative of ``values`` along each eigenvector:
    the first eigenvector is the direction along which the image changes least.
    """
    gy, gx = np.gradient(values.astype(float))
    tensor = np.array([[np.mean(gx * gx), np.mean(gx * gy)], [np.mean(gx * gy), np.mean(gy * gy)]])
    return np.linalg.eigh(tensor)


# --- the images ------------------------------------------------------------------------


@pytest.mark.parametrize("kind", TEXTURE_KINDS)
@pytest.mark.parametrize("size", [128, 64, 100])
def test_texture_is_an_rgb_image_blending_the_two_colours(kind: str, size: int) -> None:
    image = make_texture(kind, YELLOW, BLUE, np.random.default_rng(3), size=size)
    assert image.shape == (size, size, 3) and image.dtype == np.uint8
    # Every pixel lies on the segment between the two colours (up to rounding).
    t = np.clip(weight_of_b(image), 0.0, 1.0)
    nearest = (1 - t)[..., None] * np.asarray(YELLOW) * 255 + t[..., None] * np.asarray(BLUE) * 255
    assert np.abs(image - nearest).max() <= 1.5
    assert np.ptp(t) > 0.9, "both colours appear"


def test_texture_kinds_are_the_documented_four() -> None:
    assert TEXTURE_KINDS == ("noise", "stripes", "checker", "gradient")


@pytest.mark.parametrize("seed", SEEDS)
def test_checker_repeats_every_two_cells_and_flips_every_cell(seed: int) -> None:
    image = make_texture("checker", YELLOW, BLUE, np.random.default_rng(seed))
    row = weight_of_b(image)[0] > 0.5
    edges = np.flatnonzero(np.diff(row)) + 1
    cell = int(np.diff(edges).min())
    assert np.all(np.diff(edges) == cell), "cells are all the same width"
    assert cell >= 2
    for axis in (0, 1):
        two = np.take(image, range(2 * cell, 128), axis=axis)
        assert np.array_equal(two, np.take(image, range(0, 128 - 2 * cell), axis=axis))
        one = np.take(image, range(cell, 128), axis=axis)
        differs = np.any(one != np.take(image, range(0, 128 - cell), axis=axis), axis=2)
        assert differs.all(), "a shift by one cell swaps the colours everywhere"


@pytest.mark.parametrize("seed", SEEDS)
def test_stripes_vary_across_and_not_along(seed: int) -> None:
    t = weight_of_b(make_texture("stripes", YELLOW, BLUE, np.random.default_rng(seed)))
    (change_along, change_across), vectors = structure_tensor(t)
    along, across = vectors[:, 0], vectors[:, 1]
    assert change_along < 0.01 * change_across
    # Sampled pixel by pixel: bands alternate across, and a line along one stays in it.
    centre = np.array([64.0, 64.0])
    var_across = np.var(sample_line(t, centre - 30 * across, across, 60))
    assert var_across > 0.1
    band_middles = [k for k in np.arange(-20, 20, 0.5)
                    if abs(t[tuple(np.round(centre + k * across).astype(int)[::-1])] - 0.5) > 0.45]
    var_along = np.median([np.var(sample_line(t, centre - 30 * along + k * across, along, 60))
                           for k in band_middles])
    assert var_along < 0.05 * var_across


def test_stripe_angle_is_random() -> None:
    angles_deg = []
    for seed in SEEDS:
        t = weight_of_b(make_texture("stripes", YELLOW, BLUE, np.random.default_rng(seed)))
        along = structure_tensor(t)[1][:, 0]
        angles_deg.append(np.degrees(np.arctan2(along[1], along[0])) % 180)
    assert np.ptp(angles_deg) > 45


@pytest.mark.parametrize("seed", SEEDS)
def test_gradient_is_monotonic_along_its_direction(seed: int) -> None:
    t = weight_of_b(make_texture("gradient", YELLOW, BLUE, np.random.default_rng(seed)))
    gy, gx = np.gradient(t)
    direction = np.array([gx.mean(), gy.mean()])
    direction /= np.linalg.norm(direction)
    # A linear ramp: each row and each column is monotonic, all in the same sense.
    for axis, component in ((1, direction[0]), (0, direction[1])):
        steps = np.diff(t, axis=axis) * np.sign(component)
        assert steps.min() > -0.005, "monotonic (rounding aside)"
    line = sample_line(t, np.array([64.0, 64.0]) - 60 * direction, direction, 120)
    assert np.all(np.diff(line) > -0.005)
    assert line[-1] - line[0] > 0.6
    assert t.min() < 0.01 and t.max() > 0.99, "runs from one colour to the other"


@pytest.mark.parametrize("seed", SEEDS)
def test_noise_is_smooth_and_uses_both_colours(seed: int) -> None:
    t = weight_of_b(make_texture("noise", YELLOW, BLUE, np.random.default_rng(seed)))
    for a, b in ((t[:, :-1], t[:, 1:]), (t[:-1, :], t[1:, :])):
        assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.9, "neighbours are correlated"
    far = t[:, ::32]  # but it is not one smooth ramp: pixels 32 apart are much less alike
    assert np.corrcoef(far[:, :-1].ravel(), far[:, 1:].ravel())[0, 1] < 0.8
    assert (t < 0.1).mean() > 0.0005 and (t > 0.9).mean() > 0.0005, "both colours, nearly pure"
    assert 0.1 < t.std() < 0.3


@pytest.mark.parametrize("kind", TEXTURE_KINDS)
def test_same_seed_same_bytes_different_seed_different_image(kind: str) -> None:
    first = make_texture(kind, YELLOW, BLUE, np.random.default_rng(7))
    again = make_texture(kind, YELLOW, BLUE, np.random.default_rng(7))
    assert first.tobytes() == again.tobytes()
    others = [make_texture(kind, YELLOW, BLUE, np.random.default_rng(s)) for s in (8, 9)]
    assert all(not np.array_equal(first, other) for other in others)


def test_unknown_kind_and_bad_colour_are_user_errors() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(SimgenError, match="did you mean 'stripes'"):
        make_texture("stripe", YELLOW, BLUE, rng)
    with pytest.raises(SimgenError, match="colour_a"):
        make_texture("noise", (255, 0, 0), BLUE, rng)


# --- the bank --------------------------------------------------------------------------


def test_bank_owns_and_removes_its_folder() -> None:
    with TextureBank() as bank:
        folder = bank.directory
        assert folder.is_dir()
    assert not folder.exists()
    bank = TextureBank()
    bank.close()
    bank.close()  # idempotent
    assert not bank.directory.exists()


def test_bank_writes_each_image_once_and_bounds_its_files() -> None:
    rng = np.random.default_rng(0)
    images = [make_texture("noise", YELLOW, BLUE, rng, size=16) for _ in range(5)]
    client = p.connect(p.DIRECT)
    try:
        with TextureBank(max_files=3) as bank:
            box = _box(client)
            first = bank.apply(client, box, -1, images[0])
            assert bank.apply(client, box, -1, images[0].copy()) == first, "loaded once"
            assert len(list(bank.directory.glob("*.png"))) == 1
            for image in images[1:]:
                bank.apply(client, box, -1, image)
            assert len(list(bank.directory.glob("*.png"))) == 3
    finally:
        p.disconnect(physicsClientId=client)


def test_bank_reloads_after_a_reset() -> None:
    image = make_texture("checker", RED, PURE_BLUE, np.random.default_rng(0), size=16)
    client = p.connect(p.DIRECT)
    try:
        with TextureBank() as bank:
            before = bank.apply(client, _box(client), -1, image)
            p.resetSimulation(physicsClientId=client)
            after = bank.apply(client, _box(client), -1, image)
            assert after != before
            assert bank.apply(client, _box(client), -1, image) == after
    finally:
        p.disconnect(physicsClientId=client)


# --- rendered --------------------------------------------------------------------------

FACE_PX = 96


def _box(client: int, x_m: float = 0.0) -> int:
    """A matte 1 m cube centred at (x_m, 0, 0)."""
    visual = p.createVisualShape(p.GEOM_BOX, halfExtents=[0.5] * 3, physicsClientId=client)
    uid = p.createMultiBody(0, -1, visual, basePosition=[x_m, 0, 0], physicsClientId=client)
    p.changeVisualShape(uid, -1, rgbaColor=[1, 1, 1, 1], specularColor=[0, 0, 0],
                        physicsClientId=client)
    return uid


def _face(session: PhysicsSession, uid: int, x_m: float = 0.0) -> np.ndarray:
    """RGB pixels (N x 3, float) of the cube's +x face seen head-on, its rim left out."""
    c = session.client
    view = p.computeViewMatrix([x_m + 2.5, 0, 0], [x_m, 0, 0], [0, 0, 1])
    proj = p.computeProjectionMatrixFOV(40, 1.0, 0.1, 10.0)
    _, _, rgba, _, seg = p.getCameraImage(
        FACE_PX, FACE_PX, view, proj, renderer=session.render_flag, physicsClientId=c)
    rgb = np.reshape(rgba, (FACE_PX, FACE_PX, 4))[:, :, :3].astype(float)
    on = np.reshape(seg, (FACE_PX, FACE_PX)) == uid
    on = cv2.erode(on.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    assert on.mean() > 0.2, "the face fills the view"
    return rgb[on]


def _red_and_blue_shares(pixels: np.ndarray) -> tuple[float, float]:
    red = np.mean(pixels[:, 0] > pixels[:, 2] + 60)
    blue = np.mean(pixels[:, 2] > pixels[:, 0] + 60)
    return float(red), float(blue)


@pytest.mark.parametrize("renderer", RENDERERS)
def test_textured_box_shows_the_pattern(renderer: str) -> None:
    rng = np.random.default_rng(1)
    with PhysicsSession(renderer) as session, TextureBank() as bank:
        uid = _box(session.client)
        plain = _face(session, uid)
        bank.apply(session.client, uid, -1, make_texture("stripes", YELLOW, BLUE, rng))
        striped = _face(session, uid)
        bank.apply(session.client, uid, -1, make_texture("checker", RED, PURE_BLUE, rng))
        checker = _face(session, uid)
    # Light scales the texture's colour (EGL's point light shades a face unevenly), so
    # divide by the plain face: what is left is the texture, and the plain face gives 1.
    for textured in (striped, checker):
        albedo = textured / np.maximum(plain, 1.0)
        assert albedo.var(axis=0).sum() > 0.15, "the texture varies across the face"
        assert textured.var(axis=0).sum() > 2.5 * plain.var(axis=0).sum()
    # Two clusters, red and blue, and hardly anything in between.
    red, blue = _red_and_blue_shares(checker)
    assert red > 0.2 and blue > 0.2 and red + blue > 0.9


def _solid(colour) -> np.ndarray:
    return np.tile(np.asarray(colour, dtype=np.uint8), (8, 8, 1))


def _reset_and_texture_two_boxes(session: PhysicsSession, bank: TextureBank):
    """World 1 wears red; after a reset, world 2 loads green first and then reuses red."""
    c = session.client
    bank.apply(c, _box(c), -1, _solid((255, 0, 0)))
    p.resetSimulation(physicsClientId=c)
    green_box, red_box = _box(c, 0.0), _box(c, 5.0)
    bank.apply(c, green_box, -1, _solid((0, 255, 0)))
    bank.apply(c, red_box, -1, _solid((255, 0, 0)))
    return _face(session, green_box).mean(axis=0), _face(session, red_box, 5.0).mean(axis=0)


def test_bank_textures_are_right_after_a_reset_with_tiny() -> None:
    with PhysicsSession("tiny") as session, TextureBank() as bank:
        green, red = _reset_and_texture_two_boxes(session, bank)
    assert green[1] > 120 and green[0] < 30, green
    assert red[0] > 120 and red[1] < 30, red


@pytest.mark.parametrize("renderer", RENDERERS[1:])
@pytest.mark.xfail(strict=False, reason="PyBullet 3.2.7 eglRenderer: after resetSimulation a "
                   "loaded texture shows the GPU texture at its post-reset slot, i.e. an old one")
def test_bank_textures_after_a_reset_with_egl(renderer: str) -> None:
    with PhysicsSession(renderer) as session, TextureBank() as bank:
        green, red = _reset_and_texture_two_boxes(session, bank)
    assert green[1] > 120 and green[0] < 30, green
    assert red[0] > 120 and red[1] < 30, red


@pytest.mark.parametrize("renderer", RENDERERS)
def test_preloaded_texture_survives_a_textured_mesh_loaded_after_it(renderer: str) -> None:
    texture = make_texture("checker", RED, PURE_BLUE, np.random.default_rng(2))
    with PhysicsSession(renderer) as session, TextureBank() as bank:
        c = session.client
        bank.preload(c, [texture])
        # The table's mesh brings its own texture (table.png).
        p.loadURDF(os.path.join(pybullet_data.getDataPath(), "table/table.urdf"), [0, 5, 0],
                   physicsClientId=c)
        uid = _box(c)
        bank.apply(c, uid, -1, texture)
        red, blue = _red_and_blue_shares(_face(session, uid))
    assert red > 0.25 and blue > 0.25
