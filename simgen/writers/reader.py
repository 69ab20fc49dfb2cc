"""Reading a finished dataset back: its manifest and tables, checked to be complete.

Export, preview, report and eval all start here, so they refuse the same folders with
the same one-line errors.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from simgen.errors import SimgenError
from simgen.writers.dataset import INCOMPLETE_MARKER, MANIFEST


@dataclass
class DatasetTables:
    """A complete dataset's manifest and the tables that were asked for, by name
    (``frames`` for ``frames.parquet``, ...)."""

    root: Path
    manifest: dict[str, Any]
    tables: dict[str, pd.DataFrame]

    def __getitem__(self, name: str) -> pd.DataFrame:
        return self.tables[name]


def read_dataset(dataset_dir: Path, tables: Sequence[str] = ("frames", "boxes", "episodes"),
                 required: dict[str, Sequence[str]] | None = None) -> DatasetTables:
    """Read the manifest and ``tables`` of the complete dataset in ``dataset_dir``;
    ``SimgenError`` (one line) for a missing, unfinished or foreign folder, a missing
    table, or a table without the ``required`` columns."""
    if not dataset_dir.is_dir():
        raise SimgenError(f"{dataset_dir}: no such dataset folder")
    if (dataset_dir / INCOMPLETE_MARKER).exists():
        raise SimgenError(f"{dataset_dir}: incomplete dataset (its generation was "
                          "interrupted or is still running; finish it with simgen run --resume)")
    if not (dataset_dir / MANIFEST).is_file():
        raise SimgenError(f"{dataset_dir}: not a simgen dataset (no {MANIFEST})")
    manifest = json.loads((dataset_dir / MANIFEST).read_text(encoding="utf-8"))
    read: dict[str, pd.DataFrame] = {}
    for name in tables:
        path = dataset_dir / f"{name}.parquet"
        if not path.is_file():
            raise SimgenError(f"{dataset_dir}: not a complete simgen dataset (no {path.name})")
        read[name] = pd.read_parquet(path)
        missing = [c for c in (required or {}).get(name, ()) if c not in read[name].columns]
        if missing:
            raise SimgenError(f"{path}: missing columns {', '.join(missing)} "
                              "(written by an older simgen? generate the dataset again)")
    return DatasetTables(dataset_dir, manifest, read)
