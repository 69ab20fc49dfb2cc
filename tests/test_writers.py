"""The dataset directory: safe output handling and exact image encoding."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import ROOT, SMALL

import simgen.runner.run as run_module
from simgen.errors import SimgenError
from simgen.runner.episode import MODALITIES
from simgen.runner.run import run_scenario
from simgen.spec import load_scenario
from simgen.writers.dataset import INCOMPLETE_MARKER, MANIFEST, prepare_output
from simgen.writers.images import ImageWriter, decode_depth_png


def test_prepare_output_refuses_a_non_empty_folder(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(SimgenError, match="not empty"):
        prepare_output(tmp_path, overwrite=False)
    # --overwrite never deletes a folder that is not a simgen dataset.
    with pytest.raises(SimgenError, match="not a simgen dataset"):
        prepare_output(tmp_path, overwrite=True)
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert not (tmp_path / INCOMPLETE_MARKER).exists()


def test_prepare_output_replaces_a_dataset_only_with_overwrite(tmp_path):
    out = tmp_path / "ds"
    prepare_output(out, overwrite=False)
    assert (out / INCOMPLETE_MARKER).exists()
    (out / MANIFEST).write_text("{}")
    (out / "old.png").write_text("x")
    with pytest.raises(SimgenError, match="--overwrite"):
        prepare_output(out, overwrite=False)
    assert (out / "old.png").exists()
    prepare_output(out, overwrite=True)
    assert sorted(x.name for x in out.iterdir()) == [INCOMPLETE_MARKER]


def test_an_interrupted_run_leaves_no_manifest(tmp_path, monkeypatch):
    """A run that dies after its first episode is marked incomplete and has no dataset.json."""
    path = ROOT / "scenarios" / "driving_urban.yaml"
    scenario = load_scenario(path, [*SMALL, "episodes=3", "duration_s=0.4"])
    real = run_module.run_episode
    calls = []

    def dying(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise SimgenError("disk full (simulated)")
        return real(*args, **kwargs)

    monkeypatch.setattr(run_module, "run_episode", dying)
    with pytest.raises(SimgenError, match="disk full"):
        run_scenario(scenario, path, tmp_path / "out")
    out = tmp_path / "out"
    assert (out / INCOMPLETE_MARKER).exists()
    assert not (out / MANIFEST).exists()
    assert not list(out.rglob("*.png.tmp"))  # every image written is complete
    frames = int(round(0.4 * scenario.capture.rate_hz)) + 1
    # Episode 0's images (every modality), all flushed to disk before the error surfaced.
    assert len(list(out.rglob("*.png"))) == len(MODALITIES) * frames * len(scenario.cameras)


def test_images_are_written_exactly(tmp_path):
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)
    depth = rng.uniform(0, 60, (30, 40)).astype(np.float32)
    instance = rng.integers(0, 1000, (30, 40)).astype(np.uint16)
    writer = ImageWriter(threads=2, max_pending=2)
    for k in range(5):  # more than the backlog: submit blocks instead of growing
        writer.submit("rgb", tmp_path / f"rgb{k}.png", rgb)
    writer.submit("depth", tmp_path / "depth.png", depth)
    writer.submit("instance", tmp_path / "instance.png", instance)
    writer.close()
    back = cv2.cvtColor(cv2.imread(str(tmp_path / "rgb4.png")), cv2.COLOR_BGR2RGB)
    assert np.array_equal(back, rgb)
    assert np.abs(decode_depth_png(tmp_path / "depth.png") - depth).max() <= 0.0005 + 1e-6
    assert np.array_equal(cv2.imread(str(tmp_path / "instance.png"), cv2.IMREAD_UNCHANGED),
                          instance)
    assert not list(tmp_path.glob("*.tmp"))


def test_unwritable_output_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(SimgenError, match="not a directory"):
        prepare_output(blocker, overwrite=False)
    with pytest.raises(SimgenError, match="cannot write"):
        prepare_output(blocker / "sub", overwrite=False)
