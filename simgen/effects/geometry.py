"""Per-pixel camera geometry from intrinsics and z-depth: rays, distances, normals.

Frames: the camera frame is OpenCV's (x right, y down, z forward); integer pixel
coordinates are pixel centres. ``depth_m`` is z-depth (distance along the optical axis),
0 where nothing was hit.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class PixelRays:
    """Viewing rays of every pixel of a pinhole camera, in the camera frame.

    The ray through pixel (u, v) is ``(xn, yn, 1) = K^-1 [u, v, 1]``, so the camera-frame
    point seen at z-depth z is ``z * (xn, yn, 1)`` and its distance along the ray is
    ``z * norm``.
    """

    K: np.ndarray  # 3x3 float64
    width: int
    height: int
    xn: np.ndarray  # (H, W) float32
    yn: np.ndarray  # (H, W) float32
    norm: np.ndarray  # (H, W) float32, sqrt(xn^2 + yn^2 + 1)

    @property
    def focal_px(self) -> float:
        """Geometric mean focal length in pixels."""
        return float(np.sqrt(self.K[0, 0] * self.K[1, 1]))


def pixel_rays(K: np.ndarray, width: int, height: int) -> PixelRays:
    """The ``PixelRays`` of a (width x height) image taken with intrinsics ``K``."""
    K = np.asarray(K, dtype=np.float64)
    k_inv = np.linalg.inv(K)
    u = np.arange(width, dtype=np.float64)[None, :]
    v = np.arange(height, dtype=np.float64)[:, None]
    xn = k_inv[0, 0] * u + k_inv[0, 1] * v + k_inv[0, 2]
    yn = k_inv[1, 1] * v + k_inv[1, 2] + 0 * u
    xn = np.broadcast_to(xn, (height, width)).astype(np.float32)
    yn = np.broadcast_to(yn, (height, width)).astype(np.float32)
    norm = np.sqrt(xn * xn + yn * yn + 1.0).astype(np.float32)
    return PixelRays(K, width, height, xn, yn, norm)


def subsampled_rays(rays: PixelRays, step: int) -> tuple[PixelRays, tuple[slice, slice]]:
    """Rays of every ``step``-th pixel (starting at ``step // 2``) and the slices that pick
    those pixels out of a full-resolution image."""
    sl = (slice(step // 2, None, step), slice(step // 2, None, step))
    xn, yn, norm = rays.xn[sl], rays.yn[sl], rays.norm[sl]
    off = step // 2
    K = rays.K.copy()
    K[0, :] = [K[0, 0] / step, K[0, 1] / step, (K[0, 2] - off) / step]
    K[1, :] = [0.0, K[1, 1] / step, (K[1, 2] - off) / step]
    h, w = xn.shape
    return PixelRays(K, w, h, np.ascontiguousarray(xn), np.ascontiguousarray(yn),
                     np.ascontiguousarray(norm)), sl


def ray_distance(depth_m: np.ndarray, rays: PixelRays) -> np.ndarray:
    """Distance along each pixel's ray (metres) from z-depth; 0 stays 0 (nothing hit)."""
    return depth_m * rays.norm


def camera_points(depth_m: np.ndarray, rays: PixelRays) -> tuple[np.ndarray, ...]:
    """Camera-frame coordinates (X, Y, Z), each (H, W) float32, of the surface at each pixel."""
    return depth_m * rays.xn, depth_m * rays.yn, depth_m


def _along(axis: int, sl: slice) -> tuple[slice, slice]:
    return (sl, slice(None)) if axis == 0 else (slice(None), sl)


def _tangent(comps, z, valid, axis: int):
    """Finite-difference tangent along ``axis``, one-sided on the side with the smaller
    depth step, so that a pixel next to a depth discontinuity or the sky uses its own
    surface. Returns the three components and whether the tangent is defined."""
    n = z.shape[axis]
    grown = list(z.shape)
    grown[axis] = n + 1
    inner, first, last = _along(axis, slice(1, n)), _along(axis, slice(1, None)), _along(
        axis, slice(0, n))
    # step[i] is the depth step between pixels i-1 and i (inf where either has no depth or
    # the pixel is off the image), so pixel i's forward step is step[i+1], backward step[i].
    step = np.full(grown, np.inf, dtype=np.float32)
    lo, hi = _along(axis, slice(0, n - 1)), _along(axis, slice(1, n))
    np.abs(z[hi] - z[lo], out=step[inner])
    step[inner][~(valid[hi] & valid[lo])] = np.inf
    forward, backward = step[first], step[last]
    use_forward = forward <= backward
    defined = np.minimum(forward, backward) < np.inf
    out = []
    diff = np.zeros(grown, dtype=np.float32)
    for c in comps:
        np.subtract(c[hi], c[lo], out=diff[inner])
        out.append(np.where(use_forward, diff[first], diff[last]))
    return out, defined


def camera_normals(depth_m: np.ndarray, rays: PixelRays) -> np.ndarray:
    """Unit surface normals (H, W, 3) in the camera frame, facing the camera.

    The depth is back-projected to camera-frame points; the tangents along u and v are
    one-sided finite differences taken on the side with the smaller depth step (so depth
    discontinuities and sky neighbours do not bend the normal), and the normal is their
    cross product. Pixels with no depth, or no valid neighbour along u or v, get (0, 0, 0).
    """
    z = np.asarray(depth_m, dtype=np.float32)
    valid = z > 0
    comps = camera_points(z, rays)
    (ux, uy, uz), ok_u = _tangent(comps, z, valid, axis=1)
    (vx, vy, vz), ok_v = _tangent(comps, z, valid, axis=0)
    # t_v x t_u faces the camera for a visible surface (u right, v down, z forward)
    nx = vy * uz - vz * uy
    ny = vz * ux - vx * uz
    nz = vx * uy - vy * ux
    length2 = nx * nx + ny * ny + nz * nz
    ok = valid & ok_u & ok_v & (length2 > 0)
    inv = np.zeros_like(length2)
    np.divide(1.0, np.sqrt(length2, where=ok, out=inv), where=ok, out=inv)
    return cv2.merge([nx * inv, ny * inv, nz * inv])


def upsample_depth_aware(values_lo: np.ndarray, depth_lo: np.ndarray, depth_m: np.ndarray,
                         step: int) -> np.ndarray:
    """Upsample (h, w, 3) values sampled at ``subsampled_rays(rays, step)`` pixels to full size.

    Bilinear (exactly aligned with the sampled pixels), except where the full-resolution
    depth differs from the interpolated sample depth by more than 2 % (a depth edge or the
    sky runs through the cell): there each pixel takes the value of whichever of its 4
    samples is nearest to it in depth (nearest-depth joint upsampling), so values do not
    bleed across depth edges.
    """
    height, width = depth_m.shape
    off = step // 2
    # dst(u, v) = src((u - off) / step, (v - off) / step); 4 channels: values and depth
    to_lo = np.array([[1 / step, 0, -off / step], [0, 1 / step, -off / step]])
    packed = cv2.merge([values_lo[..., 0], values_lo[..., 1], values_lo[..., 2], depth_lo])
    up = cv2.warpAffine(packed, to_lo, (width, height),
                        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                        borderMode=cv2.BORDER_REPLICATE)
    values = cv2.cvtColor(up, cv2.COLOR_RGBA2RGB)
    edge = np.abs(up[..., 3] - depth_m) > np.float32(0.02) * depth_m
    rows, cols = np.divmod(np.flatnonzero(edge), width)
    if rows.size == 0:
        return values
    h, w = depth_lo.shape
    y0 = np.clip((rows - off) // step, 0, h - 1)
    x0 = np.clip((cols - off) // step, 0, w - 1)
    y1, x1 = np.minimum(y0 + 1, h - 1), np.minimum(x0 + 1, w - 1)
    cand_y = np.stack([y0, y0, y1, y1])
    cand_x = np.stack([x0, x1, x0, x1])
    mismatch = np.abs(depth_lo[cand_y, cand_x] - depth_m[rows, cols][None, :])
    best = np.argmin(mismatch, axis=0)
    pick = np.arange(rows.size)
    values[rows, cols] = values_lo[cand_y[best, pick], cand_x[best, pick]]
    return values


def world_normal_z(normals_cam: np.ndarray, cam_to_world: np.ndarray) -> np.ndarray:
    """World-frame z component (H, W) of camera-frame normals: 1 = facing straight up."""
    r = np.asarray(cam_to_world, dtype=np.float32)[2:3, :3]
    return cv2.transform(normals_cam, r)


def smoothstep(edge0: float, edge1: float, x: np.ndarray) -> np.ndarray:
    """Hermite step from 0 at ``edge0`` to 1 at ``edge1`` (float32)."""
    t = np.clip((x - np.float32(edge0)) * np.float32(1.0 / (edge1 - edge0)), 0, 1)
    return (t * t * (3 - 2 * t)).astype(np.float32, copy=False)
