"""Appearance randomization in generated data: textures show on the bodies that wear them
(every episode, both renderers), surface colours reach the image, distractors stay
unlabeled."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from conftest import RENDERERS, generate

SCENE = """\
name: appearance
domain: robotics
seed: 4
episodes: 2
duration_s: 0.2
renderer: {renderer}
capture: {{rate_hz: 5, width: 160, height: 120}}
cameras:
  - {{name: top, position_m: [0.5, 0.0, 1.2], look_at_m: [0.5, 0.0, 0.6]}}
world:
  table: {{floor_colour: [0.2, 0.2, 0.8]}}
  arm: {{name: arm, asset: panda, placement: {{region: area, x_m: 0, y_m: 0}}}}
  objects:
    - name: crate
      asset: cardboard_box
      scale: 0.3
      colour: yellow
      texture: {texture}
      texture_colour: blue
      placement: {{region: table, x_m: 0.5, y_m: 0.0, yaw_deg: 0, min_spacing_m: 0.1}}
  distractors:
    - {{name: clutter, asset: can, count: 2, placement: {{region: table, min_spacing_m: 0.1}}}}
"""


def _crate_pixels(out: Path, episode: int) -> np.ndarray:
    frames = pd.read_parquet(out / "frames.parquet")
    objects = pd.read_parquet(out / "objects.parquet")
    crate = objects[(objects.episode == episode) & (objects.name == "crate_0")]
    row = frames[(frames.episode == episode) & (frames.frame == 0)].iloc[0]
    rgb = cv2.cvtColor(cv2.imread(str(out / row.rgb_path)), cv2.COLOR_BGR2RGB)
    instance = cv2.imread(str(out / row.instance_path), cv2.IMREAD_UNCHANGED)
    return rgb[instance == int(crate.instance_id.iloc[0])].astype(float)


@pytest.mark.parametrize("renderer", RENDERERS)
def test_checker_texture_shows_in_both_colours_in_every_episode(tmp_path, renderer):
    plain_dir, textured_dir = tmp_path / "plain", tmp_path / "textured"
    for out, texture in ((plain_dir, "none"), (textured_dir, "checker")):
        path = tmp_path / f"{texture}.yaml"
        path.write_text(SCENE.format(renderer=renderer, texture=texture))
        generate(path, out)
    for episode in (0, 1):
        plain = _crate_pixels(plain_dir, episode)
        textured = _crate_pixels(textured_dir, episode)
        assert len(plain) > 100 and len(textured) > 100
        # Untextured: yellow (no blue at all); textured: yellow cells and blue cells.
        assert (plain[:, 2] > plain[:, 0] + 40).mean() < 0.02
        yellowish = (textured[:, 0] > textured[:, 2] + 40).mean()
        bluish = (textured[:, 2] > textured[:, 0] + 40).mean()
        assert yellowish > 0.15 and bluish > 0.15, (episode, yellowish, bluish)


def test_floor_colour_and_distractors(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(SCENE.format(renderer="tiny", texture="none"))
    _, summary = generate(path, tmp_path / "out", ["cameras[0].position_m=[0.5, 0.0, 3.5]"])
    out = tmp_path / "out"
    objects = pd.read_parquet(out / "objects.parquet")
    clutter = objects[objects.group == "clutter"]
    assert len(clutter) == 4 and not clutter.labeled.any()
    boxes = pd.read_parquet(out / "boxes.parquet")
    assert not boxes.name.str.startswith("clutter").any()
    frames = pd.read_parquet(out / "frames.parquet")
    row = frames.iloc[0]
    rgb = cv2.cvtColor(cv2.imread(str(out / row.rgb_path)), cv2.COLOR_BGR2RGB).astype(float)
    instance = cv2.imread(str(out / row.instance_path), cv2.IMREAD_UNCHANGED)
    floor_id = int(objects[(objects.episode == 0) & (objects.name == "ground")]
                   .instance_id.iloc[0])
    floor = rgb[instance == floor_id]
    assert len(floor) > 50
    assert floor[:, 2].mean() > floor[:, 0].mean() + 40  # the blue floor asked for


@pytest.mark.parametrize("renderer", RENDERERS)
def test_table_colour_replaces_the_wood(tmp_path, renderer):
    path = tmp_path / "s.yaml"
    path.write_text(SCENE.format(renderer=renderer, texture="none")
                    .replace("table: {floor_colour: [0.2, 0.2, 0.8]}",
                             "table: {colour: [0.1, 0.7, 0.2]}"))
    out = tmp_path / "out"
    generate(path, out)
    objects = pd.read_parquet(out / "objects.parquet")
    frames = pd.read_parquet(out / "frames.parquet")
    for episode in (0, 1):
        row = frames[(frames.episode == episode) & (frames.frame == 0)].iloc[0]
        rgb = cv2.cvtColor(cv2.imread(str(out / row.rgb_path)), cv2.COLOR_BGR2RGB).astype(float)
        instance = cv2.imread(str(out / row.instance_path), cv2.IMREAD_UNCHANGED)
        table_id = int(objects[(objects.episode == episode) & (objects.name == "table")]
                       .instance_id.iloc[0])
        top = rgb[instance == table_id]
        # Green, not the orange-brown wood (whose red exceeds its green).
        assert top[:, 1].mean() > top[:, 0].mean() + 60, (episode, top.mean(0))
