"""Sweeps: the comparison written when a multirun ends, resuming finished jobs, and grids made of several
cartesian products (task suites whose cells are not one plain product).

Kept free of torch imports: Hydra loads this module in the launcher process of every sweep.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from musiclust.io import write_csv, write_text
from musiclust.layout import FINGERPRINT_FILE, METRICS_FILE

log = logging.getLogger(__name__)

#: keys that do not change what a job computes, left out of its fingerprint
FINGERPRINT_EXCLUDES = ("resume", "overwrite")


# ----------------------------------------------------------------------------------------------- comparison
def comparison_name(config: DictConfig) -> str:
    """``{task}`` for task suites, the search name for ``hparams_search=...``, else ``multirun``."""
    choices = OmegaConf.select(config, "hydra.runtime.choices", default=None) or {}
    return str(config.get("task_name") or choices.get("hparams_search") or "multirun")


def write_sweep_comparison(
    sweep_dir: str | Path, name: str, since: float | None = None, metric: str = "nmi",
) -> tuple[Path, Path] | None:
    """Write ``{name}_comparison.csv`` (one row per job, failed jobs with their error) and
    ``{name}_comparison_summary.csv`` (mean ± std over seeds per cell, plus seed stability) into ``sweep_dir``.

    ``since`` keeps only jobs started at or after that Unix time, so job dirs left over from an earlier,
    larger sweep in the same dir are not mixed in. Returns the two paths (None when there are no jobs).
    """
    from musiclust import compare

    sweep_dir = Path(sweep_dir)
    runs = compare.find_runs([sweep_dir], include_incomplete=True, since=since)
    if runs.empty:
        log.warning("No job dirs found in %s; no comparison written", sweep_dir)
        return None
    runs = runs.iloc[sorted(range(len(runs)), key=lambda i: _job_order(runs["run_dir"].iloc[i]))]
    table = compare.run_table(runs.reset_index(drop=True))
    summary = compare.summarize(runs, compare.default_group_by(runs))
    table_path = write_csv(table, sweep_dir / f"{name}_comparison.csv")
    summary_path = write_csv(summary, sweep_dir / f"{name}_comparison_summary.csv")

    failed = runs[runs["status"] != "ok"]
    for _, row in failed.iterrows():
        log.warning("Job %s %s: %s", Path(row["run_dir"]).name, row["status"], row["error"])
    metric = ("nmi" if "nmi_mean" in summary else "silhouette") if metric == "auto" else metric
    sort_by = metric if f"{metric}_mean" in summary else None
    shown = compare.sort_rows(summary, f"{sort_by}_mean") if sort_by else summary
    metrics = [f"{m}_{s}" for m in compare.choose_metrics(runs, None) for s in ("mean", "std")]
    shown = shown[[c for c in shown.columns if not c.endswith(("_mean", "_std")) or c in metrics]]
    log.info("Sweep summary (%d jobs, %d failed):\n%s", len(runs), len(failed),
             compare.display_frame(shown).to_string(index=False))
    log.info("Comparison written to %s and %s", table_path, summary_path)
    return table_path, summary_path


def _job_order(run_dir: str) -> tuple:
    name = Path(run_dir).name
    return (0, int(name), "") if name.isdigit() else (1, 0, name)


class ComparisonWriter(Callback):
    """Hydra callback: when a multirun ends, write the sweep's comparison tables into its sweep dir."""

    def __init__(self, metric: str = "nmi") -> None:
        self.metric = metric
        self.started: float | None = None

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self.started = time.time() - 2.0  # slack for coarse file-system timestamps

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        write_sweep_comparison(config.hydra.sweep.dir, comparison_name(config), since=self.started,
                               metric=self.metric)


# ----------------------------------------------------------------------------------------------- resume
def config_fingerprint(cfg: DictConfig) -> str:
    """A hash of everything a job computes from: the resolved config (without ``resume``)."""
    data = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False)
    for key in FINGERPRINT_EXCLUDES:
        data.pop(key, None)
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def record_fingerprint(run_dir: str | Path, fingerprint: str) -> None:
    """Mark a finished job with the fingerprint of its config (what ``resume=true`` checks)."""
    write_text(fingerprint + "\n", Path(run_dir) / FINGERPRINT_FILE)


def stored_metrics(run_dir: str | Path, fingerprint: str) -> dict[str, Any] | None:
    """The metrics of a finished job in ``run_dir`` computed from the same config, else None.

    Raises :class:`musiclust.errors.ConfigError` when the dir holds finished results of a *different* config:
    resuming must not mix them up, and recomputing would overwrite them.
    """
    import pandas as pd

    from musiclust.errors import ConfigError

    run_dir = Path(run_dir)
    metrics_path, marker = run_dir / METRICS_FILE, run_dir / FINGERPRINT_FILE
    if not metrics_path.is_file() or not marker.is_file():
        return None  # never finished (or finished before fingerprints were recorded): compute it
    if marker.read_text(encoding="utf-8").strip() != fingerprint:
        raise ConfigError(
            f"{run_dir} holds the finished results of a different configuration, so resume=true cannot reuse "
            "them. Resume with exactly the same settings, use a new output dir (hydra.sweep.dir=... or "
            "hydra.run.dir=...), or set resume=false to recompute and overwrite them."
        )
    return pd.read_csv(metrics_path).iloc[0].to_dict()


# ----------------------------------------------------------------------------------------------- grids
def expand_grids(
    grids: Sequence[dict[str, Any]], common: dict[str, Any], arguments: Sequence[str], parser: Any,
) -> list[list[str]]:
    """Jobs of a union of cartesian products, each job once, in order.

    Every entry of ``grids`` is one product (``{key: "a,b,c"}`` like ``hydra.sweeper.params``); ``common``
    axes (e.g. ``seed: 0,1,2``) multiply every grid; command-line ``arguments`` win over both (so
    ``clusterer=kmeans`` collapses the clusterer axis of every grid). Jobs with the same overrides are run once.
    """
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper

    jobs: dict[frozenset[str], list[str]] = {}
    for grid in grids or [{}]:
        entries = [f"{k}={v}" for k, v in {**common, **grid}.items()] + list(arguments)
        for job in BasicSweeper.split_arguments(parser.parse_overrides(entries), None)[0]:
            jobs.setdefault(frozenset(job), job)
    return list(jobs.values())
