"""One self-contained HTML report of a comparison: ``musiclust-compare DIR ... --html report.html``.

Everything is inside the file (images as base64 data URIs, a few lines of inline CSS and JS), so it opens
in any browser without a server and can be mailed or attached as it is:

- the per-run comparison table, sortable by clicking a column header;
- the per-cell summary (mean ± std over seeds, stability = pairwise ARI) when runs share a cell;
- one bar chart per metric with error bars (std over seeds);
- for each run: its settings, its 2-D projection plots, cluster-distribution plots and reconstructions.

The page is ``templates/report.html.j2`` (Jinja2, autoescaped); this module works out what goes in it.
"""

from __future__ import annotations

import base64
import os
import tempfile
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
from jinja2 import Environment, PackageLoader, StrictUndefined

from musiclust.compare.columns import info_columns, metric_columns, run_table, setting_columns
from musiclust.compare.comparison import Comparison
from musiclust.compare.render import display_frame, plot_metric_bars
from musiclust.io import write_text

#: the run-dir folders whose images are shown per run (written by musiclust.outputs.plots)
IMAGE_SECTIONS = (
    ("latent_visualization", "2-D projection"),
    ("cluster_distributions", "Cluster distribution"),
    ("reconstructions", "Reconstruction"),
)
IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".svg": "image/svg+xml"}
TEMPLATE = "report.html.j2"

_templates = Environment(loader=PackageLoader("musiclust.compare", "templates"), autoescape=True,
                         undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)


def data_uri(path: str | os.PathLike) -> str:
    """The file as a ``data:`` URI, so the report needs nothing beside it."""
    path = Path(path)
    kind = IMAGE_TYPES.get(path.suffix.lower(), "application/octet-stream")
    return f"data:{kind};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def run_images(run_dir: str | os.PathLike) -> dict[str, list[Path]]:
    """The plot files of one run, per :data:`IMAGE_SECTIONS` folder, sorted by name."""
    run_dir = Path(run_dir)
    return {folder: sorted(p for p in (run_dir / folder).glob("*") if p.suffix.lower() in IMAGE_TYPES)
            for folder, _ in IMAGE_SECTIONS}


def table_view(frame: pd.DataFrame, table_id: str, links: Sequence[str] | None = None) -> dict[str, Any]:
    """A sortable table for the template: shown values rounded (:func:`display_frame`), sorted on the exact ones
    (``value``, None for text columns).

    ``links`` (one anchor per row) makes the first cell of each row jump to that run's section.
    """
    shown = display_frame(frame)
    numeric = {c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])
               and not pd.api.types.is_bool_dtype(frame[c])}
    rows = []
    for i, (index, row) in enumerate(shown.iterrows()):
        cells = [{"text": str(row[column]), "value": str(frame.at[index, column]) if column in numeric else None,
                  "link": links[i] if j == 0 and links is not None else None}
                 for j, column in enumerate(shown.columns)]
        failed = "status" in frame.columns and str(frame.at[index, "status"]) not in ("ok", "")
        rows.append({"cells": cells, "failed": failed})
    columns = [{"name": str(c), "kind": "num" if c in numeric else "text"} for c in shown.columns]
    return {"id": table_id, "columns": columns, "rows": rows}


def metric_charts(comparison: Comparison) -> list[tuple[str, str]]:
    """(metric, data URI) of one bar chart per metric: mean per cell with std over seeds as error bars."""
    charts = []
    with tempfile.TemporaryDirectory(prefix="musiclust-report-") as tmp:
        for metric in comparison.metrics:
            column = f"{metric}_mean"
            if column not in comparison.summary or not comparison.summary[column].notna().any():
                continue
            path = plot_metric_bars(comparison.summary, comparison.plot_group_by, metric, Path(tmp) / f"{metric}.png")
            charts.append((metric, data_uri(path)))
    return charts


def _run_title(row: pd.Series, settings: Sequence[str]) -> str:
    parts = [f"{key}={row[key]}" for key in settings if str(row.get(key, "")) not in ("", "nan")]
    return ", ".join(parts) or Path(str(row["run_dir"])).name


def run_view(row: pd.Series, anchor: str, settings: Sequence[str]) -> dict[str, Any]:
    """One run for the template: its settings, status, and its error or every plot it wrote."""
    run_dir = str(row["run_dir"])
    status = str(row.get("status", ""))
    view: dict[str, Any] = {"anchor": anchor, "title": _run_title(row, settings), "run_dir": run_dir,
                            "status": status, "error": None, "sections": []}
    if str(row.get("status", "ok")) != "ok":
        view["error"] = str(row.get("error", ""))
        return view
    images = run_images(run_dir)
    view["sections"] = [{"folder": folder, "label": label,
                         "figures": [(data_uri(p), f"{label}: {p.stem}") for p in images[folder]]}
                        for folder, label in IMAGE_SECTIONS]
    return view


def render_report(comparison: Comparison, title: str = "musiclust comparison",
                  sources: Sequence[str] = ()) -> str:
    """The whole report as one HTML string."""
    runs = run_table(comparison.runs, sort_by=comparison.metric)
    hidden = (set(metric_columns(comparison.runs)) - set(comparison.metrics)) | (
        set(info_columns(comparison.runs)) - {"sanity"})  # long per-run strings such as kl_per_dim stay out
    runs = runs[[c for c in runs.columns if c not in hidden]]
    anchors = [f"run-{i}" for i in range(len(runs))]
    full = comparison.runs.set_index("run_dir").loc[runs["run_dir"]].reset_index()
    settings = [c for c in setting_columns(comparison.runs) if c in full.columns]
    per_cell = bool(comparison.plot_group_by) and len(comparison.summary) < len(comparison.runs)
    return _templates.get_template(TEMPLATE).render(
        title=title,
        n_runs=len(runs),
        sources=", ".join(map(str, sources)),
        generated=datetime.now().strftime("%Y-%m-%d %H:%M"),
        metric=comparison.metric,
        runs=table_view(runs, "runs", links=anchors),
        summary=table_view(comparison.summary, "summary") if per_cell else None,
        group_by=", ".join(comparison.plot_group_by),
        charts=metric_charts(comparison),
        run_sections=[run_view(row, anchor, settings)
                      for anchor, (_, row) in zip(anchors, full.iterrows(), strict=True)],
    )


def write_report(comparison: Comparison, path: str | os.PathLike, title: str = "musiclust comparison",
                 sources: Sequence[str] = ()) -> Path:
    """Write :func:`render_report` atomically to ``path``."""
    return write_text(render_report(comparison, title=title, sources=sources), path)
