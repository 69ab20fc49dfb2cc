"""Unoccluded silhouettes: a body's own visual geometry rasterized with a camera's K.

The visible fraction of an object is its visible pixels (from the rendered instance mask)
over the pixels it would cover if nothing hid it. This module computes the second number
without a second render: ``BodyMesh`` reads a body's visual shapes once and keeps their
triangles in each link's frame; per frame ``BodyMesh.world_triangles`` poses them and
``silhouette`` projects and fills them (``BodyMesh.silhouette`` does both, faster).

Matching the renderers, not the ideal shapes (checked against both renderers' instance
masks in ``tests/test_silhouette.py``):

- PyBullet does not draw a box, sphere, cylinder or capsule as such: both renderers
  (TinyRenderer and the EGL plugin share the code) tessellate a primitive with
  ``btShapeHull``, the convex hull of its support points in 42 directions (an icosahedron
  and its edge midpoints). A sphere becomes a 42-vertex polyhedron; a cylinder is first a
  32-sided prism; a capsule is that prism with a cone on each end (two pole points),
  not hemispheres. The hull keeps only 20 of the prism's 32 sides (about 2% of a disc's
  area is lost), so it is rebuilt here the same way.
- ``getVisualShapeData``'s dimensions: a box's full extents, a sphere's radius first, a
  cylinder's and a capsule's (length, radius), a mesh's scale. ``globalScaling`` at load
  time is already applied to dimensions, mesh scales and visual frame offsets.
- The visual frame is relative to the link's own (URDF) frame, not its inertial (centre of
  mass) frame: ``getLinkState`` gives that frame directly (items 4, 5); for the base it is
  ``getBasePositionAndOrientation`` (the centre of mass) composed with the inverse of the
  local inertial frame (``getDynamicsInfo(uid, -1)[3:5]``). Bodies made with
  ``createMultiBody`` (and ``createVisualShapeArray``) follow the same rule.
- Both renderers cull back faces: a triangle counts only when it faces the camera (its
  corners counter-clockwise on screen). From inside a closed body nothing is drawn, and
  where the near plane cuts a body open its inside stays empty.

Pixel convention: ``K`` maps the OpenCV camera frame to pixel coordinates whose integers
are pixel centres; a pixel is covered when its centre lies inside a projected triangle, as
in the renderers (use the ``K`` of ``camera_view(..., renderer)``, which carries each
renderer's half-pixel sampling offset).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from simgen.world.bullet import p


@dataclass(frozen=True)
class MaskWindow:
    """A bool mask covering only a window of an image: ``mask`` (h, w) holds the image's
    pixels ``[top:top + h, left:left + w]``; every pixel outside it is False."""

    mask: np.ndarray
    top: int
    left: int

    def full(self, height: int, width: int) -> np.ndarray:
        """The (height, width) mask of the whole image."""
        out = np.zeros((height, width), dtype=bool)
        h, w = self.mask.shape
        out[self.top:self.top + h, self.left:self.left + w] = self.mask
        return out

    def of(self, image: np.ndarray) -> np.ndarray:
        """The pixels of ``image`` (same size as the mask's image) inside the mask."""
        h, w = self.mask.shape
        return image[self.top:self.top + h, self.left:self.left + w][self.mask]

    def count(self) -> int:
        """Pixels in the mask."""
        return int(np.count_nonzero(self.mask))


def _empty_window() -> MaskWindow:
    mask = np.zeros((0, 0), dtype=bool)
    mask.flags.writeable = False
    return MaskWindow(mask, 0, 0)


#: The window of an empty mask (shared, read-only).
EMPTY_WINDOW = _empty_window()

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
    given as vertices rather than a file, an unreadable or unsupported file such as COLLADA
    or ASCII STL, a heightfield), so that a caller can tell an incomplete silhouette from a
    complete one (the renderers draw nothing of an ASCII STL either).
    """

    def __init__(self, links: tuple[LinkMesh, ...], base_link_in_com: np.ndarray,
                 missing: tuple[str, ...] = ()):
        self.links = links
        self.missing = missing
        self._base_link_in_com = base_link_in_com  # 4x4: base link frame in its COM frame
        self._has_base = bool(links) and links[0].link < 0
        self._link_indices = [m.link for m in links if m.link >= 0]
        self._v_offsets = np.cumsum([0] + [len(m.vertices_m) for m in links])
        self._f_offsets = np.cumsum([0] + [len(m.faces) for m in links])
        self._vertices = np.concatenate([m.vertices_m for m in links] + [np.zeros((0, 3))])
        self._faces = np.concatenate(
            [m.faces + o for m, o in zip(links, self._v_offsets, strict=False)]
            + [np.zeros((0, 3), dtype=np.int64)])
        self._vertex_link = np.repeat(np.arange(len(links)), np.diff(self._v_offsets))
        self._face_link = np.repeat(np.arange(len(links)), np.diff(self._f_offsets))
        # Each face's plane (n, -n.a) in its link frame, n along its winding's normal.
        corner = self._vertices[self._faces]
        normals = np.cross(corner[:, 1] - corner[:, 0], corner[:, 2] - corner[:, 0])
        self._planes = np.column_stack([normals, -np.einsum("ij,ij->i", normals, corner[:, 0])])
        self._edge_table = _EdgeTable.of(self._faces, len(self._vertices))
        # A bounding sphere per link, to skip links out of view and find those that may
        # cross the near or far plane.
        self._centres = np.array([(m.vertices_m.min(axis=0) + m.vertices_m.max(axis=0)) / 2
                                  for m in links]).reshape(-1, 3)
        self._radii = np.array([np.linalg.norm(m.vertices_m - c, axis=1).max()
                                for m, c in zip(links, self._centres, strict=True)])

    @property
    def n_triangles(self) -> int:
        """Number of triangles over all links."""
        return len(self._faces)

    @classmethod
    def from_body(cls, client: int, uid: int) -> BodyMesh:
        """Read body ``uid``'s visual shapes (and the mesh files they name) into triangles."""
        per_link: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {}
        missing: list[str] = []
        n_links = p.getNumJoints(uid, physicsClientId=client)
        for row in p.getVisualShapeData(uid, physicsClientId=client):
            link, geom, dims, filename, pos, orn = row[1], row[2], row[3], row[4], row[5], row[6]
            if link >= n_links:
                # The EGL plugin keeps a removed body's rows and lists them under the next
                # body given its id (resetSimulation clears them); such a link does not
                # exist, and getLinkStates would crash on it.
                continue
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

    def link_poses(self, client: int, uid: int) -> tuple[np.ndarray, np.ndarray]:
        """World rotations (L, 3, 3) and origins (L, 3) of the link frames of ``links``."""
        quats, origins = [], []
        if self._has_base:
            pos, orn = p.getBasePositionAndOrientation(uid, physicsClientId=client)
            quats.append(orn)
            origins.append(pos)
        if self._link_indices:
            for state in p.getLinkStates(uid, self._link_indices, computeForwardKinematics=1,
                                         physicsClientId=client):
                quats.append(state[5])
                origins.append(state[4])
        rotations = np.array([p.getMatrixFromQuaternion(q) for q in quats]).reshape(-1, 3, 3)
        origins = np.array(origins, dtype=np.float64).reshape(-1, 3)
        if self._has_base:  # from the base's centre of mass to its link frame
            origins[0] += rotations[0] @ self._base_link_in_com[:3, 3]
            rotations[0] = rotations[0] @ self._base_link_in_com[:3, :3]
        return rotations, origins

    def world_vertices(self, client: int, uid: int) -> np.ndarray:
        """(V, 3) world-frame vertices of every link at the body's current pose."""
        rotations, origins = self.link_poses(client, uid)
        return _link_to_world(self._vertices, rotations[self._vertex_link],
                              origins[self._vertex_link])

    def world_triangles(self, client: int, uid: int) -> np.ndarray:
        """(N, 3, 3) world-frame triangle vertices at the body's current pose."""
        return self.world_vertices(client, uid)[self._faces]

    def local_bounds(self) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """Per link, the (min, max) corners of its triangles in the link frame (metres)."""
        return {m.link: (m.vertices_m.min(axis=0), m.vertices_m.max(axis=0))
                for m in self.links if len(m.vertices_m)}

    def silhouette(self, client: int, uid: int, K: np.ndarray, cam_to_world: np.ndarray,
                   width: int, height: int, near_m: float, far_m: float | None = None,
                   cull_back_faces: bool = True) -> np.ndarray:
        """The body's unoccluded (H, W) bool mask at its current pose: the pixels of
        ``silhouette(self.world_triangles(client, uid), ...)`` (up to pixel centres lying
        exactly on an edge), faster."""
        return self.silhouette_at(*self.link_poses(client, uid), K, cam_to_world, width,
                                  height, near_m, far_m, cull_back_faces)

    def silhouette_at(self, rotations: np.ndarray, origins: np.ndarray, K: np.ndarray,
                      cam_to_world: np.ndarray, width: int, height: int, near_m: float,
                      far_m: float | None = None, cull_back_faces: bool = True) -> np.ndarray:
        """``silhouette`` with the link poses given (``link_poses``): no PyBullet call, so
        it can run on another thread."""
        return self.silhouette_window(rotations, origins, K, cam_to_world, width, height,
                                      near_m, far_m, cull_back_faces).full(height, width)

    def silhouette_window(self, rotations: np.ndarray, origins: np.ndarray, K: np.ndarray,
                          cam_to_world: np.ndarray, width: int, height: int, near_m: float,
                          far_m: float | None = None,
                          cull_back_faces: bool = True) -> MaskWindow:
        """``silhouette_at`` as the window of the image around the silhouette (what a
        per-object count needs, without an image-sized mask per object).

        Which triangles face the camera is decided in their link frames; an edge between
        two drawn triangles (or two culled ones) cancels out, so only outline edges (and
        the triangles cut by the near or far plane) are projected and rasterized. A link
        out of view costs one bounding-sphere test.
        """
        if not len(self._faces):
            return EMPTY_WINDOW
        cam_rot = np.asarray(cam_to_world, dtype=np.float64)[:3, :3]
        eye = np.asarray(cam_to_world, dtype=np.float64)[:3, 3]
        to_cam_rot = np.matmul(cam_rot.T, rotations)  # link frame -> camera frame, per link
        to_cam_origin = (origins - eye) @ cam_rot
        centres = np.einsum("lij,lj->li", to_cam_rot, self._centres) + to_cam_origin
        far = np.inf if far_m is None else far_m
        sides = _frustum_sides(tuple(np.ravel(K)), width, height)
        in_view = ~(centres @ sides.T < -self._radii[:, None]).any(axis=1) & \
            (centres[:, 2] + self._radii >= near_m) & (centres[:, 2] - self._radii <= far)
        if not in_view.any():
            return EMPTY_WINDOW
        # Front-facing triangles have the camera on their plane's outer side (+1, -1 for
        # back faces, 0 for edge-on ones and links out of view); each triangle's edges,
        # taken in its corners' order with this weight, count +1 inside it.
        eye_in_link = np.ones((len(self.links), 4))
        eye_in_link[:, :3] = np.einsum("lji,lj->li", rotations, eye - origins)  # R^T (eye - t)
        side = np.zeros(len(self._faces))
        for i in np.flatnonzero(in_view):
            faces = slice(self._f_offsets[i], self._f_offsets[i + 1])
            np.matmul(self._planes[faces], eye_in_link[i], out=side[faces])
        facing = np.sign(side)
        face_weight = np.maximum(facing, 0.0) if cull_back_faces else facing
        crossing = in_view & ((centres[:, 2] - self._radii < near_m) |
                              (centres[:, 2] + self._radii > far))
        cut = np.zeros((0, 3), dtype=np.int64)
        if crossing.any():  # the triangles of these links that cross the near or far plane
            maybe = np.flatnonzero(crossing[self._face_link])
            corners = self._faces[maybe]
            depth = self._camera_points(corners.ravel(), to_cam_rot, to_cam_origin)[:, 2]
            depth = depth.reshape(-1, 3)
            whole = (depth >= near_m).all(axis=1) & (depth <= far).all(axis=1)
            face_weight[maybe[~whole]] = 0.0
            cut = corners[~whole]
        edge_weight = self._edge_table.weights(face_weight)
        outline = np.flatnonzero(edge_weight)
        # Every vertex once, so that an edge drawn twice (an outline edge that is also a cut
        # triangle's) gets bit-identical ends and its two contributions cancel exactly.
        ids, at = np.unique(np.concatenate([self._edge_table.edges[outline].ravel(), cut.ravel()]),
                            return_inverse=True)
        cam = self._camera_points(ids, to_cam_rot, to_cam_origin)
        at = at.ravel()
        n_outline = 2 * len(outline)
        uv = _project(cam[at[:n_outline]], K).reshape(-1, 2, 2)
        starts, ends, weights = [uv[:, 0]], [uv[:, 1]], [edge_weight[outline]]
        if len(cut):
            tris = _clip_depth(cam[at[n_outline:]].reshape(-1, 3, 3), near_m, far_m)
            cut_edges = _triangle_edges(_project(tris, K), cull_back_faces)
            for part, extra in zip((starts, ends, weights), cut_edges, strict=True):
                part.append(extra)
        return _edge_window(np.concatenate(starts), np.concatenate(ends),
                            np.concatenate(weights), height, width)

    def _camera_points(self, ids: np.ndarray, to_cam_rot: np.ndarray,
                       to_cam_origin: np.ndarray) -> np.ndarray:
        """Camera-frame positions (N, 3) of the vertices ``ids``."""
        link = self._vertex_link[ids]
        return np.einsum("nij,nj->ni", to_cam_rot[link], self._vertices[ids]) + \
            to_cam_origin[link]


def silhouette(triangles_world: np.ndarray, K: np.ndarray, cam_to_world: np.ndarray,
               width: int, height: int, near_m: float, far_m: float | None = None,
               cull_back_faces: bool = True) -> np.ndarray:
    """(H, W) bool mask of the pixels the triangles cover, unoccluded.

    Triangles crossing the near plane (camera z = ``near_m``) are clipped against it
    (polygon clipping in camera space), so an object partly behind the camera is handled;
    with ``far_m`` they are clipped against the far plane too. Parts outside the image are
    simply not drawn. A pixel is covered when its centre is inside a projected triangle
    that faces the camera (corners counter-clockwise on screen, seen from outside for
    outward-wound meshes): the renderers cull the others. ``cull_back_faces=False``
    counts every triangle.
    """
    tris = np.asarray(triangles_world, dtype=np.float64).reshape(-1, 3, 3)
    cam = _clip_depth(_to_camera(tris, cam_to_world), near_m, far_m)
    window = (_edge_window(*_triangle_edges(_project(cam, K), cull_back_faces), height, width)
              if len(cam) else EMPTY_WINDOW)
    return window.full(height, width)


# --- camera-space helpers ------------------------------------------------------------
# Written element by element (no matmul) so that a vertex gives bit-identical results
# whether it comes alone or inside a triangle: shared edges then cancel exactly.


def _to_camera(points_world: np.ndarray, cam_to_world: np.ndarray) -> np.ndarray:
    """OpenCV camera-frame coordinates (..., 3) of world points (..., 3)."""
    r, t = np.asarray(cam_to_world, dtype=np.float64)[:3, :3], cam_to_world[:3, 3]
    d = [points_world[..., k] - t[k] for k in range(3)]
    return np.stack([d[0] * r[0, j] + d[1] * r[1, j] + d[2] * r[2, j] for j in range(3)],
                    axis=-1)


def _link_to_world(points: np.ndarray, rotations: np.ndarray,
                   origins: np.ndarray) -> np.ndarray:
    """World coordinates (N, 3) of points (N, 3), each in a frame with world rotation
    (N, 3, 3) and origin (N, 3)."""
    return np.stack([points[:, 0] * rotations[:, j, 0] + points[:, 1] * rotations[:, j, 1]
                     + points[:, 2] * rotations[:, j, 2] + origins[:, j] for j in range(3)],
                    axis=-1)


@functools.lru_cache(maxsize=64)
def _frustum_sides(k: tuple[float, ...], width: int, height: int) -> np.ndarray:
    """Inward unit normals (4, 3) of the planes through the camera centre and the image's
    borders (a pixel beyond them, to be safe), in the camera frame; ``k`` is K, flat."""
    k_inv = np.linalg.inv(np.array(k, dtype=np.float64).reshape(3, 3))
    rays = k_inv @ np.array([[-1.0, width, width, -1.0], [-1.0, -1.0, height, height],
                             [1.0, 1.0, 1.0, 1.0]])
    normals = np.cross(rays.T, np.roll(rays.T, -1, axis=0))
    inside = k_inv @ np.array([(width - 1) / 2, (height - 1) / 2, 1.0])
    normals *= np.sign(normals @ inside)[:, None]
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    normals.flags.writeable = False
    return normals


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


def _triangle_edges(corners: np.ndarray,
                    cull_back_faces: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The three weighted directed edges (starts, ends, weights) of each projected triangle
    (M, 3, 2), weighted so that the triangle counts +1 inside (0 for a culled one).

    Both renderers cull back faces: a triangle is drawn when its corners run
    counter-clockwise as seen on screen (OpenGL's front face). In pixel coordinates (v
    down) that is a negative cross product (b - a) x (c - a), and its edges in that order
    count +1 inside it.
    """
    a, b, c = corners[:, 0], corners[:, 1], corners[:, 2]
    cross = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])
    weight = (cross < 0).astype(np.float64) if cull_back_faces else -np.sign(cross)
    starts = corners.reshape(-1, 2)
    ends = np.roll(corners, -1, axis=1).reshape(-1, 2)
    return starts, ends, np.repeat(weight, 3)


def _edge_window(starts: np.ndarray, ends: np.ndarray, weights: np.ndarray, height: int,
                 width: int) -> MaskWindow:
    """The pixels of a ``height`` x ``width`` image whose winding count over these weighted
    edges (pixel coordinates, (E, 2) each) is not zero, as a window.

    A pixel centre exactly on an edge belongs to the triangle on its right, and rows are
    half-open at the bottom: two triangles sharing an edge never both miss a pixel centre.
    """
    su, sv, eu, ev = starts[:, 0], starts[:, 1], ends[:, 0], ends[:, 1]
    # Each edge taken top-down (its weight negated if it ran upwards), so that the two
    # copies of an edge shared by two triangles give bit-identical crossings.
    flip = ev < sv
    top_v = np.where(flip, ev, sv)
    bottom_v = np.where(flip, sv, ev)
    first = np.maximum(np.ceil(top_v), 0)
    with np.errstate(invalid="ignore"):
        rows = np.minimum(np.ceil(bottom_v), height) - first
        used = np.flatnonzero((rows > 0) & (weights != 0))
    if not len(used):
        return EMPTY_WINDOW
    top_u = np.where(flip, eu, su)[used]
    bottom_u = np.where(flip, su, eu)[used]
    top_v, bottom_v, first = top_v[used], bottom_v[used], first[used]
    weights = np.where(flip, -weights, weights)[used]
    rows = rows[used].astype(np.intp)
    slope = (bottom_u - top_u) / (bottom_v - top_v)
    intercept = top_u - top_v * slope
    # One entry per (edge, row it crosses): the row's centre line meets the edge at x.
    ends_at = np.cumsum(rows)
    edge = np.repeat(np.arange(len(rows)), rows)
    y = np.arange(ends_at[-1], dtype=np.float64)
    y += (first - (ends_at - rows))[edge]
    x = slope[edge] * y
    x += intercept[edge]
    col = np.clip(np.ceil(x), 0, width).astype(np.intp)  # first pixel centre right of x
    row = y.astype(np.intp)
    y0, c0 = int(first.min()), int(col.min())
    box_h, box_w = int(row.max()) - y0 + 1, int(col.max()) - c0 + 1
    counts = np.bincount((row - y0) * box_w + (col - c0), weights=weights[edge],
                         minlength=box_h * box_w)
    # Weights are whole numbers: integer running sums are exact (and much faster).
    covered = np.cumsum(counts.astype(np.int64).reshape(box_h, box_w), axis=1) != 0
    return MaskWindow(covered[:, :min(box_w, width - c0)], y0, c0)


@dataclass(frozen=True)
class _EdgeTable:
    """The undirected edges of a triangle list and the faces along each.

    ``edges`` (E, 2) holds vertex ids; its first ``len(pair_faces)`` edges have exactly two
    faces, ``pair_faces`` (each face's index) and ``pair_signs`` (+1 where the face runs
    along the edge as stored, -1 against it). Every other edge (an open border, or three or
    more faces) is listed per face in ``lone_edges``, ``lone_faces`` and ``lone_signs``.
    """

    edges: np.ndarray
    pair_faces: np.ndarray
    pair_signs: np.ndarray
    lone_edges: np.ndarray
    lone_faces: np.ndarray
    lone_signs: np.ndarray

    @classmethod
    def of(cls, faces: np.ndarray, n_vertices: int) -> _EdgeTable:
        """The edge table of ``faces`` (F, 3) over ``n_vertices`` vertices."""
        starts = faces.ravel()
        ends = np.roll(faces, -1, axis=1).ravel()
        stride = max(n_vertices, 1)
        key = np.minimum(starts, ends) * stride + np.maximum(starts, ends)
        sign = np.where(starts < ends, 1.0, -1.0)
        face = np.repeat(np.arange(len(faces)), 3)
        keys, ids, counts = np.unique(key, return_inverse=True, return_counts=True)
        ids = ids.ravel()
        paired = counts == 2
        # Renumber the edges: those with two faces first.
        new_id = np.empty(len(keys), dtype=np.int64)
        new_id[paired] = np.arange(paired.sum())
        new_id[~paired] = paired.sum() + np.arange((~paired).sum())
        keys = np.concatenate([keys[paired], keys[~paired]])
        ids = new_id[ids]
        order = np.argsort(ids, kind="stable")
        n_pairs = int(paired.sum())
        in_pair = order[:2 * n_pairs].reshape(-1, 2)
        lone = order[2 * n_pairs:]
        return cls(
            edges=np.column_stack([keys // stride, keys % stride]).astype(np.int64),
            pair_faces=face[in_pair], pair_signs=sign[in_pair],
            lone_edges=ids[lone] - n_pairs, lone_faces=face[lone], lone_signs=sign[lone],
        )

    def weights(self, face_weight: np.ndarray) -> np.ndarray:
        """Per edge, the sum over its faces of the face's weight, signed by direction."""
        paired = (self.pair_signs[:, 0] * face_weight[self.pair_faces[:, 0]]
                  + self.pair_signs[:, 1] * face_weight[self.pair_faces[:, 1]])
        lone = np.bincount(self.lone_edges, weights=self.lone_signs * face_weight[self.lone_faces],
                           minlength=len(self.edges) - len(paired))
        return np.concatenate([paired, lone])


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
    """Vertices and triangles of a Wavefront OBJ: every object and group, polygons fanned
    (normals, texture coordinates and materials ignored)."""
    vertex_lines: list[str] = []
    face_lines: list[str] = []
    defined_before: list[int] = []  # vertices so far, for negative (relative) indices
    for line in text.splitlines():
        if line.startswith("v "):
            vertex_lines.append(line)
        elif line.startswith("f "):
            face_lines.append(line)
            defined_before.append(len(vertex_lines))
    coords = " ".join(" ".join(line.split()[1:4]) for line in vertex_lines)
    vertices = np.fromstring(coords, dtype=np.float64, sep=" ").reshape(-1, 3)
    polygons = [[token.split("/", 1)[0] for token in line.split()[1:]] for line in face_lines]
    faces = []
    for size in sorted({len(polygon) for polygon in polygons} - {0, 1, 2}):
        rows = [k for k, polygon in enumerate(polygons) if len(polygon) == size]
        idx = np.fromstring(" ".join(" ".join(polygons[k]) for k in rows), dtype=np.int64,
                            sep=" ").reshape(-1, size)
        before = np.array(defined_before, dtype=np.int64)[rows][:, None]
        idx = np.where(idx > 0, idx - 1, before + idx)
        faces += [idx[:, [0, i, i + 1]] for i in range(1, size - 1)]
    return vertices, np.concatenate(faces + [np.zeros((0, 3), dtype=np.int64)])


def _read_stl(data: bytes) -> tuple[np.ndarray, np.ndarray] | None:
    """Triangles of a binary STL file, one vertex per corner; None for anything else (an
    ASCII STL, which PyBullet's renderers cannot read either and draw nothing of)."""
    if len(data) < 84:
        return None
    count = int(np.frombuffer(data, dtype="<u4", count=1, offset=80)[0])
    if 84 + 50 * count != len(data):
        return None
    record = np.dtype([("normal", "<f4", 3), ("corners", "<f4", (3, 3)), ("attribute", "<u2")])
    corners = np.frombuffer(data, dtype=record, count=count, offset=84)["corners"]
    vertices = corners.reshape(-1, 3).astype(np.float64)
    return vertices, np.arange(len(vertices), dtype=np.int64).reshape(-1, 3)


class MeshLibrary:
    """``BodyMesh``es read in a private PyBullet connection, cached by file and scale.

    With the EGL renderer plugin loaded, ``getVisualShapeData`` of the second and later
    body loaded from a mesh file reports no geometry (type 0, zero sizes), so meshes are
    never read from the rendering client: each (URDF, scale) is loaded once into a plain
    DIRECT client of this library and read there. A mesh is in link frames, so it serves
    every body of that file and scale in any client (the link order is the file's).
    """

    def __init__(self) -> None:
        self._client = -1
        self._meshes: dict[tuple[str, float, bool], BodyMesh] = {}

    def mesh(self, urdf_path: str, scale: float, fixed_base: bool) -> BodyMesh:
        """The mesh of a body loaded from ``urdf_path`` at ``globalScaling`` ``scale``.

        ``fixed_base`` must match how the body was loaded: PyBullet reports a fixed base's
        frame differently from a free one's.
        """
        key = (str(urdf_path), float(scale), bool(fixed_base))
        if key not in self._meshes:
            if self._client < 0:
                self._client = p.connect(p.DIRECT)
            uid = p.loadURDF(str(urdf_path), useFixedBase=fixed_base, globalScaling=scale,
                             flags=p.URDF_USE_INERTIA_FROM_FILE, physicsClientId=self._client)
            self._meshes[key] = BodyMesh.from_body(self._client, uid)
            p.removeBody(uid, physicsClientId=self._client)
        return self._meshes[key]

    def close(self) -> None:
        """Disconnect the private client (idempotent)."""
        if self._client >= 0:
            p.disconnect(physicsClientId=self._client)
            self._client = -1

    def __enter__(self) -> MeshLibrary:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
