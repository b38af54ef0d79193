"""What each column of a runs frame is (a setting, a metric, a per-run note or a status column), the per-run
table, and sorting best first."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from musiclust.clustering.objectives import EXTERNAL_METRICS
from musiclust.compare.runs import STATUS_COLUMNS
from musiclust.config import FLAG_SETTINGS, SETTING_NAMES
from musiclust.errors import ConfigError, DataError

#: metrics where smaller is better (sorting and "best" picks)
LOWER_IS_BETTER = frozenset({"davies_bouldin", "n_noise", "n_skipped", "feature_seconds", "total_seconds", "inertia"})
#: metrics shown and plotted by default, when present
DEFAULT_METRICS = ("nmi", "ami", "ari", "purity", "silhouette", "calinski_harabasz", "davies_bouldin", "coverage",
                   "active_dims")
#: left out of the default charts (still in the tables): counts whose scale differs wildly between models
UNCHARTED = frozenset({"active_dims"})
#: beside a metric's value in the label-dependent family: the permutation baseline, the reference class share
_LABEL_SUFFIXES = ("_random_std", "_random")


def depends_on_labels(metric: str) -> bool:
    """Whether ``metric`` scores clusters against a label column (so runs with different ``label_col`` values
    must not share one axis): the external metrics, their random baselines, ``largest_class_share``."""
    name = metric.removesuffix("_mean").removesuffix("_std")
    for suffix in _LABEL_SUFFIXES:
        name = name.removesuffix(suffix)
    return name in EXTERNAL_METRICS or name in ("largest_class_share", "n_classes")


def higher_is_better(metric: str) -> bool:
    return metric.removesuffix("_mean") not in LOWER_IS_BETTER


def setting_columns(frame: pd.DataFrame) -> list[str]:
    """Columns that describe a run rather than measure it (recorded by :func:`~musiclust.compare.find_runs`;
    for other frames: the known settings and override keys such as ``model.lr``)."""
    if "settings" in frame.attrs:
        return [c for c in frame.attrs["settings"] if c in frame.columns]
    return [c for c in frame.columns if c in SETTING_NAMES or "." in c or "/" in c]


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
    """Setting columns whose values are not all the same, and flags (caveats such as ``label_from_lyrics``) that
    any run has."""
    flagged = [c for c in FLAG_SETTINGS if c in frame.columns and (frame[c].fillna("").astype(str) != "").any()]
    varying = [c for c in setting_columns(frame) if frame[c].astype(str).nunique(dropna=False) > 1]
    return [*varying, *(c for c in flagged if c not in varying)]


def default_group_by(frame: pd.DataFrame, group_by: Sequence[str] = ()) -> list[str]:
    """The cell of a run: ``group_by``, else every varying setting except the seed; flags any run has join it."""
    chosen = list(group_by) or [c for c in varying_settings(frame) if c != "seed"]
    return [*chosen, *(c for c in varying_settings(frame) if c in FLAG_SETTINGS and c not in chosen)]


def check_columns(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ConfigError(f"{what}: no column {', '.join(map(repr, missing))} in these runs. "
                          f"Available: {', '.join(map(str, frame.columns))}.")


def choose_metrics(frame: pd.DataFrame, requested: Sequence[str] | None) -> list[str]:
    """``requested`` (checked), else those of :data:`DEFAULT_METRICS` present, else every metric column."""
    if requested:
        check_columns(frame, requested, "--metrics")
        return list(requested)
    available = metric_columns(frame)
    return [m for m in DEFAULT_METRICS if m in available] or available


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
    ascending = not higher_is_better(metric)
    return frame.sort_values(metric, ascending=ascending, na_position="last", kind="stable").reset_index(drop=True)
