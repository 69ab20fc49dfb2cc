"""The dataset folder during a run: refusing, resuming, staging and committing episodes.

An episode is written into a staging folder ``episodes/.NNNNNN.PID.ATTEMPT.tmp`` and
committed by renaming it to ``episodes/NNNNNN`` (one atomic ``rename``), after its
``episode.json`` is written. So at any moment every ``episodes/NNNNNN`` folder is a
whole episode, and a staging folder is a partial one that a resumed run deletes.

The run journal (``.simgen-incomplete``, JSON, replaced atomically) records what the run
is (the scenario as validated, the simgen version) and which episodes failed; it stays
until every episode is complete. ``--resume`` continues a run only when the journal
describes the same run.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

from simgen import __version__
from simgen.errors import SimgenError, write_error
from simgen.writers.dataset import INCOMPLETE_MARKER, MANIFEST, atomic_write_text
from simgen.writers.parts import PART_FILE

_COMMITTED = re.compile(r"^\d{6}$")
_STAGING = re.compile(r"^\.\d{6}\..*\.tmp$")


class DatasetStore:
    """One dataset folder being generated: which episodes are committed, staging, journal."""

    def __init__(self, root: Path, scenario_data: dict[str, Any]):
        self.root = root
        self.scenario_data = scenario_data
        self.failed: dict[int, dict[str, Any]] = {}

    @property
    def episodes_dir(self) -> Path:
        return self.root / "episodes"

    @classmethod
    def open(cls, root: Path, scenario_data: dict[str, Any], *, overwrite: bool = False,
             resume: bool = False) -> DatasetStore:
        """Start a run in ``root``, or continue the interrupted run there (``resume``).

        Refuses, touching nothing, a non-empty folder unless ``overwrite`` (which only
        deletes a simgen dataset) or ``resume`` (which needs the same scenario).
        """
        if overwrite and resume:
            raise SimgenError("--overwrite and --resume: choose one")
        store = cls(root, scenario_data)
        if root.exists() and not root.is_dir():
            raise SimgenError(f"{root}: exists and is not a directory")
        occupied = root.is_dir() and any(root.iterdir())
        is_dataset = (root / MANIFEST).exists() or (root / INCOMPLETE_MARKER).exists()
        if occupied and resume:
            store._check_resumable()
            store.clean_staging()
            return store
        if occupied:
            if not is_dataset:
                raise SimgenError(f"{root}: not empty and not a simgen dataset; refusing to "
                                  "write into it (even with --overwrite); choose another --out")
            if not overwrite:
                hint = "--resume to continue it, " if (root / INCOMPLETE_MARKER).exists() \
                    else ""
                raise SimgenError(f"{root}: already holds a simgen dataset; pass {hint}"
                                  "--overwrite to replace it, or choose another --out")
            shutil.rmtree(root)
        try:
            root.mkdir(parents=True, exist_ok=True)
            store.write_journal()
        except OSError as exc:
            raise write_error(root, exc) from None
        return store

    def _check_resumable(self) -> None:
        """Refuse to resume into a folder that holds some other run."""
        journal_path = self.root / INCOMPLETE_MARKER
        if not journal_path.exists():
            if not (self.root / MANIFEST).exists():
                raise SimgenError(f"{self.root}: not empty and not a simgen dataset; nothing "
                                  "to resume")
            manifest = _read_json(self.root / MANIFEST)
            recorded = {"version": manifest.get("version"),
                        "scenario": manifest.get("scenario")}
        else:
            journal = _read_json(journal_path)
            recorded = {"version": journal.get("version"), "scenario": journal.get("scenario")}
        if recorded["version"] != __version__:
            raise SimgenError(f"{self.root}: made by simgen {recorded['version']}, this is "
                              f"{__version__}; resuming would mix outputs; use --overwrite")
        if fingerprint(recorded["scenario"]) != fingerprint(self.scenario_data):
            fields = _differing_fields(recorded["scenario"], self.scenario_data)
            raise SimgenError(f"{self.root}: holds a run of a different scenario (differs in "
                              f"{', '.join(fields)}); resume with the same scenario, seed and "
                              "overrides, or use --overwrite")
        if journal_path.exists():
            failed = _read_json(journal_path).get("failed", {})
            self.failed = {int(k): v for k, v in failed.items()}

    @property
    def complete(self) -> bool:
        """True when the folder holds a finished dataset (manifest, no journal)."""
        return (self.root / MANIFEST).exists() and not (self.root / INCOMPLETE_MARKER).exists()

    def committed(self) -> set[int]:
        """Indices of the episodes whose folders are committed."""
        if not self.episodes_dir.is_dir():
            return set()
        return {int(d.name) for d in self.episodes_dir.iterdir()
                if _COMMITTED.match(d.name) and (d / PART_FILE).is_file()}

    def clean_staging(self) -> None:
        """Delete the staging folders an interrupted run left behind."""
        if not self.episodes_dir.is_dir():
            return
        for d in self.episodes_dir.iterdir():
            if _STAGING.match(d.name):
                shutil.rmtree(d, ignore_errors=True)

    def staging(self, index: int, attempt: int) -> Path:
        """A fresh, empty staging folder for an attempt at episode ``index``."""
        path = self.episodes_dir / f".{index:06d}.{os.getpid()}.{attempt}.tmp"
        try:
            shutil.rmtree(path, ignore_errors=True)
            path.mkdir(parents=True)
        except OSError as exc:
            raise write_error(path, exc) from None
        return path

    def discard(self, staging: Path) -> None:
        """Delete an attempt's staging folder (after a failure)."""
        shutil.rmtree(staging, ignore_errors=True)

    def commit(self, index: int, staging: Path) -> None:
        """Rename a finished staging folder into place as episode ``index``."""
        if not (staging / PART_FILE).is_file():
            raise SimgenError(f"{staging}: episode {index} finished without its {PART_FILE}")
        target = self.episodes_dir / f"{index:06d}"
        try:
            if (target / PART_FILE).is_file():  # already committed (a duplicate attempt)
                shutil.rmtree(staging)
            else:
                if target.exists():
                    shutil.rmtree(target)
                os.rename(staging, target)
        except OSError as exc:
            raise write_error(target, exc) from None
        if self.failed.pop(index, None) is not None:
            self.write_journal()

    def record_failure(self, index: int, seed: int, error: str, attempts: int) -> None:
        """Note in the journal that episode ``index`` failed ``attempts`` times."""
        self.failed[index] = {"seed": seed, "error": error, "attempts": attempts}
        self.write_journal()

    def write_journal(self) -> None:
        """Replace the journal with the run's description and its failures."""
        journal = {"tool": "simgen", "version": __version__,
                   "note": "generation in progress, interrupted or with failed episodes; "
                           "continue it with simgen run --resume",
                   "scenario": self.scenario_data,
                   "failed": {str(k): v for k, v in sorted(self.failed.items())}}
        try:
            atomic_write_text(self.root / INCOMPLETE_MARKER,
                              json.dumps(journal, indent=1, sort_keys=True))
        except OSError as exc:
            raise write_error(self.root / INCOMPLETE_MARKER, exc) from None


def fingerprint(scenario_data: Any) -> str:
    """A hash of a validated scenario (what makes two runs the same run)."""
    text = json.dumps(scenario_data, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _differing_fields(old: Any, new: Any) -> list[str]:
    if not isinstance(old, dict) or not isinstance(new, dict):
        return ["everything"]
    keys = sorted(set(old) | set(new))
    return [k for k in keys if fingerprint(old.get(k)) != fingerprint(new.get(k))] or ["?"]


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SimgenError(f"{path}: unreadable ({exc}); cannot resume; use --overwrite") \
            from None
    if not isinstance(data, dict):
        raise SimgenError(f"{path}: not a simgen run journal; cannot resume; use --overwrite")
    return data
