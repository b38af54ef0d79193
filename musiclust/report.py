"""One self-contained HTML report of a comparison: ``musiclust-compare DIR ... --html report.html``.

Everything is inside the file (images as base64 data URIs, a few lines of inline CSS and JS), so it opens
in any browser without a server and can be mailed or attached as it is:

- the per-run comparison table, sortable by clicking a column header;
- the per-cell summary (mean ± std over seeds, stability = pairwise ARI) when runs share a cell;
- one bar chart per metric with error bars (std over seeds);
- for each run: its settings, its 2-D projection plots, cluster-distribution plots and reconstructions.
"""

from __future__ import annotations

import base64
import html
import os
import tempfile
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from musiclust.io import write_text

if TYPE_CHECKING:
    from musiclust.compare import Comparison

#: the run-dir folders whose images are shown per run (written by musiclust.outputs.plots)
IMAGE_SECTIONS = (
    ("latent_visualization", "2-D projection"),
    ("cluster_distributions", "Cluster distribution"),
    ("reconstructions", "Reconstruction"),
)
IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".svg": "image/svg+xml"}

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:1.5em auto;max-width:1400px;
     padding:0 1em;color:#222}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ddd}h3{font-size:1em}
.meta{color:#666;font-size:.9em}
.scroll{overflow-x:auto}
table{border-collapse:collapse;font-size:.82em;margin:.5em 0}
th,td{border:1px solid #ddd;padding:3px 7px;text-align:right;white-space:nowrap}
td.text,th.text{text-align:left}
th{background:#f3f3f3;position:sticky;top:0}
table.sortable th{cursor:pointer;user-select:none}
table.sortable th[data-dir=asc]::after{content:" \\25B2"}table.sortable th[data-dir=desc]::after{content:" \\25BC"}
tr.failed td{color:#a00}
tbody tr:nth-child(even){background:#fafafa}
.charts,.images{display:flex;flex-wrap:wrap;gap:12px}
figure{margin:0;border:1px solid #eee;padding:6px;background:#fff}
figcaption{font-size:.8em;color:#555;max-width:900px}
figure img{max-width:min(900px,90vw);height:auto;display:block}
.run{margin-bottom:2em}
.missing{color:#888;font-style:italic;font-size:.85em}
"""

# Sort a table by the clicked header: numbers numerically (NaN/blank last), other cells as text.
SCRIPT = """
document.querySelectorAll("table.sortable th").forEach(function (th) {
  th.addEventListener("click", function () {
    var table = th.closest("table"), body = table.tBodies[0], col = th.cellIndex;
    var dir = th.dataset.dir === "asc" ? "desc" : "asc";
    table.querySelectorAll("th").forEach(function (h) { delete h.dataset.dir; });
    th.dataset.dir = dir;
    function key(row) {
      var text = row.cells[col].dataset.value !== undefined ? row.cells[col].dataset.value : row.cells[col].textContent;
      var num = parseFloat(text);
      return isNaN(num) ? {n: false, t: text.trim()} : {n: true, v: num};
    }
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = key(a), y = key(b);
      if (x.n !== y.n) { return x.n ? -1 : 1; }
      var c = x.n ? x.v - y.v : x.t.localeCompare(y.t, undefined, {numeric: true});
      if (!x.n && (x.t === "" || y.t === "")) { return x.t === "" ? 1 : -1; }
      return dir === "asc" ? c : -c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  });
});
"""


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


def _figure(uri: str, caption: str) -> str:
    text = html.escape(caption)
    return f'<figure><img src="{uri}" alt="{text}" loading="lazy"><figcaption>{text}</figcaption></figure>'


def html_table(frame: pd.DataFrame, table_id: str, links: Sequence[str] | None = None) -> str:
    """A sortable table: shown values rounded (musiclust.compare.display_frame), sorted on the exact ones.

    ``links`` (one anchor per row) makes the first cell of each row jump to that run's section.
    """
    from musiclust.compare import display_frame

    shown = display_frame(frame)
    numeric = {c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])
               and not pd.api.types.is_bool_dtype(frame[c])}
    head = "".join(f'<th class="{"num" if c in numeric else "text"}">{html.escape(str(c))}</th>'
                   for c in shown.columns)
    rows = []
    for i, (index, row) in enumerate(shown.iterrows()):
        cells = []
        for j, column in enumerate(shown.columns):
            text = html.escape(str(row[column]))
            if j == 0 and links is not None:
                text = f'<a href="#{links[i]}">{text or "(run)"}</a>'
            if column in numeric:
                exact = frame.at[index, column]
                cells.append(f'<td data-value="{html.escape(str(exact))}">{text}</td>')
            else:
                cells.append(f'<td class="text">{text}</td>')
        failed = "status" in frame.columns and str(frame.at[index, "status"]) not in ("ok", "")
        rows.append(f'<tr{" class=failed" if failed else ""}>{"".join(cells)}</tr>')
    return (f'<div class="scroll"><table id="{table_id}" class="sortable"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div>')


def metric_charts(comparison: Comparison) -> list[tuple[str, str]]:
    """(metric, data URI) of one bar chart per metric: mean per cell with std over seeds as error bars."""
    from musiclust.compare import plot_metric_bars

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


def run_section(row: pd.Series, anchor: str, settings: Sequence[str]) -> str:
    """One run: its settings, status and every plot it wrote."""
    title = html.escape(_run_title(row, settings))
    run_dir = str(row["run_dir"])
    parts = [f'<div class="run" id="{anchor}"><h3>{title}</h3>',
             f'<div class="meta">{html.escape(run_dir)} — status: {html.escape(str(row.get("status", "")))}</div>']
    if str(row.get("status", "ok")) != "ok":
        parts.append(f'<p class="missing">{html.escape(str(row.get("error", "")))}</p></div>')
        return "".join(parts)
    images = run_images(run_dir)
    for folder, label in IMAGE_SECTIONS:
        if not images[folder]:
            parts.append(f'<p class="missing">{label}: none in {folder}/</p>')
            continue
        figures = "".join(_figure(data_uri(p), f"{label}: {p.stem}") for p in images[folder])
        parts.append(f'<div class="images">{figures}</div>')
    parts.append("</div>")
    return "".join(parts)


def render_report(comparison: Comparison, title: str = "musiclust comparison",
                  sources: Sequence[str] = ()) -> str:
    """The whole report as one HTML string."""
    from musiclust.compare import info_columns, metric_columns, run_table, setting_columns

    runs = run_table(comparison.runs, sort_by=comparison.metric)
    hidden = (set(metric_columns(comparison.runs)) - set(comparison.metrics)) | (
        set(info_columns(comparison.runs)) - {"sanity"})  # long per-run strings such as kl_per_dim stay out
    runs = runs[[c for c in runs.columns if c not in hidden]]
    anchors = [f"run-{i}" for i in range(len(runs))]
    full = comparison.runs.set_index("run_dir").loc[runs["run_dir"]].reset_index()
    settings = [c for c in setting_columns(comparison.runs) if c in full.columns]
    body = [
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="meta">{len(runs)} runs from {html.escape(", ".join(map(str, sources)) or "—")}; '
        f"generated {datetime.now().strftime('%Y-%m-%d %H:%M')}. Click a column header to sort; "
        "click a run to see its plots.</p>",
        f"<h2>Runs (sorted by {html.escape(comparison.metric)})</h2>",
        html_table(runs, "runs", links=anchors),
    ]
    if comparison.plot_group_by and len(comparison.summary) < len(comparison.runs):
        body += [f"<h2>Per cell: mean ± std over seeds, stability (grouped by "
                 f"{html.escape(', '.join(comparison.plot_group_by))})</h2>",
                 html_table(comparison.summary, "summary")]
    charts = metric_charts(comparison)
    if charts:
        body += ["<h2>Metrics (mean ± std over seeds)</h2>",
                 '<div class="charts">' + "".join(_figure(uri, metric) for metric, uri in charts) + "</div>"]
    body.append("<h2>Runs in detail</h2>")
    body += [run_section(row, anchor, settings) for anchor, (_, row) in zip(anchors, full.iterrows(), strict=True)]
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{STYLE}</style></head><body>{''.join(body)}<script>{SCRIPT}</script></body></html>\n")


def write_report(comparison: Comparison, path: str | os.PathLike, title: str = "musiclust comparison",
                 sources: Sequence[str] = ()) -> Path:
    """Write :func:`render_report` atomically to ``path``."""
    return write_text(render_report(comparison, title=title, sources=sources), path)
