"""What ``musiclust-compare`` shows, as data: :func:`compare` → :class:`Comparison`."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd

from musiclust.compare.aggregate import summarize
from musiclust.compare.columns import (
    UNCHARTED,
    check_columns,
    choose_metrics,
    default_group_by,
    metric_columns,
    run_table,
    setting_columns,
    sort_rows,
)
from musiclust.compare.runs import find_runs
from musiclust.errors import DataError
from musiclust.layout import DONE_FILE, HYDRA_DIR


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
    chart_metrics: list[str] = field(default_factory=list)  # metrics charted (UNCHARTED ones only when asked)

    def differing(self, setting: str) -> list[str]:
        """The distinct values of ``setting`` among the finished runs when there are several (else [])."""
        ok = self.runs[self.runs["status"] == "ok"] if "status" in self.runs else self.runs
        if setting not in ok:
            return []
        values = sorted({str(v) for v in ok[setting]}, key=lambda v: (len(v), v))
        return values if len(values) > 1 else []

    def notes(self) -> list[str]:
        """What a reader must know before comparing the numbers side by side (scores of different label
        columns or numbers of clusters)."""
        found = []
        if label_cols := self.differing("label_col"):
            shown = ", ".join(v or "none" for v in label_cols)
            found.append(f"runs are scored against different label columns ({shown}): label-based scores "
                         "(nmi, ari, ...) are charted in one panel per label_col")
        if ks := self.differing("k"):
            found.append(f"runs ask for different numbers of clusters (k = {', '.join(v or 'own' for v in ks)}): "
                         "nmi and purity rise with k even by chance (ami, ari are adjusted); silhouette and "
                         "calinski_harabasz favour other k")
        return found


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
    requested = list(metrics) if metrics else []
    metrics = choose_metrics(runs, metrics)
    metric = metric or next((m for m in ("nmi", "silhouette") if m in runs.columns), metrics[0])
    check_columns(runs, [metric], "--metric")
    if metric not in metrics:
        metrics.append(metric)
    plot_group_by = default_group_by(runs, group_by or ())
    summary = summarize(runs, plot_group_by, metrics)
    metrics = [metric, *(m for m in metrics if m != metric)]  # the sort metric first, right after the settings
    if group_by is None:
        table = run_table(runs, sort_by=metric)
        known = set(metric_columns(runs))
        table = table[[c for c in table.columns if c in setting_columns(runs)] + metrics
                      + [c for c in table.columns if c not in known and c not in setting_columns(runs)]]
    else:
        table = sort_rows(summary, f"{metric}_mean")
        first = [f"{metric}_mean", f"{metric}_std"]
        table = table[[c for c in table.columns if c in plot_group_by] + first
                      + [c for c in table.columns if c not in plot_group_by and c not in first]]
    chart_metrics = [m for m in metrics if m not in UNCHARTED or (requested and m in requested)]
    return Comparison(runs=runs, table=table, summary=summary, metrics=metrics, metric=metric,
                      group_by=None if group_by is None else plot_group_by, plot_group_by=plot_group_by,
                      chart_metrics=chart_metrics)
