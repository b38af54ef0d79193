"""Finding run dirs and reading each into one row: its settings, metrics, status and error.

Settings are the ones the pipeline records (:data:`musiclust.config.SETTINGS`): read back from a finished run's
``clustering_metrics.csv`` or, for a failed run, derived the same way from its ``.hydra/`` config
(:func:`musiclust.config.settings_of`); plus every command-line override that is not bookkeeping.
"""

from __future__ import annotations

import logging
import math
import os
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import OmegaConf

from musiclust.config import SETTING_NAMES, setting_of_override, settings_of
from musiclust.errors import DataError
from musiclust.layout import (
    DONE_FILE,
    ERROR_FILE,
    HYDRA_DIR,
    METRICS_FILE,
    SWEEP_JOBS_DIR,
    journal_entry,
    read_marker,
)

log = logging.getLogger(__name__)

#: overrides that say where or how a run was executed, not what was computed
BOOKKEEPING_PREFIXES = (
    "paths.", "hydra.", "hydra/", "callbacks.", "outputs.", "logger", "resume", "cache", "num_workers",
    "trainer.enable_progress_bar", "feature.n_jobs",
)
STATUS_COLUMNS = ("status", "error", "run_dir")


def is_run_dir(path: Path) -> bool:
    return any((path / name).is_file() for name in (f"{HYDRA_DIR}/config.yaml", DONE_FILE, METRICS_FILE, ERROR_FILE))


def iter_run_dirs(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """Every run dir at or below ``paths`` (a run dir's own subfolders are not searched), each once."""
    found: dict[Path, None] = {}
    for raw in paths:
        root = Path(raw)
        if not root.is_dir():
            raise DataError(f"{raw} is not a directory. Pass run dirs or sweep dirs (e.g. outputs/multirun).")
        for current, dirnames, _ in os.walk(root):
            here = Path(current)
            if is_run_dir(here):
                found.setdefault(here.resolve(), None)
                dirnames.clear()
            else:
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
    return list(found)


def run_status(run_dir: Path) -> str:
    """``ok`` (its completion marker exists: every output was written), ``failed`` (error.txt) or
    ``incomplete`` (neither: interrupted, crashed before the marker, or still running)."""
    if read_marker(run_dir) is not None:  # a recomputed run clears error.txt first, so no stale error remains
        return "ok"
    return "failed" if (run_dir / ERROR_FILE).is_file() else "incomplete"


def error_summary(text: str) -> str:
    """One line for a table: the exception line of a traceback, or the whole (collapsed) message."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return "unknown error"
    if any("Traceback (most recent call last)" in line for line in lines):
        return lines[-1]
    return " ".join(lines)


def _load_yaml(path: Path) -> Any:
    try:
        return OmegaConf.load(path) if path.is_file() else None
    except Exception as err:  # a damaged file makes that source unusable, not the whole comparison
        log.warning("Cannot read %s (%s); ignoring it", path, err)
        return None


def _select(cfg: Any, key: str) -> Any:
    if cfg is None:
        return None
    value = OmegaConf.select(cfg, key, default=None, throw_on_resolution_failure=False)
    return OmegaConf.to_container(value) if OmegaConf.is_config(value) else value


def _override_pairs(overrides: Sequence[str]) -> dict[str, str]:
    pairs = {}
    for item in overrides or []:
        key, sep, value = str(item).partition("=")
        if sep:
            pairs[key.lstrip("+~")] = value
    return pairs


def _is_bookkeeping(key: str) -> bool:
    return any(key == p.rstrip("./") or key.startswith(p) for p in BOOKKEEPING_PREFIXES)


def _clean(value: Any) -> Any:
    """Settings as plain scalars ('' for missing) so runs from different sources group together."""
    if OmegaConf.is_config(value):
        value = OmegaConf.to_container(value)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list | tuple | dict):
        return str(value)
    return value


def read_run(run_dir: Path) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """One run dir → (settings, metrics, {status, error, run_dir, debug}).

    Settings come from its ``clustering_metrics.csv`` row (what the pipeline recorded), else from its Hydra
    config (a failed job) by :func:`musiclust.config.settings_of`, plus every command-line override that is
    not bookkeeping (e.g. ``model.lr``).
    """
    status = run_status(run_dir)
    row: dict[str, Any] = {}
    debug = False
    if status == "ok":
        if (run_dir / METRICS_FILE).is_file():  # absent only when callbacks.metrics_writer was removed
            row = pd.read_csv(run_dir / METRICS_FILE).iloc[0].to_dict()
        recorded = str(row.pop("debug", False)) == "True"  # popped: the column is neither a setting nor a metric
        debug = recorded or bool((read_marker(run_dir) or {}).get("debug"))
    config = _load_yaml(run_dir / HYDRA_DIR / "config.yaml")
    choices = _select(_load_yaml(run_dir / HYDRA_DIR / "hydra.yaml"), "hydra.runtime.choices") or {}
    overrides = _override_pairs(_load_yaml(run_dir / HYDRA_DIR / "overrides.yaml") or [])

    derived = settings_of(config, choices)
    settings = {name: _clean(row.pop(name) if name in row else derived[name]) for name in SETTING_NAMES}
    for key, value in overrides.items():
        if setting_of_override(key) is None and not _is_bookkeeping(key):
            composed = _select(config, key) if "/" not in key else None
            settings[key] = _clean(value if composed is None or isinstance(composed, dict) else composed)
    metrics = {k: v for k, v in row.items() if k not in settings and k != "run_dir"}
    error = ""
    if status == "failed":
        error = error_summary((run_dir / ERROR_FILE).read_text(encoding="utf-8", errors="replace"))
    elif status == "incomplete":
        error = "no results: the job was interrupted or is still running"
    return settings, metrics, {"status": status, "error": error, "run_dir": str(run_dir), "debug": debug}


def find_runs(
    paths: Iterable[str | os.PathLike], include_incomplete: bool = False, since: float | None = None,
    include_debug: bool = False,
) -> pd.DataFrame:
    """One row per run dir under ``paths``: its settings, metrics, ``status`` (ok/failed), ``error``, ``run_dir``.

    Incomplete runs (no completion marker, no error: interrupted, crashed or still running) are left out with a
    warning naming them, unless ``include_incomplete``. ``since`` (a Unix time) keeps only runs started from
    then on. Debug runs (``trainer.fast_dev_run``) are left out unless ``include_debug`` (then a ``debug``
    column marks them); the dirs left out are in ``frame.attrs["debug_runs"]``.
    """
    rows, incomplete, debug_runs = [], [], []
    for run_dir in iter_run_dirs(paths):
        if since is not None and _started_at(run_dir) < since:
            continue
        settings, metrics, status = read_run(run_dir)
        if status["status"] == "incomplete" and not include_incomplete:
            incomplete.append(str(run_dir))
            continue
        if status["debug"] and not include_debug:
            debug_runs.append(str(run_dir))
            continue
        rows.append((settings, metrics, status))
    if incomplete:
        message = (f"ignoring {len(incomplete)} incomplete run(s) (no {DONE_FILE} or {ERROR_FILE}): "
                   + ", ".join(incomplete))
        log.warning(message)
        warnings.warn(message, stacklevel=2)
    any_debug = any(status["debug"] for _, _, status in rows)
    frame = pd.DataFrame([{**settings, **metrics, **{k: v for k, v in status.items() if k != "debug" or any_debug}}
                          for settings, metrics, status in rows])
    if frame.empty:
        frame = pd.DataFrame(columns=[*SETTING_NAMES, *STATUS_COLUMNS])
    settings = list(dict.fromkeys(key for row_settings, _, _ in rows for key in row_settings)) or list(SETTING_NAMES)
    frame[settings] = frame[settings].astype(object).where(frame[settings].notna(), "")
    ordered = [*settings, *(c for c in frame.columns if c not in settings and c not in STATUS_COLUMNS),
               *STATUS_COLUMNS]
    frame = frame[ordered].reset_index(drop=True)
    frame.attrs["settings"] = settings
    frame.attrs["debug_runs"] = debug_runs
    return frame


def _started_at(run_dir: Path) -> float:
    """When a sweep last reached a job: its entry in the sweep dir's journal (written when the job is run, kept
    by resume=true or refused; a job dir without one was not reached by that sweep); else ``.hydra/``."""
    for sweep_dir in list(run_dir.parents)[:3]:
        if (sweep_dir / SWEEP_JOBS_DIR).is_dir():
            entry = journal_entry(sweep_dir, run_dir)
            return entry.stat().st_mtime if entry is not None and entry.exists() else float("-inf")
    marker = run_dir / HYDRA_DIR / "overrides.yaml"
    return (marker if marker.exists() else run_dir).stat().st_mtime
