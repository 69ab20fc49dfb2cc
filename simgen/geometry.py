"""Pure rotation and pose math shared by sampling (constraint checks) and sensors.

Camera rotations use OpenCV's camera frame: x right, y down, z forward.
"""

from __future__ import annotations

import math

import numpy as np


def look_at_rotation(eye: np.ndarray, target: np.ndarray, up: np.ndarray) -> np.ndarray:
    """World-from-camera rotation (OpenCV axes as columns) looking from eye to target."""
    forward = target - eye
    forward = forward / np.linalg.norm(forward)
    right = np.cross(forward, up)
    if np.linalg.norm(right) < 1e-6:  # looking along "up": any perpendicular will do
        right = np.cross(forward, np.array([1.0, 0, 0]) if abs(forward[0]) < 0.9
                         else np.array([0, 1.0, 0]))
    right = right / np.linalg.norm(right)
    down = np.cross(forward, right)
    return np.column_stack([right, down, forward])


def rpy_rotation(rpy_deg) -> np.ndarray:
    """World-from-camera rotation for a camera that at rpy = 0 looks along +x with z up."""
    r, pitch, y = (math.radians(a) for a in rpy_deg)
    cr, sr, cp, sp, cy, sy = (math.cos(r), math.sin(r), math.cos(pitch), math.sin(pitch),
                              math.cos(y), math.sin(y))
    rz = np.array([[cy, -sy, 0], [sy, cy, 0], [0, 0, 1]])
    ry = np.array([[cp, 0, sp], [0, 1, 0], [-sp, 0, cp]])
    rx = np.array([[1, 0, 0], [0, cr, -sr], [0, sr, cr]])
    body = rz @ ry @ rx  # columns: forward, left, up of the camera body
    forward, left, up = body[:, 0], body[:, 1], body[:, 2]
    return np.column_stack([-left, -up, forward])


def axis_rotation(angles_deg) -> np.ndarray:
    """Rotation by angles (deg) about a frame's own x, then y, then z axes."""
    ax, ay, az = (math.radians(a) for a in angles_deg)
    rx = np.array([[1, 0, 0], [0, math.cos(ax), -math.sin(ax)], [0, math.sin(ax), math.cos(ax)]])
    ry = np.array([[math.cos(ay), 0, math.sin(ay)], [0, 1, 0], [-math.sin(ay), 0, math.cos(ay)]])
    rz = np.array([[math.cos(az), -math.sin(az), 0], [math.sin(az), math.cos(az), 0], [0, 0, 1]])
    return rx @ ry @ rz


def camera_rotation(mount_rotation: np.ndarray, eye: np.ndarray, look_at: np.ndarray | None,
                    rpy_deg, rotation_offset_deg=(0.0, 0.0, 0.0)) -> np.ndarray:
    """World-from-camera rotation of a camera aimed at ``look_at`` (world frame) or by
    ``rpy_deg`` (mount frame), then turned by ``rotation_offset_deg`` about its own axes."""
    if look_at is not None:
        r_wc = look_at_rotation(eye, look_at, mount_rotation[:, 2])
    else:
        r_wc = mount_rotation @ rpy_rotation(rpy_deg)
    if any(rotation_offset_deg):
        r_wc = r_wc @ axis_rotation(rotation_offset_deg)
    return r_wc


def rotation_to_quaternion(rotation: np.ndarray) -> tuple[float, float, float, float]:
    """The unit quaternion (x, y, z, w), w >= 0, of a 3x3 rotation matrix."""
    m = np.asarray(rotation, dtype=float)
    trace = m[0, 0] + m[1, 1] + m[2, 2]
    if trace > 0:
        s = 2.0 * math.sqrt(trace + 1.0)
        q = ((m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s, s / 4)
    else:
        i = int(np.argmax(np.diag(m)))
        j, k = (i + 1) % 3, (i + 2) % 3
        s = 2.0 * math.sqrt(max(1.0 + m[i, i] - m[j, j] - m[k, k], 1e-300))
        q = [0.0, 0.0, 0.0, (m[k, j] - m[j, k]) / s]
        q[i] = s / 4
        q[j] = (m[j, i] + m[i, j]) / s
        q[k] = (m[k, i] + m[i, k]) / s
        q = tuple(q)
    q = np.array(q) / np.linalg.norm(q)
    if q[3] < 0:
        q = -q
    return tuple(float(v) for v in q)


def pinhole_intrinsics(width: int, height: int, fov_deg: float,
                       shift_px: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """K for a vertical field of view and square pixels, integer pixel coordinates at pixel
    centres; ``shift_px`` moves the principal point (a renderer's sampling offset)."""
    f = (height / 2) / math.tan(math.radians(fov_deg) / 2)
    du, dv = shift_px
    return np.array([[f, 0, width / 2 - 0.5 + du], [0, f, height / 2 - 0.5 + dv], [0, 0, 1]])
