"""The dataset directory: safe output handling and exact image encoding."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from simgen.errors import SimgenError, write_error
from simgen.writers.dataset import INCOMPLETE_MARKER, MANIFEST
from simgen.writers.images import ImageWriter, decode_depth_png, write_image
from simgen.writers.parts import PART_FILE
from simgen.writers.store import DatasetStore

DATA = {"name": "demo", "seed": 7, "episodes": 3}


def test_a_non_empty_folder_is_refused_and_left_untouched(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(SimgenError, match="not a simgen dataset"):
        DatasetStore.open(tmp_path, DATA)
    # Neither --overwrite nor --resume touches a folder that is not a simgen dataset.
    with pytest.raises(SimgenError, match="not a simgen dataset"):
        DatasetStore.open(tmp_path, DATA, overwrite=True)
    with pytest.raises(SimgenError, match="nothing to resume"):
        DatasetStore.open(tmp_path, DATA, resume=True)
    assert [x.name for x in tmp_path.iterdir()] == ["notes.txt"]
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_a_dataset_is_replaced_only_with_overwrite(tmp_path):
    out = tmp_path / "ds"
    DatasetStore.open(out, DATA)
    assert json.loads((out / INCOMPLETE_MARKER).read_text())["scenario"] == DATA
    (out / "old.png").write_text("x")
    with pytest.raises(SimgenError, match="--resume to continue it, --overwrite"):
        DatasetStore.open(out, DATA)
    assert (out / "old.png").exists()
    (out / INCOMPLETE_MARKER).unlink()
    (out / MANIFEST).write_text("{}")
    with pytest.raises(SimgenError, match="pass --overwrite"):  # complete: nothing to resume
        DatasetStore.open(out, DATA)
    DatasetStore.open(out, DATA, overwrite=True)
    assert sorted(x.name for x in out.iterdir()) == [INCOMPLETE_MARKER]
    with pytest.raises(SimgenError, match="choose one"):
        DatasetStore.open(out, DATA, overwrite=True, resume=True)


def test_resume_refuses_another_run_and_names_what_differs(tmp_path):
    DatasetStore.open(tmp_path / "ds", DATA)
    (tmp_path / "ds" / "episodes").mkdir()
    with pytest.raises(SimgenError, match="differs in episodes, seed"):
        DatasetStore.open(tmp_path / "ds", {**DATA, "seed": 8, "episodes": 4}, resume=True)
    store = DatasetStore.open(tmp_path / "ds", dict(DATA), resume=True)
    assert store.committed() == set()


def test_commit_is_one_rename_and_resume_drops_partial_episodes(tmp_path):
    store = DatasetStore.open(tmp_path, DATA)
    whole = store.staging(0, 0)
    (whole / "rgb").mkdir()
    (whole / PART_FILE).write_text("{}")
    with pytest.raises(SimgenError, match="without its episode.json"):
        store.commit(1, store.staging(1, 0))  # a folder without its part is never committed
    partial = store.staging(2, 0)
    (partial / "rgb").mkdir()
    store.commit(0, whole)
    assert not whole.exists() and (tmp_path / "episodes" / "000000" / "rgb").is_dir()
    assert store.committed() == {0}
    resumed = DatasetStore.open(tmp_path, DATA, resume=True)
    assert resumed.committed() == {0}
    assert sorted(d.name for d in (tmp_path / "episodes").iterdir()) == ["000000"]


def test_images_are_written_exactly(tmp_path):
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)
    depth = rng.uniform(0, 60, (30, 40)).astype(np.float32)
    instance = rng.integers(0, 1000, (30, 40)).astype(np.uint16)
    writer = ImageWriter(threads=2, max_pending=2)
    for k in range(5):  # more than the backlog: compute blocks instead of growing
        writer.compute(write_image, tmp_path / f"rgb{k}.png", "rgb", rgb)
    writer.compute(write_image, tmp_path / "depth.png", "depth", depth)
    writer.compute(write_image, tmp_path / "instance.png", "instance", instance)
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
        DatasetStore.open(blocker, DATA)
    with pytest.raises(SimgenError, match="cannot write.*--resume"):
        DatasetStore.open(blocker / "sub", DATA)


def test_write_errors_from_pyarrow_read_as_one_plain_reason(tmp_path):
    with pytest.raises(OSError) as raised:
        pq.write_table(pa.table({"a": [1]}), tmp_path / "missing" / "x.parquet")
    error = write_error(tmp_path / "x.parquet", raised.value)
    assert str(error) == (f"{tmp_path / 'x.parquet'}: cannot write: No such file or "
                          "directory; the dataset is incomplete; free space or fix "
                          "permissions, then run again with --resume")
