"""Build an episode's world in PyBullet from its plan.

The plan is plain data (``simgen.sampling.scene``); this module is the only place
that turns it into bodies. Every body gets an instance id (1, 2, ... in creation
order; 0 is the background) that the segmentation images use.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from simgen.catalog import ASSETS
from simgen.errors import SimgenError, did_you_mean
from simgen.sampling.scene import (
    FIXED_BASE_BEHAVIOURS,
    FIXED_BASE_KINDS,
    LAMP_REACH_M,
    BodyPlan,
    EpisodePlan,
    RoadLayout,
    TableLayout,
    TexturePlan,
)
from simgen.world.bullet import p
from simgen.world.textures import TextureBank, make_texture

#: PyBullet draws nothing of a body whose visual shape array has more shapes than this.
MAX_SHAPES_PER_BODY = 25
SLAB_HALF_THICKNESS_M = 0.5
#: Longest visual tile of large surfaces (see ``_Builder.box``).
TILE_M = 20.0
#: Side of a procedural texture image (the helper's patterns keep periods <= size / 4).
TEXTURE_SIZE_PX = 128
#: The shoulder is the road surface this much lighter (worn, dusty asphalt).
SHOULDER_LIGHTEN = 0.08
SIDEWALK = (0.62, 0.61, 0.58, 1.0)
FLOOR = (0.55, 0.52, 0.48, 1.0)
WHITE_PAINT = (0.95, 0.95, 0.92, 1.0)
YELLOW_PAINT = (0.95, 0.75, 0.1, 1.0)


@dataclass(frozen=True)
class Instance:
    """One body in the built world: its instance id, PyBullet uid, name and class.

    ``labeled`` instances are objects that get boxes; the others are scene "stuff"
    (ground, road, markings, table) or bodies the scenario marked unlabeled.
    """

    instance_id: int
    uid: int
    name: str
    cls: str
    labeled: bool
    asset: str


@dataclass(frozen=True)
class BuiltWorld:
    """The bodies of one episode and the lookup table from PyBullet uid to instance id."""

    instances: tuple[Instance, ...]
    uids: dict[str, int]
    uid_to_instance: np.ndarray  # indexed by uid + 1 (so that -1, "no body", maps to 0)

    def instance(self, name: str) -> Instance:
        """The instance of a planned body by name."""
        return next(i for i in self.instances if i.name == name)


class _Builder:
    """Creates the scene's static "stuff" and numbers every body it is told about."""

    def __init__(self, client: int):
        self.client = client
        self.instances: list[Instance] = []

    def register(self, uid: int, name: str, cls: str, labeled: bool, asset: str) -> None:
        """Give body ``uid`` the next instance id."""
        self.instances.append(Instance(len(self.instances) + 1, uid, name, cls, labeled, asset))

    def slab(self, name: str, cls: str, centre_xy, half_xy, top_z: float, rgba,
             tile_m: float = TILE_M) -> int:
        """A static slab (stuff) whose top surface is at ``top_z``.

        Two quirks of the EGL renderer shape it: it draws very flat, very wide boxes with
        their top at the box centre (centimetres off the geometry), so slabs are thick
        (``SLAB_HALF_THICKNESS_M``); and llvmpipe mis-draws huge triangles that cross the
        near plane, letting what lies beneath show through, so the visual is split into
        tiles at most ``tile_m`` long (one collision box keeps the physics simple).
        """
        c = self.client
        hx_all, hy_all, hz = half_xy[0], half_xy[1], SLAB_HALF_THICKNESS_M
        nx = min(max(int(np.ceil(2 * hx_all / tile_m)), 1), MAX_SHAPES_PER_BODY)
        ny = min(max(int(np.ceil(2 * hy_all / tile_m)), 1), MAX_SHAPES_PER_BODY // nx)
        hx, hy = hx_all / nx, hy_all / ny
        offsets = [(-hx_all + (2 * i + 1) * hx, -hy_all + (2 * j + 1) * hy, 0.0)
                   for i in range(nx) for j in range(ny)]
        vis = p.createVisualShapeArray(
            shapeTypes=[p.GEOM_BOX] * len(offsets), halfExtents=[(hx, hy, hz)] * len(offsets),
            visualFramePositions=offsets, physicsClientId=c)
        col = p.createCollisionShape(p.GEOM_BOX, halfExtents=(hx_all, hy_all, hz),
                                     physicsClientId=c)
        uid = p.createMultiBody(0, col, vis, basePosition=(centre_xy[0], centre_xy[1], top_z - hz),
                                physicsClientId=c)
        # Matte: the EGL renderer's per-vertex specular highlight shows tile seams.
        p.changeVisualShape(uid, -1, rgbaColor=rgba, specularColor=(0, 0, 0), physicsClientId=c)
        self.register(uid, name, cls, False, "")
        return uid

    def boxes(self, name: str, cls: str, centres, half_extents, rgba) -> int:
        """Many visual-only boxes as one static body (lane markings)."""
        c = self.client
        n = len(centres)
        # (createVisualShapeArray's rgbaColors argument crashes PyBullet 3.2.7: colour after.)
        vis = p.createVisualShapeArray(
            shapeTypes=[p.GEOM_BOX] * n, halfExtents=half_extents,
            visualFramePositions=centres, physicsClientId=c)
        uid = p.createMultiBody(0, -1, vis, basePosition=(0, 0, 0), physicsClientId=c)
        p.changeVisualShape(uid, -1, rgbaColor=rgba, physicsClientId=c)
        self.register(uid, name, cls, False, "")
        return uid

    def ground(self, rgba, top_z_m: float = 0.0) -> None:
        """A large static slab whose top surface is at ``top_z_m``."""
        uid = self.slab("ground", "ground", (0, 0), (300, 300), top_z_m, rgba, tile_m=120.0)
        p.changeDynamics(uid, -1, lateralFriction=1.0, physicsClientId=self.client)


def build_world(client: int, plan: EpisodePlan, textures: TextureBank | None = None) -> BuiltWorld:
    """Create every body of ``plan`` in the (freshly reset) client and index them.

    Procedural textures need ``textures`` (the session's bank); their images are loaded
    before anything else (see ``TextureBank`` on the EGL renderer).
    """
    images = texture_images(plan)
    if images and textures is None:
        raise SimgenError("this episode has procedural textures: build it with a TextureBank")
    if images:
        textures.preload(client, list(images.values()))
    b = _Builder(client)
    if plan.road is not None:
        # Below the road slab, so it cannot show through.
        b.ground((*plan.road.ground_colour, 1.0), top_z_m=-0.03)
        _build_road(b, plan.road)
        for k, uid in enumerate(build_lamp_posts(client, plan.road,
                                                  plan.atmosphere.lighting.street_light_spacing_m)):
            b.register(uid, f"street_lamps_{k}", "pole", False, "")
    else:
        b.ground((*plan.table.floor_colour, 1.0) if plan.table is not None else FLOOR)
    if plan.table is not None:
        _build_table(b, plan.table)
    uids: dict[str, int] = {}
    for body in plan.bodies:
        uid = load_body(client, body)
        uids[body.name] = uid
        b.register(uid, body.name, body.cls, body.labeled, body.asset)
    for name, image in images.items():
        for uid, links in _textured_links(client, plan, name, b, uids):
            for link in links:
                textures.apply(client, uid, link, image)
    _apply_physics(client, plan, b.instances)
    lut = np.zeros(max(i.uid for i in b.instances) + 2, dtype=np.uint16)
    for inst in b.instances:
        lut[inst.uid + 1] = inst.instance_id
    return BuiltWorld(tuple(b.instances), uids, lut)


def _texture_sources(plan: EpisodePlan) -> list[tuple[str, TexturePlan | tuple]]:
    """What wears a texture: (name, its texture plan, or an RGB colour for a plain one)."""
    wanted: list[tuple[str, TexturePlan | tuple]] = []
    if plan.road is not None and plan.road.surface_texture is not None:
        wanted.append(("road", plan.road.surface_texture))
    if plan.table is not None:
        # A colour alone becomes a plain texture: the table's own wood texture would
        # otherwise tint it, and the EGL renderer cannot take a texture off.
        if plan.table.texture is not None or plan.table.colour is not None:
            wanted.append(("table", plan.table.texture or plan.table.colour))
    wanted += [(body.name, body.texture) for body in plan.bodies if body.texture is not None]
    return wanted


def has_textures(plan: EpisodePlan) -> bool:
    """Whether anything in ``plan`` wears a procedural (or plain) texture."""
    return bool(_texture_sources(plan))


def texture_images(plan: EpisodePlan) -> dict[str, np.ndarray]:
    """The texture image of each textured thing of ``plan``: body names, ``road``, ``table``
    (each drawn from its recorded seed, so the same plan gives the same pixels)."""
    images = {}
    for name, source in _texture_sources(plan):
        if isinstance(source, TexturePlan):
            images[name] = make_texture(source.kind, source.colour_a, source.colour_b,
                                        np.random.default_rng(source.seed),
                                        size=TEXTURE_SIZE_PX)
        else:
            images[name] = np.full((8, 8, 3), np.round(np.array(source) * 255), np.uint8)
    return images


def _textured_links(client: int, plan: EpisodePlan, name: str, b: _Builder, uids):
    """(uid, links) that the texture called ``name`` covers: a body's painted links (all of
    them when its asset does not say), the carriageway, or every link of the table."""
    if name in uids:
        uid = uids[name]
        body = next(x for x in plan.bodies if x.name == name)
        entry = ASSETS.get(body.asset)
        links = entry.recolour_links if entry is not None else None
        if links is None:
            links = tuple(range(-1, p.getNumJoints(uid, physicsClientId=client)))
        return [(uid, links)]
    for inst in b.instances:
        if inst.name == name:
            return [(inst.uid, tuple(range(-1, p.getNumJoints(inst.uid,
                                                              physicsClientId=client))))]
    return []


def _build_road(b: _Builder, road: RoadLayout) -> None:
    x0, length = road.start_x_m, road.length_m
    xc = x0 + length / 2
    top = 0.0
    y_right, y_left = road.right_edge_y_m, road.left_edge_y_m
    width = y_left - y_right
    # The carriageway is a thin slab whose top is the ground level z = 0 (vehicles drive on it).
    surface = (*road.surface_colour, 1.0)
    b.slab("road", "road", (xc, (y_left + y_right) / 2), (length / 2, width / 2), top - 0.002,
           surface)
    for side, sign in (("right", -1), ("left", 1)):
        edge = y_right if side == "right" else y_left
        if road.shoulder_width_m > 0:
            b.slab(f"shoulder_{side}", "road", (xc, edge + sign * road.shoulder_width_m / 2),
                   (length / 2, road.shoulder_width_m / 2), top - 0.001,
                   _lighter(surface, SHOULDER_LIGHTEN))
        kerb = edge + sign * road.shoulder_width_m
        b.slab(f"sidewalk_{side}", "sidewalk", (xc, kerb + sign * road.sidewalk_width_m / 2),
               (length / 2, road.sidewalk_width_m / 2), road.kerb_height_m - 0.002, SIDEWALK)
    _build_markings(b, road)


def build_lamp_posts(client: int, road: RoadLayout, spacing_m: float) -> list[int]:
    """Create the lamp posts as static bodies (at most 12 posts per body, 2 shapes each)."""
    heads = road.lamp_positions(spacing_m)
    uids = []
    per_body = 12
    middle_y = (road.right_edge_y_m + road.left_edge_y_m) / 2
    for start in range(0, len(heads), per_body):
        chunk = heads[start:start + per_body]
        shapes, halves, radii, lengths, centres = [], [], [], [], []
        for x, y, z in chunk:
            sign = 1.0 if y < middle_y else -1.0  # posts stand outside the lamp head
            shapes.append(p.GEOM_CYLINDER)
            radii.append(0.09)
            lengths.append(z + 0.2)
            halves.append((0, 0, 0))
            centres.append((x, y - sign * LAMP_REACH_M, (z + 0.2) / 2 - 0.2))
            shapes.append(p.GEOM_BOX)
            radii.append(0)
            lengths.append(0)
            halves.append((0.35, LAMP_REACH_M / 2 + 0.1, 0.06))
            centres.append((x, y - sign * LAMP_REACH_M / 2, z + 0.06))
        vis = p.createVisualShapeArray(shapeTypes=shapes, radii=radii, lengths=lengths,
                                       halfExtents=halves, visualFramePositions=centres,
                                       physicsClientId=client)
        uid = p.createMultiBody(0, -1, vis, basePosition=(0, 0, 0), physicsClientId=client)
        p.changeVisualShape(uid, -1, rgbaColor=(0.35, 0.36, 0.38, 1.0), physicsClientId=client)
        uids.append(uid)
    return uids


def _build_markings(b: _Builder, road: RoadLayout) -> None:
    z = 0.002
    hw = road.marking_width_m / 2
    x0, x1 = road.start_x_m, road.end_x_m
    half_len = road.length_m / 2
    # Edge lines (white, solid) on both outer edges of the carriageway.
    solid_centres = [((x0 + x1) / 2, y, z)
                     for y in (road.right_edge_y_m + hw, road.left_edge_y_m - hw)]
    b.boxes("edge_lines", "lane_marking", solid_centres, [(half_len, hw, 0.002)] * 2, WHITE_PAINT)
    if road.oncoming_lanes > 0:  # double yellow centre line between the two directions
        b.boxes("centre_line", "lane_marking",
                [((x0 + x1) / 2, -2 * hw, z), ((x0 + x1) / 2, 2 * hw, z)],
                [(half_len, hw, 0.002)] * 2, YELLOW_PAINT)
    dividers = [-(i * road.lane_width_m) for i in range(1, road.lanes)]
    dividers += [i * road.lane_width_m for i in range(1, road.oncoming_lanes)]
    period = road.dash_length_m + road.dash_gap_m
    n_dash = max(int(road.length_m // period), 1)
    centres = [(x0 + k * period + road.dash_length_m / 2, y, z)
               for y in dividers for k in range(n_dash)]
    for start in range(0, len(centres), MAX_SHAPES_PER_BODY):
        chunk = centres[start:start + MAX_SHAPES_PER_BODY]
        b.boxes(f"lane_dashes_{start // MAX_SHAPES_PER_BODY}", "lane_marking", chunk,
                [(road.dash_length_m / 2, hw, 0.002)] * len(chunk), WHITE_PAINT)


def _lighter(rgba, amount: float):
    """``rgba`` moved ``amount`` of the way towards white."""
    return (*(c + (1 - c) * amount for c in rgba[:3]), rgba[3])


def _build_table(b: _Builder, table: TableLayout) -> None:
    entry = ASSETS["table"]
    uid = p.loadURDF(str(entry.file()), basePosition=table.centre_m, useFixedBase=True,
                     globalScaling=entry.base_scale, physicsClientId=b.client)
    b.register(uid, "table", "table", False, "table")


def _apply_physics(client: int, plan: EpisodePlan, instances) -> None:
    """Episode-wide friction and restitution on every body; mass scale on dynamic ones."""
    ph = plan.physics
    surface: dict[str, float] = {}
    if ph.friction is not None:
        surface["lateralFriction"] = ph.friction
    if ph.restitution is not None:
        surface["restitution"] = ph.restitution
    if not surface and ph.mass_scale == 1.0:
        return
    dynamic = {body.name for body in plan.bodies if body.dynamic}
    for inst in instances:
        links = range(-1, p.getNumJoints(inst.uid, physicsClientId=client))
        for link in links:
            if surface:
                p.changeDynamics(inst.uid, link, **surface, physicsClientId=client)
            if ph.mass_scale != 1.0 and inst.name in dynamic:
                mass = p.getDynamicsInfo(inst.uid, link, physicsClientId=client)[0]
                p.changeDynamics(inst.uid, link, mass=mass * ph.mass_scale,
                                 physicsClientId=client)


def body_source(body: BodyPlan) -> tuple[Path, float, bool]:
    """The URDF a body is loaded from, its ``globalScaling`` and whether its base is fixed."""
    entry = ASSETS.get(body.asset)  # None for a scenario's own .urdf
    path = entry.file() if entry is not None else Path(body.asset_file or body.asset)
    kind = entry.kind if entry is not None else "object"
    scale = (entry.base_scale if entry is not None else 1.0) * body.scale
    return path, scale, kind in FIXED_BASE_KINDS or body.behaviour in FIXED_BASE_BEHAVIOURS


def load_body(client: int, body: BodyPlan) -> int:
    """Load one planned body, scaled, coloured and placed with its bottom at ``position_m`` z.

    Arms are anchored by their base origin; every other body by the centre of its
    axis-aligned bounding box in x/y and its lowest point in z.
    """
    entry = ASSETS.get(body.asset)  # None for a scenario's own .urdf
    kind = entry.kind if entry is not None else "object"
    path, scale, fixed = body_source(body)
    roll, pitch = (math.radians(a) for a in body.roll_pitch_deg)
    yaw = p.getQuaternionFromEuler((roll, pitch, math.radians(body.yaw_deg)))
    base_rpy = entry.base_rpy_deg if entry is not None else (0.0, 0.0, 0.0)
    base = p.getQuaternionFromEuler([math.radians(a) for a in base_rpy])
    orn = p.multiplyTransforms((0, 0, 0), yaw, (0, 0, 0), base)[1]
    try:
        uid = p.loadURDF(str(path), basePosition=(0, 0, 0), baseOrientation=orn,
                         useFixedBase=fixed, globalScaling=scale,
                         flags=p.URDF_USE_INERTIA_FROM_FILE, physicsClientId=client)
    except p.error as exc:
        raise SimgenError(f"{body.name}: could not load asset {body.asset!r} ({exc})") from None
    x, y, z = body.position_m
    # PyBullet poses a base by its centre of mass, which a URDF may put away from the link
    # origin: move relative to where the loaded body's centre of mass is.
    com = np.array(p.getBasePositionAndOrientation(uid, physicsClientId=client)[0])
    if kind == "arm":
        shift = np.array((x, y, z))
    else:
        lo, hi = body_aabb(client, uid)
        shift = np.array((x - (lo[0] + hi[0]) / 2, y - (lo[1] + hi[1]) / 2, z - lo[2] + 0.001))
    p.resetBasePositionAndOrientation(uid, tuple(com + shift), orn, physicsClientId=client)
    if body.colour_rgba is not None:
        links = entry.recolour_links if entry is not None else None
        if links is None:
            links = tuple(range(-1, p.getNumJoints(uid, physicsClientId=client)))
        for link in links:
            p.changeVisualShape(uid, link, rgbaColor=body.colour_rgba, physicsClientId=client)
    if body.mass_kg is not None and not fixed:
        p.changeDynamics(uid, -1, mass=body.mass_kg, physicsClientId=client)
    return uid


def body_aabb(client: int, uid: int) -> tuple[np.ndarray, np.ndarray]:
    """World-frame axis-aligned bounds of a body over its base and all links."""
    boxes = [p.getAABB(uid, link, physicsClientId=client)
             for link in range(-1, p.getNumJoints(uid, physicsClientId=client))]
    lo = np.min([bx[0] for bx in boxes], axis=0)
    hi = np.max([bx[1] for bx in boxes], axis=0)
    return lo, hi


def link_index(client: int, uid: int, link_name: str) -> int:
    """Index of the link called ``link_name`` (-1 for the base), or a clear error."""
    names = {}
    base = p.getBodyInfo(uid, physicsClientId=client)[0].decode()
    names[base] = -1
    for j in range(p.getNumJoints(uid, physicsClientId=client)):
        names[p.getJointInfo(uid, j, physicsClientId=client)[12].decode()] = j
    if link_name not in names:
        raise SimgenError(f"no link {link_name!r}{did_you_mean(link_name, names)}; "
                          f"links: {', '.join(names)}")
    return names[link_name]


@dataclass(frozen=True)
class ObjectBox:
    """A body's own 3D box: its extent along the object's axes (x forward, y left, z up as
    the catalog defines them, i.e. the base frame turned back by the asset's
    ``base_rpy_deg``) and its centre in that frame relative to the base pose PyBullet
    reports (the centre-of-mass frame). Measured once, at the pose the body was built in."""

    centre_m: np.ndarray  # (3,) offset from the base pose, in the object's axes
    size_m: np.ndarray  # (3,) length, width, height
    base_to_object: np.ndarray  # 3x3: object axes in the base (centre-of-mass) frame

    def pose(self, base_position, base_orientation_xyzw) -> tuple[np.ndarray, np.ndarray]:
        """World-frame (centre, 3x3 rotation whose columns are the object's axes)."""
        r_base = np.array(p.getMatrixFromQuaternion(base_orientation_xyzw)).reshape(3, 3)
        rotation = r_base @ self.base_to_object
        return np.asarray(base_position) + rotation @ self.centre_m, rotation


def object_boxes(client: int, plan: EpisodePlan, world: BuiltWorld) -> dict[int, ObjectBox]:
    """The ``ObjectBox`` of every labeled planned body, by instance id.

    Each body is turned, for a moment, so that its object axes line up with the world's
    and its bounding box (over all links, at their current joint positions) is read;
    then it is put back exactly as it was (before any simulation step).
    """
    boxes: dict[int, ObjectBox] = {}
    for body in plan.bodies:
        inst = world.instance(body.name)
        if not inst.labeled:
            continue
        uid = inst.uid
        entry = ASSETS.get(body.asset)
        base_rpy = entry.base_rpy_deg if entry is not None else (0.0, 0.0, 0.0)
        q_fix = p.getQuaternionFromEuler([math.radians(a) for a in base_rpy])
        base_to_object = np.array(p.getMatrixFromQuaternion(q_fix)).reshape(3, 3).T
        position, orientation = p.getBasePositionAndOrientation(uid, physicsClientId=client)
        # Object axes along the world's: the base turned by the asset's fix only.
        p.resetBasePositionAndOrientation(uid, (0, 0, 0), q_fix, physicsClientId=client)
        lo, hi = body_aabb(client, uid)
        p.resetBasePositionAndOrientation(uid, position, orientation, physicsClientId=client)
        boxes[inst.instance_id] = ObjectBox(centre_m=(lo + hi) / 2, size_m=hi - lo,
                                            base_to_object=base_to_object)
    return boxes
