"""Robotics edge cases: each one visibly happens in a generated run when it fires, and
nothing of it happens when it does not.

Every run is the same small tabletop scenario (a Panda picking ``target_0`` among two
blue blocks, an overhead camera) with one edge case switched on. Bodies are planned
before edge cases draw anything, so the run with every edge case at probability 0 has
the same table layout and serves as the clean reference.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import pandas as pd
import pybullet as p
import pybullet_data
import pytest
from conftest import generate

from simgen.sampling.episode import TABLE_TOP_Z_M, plan_episode
from simgen.sampling.scene import TABLE_WOOD_RGB
from simgen.spec import load_scenario

SCENARIO = """
name: edge_robotics
domain: robotics
seed: 3
episodes: 1
duration_s: {duration}
renderer: tiny
capture: {{rate_hz: 10, width: 320, height: 240}}
labels: {{min_visible_px: 1}}
cameras:
  - name: overhead
    position_m: [0.5, 0.0, 1.6]
    look_at_m: [0.5, 0.0, 0.62]
    fov_deg: 50
    near_m: 0.05
    far_m: 5
world:
  table: {{}}
  arm:
    name: arm
    class: robot_arm
    asset: panda
    labeled: false
    placement: {{region: table, x_m: 0.0, y_m: 0.0, yaw_deg: 0, min_spacing_m: 0}}
    behaviour: {{kind: pick_and_place, target_group: target}}
  objects:
    - name: target
      asset: {target}
      placement: {{region: table, x_m: 0.5, y_m: 0.0, yaw_deg: 30, min_spacing_m: 0.12}}
    - name: other
      asset: block
      count: 2
      colour: blue
      placement: {{region: table, min_spacing_m: 0.12}}
edge_cases:
{edge_cases}
"""
ALL = ("camera_bump", "gripper_slip", "tipped_over", "low_contrast", "occluded_target",
       "falling_object")
PANDA_TOOL_LINK = 11  # panda_grasptarget


def _yaml(edge_cases: dict[str, str], duration: float = 1.0, target: str = "block") -> str:
    lines = "\n".join(f"  {name}: {{probability: {p}{extra}}}"
                      for name, (p, extra) in edge_cases.items())
    return SCENARIO.format(duration=duration, target=target, edge_cases=lines)


class Run:
    """One generated episode and its tables."""

    def __init__(self, out):
        self.out = out
        self.episode = pd.read_parquet(out / "episodes.parquet").iloc[0]
        self.frames = pd.read_parquet(out / "frames.parquet")
        self.boxes = pd.read_parquet(out / "boxes.parquet")
        self.objects = pd.read_parquet(out / "objects.parquet")
        self.trajectories = pd.read_parquet(out / "trajectories.parquet")

    def track(self, actor: str) -> pd.DataFrame:
        """The actor's trajectory, indexed by step."""
        return self.trajectories[self.trajectories.actor == actor].set_index("step")

    def visible_px(self, name: str, frame: int) -> int:
        """The body's visible pixels in a frame (0 when it has no box)."""
        rows = self.boxes[(self.boxes.name == name) & (self.boxes.frame == frame)]
        return int(rows.visible_px.sum())

    def image(self, frame: int, modality: str) -> np.ndarray:
        """A frame's RGB (floats in 0..1) or instance image."""
        rel = self.frames[self.frames.frame == frame].iloc[0][f"{modality}_path"]
        if modality == "rgb":
            return cv2.imread(str(self.out / rel))[:, :, ::-1] / 255.0
        return cv2.imread(str(self.out / rel), cv2.IMREAD_UNCHANGED)

    def instance_id(self, name: str) -> int:
        """The instance id of a body (or of the table)."""
        return int(self.objects[self.objects.name == name].instance_id.iloc[0])


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Generate each run on first use (module-wide cache)."""
    cache: dict[str, Run] = {}

    def get(key: str, edge_cases: dict[str, tuple[float, str]], **fmt) -> Run:
        if key not in cache:
            folder = tmp_path_factory.mktemp(key)
            path = folder / "scenario.yaml"
            path.write_text(_yaml(edge_cases, **fmt))
            generate(path, folder / "out")
            cache[key] = Run(folder / "out")
        return cache[key]

    return get


def _off(runs) -> Run:
    """Every robotics edge case configured at probability 0, long enough to place."""
    return runs("off", {name: (0.0, "") for name in ALL}, duration=3.5)


def _up_tilt_deg(track: pd.DataFrame) -> np.ndarray:
    """Angle (deg) between a body's z axis and world z at each step."""
    q = track[["qx", "qy", "qz", "qw"]].to_numpy()
    z_of_up = 1.0 - 2.0 * (q[:, 0] ** 2 + q[:, 1] ** 2)  # R[2, 2] of each quaternion
    return np.degrees(np.arccos(np.clip(z_of_up, -1.0, 1.0)))


def _tool_heights_m(run: Run, steps) -> np.ndarray:
    """Height of the Panda's tool point at ``steps``, by forward kinematics of the logged
    base pose and joint positions."""
    arm = run.track("arm")
    client = p.connect(p.DIRECT)
    try:
        uid = p.loadURDF(f"{pybullet_data.getDataPath()}/franka_panda/panda.urdf",
                         useFixedBase=True, flags=p.URDF_USE_INERTIA_FROM_FILE,
                         physicsClientId=client)
        base = arm.loc[0]  # (the logged base pose is its centre-of-mass frame, as here)
        p.resetBasePositionAndOrientation(uid, base[["x_m", "y_m", "z_m"]].tolist(),
                                          base[["qx", "qy", "qz", "qw"]].tolist(),
                                          physicsClientId=client)
        heights = []
        for step in steps:
            for joint, q in zip((0, 1, 2, 3, 4, 5, 6, 9, 10), arm.joint_positions_rad[step],
                                strict=True):
                p.resetJointState(uid, joint, q, physicsClientId=client)
            state = p.getLinkState(uid, PANDA_TOOL_LINK, computeForwardKinematics=True,
                                   physicsClientId=client)
            heights.append(state[4][2])
        return np.array(heights)
    finally:
        p.disconnect(physicsClientId=client)


# --- nothing happens at probability 0 -----------------------------------------------------


def test_nothing_happens_at_probability_zero(runs):
    run = _off(runs)
    assert run.episode.edge_cases == "" and run.episode.importance_weight == 1.0
    assert not any(run.episode[f"edge_cases.{name}.fired"] for name in ALL)
    assert set(run.objects.name) == {"ground", "table", "arm", "target_0", "other_0", "other_1"}
    # the camera never moves
    poses = np.stack(run.frames.cam_to_world.to_numpy())
    assert np.all(poses == poses[0])
    # the target stands upright, in its own colour, and is carried in the closed hand to
    # the place position (never dropping below the tool while the gripper is closed)
    target, arm = run.track("target_0"), run.track("arm")
    assert _up_tilt_deg(target)[0] < 1.0
    assert run.objects.set_index("name").colour_rgba["target_0"] is None
    closed = arm.index[arm.gripper_closed.to_numpy(dtype=bool)]
    carried = closed[target.z_m[closed].to_numpy() > TABLE_TOP_Z_M + 0.06]
    assert len(carried) > 100
    steps = carried[::20]
    gap = _tool_heights_m(run, steps) - target.z_m[steps].to_numpy()
    assert np.all(np.abs(gap) < 0.03)
    place = [run.episode[f"world.arm.instances[0].behaviour.place_position_m[{i}]"]
             for i in (0, 1)]
    assert math.dist(target[["x_m", "y_m"]].iloc[-1], place) < 0.04


# --- gripper_slip --------------------------------------------------------------------------


def test_gripper_slip_drops_the_target_from_the_closed_gripper(runs):
    run = runs("slip", {"gripper_slip": (1.0, ", at_fraction: 0.3")}, duration=3.5)
    assert run.episode.edge_cases == "gripper_slip"
    target, arm = run.track("target_0"), run.track("arm")
    closed = arm.gripper_closed.to_numpy(dtype=bool)
    z = target.z_m.to_numpy()
    lifted = np.flatnonzero(closed & (z > TABLE_TOP_Z_M + 0.1))
    assert len(lifted) > 0, "the target was never carried"
    carry_z = z[lifted].max()
    # after it was carried, it fell back to the table while the gripper stayed closed
    after = np.arange(lifted[-1], len(z))
    landed = after[closed[after] & (z[after] < TABLE_TOP_Z_M + 0.03)]
    assert len(landed) > 0
    assert carry_z - z[landed[0]] > 0.08
    # ... and fell away from the tool: several cm below it, with the fingers still shut
    tool = _tool_heights_m(run, [landed[0]])[0]
    assert tool - z[landed[0]] > 0.08
    # it lies on the table short of the place position, at rest
    place = [run.episode[f"world.arm.instances[0].behaviour.place_position_m[{i}]"]
             for i in (0, 1)]
    assert math.dist(target[["x_m", "y_m"]].iloc[-1], place) > 0.04
    assert target.z_m.iloc[-1] == pytest.approx(TABLE_TOP_Z_M + 0.025, abs=0.005)
    assert not arm.gripper_closed.iloc[-1]  # opened at last, over the place position


# --- occluded_target ------------------------------------------------------------------------


def test_occluded_target_is_mostly_hidden_by_clutter_around_it(runs):
    clean = _off(runs)
    run = runs("occluded", {"occluded_target": (1.0, ", count: 6, cover: 1")})
    assert run.episode["edge_cases.occluded_target.target"] == "target_0"
    clutter = sorted(n for n in run.objects.name if n.startswith("clutter_"))
    assert len(clutter) == 7
    assert run.objects.set_index("name").labeled[clutter].all()
    # packed around the target: every piece within 20 cm of it, most within 12 cm
    start = run.trajectories[run.trajectories.step == 0].set_index("actor")
    centre = start.loc["target_0", ["x_m", "y_m"]].to_numpy(float)
    distances = [np.hypot(*(start.loc[n, ["x_m", "y_m"]].to_numpy(float) - centre))
                 for n in clutter]
    assert max(distances) < 0.2 and np.median(distances) < 0.12
    # the same target, at the same pose, shows far fewer pixels than without clutter
    full = clean.visible_px("target_0", 0)
    assert full > 100
    assert run.visible_px("target_0", 0) < 0.5 * full
    # the clutter is labeled, visible and boxed
    assert set(clutter) <= set(run.boxes[run.boxes.frame == 0].name)


# --- tipped_over -------------------------------------------------------------------------------


def test_tipped_over_target_starts_lying_on_its_side(runs):
    run = runs("tipped", {"tipped_over": (1.0, "")}, target="can")
    clean = runs("tipped_off", {"tipped_over": (0.0, "")}, target="can")
    tilt = _up_tilt_deg(run.track("target_0"))
    assert tilt[0] > 60.0
    assert tilt[-1] > 60.0  # it stays down (the arm has not reached it yet)
    assert _up_tilt_deg(clean.track("target_0"))[0] < 1.0
    # lying, the 10.4 cm can is only about its 6.4 cm diameter tall
    z0 = run.track("target_0").z_m.iloc[-1]
    assert z0 == pytest.approx(TABLE_TOP_Z_M + 0.032, abs=0.006)


def test_tipped_over_prefers_a_target_that_looks_different_lying(tmp_path):
    # four targets, each a block (the same on any face) or a bottle, anywhere on the table
    def scenario(probability: float):
        text = SCENARIO.format(
            duration=1.0, target="{choice: [block, bottle]}\n      count: 4",
            edge_cases=f"  tipped_over: {{probability: {probability}}}",
        ).replace("x_m: 0.5, y_m: 0.0, yaw_deg: 30, ", "")
        path = tmp_path / f"p{probability}.yaml"
        path.write_text(text)
        return load_scenario(path)

    on, off = scenario(1.0), scenario(0.0)
    swapped = 0
    for index in range(30):
        plan = plan_episode(on, index, tmp_path)
        bodies = {b.name: b for b in plan.bodies}
        target = plan.sampled["edge_cases.tipped_over.target"]
        assert bodies["arm"].behaviour_params["target"] == target
        assert plan.sampled["world.arm.instances[0].behaviour.target"] == target
        assert bodies[target].roll_pitch_deg in ((90.0, 0.0), (-90.0, 0.0), (0.0, 90.0),
                                                 (0.0, -90.0))
        if any(b.asset == "bottle" for b in plan.bodies):
            assert bodies[target].asset == "bottle"
        first = plan_episode(off, index, tmp_path).sampled[
            "world.arm.instances[0].behaviour.target"]
        swapped += first != target
    assert swapped > 0  # some episodes' block targets were swapped for a bottle


# --- low_contrast ---------------------------------------------------------------------------


def _contrast_to_table(run: Run, name: str) -> float:
    """Largest channel difference between a body's mean colour and the table's just around it,
    in frame 0."""
    rgb, instance = run.image(0, "rgb"), run.image(0, "instance")
    mask = instance == run.instance_id(name)
    around = cv2.dilate(mask.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    table = around & (instance == run.instance_id("table"))
    assert mask.sum() > 50 and table.sum() > 50
    return float(np.max(np.abs(rgb[mask].mean(0) - rgb[table].mean(0))))


def test_low_contrast_target_blends_into_the_table(runs):
    run = runs("low_contrast", {"low_contrast": (1.0, "")})
    colour = [run.episode[f"edge_cases.low_contrast.colour[{i}]"] for i in range(3)]
    delta = run.episode["edge_cases.low_contrast.max_delta"]
    assert np.all(np.abs(np.subtract(colour, TABLE_WOOD_RGB)) <= delta + 1e-9)
    target = _contrast_to_table(run, "target_0")
    normal = _contrast_to_table(run, "other_0")
    assert target < 0.12
    assert target < 0.25 * normal
    # the clean run's (red) target stands out like any other object
    assert _contrast_to_table(_off(runs), "target_0") > 0.3


def test_table_texture_mean_is_the_textures_mean():
    image = cv2.imread(f"{pybullet_data.getDataPath()}/table/table.png")[:, :, ::-1] / 255.0
    assert image.reshape(-1, 3).mean(0) == pytest.approx(TABLE_WOOD_RGB, abs=0.002)


# --- camera_bump ---------------------------------------------------------------------------


def test_camera_bump_turns_the_camera_by_the_drawn_angle_at_its_time(runs):
    run = runs("bump", {"camera_bump": (1.0, ", at_s: 0.45")})
    at_s = run.episode["edge_cases.camera_bump.applied_at_s"]
    angle = run.episode["edge_cases.camera_bump.angle_deg"]
    axis = np.array([run.episode[f"edge_cases.camera_bump.axis[{i}]"] for i in range(3)])
    assert at_s == pytest.approx(0.45)
    rotations = np.stack(run.frames.cam_to_world.to_numpy()).reshape(-1, 4, 4)[:, :3, :3]
    before = run.frames.time_s.to_numpy() < at_s
    assert before.any() and (~before).any()
    assert np.all(rotations[before] == rotations[0])
    for r in rotations[~before]:
        turn = rotations[0].T @ r  # in the camera's own frame
        turned_deg = math.degrees(math.acos(np.clip((np.trace(turn) - 1) / 2, -1, 1)))
        assert turned_deg == pytest.approx(angle, abs=1e-6)
        about = np.array([turn[2, 1] - turn[1, 2], turn[0, 2] - turn[2, 0],
                          turn[1, 0] - turn[0, 1]])
        assert about / np.linalg.norm(about) == pytest.approx(axis, abs=1e-6)


# --- falling_object -------------------------------------------------------------------------


def test_falling_object_hangs_still_then_falls_to_rest_on_the_table(runs):
    run = runs("falling", {"falling_object": (1.0, ", asset: block, at_s: 0.4, height_m: 0.3")},
               duration=1.5)
    assert run.objects.set_index("name").labeled["falling_object"]
    track = run.track("falling_object")
    release = run.episode["edge_cases.falling_object.applied_at_s"]
    assert release == pytest.approx(0.4)
    held = track[track.time_s <= release]
    assert held.z_m.iloc[0] == pytest.approx(TABLE_TOP_Z_M + 0.3 + 0.025, abs=0.002)
    assert np.ptp(held[["x_m", "y_m", "z_m"]].to_numpy(), axis=0).max() < 1e-9
    falling = track[track.time_s > release]
    assert falling.z_m.iloc[:20].is_monotonic_decreasing
    # at rest on the table top at the end (its 5 cm cube's centre 2.5 cm up)
    assert falling.z_m.iloc[-1] == pytest.approx(TABLE_TOP_Z_M + 0.025, abs=0.004)
    assert np.linalg.norm(falling[["vx_mps", "vy_mps", "vz_mps"]].iloc[-1]) < 0.02
    # it is labeled and seen, floating, from the first frame
    assert run.visible_px("falling_object", 0) > 50
