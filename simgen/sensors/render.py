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
    """Invert the perspective depth buffer (in [0, 1]) to z-depth in metres (1 -> far),
    in float32 (a few micrometres from float64 arithmetic at 65 m, well below the
    millimetre the depth images keep).

    Whether a pixel hit anything is the segmentation's call, not the buffer's: EGL's
    buffer reaches exactly 1.0 for surfaces within millimetres of the far plane.
    """
    depth = np.minimum(np.asarray(buffer, dtype=np.float32), np.float32(1.0))
    depth *= np.float32(far - near)
    np.subtract(np.float32(far), depth, out=depth)
    np.divide(np.float32(far * near), depth, out=depth)
    return depth


@dataclass(frozen=True)
class RawFrame:
    """``getCameraImage``'s buffers as they came, for ``decode`` off the simulation
    thread (PyBullet hands out new arrays on every call, so nothing changes them)."""

    rgba: np.ndarray  # (H, W, 4) uint8
    depth_buffer: np.ndarray  # (H, W) float32 in [0, 1]
    segmentation: np.ndarray  # (H, W) body uid, -1 for none
    near_m: float
    far_m: float

    def decode(self, uid_to_instance: np.ndarray) -> RenderedFrame:
        """RGB, metric depth and instance ids (``uid_to_instance[uid + 1]``)."""
        seg = self.segmentation
        depth_m = depth_buffer_to_metres(self.depth_buffer, self.near_m, self.far_m)
        depth_m *= seg >= 0  # no body hit: the only "no surface" (0) the depth images hold
        # Segmentation holds the body uid (-1 for none); shift by one to index the table.
        instance = uid_to_instance.take(seg + 1, mode="clip")
        rgb = np.ascontiguousarray(self.rgba[:, :, :3])
        return RenderedFrame(rgb=rgb, depth_m=depth_m, instance=instance)


def capture(client: int, render_flag: int, view: CameraView,
            light_direction=(0.4, -0.3, 0.85), shadows: bool = False) -> RawFrame:
    """Render ``view``: the buffers only, nothing converted (see ``RawFrame.decode``).

    ``light_direction`` (world frame, towards the light) and ``shadows`` are passed on
    every call: both renderers keep the previous call's light state otherwise.
    """
    with quiet_stdout():  # the EGL plugin prints its GL vendor when it (re)initialises
        _, _, rgba, depth, seg = p.getCameraImage(
            view.width, view.height, view.view_gl, view.proj_gl, renderer=render_flag,
            lightDirection=list(light_direction), shadow=int(shadows),
            physicsClientId=client)
    shape = (view.height, view.width)
    return RawFrame(
        rgba=np.asarray(rgba, dtype=np.uint8).reshape(*shape, 4),
        depth_buffer=np.asarray(depth, dtype=np.float32).reshape(shape),
        segmentation=np.asarray(seg, dtype=np.int32).reshape(shape),
        near_m=view.near_m, far_m=view.far_m)


def render(client: int, render_flag: int, view: CameraView, uid_to_instance: np.ndarray,
           light_direction=(0.4, -0.3, 0.85), shadows: bool = False) -> RenderedFrame:
    """Render ``view`` and map PyBullet's segmentation (body uids) to instance ids."""
    return capture(client, render_flag, view, light_direction, shadows).decode(
        uid_to_instance)


#: Renders that flush the previous light from PyBullet 3.2.7's EGL renderer.
_LIGHT_SETTLE_RENDERS = 2


def settle_light(client: int, render_flag: int, light_direction) -> None:
    """Make the next render independent of what the connection rendered before; call it
    on the empty world, before the episode's bodies are built.

    The EGL renderer lights the first two frames after a change of light with the light
    of earlier calls (with or without shadows), or on a new connection with its initial
    one: 30-34 pixels of a frame differed between a settled and an unsettled render,
    whether the connection was new or reused. Two tiny renders with this episode's light
    flush it (measured: identical frames after two, not after one), so an episode's
    images do not depend on which worker made it or what that worker made before.
    The light state does not depend on the scene, so the renders are made of the empty
    world: a render's cost grows with the bodies' geometry whatever the image size
    (Mesa llvmpipe, one core: 33-40 ms for an 8x8 render of driving_urban against
    44-49 ms at 640x480; about 14 ms for the empty world).
    """
    view = p.computeViewMatrix((0, 0, 1), (0, 0, 0), (0, 1, 0), physicsClientId=client)
    proj = p.computeProjectionMatrixFOV(60, 1.0, 0.1, 10.0, physicsClientId=client)
    with quiet_stdout():
        for _ in range(_LIGHT_SETTLE_RENDERS):
            p.getCameraImage(8, 8, view, proj, renderer=render_flag,
                             lightDirection=list(light_direction), shadow=0,
                             flags=p.ER_NO_SEGMENTATION_MASK, physicsClientId=client)
