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

    ``link`` is the link index (-1 for the base); ``faces`` index ``vertices_m``, which
    holds each distinct position once (so that neighbouring triangles share their edges).
    """

    link: int
    vertices_m: np.ndarray  # (V, 3) float64
    faces: np.ndarray  # (F, 3) int64


class BodyMesh:
    """Triangles of one body's visual shapes, per link, in each link's frame (metres, scaled).

    Build it once per body with ``from_body``; ``world_triangles`` poses it each frame, and
    ``silhouette`` draws it (faster than ``silhouette(world_triangles(...))``, same pixels).
    ``missing`` names the visual shapes that could not be turned into triangles (a mesh
    given as vertices rather than a file, an unreadable or unsupported file, a heightfield),
    so that a caller can tell an incomplete silhouette from a complete one.
    """

    def __init__(self, links: tuple[LinkMesh, ...], base_link_in_com: np.ndarray,
                 missing: tuple[str, ...] = ()):
        self.links = links
        self.missing = missing
        self._base_link_in_com = base_link_in_com  # 4x4: base link frame in its COM frame
        self._link_indices = [m.link for m in links if m.link >= 0]
        counts = [len(m.vertices_m) for m in links]
        self._offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self._vertices = np.concatenate([m.vertices_m for m in links]) if links else \
            np.zeros((0, 3))
        self._faces = np.concatenate(
            [m.faces + o for m, o in zip(links, self._offsets, strict=False)]) if links else \
            np.zeros((0, 3), dtype=np.int64)
        self._edges, self._face_edges, self._face_edge_signs = _edge_incidence(
            self._faces, len(self._vertices))

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
            link, geom, dims, filename, pos, orn = row[1], row[2], row[3], row[4], row[5], row[6]
            shape = _shape_triangles(geom, tuple(dims), filename)
            if shape is None:
                if geom != p.GEOM_PLANE:  # neither renderer draws a plane
                    name = filename.decode(errors="replace") if filename else f"geometry {geom}"
                    missing.append(f"link {link}: {name}")
                continue
            vertices, faces = shape
            pose = _pose_matrix(pos, orn)  # the visual frame in the link frame
            per_link.setdefault(link, []).append((vertices @ pose[:3, :3].T + pose[:3, 3], faces))
        links = tuple(_merge_link(link, per_link[link]) for link in sorted(per_link))
        inertial_pos, inertial_orn = p.getDynamicsInfo(uid, -1, physicsClientId=client)[3:5]
        base_link_in_com = np.linalg.inv(_pose_matrix(inertial_pos, inertial_orn))
        return cls(links, base_link_in_com, tuple(missing))

    def link_poses(self, client: int, uid: int) -> dict[int, np.ndarray]:
        """4x4 world pose of each link frame that carries triangles (-1 is the base)."""
        poses = {}
        if any(m.link < 0 for m in self.links):
            pos, orn = p.getBasePositionAndOrientation(uid, physicsClientId=client)
            poses[-1] = _pose_matrix(pos, orn) @ self._base_link_in_com
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

    def silhouette(self, client: int, uid: int, K: np.ndarray, cam_to_world: np.ndarray,
                   width: int, height: int, near_m: float,
                   far_m: float | None = None) -> np.ndarray:
        """The body's unoccluded (H, W) bool mask at its current pose: the same pixels as
        ``silhouette(self.world_triangles(client, uid), ...)``, faster.

        Where two triangles sharing an edge face the same way (both towards or both away
        from the camera), that edge's contributions cancel, so only outline edges (and
        the triangles cut by the near or far plane) are rasterized.
        """
        mask = np.zeros((height, width), dtype=bool)
        if not len(self._faces):
            return mask
        cam = _to_camera(self.world_vertices(client, uid), cam_to_world)
        depth = cam[:, 2][self._faces]
        whole = (depth >= near_m).all(axis=1)
        if far_m is not None:
            whole &= (depth <= far_m).all(axis=1)
        uv = _project(cam, K)  # meaningless for vertices behind the camera: not used there
        corners = uv[self._faces[whole]]
        weight = _winding_weight(corners)
        edge_weight = np.bincount(
            self._face_edges[whole].ravel(),
            weights=(weight[:, None] * self._face_edge_signs[whole]).ravel(),
            minlength=len(self._edges))
        outline = np.flatnonzero(np.rint(edge_weight))
        starts = [uv[self._edges[outline, 0]]]
        ends = [uv[self._edges[outline, 1]]]
        weights = [edge_weight[outline]]
        if not whole.all():
            cut = _clip_depth(cam[self._faces[~whole]], near_m, far_m)
            cut_starts, cut_ends, cut_weights = _triangle_edges(_project(cut, K))
            starts.append(cut_starts)
            ends.append(cut_ends)
            weights.append(cut_weights)
        _draw_edges(np.concatenate(starts), np.concatenate(ends), np.concatenate(weights), mask)
        return mask


def silhouette(triangles_world: np.ndarray, K: np.ndarray, cam_to_world: np.ndarray,
               width: int, height: int, near_m: float, far_m: float | None = None) -> np.ndarray:
    """(H, W) bool mask of the pixels the triangles cover, unoccluded.

    Triangles crossing the near plane (camera z = ``near_m``) are clipped against it
    (polygon clipping in camera space), so an object partly behind the camera is handled;
    with ``far_m`` they are clipped against the far plane too. Parts outside the image are
    simply not drawn. A pixel is covered when its centre is inside a projected triangle.
    """
    mask = np.zeros((height, width), dtype=bool)
    tris = np.asarray(triangles_world, dtype=np.float64).reshape(-1, 3, 3)
    cam = _clip_depth(_to_camera(tris, cam_to_world), near_m, far_m)
    if len(cam):
        _draw_edges(*_triangle_edges(_project(cam, K)), mask)
    return mask


# --- camera-space helpers ------------------------------------------------------------
# Written element by element (no matmul) so that a vertex gives bit-identical results
# whether it comes alone or inside a triangle: shared edges then cancel exactly.


def _to_camera(points_world: np.ndarray, cam_to_world: np.ndarray) -> np.ndarray:
    """OpenCV camera-frame coordinates (..., 3) of world points (..., 3)."""
    r, t = np.asarray(cam_to_world, dtype=np.float64)[:3, :3], cam_to_world[:3, 3]
    d = [points_world[..., k] - t[k] for k in range(3)]
    return np.stack([d[0] * r[0, j] + d[1] * r[1, j] + d[2] * r[2, j] for j in range(3)],
                    axis=-1)


def _project(cam: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Pixel coordinates (..., 2) of camera-frame points (..., 3) (z > 0)."""
    k = np.asarray(K, dtype=np.float64)
    x, y, z = cam[..., 0], cam[..., 1], cam[..., 2]
    w = k[2, 0] * x + k[2, 1] * y + k[2, 2] * z
    with np.errstate(divide="ignore", invalid="ignore"):
        u = (k[0, 0] * x + k[0, 1] * y + k[0, 2] * z) / w
        v = (k[1, 0] * x + k[1, 1] * y + k[1, 2] * z) / w
    return np.stack([u, v], axis=-1)


def _clip_depth(tris: np.ndarray, near_m: float, far_m: float | None) -> np.ndarray:
    """Camera-frame triangles clipped to ``near_m <= z`` (and ``z <= far_m``)."""
    tris = _clip(tris, near_m, +1.0)
    if far_m is not None and len(tris):
        tris = _clip(tris, -far_m, -1.0)
    return tris


def _clip(tris: np.ndarray, bound: float, sign: float) -> np.ndarray:
    """Clip camera-frame triangles (M, 3, 3) to the half-space ``sign * z >= bound``.

    A triangle with one vertex inside becomes one smaller triangle; with two inside, a
    quadrilateral, split into two triangles. Winding is kept.
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


# --- rasterizing ---------------------------------------------------------------------
# Coverage is a winding count: every directed edge adds its weight to the pixels right of
# where it crosses a row's centre line (downwards +, upwards -), and a row's running sum
# is the number of triangles over each pixel centre. Sums, unlike cv2.fillPoly's
# parity fill of many polygons, do not punch holes where triangles overlap.


def _winding_weight(corners: np.ndarray) -> np.ndarray:
    """+-1 per projected triangle (M, 3, 2) so that it counts +1 inside; 0 if degenerate."""
    a, b, c = corners[:, 0], corners[:, 1], corners[:, 2]
    cross = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])
    return -np.sign(cross)


def _triangle_edges(corners: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The three weighted directed edges (starts, ends, weights) of each triangle."""
    weight = _winding_weight(corners)
    starts = corners.reshape(-1, 2)
    ends = np.roll(corners, -1, axis=1).reshape(-1, 2)
    return starts, ends, np.repeat(weight, 3)


def _draw_edges(starts: np.ndarray, ends: np.ndarray, weights: np.ndarray,
                mask: np.ndarray) -> None:
    """Set the pixels of ``mask`` whose winding count over these edges is not zero.

    A pixel centre exactly on an edge belongs to the triangle on its right (rows are
    half-open at the bottom): two triangles sharing an edge never both miss it.
    """
    height, width = mask.shape
    # Each edge top-down, with a weight that says which way it really ran, so that the
    # two copies of a shared edge give bit-identical crossings.
    flip = (ends[:, 1] < starts[:, 1]) | ((ends[:, 1] == starts[:, 1]) &
                                          (ends[:, 0] < starts[:, 0]))
    top = np.where(flip[:, None], ends, starts)
    bottom = np.where(flip[:, None], starts, ends)
    weights = np.where(flip, -weights, weights)
    first_row = np.maximum(np.ceil(top[:, 1]), 0)
    stop_row = np.minimum(np.ceil(bottom[:, 1]), height)
    with np.errstate(invalid="ignore"):
        rows = stop_row - first_row
        used = (rows > 0) & (weights != 0) & np.isfinite(rows)
    if not used.any():
        return
    top, bottom, weights = top[used], bottom[used], weights[used]
    first_row, rows = first_row[used], rows[used].astype(np.int64)
    slope = (bottom[:, 0] - top[:, 0]) / (bottom[:, 1] - top[:, 1])
    edge = np.repeat(np.arange(len(rows)), rows)
    y = first_row[edge] + (np.arange(len(edge)) - (np.cumsum(rows) - rows)[edge])
    x = top[edge, 0] + (y - top[edge, 1]) * slope[edge]
    col = np.clip(np.ceil(x), 0, width).astype(np.int64)
    y = y.astype(np.int64)
    y0, c0 = int(y.min()), int(col.min())
    box_h, box_w = int(y.max()) - y0 + 1, int(col.max()) - c0 + 1
    counts = np.bincount((y - y0) * box_w + (col - c0), weights=weights[edge],
                         minlength=box_h * box_w)
    covered = np.rint(np.cumsum(counts.reshape(box_h, box_w), axis=1)) != 0
    cols = min(box_w, width - c0)
    mask[y0:y0 + box_h, c0:c0 + cols] |= covered[:, :cols]


def _edge_incidence(faces: np.ndarray, n_vertices: int):
    """Undirected edges (E, 2) of a triangle list, each face's three edge ids (F, 3) and
    +-1 for whether the face runs along the edge as stored (low index to high)."""
    starts = faces.ravel()
    ends = np.roll(faces, -1, axis=1).ravel()
    low, high = np.minimum(starts, ends), np.maximum(starts, ends)
    keys, ids = np.unique(low * max(n_vertices, 1) + high, return_inverse=True)
    edges = np.column_stack([keys // max(n_vertices, 1), keys % max(n_vertices, 1)])
    signs = np.where(starts < ends, 1.0, -1.0).reshape(-1, 3)
    return edges.astype(np.int64), ids.reshape(-1, 3), signs


def _merge_link(link: int, parts: list[tuple[np.ndarray, np.ndarray]]) -> LinkMesh:
    """One link's shapes as one mesh with each distinct vertex position stored once."""
    offsets = np.cumsum([0] + [len(v) for v, _ in parts])
    vertices = np.concatenate([v for v, _ in parts])
    faces = np.concatenate([f + o for (_, f), o in zip(parts, offsets, strict=False)])
    vertices, inverse = np.unique(vertices, axis=0, return_inverse=True)
    faces = inverse.reshape(-1)[faces]
    distinct = (faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2]) & \
        (faces[:, 2] != faces[:, 0])
    return LinkMesh(link=link, vertices_m=vertices, faces=faces[distinct])


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
    c = int(np.argmax(np.linalg.norm(np.cross(pts - pts[a], pts[b] - pts[a]), axis=1)))
    normal = np.cross(pts[b] - pts[a], pts[c] - pts[a])
    heights = (pts - pts[a]) @ normal
    d = int(np.argmax(np.abs(heights)))
    if abs(heights[d]) <= eps * np.linalg.norm(normal):
        return _flat_hull_faces(pts, normal)
    faces = np.array([(a, b, c), (a, c, d), (a, d, b), (b, d, c)] if heights[d] < 0 else
                     [(a, c, b), (a, b, d), (a, d, c), (b, c, d)], dtype=np.int64)
    for k in range(len(pts)):
        corner = pts[faces]
        normals = np.cross(corner[:, 1] - corner[:, 0], corner[:, 2] - corner[:, 0])
        lengths = np.linalg.norm(normals, axis=1)
        visible = np.einsum("ij,ij->i", normals, pts[k] - corner[:, 0]) > eps * lengths
        if not visible.any():
            continue  # inside the hull so far (or one of its corners)
        lit = faces[visible]
        seen = set(zip(lit.ravel().tolist(), np.roll(lit, -1, axis=1).ravel().tolist(),
                       strict=True))
        horizon = [(e0, e1, k) for (e0, e1) in seen if (e1, e0) not in seen]
        faces = np.vstack([faces[~visible], np.array(horizon, dtype=np.int64)])
    return faces


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
