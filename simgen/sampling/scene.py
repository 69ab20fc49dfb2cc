"""The sampled episode as plain data: what the world builder and behaviours consume.

Nothing here touches PyBullet. Every value is concrete (distributions already drawn).
Frames: world frame is right-handed, z up, metres. Driving roads run along +x.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from simgen.catalog import ASSETS
from simgen.sampling.conditions import Atmosphere

Vec3 = tuple[float, float, float]
RGBA = tuple[float, float, float, float]
RGB = tuple[float, float, float]

#: Behaviours whose bodies are moved kinematically or are anchored (loaded fixed-base).
FIXED_BASE_BEHAVIOURS = ("lane_follow", "parked", "walk", "cross", "pick_and_place")
#: Asset kinds that are always fixed-base.
FIXED_BASE_KINDS = ("vehicle", "pedestrian", "arm", "furniture", "cyclist")


#: Mean colour of pybullet_data's table texture (table/table.png), which the table shows
#: when the scenario gives it no colour or texture of its own.
TABLE_WOOD_RGB = (0.827, 0.730, 0.602)


@dataclass(frozen=True)
class TexturePlan:
    """A procedural texture: pattern ``kind`` blending two colours, drawn from ``seed``."""

    kind: str
    colour_a: RGB
    colour_b: RGB
    seed: int


#: Street lamps: head height and how far the arm reaches over the road from the post (m).
LAMP_HEIGHT_M = 7.0
LAMP_REACH_M = 1.5


@dataclass(frozen=True)
class RoadLayout:
    """A straight multi-lane road along +x, centred on the dividing line y = 0.

    Forward lanes (driving +x) lie at y < 0, lane 0 the rightmost (most negative y);
    oncoming lanes (driving -x) lie at y > 0, numbered after the forward lanes from
    the centre outwards. Outside the lanes on each side come a shoulder (parking
    strip) and a raised sidewalk.
    """

    lanes: int
    oncoming_lanes: int
    lane_width_m: float
    length_m: float
    start_x_m: float
    shoulder_width_m: float
    sidewalk_width_m: float
    kerb_height_m: float
    marking_width_m: float
    dash_length_m: float
    dash_gap_m: float
    surface_colour: RGB = (0.22, 0.22, 0.24)
    surface_texture: TexturePlan | None = None
    ground_colour: RGB = (0.28, 0.42, 0.2)

    @property
    def end_x_m(self) -> float:
        """x coordinate of the far end of the road."""
        return self.start_x_m + self.length_m

    @property
    def total_lanes(self) -> int:
        """Forward plus oncoming lanes."""
        return self.lanes + self.oncoming_lanes

    def lane_direction(self, lane: int) -> int:
        """+1 for a forward lane (drives +x), -1 for an oncoming lane."""
        self._check_lane(lane)
        return 1 if lane < self.lanes else -1

    def lane_centre_y_m(self, lane: int) -> float:
        """y coordinate of a lane's centre line."""
        self._check_lane(lane)
        if lane < self.lanes:
            return -(self.lanes - lane - 0.5) * self.lane_width_m
        return (lane - self.lanes + 0.5) * self.lane_width_m

    @property
    def right_edge_y_m(self) -> float:
        """y of the right edge of the carriageway (outer edge of lane 0)."""
        return -self.lanes * self.lane_width_m

    @property
    def left_edge_y_m(self) -> float:
        """y of the left edge of the carriageway (outer edge of the last oncoming lane)."""
        return self.oncoming_lanes * self.lane_width_m

    def shoulder_centre_y_m(self, side: str) -> float:
        """y of the centre of the shoulder (parking strip) on ``side`` ('right' or 'left')."""
        if side == "right":
            return self.right_edge_y_m - self.shoulder_width_m / 2
        return self.left_edge_y_m + self.shoulder_width_m / 2

    def sidewalk_centre_y_m(self, side: str) -> float:
        """y of the centre of the sidewalk on ``side`` ('right' or 'left')."""
        if side == "right":
            return self.right_edge_y_m - self.shoulder_width_m - self.sidewalk_width_m / 2
        return self.left_edge_y_m + self.shoulder_width_m + self.sidewalk_width_m / 2

    def lamp_positions(self, spacing_m: float) -> list[tuple[float, float, float]]:
        """Where street lamp heads are: both sides, every ``spacing_m`` along the road, over
        the outer edge of the shoulder, staggered between the sides."""
        out: list[tuple[float, float, float]] = []
        if spacing_m <= 0:
            return out
        for side, sign, offset in (("right", -1.0, 0.0), ("left", 1.0, 0.5)):
            edge = self.right_edge_y_m if side == "right" else self.left_edge_y_m
            post_y = edge + sign * (self.shoulder_width_m + 0.4)
            x = self.start_x_m + spacing_m * (0.5 + offset)
            while x < self.end_x_m:
                out.append((x, post_y - sign * LAMP_REACH_M, LAMP_HEIGHT_M))
                x += spacing_m
        return out

    def _check_lane(self, lane: int) -> None:
        if not 0 <= lane < self.total_lanes:
            raise ValueError(f"lane {lane} outside 0..{self.total_lanes - 1}")


@dataclass(frozen=True)
class TableLayout:
    """A table whose top is at ``top_z_m``; objects are placed in the work area.

    The arm's base stands at ``arm_base_m``. ``work_area_m`` is ((xmin, xmax), (ymin,
    ymax)) on the table top, ``place_area_m`` likewise for where the target is put down.
    """

    top_z_m: float
    centre_m: Vec3
    work_area_m: tuple[tuple[float, float], tuple[float, float]]
    place_area_m: tuple[tuple[float, float], tuple[float, float]]
    arm_base_m: Vec3
    colour: RGB | None = None
    texture: TexturePlan | None = None
    floor_colour: RGB = (0.55, 0.52, 0.48)

    def mean_colour(self) -> RGB:
        """The table top's average colour: its texture's, its plain colour, or the wood's."""
        if self.texture is not None:
            return tuple((a + b) / 2 for a, b in zip(self.texture.colour_a,
                                                     self.texture.colour_b, strict=True))
        return self.colour if self.colour is not None else TABLE_WOOD_RGB


@dataclass(frozen=True)
class BodyPlan:
    """One body to create: where, what, how it looks and what drives it.

    ``position_m`` is the base position in the world frame with z the height of the
    bottom of the body above the ground (or table top) it stands on; ``yaw_deg`` is the
    heading about world z. ``behaviour`` names a registered behaviour; its concrete
    parameters are in ``behaviour_params``. ``labeled`` bodies get boxes and COCO entries.
    ``asset`` is a catalog id or a .urdf path as the scenario wrote it (what the dataset
    records); ``asset_file`` is that path resolved on this machine (None for catalog ids).
    """

    name: str
    group: str
    cls: str
    asset: str
    position_m: Vec3
    yaw_deg: float
    scale: float
    colour_rgba: RGBA | None
    behaviour: str
    behaviour_params: Mapping[str, Any] = field(default_factory=dict)
    labeled: bool = True
    mass_kg: float | None = None
    asset_file: str | None = None
    texture: TexturePlan | None = None
    roll_pitch_deg: tuple[float, float] = (0.0, 0.0)  # tilt before the heading (tipped over)

    @property
    def dynamic(self) -> bool:
        """Whether physics moves this body (not kinematic, not anchored by its kind)."""
        kind = ASSETS[self.asset].kind if self.asset in ASSETS else "object"
        return kind not in FIXED_BASE_KINDS and self.behaviour not in FIXED_BASE_BEHAVIOURS


@dataclass(frozen=True)
class CameraPlan:
    """A camera: mounted in the world or on an actor (optionally one of its links).

    ``position_m`` and ``look_at_m`` / ``rpy_deg`` are in the mount's frame (the world
    frame for ``mount == "world"``). ``fov_deg`` is the vertical field of view.
    ``rotation_offset_deg`` turns the camera about its own x (right), y (down) and z
    (optical) axes after it is aimed (pose jitter); from ``bump_at_s`` on, it is turned
    by ``bump_rotation_deg`` more (a knocked camera).
    """

    name: str
    mount: str
    link: str | None
    position_m: Vec3
    look_at_m: Vec3 | None
    rpy_deg: Vec3 | None
    fov_deg: float
    near_m: float
    far_m: float
    width: int
    height: int
    rotation_offset_deg: Vec3 = (0.0, 0.0, 0.0)
    bump_at_s: float | None = None
    bump_rotation_deg: Vec3 = (0.0, 0.0, 0.0)


@dataclass(frozen=True)
class PhysicsPlan:
    """Concrete physics settings for one episode."""

    time_step_s: float
    gravity_mps2: float
    solver_iterations: int
    substeps: int
    friction: float | None = None
    restitution: float | None = None
    mass_scale: float = 1.0
    wind_speed_mps: float = 0.0
    wind_direction_deg: float = 0.0


@dataclass(frozen=True)
class Push:
    """A horizontal impulse (N s, world frame) given to one body at ``time_s``."""

    time_s: float
    body: str
    impulse_n_s: tuple[float, float]


@dataclass(frozen=True)
class EpisodePlan:
    """Everything needed to build, simulate and render one episode.

    ``sampled`` maps the flat field path of every value drawn from a distribution
    to the value drawn (this is what ``episodes.parquet`` records).
    """

    index: int
    seed: int
    domain: str
    duration_s: float
    capture_rate_hz: float
    physics: PhysicsPlan
    road: RoadLayout | None
    table: TableLayout | None
    bodies: tuple[BodyPlan, ...]
    cameras: tuple[CameraPlan, ...]
    sampled: Mapping[str, Any]
    atmosphere: Atmosphere = field(default_factory=Atmosphere)
    pushes: tuple[Push, ...] = ()
    edge_cases: tuple[str, ...] = ()  # the edge cases that fired in this episode
    importance_weight: float = 1.0
    attempts: int = 1  # episodes drawn until the constraints held
    constraint_failures: tuple[int, ...] = ()  # per constraint, draws it rejected
