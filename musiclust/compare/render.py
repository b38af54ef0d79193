"""A comparison for reading: numbers rounded (``mean ± std``), Markdown tables, bar charts with error bars, and
the files ``--out`` writes."""

from __future__ import annotations

import math
import os
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from musiclust.compare.columns import depends_on_labels, higher_is_better, setting_columns, sort_rows, varying_settings
from musiclust.compare.comparison import Comparison
from musiclust.errors import ConfigError
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


def _pyplot():
    import matplotlib  # here: only charts need it, and it is slow to import

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


#: bar labels wrap at this many characters (at the ", " between settings)
BAR_LABEL_WIDTH = 46


def bar_label(row: pd.Series, keys: Sequence[str]) -> str:
    """``model=pca, k=6``: the group's settings as ``key=value`` (blank values left out)."""
    parts = [f"{key}={row[key]}" for key in keys if str(row[key]) not in ("", "nan")]
    return ", ".join(parts) or "all runs"


def plot_metric_bars(summary: pd.DataFrame, group_by: Sequence[str], metric: str, path: str | os.PathLike) -> Path:
    """One bar per group, labelled ``key=value``, best first: the mean of ``metric`` with its std over seeds as
    the error bar. A label-based metric over groups scored against different ``label_col`` values gets one panel
    per label column (they are not on one scale); differing ``k`` is said in the title."""
    plt = _pyplot()
    group_by = list(group_by)
    column = f"{metric}_mean"
    panel_key = "label_col" if "label_col" in group_by and depends_on_labels(metric) else None
    panels = [(f"label_col={value}", part) for value, part in summary.groupby(
        summary[panel_key].astype(str), sort=True)] if panel_key else [("", summary)]
    keys = [k for k in group_by if k != panel_key]
    panels = [(title, sort_rows(part, column)) for title, part in panels]
    labels = [[textwrap.fill(bar_label(row, keys), width=BAR_LABEL_WIDTH) for _, row in part.iterrows()]
              for _, part in panels]
    heights = [sum(0.3 + 0.13 * label.count("\n") for label in panel) for panel in labels]
    figure, axes = plt.subplots(len(panels), 1, figsize=(8.0, sum(heights) + 0.9 * len(panels) + 0.7),
                                squeeze=False, height_ratios=[h + 0.6 for h in heights], layout="constrained")
    for ax, (title, part), names in zip(axes[:, 0], panels, labels, strict=True):
        means = part[column].to_numpy(dtype=float)
        stds = np.nan_to_num(part[f"{metric}_std"].to_numpy(dtype=float)) if f"{metric}_std" in part else None
        positions = np.arange(len(part))
        ax.barh(positions, np.nan_to_num(means), xerr=stds, capsize=3, color="#4477AA", alpha=0.85)
        for y, value in zip(positions, means, strict=True):
            ax.text(0, y, f" {_number(value)}", va="center", ha="left", fontsize=7, color="white"
                    if np.isfinite(value) and value > 0 else "black")
        ax.set_yticks(positions, names, fontsize=7.5)
        ax.invert_yaxis()
        ax.set_title(title, fontsize=9, loc="left")
    better = "higher" if higher_is_better(metric) else "lower"
    axes[-1, 0].set_xlabel(f"{metric} (mean ± std over seeds; {better} is better, best on top)")
    title = metric
    if "k" in keys and summary["k"].astype(str).nunique() > 1:
        title += "  —  k differs between bars"
    figure.suptitle(title, fontsize=10)
    return save_figure(figure, path)


def elbow(ks: Sequence[float], values: Sequence[float]) -> float | None:
    """The elbow of a decreasing curve (k-means inertia against k): the point farthest from the straight line
    through its first and last points, both axes scaled to [0, 1] (the "kneedle" idea); None for < 3 points."""
    ks, values = np.asarray(ks, dtype=float), np.asarray(values, dtype=float)
    keep = np.isfinite(ks) & np.isfinite(values)
    ks, values = ks[keep], values[keep]
    if len(ks) < 3 or np.ptp(ks) == 0 or np.ptp(values) == 0:
        return None
    order = np.argsort(ks)
    x = (ks[order] - ks[order][0]) / np.ptp(ks)
    y = (values[order] - values[order].min()) / np.ptp(values)
    chord = np.array([x[-1] - x[0], y[-1] - y[0]])
    distance = np.abs(chord[0] * (y - y[0]) - chord[1] * (x - x[0])) / np.linalg.norm(chord)
    return float(ks[order][int(np.argmax(distance))])


#: the k-curve's panels: metric, what the reader looks for
K_CURVE_METRICS = (("silhouette", "higher is better"), ("calinski_harabasz", "higher is better"),
                   ("coverage", "share of songs in a cluster"), ("inertia", "k-means objective: look for the elbow"),
                   ("ami", "agreement with label_col"))


def plot_k_curve(runs: pd.DataFrame, path: str | os.PathLike) -> Path | None:
    """Choosing k without labels: silhouette, Calinski–Harabasz, coverage and the k-means inertia (its elbow
    marked) against k, one line per combination of the other varying settings (mean ± std over seeds).
    None when fewer than 3 values of k finished."""
    ok = runs[runs["status"] == "ok"].copy() if "status" in runs else runs.copy()
    ok["k"] = pd.to_numeric(ok.get("k"), errors="coerce")
    ok = ok[ok["k"].notna()]
    if ok["k"].nunique() < 3:
        return None
    panels = [(m, note) for m, note in K_CURVE_METRICS
              if m in ok and pd.to_numeric(ok[m], errors="coerce").notna().any()]
    others = [c for c in varying_settings(ok) if c not in ("k", "seed")]
    plt = _pyplot()
    with plt.style.context("tableau-colorblind10"):
        figure, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 3.4), squeeze=False,
                                    layout="constrained")
        groups = list(ok.groupby([ok[c].astype(str) for c in others], sort=True)) if others else [((), ok)]
        for name, (metric, note) in zip(range(len(panels)), panels, strict=True):
            ax = axes[0, name]
            for values, group in groups:
                values = values if isinstance(values, tuple) else (values,)
                numbers = pd.to_numeric(group[metric], errors="coerce")
                curve = numbers.groupby(group["k"]).agg(["mean", "std"]).sort_index()
                label = ", ".join(f"{c}={v}" for c, v in zip(others, values, strict=True)) or None
                line = ax.plot(curve.index, curve["mean"], marker="o", ms=3, label=label)[0]
                ax.fill_between(curve.index, curve["mean"] - curve["std"].fillna(0),
                                curve["mean"] + curve["std"].fillna(0), color=line.get_color(), alpha=0.15)
                if metric == "inertia" and (best := elbow(curve.index, curve["mean"])) is not None:
                    ax.axvline(best, color=line.get_color(), ls="--", lw=1)
                    ax.annotate(f"elbow k={best:g}", (best, float(curve["mean"].max())), fontsize=7,
                                xytext=(3, -10), textcoords="offset points")
            ax.set_xlabel("k")
            ax.set_title(f"{metric}\n({note})", fontsize=9)
            ax.grid(alpha=0.3)
        if others:
            axes[0, 0].legend(fontsize=7, frameon=False)
        figure.suptitle("choosing k: internal scores against the number of clusters", fontsize=10)
    return save_figure(figure, path)


# ----------------------------------------------------------------------------------------------- terminal
#: longest text cell shown in the terminal (longer ones end in …)
MAX_CELL = 28


def _cell(text: str) -> str:
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


def format_table(shown: pd.DataFrame, numeric: set[str]) -> list[str]:
    """Fixed-width lines: numbers right-aligned, text left-aligned, two spaces between columns."""
    cells = {c: [_cell(str(v)) for v in shown[c]] for c in shown.columns}
    widths = {c: max([len(str(c)), *(len(v) for v in cells[c])]) for c in shown.columns}
    def line(values: dict[str, str]) -> str:
        return "  ".join(values[c].rjust(widths[c]) if c in numeric else values[c].ljust(widths[c])
                         for c in shown.columns).rstrip()
    header = line({c: str(c) for c in shown.columns})
    return [header, *(line({c: cells[c][i] for c in shown.columns}) for i in range(len(shown)))]


def short_headers(columns: Sequence[str], settings: Sequence[str]) -> dict[str, str]:
    """Override keys shown by their last part (``model.optimizer.lr`` → ``lr``), or their last two parts when the
    last part alone is taken; other columns keep their names."""
    headers: dict[str, str] = {}
    for column in columns:
        parts = str(column).split(".")
        if column not in settings or len(parts) == 1:
            continue
        for size in range(1, len(parts) + 1):
            short = ".".join(parts[-size:])
            if short not in columns and short not in headers.values():
                headers[column] = short
                break
    return headers


def short_run_names(run_dirs: pd.Series) -> list[str]:
    """Each run dir relative to the folder all of them share (``0``, ``easy/3``), the tail kept when long."""
    paths = [str(d) for d in run_dirs]
    common = os.path.commonpath(paths) if len(paths) > 1 else os.path.dirname(paths[0]) if paths else ""
    names = [os.path.relpath(d, common) if common else d for d in paths]
    return [name if len(name) <= MAX_CELL else "…" + name[-(MAX_CELL - 1):] for name in names]


def numeric_of(numeric: set[str], headers: dict[str, str]) -> set[str]:
    return {headers.get(c, c) for c in numeric}


def terminal_table(comparison: Comparison, width: int = 120, columns: Sequence[str] | None = None
                   ) -> tuple[list[str], list[str]]:
    """(lines, notes) of the table ``musiclust-compare`` prints: the varying settings, the sort metric, then the
    other chosen metrics that fit in ``width`` characters, and each run's dir relative to the folder they share
    (per-run notes such as ``kl_per_dim`` and the full run dirs stay in the CSV). ``columns`` adds columns by name
    (``all``: every column of the table). Notes say what was left out and each failed run's error."""
    table = comparison.table
    shown_all = display_frame(table)
    numeric = {c for c in shown_all.columns if c in table and pd.api.types.is_numeric_dtype(table[c])
               or f"{c}_mean" in table
               or pd.to_numeric(shown_all[c].replace("", np.nan), errors="coerce").notna().sum()
               == (shown_all[c] != "").sum() > 0}  # settings such as k: numbers, aligned as numbers
    grouped = comparison.group_by is not None
    settings = [c for c in (comparison.plot_group_by if grouped else setting_columns(comparison.runs))
                if c in shown_all.columns]
    metrics = [m for m in comparison.metrics if m in shown_all.columns]
    extra = ["stability_ari"] if grouped and "stability_ari" in shown_all else []
    failed = "status" in table and (table["status"] != "ok").any()
    status = ["status"] if failed else []
    if grouped and "n_failed" in table and (table["n_failed"] > 0).any():
        status = ["n_runs", "n_failed"]
    asked = list(shown_all.columns) if columns and list(columns) == ["all"] else list(columns or [])
    unknown = [c for c in asked if c not in shown_all.columns]
    if unknown:
        raise ConfigError(f"--columns: no column {', '.join(map(repr, unknown))} in this comparison. "
                          f"Available: {', '.join(map(str, shown_all.columns))}, or all.")
    if "debug" in shown_all.columns:  # --include-debug: which rows are trial runs
        status.append("debug")
    fixed = [*settings, *metrics[:1], *extra, *status]
    optional = metrics[1:]  # left out from the last while the table is too wide
    if not grouped and "run_dir" in table and "run" not in shown_all.columns:
        shown_all = shown_all.assign(run=short_run_names(table["run_dir"]))
        optional.insert(0, "run")  # after the sort metric; left out only once no other metric is left
    chosen = list(dict.fromkeys(fixed + optional + asked))
    headers = short_headers(chosen, settings)
    dropped: list[str] = []

    def widest(columns: list[str]) -> int:
        return max(map(len, format_table(shown_all[columns].rename(columns=headers), numeric_of(numeric, headers))))

    while optional and widest(chosen) > width and not asked:
        dropped.insert(0, optional.pop())
        chosen = list(dict.fromkeys(fixed + optional + asked))
    lines = format_table(shown_all[chosen].rename(columns=headers), numeric_of(numeric, headers))
    notes = []
    if renamed := [f"{headers[c]} = {c}" for c in chosen if headers.get(c, c) != c]:
        notes.append("settings: " + ", ".join(renamed))
    if dropped:
        notes.append(f"not shown to fit {width} columns: {', '.join(dropped)} (--columns NAME ... or --width)")
    notes = [line for note in notes for line in textwrap.wrap(note, width=width, subsequent_indent="    ",
                                                               break_on_hyphens=False)]
    if failed:
        for _, row in table[table["status"] != "ok"].iterrows():
            notes.append(f"{row['status']}: {row['run_dir']}")
            notes.extend(textwrap.wrap(str(row["error"]), width=width, initial_indent="    ",
                                       subsequent_indent="    ", break_long_words=False, break_on_hyphens=False))
    return lines, notes


def output_stem(out: str | os.PathLike) -> Path:
    """``--out results/cmp`` or ``results/cmp.csv`` → ``results/cmp`` (+ .csv, .md, _{metric}.png)."""
    path = Path(out)
    return path.with_suffix("") if path.suffix in (".csv", ".md") else path


def write_outputs(comparison: Comparison, out: str | os.PathLike, plots: bool = True) -> list[Path]:
    """The table as CSV (full precision) and Markdown, one bar chart per charted metric with error bars, and the
    k-curve when the runs differ in k."""
    stem = output_stem(out)
    written = [write_csv(comparison.table, stem.with_name(stem.name + ".csv")),
               write_text(to_markdown(comparison.table), stem.with_name(stem.name + ".md"))]
    if plots:
        for metric in comparison.chart_metrics:
            if comparison.summary[f"{metric}_mean"].notna().any():
                written.append(plot_metric_bars(comparison.summary, comparison.plot_group_by, metric,
                                                stem.with_name(f"{stem.name}_{metric}.png")))
        k_curve = plot_k_curve(comparison.runs, stem.with_name(f"{stem.name}_k_curve.png"))
        written.extend([k_curve] if k_curve else [])
    return written
