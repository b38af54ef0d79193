"""What a run dir holds and how to tell a finished one: one place, importable without torch (sweep
launchers, compare).

A run is finished only when its completion marker (:data:`DONE_FILE`) exists: ``musiclust`` writes it after
every other output, so a run that crashed or was killed half-way never looks finished.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from musiclust import __version__
from musiclust.io import write_json

log = logging.getLogger(__name__)

METRICS_FILE = "clustering_metrics.csv"
LATENTS_FILE = "latents.npz"
ERROR_FILE = "error.txt"
SKIPPED_FILE = "skipped.csv"
#: one row per song: its cluster, distance to the centre, probability, label columns (musiclust.outputs.assignments)
ASSIGNMENTS_FILE = "assignments.csv"
#: what the run learned, saved without pickles, for musiclust-predict (musiclust.outputs.learned)
LEARNED_DIR = "learned"
#: musiclust-predict's default output folders: predictions/<time>/ (cleared with the run they came from)
PREDICTIONS_DIR = "predictions"
DONE_FILE = "finished.json"
RUN_LOG_FILE = "run.log"
HYDRA_DIR = ".hydra"
#: the Hydra files musiclust writes into ``.hydra/`` once it knows it will (re)compute the run
HYDRA_FILES = ("config.yaml", "hydra.yaml", "overrides.yaml")
#: folders of plots written by musiclust.outputs.plots
PLOT_DIRS = ("latent_visualization", "cluster_distributions", "reconstructions")
CHECKPOINT_DIR = "checkpoints"
LOGGER_DIRS = ("logs", "tensorboard")
#: what earlier versions wrote where the marker is now (removed with the other outputs)
LEGACY_DONE_FILE = "config_fingerprint.txt"
#: in a sweep dir: one entry per job this sweep reached (started, kept or refused), see musiclust.sweep
SWEEP_JOBS_DIR = ".musiclust_jobs"

#: everything musiclust writes into a run dir, cleared before the run is (re)computed so nothing stale remains
OUTPUT_FILES = (METRICS_FILE, LATENTS_FILE, ASSIGNMENTS_FILE, ERROR_FILE, SKIPPED_FILE, DONE_FILE, LEGACY_DONE_FILE,
                RUN_LOG_FILE)
OUTPUT_DIRS = (HYDRA_DIR, *PLOT_DIRS, CHECKPOINT_DIR, *LOGGER_DIRS, LEARNED_DIR, PREDICTIONS_DIR)


def read_marker(run_dir: str | os.PathLike) -> dict[str, Any] | None:
    """The completion marker of a finished run (fingerprint, time, version, debug), None if not finished."""
    run_dir = Path(run_dir)
    try:
        return json.loads((run_dir / DONE_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:  # a damaged marker: the run cannot be trusted to be complete
        log.warning("Cannot read %s (%s); treating the run as unfinished", run_dir / DONE_FILE, err)
        return None
    return None


def write_marker(run_dir: str | os.PathLike, fingerprint: str, debug: bool = False) -> Path:
    """Mark ``run_dir`` finished: call it after every other output was written."""
    return write_json({
        "fingerprint": fingerprint,
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "musiclust_version": __version__,
        "debug": bool(debug),
    }, Path(run_dir) / DONE_FILE)


def clear_outputs(run_dir: str | os.PathLike) -> list[str]:
    """Remove musiclust's outputs from a run dir that will be recomputed; returns the names removed.

    Only the names musiclust writes are removed, and only from a dir that holds a musiclust run (one with
    ``.hydra/`` or a marker, metrics or error file), so pointing ``hydra.run.dir`` at a folder with other
    files in it never deletes them.
    """
    run_dir = Path(run_dir)
    if not any((run_dir / name).exists() for name in (HYDRA_DIR, DONE_FILE, LEGACY_DONE_FILE, METRICS_FILE,
                                                      ERROR_FILE)):
        return []
    removed = []
    for name in OUTPUT_FILES:
        if (run_dir / name).is_file() or (run_dir / name).is_symlink():
            (run_dir / name).unlink()
            removed.append(name)
    for name in OUTPUT_DIRS:
        if (run_dir / name).is_dir():
            shutil.rmtree(run_dir / name)
            removed.append(name + "/")
    return removed


def journal_entry(sweep_dir: str | os.PathLike, run_dir: str | os.PathLike) -> Path | None:
    """Where a sweep records that it reached the job in ``run_dir`` (None when the job is not inside it)."""
    try:
        relative = Path(run_dir).relative_to(sweep_dir)
    except ValueError:
        return None
    if not relative.parts:
        return None
    return Path(sweep_dir) / SWEEP_JOBS_DIR / ("__".join(relative.parts) + ".json")
