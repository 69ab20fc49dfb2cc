"""Camera geometry: poses, intrinsics and the OpenGL matrices PyBullet renders with.

Conventions (documented in the README):
- The camera frame is OpenCV's: x right, y down, z forward (optical axis).
- ``K`` maps camera-frame points to pixel coordinates whose integer values are pixel
  centres, with (0, 0) the centre of the top-left pixel.
- ``cam_to_world`` is the 4x4 transform taking camera-frame points to the world frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from simgen.geometry import axis_rotation, camera_rotation, pinhole_intrinsics
from simgen.sampling.scene import CameraPlan
from simgen.world.bullet import p


@dataclass(frozen=True)
class CameraView:
    """A camera at one instant: its pose, intrinsics and PyBullet render matrices."""

    name: str
    width: int
    height: int
    near_m: float
    far_m: float
    K: np.ndarray  # 3x3
    cam_to_world: np.ndarray  # 4x4, OpenCV camera frame -> world
    view_gl: tuple[float, ...]  # column-major 4x4, for getCameraImage
    proj_gl: tuple[float, ...]


#: Where each renderer samples a pixel, relative to the OpenGL convention (the pixel's
#: centre), in pixels (du, dv). Measured by rendering tilted and rolled planes and fitting
#: the principal point to the depth (tests/test_sensors.py keeps checking it):
#: TinyRenderer's image is shifted by half a pixel right and up.
PRINCIPAL_POINT_SHIFT_PX: dict[str, tuple[float, float]] = {"egl": (0.0, 0.0),
                                                            "tiny": (0.5, -0.5)}


def intrinsics(width: int, height: int, fov_deg: float, renderer: str = "egl") -> np.ndarray:
    """Pinhole K for a vertical field of view, square pixels and the renderer's sampling."""
    return pinhole_intrinsics(width, height, fov_deg, PRINCIPAL_POINT_SHIFT_PX[renderer])


def projection_gl(width: int, height: int, fov_deg: float, near: float, far: float):
    """The OpenGL perspective matrix (column-major tuple) matching ``intrinsics``."""
    t = 1 / math.tan(math.radians(fov_deg) / 2)
    aspect = width / height
    m = np.array([
        [t / aspect, 0, 0, 0],
        [0, t, 0, 0],
        [0, 0, (far + near) / (near - far), 2 * far * near / (near - far)],
        [0, 0, -1, 0],
    ])
    return tuple(m.T.ravel())


def view_gl(cam_to_world: np.ndarray) -> tuple[float, ...]:
    """The OpenGL view matrix (column-major tuple) for an OpenCV camera-to-world pose."""
    gl_from_cv = np.diag([1.0, -1.0, -1.0, 1.0])  # GL camera: x right, y up, looks along -z
    world_to_gl = gl_from_cv @ np.linalg.inv(cam_to_world)
    return tuple(world_to_gl.T.ravel())


def mount_pose(client: int, uid: int | None, link: int | None) -> np.ndarray:
    """4x4 world pose of a mount: identity for the world, else a body's base or link frame."""
    pose = np.eye(4)
    if uid is None:
        return pose
    if link is None or link < 0:
        pos, orn = p.getBasePositionAndOrientation(uid, physicsClientId=client)
    else:
        state = p.getLinkState(uid, link, computeForwardKinematics=True, physicsClientId=client)
        pos, orn = state[4], state[5]
    pose[:3, :3] = np.array(p.getMatrixFromQuaternion(orn)).reshape(3, 3)
    pose[:3, 3] = pos
    return pose


def camera_view(plan: CameraPlan, mount: np.ndarray, renderer: str,
                time_s: float = 0.0) -> CameraView:
    """Place ``plan`` relative to its mount pose at ``time_s`` and derive every matrix for
    ``renderer`` (pose jitter and, once it has happened, a bump turn the aimed camera)."""
    rot, origin = mount[:3, :3], mount[:3, 3]
    eye = origin + rot @ np.asarray(plan.position_m)
    target = None if plan.look_at_m is None else origin + rot @ np.asarray(plan.look_at_m)
    r_wc = camera_rotation(rot, eye, target, plan.rpy_deg, plan.rotation_offset_deg)
    if plan.bump_at_s is not None and time_s >= plan.bump_at_s:
        r_wc = r_wc @ axis_rotation(plan.bump_rotation_deg)
    cam_to_world = np.eye(4)
    cam_to_world[:3, :3] = r_wc
    cam_to_world[:3, 3] = eye
    return CameraView(
        name=plan.name,
        width=plan.width,
        height=plan.height,
        near_m=plan.near_m,
        far_m=plan.far_m,
        K=intrinsics(plan.width, plan.height, plan.fov_deg, renderer),
        cam_to_world=cam_to_world,
        view_gl=view_gl(cam_to_world),
        proj_gl=projection_gl(plan.width, plan.height, plan.fov_deg, plan.near_m, plan.far_m),
    )


def project_points(view: CameraView, points_world: np.ndarray) -> np.ndarray:
    """Pixel coordinates (N, 2) of world points (N, 3) in front of the camera."""
    world_to_cam = np.linalg.inv(view.cam_to_world)
    pts = (world_to_cam[:3, :3] @ np.asarray(points_world).T).T + world_to_cam[:3, 3]
    uvw = (view.K @ pts.T).T
    return uvw[:, :2] / uvw[:, 2:3]
