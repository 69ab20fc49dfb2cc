"""One episode: build the world, step behaviours and physics, capture and label frames."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from simgen.behaviours import BEHAVIOURS, Behaviour, BehaviourContext
from simgen.effects import (
    CameraFrame,
    EpisodeEffects,
    ObjectVisibility,
    object_visibility,
    renderer_light_direction,
)
from simgen.errors import SimgenError
from simgen.sampling.scene import EpisodePlan
from simgen.sampling.seeds import effects_rng, episode_seeds
from simgen.sensors.camera import camera_view, mount_pose
from simgen.sensors.labels import LabelRule, ObjectLabel, VisibleBox, object_labels
from simgen.sensors.pixels import InstancePixels
from simgen.sensors.render import RawFrame, capture, settle_light
from simgen.sensors.silhouette import MaskWindow, MeshLibrary
from simgen.world.build import (
    BuiltWorld,
    body_source,
    build_world,
    has_textures,
    link_index,
    object_boxes,
)
from simgen.world.bullet import p
from simgen.world.disturbances import Disturbances
from simgen.world.engine import PhysicsSession
from simgen.world.lights import EpisodeLights
from simgen.writers.images import ImageWriter, write_image
from simgen.writers.rle import instance_rles


@dataclass(frozen=True)
class FrameLabels:
    """What a writer thread works out for one frame from its render alone."""

    objects: list[ObjectLabel]  # every labeled body in view
    boxes: list[VisibleBox]  # the labels: objects that pass the labelling rule
    masks: dict[int, dict]  # COCO RLE of each label's mask by instance id
    conditions: dict[str, Any]  # effect values of this frame
    visibility: dict[int, ObjectVisibility]  # by labeled instance id


@dataclass(frozen=True)
class FrameRecord:
    """One captured frame of one camera: files, calibration, and its labels (a future:
    they are computed on the writer threads while the simulation goes on)."""

    frame: int
    time_s: float
    camera: str
    files: dict[str, str]  # modality -> path relative to the dataset root
    width: int
    height: int
    K: np.ndarray
    cam_to_world: np.ndarray
    labels: Future  # -> FrameLabels

    @property
    def objects(self) -> list[ObjectLabel]:
        return self.labels.result().objects

    @property
    def boxes(self) -> list[VisibleBox]:
        return self.labels.result().boxes

    @property
    def conditions(self) -> dict[str, Any]:
        return self.labels.result().conditions

    @property
    def visibility(self) -> dict[int, ObjectVisibility]:
        return self.labels.result().visibility


@dataclass
class Trajectory:
    """Per-step state and control of one body (arrays indexed by simulation step)."""

    name: str
    cls: str
    instance_id: int
    position_m: np.ndarray  # (T, 3)
    orientation_xyzw: np.ndarray  # (T, 4)
    linear_velocity_mps: np.ndarray  # (T, 3)
    angular_velocity_radps: np.ndarray  # (T, 3)
    steering_rad: np.ndarray | None = None
    throttle: np.ndarray | None = None
    joint_positions_rad: list | None = None
    gripper_closed: np.ndarray | None = None


@dataclass
class EpisodeRecord:
    """Everything an episode produced besides the image files themselves."""

    plan: EpisodePlan
    world: BuiltWorld
    frames: list[FrameRecord] = field(default_factory=list)
    trajectories: list[Trajectory] = field(default_factory=list)


#: The images written for every frame of every camera.
MODALITIES = ("rgb", "depth", "instance", "semantic")


def episode_dir(index: int) -> str:
    """Folder of an episode's images, relative to the dataset root."""
    return f"episodes/{index:06d}"


@dataclass(frozen=True)
class LabelSettings:
    """How frames are labeled: the rule for boxes and the semantic class ids."""

    rule: LabelRule
    semantic_ids: dict[str, int]  # class name -> id in the semantic masks (0: background)


def run_episode(session: PhysicsSession, plan: EpisodePlan, root_seed: int, write_dir: Path,
                images: ImageWriter, labels: LabelSettings, mesh_library: MeshLibrary,
                on_frame: Callable[[], None] | None = None) -> EpisodeRecord:
    """Simulate and capture one episode, queuing its images on ``images`` into
    ``write_dir/MODALITY/`` (records name them by their final place, ``episode_dir``);
    object meshes for visible fractions come from ``mesh_library``.

    ``on_frame`` is called after each captured frame (all cameras), for progress display.
    """
    textured = has_textures(plan)
    session.prepare_for_world(textured)
    c = session.client
    session.reset(plan.physics)
    atmosphere = plan.atmosphere
    light_direction = renderer_light_direction(atmosphere.lighting)
    if session.renderer_used == "egl":
        settle_light(c, session.render_flag, light_direction)
    world = build_world(c, plan, session.textures if textured else None)
    behaviours = make_behaviours(c, plan, world, root_seed)
    dt = plan.physics.time_step_s
    steps = max(int(round(plan.duration_s / dt)), 1)
    capture_every = max(int(round(1.0 / (plan.capture_rate_hz * dt))), 1)
    mounts = _camera_mounts(c, plan, world)
    boxes3d = object_boxes(c, plan, world)
    sizes = {i: box.size_m for i, box in boxes3d.items()}
    uid_of = {i.instance_id: i.uid for i in world.instances}
    planned = {world.instance(b.name).instance_id: b for b in plan.bodies}
    meshes = {i: mesh_library.mesh(*body_source(planned[i])) for i in boxes3d}
    semantic_lut = np.zeros(len(world.instances) + 1, dtype=np.uint16)
    for inst in world.instances:
        semantic_lut[inst.instance_id] = labels.semantic_ids.get(inst.cls, 0)
    record = EpisodeRecord(plan=plan, world=world)
    logger = _TrajectoryLogger(c, plan, world, behaviours)
    disturbances = Disturbances(c, plan, world)
    lights = EpisodeLights(c, plan, world)
    shadows = atmosphere.lighting.shadows == "on" or (
        atmosphere.lighting.shadows == "auto" and session.renderer_used == "egl")
    effects = [EpisodeEffects(atmosphere, cam.width, cam.height,
                              effects_rng(root_seed, plan.index, k))
               for k, cam in enumerate(plan.cameras)]
    carriers = {body.name: b for body, b in zip(plan.bodies, behaviours, strict=True)}
    folder = episode_dir(plan.index)
    for modality in MODALITIES:
        (write_dir / modality).mkdir(parents=True, exist_ok=True)
    for step in range(steps + 1):
        t = step * dt
        logger.log()
        if step % capture_every == 0:
            frame = step // capture_every
            lights_now = lights.at_now()
            poses = {i: box.pose(*p.getBasePositionAndOrientation(uid_of[i], physicsClientId=c))
                     for i, box in boxes3d.items()}
            link_poses = {i: meshes[i].link_poses(c, uid_of[i]) for i in boxes3d}
            for k, (cam, (uid, link)) in enumerate(zip(plan.cameras, mounts, strict=True)):
                view = camera_view(cam, mount_pose(c, uid, link), session.renderer_used, t)
                shot = capture(c, session.render_flag, view, light_direction, shadows)
                carrier = carriers.get(cam.mount)
                velocity = _carrier_velocity(c, carrier) if carrier is not None else (0, 0, 0)
                name = f"{cam.name}_{frame:05d}.png"
                files = {m: f"{folder}/{m}/{name}" for m in MODALITIES}
                # Everything else about the frame needs only its buffers and the poses
                # taken above: a writer thread does it while the simulation goes on
                # (PyBullet is not touched there).
                frame_labels = images.compute(
                    _process_frame, FrameInputs(
                        shot=shot, uid_to_instance=world.uid_to_instance,
                        semantic_lut=semantic_lut, view=view, velocity=velocity,
                        poses=poses, sizes=sizes, meshes=meshes, link_poses=link_poses,
                        rule=labels.rule, effects=effects[k], lights=lights_now,
                        rng=effects_rng(root_seed, plan.index, k, frame),
                        fog=atmosphere.weather.fog,
                        paths={m: write_dir / m / name for m in MODALITIES}))
                record.frames.append(FrameRecord(
                    frame=frame, time_s=t, camera=cam.name, files=files,
                    width=view.width, height=view.height, K=view.K,
                    cam_to_world=view.cam_to_world, labels=frame_labels))
            if on_frame is not None:
                on_frame()
        if step == steps:
            break
        for behaviour in behaviours:
            behaviour.step(t, dt)
        disturbances.apply(t, dt)
        p.stepSimulation(physicsClientId=c)
    record.trajectories = logger.finish()
    return record


def make_behaviours(client: int, plan: EpisodePlan, world: BuiltWorld,
                    root_seed: int) -> list[Behaviour]:
    """The behaviour of each body of ``plan`` (in ``plan.bodies`` order), seeded from the
    episode's own stream, on the freshly built ``world``."""
    ctx = BehaviourContext(client=client, plan=plan, uids=world.uids,
                           rng=episode_seeds(root_seed, plan.index).behaviour)
    return [BEHAVIOURS[body.behaviour](ctx, body, world.uids[body.name])
            for body in plan.bodies]


@dataclass(frozen=True)
class FrameInputs:
    """Everything ``_process_frame`` needs: one camera's buffers and the frame's poses."""

    shot: RawFrame
    uid_to_instance: np.ndarray
    semantic_lut: np.ndarray  # instance id -> semantic class id
    view: Any  # CameraView
    velocity: tuple[float, float, float]  # of the body carrying the camera (world, m/s)
    poses: dict[int, tuple[np.ndarray, np.ndarray]]  # instance id -> box centre, rotation
    sizes: dict[int, np.ndarray]
    meshes: dict[int, Any]  # instance id -> BodyMesh
    link_poses: dict[int, tuple[np.ndarray, np.ndarray]]  # instance id -> link rotations, origins
    rule: LabelRule
    effects: EpisodeEffects
    lights: Any
    rng: np.random.Generator
    fog: Any
    paths: dict[str, Path]  # modality -> image file


def _process_frame(x: FrameInputs) -> FrameLabels:
    """Decode one camera's buffers, write its depth, instance and semantic images, label
    it, encode its masks, apply its effects, write its RGB image and measure its labels'
    visibility. Runs on a writer thread: it touches no PyBullet state and each frame has
    its own RNG, so the result does not depend on scheduling."""
    view = x.view
    shot = x.shot.decode(x.uid_to_instance)
    write_image(x.paths["depth"], "depth", shot.depth_m)
    write_image(x.paths["instance"], "instance", shot.instance)
    write_image(x.paths["semantic"], "semantic", x.semantic_lut[shot.instance])

    def unoccluded(i: int) -> MaskWindow:
        return x.meshes[i].silhouette_window(*x.link_poses[i], view.K, view.cam_to_world,
                                         view.width, view.height, view.near_m, view.far_m)

    pixels = InstancePixels.of(shot.instance, x.poses)
    objects = object_labels(shot.instance, x.poses, x.sizes, view.K, view.cam_to_world,
                            view.near_m, x.rule, unoccluded, pixels)
    boxes = [o.visible for o in objects if o.status == "labeled"]
    label_ids = [b.instance_id for b in boxes]
    masks = instance_rles(shot.instance, label_ids)
    camera_frame = CameraFrame(
        rgb=shot.rgb, depth_m=shot.depth_m, instance=shot.instance, K=view.K,
        cam_to_world=view.cam_to_world, velocity_world_mps=x.velocity)
    result = x.effects.apply(camera_frame, x.lights, x.rng)
    write_image(x.paths["rgb"], "rgb", result.rgb)
    visibility = object_visibility(shot.instance, label_ids, shot.depth_m, view.K,
                                   result.lit_linear, result.final_linear, x.fog, pixels)
    return FrameLabels(objects, boxes, masks, dict(result.values), visibility)


def _carrier_velocity(client: int, behaviour: Behaviour) -> tuple[float, float, float]:
    """World-frame linear velocity of the body carrying a camera."""
    if behaviour.kinematic:
        lin, _ = behaviour.velocity()
    else:
        lin, _ = p.getBaseVelocity(behaviour.uid, physicsClientId=client)
    return tuple(float(v) for v in lin)


def _camera_mounts(client: int, plan: EpisodePlan, world: BuiltWorld):
    mounts = []
    for cam in plan.cameras:
        if cam.mount == "world":
            mounts.append((None, None))
            continue
        uid = world.uids[cam.mount]
        try:
            mounts.append((uid, link_index(client, uid, cam.link) if cam.link else None))
        except SimgenError as exc:
            raise SimgenError(f"camera {cam.name!r} mounted on {cam.mount!r}: {exc}") from None
    return mounts


class _TrajectoryLogger:
    """Collects every body's state after each step (as tuples: converting each step's
    values to array rows costs more than reading them); ``finish`` makes the arrays."""

    def __init__(self, client, plan, world, behaviours):
        self.client = client
        self.bodies = [(body.name, body.cls, world.instance(body.name).instance_id)
                       for body in plan.bodies]
        self.behaviours = behaviours
        self._states: list[list] = [[] for _ in behaviours]
        self._controls: list[list] = [[] for _ in behaviours]

    def log(self) -> None:
        """Record every body's pose, velocity and control at the current step."""
        c = self.client
        for behaviour, states, controls in zip(self.behaviours, self._states, self._controls,
                                               strict=True):
            pos, orn = p.getBasePositionAndOrientation(behaviour.uid, physicsClientId=c)
            if behaviour.kinematic:
                lin, ang = behaviour.velocity()
            else:
                lin, ang = p.getBaseVelocity(behaviour.uid, physicsClientId=c)
            states.append((*pos, *orn, *lin, *ang))
            controls.append(behaviour.control())

    def finish(self) -> list[Trajectory]:
        """The trajectories, with control columns for the bodies that report them."""
        trajectories = []
        for (name, cls, instance_id), states, controls in zip(
                self.bodies, self._states, self._controls, strict=True):
            state = np.array(states, dtype=np.float64).reshape(len(states), 13)
            tr = Trajectory(name=name, cls=cls, instance_id=instance_id,
                            position_m=state[:, 0:3], orientation_xyzw=state[:, 3:7],
                            linear_velocity_mps=state[:, 7:10],
                            angular_velocity_radps=state[:, 10:13])
            if any(ctl.steering_rad is not None for ctl in controls):
                tr.steering_rad = np.array([ctl.steering_rad or 0.0 for ctl in controls])
                tr.throttle = np.array([ctl.throttle or 0.0 for ctl in controls])
            if any(ctl.joint_positions_rad is not None for ctl in controls):
                tr.joint_positions_rad = [list(ctl.joint_positions_rad or ()) for ctl in controls]
                tr.gripper_closed = np.array([bool(ctl.gripper_closed) for ctl in controls])
            trajectories.append(tr)
        return trajectories
