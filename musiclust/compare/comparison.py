"""What ``musiclust-compare`` shows, as data: :func:`compare` → :class:`Comparison`."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd

from musiclust.compare.aggregate import summarize
from musiclust.compare.columns import (
    check_columns,
    choose_metrics,
    default_group_by,
    metric_columns,
    run_table,
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
    plot_group_by = default_group_by(runs, group_by or ())
    summary = summarize(runs, plot_group_by, metrics)
    if group_by is None:
        table = run_table(runs, sort_by=metric)
        table = table[[c for c in table.columns if c not in metric_columns(runs) or c in metrics or c == metric]]
    else:
        table = sort_rows(summary, f"{metric}_mean")
    return Comparison(runs=runs, table=table, summary=summary, metrics=metrics, metric=metric,
                      group_by=None if group_by is None else plot_group_by, plot_group_by=plot_group_by)
