"""A comparison for reading: numbers rounded (``mean ± std``), Markdown tables, bar charts with error bars, and
the files ``--out`` writes."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from musiclust.compare.comparison import Comparison
from musiclust.io import save_figure, write_csv, write_text


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


def _markdown_cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def to_markdown(frame: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table of :func:`display_frame` (cells as shown, not re-parsed as numbers)."""
    shown = display_frame(frame)
    shown = shown.map(_markdown_cell).rename(columns=_markdown_cell)
    return shown.to_markdown(index=False, tablefmt="github", disable_numparse=True) + "\n"


def plot_metric_bars(summary: pd.DataFrame, group_by: Sequence[str], metric: str, path: str | os.PathLike) -> Path:
    """One bar per group: the mean of ``metric`` with its std over seeds as the error bar."""
    import matplotlib  # here: only charts need it, and it is slow to import

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
