"""Effects stage: each physical model checked on synthetic scenes built here in numpy.

Scenes: a camera 1.5 m above a flat ground (z = 0) looking along world +x, vertical
walls facing it, sky above the horizon. Expected values are computed independently
from the physics (ray geometry, Koschmieder, inverse-square law, sensor statistics).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from simgen.effects import (
    CameraFrame,
    EpisodeEffects,
    colour_temperature_rgb,
    fog_transmittance,
    object_visibility,
    renderer_light_direction,
    sun_direction,
)
from simgen.effects.colour import SRGB_TO_LINEAR, encode_srgb, image_luminance
from simgen.effects.geometry import pixel_rays
from simgen.effects.motion_blur import blur_flow_px
from simgen.sampling.conditions import (
    Atmosphere,
    FogParams,
    GlareParams,
    LensParams,
    LightingParams,
    LowLightParams,
    MotionBlurParams,
    NoiseParams,
    PointLight,
    RainParams,
    SnowParams,
    WeatherParams,
)

Y709 = np.array([0.2126, 0.7152, 0.0722])
DAY = LightingParams(sun_azimuth_deg=180.0, sun_elevation_deg=50.0)  # sun behind the camera
DUSK = LightingParams("dusk", sun_azimuth_deg=180.0, sun_elevation_deg=4.0,
                      colour_temperature_k=3200.0)
NIGHT = LightingParams("night", sun_elevation_deg=-20.0, colour_temperature_k=8000.0)


# --- Synthetic scenes -------------------------------------------------------------------

@dataclasses.dataclass
class Wall:
    """A vertical rectangle facing the camera at x = distance_m."""

    distance_m: float
    rgb: tuple[int, int, int]
    instance: int
    y_half_m: float = 100.0
    z_range_m: tuple[float, float] = (-1e4, 1e4)
    y_centre_m: float = 0.0


def camera_pose(eye=(0.0, 0.0, 1.5), pitch_deg: float = 0.0) -> np.ndarray:
    """cam_to_world of a camera looking along +x, pitched down by ``pitch_deg``."""
    p = math.radians(pitch_deg)
    forward = np.array([math.cos(p), 0.0, -math.sin(p)])
    right = np.array([0.0, -1.0, 0.0])
    down = np.cross(forward, right)
    pose = np.eye(4)
    pose[:3, :3] = np.column_stack([right, down, forward])
    pose[:3, 3] = eye
    return pose


def intrinsics(width: int, height: int, vfov_deg: float = 60.0) -> np.ndarray:
    f = (height / 2) / math.tan(math.radians(vfov_deg) / 2)
    return np.array([[f, 0, (width - 1) / 2], [0, f, (height - 1) / 2], [0, 0, 1.0]])


def make_frame(width=160, height=120, walls=(), ground_rgb=(110, 110, 110), checker_m=None,
               pose=None, velocity=(0.0, 0.0, 0.0), ground=True) -> CameraFrame:
    """Ray-cast the ground plane and walls; sky where nothing is hit."""
    K = intrinsics(width, height)
    pose = camera_pose() if pose is None else pose
    u, v = np.meshgrid(np.arange(width), np.arange(height))
    rays_cam = np.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], np.ones(u.shape)], -1)
    rays = rays_cam @ pose[:3, :3].T  # world direction per unit z-depth
    eye = pose[:3, 3]
    depth = np.full((height, width), np.inf)
    rgb = np.zeros((height, width, 3), np.uint8)
    rgb[:] = (140, 180, 220)
    instance = np.zeros((height, width), np.uint16)
    with np.errstate(divide="ignore", invalid="ignore"):
        if ground:
            t = np.where(rays[..., 2] < -1e-9, -eye[2] / rays[..., 2], np.inf)
            hit = np.isfinite(t) & (t < 1000)
            depth[hit] = t[hit]
            rgb[hit] = ground_rgb
            if checker_m:
                p = eye + rays * np.where(hit, t, 0)[..., None]
                dark = hit & ((np.floor(p[..., 0] / checker_m) + np.floor(p[..., 1] / checker_m))
                              % 2 == 0)
                rgb[dark] = np.array(ground_rgb) // 3
        for wall in walls:
            t = (wall.distance_m - eye[0]) / rays[..., 0]
            p = eye + rays * t[..., None]
            hit = ((t > 0) & (t < depth) & (np.abs(p[..., 1] - wall.y_centre_m) <= wall.y_half_m)
                   & (p[..., 2] >= wall.z_range_m[0]) & (p[..., 2] <= wall.z_range_m[1]))
            depth[hit] = t[hit]
            rgb[hit] = wall.rgb
            instance[hit] = wall.instance
    depth[~np.isfinite(depth)] = 0
    return CameraFrame(rgb, depth.astype(np.float32), instance, K, pose, tuple(velocity))


def project(frame: CameraFrame, point_world) -> tuple[int, int]:
    """Nearest pixel (u, v) of a world point, computed from K and the pose directly."""
    R, t = frame.cam_to_world[:3, :3], frame.cam_to_world[:3, 3]
    x, y, z = R.T @ (np.asarray(point_world, float) - t)
    return int(round(frame.K[0, 0] * x / z + frame.K[0, 2])), int(round(frame.K[1, 1] * y / z
                                                                          + frame.K[1, 2]))


def run(frame: CameraFrame, lighting=DAY, lights=(), seed=0, **weather) -> object:
    atmosphere = Atmosphere(lighting, WeatherParams(**weather))
    height, width = frame.depth_m.shape
    effects = EpisodeEffects(atmosphere, width, height, np.random.default_rng(seed))
    return effects.apply(frame, list(lights), np.random.default_rng(seed + 1))


def luminance(img: np.ndarray) -> np.ndarray:
    return np.asarray(img, float) @ Y709


def ray_distance(frame: CameraFrame) -> np.ndarray:
    """Distance along each pixel's ray, from z-depth (independent of the package)."""
    height, width = frame.depth_m.shape
    u, v = np.meshgrid(np.arange(width), np.arange(height))
    K = frame.K
    return frame.depth_m * np.sqrt(((u - K[0, 2]) / K[0, 0]) ** 2
                                   + ((v - K[1, 2]) / K[1, 1]) ** 2 + 1)


# --- Fog (Koschmieder) ------------------------------------------------------------------

def test_transmittance_at_the_visibility_distance_is_two_percent():
    assert fog_transmittance(250.0, 250.0) == pytest.approx(0.02, abs=0.005)
    distances = np.array([0.0, 125.0, 250.0])
    assert np.allclose(fog_transmittance(distances, 250.0), np.exp(-3.912 * distances / 250))


def test_fog_follows_koschmieder_pixelwise():
    frame = make_frame(walls=[Wall(40.0, (200, 60, 60), 1, y_half_m=3, z_range_m=(0, 4))],
                       checker_m=2.0)
    fog = FogParams(visibility_m=80.0, airlight_rgb=(0.7, 0.75, 0.8))
    result = run(frame, fog=fog)
    t = np.exp(-3.912 * ray_distance(frame) / 80.0)
    t[frame.depth_m == 0] = 0.0
    airlight = np.array(fog.airlight_rgb)  # day, 6500 K: scene light factor 1
    expected = np.clip(result.lit_linear * t[..., None] + airlight * (1 - t[..., None]), 0, 1)
    assert np.abs(result.final_linear - expected).max() < 2e-5
    assert np.allclose(result.final_linear[frame.depth_m == 0], airlight, atol=1e-6)


def test_contrast_falls_strictly_as_visibility_drops():
    frame = make_frame(walls=[Wall(60.0, (30, 30, 30), 1, y_half_m=1.5, z_range_m=(0.5, 2.5)),
                              Wall(60.5, (220, 220, 220), 2)], ground=False)
    contrasts = []
    for visibility in (5000.0, 600.0, 200.0, 90.0, 40.0):
        result = run(frame, fog=FogParams(visibility))
        vis = object_visibility(frame.instance, [1], frame.depth_m, frame.K, result.lit_linear,
                                result.final_linear, FogParams(visibility))
        contrasts.append(vis[1].contrast)
    assert all(a > b for a, b in zip(contrasts, contrasts[1:], strict=False))


def _target_on_wall(distance_m: float, wall_rgb=(210, 210, 210), target_rgb=(40, 40, 40)):
    """A dark square patch (id 1) painted on a wall (id 2) at one depth, centred in view."""
    return make_frame(walls=[Wall(distance_m, target_rgb, 1, y_half_m=0.06 * distance_m,
                                  z_range_m=(1.5 - 0.06 * distance_m, 1.5 + 0.06 * distance_m)),
                             Wall(distance_m + 1e-3, wall_rgb, 2)], ground=False)


def test_target_at_the_visibility_distance_keeps_two_percent_of_its_contrast():
    visibility_m = 150.0
    frame = _target_on_wall(visibility_m)
    wall_linear = SRGB_TO_LINEAR[210]
    # Koschmieder's setting: the surround is as bright as the airlight (horizon sky).
    fog = FogParams(visibility_m, airlight_rgb=(wall_linear,) * 3)
    result = run(frame, fog=fog)
    vis = object_visibility(frame.instance, [1, 2], frame.depth_m, frame.K, result.lit_linear,
                            result.final_linear, fog)[1]
    assert vis.distance_m == pytest.approx(visibility_m, rel=0.01)
    assert vis.fog_transmittance == pytest.approx(0.02, abs=0.005)
    assert vis.visibility == pytest.approx(vis.fog_transmittance, rel=0.02)
    # The recorded contrast over the clean contrast, measured here from the images.
    target, wall = frame.instance == 1, frame.instance == 2
    lf, ll = luminance(result.final_linear), luminance(result.lit_linear)
    ratio = (lf[wall].mean() - lf[target].mean()) / (ll[wall].mean() - ll[target].mean())
    assert ratio == pytest.approx(vis.fog_transmittance, rel=0.02)


def test_visibility_in_fog_follows_from_transmittance_and_airlight():
    # Same depth, surround brighter than nothing but unlike the airlight: Weber contrast
    # scales by t L_s / (t L_s + A (1 - t)), which is t when L_s equals the airlight.
    frame = _target_on_wall(40.0, wall_rgb=(120, 120, 120))
    fog = FogParams(120.0)
    result = run(frame, fog=fog)
    vis = object_visibility(frame.instance, [1], frame.depth_m, frame.K, result.lit_linear,
                            result.final_linear, fog)[1]
    t = math.exp(-3.912 * vis.distance_m / 120.0)
    assert vis.fog_transmittance == pytest.approx(t, rel=1e-4)
    surround = SRGB_TO_LINEAR[120]
    airlight = float(np.dot(Y709, fog.airlight_rgb))
    assert vis.visibility == pytest.approx(t * surround / (t * surround + airlight * (1 - t)),
                                           rel=0.02)


def test_object_visibility_leaves_out_absent_ids_and_is_one_without_weather():
    frame = _target_on_wall(30.0)
    result = run(frame)
    report = object_visibility(frame.instance, [1, 7], frame.depth_m, frame.K,
                               result.lit_linear, result.final_linear, None)
    assert set(report) == {1}
    assert report[1].fog_transmittance == 1.0
    assert report[1].visibility == pytest.approx(1.0, abs=0.01)
    assert report[1].contrast > 0.5


def test_object_without_surround_gets_the_fog_transmittance():
    frame = make_frame(walls=[Wall(30.0, (90, 90, 90), 3)], ground=False)
    fog = FogParams(100.0)
    result = run(frame, fog=fog)
    vis = object_visibility(frame.instance, [3], frame.depth_m, frame.K, result.lit_linear,
                            result.final_linear, fog)[3]
    assert vis.contrast == 0.0
    assert vis.visibility == vis.fog_transmittance == pytest.approx(
        math.exp(-3.912 * vis.distance_m / 100.0))


# --- Lighting -----------------------------------------------------------------------------

def test_mean_luminance_day_above_dusk_above_night():
    frame = make_frame(walls=[Wall(30.0, (150, 120, 90), 1, y_half_m=4, z_range_m=(0, 3))])
    means = [run(frame, lighting=lighting).values["mean_luminance"]
             for lighting in (DAY, DUSK, NIGHT)]
    assert means[0] > means[1] > means[2] > 0


def test_colour_temperature_is_neutral_at_6500k_and_redder_when_lower():
    assert np.allclose(colour_temperature_rgb(6500.0), 1.0, atol=1e-6)
    ratios = [colour_temperature_rgb(k)[0] / colour_temperature_rgb(k)[2]
              for k in (2000, 3000, 4500, 6500, 9000, 15000)]
    assert all(a > b for a, b in zip(ratios, ratios[1:], strict=False))
    frame = make_frame(ground_rgb=(128, 128, 128))
    means = {}
    for kelvin in (3000.0, 9000.0):
        lit = run(frame, lighting=dataclasses.replace(DAY, colour_temperature_k=kelvin))
        ground = lit.final_linear[frame.depth_m > 0]
        means[kelvin] = ground[:, 0].mean() / ground[:, 2].mean()
    assert means[3000.0] > 1.5 and means[9000.0] < 0.8


def test_blackbody_chromaticity_matches_cie_illuminant_a():
    from simgen.effects.colour import _XYZ_TO_LINEAR_SRGB, _blackbody_linear_srgb

    xyz = np.linalg.solve(_XYZ_TO_LINEAR_SRGB, _blackbody_linear_srgb(2856.0))
    x, y = xyz[:2] / xyz.sum()
    assert (x, y) == pytest.approx((0.44757, 0.40745), abs=0.003)  # CIE illuminant A


def test_sun_and_renderer_light_directions():
    east = LightingParams(sun_azimuth_deg=90.0, sun_elevation_deg=0.0)
    assert np.allclose(sun_direction(east), (0, 1, 0), atol=1e-12)
    high = LightingParams(sun_azimuth_deg=30.0, sun_elevation_deg=40.0)
    assert np.allclose(renderer_light_direction(high), sun_direction(high))
    set_sun = dataclasses.replace(high, sun_elevation_deg=-10.0)
    direction = np.array(renderer_light_direction(set_sun))
    assert math.degrees(math.asin(direction[2])) == pytest.approx(60.0)
    assert math.degrees(math.atan2(direction[1], direction[0])) == pytest.approx(30.0)


def _looking_down(width=320, height=240, height_m=10.0):
    pose = camera_pose(eye=(0.0, 0.0, height_m), pitch_deg=90.0)
    return make_frame(width, height, ground_rgb=(150, 150, 150), pose=pose)


def test_street_lamp_lights_the_ground_with_the_inverse_square_law():
    frame = _looking_down()
    lamp = PointLight((3.0, 0.0, 3.0), None, 180.0, 2.0, 6500.0)
    dark = run(frame, lighting=NIGHT)
    lit = run(frame, lighting=NIGHT, lights=[lamp])
    albedo = SRGB_TO_LINEAR[150]
    added = []
    for offset in (0.0, 2.0, 4.0):
        u, v = project(frame, (3.0, offset, 0.0))
        gain = lit.lit_linear[v, u, 1] - dark.lit_linear[v, u, 1]
        d2 = 9.0 + offset ** 2
        expected = albedo * lamp.intensity * (3.0 / math.sqrt(d2)) / d2
        assert gain == pytest.approx(expected, rel=0.08)
        added.append(gain)
    assert added[0] > added[1] > added[2] > 0


def test_headlight_lights_inside_its_cone_only():
    frame = make_frame(320, 240, ground_rgb=(150, 150, 150),
                       pose=camera_pose(eye=(-1.0, 0.0, 1.5), pitch_deg=5.0))
    headlight = PointLight((0.0, 0.0, 0.7), (1.0, 0.0, -0.12), 10.0, 40.0, 6500.0)
    dark = run(frame, lighting=NIGHT)
    lit = run(frame, lighting=NIGHT, lights=[headlight])
    gain = lit.lit_linear[..., 1] - dark.lit_linear[..., 1]
    on_axis = project(frame, (4.0, 0.0, 0.0))  # 3 deg off the spot's axis
    aside = project(frame, (4.0, 1.5, 0.0))  # 20 deg off it
    d2 = 4.0 ** 2 + 0.7 ** 2
    expected = SRGB_TO_LINEAR[150] * headlight.intensity * (0.7 / math.sqrt(d2)) / d2
    assert gain[on_axis[1], on_axis[0]] == pytest.approx(expected, rel=0.1)
    assert gain[aside[1], aside[0]] == 0.0
    assert lit.values["lights_in_view"] == 0  # the lamp itself is below the view


def test_lamps_in_view_are_drawn_unless_occluded():
    lamp = PointLight((20.0, 0.0, 3.0), None, 180.0, 10.0, 3000.0)
    open_view = make_frame()
    lit = run(open_view, lighting=NIGHT, lights=[lamp])
    u, v = project(open_view, lamp.position_m)
    assert lit.values["lights_in_view"] == 1
    assert lit.final_linear[v, u].min() == 1.0  # the emitter saturates the pixel
    behind_wall = make_frame(walls=[Wall(10.0, (120, 120, 120), 1)])
    hidden = run(behind_wall, lighting=NIGHT, lights=[lamp])
    dark = run(behind_wall, lighting=NIGHT)
    assert hidden.values["lights_in_view"] == 0
    wall = behind_wall.instance == 1
    assert np.array_equal(hidden.rgb[wall], dark.rgb[wall])  # it lights the wall's far side


# --- Surfaces ---------------------------------------------------------------------------

def test_wetness_darkens_upward_surfaces_and_shines_at_grazing_angles():
    frame = make_frame(ground_rgb=(220, 220, 220),
                       walls=[Wall(12.0, (180, 90, 60), 1, y_half_m=2, z_range_m=(0, 3))])
    dry = run(frame)
    wet = run(frame, rain=RainParams(rate_mm_per_h=5.0, wetness=1.0))
    ratio = luminance(wet.lit_linear) / np.maximum(luminance(dry.lit_linear), 1e-9)
    steep = ratio[-10:, :].mean()  # ground just below the camera, seen steeply
    grazing = ratio[frame.instance == 0][frame.depth_m[frame.instance == 0] > 40].mean()
    # albedo x (1 - 0.5), plus a reflection of a few % at ~60 deg incidence
    assert 0.5 < steep < 0.6
    assert grazing > steep  # Fresnel: the sky reflection grows towards grazing view
    wall = frame.instance == 1
    assert np.allclose(wet.lit_linear[wall], dry.lit_linear[wall])


def test_snow_cover_whitens_upward_surfaces_only():
    frame = make_frame(ground_rgb=(70, 70, 70),
                       walls=[Wall(12.0, (70, 70, 70), 1, y_half_m=2, z_range_m=(0, 3))])
    clear = run(frame)
    snowy = run(frame, snow=SnowParams(intensity=0.5, accumulation=0.8))
    ground = (frame.instance == 0) & (frame.depth_m > 0)
    wall = frame.instance == 1
    assert luminance(snowy.lit_linear)[ground].mean() > 2 * luminance(clear.lit_linear)[
        ground].mean()
    assert np.allclose(snowy.lit_linear[wall], clear.lit_linear[wall])
    assert snowy.values["snow_flakes"] > 0


# --- Precipitation ------------------------------------------------------------------------

def _mean_value(frame, key, seeds=range(3), **weather):
    return np.mean([run(frame, seed=s, **weather).values[key] for s in seeds])


def test_rain_streaks_grow_in_number_with_rate_and_in_length_with_speed():
    frame = make_frame(320, 240)
    counts = [_mean_value(frame, "rain_streaks", rain=RainParams(rate)) for rate in
              (1.0, 5.0, 25.0)]
    assert counts[0] < counts[1] < counts[2]
    lengths = [_mean_value(dataclasses.replace(frame, velocity_world_mps=(speed, 0.0, 0.0)),
                           "rain_streak_mean_px", rain=RainParams(10.0))
               for speed in (0.0, 8.0, 20.0)]
    assert lengths[0] < lengths[1] < lengths[2]


def test_rain_is_not_drawn_behind_a_nearer_surface():
    frame = make_frame(walls=[Wall(0.55, (90, 90, 90), 1)], ground=False)
    result = run(frame, rain=RainParams(50.0, wetness=1.0))
    assert result.values["rain_streaks"] > 0  # drops were placed, but all behind the wall
    assert np.array_equal(result.final_linear, np.clip(result.lit_linear, 0, 1))


# --- Glare --------------------------------------------------------------------------------

def _glare_gain(lighting):
    frame = make_frame()
    plain = run(frame, lighting=lighting)
    glared = run(frame, lighting=lighting, glare=GlareParams(0.6))
    return frame, plain, glared


def test_glare_brightens_around_the_sun_in_view_and_not_when_behind():
    front = LightingParams(sun_azimuth_deg=0.0, sun_elevation_deg=8.0)
    frame, plain, glared = _glare_gain(front)
    assert glared.values["sun_in_view"] == 1.0
    u, v = glared.values["sun_u_px"], glared.values["sun_v_px"]
    su, sv = project(frame, np.array([0.0, 0.0, 1.5]) + 1e4 * sun_direction(front))
    assert (u, v) == pytest.approx((su, sv), abs=0.6)
    # ground 12 deg below the sun: not saturated, but veiled
    below = int(round(sv + frame.K[1, 1] * math.tan(math.radians(12))))
    patch = np.s_[below - 2:below + 3, su - 2:su + 3]
    assert (luminance(glared.final_linear[patch]).mean()
            > luminance(plain.final_linear[patch]).mean() + 0.02)
    _, plain_behind, glared_behind = _glare_gain(DAY)
    assert glared_behind.values["sun_in_view"] == 0.0
    assert math.isnan(glared_behind.values["sun_u_px"])
    assert np.array_equal(glared_behind.rgb, plain_behind.rgb)


# --- Motion blur ----------------------------------------------------------------------------

def test_blur_flow_matches_the_projected_motion_of_a_static_point():
    frame = make_frame(checker_m=1.0)
    velocity = np.array([12.0, 1.5, 0.3])
    exposure = 0.01
    rays = pixel_rays(frame.K, 160, 120)
    du, dv = blur_flow_px(frame.depth_m, rays, frame.cam_to_world, velocity, exposure)
    K, pose = frame.K, frame.cam_to_world

    def pixel(point, pose):  # continuous projection
        x, y, z = pose[:3, :3].T @ (point - pose[:3, 3])
        return np.array([K[0, 0] * x / z + K[0, 2], K[1, 1] * y / z + K[1, 2]])

    moved = pose.copy()
    moved[:3, 3] += velocity * 1e-4
    for u, v in ((20, 70), (80, 100), (150, 119), (60, 62)):
        ray = pose[:3, :3] @ np.array([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], 1.0])
        point = pose[:3, 3] + ray * (-pose[2, 3] / ray[2])  # where the ray meets the ground
        rate = (pixel(point, moved) - pixel(point, pose)) / 1e-4
        assert (du[v, u], dv[v, u]) == pytest.approx(tuple(rate * exposure), rel=0.02,
                                                     abs=1e-4)
    # driving forward, ground below the horizon streams down and away from the centre
    forward_du, forward_dv = blur_flow_px(frame.depth_m, rays, frame.cam_to_world,
                                          (10.0, 0, 0), exposure)
    assert forward_dv[110, 80] > 0 and forward_du[110, 10] < 0 < forward_du[110, 150]


def _gradient_energy(img):
    y = luminance(img)
    return float(np.mean(np.diff(y, axis=1) ** 2) + np.mean(np.diff(y, axis=0) ** 2))


def test_motion_blur_is_identity_at_rest_and_blurs_near_more_than_far():
    def checker_wall(distance):
        frame = make_frame(walls=[Wall(distance, (200, 200, 200), 1)], ground=False)
        u, v = np.meshgrid(np.arange(160), np.arange(120))
        rgb = frame.rgb.copy()
        rgb[((u // 4 + v // 4) % 2) == 0] = (30, 30, 30)
        return dataclasses.replace(frame, rgb=rgb)

    blur = MotionBlurParams(exposure_s=0.02)
    still = checker_wall(3.0)
    assert np.array_equal(run(still, motion_blur=blur).rgb, run(still).rgb)
    kept = {}
    for distance in (3.0, 30.0):
        moving = dataclasses.replace(checker_wall(distance), velocity_world_mps=(0, 10.0, 0))
        sharp = run(moving).final_linear
        blurred = run(moving, motion_blur=blur)
        kept[distance] = _gradient_energy(blurred.final_linear) / _gradient_energy(sharp)
    assert kept[3.0] < 0.5 * kept[30.0] and kept[30.0] < 1.0


# --- Lens --------------------------------------------------------------------------------

def test_lens_droplets_change_the_image_only_inside_them():
    frame = make_frame(checker_m=1.0)
    atmosphere = Atmosphere(DAY, WeatherParams(lens=LensParams(dirt=0.0, droplets=6)))
    effects = EpisodeEffects(atmosphere, 160, 120, np.random.default_rng(3))
    with_drops = effects.apply(frame, [], np.random.default_rng(0)).final_linear
    clean = run(frame).final_linear
    changed = np.any(with_drops != clean, axis=-1)
    u, v = np.meshgrid(np.arange(160), np.arange(120))
    inside = np.zeros_like(changed)
    for drop in effects.lens.droplets:
        cu, cv = drop.centre_px
        inside |= np.hypot(u - cu, v - cv) <= drop.radius_px + 1.0
    assert changed.any()
    assert not (changed & ~inside).any()


# --- Sensor ---------------------------------------------------------------------------------

def _flat_wall(rgb=(200, 200, 200)):
    return make_frame(walls=[Wall(5.0, rgb, 1)], ground=False)


@pytest.mark.parametrize("lighting", [DAY, dataclasses.replace(NIGHT, intensity=3.0)],
                         ids=["day", "night"])
def test_noise_variance_matches_shot_plus_read_noise(lighting):
    frame = _flat_wall()  # bright enough that the noise stays clear of 0 and 1 (no clipping)
    noise = NoiseParams(full_well_e=4000.0, read_noise_e=5.0)
    result = run(frame, lighting=lighting, noise=noise)
    gain = {"day": 1.0, "night": 16.0}[lighting.time_of_day]
    level = result.lit_linear[..., 1]
    expected = level * gain / noise.full_well_e + (gain * noise.read_noise_e
                                                    / noise.full_well_e) ** 2
    residual = result.final_linear[..., 1] - level
    assert residual.var() == pytest.approx(expected.mean(), rel=0.1)
    assert abs(residual.mean()) < 3 * math.sqrt(expected.mean() / residual.size)


def test_night_is_noisier_than_day():
    frame = _flat_wall()
    noise = NoiseParams()
    variances = {}
    for lighting in (DAY, NIGHT):
        result = run(frame, lighting=lighting, noise=noise)
        variances[lighting.time_of_day] = np.var(result.final_linear - result.lit_linear)
    assert variances["night"] > 2 * variances["day"]


def test_low_light_scales_the_recorded_light():
    frame = make_frame(walls=[Wall(20.0, (120, 100, 80), 1, y_half_m=3, z_range_m=(0, 3))])
    normal = run(frame).values["mean_luminance"]
    dim = run(frame, low_light=LowLightParams(exposure_ev=-2.0)).values["mean_luminance"]
    assert dim == pytest.approx(normal / 4, rel=0.01)


# --- Pipeline contract ----------------------------------------------------------------------

EVERYTHING = dict(fog=FogParams(200.0), rain=RainParams(10.0), snow=SnowParams(0.4),
                  glare=GlareParams(), motion_blur=MotionBlurParams(), noise=NoiseParams(),
                  lens=LensParams(0.3, 4), low_light=LowLightParams(-0.5))


def test_same_seed_same_bytes_and_inputs_untouched():
    frame = dataclasses.replace(
        make_frame(walls=[Wall(25.0, (150, 60, 60), 1, y_half_m=2, z_range_m=(0, 2))],
                   checker_m=1.0), velocity_world_mps=(8.0, 0.0, 0.0))
    copies = [a.copy() for a in (frame.rgb, frame.depth_m, frame.instance)]
    lamp = PointLight((10.0, 2.0, 4.0), None, 180.0, 5.0, 2500.0)
    first = run(frame, lighting=DUSK, lights=[lamp], seed=11, **EVERYTHING)
    again = run(frame, lighting=DUSK, lights=[lamp], seed=11, **EVERYTHING)
    other = run(frame, lighting=DUSK, lights=[lamp], seed=12, **EVERYTHING)
    assert first.rgb.tobytes() == again.rgb.tobytes()
    assert first.rgb.tobytes() != other.rgb.tobytes()
    for before, after in zip(copies, (frame.rgb, frame.depth_m, frame.instance), strict=True):
        assert np.array_equal(before, after)
    assert first.rgb.dtype == np.uint8 and first.rgb.shape == frame.rgb.shape
    assert np.array_equal(first.rgb, encode_srgb(first.final_linear))


def test_image_luminance_is_the_rec709_sum_and_does_not_depend_on_memory_layout():
    rng = np.random.default_rng(11)
    image = rng.random((48, 64, 3), dtype=np.float32) * 1.7
    whole = image_luminance(image)
    assert np.allclose(whole, luminance(image), rtol=1e-6, atol=1e-6)  # float64 reference
    # Bit-identical wherever the data sits in memory (some OpenCV kernels round
    # differently on unaligned data) and for any window of it, so visibility values do
    # not depend on allocation.
    for offset in range(4, 64, 4):
        buffer = np.empty(image.nbytes + 64, dtype=np.uint8)
        moved = buffer[offset:offset + image.nbytes].view(np.float32).reshape(image.shape)
        moved[...] = image
        assert np.array_equal(image_luminance(moved), whole)
    for top, left in ((1, 3), (5, 7), (0, 1)):
        assert np.array_equal(image_luminance(image[top:top + 20, left:left + 30]),
                              whole[top:top + 20, left:left + 30])
