"""The scenario format as pydantic models (unknown keys rejected everywhere).

Fields ending in ``_m``, ``_deg``, ``_s``, ``_mps``, ``_hz`` carry their unit in
their name. Fields typed ``Number``/``Integer``/``Category`` accept a distribution.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from simgen.catalog import ASSETS, STUFF_CLASSES
from simgen.edge_cases import EDGE_CASES
from simgen.errors import did_you_mean
from simgen.spec.atmosphere import Lighting, Weather
from simgen.spec.base import Colour, StrictModel
from simgen.spec.constraints import Constraint
from simgen.spec.distributions import (
    Category,
    Choice,
    Const,
    Integer,
    Number,
    largest_int,
    one_of,
    smallest_int,
)
from simgen.spec.edge_cases import EdgeCases
from simgen.spec.sweep import Sweep, design_problems


def _check_asset(value: Any) -> str:
    if isinstance(value, str) and value.endswith(".urdf"):
        return value
    if not isinstance(value, str) or value not in ASSETS:
        raise ValueError(f"unknown asset {value!r}{did_you_mean(str(value), ASSETS)} "
                         "(an asset id from the catalog, or a path to a .urdf file)")
    return value


Asset = Category(_check_asset, {"type": "string", "description": "catalog id or path to .urdf"})
Side = Category(one_of(("right", "left"), "side"), {"enum": ["right", "left"]})
def _check_direction(value: Any) -> int:
    if value not in (1, -1) or isinstance(value, bool):
        raise ValueError(f"direction is 1 or -1, got {value!r}")
    return int(value)


Direction = Category(_check_direction, {"enum": [1, -1]})


Vec3 = tuple[Number(), Number(), Number()]

TEXTURE_KINDS = ("none", "noise", "stripes", "checker", "gradient")
#: A procedural texture (``none`` keeps the asset's own look); accepts a distribution.
TextureKind = Category(one_of(TEXTURE_KINDS, "texture"), {"enum": list(TEXTURE_KINDS)})


class Wind(StrictModel):
    """A steady wind pushing every dynamic body (drag 0.5 rho Cd A v^2, Cd = 1)."""

    speed_mps: Number(ge=0, le=60)
    direction_deg: Number(ge=-360, le=360) = Field(
        default_factory=lambda: {"uniform": [-180, 180]})


class Pushes(StrictModel):
    """Random horizontal shoves of dynamic bodies, arriving as a Poisson process."""

    rate_hz: Number(gt=0, le=100)
    impulse_n_s: Number(gt=0, le=1000) = 0.5


class Physics(StrictModel):
    """Physics engine settings and physical randomization (sampled per episode).

    ``friction`` and ``restitution`` replace the lateral friction and bounciness of every
    body and the ground when given; ``mass_scale`` multiplies every dynamic body's mass.
    """

    time_step_s: Number(gt=0, le=0.05) = 1 / 240
    gravity_mps2: Number() = -9.81
    solver_iterations: Integer(ge=1, le=1000) = 50
    substeps: Integer(ge=0, le=32) = 0
    friction: Number(ge=0, le=10) | None = None
    restitution: Number(ge=0, le=1) | None = None
    mass_scale: Number(gt=0, le=100) = 1.0
    wind: Wind | None = None
    pushes: Pushes | None = None


class Capture(StrictModel):
    """How often and at which size frames are captured (fixed for a run)."""

    rate_hz: float = Field(10.0, gt=0, le=240)
    width: int = Field(640, ge=16, le=4096)
    height: int = Field(480, ge=16, le=4096)


class Labels(StrictModel):
    """Which objects get 2D boxes: enough visible pixels and enough of the object visible
    (visible pixels over the pixels it would cover if nothing hid it)."""

    min_visible_px: int = Field(20, ge=1)
    min_visible_fraction: float = Field(0.0, ge=0, le=1)


class Export(StrictModel):
    """Formats written into ``OUT/exports/FORMAT`` when a run completes (as ``simgen export``
    would), with the train/val/test ratios of episodes."""

    formats: list[Literal["coco", "yolo", "kitti"]] = Field(default_factory=list)
    splits: tuple[float, float, float] = (0.8, 0.1, 0.1)

    @field_validator("splits")
    @classmethod
    def _ratios(cls, value: tuple[float, float, float]) -> tuple[float, float, float]:
        if any(v < 0 for v in value) or abs(sum(value) - 1.0) > 1e-6:
            raise ValueError("splits are three non-negative ratios (train, val, test) "
                             "summing to 1")
        return value


class Jitter(StrictModel):
    """Per-episode random offsets of a camera's pose: normal with these standard deviations
    (position along each mount axis, rotation about each camera axis)."""

    position_m: Number(ge=0, le=10) = 0.0
    rotation_deg: Number(ge=0, le=45) = 0.0


class Camera(StrictModel):
    """A camera fixed in the world or mounted on an actor (optionally on one of its links).

    ``position_m`` and ``look_at_m`` / ``rpy_deg`` are in the mount's frame: the world
    frame for ``mount: world``, else the actor's base (or link) frame (x forward, z up).
    ``rpy_deg`` rotates the camera from looking along +x with z up. ``fov_deg`` is vertical.
    """

    name: str = Field(pattern=r"^[A-Za-z0-9_\-]+$")
    mount: str = "world"
    link: str | None = None
    position_m: Vec3
    look_at_m: Vec3 | None = None
    rpy_deg: Vec3 | None = None
    fov_deg: Number(gt=1, lt=179) = 60.0
    near_m: Number(gt=0) = 0.1
    far_m: Number(gt=0) = 100.0
    jitter: Jitter | None = None

    @model_validator(mode="after")
    def _one_orientation(self) -> Camera:
        if (self.look_at_m is None) == (self.rpy_deg is None):
            raise ValueError("give exactly one of look_at_m or rpy_deg")
        if isinstance(self.near_m, Const) and isinstance(self.far_m, Const):
            if self.far_m.value <= self.near_m.value:
                raise ValueError("far_m must be greater than near_m")
        return self


class Road(StrictModel):
    """A straight road along +x: forward lanes at y < 0, oncoming lanes at y > 0."""

    lanes: Integer(ge=1, le=8) = 3
    oncoming_lanes: Integer(ge=0, le=8) = 1
    lane_width_m: Number(ge=2.0, le=6.0) = 3.5
    length_m: Number(ge=20, le=2000) = 220.0
    start_x_m: Number() = -40.0
    shoulder_width_m: Number(ge=0, le=6) = 2.5
    sidewalk_width_m: Number(ge=0.5, le=10) = 3.0
    kerb_height_m: Number(ge=0, le=0.4) = 0.15
    marking_width_m: Number(gt=0, le=0.5) = 0.15
    dash_length_m: Number(gt=0) = 3.0
    dash_gap_m: Number(gt=0) = 6.0
    surface_colour: Colour = (0.22, 0.22, 0.24)
    surface_texture: TextureKind = "none"
    ground_colour: Colour = (0.28, 0.42, 0.2)


class Table(StrictModel):
    """The robotics table (pybullet_data's, top at z = 0.626 m); the arm stands at its near
    edge, objects go in the work area.

    Areas are ``[[xmin, xmax], [ymin, ymax]]`` in the world frame on the table top.
    """

    work_area_m: tuple[tuple[float, float], tuple[float, float]] = ((0.38, 0.65), (-0.25, 0.22))
    place_area_m: tuple[tuple[float, float], tuple[float, float]] = ((0.3, 0.5), (0.3, 0.42))
    colour: Colour | None = None
    texture: TextureKind = "none"
    floor_colour: Colour = (0.55, 0.52, 0.48)


Region = Literal["lane", "shoulder", "sidewalk", "table", "area"]


class Placement(StrictModel):
    """Where a group's bodies are put.

    - ``lane``: on a lane centre (``lane`` index, any lane when absent), ``x_m`` along it;
      facing the lane's direction.
    - ``shoulder`` / ``sidewalk``: on that strip of the road's ``side``, ``x_m`` along it.
    - ``table``: in the table's work area (or at ``x_m``/``y_m`` when given), on its top.
    - ``area``: at ``x_m``/``y_m`` in the world frame.
    ``z_m`` lifts the bottom of the body above the surface of its region.
    ``yaw_deg`` is added to the region's natural heading (a lane's direction of travel;
    a random heading on the table). Bodies are kept ``min_spacing_m`` apart (centre to
    centre) by rejection sampling.
    """

    region: Region
    lane: Integer(ge=0) | None = None
    side: Side = "right"
    x_m: Number() | None = None
    y_m: Number() | None = None
    yaw_deg: Number() | None = None
    z_m: Number(ge=0) | None = None
    min_spacing_m: float = Field(1.0, ge=0)


class LaneFollowSpec(StrictModel):
    """Drive along the lane centre at ``speed_mps`` with a steering controller."""

    kind: Literal["lane_follow"]
    speed_mps: Number(ge=0, le=60) = 8.0
    max_accel_mps2: Number(gt=0, le=15) = 3.0


class ParkedSpec(StrictModel):
    """A parked vehicle: never moves."""

    kind: Literal["parked"]


class StaticSpec(StrictModel):
    """No behaviour: the body rests where placed (physics may still move it)."""

    kind: Literal["static"]


class WalkSpec(StrictModel):
    """Walk along the sidewalk (``direction`` 1 walks towards +x)."""

    kind: Literal["walk"]
    speed_mps: Number(ge=0, le=4) = 1.4
    direction: Direction = Field(default_factory=lambda: {"choice": [1, -1]})


class CrossSpec(StrictModel):
    """Wait at the kerb, then cross the road at ``start_s`` towards the other sidewalk."""

    kind: Literal["cross"]
    speed_mps: Number(ge=0.1, le=4) = 1.3
    start_s: Number(ge=0) = 0.5


class PickAndPlaceSpec(StrictModel):
    """Pick a random object (from ``target_group``, or any labeled object) and place it."""

    kind: Literal["pick_and_place"]
    target_group: str | None = None
    start_s: Number(ge=0) = 0.2
    lift_height_m: Number(gt=0, le=0.5) = 0.15


BehaviourSpec = Annotated[
    LaneFollowSpec | ParkedSpec | StaticSpec | WalkSpec | CrossSpec | PickAndPlaceSpec,
    Field(discriminator="kind"),
]

#: Behaviours that need a road, and those that need a table.
DRIVING_BEHAVIOURS = ("lane_follow", "parked", "walk", "cross")
ROBOTICS_BEHAVIOURS = ("pick_and_place",)


class BodyGroup(StrictModel):
    """``count`` bodies of one class: asset, placement, scale, colour and behaviour.

    ``class`` may be left out when every asset the group can draw is a catalog id: each
    body then gets its asset's catalog class.

    A group of one is named ``name``; larger groups name bodies ``name_0``, ``name_1``...
    """

    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$")
    cls: str | None = Field(None, alias="class", pattern=r"^[A-Za-z][A-Za-z0-9_]*$")
    asset: Asset
    count: Integer(ge=0, le=500) = 1
    placement: Placement
    scale: Number(gt=0, le=100) = 1.0
    colour: Colour | None = None
    texture: TextureKind = "none"
    texture_colour: Colour | None = None
    behaviour: BehaviourSpec = Field(default_factory=lambda: StaticSpec(kind="static"))
    labeled: bool = True
    mass_kg: Number(gt=0) | None = None

    @model_validator(mode="before")
    @classmethod
    def _class_from_catalog(cls, data: Any) -> Any:
        """``class`` defaults to the catalog's class when ``asset`` is one catalog id."""
        if isinstance(data, dict) and "class" not in data and "cls" not in data:
            asset = data.get("asset")
            if isinstance(asset, str) and asset in ASSETS:
                return {**data, "class": ASSETS[asset].default_class}
        return data

    @model_validator(mode="after")
    def _class_known_for_every_asset(self) -> BodyGroup:
        if self.cls is None and any(a not in ASSETS for a in self.asset_options()):
            raise ValueError("give a class: an asset that is a .urdf file has no catalog class")
        return self

    def asset_options(self) -> tuple[str, ...]:
        """Every asset this group can draw."""
        return self.asset.options if isinstance(self.asset, Choice) else (self.asset.value,)

    def classes(self) -> list[str]:
        """The classes this group's bodies can have (one, or one per possible asset)."""
        if self.cls is not None:
            return [self.cls]
        out: list[str] = []
        for asset in self.asset_options():
            if ASSETS[asset].default_class not in out:
                out.append(ASSETS[asset].default_class)
        return out

    def class_of(self, asset: str) -> str:
        """The class of a body of this group that drew ``asset``."""
        return self.cls if self.cls is not None else ASSETS[asset].default_class


class DistractorGroup(BodyGroup):
    """Bodies that add clutter and appearance variety; unlabeled unless ``labeled: true``."""

    labeled: bool = False


class World(StrictModel):
    """The world: a road (driving) or a table (robotics), the ego or arm, and body groups."""

    road: Road | None = None
    table: Table | None = None
    ego: BodyGroup | None = None
    arm: BodyGroup | None = None
    actors: list[BodyGroup] = Field(default_factory=list)
    objects: list[BodyGroup] = Field(default_factory=list)
    distractors: list[DistractorGroup] = Field(default_factory=list)

    def groups(self) -> list[tuple[str, BodyGroup]]:
        """Every body group with its field path, in build order."""
        out: list[tuple[str, BodyGroup]] = []
        if self.ego is not None:
            out.append(("world.ego", self.ego))
        if self.arm is not None:
            out.append(("world.arm", self.arm))
        out += [(f"world.actors[{i}]", g) for i, g in enumerate(self.actors)]
        out += [(f"world.objects[{i}]", g) for i, g in enumerate(self.objects)]
        out += [(f"world.distractors[{i}]", g) for i, g in enumerate(self.distractors)]
        return out


class Scenario(StrictModel):
    """A scenario: a family of worlds to sample episodes from, and how to capture them."""

    name: str = Field(pattern=r"^[A-Za-z0-9_\-]+$")
    domain: Literal["driving", "robotics"]
    seed: int = Field(0, ge=0, lt=2**63)
    episodes: int = Field(1, ge=1, le=10_000_000)
    duration_s: Number(gt=0, le=3600) = 5.0
    physics: Physics = Field(default_factory=Physics)
    capture: Capture = Field(default_factory=Capture)
    renderer: Literal["auto", "egl", "tiny"] = "auto"
    labels: Labels = Field(default_factory=Labels)
    export: Export = Field(default_factory=Export)
    lighting: Lighting = Field(default_factory=Lighting)
    weather: Weather = Field(default_factory=Weather)
    edge_cases: EdgeCases = Field(default_factory=EdgeCases)
    require: list[Constraint] = Field(default_factory=list)
    require_attempts: int = Field(100, ge=1, le=100_000)
    cameras: list[Camera] = Field(min_length=1)
    world: World
    sweep: Sweep | None = None

    @field_validator("cameras")
    @classmethod
    def _unique_camera_names(cls, cameras: list[Camera]) -> list[Camera]:
        names = [c.name for c in cameras]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"camera names must be unique; repeated: {', '.join(dupes)}")
        return cameras

    def semantic_classes(self) -> list[str]:
        """Every class the semantic masks use, ids from 1 in this order: the labeled
        classes (as in COCO), then unlabeled bodies' classes, then the scene's stuff."""
        out = self.classes()
        for _, group in self.world.groups():
            out += [name for name in group.classes() if name not in out]
        return out + [name for name in STUFF_CLASSES if name not in out]

    def classes(self) -> list[str]:
        """Labeled class names in order of first appearance (COCO category order)."""
        out: list[str] = []
        for _, group in self.world.groups():
            for name in group.classes() if group.labeled else []:
                if name not in out:
                    out.append(name)
        for case, settings in self.edge_cases:  # then what the edge cases may add
            for name in EDGE_CASES[case].classes(settings) if settings is not None else ():
                if name not in out:
                    out.append(name)
        return out


def cross_field_problems(s: Scenario, scenario_dir: Path):
    """Yield (loc, message) for rules that involve more than one field."""
    w = s.world
    if s.domain == "driving":
        if w.road is None:
            yield ("world", "road"), "a driving scenario needs a road"
        if w.ego is None:
            yield ("world", "ego"), "a driving scenario needs an ego vehicle"
        if w.table is not None:
            yield ("world", "table"), "a table belongs to a robotics scenario"
    else:
        if w.table is None:
            yield ("world", "table"), "a robotics scenario needs a table"
        if w.arm is None:
            yield ("world", "arm"), "a robotics scenario needs an arm"
        if w.road is not None:
            yield ("world", "road"), "a road belongs to a driving scenario"
    for single in ("ego", "arm"):
        group = getattr(w, single)
        if group is not None and group.count != Const(1):
            yield ("world", single, "count"), f"the {single} is one body: count must be 1"
    names: dict[str, tuple] = {}
    known_classes = {c for _, g in w.groups() for c in g.classes()}
    known_classes |= {a.default_class for a in ASSETS.values()}
    for path, group in w.groups():
        loc = _path_to_loc(path)
        if group.name in names:
            yield loc + ("name",), f"group name {group.name!r} is used twice"
        names[group.name] = loc
        typo = _near_miss(group.cls, known_classes) if group.cls is not None else None
        if typo:
            yield (loc + ("class",), f"class {group.cls!r} looks like a misspelling of "
                   f"{typo!r} (did you mean {typo!r}?); spell each class the same everywhere")
        kind = group.behaviour.kind
        if kind in DRIVING_BEHAVIOURS and s.domain != "driving":
            yield loc + ("behaviour", "kind"), f"behaviour {kind!r} needs a driving scenario"
        if kind in ROBOTICS_BEHAVIOURS and s.domain != "robotics":
            yield loc + ("behaviour", "kind"), f"behaviour {kind!r} needs a robotics scenario"
        region = group.placement.region
        if region in ("lane", "shoulder", "sidewalk") and s.domain != "driving":
            yield loc + ("placement", "region"), f"region {region!r} needs a road"
        lane = group.placement.lane
        if region == "lane" and lane is not None and w.road is not None:
            most = largest_int(w.road.lanes) + largest_int(w.road.oncoming_lanes)
            if smallest_int(lane) >= most:
                yield (loc + ("placement", "lane"),
                       f"lane {smallest_int(lane)} does not exist: the road has at most {most} "
                       f"lanes (0..{most - 1})")
        if region == "table" and s.domain != "robotics":
            yield loc + ("placement", "region"), "region 'table' needs a table"
        if region == "area" and (group.placement.x_m is None or group.placement.y_m is None):
            yield loc + ("placement",), "region 'area' needs x_m and y_m"
        if isinstance(group.asset, Const) and group.asset.value.endswith(".urdf"):
            if not Path(resolve_asset_path(group.asset.value, scenario_dir)).is_file():
                yield loc + ("asset",), f"asset file {group.asset.value!r} not found"
        if kind == "pick_and_place":
            target = group.behaviour.target_group
            objects = [g.name for g in w.objects]
            if target is not None and target not in objects:
                yield (loc + ("behaviour", "target_group"),
                       f"no object group {target!r}{did_you_mean(target, objects)}")
    camera_names = [c.name for c in s.cameras]
    for name, settings in s.edge_cases:
        if settings is None:
            continue
        case = EDGE_CASES[name]
        if case.domain != s.domain:
            yield ("edge_cases", name), f"edge case {name!r} needs a {case.domain} scenario"
        camera = getattr(settings, "camera", None)
        if camera is not None and camera not in camera_names:
            yield (("edge_cases", name, "camera"),
                   f"no camera {camera!r}{did_you_mean(camera, camera_names)}")
        for loc, message in case.problems(s, settings):
            yield ("edge_cases", name, *loc), message
    yield from _constraint_problems(s)
    if s.sweep is not None:
        for loc, message in design_problems(s.sweep):
            yield ("sweep", *loc), message
    actors = {g.name: g for _, g in w.groups()}
    for i, cam in enumerate(s.cameras):
        if cam.mount != "world" and cam.mount not in actors:
            yield (("cameras", i, "mount"),
                   f"unknown mount {cam.mount!r}{did_you_mean(cam.mount, ['world', *actors])}; "
                   "use 'world' or the name of a group with one body")
        elif cam.mount in actors and actors[cam.mount].count != Const(1):
            yield ("cameras", i, "mount"), f"group {cam.mount!r} needs count 1 to carry a camera"
        if cam.link is not None and cam.mount == "world":
            yield ("cameras", i, "link"), "a link needs a mount on an actor"


def _near_miss(name: str, known: set[str]) -> str | None:
    """A known class that ``name`` is almost but not exactly (a likely typo), else None."""
    others = sorted(k for k in known if k != name)
    close = difflib.get_close_matches(name, others, n=1, cutoff=0.9)
    return close[0] if close else None


def _path_to_loc(path: str) -> tuple:
    loc: list = []
    for part in path.replace("]", "").split("."):
        name, _, index = part.partition("[")
        loc.append(name)
        if index:
            loc.append(int(index))
    return tuple(loc)


def resolve_asset_path(asset: str, scenario_dir: Path) -> str:
    """Catalog ids stay as they are; a .urdf path becomes absolute (relative to the scenario)."""
    if asset in ASSETS:
        return asset
    path = Path(asset)
    return str(path if path.is_absolute() else (scenario_dir / path).resolve())


def _constraint_problems(s: Scenario):
    """Names in ``require`` must be groups, bodies or bodies of configured edge cases."""
    names: set[str] = set()
    for _, group in s.world.groups():
        names.add(group.name)
        largest = largest_int(group.count)
        names.update(f"{group.name}_{i}" for i in range(largest))
    for name, settings in s.edge_cases:
        if settings is not None:
            names.update(EDGE_CASES[name].adds)
    cameras = {c.name: c for c in s.cameras}
    for i, rule in enumerate(s.require):
        fields = [f for f in ("a", "b", "body") if hasattr(rule, f)]
        refs = [(f, getattr(rule, f)) for f in fields]
        refs += [(("bodies", k), n) for k, n in enumerate(getattr(rule, "bodies", None) or [])]
        for field, ref in refs:
            if ref not in names:
                loc = ("require", i, *(field if isinstance(field, tuple) else (field,)))
                yield loc, f"no body or group {ref!r}{did_you_mean(ref, sorted(names))}"
        if rule.kind == "in_view":
            cam = cameras.get(rule.camera)
            if cam is None:
                yield (("require", i, "camera"),
                       f"no camera {rule.camera!r}{did_you_mean(rule.camera, list(cameras))}")
            elif cam.link is not None:
                yield (("require", i, "camera"), f"camera {rule.camera!r} is on a link; "
                       "in_view needs a camera on the world or an actor's base")
