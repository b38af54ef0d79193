"""One self-contained HTML report of a comparison: ``musiclust-compare DIR ... --html report.html``.

Everything is inside the file (images, clips and data as ``data:`` URIs or inline JSON, a few lines of inline CSS
and JS, no library), so it opens in any browser without a server or network and can be mailed as it is:

- what the runs share, what a reader must know before comparing them (different label columns or k), the best
  run by the sort metric;
- the per-run table, its first column after the settings the sort metric, sortable by clicking a header;
- the per-cell summary (mean ± std over seeds, stability = pairwise ARI) when runs share a cell;
- a parallel-coordinates view of the varying settings against the sort metric (hover a line, click to jump);
- one bar chart per metric (``key=value`` labels, best first; label-based metrics in one panel per label
  column) and, when the runs differ in k, the k-curve;
- for each run: its metrics beside its plots (thumbnails), an interactive 2-D embedding (hover: song id, cluster,
  labels; colour by cluster or label) and what each cluster is (size, label mix, representative songs, lyrics
  n-grams and, for the best runs, playable audio clips).

Size: plots are embedded as downscaled, palette-quantised PNG thumbnails, at most :data:`MAX_POINTS` points per
embedding, clips only for the ``clip_runs`` best runs — a report of ~26 runs stays well under 2 MB.

The page is ``templates/report.html.j2`` (Jinja2, autoescaped); this module works out what goes in it.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import math
import os
import tempfile
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from jinja2 import Environment, PackageLoader, StrictUndefined

from musiclust.compare.columns import higher_is_better, info_columns, run_table, setting_columns, sort_rows
from musiclust.compare.comparison import Comparison
from musiclust.compare.render import display_frame, plot_k_curve, plot_metric_bars
from musiclust.io import write_text
from musiclust.layout import CLUSTER_DIR, CLUSTER_JSON, POINTS_SUFFIX

log = logging.getLogger(__name__)

#: the run-dir folders whose images are shown per run (written by musiclust.outputs.plots)
IMAGE_SECTIONS = (
    ("latent_visualization", "2-D projection"),
    ("cluster_distributions", "Cluster distribution"),
    ("reconstructions", "Reconstruction"),
)
IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".svg": "image/svg+xml"}
AUDIO_TYPES = {".ogg": "audio/ogg", ".opus": "audio/ogg", ".mp3": "audio/mpeg", ".wav": "audio/wav"}
TEMPLATE = "report.html.j2"
#: the box a run's plot is shrunk into and the width of a chart (pixels); colours kept after quantisation
THUMBNAIL_BOX, CHART_WIDTH, THUMBNAIL_COLOURS = (440, 240), 620, 24
#: most points of one run's interactive embedding (a fixed-seed sample beyond)
MAX_POINTS = 300
#: the best runs whose audio clips are embedded (each adds roughly 100 kB: 2 clips × 6 clusters)
CLIP_RUNS = 2
#: metrics shown beside a run's plots besides the chosen ones
RUN_FACTS = ("n_clusters_found", "coverage", "n_songs", "sanity")

_templates = Environment(loader=PackageLoader("musiclust.compare", "templates"), autoescape=True,
                         undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)


def data_uri(path: str | os.PathLike) -> str:
    """The file as a ``data:`` URI, so the report needs nothing beside it."""
    path = Path(path)
    kind = {**IMAGE_TYPES, **AUDIO_TYPES}.get(path.suffix.lower(), "application/octet-stream")
    return f"data:{kind};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def thumbnail_uri(path: str | os.PathLike, box: tuple[int, int] = THUMBNAIL_BOX) -> str:
    """A PNG plot as a small ``data:`` URI: scaled down (never up) to fit ``box`` (width, height), quantised to a
    palette of :data:`THUMBNAIL_COLOURS` colours (plots are flat colours: this costs little that is visible) and
    stored losslessly (WebP where Pillow writes it, which every current browser shows; else PNG). Other files as
    they are."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        return data_uri(path)
    from PIL import Image, features  # matplotlib's own dependency

    with Image.open(path) as image:
        image = image.convert("RGB")
        scale = min(1.0, box[0] / image.width, box[1] / image.height)
        if scale < 1.0:
            image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                                 Image.LANCZOS)
        small = image.quantize(colors=THUMBNAIL_COLOURS, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
        buffer = io.BytesIO()
        if features.check("webp"):
            small.save(buffer, format="WEBP", lossless=True, method=6)
            kind = "image/webp"
        else:
            small.save(buffer, format="PNG", optimize=True)
            kind = "image/png"
    return f"data:{kind};base64,{base64.b64encode(buffer.getvalue()).decode('ascii')}"


def run_images(run_dir: str | os.PathLike) -> dict[str, list[Path]]:
    """The plot files of one run, per :data:`IMAGE_SECTIONS` folder, sorted by name."""
    run_dir = Path(run_dir)
    return {folder: sorted(p for p in (run_dir / folder).glob("*") if p.suffix.lower() in IMAGE_TYPES)
            for folder, _ in IMAGE_SECTIONS}


def table_view(frame: pd.DataFrame, table_id: str, links: Sequence[str] | None = None,
               highlight: str | None = None) -> dict[str, Any]:
    """A sortable table for the template: shown values rounded (:func:`display_frame`), sorted on the exact ones
    (``value``, None for text columns).

    ``links`` (one anchor per row) makes the first cell of each row jump to that run's section; the column
    ``highlight`` (the sort metric) is marked.
    """
    shown = display_frame(frame)
    numeric = {c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])
               and not pd.api.types.is_bool_dtype(frame[c])}
    numeric |= {c for c in shown.columns if f"{c}_mean" in numeric}
    rows = []
    for i, (index, row) in enumerate(shown.iterrows()):
        cells = []
        for j, column in enumerate(shown.columns):
            exact = frame.at[index, f"{column}_mean"] if f"{column}_mean" in frame.columns else (
                frame.at[index, column] if column in frame.columns else None)
            cells.append({"text": str(row[column]), "value": str(exact) if column in numeric else None,
                          "link": links[i] if j == 0 and links is not None else None})
        failed = "status" in frame.columns and str(frame.at[index, "status"]) not in ("ok", "")
        rows.append({"cells": cells, "failed": failed})
    columns = [{"name": str(c), "kind": ("num" if c in numeric else "text") + (" sorted" if c == highlight else "")}
               for c in shown.columns]
    return {"id": table_id, "columns": columns, "rows": rows}


def metric_charts(comparison: Comparison) -> list[tuple[str, str]]:
    """(caption, data URI) of one bar chart per charted metric (mean per cell, std over seeds as error bars),
    the k-curve first when the runs differ in k."""
    charts = []
    with tempfile.TemporaryDirectory(prefix="musiclust-report-") as tmp:
        k_curve = plot_k_curve(comparison.runs, Path(tmp) / "k_curve.png")
        if k_curve is not None:
            charts.append(("k-curve: choosing k without labels", thumbnail_uri(k_curve, box=(1100, 400))))
        for metric in comparison.chart_metrics:
            column = f"{metric}_mean"
            if column not in comparison.summary or not comparison.summary[column].notna().any():
                continue
            path = plot_metric_bars(comparison.summary, comparison.plot_group_by, metric, Path(tmp) / f"{metric}.png")
            charts.append((metric, thumbnail_uri(path, box=(CHART_WIDTH, 2000))))
    return charts


def _run_title(row: pd.Series, settings: Sequence[str]) -> str:
    parts = [f"{key}={row[key]}" for key in settings if str(row.get(key, "")) not in ("", "nan")]
    return ", ".join(parts) or Path(str(row["run_dir"])).name


def _shown(value: Any) -> str:
    return str(display_frame(pd.DataFrame({"v": [value]}))["v"].iloc[0])


def embedding_points(run_dir: str | os.PathLike, max_points: int = MAX_POINTS, seed: int = 0) -> dict[str, Any] | None:
    """A run's 2-D projection for the interactive scatter (from its ``*_points.csv``, t-SNE first), compact: at most
    ``max_points`` songs (a fixed-seed sample), coordinates scaled to integers 0–1000, each song's id, and per field
    (``cluster``, then the label columns) its distinct ``values`` with one code per song and, for the cluster and
    the run's ``label_col``, their ``colours`` (the run's own palette). None when the run wrote no points."""
    files = sorted(Path(run_dir, "latent_visualization").glob(f"*{POINTS_SUFFIX}"), key=lambda p: "tsne" not in p.name)
    if not files:
        return None
    points = pd.read_csv(files[0], dtype=str, keep_default_na=False)
    if len(points) > max_points:
        points = points.iloc[np.sort(np.random.default_rng(seed).choice(len(points), max_points, replace=False))]
    data: dict[str, Any] = {"source": files[0].name.removesuffix(POINTS_SUFFIX), "id": points["id"].tolist()}
    for axis in ("x", "y"):
        values = pd.to_numeric(points[axis], errors="coerce").fillna(0).to_numpy(dtype=float)
        span = float(np.ptp(values)) or 1.0
        data[axis] = np.round((values - values.min()) / span * 1000).astype(int).tolist()
    columns = [c for c in points.columns if c not in ("id", "x", "y", "cluster", "cluster_colour", "label_colour")]
    colour_of = {"cluster": "cluster_colour", **({columns[0]: "label_colour"} if columns and "label_colour" in points
                                                 else {})}
    data["fields"] = {}
    for field in ["cluster", *columns]:
        codes, values = pd.factorize(points[field])
        entry: dict[str, Any] = {"values": [str(v) for v in values], "codes": codes.tolist()}
        if field in colour_of:
            entry["colours"] = dict(zip(points[field], points[colour_of[field]], strict=True))
        data["fields"][field] = entry
    return data


def cluster_views(run_dir: str | os.PathLike, with_clips: bool) -> list[dict[str, Any]] | None:
    """What each cluster of a run is, for the template (from ``clusters/clusters.json``); None without one."""
    path = Path(run_dir) / CLUSTER_DIR / CLUSTER_JSON
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        log.warning("Cannot read %s (%s); its clusters are not shown", path, err)
        return None
    label_colours = {label["name"]: label["colour"] for label in data.get("labels", [])}
    label_col = data.get("label_col")
    views = []
    for cluster in data.get("clusters", []):
        composition = cluster.get("composition", {})
        mix = [{"name": name, "count": count, "colour": label_colours.get(name, "#BBBBBB"),
                "width": round(100 * count / max(cluster["size"], 1), 1)}
               for name, count in composition.get(label_col, {}).items()] if label_col else []
        others = [f"{column}: " + ", ".join(f"{name} {count}" for name, count in values.items())
                  for column, values in composition.items() if column != label_col]
        songs = []
        for song in cluster.get("representatives", []):
            clip = Path(run_dir) / CLUSTER_DIR / song["clip"] if song.get("clip") else None
            songs.append({"id": song["id"], "labels": ", ".join(f"{k}={v}" for k, v in song["labels"].items()),
                          "clip": data_uri(clip) if with_clips and clip is not None and clip.is_file() else None,
                          "has_clip": clip is not None})
        views.append({**{k: cluster.get(k) for k in ("name", "title", "colour", "size", "share")},
                      "share": f"{100 * cluster.get('share', 0):.0f}%", "mix": mix, "others": others,
                      "songs": songs, "ngrams": [term["term"] for term in cluster.get("ngrams", [])]})
    return views


def run_view(row: pd.Series, anchor: str, settings: Sequence[str], metrics: Sequence[str] = (),
             with_clips: bool = False) -> dict[str, Any]:
    """One run for the template: its settings, status, and its error or its metrics, plots, embedding and
    clusters."""
    run_dir = str(row["run_dir"])
    status = str(row.get("status", ""))
    view: dict[str, Any] = {"anchor": anchor, "title": _run_title(row, settings), "run_dir": run_dir,
                            "status": status, "error": None, "sections": [], "metrics": [], "points": None,
                            "points_source": None, "clusters": None, "clips_left_out": False}
    if str(row.get("status", "ok")) != "ok":
        view["error"] = str(row.get("error", ""))
        return view
    view["metrics"] = [(name, _shown(row[name])) for name in dict.fromkeys([*metrics, *RUN_FACTS])
                       if name in row.index and str(row[name]) not in ("", "nan")]
    view["points"] = embedding_points(run_dir, seed=int(row["seed"]) if str(row.get("seed", "")).isdigit() else 0)
    interactive = view["points"]["source"] if view["points"] else None  # drawn from its points: no thumbnail
    view["points_source"] = interactive
    images = run_images(run_dir)
    view["sections"] = [{"folder": folder, "label": label, "empty": not images[folder],
                         "figures": [(thumbnail_uri(p), f"{label}: {p.stem}") for p in images[folder]
                                     if p.stem != interactive]}
                        for folder, label in IMAGE_SECTIONS]
    view["clusters"] = cluster_views(run_dir, with_clips)
    if view["points"] and view["clusters"]:  # the legend in the run's cluster order, named as in its other plots
        view["points"]["fields"]["cluster"]["titles"] = {c["name"]: c["title"] for c in view["clusters"]}
    view["clips_left_out"] = not with_clips and any(s["has_clip"] for c in view["clusters"] or [] for s in c["songs"])
    return view


def hyperparameter_view(runs: pd.DataFrame, anchors: dict[str, str], metric: str) -> dict[str, Any] | None:
    """Parallel coordinates of the varying settings (not the seed) and the sort metric, one line per finished run;
    None when no setting varies."""
    ok = runs[(runs["status"] == "ok") & pd.to_numeric(runs[metric], errors="coerce").notna()]
    axes_names = [c for c in setting_columns(runs) if c != "seed" and ok[c].astype(str).nunique() > 1]
    if not axes_names:
        return None
    axes = []
    for name in axes_names:
        numbers = pd.to_numeric(ok[name], errors="coerce")
        axes.append({"name": name, "kind": "num" if numbers.notna().all() else "cat"})
    axes.append({"name": metric, "kind": "num", "metric": True, "higher": higher_is_better(metric)})
    lines = []
    for _, row in ok.iterrows():
        values = [float(row[a["name"]]) if a["kind"] == "num" else str(row[a["name"]]) for a in axes]
        lines.append({"a": anchors[str(row["run_dir"])], "t": _run_title(row, axes_names), "v": values})
    return {"axes": axes, "runs": lines}


def _common_settings(runs: pd.DataFrame) -> str:
    shared = [f"{c}={runs[c].iloc[0]}" for c in setting_columns(runs)
              if runs[c].astype(str).nunique() == 1 and str(runs[c].iloc[0]) not in ("", "nan")]
    return ", ".join(shared)


def _best(runs: pd.DataFrame, metric: str, settings: Sequence[str]) -> str | None:
    numbers = pd.to_numeric(runs[metric], errors="coerce") if metric in runs else pd.Series(dtype=float)
    if not numbers.notna().any():
        return None
    index = numbers.idxmax() if higher_is_better(metric) else numbers.idxmin()
    return f"{_run_title(runs.loc[index], settings)} ({metric} = {_shown(numbers[index])})"


def _finite(data: Any) -> Any:
    """``data`` with NaN / inf replaced by None (JSON has no NaN)."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {key: _finite(value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [_finite(value) for value in data]
    return data


def _json(data: Any) -> str:
    """Compact JSON for an inline ``<script type="application/json">``: every ``<`` escaped, so no text from a
    run dir can end the script early."""
    text = json.dumps(_finite(data), separators=(",", ":"), ensure_ascii=False, default=str)
    return text.replace("<", "\\u003c")


def render_report(comparison: Comparison, title: str = "musiclust comparison",
                  sources: Sequence[str] = (), clip_runs: int = CLIP_RUNS) -> str:
    """The whole report as one HTML string."""
    runs = run_table(comparison.runs, sort_by=comparison.metric)
    settings_shown = [c for c in runs.columns if c in setting_columns(comparison.runs)]
    extra = [c for c in info_columns(comparison.runs) if c == "sanity"]
    runs = runs[[*settings_shown, *comparison.metrics, *extra, "status", "run_dir"]]
    anchors = [f"run-{i}" for i in range(len(runs))]
    full = comparison.runs.set_index("run_dir").loc[runs["run_dir"]].reset_index()
    per_cell = bool(comparison.plot_group_by) and len(comparison.summary) < len(comparison.runs)
    summary = None
    if per_cell:
        first = [f"{comparison.metric}_mean", f"{comparison.metric}_std"]
        cells = comparison.summary
        cells = cells[[c for c in cells.columns if c in comparison.plot_group_by] + first
                      + [c for c in cells.columns if c not in comparison.plot_group_by and c not in first]]
        summary = table_view(sort_rows(cells, first[0]), "summary", highlight=comparison.metric)
    ok_rank = (full["status"] == "ok").cumsum()
    sections = [run_view(row, anchor, settings_shown, comparison.metrics,
                         with_clips=row["status"] == "ok" and ok_rank.iloc[i] <= clip_runs)
                for i, (anchor, (_, row)) in enumerate(zip(anchors, full.iterrows(), strict=True))]
    hyper = hyperparameter_view(comparison.runs, dict(zip(runs["run_dir"], anchors, strict=True)), comparison.metric)
    return _templates.get_template(TEMPLATE).render(
        title=title,
        n_runs=len(runs),
        sources=", ".join(map(str, sources)),
        generated=datetime.now().strftime("%Y-%m-%d %H:%M"),
        metric=comparison.metric,
        better="higher" if higher_is_better(comparison.metric) else "lower",
        best=_best(full[full["status"] == "ok"], comparison.metric, settings_shown),
        common=_common_settings(comparison.runs),
        notes=comparison.notes(),
        runs=table_view(runs.drop(columns=["run_dir"]), "runs", links=anchors, highlight=comparison.metric),
        summary=summary,
        group_by=", ".join(comparison.plot_group_by),
        hyper=_json(hyper) if hyper else None,
        charts=metric_charts(comparison),
        run_sections=[{**s, "points": _json(s["points"]) if s["points"] else None} for s in sections],
        clip_runs=clip_runs,
    )


def write_report(comparison: Comparison, path: str | os.PathLike, title: str = "musiclust comparison",
                 sources: Sequence[str] = (), clip_runs: int = CLIP_RUNS) -> Path:
    """Write :func:`render_report` atomically to ``path``."""
    return write_text(render_report(comparison, title=title, sources=sources, clip_runs=clip_runs), path)
