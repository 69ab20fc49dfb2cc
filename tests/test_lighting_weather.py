"""Lighting and weather on real renders, through the whole pipeline: time of day and colour
temperature with both renderers, fog against geometry, depth and masks untouched.

(The effect models themselves are tested on synthetic images in ``test_effects.py``.)
"""

from __future__ import annotations

import hashlib
import math

import cv2
import numpy as np
import pandas as pd
import pytest
from conftest import RENDERERS, generate

from simgen.catalog import ASSETS

#: A van 40 m down the road in front of a camera standing on the road; the ego is parked
#: behind the camera. Lamps are off, so only the sun and sky light the scene.
SCENE = """\
name: weather_probe
domain: driving
seed: 3
duration_s: 0.1
renderer: {renderer}
capture: {{rate_hz: 10, width: 160, height: 120}}
lighting: {{street_light_spacing_m: null, headlights: false}}
cameras:
  - {{name: cam, position_m: [0.0, -1.75, 1.5], look_at_m: [40.0, -1.75, 1.2], fov_deg: 40,
      far_m: 300}}
world:
  road: {{lanes: 2, oncoming_lanes: 1, length_m: 220, start_x_m: -40}}
  ego:
    name: ego
    asset: sedan
    placement: {{region: lane, lane: 0, x_m: -25}}
    behaviour: {{kind: parked}}
  objects:
    - name: target
      asset: van
      colour: black
      placement: {{region: lane, lane: 0, x_m: 40}}
"""


def _run(tmp_path, name, renderer="tiny", overrides=()):
    path = tmp_path / f"{name}.yaml"
    path.write_text(SCENE.format(renderer=renderer))
    out = tmp_path / name
    generate(path, out, list(overrides))
    return out


def _frame(out):
    row = pd.read_parquet(out / "frames.parquet").iloc[0]
    rgb = cv2.cvtColor(cv2.imread(str(out / row.rgb_path)), cv2.COLOR_BGR2RGB)
    return row, rgb.astype(float)


def _luminance(rgb):
    return float((0.2126 * rgb[..., 0] + 0.7152 * rgb[..., 1] + 0.0722 * rgb[..., 2]).mean())


@pytest.mark.parametrize("renderer", RENDERERS)
def test_mean_luminance_orders_day_dusk_night(tmp_path, renderer):
    levels = [_luminance(_frame(_run(tmp_path, tod, renderer,
                                     [f"lighting.time_of_day={tod}"]))[1])
              for tod in ("day", "dusk", "night")]
    assert levels[0] > levels[1] > levels[2], levels


@pytest.mark.parametrize("renderer", RENDERERS)
def test_warm_light_raises_red_over_blue(tmp_path, renderer):
    ratios = []
    for kelvin in (3000, 9000):
        _, rgb = _frame(_run(tmp_path, f"k{kelvin}", renderer,
                             [f"lighting.colour_temperature_k={kelvin}"]))
        ratios.append(rgb[..., 0].mean() / rgb[..., 2].mean())
    assert ratios[0] > 1.3 * ratios[1], ratios


@pytest.mark.parametrize("renderer", RENDERERS)
def test_sun_direction_changes_the_shading(tmp_path, renderer):
    # The renderer's light follows the sun: the van's faces shade differently.
    images = [_frame(_run(tmp_path, f"az{az}", renderer,
                          [f"lighting.sun_azimuth_deg={az}", "lighting.sun_elevation_deg=20"]))[1]
              for az in (0, 180)]
    assert np.abs(images[0] - images[1]).mean() > 3


def _target(out):
    boxes = pd.read_parquet(out / "boxes.parquet")
    return boxes[boxes.name == "target_0"].iloc[0]


def test_target_contrast_falls_monotonically_with_fog_density(tmp_path):
    contrasts = [_target(_run(tmp_path, "clear"))["contrast"]]
    for visibility in (800, 300, 120, 60):
        out = _run(tmp_path, f"fog{visibility}", overrides=[
            f"weather.fog={{visibility_m: {visibility}}}"])
        contrasts.append(_target(out)["contrast"])
    assert all(a > b for a, b in zip(contrasts, contrasts[1:], strict=False)), contrasts


def test_object_at_the_visibility_distance_keeps_two_percent(tmp_path):
    # The van's rear face is its centre minus half its catalog length from the camera
    # (both on the lane's centre line): set the visibility to exactly that distance.
    plain = _run(tmp_path, "plain")
    objects = pd.read_parquet(plain / "objects.parquet")
    van = objects[objects.name == "target_0"].iloc[0]
    rear_x = van.initial_position_m[0] - ASSETS["van"].size_m[0] / 2
    camera_height, target_height = 1.5, 1.2  # mid-height of what the camera sees of the van
    distance = math.hypot(rear_x, camera_height - target_height)
    out = _run(tmp_path, "at_v", overrides=[f"weather.fog={{visibility_m: {distance}}}"])
    target = _target(out)
    assert target["distance_m"] == pytest.approx(distance, rel=0.03)
    assert target["fog_transmittance"] == pytest.approx(0.02, abs=0.005)


@pytest.mark.parametrize("renderer", RENDERERS)
def test_weather_changes_rgb_only(tmp_path, renderer):
    clear = _run(tmp_path, "clear", renderer)
    wild = _run(tmp_path, "wild", renderer, [
        "lighting.time_of_day=dusk", "weather.fog={visibility_m: 80}",
        "weather.rain={rate_mm_per_h: 30}", "weather.snow={intensity: 0.5}",
        "weather.glare={}", "weather.motion_blur={}", "weather.noise={}",
        "weather.lens={droplets: 5}", "weather.low_light={}"])
    a, b = pd.read_parquet(clear / "frames.parquet"), pd.read_parquet(wild / "frames.parquet")
    for column in ("depth_path", "instance_path"):
        for x, y in zip(a[column], b[column], strict=True):
            assert hashlib.sha256((clear / x).read_bytes()).digest() == \
                hashlib.sha256((wild / y).read_bytes()).digest()
    boxes_a, boxes_b = (pd.read_parquet(d / "boxes.parquet") for d in (clear, wild))
    pd.testing.assert_frame_equal(boxes_a[["name", "x", "y", "w", "h", "visible_px"]],
                                  boxes_b[["name", "x", "y", "w", "h", "visible_px"]])
    assert (clear / a.rgb_path[0]).read_bytes() != (wild / b.rgb_path[0]).read_bytes()


def _road_pixels(out):
    row, rgb = _frame(out)
    objects = pd.read_parquet(out / "objects.parquet")
    road = int(objects[objects.name == "road"].instance_id.iloc[0])
    instance = cv2.imread(str(out / row.instance_path), cv2.IMREAD_UNCHANGED)
    return rgb, instance == road


def test_snow_cover_brightens_the_road(tmp_path):
    rgb, road = _road_pixels(_run(tmp_path, "dry"))
    snowy, _ = _road_pixels(_run(tmp_path, "snowy", overrides=[
        "weather.snow={intensity: 0.2, accumulation: 0.8}"]))
    assert _luminance(snowy[road][None]) > _luminance(rgb[road][None]) + 40


def test_night_is_darker_and_noisier(tmp_path):
    def high_pass_variance(out):
        rgb, road = _road_pixels(out)
        grey = rgb.mean(axis=2)
        detail = grey - cv2.blur(grey, (5, 5))
        inner = cv2.erode(road.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
        return float(detail[inner].var()), _luminance(rgb[road][None])

    day_var, day_level = high_pass_variance(_run(tmp_path, "day", overrides=[
        "weather.noise={}"]))
    night_var, night_level = high_pass_variance(_run(tmp_path, "night", overrides=[
        "weather.noise={}", "lighting.time_of_day=night"]))
    assert night_level < day_level
    assert night_var > 2 * day_var, (day_var, night_var)


def test_headlights_and_street_lamps_light_the_night(tmp_path):
    # The van turned to face the camera from the oncoming lane, 40 m away.
    facing = ["lighting.time_of_day=night", "world.objects[0].placement.lane=2"]
    dark = _run(tmp_path, "dark", overrides=facing)
    headlights = _run(tmp_path, "headlights", overrides=[*facing, "lighting.headlights=true"])
    lamps = _run(tmp_path, "lamps", overrides=[*facing, "lighting.street_light_spacing_m=20"])
    levels = {}
    for name, out in (("dark", dark), ("headlights", headlights), ("lamps", lamps)):
        row, rgb = _frame(out)
        levels[name] = (_luminance(rgb), row["effects.lights_in_view"])
    assert levels["dark"][1] == 0
    assert levels["headlights"][1] == 2  # the van's two headlights, seen from the front
    assert levels["lamps"][1] >= 4
    assert levels["headlights"][0] > levels["dark"][0]
    assert levels["lamps"][0] > levels["dark"][0] + 2
    # Lamp light falls on the road: the road itself gets brighter, not just the lamp spots.
    rgb_dark, road_dark = _road_pixels(dark)
    rgb_lamps, road_lamps = _road_pixels(lamps)
    assert _luminance(rgb_lamps[road_lamps][None]) > _luminance(rgb_dark[road_dark][None]) + 2
