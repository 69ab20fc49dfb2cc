"""Checking ``require:`` constraints on a sampled episode (plain geometry, no engine).

Bodies are approximated by boxes: their catalog size (times their scale) centred above
their planned position, turned by their heading. Cameras are posed as at time 0; a
camera on an actor is placed relative to the actor's planned position and heading.
Checks are registered by constraint kind.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from simgen.catalog import asset_size_m
from simgen.geometry import camera_rotation, pinhole_intrinsics
from simgen.sampling.scene import BodyPlan, CameraPlan

#: Size assumed for a body whose asset is not in the catalog (a scenario's own URDF).
UNKNOWN_SIZE_M = (0.5, 0.5, 0.5)
#: Points per face edge when measuring how much of a body a camera sees.
FACE_SAMPLES = 8


@dataclass(frozen=True)
class BodyBox:
    """A body as an upright box: centre, half extents along its own axes, heading."""

    name: str
    group: str
    centre: np.ndarray
    half: np.ndarray
    yaw_rad: float

    @property
    def rotation(self) -> np.ndarray:
        """World-from-box rotation (about z)."""
        c, s = math.cos(self.yaw_rad), math.sin(self.yaw_rad)
        return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def body_box(body: BodyPlan) -> BodyBox:
    """The box standing in for ``body`` at its planned pose."""
    half = np.array(asset_size_m(body.asset, body.scale, UNKNOWN_SIZE_M)) / 2
    x, y, z = body.position_m
    return BodyBox(body.name, body.group, np.array([x, y, z + half[2]]), half,
                   math.radians(body.yaw_deg))


@dataclass(frozen=True)
class CameraPose:
    """A camera at time 0: eye, world-from-camera rotation (OpenCV axes) and intrinsics."""

    eye: np.ndarray
    rotation: np.ndarray
    K: np.ndarray
    width: int
    height: int
    near_m: float


def camera_pose(cam: CameraPlan, boxes: dict[str, BodyBox]) -> CameraPose:
    """Where ``cam`` is at time 0 (a mounted camera follows its carrier's planned pose)."""
    rot, origin = np.eye(3), np.zeros(3)
    if cam.mount != "world":
        carrier = boxes[cam.mount]
        rot = carrier.rotation
        origin = carrier.centre - np.array([0.0, 0.0, carrier.half[2]])  # bottom centre
    eye = origin + rot @ np.asarray(cam.position_m)
    target = None if cam.look_at_m is None else origin + rot @ np.asarray(cam.look_at_m)
    r_wc = camera_rotation(rot, eye, target, cam.rpy_deg, cam.rotation_offset_deg)
    K = pinhole_intrinsics(cam.width, cam.height, cam.fov_deg)
    return CameraPose(eye, r_wc, K, cam.width, cam.height, cam.near_m)


def visible_fraction(target: BodyBox, others: Sequence[BodyBox], cam: CameraPose) -> float:
    """Share of ``target``'s surface facing the camera, weighted by solid angle, that is
    inside the image and not behind another box."""
    points, weights = _front_surface(target, cam.eye)
    if len(points) == 0:
        return 0.0
    local = (points - cam.eye) @ cam.rotation  # camera frame (rows are points)
    z = local[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        u = cam.K[0, 0] * local[:, 0] / z + cam.K[0, 2]
        v = cam.K[1, 1] * local[:, 1] / z + cam.K[1, 2]
    seen = (z > cam.near_m) & (u >= -0.5) & (u < cam.width - 0.5) & (v >= -0.5) \
        & (v < cam.height - 0.5)
    for other in others:
        if other.name != target.name and seen.any():
            seen &= ~_segments_hit_box(cam.eye, points, other)
    return float(weights[seen].sum() / weights.sum())


def _front_surface(box: BodyBox, eye: np.ndarray):
    """Sample points on the faces of ``box`` that face ``eye``, with solid-angle weights."""
    rot = box.rotation
    pts, wts = [], []
    grid = (np.arange(FACE_SAMPLES) + 0.5) / FACE_SAMPLES * 2 - 1
    a, b = np.meshgrid(grid, grid)
    a, b = a.ravel(), b.ravel()
    for axis in range(3):
        for sign in (-1.0, 1.0):
            normal = rot[:, axis] * sign
            centre = box.centre + normal * box.half[axis]
            if np.dot(eye - centre, normal) <= 0:
                continue
            i, j = [k for k in range(3) if k != axis]
            p = centre + np.outer(a * box.half[i], rot[:, i]) + np.outer(b * box.half[j], rot[:, j])
            ray = eye - p
            dist = np.linalg.norm(ray, axis=1)
            area = 4 * box.half[i] * box.half[j] / len(a)
            pts.append(p)
            wts.append(area * (ray @ normal) / dist ** 3)
    if not pts:
        return np.zeros((0, 3)), np.zeros(0)
    return np.concatenate(pts), np.concatenate(wts)


def _segments_hit_box(eye: np.ndarray, points: np.ndarray, box: BodyBox) -> np.ndarray:
    """Which segments from ``eye`` to each point pass through ``box`` (slab test)."""
    rot = box.rotation
    o = (eye - box.centre) @ rot
    d = (points - eye) @ rot
    with np.errstate(divide="ignore", invalid="ignore"):
        t1 = (-box.half - o) / d
        t2 = (box.half - o) / d
    t_near = np.nanmax(np.minimum(t1, t2), axis=1)
    t_far = np.nanmin(np.maximum(t1, t2), axis=1)
    return (t_near <= t_far) & (t_far > 0) & (t_near < 1 - 1e-6)


def boxes_overlap(a: BodyBox, b: BodyBox) -> bool:
    """Whether two upright boxes intersect (z intervals and a 2D separating-axis test)."""
    if abs(a.centre[2] - b.centre[2]) >= a.half[2] + b.half[2]:
        return False
    d = (b.centre - a.centre)[:2]
    axes = [a.rotation[:2, 0], a.rotation[:2, 1], b.rotation[:2, 0], b.rotation[:2, 1]]
    for axis in axes:
        ra = sum(abs(np.dot(axis, a.rotation[:2, k])) * a.half[k] for k in range(2))
        rb = sum(abs(np.dot(axis, b.rotation[:2, k])) * b.half[k] for k in range(2))
        if abs(np.dot(d, axis)) >= ra + rb:
            return False
    return True


@dataclass
class EpisodeGeometry:
    """The boxes and cameras of one sampled episode, with name resolution."""

    boxes: dict[str, BodyBox]
    cameras: dict[str, CameraPlan]

    def resolve(self, name: str) -> list[BodyBox]:
        """The bodies a name refers to: one body, or every body of a group."""
        if name in self.boxes:
            return [self.boxes[name]]
        return [b for b in self.boxes.values() if b.group == name]


Check = Callable[[object, EpisodeGeometry], bool]
CHECKS: dict[str, Check] = {}


def register_check(kind: str) -> Callable[[Check], Check]:
    """Function decorator: the check for constraints of ``kind``."""

    def decorate(fn: Check) -> Check:
        CHECKS[kind] = fn
        return fn

    return decorate


@register_check("distance")
def _distance(rule, geo: EpisodeGeometry) -> bool:
    for a in geo.resolve(rule.a):
        for b in geo.resolve(rule.b):
            if a.name == b.name:
                continue
            dist = float(np.linalg.norm((a.centre - b.centre)[:2]))
            if rule.min_m is not None and dist < rule.min_m:
                return False
            if rule.max_m is not None and dist > rule.max_m:
                return False
    return True


@register_check("in_view")
def _in_view(rule, geo: EpisodeGeometry) -> bool:
    cam = camera_pose(geo.cameras[rule.camera], geo.boxes)
    carrier = geo.cameras[rule.camera].mount
    others = [b for b in geo.boxes.values() if b.name != carrier]
    return all(visible_fraction(t, others, cam) >= rule.min_visible_fraction
               for t in geo.resolve(rule.body))


@register_check("no_overlap")
def _no_overlap(rule, geo: EpisodeGeometry) -> bool:
    if rule.bodies:
        chosen = {b.name: b for name in rule.bodies for b in geo.resolve(name)}
        boxes = list(chosen.values())
    else:
        boxes = list(geo.boxes.values())
    if len(boxes) < 2:
        return True
    # Only pairs whose bounding circles and heights overlap need the exact test.
    centres = np.array([b.centre for b in boxes])
    radius = np.array([math.hypot(b.half[0], b.half[1]) for b in boxes])
    half_z = np.array([b.half[2] for b in boxes])
    gap = np.linalg.norm(centres[:, None, :2] - centres[None, :, :2], axis=2)
    near = (gap < radius[:, None] + radius[None, :]) & \
        (np.abs(centres[:, None, 2] - centres[None, :, 2]) < half_z[:, None] + half_z[None, :])
    pairs = zip(*np.nonzero(np.triu(near, k=1)), strict=True)
    return not any(boxes_overlap(boxes[i], boxes[j]) for i, j in pairs)


@register_check("in_region")
def _in_region(rule, geo: EpisodeGeometry) -> bool:
    return all(rule.x_m[0] <= b.centre[0] <= rule.x_m[1] and rule.y_m[0] <= b.centre[1]
               <= rule.y_m[1] for b in geo.resolve(rule.body))


def failed_constraints(rules, bodies: Sequence[BodyPlan],
                       cameras: Sequence[CameraPlan]) -> list[int]:
    """Indices of the constraints that ``bodies`` and ``cameras`` break (all are checked)."""
    geo = EpisodeGeometry({b.name: body_box(b) for b in bodies}, {c.name: c for c in cameras})
    return [i for i, rule in enumerate(rules) if not CHECKS[rule.kind](rule, geo)]
