"""Unoccluded silhouettes: a body's own visual geometry rasterized with a camera's K.

The visible fraction of an object is its visible pixels (from the rendered instance mask)
over the pixels it would cover if nothing hid it. This module computes the second number
without a second render: ``BodyMesh`` reads a body's visual shapes once and keeps their
triangles in each link's frame; per frame ``BodyMesh.world_triangles`` poses them and
``silhouette`` projects and fills them.

Matching the renderers, not the ideal shapes:

- PyBullet does not draw a box, sphere, cylinder or capsule as such: both renderers
  (TinyRenderer and the EGL plugin share the code) tessellate a primitive with
  ``btShapeHull``, the convex hull of its support points in 42 directions (an icosahedron
  and its edge midpoints). A sphere becomes a 42-vertex polyhedron; a cylinder is first a
  32-sided prism; a capsule is that prism with a cone on each end (two pole points),
  not hemispheres. The hull shaves up to ~5% off a cylinder's width, so it is rebuilt
  here the same way.
- ``getVisualShapeData``'s dimensions: a box's full extents, a sphere's radius first, a
  cylinder's and a capsule's (length, radius), a mesh's scale. ``globalScaling`` at load
  time is already applied to dimensions, mesh scales and visual frame offsets.
- The visual frame is relative to the link's own (URDF) frame, not its inertial (centre of
  mass) frame: ``getLinkState`` gives that frame directly (items 4, 5); for the base it is
  ``getBasePositionAndOrientation`` (the centre of mass) composed with the inverse of the
  local inertial frame (``getDynamicsInfo(uid, -1)[3:5]``).

Pixel convention: ``K`` maps the OpenCV camera frame to pixel coordinates whose integers
are pixel centres; a pixel is covered when its centre lies inside (or on the edge of) a
projected triangle, as in the renderers (use the ``K`` of ``camera_view(..., renderer)``,
which carries each renderer's half-pixel sampling offset).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from simgen.world.bullet import p

#: Sides of the prism both renderers build a cylinder or capsule from.
CYLINDER_STEPS = 32
#: Collision margin the renderers give a cylinder's or capsule's hull before tessellating it.
HULL_MARGIN_M = 0.001


@dataclass(frozen=True)
class LinkMesh:
    """The triangles of one link's visual shapes, in the link frame (metres).

    ``link`` is the link index (-1 for the base); ``faces`` index ``vertices_m``.
    """

    link: int
    vertices_m: np.ndarray  # (V, 3) float64
    faces: np.ndarray  # (F, 3) int


class BodyMesh:
    """Triangles of one body's visual shapes, per link, in each link's frame (metres, scaled).

    Build it once per body with ``from_body``; ``world_triangles`` poses it each frame.
    ``missing`` names the visual shapes that could not be turned into triangles (a mesh
    given as vertices rather than a file, an unreadable or unsupported file, a heightfield),
    so a caller can tell an incomplete silhouette from a complete one.
    """

    def __init__(self, links: tuple[LinkMesh, ...], base_inertial_to_link: np.ndarray,
                 missing: tuple[str, ...] = ()):
        self.links = links
        self.missing = missing
        # 4x4 pose of the base link frame in the base's centre-of-mass frame.
        self._base_com_to_link = base_inertial_to_link
        self._link_indices = [m.link for m in links if m.link >= 0]
        counts = [len(m.vertices_m) for m in links]
        self._offsets = np.concatenate([[0], np.cumsum(counts)]).astype(int)
        self._vertices = (np.concatenate([m.vertices_m for m in links]) if links
                          else np.zeros((0, 3)))
        self._faces = (np.concatenate([m.faces + o for m, o in zip(links, self._offsets,
                                                                         strict=False)])
                       if links else np.zeros((0, 3), dtype=int))

    @property
    def n_triangles(self) -> int:
        """Number of triangles over all links."""
        return len(self._faces)

    @classmethod
    def from_body(cls, client: int, uid: int) -> BodyMesh:
        """Read body ``uid``'s visual shapes (and the mesh files they name) into triangles."""
        per_link: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {}
        missing: list[str] = []
        for row in p.getVisualShapeData(uid, physicsClientId=client):
            link, geom, dims, filename = row[1], row[2], row[3], row[4]
            pos, orn = row[5], row[6]
            shape = _shape_triangles(geom, tuple(dims), filename)
            if shape is None:
                if geom != p.GEOM_PLANE:  # planes are drawn by neither renderer
                    name = filename.decode(errors="replace") if filename else f"type {geom}"
                    missing.append(f"link {link}: {name}")
                continue
            vertices, faces = shape
            pose = _pose_matrix(pos, orn)
            per_link.setdefault(link, []).append(
                (vertices @ pose[:3, :3].T + pose[:3, 3], faces))
        links = []
        for link in sorted(per_link):
            parts = per_link[link]
            offsets = np.cumsum([0] + [len(v) for v, _ in parts])
            links.append(LinkMesh(
                link=link,
                vertices_m=np.concatenate([v for v, _ in parts]),
                faces=np.concatenate([f + o for (_, f), o in zip(parts, offsets, strict=False)]),
            ))
        inertial_pos, inertial_orn = p.getDynamicsInfo(uid, -1, physicsClientId=client)[3:5]
        base_com_to_link = np.linalg.inv(_pose_matrix(inertial_pos, inertial_orn))
        return cls(tuple(links), base_com_to_link, tuple(missing))

    def link_poses(self, client: int, uid: int) -> dict[int, np.ndarray]:
        """4x4 world pose of each link frame that carries triangles (-1 is the base)."""
        poses = {}
        if any(m.link < 0 for m in self.links):
            pos, orn = p.getBasePositionAndOrientation(uid, physicsClientId=client)
            poses[-1] = _pose_matrix(pos, orn) @ self._base_com_to_link
        if self._link_indices:
            states = p.getLinkStates(uid, self._link_indices, computeForwardKinematics=1,
                                     physicsClientId=client)
            for link, state in zip(self._link_indices, states, strict=True):
                poses[link] = _pose_matrix(state[4], state[5])
        return poses

    def world_vertices(self, client: int, uid: int) -> np.ndarray:
        """(V, 3) world-frame vertices of every link at the body's current pose."""
        poses = self.link_poses(client, uid)
        out = np.empty_like(self._vertices)
        for mesh, start, stop in zip(self.links, self._offsets[:-1], self._offsets[1:],
                                     strict=True):
            pose = poses[mesh.link]
            out[start:stop] = self._vertices[start:stop] @ pose[:3, :3].T + pose[:3, 3]
        return out

    def world_triangles(self, client: int, uid: int) -> np.ndarray:
        """(N, 3, 3) world-frame triangle vertices at the body's current pose."""
        return self.world_vertices(client, uid)[self._faces]

    def local_bounds(self) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """Per link, the (min, max) corners of its triangles in the link frame (metres)."""
        return {m.link: (m.vertices_m.min(axis=0), m.vertices_m.max(axis=0))
                for m in self.links if len(m.vertices_m)}


def silhouette(triangles_world: np.ndarray, K: np.ndarray, cam_to_world: np.ndarray,
               width: int, height: int, near_m: float, far_m: float | None = None) -> np.ndarray:
    """(H, W) bool mask of the pixels the triangles cover, unoccluded.

    Triangles crossing the near plane (camera z = ``near_m``) are clipped against it
    (polygon clipping in camera space), so an object partly behind the camera is handled;
    with ``far_m`` they are clipped against the far plane too. Parts outside the image are
    simply not drawn.
    """
    mask = np.zeros((height, width), dtype=bool)
    tris = np.asarray(triangles_world, dtype=np.float64).reshape(-1, 3, 3)
    if len(tris) == 0:
        return mask
    rotation, origin = cam_to_world[:3, :3], cam_to_world[:3, 3]
    cam = (tris - origin) @ rotation  # rows: R^T (x - t), the camera frame
    cam = _clip(cam, near_m, +1.0)
    if far_m is not None:
        cam = _clip(cam, -far_m, -1.0)
    if len(cam) == 0:
        return mask
    proj = cam @ np.asarray(K, dtype=np.float64).T
    uv = proj[..., :2] / proj[..., 2:3]
    _fill(uv, mask)
    return mask


# --- rasterizing ---------------------------------------------------------------------


def _clip(tris: np.ndarray, bound: float, sign: float) -> np.ndarray:
    """Clip camera-frame triangles to the half-space ``sign * z >= bound``.

    A triangle with one vertex inside becomes one smaller triangle; with two inside, a
    quadrilateral, split into two triangles. Vertex order (winding) is kept.
    """
    depth = sign * tris[..., 2] - bound
    inside = depth >= 0
    count = inside.sum(axis=1)
    keep = [tris[count == 3]]
    for n_in in (1, 2):
        sel = count == n_in
        if not sel.any():
            continue
        t, d, ins = tris[sel], depth[sel], inside[sel]
        # Roll each triangle so that its odd vertex (the lone inside or outside one) is first.
        first = np.argmax(ins if n_in == 1 else ~ins, axis=1)
        order = (first[:, None] + np.arange(3)) % 3
        t = np.take_along_axis(t, order[:, :, None], axis=1)
        d = np.take_along_axis(d, order, axis=1)
        a, b, c = t[:, 0], t[:, 1], t[:, 2]
        ab = a + (d[:, 0] / (d[:, 0] - d[:, 1]))[:, None] * (b - a)
        ac = a + (d[:, 0] / (d[:, 0] - d[:, 2]))[:, None] * (c - a)
        if n_in == 1:
            keep.append(np.stack([a, ab, ac], axis=1))
        else:
            keep.append(np.stack([ab, b, c], axis=1))
            keep.append(np.stack([ab, c, ac], axis=1))
    return np.concatenate(keep)


def _fill(uv: np.ndarray, mask: np.ndarray) -> None:
    """Set the pixels of ``mask`` whose centres lie in any of the (M, 3, 2) triangles.

    Scanline spans in one vectorized pass, accumulated as +1/-1 marks and summed along
    each row: overlapping triangles add up instead of cancelling (``cv2.fillPoly`` with
    many polygons fills by parity, so overlaps would punch holes).
    """
    height, width = mask.shape
    u, v = uv[..., 0], uv[..., 1]
    top = np.maximum(np.ceil(v.min(axis=1)), 0)
    bottom = np.minimum(np.floor(v.max(axis=1)), height - 1)
    on_image = (bottom >= top) & (u.max(axis=1) >= 0) & (u.min(axis=1) <= width - 1)
    if not on_image.any():
        return
    u, v, top, bottom = u[on_image], v[on_image], top[on_image], bottom[on_image]
    rows = (bottom - top + 1).astype(np.int64)
    tri = np.repeat(np.arange(len(rows)), rows)
    first_pair = np.cumsum(rows) - rows
    y = top[tri] + (np.arange(len(tri)) - first_pair[tri])
    # Each edge (a -> b) of the pair's triangle, and where the row's centre line meets it.
    ua, va = u[tri], v[tri]
    ub, vb = np.roll(ua, -1, axis=1), np.roll(va, -1, axis=1)
    yy = y[:, None]
    crosses = (yy >= np.minimum(va, vb)) & (yy <= np.maximum(va, vb))
    dv = vb - va
    flat = dv == 0
    with np.errstate(divide="ignore", invalid="ignore"):
        x = ua + (yy - va) * (ub - ua) / np.where(flat, 1.0, dv)
    left = np.where(crosses, np.where(flat, np.minimum(ua, ub), x), np.inf).min(axis=1)
    right = np.where(crosses, np.where(flat, np.maximum(ua, ub), x), -np.inf).max(axis=1)
    c0 = np.maximum(np.ceil(left), 0)
    c1 = np.minimum(np.floor(right), width - 1)
    span = c0 <= c1
    if not span.any():
        return
    y, c0, c1 = y[span].astype(np.int64), c0[span].astype(np.int64), c1[span].astype(np.int64)
    y_lo, x_lo = y.min(), c0.min()
    box_h, box_w = y.max() - y_lo + 1, c1.max() - x_lo + 2
    row_start = (y - y_lo) * box_w
    marks = np.bincount(row_start + (c0 - x_lo), minlength=box_h * box_w)
    marks -= np.bincount(row_start + (c1 - x_lo + 1), minlength=box_h * box_w)
    covered = np.cumsum(marks.reshape(box_h, box_w), axis=1)[:, :-1] > 0
    mask[y_lo:y_lo + box_h, x_lo:x_lo + box_w - 1] |= covered


# --- geometry of one visual shape ----------------------------------------------------


def _pose_matrix(position, quaternion_xyzw) -> np.ndarray:
    """4x4 pose from a position and an (x, y, z, w) quaternion."""
    x, y, z, w = quaternion_xyzw
    pose = np.eye(4)
    pose[:3, :3] = [
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ]
    pose[:3, 3] = position
    return pose


def _shape_triangles(geom: int, dims: tuple[float, ...],
                     filename: bytes) -> tuple[np.ndarray, np.ndarray] | None:
    """(vertices, faces) of one visual shape in its visual frame, or None if unavailable."""
    if geom == p.GEOM_BOX:
        return _box(tuple(float(d) / 2 for d in dims[:3]))
    if geom == p.GEOM_SPHERE:
        return _sphere(float(dims[0]))
    if geom in (p.GEOM_CYLINDER, p.GEOM_CAPSULE):
        return _cylinder(float(dims[0]), float(dims[1]), geom == p.GEOM_CAPSULE)
    if geom == p.GEOM_MESH and filename:
        mesh = _mesh_file(filename.decode(errors="replace"))
        if mesh is None:
            return None
        vertices, faces = mesh
        return vertices * np.asarray(dims[:3], dtype=np.float64), faces
    return None


@functools.lru_cache(maxsize=256)
def _box(half: tuple[float, float, float]) -> tuple[np.ndarray, np.ndarray]:
    corners = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)],
                       dtype=np.float64) * np.asarray(half)
    return _frozen(corners, _convex_hull_faces(corners))


@functools.lru_cache(maxsize=256)
def _sphere(radius: float) -> tuple[np.ndarray, np.ndarray]:
    # A sphere's support point in direction d is radius * d: the hull of the directions.
    points = radius * _hull_directions()
    return _frozen(points, _convex_hull_faces(points))


@functools.lru_cache(maxsize=256)
def _cylinder(length: float, radius: float, capped: bool) -> tuple[np.ndarray, np.ndarray]:
    angles = 2 * np.pi * (np.arange(CYLINDER_STEPS, dtype=np.float32) / CYLINDER_STEPS)
    ring = np.column_stack([radius * np.sin(angles), radius * np.cos(angles)])
    points = np.empty((2 * CYLINDER_STEPS, 3))
    points[0::2, :2] = ring  # the renderers interleave the top and bottom rings
    points[1::2, :2] = ring
    points[0::2, 2] = length / 2
    points[1::2, 2] = -length / 2
    if capped:
        poles = [[0.0, 0.0, length / 2 + radius], [0.0, 0.0, -length / 2 - radius]]
        points = np.vstack([points, poles])
    directions = _hull_directions()
    support = points[np.argmax(directions @ points.T, axis=1)] + HULL_MARGIN_M * directions
    support = np.unique(support, axis=0)
    return _frozen(support, _convex_hull_faces(support))


@functools.lru_cache(maxsize=1)
def _hull_directions() -> np.ndarray:
    """btShapeHull's 42 sample directions: the vertices of an icosahedron with a vertex on
    +z and one at azimuth 0 in its upper ring, and its normalized edge midpoints."""
    z = 1 / math.sqrt(5)
    r = 2 / math.sqrt(5)
    vertices = [(0.0, 0.0, -1.0)]
    vertices += [(r * math.cos(math.radians(a)), r * math.sin(math.radians(a)), -z)
                 for a in range(-36, 324, 72)]
    vertices += [(r * math.cos(math.radians(a)), r * math.sin(math.radians(a)), z)
                 for a in range(0, 360, 72)]
    vertices.append((0.0, 0.0, 1.0))
    ico = np.array(vertices)
    gaps = np.linalg.norm(ico[:, None] - ico[None], axis=2)
    edge = gaps[gaps > 1e-9].min()
    i, j = np.nonzero(np.triu(np.abs(gaps - edge) < 1e-6))
    mids = ico[i] + ico[j]
    mids /= np.linalg.norm(mids, axis=1, keepdims=True)
    return np.vstack([ico, mids])


def _convex_hull_faces(points: np.ndarray) -> np.ndarray:
    """Outward-wound triangles (indices into ``points``) of the points' convex hull.

    Incremental hull, fine for the few dozen points of a tessellated primitive.
    """
    pts = np.asarray(points, dtype=np.float64)
    eps = 1e-9 * max(float(np.ptp(pts, axis=0).max()), 1e-12)
    a = int(np.argmin(pts[:, 0]))
    b = int(np.argmax(np.linalg.norm(pts - pts[a], axis=1)))
    line = np.cross(pts - pts[a], pts[b] - pts[a])
    c = int(np.argmax(np.linalg.norm(line, axis=1)))
    normal = np.cross(pts[b] - pts[a], pts[c] - pts[a])
    heights = (pts - pts[a]) @ normal
    d = int(np.argmax(np.abs(heights)))
    if abs(heights[d]) <= eps * np.linalg.norm(normal):
        return _flat_hull_faces(pts, normal)
    faces = [(a, b, c), (a, c, d), (a, d, b), (b, d, c)] if heights[d] < 0 else \
        [(a, c, b), (a, b, d), (a, d, c), (b, c, d)]
    for k in range(len(pts)):
        if k in (a, b, c, d):
            continue
        visible = []
        for f in faces:
            n = np.cross(pts[f[1]] - pts[f[0]], pts[f[2]] - pts[f[0]])
            visible.append(float(n @ (pts[k] - pts[f[0]])) > eps * np.linalg.norm(n))
        if not any(visible):
            continue
        seen = {(f[i], f[(i + 1) % 3]) for f, vis in zip(faces, visible, strict=True) if vis
                for i in range(3)}
        horizon = [(e0, e1) for (e0, e1) in seen if (e1, e0) not in seen]
        faces = [f for f, vis in zip(faces, visible, strict=True) if not vis]
        faces += [(e0, e1, k) for e0, e1 in horizon]
    return np.array(faces, dtype=np.int64)


def _flat_hull_faces(pts: np.ndarray, normal: np.ndarray) -> np.ndarray:
    """A fan over the outline of coplanar points (a zero-thickness shape)."""
    axis_u = np.cross(normal, np.eye(3)[int(np.argmin(np.abs(normal)))])
    axis_v = np.cross(normal, axis_u)
    centre = pts.mean(axis=0)
    angle = np.arctan2((pts - centre) @ axis_v, (pts - centre) @ axis_u)
    ring = np.argsort(angle)
    return np.array([(ring[0], ring[i], ring[i + 1]) for i in range(1, len(ring) - 1)],
                    dtype=np.int64).reshape(-1, 3)


def _frozen(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    vertices = np.ascontiguousarray(vertices, dtype=np.float64)
    faces = np.ascontiguousarray(faces, dtype=np.int64)
    vertices.flags.writeable = False
    faces.flags.writeable = False
    return vertices, faces


# --- mesh files ----------------------------------------------------------------------


@functools.lru_cache(maxsize=256)
def _mesh_file(path: str) -> tuple[np.ndarray, np.ndarray] | None:
    """(vertices, faces) of an OBJ or STL file at scale 1, or None if it cannot be read."""
    suffix = Path(path).suffix.lower()
    try:
        if suffix == ".obj":
            mesh = _read_obj(Path(path).read_text(errors="replace"))
        elif suffix == ".stl":
            mesh = _read_stl(Path(path).read_bytes())
        else:
            return None
    except (OSError, ValueError, IndexError):
        return None
    if mesh is None or len(mesh[1]) == 0:
        return None
    return _frozen(*mesh)


def _read_obj(text: str) -> tuple[np.ndarray, np.ndarray]:
    """Vertices and triangles of a Wavefront OBJ: every object and group, polygons fanned."""
    vertices: list[list[float]] = []
    faces: list[tuple[int, int, int]] = []
    for line in text.splitlines():
        if line.startswith("v "):
            vertices.append([float(t) for t in line.split()[1:4]])
        elif line.startswith("f "):
            n = len(vertices)
            idx = []
            for token in line.split()[1:]:
                k = int(token.split("/", 1)[0])
                idx.append(k - 1 if k > 0 else n + k)  # negative indices count back
            faces += [(idx[0], idx[i], idx[i + 1]) for i in range(1, len(idx) - 1)]
    return np.array(vertices, dtype=np.float64).reshape(-1, 3), \
        np.array(faces, dtype=np.int64).reshape(-1, 3)


def _read_stl(data: bytes) -> tuple[np.ndarray, np.ndarray] | None:
    """Triangles of a binary (or ASCII) STL file, one vertex per corner."""
    if len(data) >= 84:
        count = int(np.frombuffer(data, dtype="<u4", count=1, offset=80)[0])
        if 84 + 50 * count == len(data):
            record = np.dtype([("normal", "<f4", 3), ("corners", "<f4", (3, 3)),
                               ("attribute", "<u2")])
            corners = np.frombuffer(data, dtype=record, count=count, offset=84)["corners"]
            vertices = corners.reshape(-1, 3).astype(np.float64)
            return vertices, np.arange(len(vertices), dtype=np.int64).reshape(-1, 3)
    text = data.decode(errors="replace")
    if not text.lstrip().startswith("solid"):
        return None
    coords = [line.split()[1:4] for line in text.splitlines()
              if line.strip().startswith("vertex")]
    vertices = np.array(coords, dtype=np.float64).reshape(-1, 3)
    usable = len(vertices) // 3 * 3
    return vertices[:usable], np.arange(usable, dtype=np.int64).reshape(-1, 3)
