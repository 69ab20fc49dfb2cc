"""Camera geometry, depth and boxes checked against geometry computed independently."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import RENDERERS

from simgen.sampling.scene import CameraPlan
from simgen.sensors.camera import camera_view, project_points
from simgen.sensors.labels import visible_boxes
from simgen.sensors.pixels import InstancePixels
from simgen.sensors.render import render
from simgen.world.bullet import p
from simgen.world.engine import PhysicsSession
from simgen.writers.images import decode_depth_png, encode_depth


def _session(renderer):
    session = PhysicsSession(renderer)
    assert session.renderer_used == renderer
    return session


def _ground(client):
    """The world builder's own ground slab, top at z = 0."""
    from simgen.world.build import _Builder

    return _Builder(client).slab("ground", "ground", (0, 0), (60, 60), 0.0, (0.5, 0.5, 0.5, 1),
                                 tile_m=24.0)


def _cube(client, centre, half, rgba=(0.8, 0.1, 0.1, 1)):
    vis = p.createVisualShape(p.GEOM_BOX, halfExtents=half, rgbaColor=rgba, physicsClientId=client)
    col = p.createCollisionShape(p.GEOM_BOX, halfExtents=half, physicsClientId=client)
    return p.createMultiBody(0, col, vis, basePosition=centre, physicsClientId=client)


def _lut(*uids):
    lut = np.zeros(max(uids) + 2, dtype=np.uint16)
    for k, uid in enumerate(uids):
        lut[uid + 1] = k + 1
    return lut


def _plane_depth_expected(view, height_m):
    """z-depth of the plane z = 0 at every pixel, from the pinhole model alone."""
    h, w = view.height, view.width
    u, v = np.meshgrid(np.arange(w), np.arange(h))
    rays_cam = np.linalg.inv(view.K) @ np.stack([u.ravel(), v.ravel(), np.ones(u.size)])
    rays_world = view.cam_to_world[:3, :3] @ rays_cam  # camera-frame z component is 1
    t = -view.cam_to_world[2, 3] / rays_world[2]
    return t.reshape(h, w)


@pytest.mark.parametrize("renderer", RENDERERS)
@pytest.mark.parametrize("look_at,rpy", [((0.0, 0.01, 0.0), None), ((6.0, 1.0, 0.0), None),
                                         (None, (90.0, 30.0, 0.0)), (None, (-70.0, 40.0, 20.0))])
def test_depth_of_a_plane_matches_geometry(renderer, look_at, rpy):
    """Per-pixel z-depth of the ground equals the ray/plane intersection (within 1 cm).

    Tilted and rolled views also pin down the principal point of each renderer: half a
    pixel off along a row or column moves the depth of a tilted plane by centimetres.
    """
    with _session(renderer) as s:
        ground = _ground(s.client)
        cam = CameraPlan("c", "world", None, (0.0, 0.0, 3.0), look_at, rpy, 60.0, 0.1, 50.0,
                         160, 120)
        view = camera_view(cam, np.eye(4), renderer)
        shot = render(s.client, s.render_flag, view, _lut(ground))
    with np.errstate(divide="ignore"):
        expected = _plane_depth_expected(view, 3.0)
    hit = (expected > 0) & (expected < 8)
    assert hit.mean() > 0.3
    assert (shot.instance[hit] == 1).all()
    assert np.abs(shot.depth_m[hit] - expected[hit]).max() < 0.01
    # The 16-bit millimetre PNG encoding keeps that accuracy.
    assert np.abs(encode_depth(shot.depth_m).astype(float) / 1000 - shot.depth_m).max() <= 0.0005001
    assert (shot.depth_m[shot.instance == 0] == 0).all()  # sky: no depth


def test_depth_png_round_trip(tmp_path):
    import cv2

    depth = np.array([[0.0, 1.2345, 65.5, 80.0]], dtype=np.float32)
    cv2.imwrite(str(tmp_path / "d.png"), encode_depth(depth))
    back = decode_depth_png(tmp_path / "d.png")
    assert back[0, 0] == 0.0
    assert abs(back[0, 1] - 1.2345) <= 0.0005
    assert back[0, 2] == pytest.approx(65.5)
    assert back[0, 3] == pytest.approx(65.535)  # saturates instead of wrapping


@pytest.mark.parametrize("renderer", RENDERERS)
@pytest.mark.parametrize("centre,half", [((5.0, 0.4, 0.5), (0.5, 0.5, 0.5)),
                                         ((8.0, -1.5, 0.8), (0.3, 1.0, 0.8)),
                                         ((3.0, 0.0, 0.2), (0.2, 0.2, 0.2))])
def test_box_matches_projected_geometry(renderer, centre, half):
    with _session(renderer) as s:
        ground = _ground(s.client)
        cube = _cube(s.client, centre, half)
        cam = CameraPlan("c", "world", None, (0.0, 0.0, 1.6), (10.0, 0.0, 0.6), None, 55.0,
                         0.1, 60.0, 320, 240)
        view = camera_view(cam, np.eye(4), renderer)
        shot = render(s.client, s.render_flag, view, _lut(ground, cube))
        lo, hi = p.getAABB(cube, physicsClientId=s.client)
    # The collision AABB includes a small margin; shrink it back to the box.
    corners = np.array([[x, y, z] for x in (centre[0] - half[0], centre[0] + half[0])
                        for y in (centre[1] - half[1], centre[1] + half[1])
                        for z in (centre[2] - half[2], centre[2] + half[2])])
    assert np.all(corners >= np.array(lo) - 1e-6) and np.all(corners <= np.array(hi) + 1e-6)
    uv = project_points(view, corners)
    # Pixel-centre coordinates -> pixel-edge box, like the labels.
    expected = [uv[:, 0].min() + 0.5, uv[:, 1].min() + 0.5, uv[:, 0].max() + 0.5,
                uv[:, 1].max() + 0.5]
    (box,) = visible_boxes(shot.instance, np.array([2]), 1)
    got = [box.x0, box.y0, box.x1, box.y1]
    assert np.allclose(got, expected, atol=2.0), (got, expected)


@pytest.mark.parametrize("renderer", RENDERERS)
def test_mounted_camera_follows_its_actor(renderer):
    """A camera mounted on a body moves with it: the same object projects to the same box."""
    with _session(renderer) as s:
        ground = _ground(s.client)
        carrier = _cube(s.client, (0.0, 0.0, 0.25), (0.25, 0.25, 0.25))
        target = _cube(s.client, (6.0, 0.0, 0.5), (0.5, 0.5, 0.5))
        cam = CameraPlan("c", "carrier", None, (0.0, 0.0, 1.0), (10.0, 0.0, 0.0), None, 60.0,
                         0.1, 60.0, 160, 120)
        from simgen.sensors.camera import mount_pose

        boxes = []
        for dx in (0.0, 2.0):
            p.resetBasePositionAndOrientation(carrier, (dx, 0, 0.25), (0, 0, 0, 1),
                                              physicsClientId=s.client)
            p.resetBasePositionAndOrientation(target, (6.0 + dx, 0, 0.5), (0, 0, 0, 1),
                                              physicsClientId=s.client)
            view = camera_view(cam, mount_pose(s.client, carrier, None), renderer)
            assert view.cam_to_world[0, 3] == pytest.approx(dx)
            shot = render(s.client, s.render_flag, view, _lut(ground, carrier, target))
            boxes.append(visible_boxes(shot.instance, np.array([3]), 1)[0])
    assert (boxes[0].x0, boxes[0].y0, boxes[0].x1, boxes[0].y1) == \
        (boxes[1].x0, boxes[1].y0, boxes[1].x1, boxes[1].y1)


def test_visible_boxes_are_tight_bounds_and_respect_threshold():
    rng = np.random.default_rng(3)
    mask = np.zeros((50, 70), dtype=np.uint16)
    mask[10:20, 5:9] = 1  # 40 px
    mask[30:31, 40:43] = 2  # 3 px: below the threshold
    mask[rng.integers(0, 50, 30), rng.integers(0, 70, 30)] = 3  # scattered pixels
    mask[0, 0] = 4  # unlabeled id
    boxes = {b.instance_id: b for b in visible_boxes(mask, np.array([1, 2, 3]), 5)}
    assert set(boxes) == {1, 3}
    for i, b in boxes.items():
        ys, xs = np.nonzero(mask == i)
        assert (b.x0, b.y0, b.x1, b.y1) == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
        assert b.pixels == len(xs)


def test_instance_pixels_group_each_asked_id_in_image_order():
    rng = np.random.default_rng(5)
    image = rng.integers(0, 6, (37, 53)).astype(np.uint16)
    image[5:9, 10:30] = 9
    pixels = InstancePixels.of(image, [1, 2, 5, 7, 9, 0])  # 7 has no pixel; 0 is background
    assert pixels.ids.tolist() == [1, 2, 5, 9]
    assert pixels.index(7) is None and pixels.index(3) is None
    for i in (1, 2, 5, 9):
        k = pixels.index(i)
        rows, cols = np.nonzero(image == i)  # row-major, as the pixels are kept
        got_rows, got_cols = pixels.pixels(k)
        assert np.array_equal(got_rows, rows) and np.array_equal(got_cols, cols)
        assert pixels.count(k) == rows.size
        assert (pixels.top[k], pixels.bottom[k], pixels.left[k], pixels.right[k]) == (
            rows.min(), rows.max() + 1, cols.min(), cols.max() + 1)
    # The same boxes whether visible_boxes groups the pixels or is handed them.
    assert visible_boxes(image, np.array([9, 1]), 1) == visible_boxes(
        image, np.array([9, 1]), 1, pixels)
