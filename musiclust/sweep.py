"""Sweeps: refusing a sweep into a finished sweep dir, the comparison written when a multirun ends, and resuming
finished jobs. (Task suites are Hydra's basic sweeper over experiment configs, one per cell: conf/task/.)

Kept free of torch imports: Hydra loads this module in the launcher process of every sweep.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any, NamedTuple

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from musiclust import compare
from musiclust.io import write_csv, write_json
from musiclust.layout import METRICS_FILE, SWEEP_JOBS_DIR, journal_entry, read_marker

log = logging.getLogger(__name__)

#: keys that do not change what a job computes, left out of its fingerprint
FINGERPRINT_EXCLUDES = ("resume", "overwrite")


# ----------------------------------------------------------------------------------------------- comparison
def comparison_name(config: DictConfig) -> str:
    """``{task}`` for task suites, the search name for ``hparams_search=...``, else ``multirun``."""
    choices = OmegaConf.select(config, "hydra.runtime.choices", default=None) or {}
    return str(config.get("task_name") or choices.get("hparams_search") or "multirun")


class SweepOutcome(NamedTuple):
    """What :func:`write_sweep_comparison` wrote and how many of the sweep's jobs did not finish."""

    table_path: Path
    summary_path: Path
    n_jobs: int
    n_failed: int


def write_sweep_comparison(
    sweep_dir: str | Path, name: str, since: float | None = None, metric: str = "nmi", include_debug: bool = False,
) -> SweepOutcome | None:
    """Write ``{name}_comparison.csv`` (one row per job, failed jobs with their error) and
    ``{name}_comparison_summary.csv`` (mean ± std over seeds per cell, plus seed stability) into ``sweep_dir``;
    when the jobs differ in ``k``, also ``{name}_k_curve.png`` (choosing k without labels).

    ``since`` keeps only the jobs this sweep reached from that Unix time on (run, kept by ``resume=true`` or
    refused), so job dirs left over from an earlier, larger sweep in the same dir are not mixed in. A job this
    sweep refused (its dir holds another configuration's results) is listed as failed, without those results.
    Debug runs (``trainer.fast_dev_run``) are left out unless ``include_debug``. Returns None without jobs.
    """
    sweep_dir = Path(sweep_dir)
    runs = compare.find_runs([sweep_dir], include_incomplete=True, since=since, include_debug=include_debug)
    if runs.empty:
        log.warning("No job dirs found in %s; no comparison written", sweep_dir)
        return None
    for run_dir, entry in journal(sweep_dir, since).items():
        refused = (runs["run_dir"] == run_dir).to_numpy()
        if entry.get("state") == "refused" and refused.any():
            runs.loc[refused, compare.metric_columns(runs)] = float("nan")
            runs.loc[refused, ["status", "error"]] = ["failed", _refusal_line(entry)]
    runs = runs.iloc[sorted(range(len(runs)), key=lambda i: _job_order(runs["run_dir"].iloc[i]))]
    table = compare.run_table(runs.reset_index(drop=True))
    summary = compare.summarize(runs, compare.default_group_by(runs))
    table_path = write_csv(table, sweep_dir / f"{name}_comparison.csv")
    summary_path = write_csv(summary, sweep_dir / f"{name}_comparison_summary.csv")
    k_curve = compare.plot_k_curve(runs, sweep_dir / f"{name}_k_curve.png")  # only when k varies
    if k_curve is not None:
        log.info("k-curve (silhouette, Calinski-Harabasz, coverage, k-means inertia against k): %s", k_curve)

    failed = runs[runs["status"] != "ok"]
    for _, row in failed.iterrows():
        log.warning("Job %s %s: %s", Path(row["run_dir"]).name, row["status"], row["error"])
    metric = ("nmi" if "nmi_mean" in summary else "silhouette") if metric == "auto" else metric
    if runs.attrs.get("debug_runs"):
        log.info("Left out %d debug job(s) (trainer.fast_dev_run); hydra.callbacks.comparison.include_debug=true "
                 "lists them", len(runs.attrs["debug_runs"]))
    sort_by = metric if f"{metric}_mean" in summary else None
    shown = compare.sort_rows(summary, f"{sort_by}_mean") if sort_by else summary
    metrics = [f"{m}_{s}" for m in compare.choose_metrics(runs, None) for s in ("mean", "std")]
    shown = shown[[c for c in shown.columns if not c.endswith(("_mean", "_std")) or c in metrics]]
    log.info("Sweep summary (%d jobs, %d failed):\n%s", len(runs), len(failed),
             compare.display_frame(shown).to_string(index=False))
    log.info("Comparison written to %s and %s", table_path, summary_path)
    return SweepOutcome(table_path, summary_path, len(runs), len(failed))


def _refusal_line(entry: dict[str, Any]) -> str:
    """The table line of a job this sweep refused."""
    return f"refused: {entry.get('message', '')}".strip()


def _job_order(run_dir: str) -> tuple:
    name = Path(run_dir).name
    return (0, int(name), "") if name.isdigit() else (1, 0, name)


class ComparisonWriter(Callback):
    """Hydra callback for multiruns. At the start: refuse a sweep into a dir that holds finished jobs unless
    ``resume=true`` or ``overwrite=true`` (before anything is written). At the end: write the sweep's
    comparison tables into its sweep dir, then exit non-zero when jobs failed, saying how many.
    """

    def __init__(self, metric: str = "nmi", include_debug: bool = False) -> None:
        self.metric = metric
        self.include_debug = bool(include_debug)
        self.started: float | None = None

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self.started = time.time() - 2.0  # slack for coarse file-system timestamps
        problem = finished_sweep_problem(config)
        if problem:
            log.error("musiclust: error: %s", problem)
            sys.exit(2)  # SystemExit passes through Hydra's callback runner; an Exception would become a warning

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        outcome = write_sweep_comparison(config.hydra.sweep.dir, comparison_name(config), since=self.started,
                                         metric=self.metric, include_debug=self.include_debug)
        if outcome is not None and outcome.n_failed:
            log.error("musiclust: %d of %d jobs failed; their errors are listed in %s", outcome.n_failed,
                      outcome.n_jobs, outcome.table_path)
            sys.exit(1)


def finished_sweep_problem(config: DictConfig) -> str | None:
    """Why a multirun must not start (its sweep dir already holds finished jobs and neither ``resume=true``
    nor ``overwrite=true`` was given), or None."""
    if config.get("resume") or config.get("overwrite"):
        return None
    sweep_dir = Path(str(config.hydra.sweep.dir))
    if not sweep_dir.is_dir():
        return None
    finished = [d for d in compare.iter_run_dirs([sweep_dir]) if read_marker(d) is not None]
    if not finished:
        return None
    names = ", ".join(sorted((d.name for d in finished), key=_job_order))
    return (f"{sweep_dir} already holds {len(finished)} finished job(s) ({names}); nothing was started or changed. "
            "Add resume=true to keep them and run only the rest, overwrite=true to recompute every job, or choose "
            "another hydra.sweep.dir.")


# ----------------------------------------------------------------------------------------------- resume
def config_fingerprint(cfg: DictConfig) -> str:
    """A hash of everything a job computes from: the resolved config (without ``resume``/``overwrite``)."""
    data = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False)
    for key in FINGERPRINT_EXCLUDES:
        data.pop(key, None)
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def finished_metrics(run_dir: str | Path, fingerprint: str) -> dict[str, Any] | None:
    """The metrics of a finished job in ``run_dir`` computed from the same config; None when it never finished.

    Raises :class:`musiclust.errors.ConfigError` when the dir holds finished results of a *different* config:
    resuming must not mix them up, and recomputing would overwrite them.
    """
    import pandas as pd

    from musiclust.errors import ConfigError

    run_dir = Path(run_dir)
    marker = read_marker(run_dir)
    if marker is None:
        return None  # never finished (killed, crashed, failed): compute it
    if marker.get("fingerprint") != fingerprint:
        raise ConfigError(
            f"{run_dir} holds the finished results of a different configuration, so resume=true cannot reuse "
            "them. Resume with exactly the same settings, use a new output dir (hydra.sweep.dir=... or "
            "hydra.run.dir=...), or set overwrite=true to recompute and overwrite them."
        )
    metrics_path = run_dir / METRICS_FILE  # absent only when outputs.metrics was removed
    return pd.read_csv(metrics_path).iloc[0].to_dict() if metrics_path.is_file() else {}


def note_job(run_dir: str | Path, state: str, message: str = "") -> None:
    """In a multirun, record in the sweep dir that this sweep reached the job in ``run_dir`` (``started``,
    ``kept`` or ``refused``), without touching the job dir itself. No-op outside a sweep dir."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return
    sweep_dir = Path(str(HydraConfig.get().sweep.dir)).resolve()
    entry = journal_entry(sweep_dir, Path(run_dir).resolve())
    if entry is not None:
        write_json({"run_dir": str(Path(run_dir).resolve()), "state": state, "message": message}, entry)


def journal(sweep_dir: str | Path, since: float | None = None) -> dict[str, dict[str, Any]]:
    """The jobs a sweep reached from ``since`` on: resolved run dir → its journal entry."""
    folder = Path(sweep_dir) / SWEEP_JOBS_DIR
    entries = {}
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        if since is not None and path.stat().st_mtime < since:
            continue
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        entries[str(Path(entry["run_dir"]).resolve())] = entry
    return entries
