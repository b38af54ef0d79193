"""Compare finished runs across output directories: ``musiclust-compare DIR [DIR ...]``.

The pieces are importable and shared by every table musiclust writes (the sweep callback in
:mod:`musiclust.sweep` uses the same functions):

- :func:`find_runs` — every run dir under some paths → one row per run: settings, metrics, status, error.
- :func:`varying_settings` — the setting columns whose values differ between runs.
- :func:`run_table` — the per-run table: varying settings + metrics + status/error + run dir.
- :func:`aggregate` — mean ± std of metrics over the runs of each group (e.g. over seeds per cell).
- :func:`stability` — mean pairwise ARI between the cluster assignments of the runs of each group.
- :func:`summarize` — :func:`aggregate` joined with :func:`stability`.
- :func:`compare` → :class:`Comparison`; :func:`write_outputs` writes its CSV, Markdown and bar charts.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import math
import os
import sys
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import OmegaConf

from musiclust.config import SETTINGS
from musiclust.errors import ConfigError, DataError, MusiclustError
from musiclust.io import save_figure, write_csv, write_text
from musiclust.layout import (
    DONE_FILE,
    ERROR_FILE,
    HYDRA_DIR,
    LATENTS_FILE,
    METRICS_FILE,
    SWEEP_JOBS_DIR,
    journal_entry,
    read_marker,
)

log = logging.getLogger(__name__)

#: settings written by the pipeline (musiclust.config.SETTINGS) and where to find them in a job's config
SETTING_SOURCES: dict[str, tuple[str, ...]] = {
    s.name: (s.key, *((f"@{s.group}",) if s.group else ())) for s in SETTINGS}
#: command-line overrides that name a setting above (so the override adds no extra column)
OVERRIDE_ALIASES = {key: s.name for s in SETTINGS for key in (s.name, s.key, s.group) if key}
#: overrides that say where or how a run was executed, not what was computed
BOOKKEEPING_PREFIXES = (
    "paths.", "hydra.", "hydra/", "callbacks.", "outputs.", "logger", "resume", "cache", "num_workers",
    "trainer.enable_progress_bar", "feature.n_jobs",
)
STATUS_COLUMNS = ("status", "error", "run_dir")
#: metrics where smaller is better (sorting and "best" picks)
LOWER_IS_BETTER = frozenset({"davies_bouldin", "n_noise", "n_skipped", "feature_seconds", "total_seconds"})
#: metrics shown and plotted by default, when present
DEFAULT_METRICS = ("nmi", "ami", "ari", "purity", "silhouette", "calinski_harabasz", "davies_bouldin", "coverage",
                   "active_dims")


# ----------------------------------------------------------------------------------------------- finding runs
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
    config (a failed job), plus every command-line override that is not bookkeeping (e.g. ``model.lr``).
    """
    status = run_status(run_dir)
    row: dict[str, Any] = {}
    debug = False
    if status == "ok":
        if (run_dir / METRICS_FILE).is_file():  # absent only when outputs.metrics was removed
            row = pd.read_csv(run_dir / METRICS_FILE).iloc[0].to_dict()
        recorded = str(row.pop("debug", False)) == "True"  # popped: the column is neither a setting nor a metric
        debug = recorded or bool((read_marker(run_dir) or {}).get("debug"))
    config = _load_yaml(run_dir / HYDRA_DIR / "config.yaml")
    hydra_cfg = _load_yaml(run_dir / HYDRA_DIR / "hydra.yaml")
    choices = _select(hydra_cfg, "hydra.runtime.choices") or {}
    overrides = _override_pairs(_load_yaml(run_dir / HYDRA_DIR / "overrides.yaml") or [])

    settings: dict[str, Any] = {}
    for name, sources in SETTING_SOURCES.items():
        if name in row:
            settings[name] = _clean(row.pop(name))
            continue
        value = None
        for source in sources:
            value = choices.get(source[1:]) if source.startswith("@") else _select(config, source)
            if value is not None:
                break
        settings[name] = _clean(value)
    for key, value in overrides.items():
        if key not in OVERRIDE_ALIASES and not _is_bookkeeping(key):
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
        frame = pd.DataFrame(columns=[*SETTING_SOURCES, *STATUS_COLUMNS])
    settings = list(dict.fromkeys(key for row_settings, _, _ in rows for key in row_settings)) or list(
        SETTING_SOURCES)
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


# ----------------------------------------------------------------------------------------------- columns
def setting_columns(frame: pd.DataFrame) -> list[str]:
    """Columns that describe a run rather than measure it (recorded by :func:`find_runs`; for other frames:
    the known settings and override keys such as ``model.lr``)."""
    if "settings" in frame.attrs:
        return [c for c in frame.attrs["settings"] if c in frame.columns]
    return [c for c in frame.columns if c in SETTING_SOURCES or "." in c or "/" in c]


def metric_columns(frame: pd.DataFrame) -> list[str]:
    """Numeric measurement columns (booleans such as ``features_from_cache`` are not metrics)."""
    settings = set(setting_columns(frame))
    return [c for c in frame.columns if c not in settings and c not in STATUS_COLUMNS
            and pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])]


def info_columns(frame: pd.DataFrame) -> list[str]:
    """Per-run diagnostics that are not numbers (e.g. ``kl_per_dim``): shown per run, not aggregated."""
    known = set(setting_columns(frame)) | set(metric_columns(frame)) | set(STATUS_COLUMNS)
    return [c for c in frame.columns if c not in known]


def varying_settings(frame: pd.DataFrame) -> list[str]:
    """Setting columns whose values are not all the same."""
    return [c for c in setting_columns(frame) if frame[c].astype(str).nunique(dropna=False) > 1]


def default_group_by(frame: pd.DataFrame) -> list[str]:
    """The cell of a run: every varying setting except the seed."""
    return [c for c in varying_settings(frame) if c != "seed"]


def check_columns(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ConfigError(f"{what}: no column {', '.join(map(repr, missing))} in these runs. "
                          f"Available: {', '.join(map(str, frame.columns))}.")


def run_table(frame: pd.DataFrame, sort_by: str | None = None) -> pd.DataFrame:
    """Per-run view: the varying settings, all metrics, status, error and run dir (one row per run)."""
    shown = varying_settings(frame) or [c for c in ("task", "feature", "model", "clusterer") if c in frame.columns]
    table = frame[[*shown, *metric_columns(frame), *info_columns(frame), *STATUS_COLUMNS]]
    if table["run_dir"].duplicated().any():
        raise DataError("a run dir appears twice in the comparison; this is a bug in musiclust, please report it")
    return sort_rows(table, sort_by) if sort_by else table


def sort_rows(frame: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Best first by ``metric`` (ascending for lower-is-better metrics); NaN and failed runs last."""
    check_columns(frame, [metric], "--metric")
    ascending = metric.removesuffix("_mean") in LOWER_IS_BETTER
    return frame.sort_values(metric, ascending=ascending, na_position="last", kind="stable").reset_index(drop=True)


# ----------------------------------------------------------------------------------------------- aggregation
def _groups(frame: pd.DataFrame, group_by: Sequence[str]) -> Iterable[tuple[tuple, pd.DataFrame]]:
    if not group_by:
        yield (), frame
        return
    keys = frame[list(group_by)].astype(str)  # '' and numbers group alike across sources
    for _, group in frame.groupby([keys[c] for c in group_by], sort=False, dropna=False):
        yield tuple(group.iloc[0][list(group_by)]), group


def _natural(value: Any) -> tuple:
    return (0, value, "") if isinstance(value, int | float) else (1, 0, str(value))


def aggregate(frame: pd.DataFrame, group_by: Sequence[str], metrics: Sequence[str] | None = None) -> pd.DataFrame:
    """Mean and std (over the ok runs of each group, e.g. over seeds) of each metric.

    Columns: ``group_by`` keys, ``n_runs``, ``n_failed``, ``seeds`` and ``{metric}_mean`` / ``{metric}_std``.
    """
    group_by = list(group_by)
    check_columns(frame, group_by, "--group-by")
    metrics = list(metrics) if metrics is not None else metric_columns(frame)
    check_columns(frame, metrics, "--metrics")
    rows = []
    for values, group in _groups(frame, group_by):
        ok = group[group["status"] == "ok"]
        row: dict[str, Any] = dict(zip(group_by, values, strict=True))
        row["n_runs"] = len(ok)
        row["n_failed"] = int((group["status"] != "ok").sum())
        row["seeds"] = ",".join(map(str, sorted(set(ok["seed"]), key=_natural))) if "seed" in ok else ""
        for metric in metrics:
            numbers = pd.to_numeric(ok[metric], errors="coerce")
            row[f"{metric}_mean"] = float(numbers.mean()) if numbers.notna().any() else float("nan")
            row[f"{metric}_std"] = float(numbers.std(ddof=1)) if numbers.notna().sum() > 1 else float("nan")
        rows.append(row)
    return pd.DataFrame(rows)


def cluster_assignments(run_dir: str | os.PathLike) -> pd.Series | None:
    """The clusters of a run from its ``latents.npz``, indexed by song id (None when missing)."""
    path = Path(run_dir) / LATENTS_FILE
    if not path.is_file():
        return None
    with np.load(path, allow_pickle=False) as latents:
        return pd.Series(latents["clusters"], index=latents["ids"].astype(str))


def pairwise_ari(assignments: Sequence[pd.Series]) -> list[float]:
    """ARI between every pair of cluster assignments, compared on the songs both runs clustered."""
    from sklearn.metrics import adjusted_rand_score

    scores = []
    for a, b in itertools.combinations(assignments, 2):
        common = a.index.intersection(b.index)
        if len(common) >= 2:
            scores.append(float(adjusted_rand_score(a.loc[common].to_numpy(), b.loc[common].to_numpy())))
    return scores


def stability(frame: pd.DataFrame, group_by: Sequence[str]) -> pd.DataFrame:
    """Agreement of the runs of each group (different seeds of one cell): mean and std of pairwise ARI.

    Columns: ``group_by`` keys, ``stability_ari`` (1 = every seed gives the same partition; NaN with fewer
    than two runs), ``stability_ari_std`` and ``stability_pairs``.
    """
    group_by = list(group_by)
    check_columns(frame, group_by, "--group-by")
    rows = []
    for values, group in _groups(frame, group_by):
        ok = group[group["status"] == "ok"]
        assignments = [a for a in (cluster_assignments(d) for d in ok["run_dir"]) if a is not None]
        scores = pairwise_ari(assignments)
        rows.append({
            **dict(zip(group_by, values, strict=True)),
            "stability_ari": float(np.mean(scores)) if scores else float("nan"),
            "stability_ari_std": float(np.std(scores, ddof=1)) if len(scores) > 1 else float("nan"),
            "stability_pairs": len(scores),
        })
    return pd.DataFrame(rows)


def summarize(frame: pd.DataFrame, group_by: Sequence[str], metrics: Sequence[str] | None = None) -> pd.DataFrame:
    """:func:`aggregate` and :func:`stability` side by side: one row per group."""
    summary = aggregate(frame, group_by, metrics)
    stable = stability(frame, group_by)
    return pd.concat([summary, stable.drop(columns=list(group_by))], axis=1)


# ----------------------------------------------------------------------------------------------- display
def _number(value: Any) -> str:
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | float | np.number):
        return "" if value is None else str(value)
    if isinstance(value, int | np.integer):
        return str(value)
    if math.isnan(value):
        return "nan"
    return f"{value:.4g}" if abs(value) >= 1000 or 0 < abs(value) < 0.01 else f"{value:.3f}"


def _mean_std(mean: float, std: float) -> str:
    if not np.isfinite(std):
        return _number(mean)
    if np.isfinite(mean) and 0.01 <= abs(mean) < 1000:
        return f"{mean:.3f} ± {std:.3f}"  # one precision for both, so they read together
    return f"{_number(mean)} ± {_number(std)}"


def display_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Numbers rounded for reading; ``x_mean``/``x_std`` pairs merged into one ``x`` column as ``mean ± std``."""
    out = {}
    for column in frame.columns:
        if column.endswith("_std") and column.removesuffix("_std") + "_mean" in frame.columns:
            continue
        if column.endswith("_mean") and (std := column.removesuffix("_mean") + "_std") in frame.columns:
            out[column.removesuffix("_mean")] = [
                _mean_std(m, s) for m, s in zip(frame[column], frame[std], strict=True)]
        elif column == "stability_ari_std":
            continue
        else:
            out[column] = [_number(v) for v in frame[column]]
    return pd.DataFrame(out, index=frame.index)


def to_markdown(frame: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table (no extra dependency)."""
    shown = display_frame(frame)

    def cell(value: Any) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(c) for c in shown.columns) + " |",
             "| " + " | ".join("---" for _ in shown.columns) + " |"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in shown.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def plot_metric_bars(summary: pd.DataFrame, group_by: Sequence[str], metric: str, path: str | os.PathLike) -> Path:
    """One bar per group: the mean of ``metric`` with its std over seeds as the error bar."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [" / ".join(str(v) for v in row) or "all runs" for row in summary[list(group_by)].itertuples(index=False)]
    if not group_by:
        labels = ["all runs"] * len(summary)
    means = summary[f"{metric}_mean"].to_numpy(dtype=float)
    stds = np.nan_to_num(summary[f"{metric}_std"].to_numpy(dtype=float))
    figure, ax = plt.subplots(figsize=(7, 0.45 * len(labels) + 1.5))
    positions = np.arange(len(labels))
    ax.barh(positions, means, xerr=stds, capsize=3, color="tab:blue", alpha=0.8)
    ax.set_yticks(positions, labels)
    ax.invert_yaxis()
    ax.set_xlabel(f"{metric} (mean ± std over seeds)")
    ax.set_title(metric)
    return save_figure(figure, path)


# ----------------------------------------------------------------------------------------------- the CLI
@dataclass
class Comparison:
    """What ``musiclust-compare`` shows: all runs, the printed table and the per-group summary."""

    runs: pd.DataFrame                 # find_runs(): every run with all its settings and metrics
    table: pd.DataFrame                # per run, or per group when group_by is given; sorted by metric
    summary: pd.DataFrame              # summarize() over plot_group_by (for the charts)
    metrics: list[str]                 # metrics shown and plotted
    metric: str                        # the sort metric
    group_by: list[str] | None         # None = one row per run
    plot_group_by: list[str] = field(default_factory=list)


def choose_metrics(frame: pd.DataFrame, requested: Sequence[str] | None) -> list[str]:
    if requested:
        check_columns(frame, requested, "--metrics")
        return list(requested)
    available = metric_columns(frame)
    return [m for m in DEFAULT_METRICS if m in available] or available


def compare(
    paths: Sequence[str | os.PathLike], metric: str | None = None, group_by: Sequence[str] | None = None,
    metrics: Sequence[str] | None = None, include_debug: bool = False,
) -> Comparison:
    """Everything ``musiclust-compare`` prints and writes, as data. ``group_by=[]`` = every varying setting
    except the seed; ``None`` = one row per run. When no run finished, ``table`` lists the failures and
    ``metrics`` is empty."""
    runs = find_runs(paths, include_debug=include_debug)
    if runs.empty:
        debug = f" ({len(runs.attrs['debug_runs'])} debug run(s) left out: --include-debug)" if runs.attrs.get(
            "debug_runs") else ""
        raise DataError(f"no finished runs under {', '.join(map(str, paths))}{debug} (looked for dirs with "
                        f"{HYDRA_DIR}/config.yaml or {DONE_FILE}). Pass run dirs or sweep dirs.")
    if not (runs["status"] == "ok").any():
        return Comparison(runs=runs, table=run_table(runs), summary=pd.DataFrame(), metrics=[], metric="",
                          group_by=None)
    metrics = choose_metrics(runs, metrics)
    metric = metric or next((m for m in ("nmi", "silhouette") if m in runs.columns), metrics[0])
    check_columns(runs, [metric], "--metric")
    if metric not in metrics:
        metrics.append(metric)
    plot_group_by = default_group_by(runs) if not group_by else list(group_by)
    summary = summarize(runs, plot_group_by, metrics)
    if group_by is None:
        table = run_table(runs, sort_by=metric)
        table = table[[c for c in table.columns if c not in metric_columns(runs) or c in metrics or c == metric]]
    else:
        table = sort_rows(summary, f"{metric}_mean")
    return Comparison(runs=runs, table=table, summary=summary, metrics=metrics, metric=metric,
                      group_by=None if group_by is None else plot_group_by, plot_group_by=plot_group_by)


def output_stem(out: str | os.PathLike) -> Path:
    """``--out results/cmp`` or ``results/cmp.csv`` → ``results/cmp`` (+ .csv, .md, _{metric}.png)."""
    path = Path(out)
    return path.with_suffix("") if path.suffix in (".csv", ".md") else path


def write_outputs(comparison: Comparison, out: str | os.PathLike, plots: bool = True) -> list[Path]:
    """The table as CSV (full precision) and Markdown, and one bar chart per metric with error bars."""
    stem = output_stem(out)
    written = [write_csv(comparison.table, stem.with_name(stem.name + ".csv")),
               write_text(to_markdown(comparison.table), stem.with_name(stem.name + ".md"))]
    if plots:
        for metric in comparison.metrics:
            if comparison.summary[f"{metric}_mean"].notna().any():
                written.append(plot_metric_bars(comparison.summary, comparison.plot_group_by, metric,
                                                stem.with_name(f"{stem.name}_{metric}.png")))
    return written


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="musiclust-compare",
        description="Compare musiclust runs across output dirs (single runs and sweeps, any day or task).",
        epilog="Example: musiclust-compare outputs/multirun/2024-05-01_10-00-00_easy outputs/runs "
               "--group-by --metric nmi --out results/compare",
    )
    parser.add_argument("dirs", nargs="+", help="run dirs or dirs containing runs (searched recursively)")
    parser.add_argument("--metric", default=None, help="sort by this metric (default: nmi, else silhouette)")
    parser.add_argument("--metrics", nargs="+", default=None,
                        help=f"metrics to show and plot (default: those of {', '.join(DEFAULT_METRICS)} present)")
    parser.add_argument("--group-by", nargs="*", default=None, metavar="KEY",
                        help="aggregate runs that share these settings to mean ± std (+ stability = pairwise ARI "
                             "between their clusters); with no KEY: every varying setting except seed")
    parser.add_argument("--out", default=None, metavar="PATH",
                        help="write PATH.csv, PATH.md and PATH_{metric}.png bar charts with error bars")
    parser.add_argument("--no-plots", action="store_true", help="with --out: skip the bar charts")
    parser.add_argument("--include-debug", action="store_true",
                        help="also compare debug runs (trainer.fast_dev_run), marked in a debug column")
    parser.add_argument("--html", default=None, metavar="PATH",
                        help="write one self-contained HTML report: sortable table, metric charts, every run's plots")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="musiclust-compare: %(levelname)s: %(message)s")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the logger already names incomplete runs
            comparison = compare(args.dirs, metric=args.metric, group_by=args.group_by, metrics=args.metrics,
                                 include_debug=args.include_debug)
        with pd.option_context("display.max_columns", None, "display.width", 250, "display.max_colwidth", 80):
            print(display_frame(comparison.table).to_string(index=False))
        if debug_runs := comparison.runs.attrs.get("debug_runs"):
            print(f"musiclust-compare: left out {len(debug_runs)} debug run(s) (trainer.fast_dev_run): "
                  f"{', '.join(debug_runs)}; add --include-debug to compare them", file=sys.stderr)
        if not comparison.metrics:
            print(f"musiclust-compare: error: {len(comparison.runs)} of {len(comparison.runs)} runs failed or did "
                  "not finish; nothing to compare (their errors are listed above)", file=sys.stderr)
            return 1
        if args.out:
            for path in write_outputs(comparison, args.out, plots=not args.no_plots):
                print(f"wrote {path}")
        if args.html:
            from musiclust.report import write_report

            print(f"wrote {write_report(comparison, args.html, sources=args.dirs)}")
    except MusiclustError as err:
        print(f"musiclust-compare: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
