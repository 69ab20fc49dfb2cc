"""Rendering one camera: RGB, metric depth and instance ids."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simgen.sensors.camera import CameraView
from simgen.world.bullet import p, quiet_stdout


@dataclass(frozen=True)
class RenderedFrame:
    """Raw images of one camera at one instant.

    ``depth_m`` is z-depth along the optical axis in metres (0 where nothing was hit,
    i.e. the far plane); ``instance`` holds instance ids (0 = background).
    """

    rgb: np.ndarray  # (H, W, 3) uint8
    depth_m: np.ndarray  # (H, W) float32
    instance: np.ndarray  # (H, W) uint16


def depth_buffer_to_metres(buffer: np.ndarray, near: float, far: float) -> np.ndarray:
    """Invert the perspective depth buffer (in [0, 1]) to z-depth in metres (1 -> far).

    Whether a pixel hit anything is the segmentation's call, not the buffer's: EGL's
    buffer reaches exactly 1.0 for surfaces within millimetres of the far plane.
    """
    buffer = np.minimum(buffer.astype(np.float64), 1.0)
    return (far * near / (far - (far - near) * buffer)).astype(np.float32)


def render(client: int, render_flag: int, view: CameraView, uid_to_instance: np.ndarray,
           light_direction=(0.4, -0.3, 0.85), shadows: bool = False):
    """Render ``view`` and map PyBullet's segmentation (body uids) to instance ids.

    ``light_direction`` (world frame, towards the light) and ``shadows`` are passed on
    every call: both renderers keep the previous call's light state otherwise.
    """
    with quiet_stdout():  # the EGL plugin prints its GL vendor when it (re)initialises
        _, _, rgba, depth, seg = p.getCameraImage(
            view.width, view.height, view.view_gl, view.proj_gl, renderer=render_flag,
            lightDirection=list(light_direction), shadow=int(shadows),
            physicsClientId=client)
    rgba = np.asarray(rgba, dtype=np.uint8).reshape(view.height, view.width, 4)
    depth = np.asarray(depth, dtype=np.float32).reshape(view.height, view.width)
    seg = np.asarray(seg, dtype=np.int64).reshape(view.height, view.width)
    depth_m = depth_buffer_to_metres(depth, view.near_m, view.far_m)
    depth_m[seg < 0] = 0.0  # no body hit: the only "no surface" (0) the depth images hold
    # Segmentation holds the body uid (-1 for none); shift by one to index the lookup table.
    seg = np.clip(seg + 1, 0, len(uid_to_instance) - 1)
    return RenderedFrame(
        rgb=np.ascontiguousarray(rgba[:, :, :3]),
        depth_m=depth_m,
        instance=uid_to_instance[seg],
    )


#: Renders that flush the previous light from PyBullet 3.2.7's EGL renderer.
_LIGHT_SETTLE_RENDERS = 2


def settle_light(client: int, render_flag: int, view: CameraView,
                 light_direction, shadows: bool) -> None:
    """Make the next render independent of what the connection rendered before.

    The EGL renderer lights with the light of earlier calls (with or without shadows):
    the first two frames of an episode showed the previous episode's light (34 of 19,200
    pixels differed between a fresh and a reused connection). Two tiny renders with this
    episode's light flush it (measured: identical frames after two, not after one), so an episode's
    images do not depend on which worker made it or what that worker made before. They
    cost about 27 ms each on Mesa llvmpipe (a getCameraImage call's fixed cost; the
    first render of a new world also uploads its meshes, which frame 0 would pay
    otherwise).
    """
    with quiet_stdout():
        for _ in range(_LIGHT_SETTLE_RENDERS):
            p.getCameraImage(8, 8, view.view_gl, view.proj_gl, renderer=render_flag,
                             lightDirection=list(light_direction), shadow=int(shadows),
                             flags=p.ER_NO_SEGMENTATION_MASK, physicsClientId=client)
