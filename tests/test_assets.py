"""Catalog assets load at real-world size, rest on the ground and are built as described.

Every PyBullet call passes the test's own ``physicsClientId``; each test opens its own
DIRECT connection. Sizes are AABB extents (base plus every link, metres, at the
entry's ``base_scale``) in the asset's file frame: x forward, y left, z up.
"""

from __future__ import annotations

import importlib.util
from collections import Counter
from collections.abc import Iterator

import numpy as np
import pybullet as p
import pytest
from conftest import RENDERERS

from simgen.catalog import ASSETS, ASSETS_DIR, KINDS, AssetEntry, assets_of_kind
from simgen.errors import SimgenError
from simgen.world.engine import PhysicsSession

Range = tuple[float, float]

# Expected AABB extents (x, y, z) in metres: the real-world size each asset must have.
EXPECTED_SIZE_M: dict[str, tuple[Range, Range, Range]] = {
    "sedan": ((4.3, 4.7), (1.7, 1.9), (1.35, 1.55)),
    "van": ((5.0, 5.4), (1.9, 2.1), (2.2, 2.4)),
    "pedestrian": ((0.25, 0.40), (0.40, 0.60), (1.70, 1.80)),
    "traffic_cone": ((0.35, 0.45), (0.35, 0.45), (0.65, 0.75)),
    "barrier": ((0.15, 0.25), (1.15, 1.25), (0.95, 1.05)),
    "cardboard_box": ((0.45, 0.55), (0.35, 0.45), (0.35, 0.45)),
    # Rare driving events. The cyclist's width is the handlebar's.
    "cyclist": ((1.75, 1.85), (0.55, 0.65), (1.70, 1.80)),
    "deer": ((1.40, 1.65), (0.30, 0.45), (1.25, 1.35)),
    "dog": ((0.75, 0.90), (0.20, 0.32), (0.55, 0.65)),
    "tyre": ((0.63, 0.67), (0.63, 0.67), (0.19, 0.21)),
    "crate": ((0.78, 0.82), (0.58, 0.62), (0.48, 0.52)),
    "block": ((0.048, 0.052), (0.048, 0.052), (0.048, 0.052)),
    "can": ((0.058, 0.066), (0.058, 0.066), (0.098, 0.106)),
    "bottle": ((0.066, 0.080), (0.066, 0.080), (0.17, 0.19)),
    # A 1/10 RC car scaled by 8.75: car length, but wider and taller than a real saloon.
    "racecar": ((3.8, 4.2), (2.3, 2.8), (1.4, 1.7)),
    # The table's legs are visual only: its collision AABB is the 5 cm top alone.
    "table": ((1.45, 1.55), (0.95, 1.05), (0.04, 0.06)),
    "tray": ((0.55, 0.65), (0.55, 0.65), (0.12, 0.16)),
    "panda": ((0.25, 0.45), (0.20, 0.35), (1.0, 1.2)),
    "kuka_iiwa": ((0.20, 0.35), (0.20, 0.35), (1.2, 1.4)),
    # The duck's file frame is y-up (its catalog base_rpy_deg rolls it): x length, y height.
    "duck": ((0.06, 0.08), (0.06, 0.08), (0.045, 0.065)),
    "lego": ((0.030, 0.038), (0.030, 0.038), (0.022, 0.028)),
    "mug": ((0.08, 0.10), (0.11, 0.14), (0.09, 0.12)),
    "cube_small": ((0.048, 0.052), (0.048, 0.052), (0.048, 0.052)),
    "sphere_small": ((0.058, 0.062), (0.058, 0.062), (0.058, 0.062)),
    "jenga": ((0.14, 0.16), (0.045, 0.055), (0.025, 0.035)),
    "random_object_000": ((0.045, 0.065), (0.06, 0.08), (0.015, 0.03)),
    "random_object_002": ((0.045, 0.065), (0.06, 0.08), (0.015, 0.03)),
    "random_object_005": ((0.045, 0.065), (0.06, 0.08), (0.015, 0.03)),
    "random_object_008": ((0.06, 0.08), (0.06, 0.08), (0.06, 0.08)),
}

# Total mass (base plus links) of simgen's own assets, kg.
EXPECTED_MASS_KG: dict[str, Range] = {
    "sedan": (1200.0, 1800.0),
    "van": (2000.0, 3500.0),
    "pedestrian": (50.0, 100.0),
    "traffic_cone": (1.0, 6.0),
    "barrier": (3.0, 20.0),
    "cardboard_box": (0.5, 10.0),
    "cyclist": (70.0, 110.0),  # rider and bicycle
    "deer": (45.0, 130.0),
    "dog": (15.0, 40.0),
    "tyre": (7.0, 25.0),  # with its rim
    "crate": (10.0, 40.0),
    "block": (0.04, 0.06),
    "can": (0.30, 0.40),
    "bottle": (0.30, 0.60),
}

# Assets that must settle the way they were placed (no toppling onto a side).
STAY_UPRIGHT = {
    "sedan", "van", "pedestrian", "traffic_cone", "barrier", "cardboard_box",
    "block", "can", "bottle", "racecar", "lego", "mug", "cube_small", "jenga", "duck",
    "deer", "dog", "tyre", "crate",
}  # fmt: skip


OWN_IDS = sorted(k for k, e in ASSETS.items() if e.source == "simgen")
VEHICLE_IDS = sorted(k for k, e in ASSETS.items() if e.kind == "vehicle")
# Arms need a fixed base and the table and tray are static (mass 0): nothing to drop. A
# bicycle balances only when ridden (tilted 2 degrees it falls over): the cyclist is
# anchored, see test_cyclist_stands_on_both_wheels.
DROPPABLE_IDS = sorted(
    k for k, e in ASSETS.items() if e.kind not in ("arm", "furniture", "cyclist")
)
RECOLOURABLE_IDS = sorted(k for k, e in ASSETS.items() if e.recolour_links)
RENDER_IDS = sorted(set(OWN_IDS) | set(RECOLOURABLE_IDS))

PEDESTRIAN_JOINTS = ("left_hip", "right_hip", "left_shoulder", "right_shoulder")
ANIMAL_IDS = sorted(k for k, e in ASSETS.items() if e.kind == "animal")
#: The EGL renderer draws nothing of a body with more than about 25 visual shapes.
MAX_VISUAL_SHAPES = 19
DT_S = 1.0 / 240.0


@pytest.fixture
def cid() -> Iterator[int]:
    """A fresh DIRECT physics client, disconnected after the test."""
    client = p.connect(p.DIRECT)
    yield client
    p.disconnect(physicsClientId=client)


def load(entry: AssetEntry, cid: int, position_m: tuple[float, float, float] = (0, 0, 0)) -> int:
    """Load a catalog entry at its base scale; return the body id."""
    return p.loadURDF(
        str(entry.file()), position_m, globalScaling=entry.base_scale, physicsClientId=cid
    )


def link_indices(body: int, cid: int) -> range:
    """-1 (the base) and every link index of ``body``."""
    return range(-1, p.getNumJoints(body, physicsClientId=cid))


def body_aabb(body: int, cid: int) -> tuple[np.ndarray, np.ndarray]:
    """World-frame (min, max) corners of the union of the base's and all links' AABBs."""
    boxes = [p.getAABB(body, i, physicsClientId=cid) for i in link_indices(body, cid)]
    lo = np.min([b[0] for b in boxes], axis=0)
    hi = np.max([b[1] for b in boxes], axis=0)
    return lo, hi


def link_names(body: int, cid: int) -> dict[int, str]:
    """Link index -> link name (base excluded)."""
    return {
        j: p.getJointInfo(body, j, physicsClientId=cid)[12].decode()
        for j in range(p.getNumJoints(body, physicsClientId=cid))
    }


def add_ground(cid: int) -> int:
    """An infinite static plane at z = 0."""
    shape = p.createCollisionShape(p.GEOM_PLANE, physicsClientId=cid)
    return p.createMultiBody(0, shape, physicsClientId=cid)


# --- catalog -------------------------------------------------------------------------


def test_every_entry_has_a_stated_size() -> None:
    assert set(EXPECTED_SIZE_M) == set(ASSETS)


@pytest.mark.parametrize("asset_id", sorted(ASSETS))
def test_entry_is_well_formed(asset_id: str) -> None:
    entry = ASSETS[asset_id]
    assert entry.id == asset_id
    assert entry.source in ("simgen", "pybullet_data")
    assert entry.kind in KINDS
    assert entry.base_scale > 0
    assert entry.default_class
    assert entry.description
    assert entry.file().is_file(), entry.file()


def test_own_assets_cover_the_requested_set() -> None:
    assert set(OWN_IDS) == {
        "sedan", "van", "pedestrian", "traffic_cone", "barrier", "cardboard_box",
        "block", "can", "bottle", "cyclist", "deer", "dog", "tyre", "crate",
    }  # fmt: skip
    for asset_id in OWN_IDS:
        assert ASSETS[asset_id].file().is_relative_to(ASSETS_DIR)


def test_assets_of_kind_is_sorted_and_complete() -> None:
    assert assets_of_kind("vehicle") == ["racecar", "sedan", "van"]
    assert assets_of_kind("pedestrian") == ["pedestrian"]
    assert assets_of_kind("arm") == ["kuka_iiwa", "panda"]
    assert assets_of_kind("obstacle") == [
        "barrier", "cardboard_box", "crate", "traffic_cone", "tyre",
    ]  # fmt: skip
    assert assets_of_kind("cyclist") == ["cyclist"]
    assert assets_of_kind("animal") == ["deer", "dog"]
    objects = assets_of_kind("object")
    assert objects == sorted(objects)
    assert {"block", "can", "bottle", "duck", "mug", "random_object_000"} <= set(objects)
    assert sum(len(assets_of_kind(k)) for k in KINDS) == len(ASSETS)


def test_assets_of_unknown_kind_suggests_a_kind() -> None:
    with pytest.raises(SimgenError, match="did you mean 'vehicle'"):
        assets_of_kind("vehicles")


# --- geometry --------------------------------------------------------------------------


@pytest.mark.parametrize("asset_id", sorted(ASSETS))
def test_asset_loads_at_real_world_size(asset_id: str, cid: int) -> None:
    entry = ASSETS[asset_id]
    body = load(entry, cid)
    lo, hi = body_aabb(body, cid)
    extent = hi - lo
    for axis, (low, high), size in zip("xyz", EXPECTED_SIZE_M[asset_id], extent, strict=True):
        assert low <= size <= high, f"{asset_id} {axis} extent {size:.3f} m not in [{low}, {high}]"
    if entry.recolour_links:
        n_joints = p.getNumJoints(body, physicsClientId=cid)
        assert all(-1 <= i < n_joints for i in entry.recolour_links)


@pytest.mark.parametrize("asset_id", sorted(ASSETS))
def test_catalog_size_is_the_extent_of_the_body_as_a_scene_loads_it(asset_id: str) -> None:
    # Constraint checks use size_m without loading anything; it must be the real extent
    # of the body as built (base rotation applied), along the body's own axes.
    from simgen.sampling.scene import BodyPlan
    from simgen.world.build import body_aabb as world_aabb
    from simgen.world.build import load_body

    plan = BodyPlan(name="b", group="b", cls="b", asset=asset_id, position_m=(0, 0, 0),
                    yaw_deg=0.0, scale=1.0, colour_rgba=None, behaviour="static")
    with PhysicsSession("tiny") as session:
        lo, hi = world_aabb(session.client, load_body(session.client, plan))
    assert np.allclose(ASSETS[asset_id].size_m, hi - lo, rtol=0.02, atol=0.002)


@pytest.mark.parametrize("asset_id", OWN_IDS)
def test_own_asset_origin_is_over_its_footprint_centre(asset_id: str, cid: int) -> None:
    lo, hi = body_aabb(load(ASSETS[asset_id], cid), cid)
    centre, extent = (lo + hi) / 2, hi - lo
    assert np.all(np.abs(centre[:2]) <= 0.05 * extent[:2] + 1e-3)


@pytest.mark.parametrize("asset_id", OWN_IDS)
def test_own_asset_mass_is_real_world(asset_id: str, cid: int) -> None:
    body = load(ASSETS[asset_id], cid)
    mass_kg = sum(
        p.getDynamicsInfo(body, i, physicsClientId=cid)[0] for i in link_indices(body, cid)
    )
    low, high = EXPECTED_MASS_KG[asset_id]
    assert low <= mass_kg <= high


def test_block_is_grippy(cid: int) -> None:
    body = load(ASSETS["block"], cid)
    mass_kg, lateral_friction = p.getDynamicsInfo(body, -1, physicsClientId=cid)[:2]
    assert mass_kg == pytest.approx(0.05)
    assert lateral_friction == pytest.approx(1.0)


# --- physics ---------------------------------------------------------------------------


@pytest.mark.parametrize("asset_id", DROPPABLE_IDS)
def test_asset_dropped_on_ground_comes_to_rest(asset_id: str, cid: int) -> None:
    p.setGravity(0, 0, -9.81, physicsClientId=cid)
    p.setTimeStep(DT_S, physicsClientId=cid)
    ground = add_ground(cid)
    body = load(ASSETS[asset_id], cid)
    # The catalog's base rotation stands the asset upright (the duck's file frame is y-up:
    # loaded as is it lies balanced on its flank and slowly rolls over).
    start = p.getQuaternionFromEuler(np.radians(ASSETS[asset_id].base_rpy_deg))
    p.resetBasePositionAndOrientation(body, (0.0, 0.0, 0.0), start, physicsClientId=cid)
    lo, hi = body_aabb(body, cid)
    height_m = hi[2] - lo[2]
    drop_m = 0.01 * max(height_m, 0.5)  # released just above the ground
    p.resetBasePositionAndOrientation(body, (0.0, 0.0, drop_m - lo[2]), start, physicsClientId=cid)
    for _ in range(int(2.0 / DT_S)):
        p.stepSimulation(physicsClientId=cid)

    lin, ang = p.getBaseVelocity(body, physicsClientId=cid)
    speeds = [np.linalg.norm(lin)]
    spins = [np.linalg.norm(ang)]
    for j in range(p.getNumJoints(body, physicsClientId=cid)):
        state = p.getLinkState(body, j, computeLinkVelocity=1, physicsClientId=cid)
        speeds.append(np.linalg.norm(state[6]))
        spins.append(np.linalg.norm(state[7]))
    assert max(speeds) < 0.02, f"still moving at {max(speeds):.3f} m/s"
    assert max(spins) < 0.2, f"still turning at {max(spins):.3f} rad/s"

    # Penetration from the contact points: a mesh body's AABB is conservative once it
    # turns, so the AABB bottom may dip below z = 0 without the body sinking.
    contacts = p.getContactPoints(body, ground, physicsClientId=cid)
    assert contacts, "not touching the ground"
    depth_m = -min(c[8] for c in contacts)
    assert depth_m < 0.005, f"sank {depth_m:.3f} m into the ground"
    if asset_id in STAY_UPRIGHT:
        lo_after, hi_after = body_aabb(body, cid)
        assert hi_after[2] - lo_after[2] == pytest.approx(height_m, rel=0.03)
        _, end = p.getBasePositionAndOrientation(body, physicsClientId=cid)
        turned_deg = np.degrees(2.0 * np.arccos(min(abs(float(np.dot(start, end))), 1.0)))
        assert turned_deg < 5.0, f"tipped over by {turned_deg:.0f} deg"


# --- structure -------------------------------------------------------------------------


def test_pedestrian_has_walk_joints_about_y(cid: int) -> None:
    body = load(ASSETS["pedestrian"], cid)
    joints = {
        p.getJointInfo(body, j, physicsClientId=cid)[1].decode(): j
        for j in range(p.getNumJoints(body, physicsClientId=cid))
    }
    for name in PEDESTRIAN_JOINTS:
        info = p.getJointInfo(body, joints[name], physicsClientId=cid)
        assert info[2] == p.JOINT_REVOLUTE
        assert info[13] == pytest.approx((0.0, 1.0, 0.0))
        assert info[8] <= -0.5 and info[9] >= 0.5  # limits allow a walk swing

    # A positive swing moves the limb backwards (-x); a negative one forwards.
    for name in PEDESTRIAN_JOINTS:
        j = joints[name]
        rest_x = np.mean(p.getAABB(body, j, physicsClientId=cid), axis=0)[0]
        p.resetJointState(body, j, 0.5, physicsClientId=cid)
        back_x = np.mean(p.getAABB(body, j, physicsClientId=cid), axis=0)[0]
        p.resetJointState(body, j, -0.5, physicsClientId=cid)
        front_x = np.mean(p.getAABB(body, j, physicsClientId=cid), axis=0)[0]
        p.resetJointState(body, j, 0.0, physicsClientId=cid)
        assert back_x < rest_x - 0.08 and front_x > rest_x + 0.08, name


def test_pedestrian_faces_plus_x(cid: int) -> None:
    body = load(ASSETS["pedestrian"], cid)
    names = {v: k for k, v in link_names(body, cid).items()}
    hip_x = p.getLinkState(body, names["left_leg"], physicsClientId=cid)[4][0]
    lo, hi = p.getAABB(body, names["left_leg"], physicsClientId=cid)
    assert hi[0] - hip_x > (hip_x - lo[0]) + 0.02, "feet should point forward (+x)"
    head_rgb = p.getVisualShapeData(body, physicsClientId=cid)
    head = [v for v in head_rgb if v[1] == names["head"]][0]
    assert head[7][0] > head[7][2], "head is skin-coloured, not clothing"
    assert names["head"] not in ASSETS["pedestrian"].recolour_links


@pytest.mark.parametrize("asset_id", VEHICLE_IDS)
def test_vehicle_has_four_free_wheels_kept_out_of_paint(asset_id: str, cid: int) -> None:
    entry = ASSETS[asset_id]
    body = load(entry, cid)
    wheels = [j for j, name in link_names(body, cid).items() if "wheel" in name]
    assert len(wheels) == 4
    for j in wheels:
        info = p.getJointInfo(body, j, physicsClientId=cid)
        assert info[2] == p.JOINT_REVOLUTE
        assert info[8] > info[9], "wheel joints are continuous (no limits)"
    assert entry.recolour_links, "a vehicle must have paint"
    assert not set(wheels) & set(entry.recolour_links)
    if entry.source == "simgen":
        for visual in p.getVisualShapeData(body, physicsClientId=cid):
            if visual[1] in wheels:
                assert max(visual[7][:3]) < 0.1, "wheels are black"


@pytest.mark.parametrize("asset_id", VEHICLE_IDS)
def test_vehicle_drives_along_plus_x(asset_id: str, cid: int) -> None:
    body = load(ASSETS[asset_id], cid)
    lo, hi = body_aabb(body, cid)
    assert hi[0] - lo[0] > 1.4 * (hi[1] - lo[1])
    names = link_names(body, cid)
    x_of = {j: p.getLinkState(body, j, physicsClientId=cid)[4][0] for j in names}
    front = [x_of[j] for j, n in names.items() if "wheel" in n and "front" in n]
    rear = [x_of[j] for j, n in names.items() if "wheel" in n and "rear" in n]
    assert len(front) == 2 and len(rear) == 2
    assert min(front) > max(rear) + 0.5 * (hi[0] - lo[0]) / 2


def test_van_cab_is_at_the_front_and_lower_than_the_cargo_box(cid: int) -> None:
    body = load(ASSETS["van"], cid)
    names = {v: k for k, v in link_names(body, cid).items()}
    cab_lo, cab_hi = p.getAABB(body, names["cab"], physicsClientId=cid)
    cargo_lo, cargo_hi = p.getAABB(body, names["cargo_box"], physicsClientId=cid)
    assert cab_lo[0] >= cargo_hi[0] - 0.01
    assert cab_hi[2] < cargo_hi[2] - 0.2


@pytest.mark.parametrize("asset_id", OWN_IDS)
def test_own_asset_has_few_enough_visual_shapes_for_egl(asset_id: str, cid: int) -> None:
    body = load(ASSETS[asset_id], cid)
    assert len(p.getVisualShapeData(body, physicsClientId=cid)) <= MAX_VISUAL_SHAPES


def test_cyclist_stands_on_both_wheels_facing_plus_x(cid: int) -> None:
    entry = ASSETS["cyclist"]
    body = p.loadURDF(str(entry.file()), useFixedBase=True, physicsClientId=cid)
    lo, hi = body_aabb(body, cid)
    p.resetBasePositionAndOrientation(body, (0, 0, -lo[2]), (0, 0, 0, 1), physicsClientId=cid)
    ground = add_ground(cid)
    p.performCollisionDetection(physicsClientId=cid)
    names = {v: k for k, v in link_names(body, cid).items()}
    touching = {c[3] for c in p.getContactPoints(body, ground, physicsClientId=cid)}
    assert touching == {names["rear_wheel"], names["front_wheel"]}, "only the tyres touch"
    for wheel in ("rear_wheel", "front_wheel"):
        info = p.getJointInfo(body, names[wheel], physicsClientId=cid)
        assert info[2] == p.JOINT_REVOLUTE and info[8] > info[9], "continuous"
        assert info[13] == pytest.approx((0.0, 1.0, 0.0))
        w_lo, w_hi = p.getAABB(body, names[wheel], physicsClientId=cid)
        assert w_hi[2] - w_lo[2] == pytest.approx(0.68, abs=0.02), "0.68 m wheels"
    x_of = {n: p.getLinkState(body, j, physicsClientId=cid)[4][0] for n, j in names.items()}
    assert x_of["front_wheel"] - x_of["rear_wheel"] > 1.0
    # The rider leans over the front wheel: the head is ahead of the saddle, up top.
    head_lo, head_hi = p.getAABB(body, names["head"], physicsClientId=cid)
    assert head_hi[2] == pytest.approx(hi[2] - lo[2], abs=0.01)
    assert (head_lo[0] + head_hi[0]) / 2 > x_of["rear_wheel"] + 0.5
    assert entry.recolour_links == (names["jersey"],)


@pytest.mark.parametrize("asset_id", ANIMAL_IDS)
def test_animal_stands_on_four_legs_facing_plus_x(asset_id: str, cid: int) -> None:
    body = load(ASSETS[asset_id], cid)
    lo, hi = body_aabb(body, cid)
    joints = {
        p.getJointInfo(body, j, physicsClientId=cid)[1].decode(): j
        for j in range(p.getNumJoints(body, physicsClientId=cid))
    }
    legs = [joints[name] for name in PEDESTRIAN_JOINTS]  # the walk cycle swings these
    for j in legs:
        info = p.getJointInfo(body, j, physicsClientId=cid)
        assert info[2] == p.JOINT_REVOLUTE and info[13] == pytest.approx((0.0, 1.0, 0.0))
        leg_lo, _ = p.getAABB(body, j, physicsClientId=cid)
        assert leg_lo[2] == pytest.approx(lo[2], abs=0.005), "every foot on the ground"
    x_of = {n: p.getLinkState(body, j, physicsClientId=cid)[4][0] for n, j in joints.items()}
    assert min(x_of["left_shoulder"], x_of["right_shoulder"]) > max(
        x_of["left_hip"], x_of["right_hip"]
    ), "forelegs ahead of the hind legs"
    # The head is at the front: the body's profile, seen from above, peaks there.
    xs = np.linspace(lo[0] + 0.02, hi[0] - 0.02, 25)
    rays = p.rayTestBatch([(x, 0.0, hi[2] + 1.0) for x in xs], [(x, 0.0, lo[2] - 1.0) for x in xs],
                          physicsClientId=cid)
    tops = [r[3][2] if r[0] == body else lo[2] for r in rays]
    assert xs[int(np.argmax(tops))] > (lo[0] + hi[0]) / 2
    assert max(tops) == pytest.approx(hi[2], abs=0.1)


# --- rendering -------------------------------------------------------------------------


@pytest.mark.parametrize("asset_id", RENDER_IDS)
def test_asset_renders_and_paint_covers_it(asset_id: str, cid: int) -> None:
    entry = ASSETS[asset_id]
    body = load(entry, cid)
    lo, hi = body_aabb(body, cid)
    centre, diagonal = (lo + hi) / 2, float(np.linalg.norm(hi - lo))
    view = p.computeViewMatrixFromYawPitchRoll(centre.tolist(), 1.3 * diagonal, 35, -25, 0, 2)
    proj = p.computeProjectionMatrixFOV(45, 1.0, 0.01 * diagonal, 10 * diagonal)
    _, _, _, _, seg = p.getCameraImage(
        96,
        96,
        view,
        proj,
        renderer=p.ER_TINY_RENDERER,
        flags=p.ER_SEGMENTATION_MASK_OBJECT_AND_LINKINDEX,
        physicsClientId=cid,
    )
    seg = np.reshape(seg, (96, 96))
    visible = seg >= 0
    objects = seg & ((1 << 24) - 1)
    links = (seg >> 24) - 1
    on_body = visible & (objects == body)
    assert on_body.mean() > 0.05, f"only {on_body.mean():.1%} of the image shows {asset_id}"
    if entry.recolour_links:
        painted = np.isin(links[on_body], entry.recolour_links).mean()
        assert painted > 0.25, f"paint covers only {painted:.0%} of {asset_id}"


@pytest.mark.parametrize("renderer", RENDERERS)
@pytest.mark.parametrize("asset_id", OWN_IDS)
def test_own_asset_renders_with_each_renderer(asset_id: str, renderer: str) -> None:
    with PhysicsSession(renderer) as session:
        c = session.client
        body = load(ASSETS[asset_id], c)
        lo, hi = body_aabb(body, c)
        centre, diagonal = (lo + hi) / 2, float(np.linalg.norm(hi - lo))
        view = p.computeViewMatrixFromYawPitchRoll(centre.tolist(), 1.3 * diagonal, 35, -25, 0, 2)
        proj = p.computeProjectionMatrixFOV(45, 1.0, 0.01 * diagonal, 10 * diagonal)
        _, _, rgba, _, seg = p.getCameraImage(
            96, 96, view, proj, renderer=session.render_flag, physicsClientId=c)
    rgb = np.reshape(rgba, (96, 96, 4))[:, :, :3].astype(float)
    on_body = np.reshape(seg, (96, 96)) == body
    assert on_body.mean() > 0.05, f"only {on_body.mean():.1%} of the image shows {asset_id}"
    # Drawn in its own colours, not left at the background's.
    background = np.median(rgb[~on_body], axis=0)
    assert np.mean(np.abs(rgb[on_body] - background).sum(axis=1) > 30) > 0.8


# --- meshes ----------------------------------------------------------------------------


def _load_mesh_generator():
    spec = importlib.util.spec_from_file_location("make_meshes", ASSETS_DIR / "make_meshes.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _parse_obj(text: str) -> tuple[np.ndarray, np.ndarray]:
    vertices = [line.split()[1:4] for line in text.splitlines() if line.startswith("v ")]
    faces = [
        [int(tok.split("/")[0]) - 1 for tok in line.split()[1:]]
        for line in text.splitlines()
        if line.startswith("f ")
    ]
    return np.asarray(vertices, dtype=float), np.asarray(faces, dtype=int)


def test_committed_meshes_match_the_generator() -> None:
    make_meshes = _load_mesh_generator()
    for rel_path, (name, profile_fn) in make_meshes.MESHES.items():
        committed = (ASSETS_DIR / rel_path).read_text()
        assert committed == make_meshes.lathe_obj(profile_fn(), name), rel_path


@pytest.mark.parametrize("rel_path", sorted(_load_mesh_generator().MESHES))
def test_mesh_is_closed_and_wound_outwards(rel_path: str) -> None:
    vertices, faces = _parse_obj((ASSETS_DIR / rel_path).read_text())
    # Rings are split per band for shading, so weld by position before counting edges.
    keys = [tuple(k) for k in np.round(vertices, 6)]
    weld = {k: i for i, k in enumerate(dict.fromkeys(keys))}
    welded = np.array([[weld[keys[v]] for v in face] for face in faces])
    edges = Counter()
    for a, b, c in welded:
        for u, v in ((a, b), (b, c), (c, a)):
            edges[(u, v)] += 1
    # Closed and consistently wound: every directed edge appears once, its reverse once.
    assert all(n == 1 and edges[(v, u)] == 1 for (u, v), n in edges.items())
    tri = vertices[faces]
    volume_m3 = np.einsum("ij,ij->i", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])).sum() / 6
    assert volume_m3 > 0
