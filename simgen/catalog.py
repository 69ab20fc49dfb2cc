"""The asset catalog: every asset id a scenario may name, and where its file lives.

This module is plain data. The spec validates asset ids against it; the world
loads the files it points to. Paths are either inside ``pybullet_data`` or inside
simgen's own ``assets/`` folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from simgen.errors import SimgenError, did_you_mean


def _assets_dir() -> Path:
    """The authored assets: ``assets/`` of a checkout, or the installed ``simgen.assets``."""
    checkout = Path(__file__).resolve().parent.parent / "assets"
    if checkout.is_dir():
        return checkout
    return Path(__file__).resolve().parent / "assets"


ASSETS_DIR = _assets_dir()


@dataclass(frozen=True)
class AssetEntry:
    """One loadable asset.

    ``source`` is ``"pybullet_data"`` or ``"simgen"``; ``path`` is relative to it.
    ``base_scale`` is the ``globalScaling`` that brings the file to real-world size
    (before the scenario's own ``scale``). ``kind`` groups assets by what they can be
    used for (vehicle, pedestrian, obstacle, object, arm, furniture, cyclist, animal).
    ``base_rpy_deg`` is the rotation that makes the file's frame z-up and x-forward.
    ``size_m`` is the body's extent along its own x, y, z at ``base_scale`` (what sampling
    uses for constraint checks without loading the file; ``tests/test_assets.py`` checks it
    against the loaded body).
    ``recolour_links`` lists the link indices whose colour a scenario ``colour``
    replaces (-1 is the base); ``None`` means every link.
    """

    id: str
    source: str
    path: str
    kind: str
    default_class: str
    base_scale: float = 1.0
    recolour_links: tuple[int, ...] | None = None
    description: str = ""
    base_rpy_deg: tuple[float, float, float] = (0.0, 0.0, 0.0)
    size_m: tuple[float, float, float] | None = None

    def file(self) -> Path:
        """Absolute path of the asset file on this machine."""
        if self.source == "pybullet_data":
            import pybullet_data

            return Path(pybullet_data.getDataPath()) / self.path
        return ASSETS_DIR / self.path


ASSETS: dict[str, AssetEntry] = {}


def _add(entry: AssetEntry) -> None:
    ASSETS[entry.id] = entry


#: Classes of the scene's "stuff" (never labeled with boxes; in the semantic masks).
STUFF_CLASSES: tuple[str, ...] = ("ground", "road", "sidewalk", "lane_marking", "pole",
                                  "table")

KINDS: tuple[str, ...] = (
    "vehicle", "pedestrian", "obstacle", "object", "arm", "furniture", "cyclist", "animal",
)

# --- simgen's own assets (assets/; meshes from assets/make_meshes.py) ------------------
# Link indices follow each URDF's link order; the URDF header comments name the parts.

_add(
    AssetEntry(
        id="sedan",
        size_m=(4.5, 1.806, 1.453),
        source="simgen",
        path="driving/sedan.urdf",
        kind="vehicle",
        default_class="car",
        recolour_links=(-1, 0),
        description="4.5 x 1.8 x 1.45 m saloon car: painted body and cabin, glass band, "
        "4 black wheels on continuous joints",
    )
)
_add(
    AssetEntry(
        id="van",
        size_m=(5.2, 2.006, 2.303),
        source="simgen",
        path="driving/van.urdf",
        kind="vehicle",
        default_class="van",
        recolour_links=(-1, 0, 1),
        description="5.2 x 2.0 x 2.3 m box delivery van: painted body, cargo box and cab, "
        "glass band, 4 black wheels",
    )
)
_add(
    AssetEntry(
        id="pedestrian",
        size_m=(0.311, 0.52, 1.751),
        source="simgen",
        path="driving/pedestrian.urdf",
        kind="pedestrian",
        default_class="pedestrian",
        recolour_links=(-1, 3, 4),
        description="1.75 m articulated person facing +x; left/right_hip and left/right_shoulder "
        "swing about y; colour recolours the shirt",
    )
)
_add(
    AssetEntry(
        id="traffic_cone",
        size_m=(0.4, 0.4, 0.704),
        source="simgen",
        path="driving/traffic_cone.urdf",
        kind="obstacle",
        default_class="traffic_cone",
        recolour_links=(-1, 0),
        description="0.70 m orange traffic cone on a 0.40 m square base, white reflective band",
    )
)
_add(
    AssetEntry(
        id="barrier",
        size_m=(0.202, 1.202, 1.002),
        source="simgen",
        path="driving/barrier.urdf",
        kind="obstacle",
        default_class="barrier",
        recolour_links=(0,),
        description="1.2 m wide, 1.0 m tall red/white striped road barrier on two weighted legs",
    )
)
_add(
    AssetEntry(
        id="cardboard_box",
        size_m=(0.502, 0.4, 0.402),
        source="simgen",
        path="driving/cardboard_box.urdf",
        kind="obstacle",
        default_class="box",
        recolour_links=(-1,),
        description="0.50 x 0.40 x 0.40 m taped brown cardboard box lying on the road",
    )
)
_add(
    AssetEntry(
        id="block",
        size_m=(0.05, 0.05, 0.05),
        source="simgen",
        path="robotics/block.urdf",
        kind="object",
        default_class="block",
        description="5 cm red cube, 0.05 kg, lateral friction 1.0",
    )
)
_add(
    AssetEntry(
        id="can",
        size_m=(0.064, 0.064, 0.104),
        source="simgen",
        path="robotics/can.urdf",
        kind="object",
        default_class="can",
        recolour_links=(-1,),
        description="drinks can, radius 3 cm, 10 cm tall, aluminium lid",
    )
)
_add(
    AssetEntry(
        id="bottle",
        size_m=(0.078, 0.078, 0.186),
        source="simgen",
        path="robotics/bottle.urdf",
        kind="object",
        default_class="bottle",
        recolour_links=(-1,),
        description="18 cm plastic bottle, radius 3.5 cm, blue cap",
    )
)

# --- pybullet_data assets ----------------------------------------------------------
_add(
    AssetEntry(
        id="racecar",
        size_m=(3.996, 2.542, 1.533),
        source="pybullet_data",
        path="racecar/racecar.urdf",
        kind="vehicle",
        default_class="car",
        base_scale=8.75,
        recolour_links=(0,),
        description="1/10 RC car (MIT racecar) scaled to 4.0 m long; forward is +x; "
        "wide for a car (2.6 m); colour recolours the chassis",
    )
)
_add(
    AssetEntry(
        id="table",
        size_m=(1.502, 1.002, 0.052),
        source="pybullet_data",
        path="table/table.urdf",
        kind="furniture",
        default_class="table",
        recolour_links=(),
        description="1.5 x 1.0 m table, top at 0.6 m; its legs are visual only, so the "
        "collision AABB is the 5 cm top alone",
    )
)
_add(
    AssetEntry(
        id="tray",
        size_m=(0.602, 0.602, 0.139),
        source="pybullet_data",
        path="tray/traybox.urdf",
        kind="furniture",
        default_class="tray",
        description="0.6 x 0.6 m shallow metal tray, 0.14 m tall",
    )
)
_add(
    AssetEntry(
        id="panda",
        size_m=(0.345, 0.267, 1.123),
        source="pybullet_data",
        path="franka_panda/panda.urdf",
        kind="arm",
        default_class="robot_arm",
        recolour_links=(),
        description="Franka Emika Panda 7-DoF arm with parallel gripper (load with a fixed base)",
    )
)
_add(
    AssetEntry(
        id="kuka_iiwa",
        size_m=(0.263, 0.259, 1.312),
        source="pybullet_data",
        path="kuka_iiwa/model.urdf",
        kind="arm",
        default_class="robot_arm",
        recolour_links=(),
        description="KUKA LBR iiwa 7-DoF arm without gripper (load with a fixed base)",
    )
)
_add(
    AssetEntry(
        id="duck",
        size_m=(0.074, 0.054, 0.07),
        source="pybullet_data",
        path="duck_vhacd.urdf",
        kind="object",
        default_class="duck",
        base_scale=0.8,
        description="yellow rubber duck, 7 cm after scaling (its file frame is y-up, hence "
        "the +90 deg roll)",
        base_rpy_deg=(90.0, 0.0, 0.0),
    )
)
_add(
    AssetEntry(
        id="lego",
        size_m=(0.034, 0.034, 0.025),
        source="pybullet_data",
        path="lego/lego.urdf",
        kind="object",
        default_class="lego",
        description="yellow 2x2 building brick, 3.4 cm square",
    )
)
_add(
    AssetEntry(
        id="mug",
        size_m=(0.088, 0.128, 0.106),
        source="pybullet_data",
        path="objects/mug.urdf",
        kind="object",
        default_class="mug",
        description="red mug with handle, 10.6 cm tall",
    )
)
_add(
    AssetEntry(
        id="cube_small",
        size_m=(0.05, 0.05, 0.05),
        source="pybullet_data",
        path="cube_small.urdf",
        kind="object",
        default_class="cube",
        description="5 cm cube",
    )
)
_add(
    AssetEntry(
        id="sphere_small",
        size_m=(0.06, 0.06, 0.06),
        source="pybullet_data",
        path="sphere_small.urdf",
        kind="object",
        default_class="sphere",
        description="6 cm ball (rolls)",
    )
)
_add(
    AssetEntry(
        id="jenga",
        size_m=(0.15, 0.05, 0.03),
        source="pybullet_data",
        path="jenga/jenga.urdf",
        kind="object",
        default_class="jenga_block",
        description="15 x 5 x 3 cm wooden Jenga block",
    )
)
# Procedural blobs; the source files are about 13 cm, scaled to about 7 cm. (The ones
# already under 8 cm in pybullet_data are open shells, which render badly.)
for _number, _scale, _look, _size in (
    ("000", 0.55, "flat blue blob with two fins", (0.056, 0.072, 0.023)),
    ("002", 0.55, "flat green T-shaped blob", (0.057, 0.074, 0.024)),
    ("005", 0.55, "flat purple T-shaped blob", (0.057, 0.074, 0.025)),
    ("008", 0.7, "knobbly green blob", (0.069, 0.07, 0.069)),
):
    _add(
        AssetEntry(
            id=f"random_object_{_number}",
            source="pybullet_data",
            path=f"random_urdfs/{_number}/{_number}.urdf",
            kind="object",
            default_class="random_object",
            base_scale=_scale,
            description=f"about 7 cm {_look} (procedural random object {_number})",
            size_m=_size,
        )
    )
del _number, _scale, _look, _size

# --- simgen's own assets for rare driving events (assets/driving/) ----------------------
_add(
    AssetEntry(
        id="cyclist",
        size_m=(1.806, 0.615, 1.744),
        source="simgen",
        path="driving/cyclist.urdf",
        kind="cyclist",
        default_class="cyclist",
        recolour_links=(2,),
        description="1.8 m long, 1.75 m tall rider on a bicycle (0.68 m wheels on continuous "
        "joints), facing +x; cannot balance on its own (load with a fixed base); colour "
        "recolours the jersey",
    )
)
_add(
    AssetEntry(
        id="deer",
        size_m=(1.535, 0.382, 1.328),
        source="simgen",
        path="driving/deer.urdf",
        kind="animal",
        default_class="animal",
        recolour_links=(-1, 1, 2, 3, 4),
        description="1.5 m long deer, 1.3 m tall at the ears, facing +x; legs on "
        "left/right_shoulder and left/right_hip (revolute about y, a trot for the walk "
        "cycle); colour recolours the coat",
    )
)
_add(
    AssetEntry(
        id="dog",
        size_m=(0.86, 0.262, 0.603),
        source="simgen",
        path="driving/dog.urdf",
        kind="animal",
        default_class="animal",
        recolour_links=(-1, 1, 2, 3, 4),
        description="0.85 m long, 0.6 m tall dog facing +x; legs jointed like the deer's; "
        "colour recolours the coat",
    )
)
_add(
    AssetEntry(
        id="tyre",
        size_m=(0.654, 0.654, 0.204),
        source="simgen",
        path="driving/tyre.urdf",
        kind="obstacle",
        default_class="debris",
        recolour_links=(),
        description="lost car wheel lying flat: 0.65 m black tyre, 0.2 m thick, on a grey "
        "steel rim, 18 kg",
    )
)
_add(
    AssetEntry(
        id="crate",
        size_m=(0.802, 0.602, 0.502),
        source="simgen",
        path="driving/crate.urdf",
        kind="obstacle",
        default_class="debris",
        recolour_links=(-1,),
        description="0.80 x 0.60 x 0.50 m wooden crate of lost cargo, 20 kg; colour "
        "recolours the boards, not the battens",
    )
)


Size3 = tuple[float, float, float]


def asset_size_m(asset: str, scale: float = 1.0, unknown: Size3 = (0.5, 0.5, 0.5)) -> Size3:
    """Extent (m) of an asset along its own x, y, z at ``scale``; ``unknown`` for an asset
    the catalog does not describe (a scenario's own .urdf)."""
    entry = ASSETS.get(asset)
    size = entry.size_m if entry is not None and entry.size_m is not None else unknown
    return (size[0] * scale, size[1] * scale, size[2] * scale)


def assets_of_kind(kind: str) -> list[str]:
    """Sorted ids of every catalog asset of ``kind`` (one of ``KINDS``)."""
    if kind not in KINDS:
        raise SimgenError(
            f"unknown asset kind '{kind}'{did_you_mean(kind, KINDS)}; kinds are {', '.join(KINDS)}"
        )
    return sorted(asset_id for asset_id, entry in ASSETS.items() if entry.kind == kind)
