"""Motion blur from the camera's own translation during the exposure.

A static point at camera-frame position X seen by a camera moving with camera-frame
velocity V moves in the camera frame at -V, so its pixel moves at

    du/dt = ((u - cx) Vz - fx Vx) / z,    dv/dt = ((v - cy) Vz - fy Vy) / z

(driving forward, Vz > 0, points stream away from the focus of expansion at the
principal point; near points faster). Each pixel averages the clean render at evenly
spaced positions along its flow over the exposure, centred on the render's instant.
Rotation of the camera is not modelled, so the sky (no depth) stays sharp.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from simgen.effects.geometry import PixelRays

#: Longest blur drawn, as a share of the image width (longer flows are clipped to it).
MAX_BLUR_SHARE = 0.15
#: Most samples averaged along a pixel's flow.
MAX_SAMPLES = 8


def blur_flow_px(depth_m: np.ndarray, rays: PixelRays, cam_to_world: np.ndarray,
                 velocity_world_mps, exposure_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel image motion (du, dv) in pixels over the exposure; 0 on the sky."""
    rotation = np.asarray(cam_to_world, dtype=np.float64)[:3, :3]
    vx, vy, vz = (np.float32(c) for c in rotation.T @ np.asarray(velocity_world_mps, float))
    K = rays.K
    valid = depth_m > 0
    inv_z = np.where(valid, 1.0 / np.where(valid, depth_m, 1.0), 0.0).astype(np.float32)
    t = np.float32(exposure_s)
    # (u - cx) = fx xn (no skew term needed: xn already includes it)
    du = np.float32(K[0, 0]) * (rays.xn * vz - vx) * inv_z * t
    dv = np.float32(K[1, 1]) * (rays.yn * vz - vy) * inv_z * t
    return du, dv


def apply_motion_blur(image: np.ndarray, depth_m: np.ndarray, rays: PixelRays,
                      cam_to_world: np.ndarray, velocity_world_mps,
                      exposure_s: float) -> tuple[np.ndarray, float]:
    """Blur ``image`` along the camera-motion flow; returns (blurred image, max length px).

    Returns the input array itself (and 0) when nothing moves. Flows longer than
    ``MAX_BLUR_SHARE`` of the width are clipped to it; the number of samples grows with
    the longest flow (one per ~2 px, 2 to ``MAX_SAMPLES``).
    """
    if exposure_s <= 0 or not np.any(np.asarray(velocity_world_mps, dtype=float)):
        return image, 0.0
    du, dv = blur_flow_px(depth_m, rays, cam_to_world, velocity_world_mps, exposure_s)
    # Not cv2.magnitude: its result depends on the arrays' memory alignment (1 ulp).
    length = np.sqrt(du * du + dv * dv)
    longest = float(length.max()) if length.size else 0.0
    if longest < 1e-3:
        return image, 0.0
    limit = MAX_BLUR_SHARE * rays.width
    if longest > limit:
        shrink = np.minimum(1.0, limit / np.maximum(length, 1e-6)).astype(np.float32)
        du, dv = du * shrink, dv * shrink
        longest = limit
    samples = int(min(MAX_SAMPLES, max(2, math.ceil(longest / 2) + 1)))
    height, width = depth_m.shape
    grid_u = np.broadcast_to(np.arange(width, dtype=np.float32)[None, :], (height, width))
    grid_v = np.broadcast_to(np.arange(height, dtype=np.float32)[:, None], (height, width))
    # OpenCV's remap is ~4x faster on 4-channel float images than on 3-channel ones.
    source = cv2.cvtColor(image, cv2.COLOR_RGB2RGBA)
    total = np.zeros_like(source)
    for k in range(samples):
        s = np.float32(k / (samples - 1) - 0.5)
        total += cv2.remap(source, grid_u + s * du, grid_v + s * dv, cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REPLICATE)
    total *= np.float32(1.0 / samples)
    return cv2.cvtColor(total, cv2.COLOR_RGBA2RGB), longest
