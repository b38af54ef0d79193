"""Output steps that draw: 2-D projections, cluster distributions per column, the cluster × label contingency
table, reconstructions.

Every plot of a run takes its colours and order from :func:`musiclust.outputs.palette.run_colours` over all the
run's songs, so a cluster has one colour in every plot (its matched label's colour when the run has labels) and
noise / unlabelled songs are grey everywhere. Each ``*_figure`` function returns the matplotlib figure (tests
read its artists); the steps save them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

from musiclust.errors import ConfigError  # noqa: E402
from musiclust.io import save_figure, write_csv  # noqa: E402
from musiclust.layout import PLOT_DIRS, POINTS_SUFFIX  # noqa: E402
from musiclust.outputs.palette import (  # noqa: E402
    GREY_NAMES,
    RunColours,
    Swatch,
    label_names,
    natural_sorted,
    run_colours,
)
from musiclust.outputs.result import OutputStep, RunResult  # noqa: E402

log = logging.getLogger(__name__)

PROJECTIONS = ("tsne", "umap")
PROJECTION_DIR, DISTRIBUTION_DIR, RECONSTRUCTION_DIR = PLOT_DIRS
#: t-SNE of at most this many points runs on one thread
SINGLE_THREAD_TSNE = 2000
#: the blocks of vector features whose columns are statistics of the same coefficients, in order
VECTOR_BLOCKS = {"mfcc": ("MFCC mean", "MFCC std", "MFCC min", "MFCC max")}
#: what the rows of a (1, rows, frames) map feature are
MAP_ROWS = {"logmelspec": "mel band", "mfcc_frames": "MFCC coefficient"}


def project_2d(z: np.ndarray, method: str, seed: int) -> np.ndarray:
    """2-D t-SNE or UMAP projection of the embeddings (PCA-initialised t-SNE for stability)."""
    z = np.asarray(z, dtype=np.float32)
    if z.shape[1] <= 2:
        return np.pad(z, ((0, 0), (0, 2 - z.shape[1])))
    if method == "tsne":
        from sklearn.manifold import TSNE
        from threadpoolctl import threadpool_limits

        perplexity = float(max(2.0, min(30.0, (len(z) - 1) / 3)))
        # a few thousand points: OpenMP threads cost more in start-up and contention than they save
        with threadpool_limits(limits=1 if len(z) <= SINGLE_THREAD_TSNE else None):
            return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(z)
    if method == "umap":
        import umap

        n_neighbors = int(max(2, min(15, len(z) - 1)))
        return umap.UMAP(n_components=2, n_neighbors=n_neighbors, random_state=seed, n_jobs=1).fit_transform(z)
    raise ConfigError(f"unknown projection '{method}'. Use one of {list(PROJECTIONS)}.")


def result_colours(result: RunResult) -> RunColours:
    """The colours of a run: its clusters matched to its ``label_col`` (over every song of the run)."""
    label_col = result.settings.get("label_col") or None
    labels = label_names(result.manifest[label_col]) if label_col and label_col in result.manifest else None
    return run_colours(result.cluster_names(), labels)


def _legend(ax, n_entries: int, title: str | None = None) -> None:
    columns = 1 if n_entries <= 12 else 2
    ax.legend(fontsize=7, markerscale=1.2, frameon=False, title=title, title_fontsize=8, ncol=columns,
              loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)


def _scatter(ax, points: np.ndarray, groups: np.ndarray, order: Sequence[str], swatch_of, title_of, title: str
             ) -> None:
    """One scatter call per group in ``order`` (legend in that order); grey groups drawn below the others."""
    for name in order:
        mask = groups == name
        if not mask.any():
            continue
        style: Swatch = swatch_of(name)
        grey = name in GREY_NAMES
        ax.scatter(points[mask, 0], points[mask, 1], s=10 if grey else 16, color=style.colour, marker=style.marker,
                   label=f"{title_of(name)} ({int(mask.sum())})", alpha=0.7 if grey else 0.9, linewidths=0,
                   zorder=1 if grey else 2)
    ax.set_title(title, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    _legend(ax, len(order))


def projection_figure(points: np.ndarray, clusters: np.ndarray, colours: RunColours, title: str,
                      truth: np.ndarray | None = None, label_col: str | None = None) -> plt.Figure:
    """Clusters in 2-D, and beside them the same points coloured by ``label_col`` (``truth``) when given."""
    panels = 1 if truth is None else 2
    fig, axes = plt.subplots(1, panels, figsize=(6.4 * panels, 4.8), squeeze=False, layout="constrained")
    _scatter(axes[0, 0], points, clusters, colours.clusters, colours.of_cluster, colours.cluster_title, title)
    if truth is not None:
        order = [*colours.labels, *(n for n in natural_sorted(truth) if n not in colours.labels)]
        _scatter(axes[0, 1], points, truth, order, colours.of_label, str, f"true {label_col}")
    return fig


def _crosstab(values: np.ndarray, clusters: np.ndarray, rows: Sequence[str], columns: Sequence[str]) -> pd.DataFrame:
    table = pd.crosstab(pd.Series(values, dtype=object).astype(str), pd.Series(clusters, dtype=object).astype(str))
    return table.reindex(index=list(rows), columns=list(columns), fill_value=0)


def distribution_figure(values: np.ndarray, clusters: np.ndarray, colours: RunColours, column: str) -> plt.Figure:
    """Stacked bars: songs per value of ``column``, split by cluster in the run's cluster colours and order."""
    order = colours.labels if set(colours.labels) == set(map(str, values)) else natural_sorted(values)
    present = [c for c in colours.clusters if (clusters == c).any()]
    table = _crosstab(values, clusters, order, present)
    fig, ax = plt.subplots(figsize=(max(5.0, 0.6 * len(table) + 3.5), 4.2), layout="constrained")
    bottom = np.zeros(len(table))
    positions = np.arange(len(table))
    for name in present:
        style = colours.of_cluster(name)
        heights = table[name].to_numpy(dtype=float)
        ax.bar(positions, heights, 0.8, bottom=bottom, color=style.colour, hatch=style.hatch or None,
               edgecolor="white", linewidth=0.4, label=colours.cluster_title(name))
        bottom += heights
    ax.set_xticks(positions, [str(v) for v in table.index], rotation=45 if len(table) > 6 else 0, ha="right"
                  if len(table) > 6 else "center")
    ax.set_xlabel(column)
    ax.set_ylabel("songs")
    ax.set_title(f"clusters by {column}")
    _legend(ax, len(present), title="cluster")
    return fig


def contingency_figure(clusters: np.ndarray, labels: np.ndarray, colours: RunColours, label_col: str) -> plt.Figure:
    """Cluster × label counts as a heatmap (rows in the run's cluster order, tick labels in cluster colours);
    the Hungarian-matched cells are outlined."""
    rows = [c for c in colours.clusters if (clusters == c).any()]
    columns = [n for n in colours.labels if (labels == n).any()]
    table = _crosstab(clusters, labels, rows, columns).to_numpy()  # rows: clusters
    fig, ax = plt.subplots(figsize=(max(4.5, 0.7 * len(columns) + 2.8), max(3.0, 0.42 * len(rows) + 1.6)),
                           layout="constrained")
    image = ax.imshow(table, cmap="Blues", aspect="auto", vmin=0)
    fig.colorbar(image, ax=ax, label="songs", shrink=0.9)
    threshold = table.max() / 2 if table.size else 0
    for (r, c), count in np.ndenumerate(table):
        if count:
            ax.text(c, r, str(count), ha="center", va="center", fontsize=7,
                    color="white" if count > threshold else "black")
    for r, name in enumerate(rows):
        if name in colours.matched and colours.matched[name] in columns:
            c = columns.index(colours.matched[name])
            ax.add_patch(plt.Rectangle((c - 0.5, r - 0.5), 1, 1, fill=False, edgecolor="black", linewidth=1.6))
    ax.set_xticks(range(len(columns)), columns, rotation=45 if len(columns) > 5 else 0,
                  ha="right" if len(columns) > 5 else "center")
    ax.set_yticks(range(len(rows)), [colours.cluster_title(r) for r in rows])
    for tick, name in zip(ax.get_yticklabels(), rows, strict=True):
        tick.set_color(colours.of_cluster(name).colour)
        tick.set_fontweight("bold")
    ax.set_xlabel(label_col)
    ax.set_ylabel("cluster")
    ax.set_title(f"clusters × {label_col} (outlined: matched)", fontsize=10)
    return fig


class ProjectionPlotter(OutputStep):
    """``latent_visualization/{model}_{clusterer}_{method}.png``: clusters (and labels) in 2-D; beside it
    ``…_points.csv`` with the plotted points (id, x, y, cluster, colours, labels) for the HTML report."""

    def __init__(self, methods: Sequence[str] = PROJECTIONS, max_points: int = 5000) -> None:
        unknown = [m for m in methods if m not in PROJECTIONS]
        if unknown:
            raise ConfigError(f"outputs.projections.methods: unknown {unknown}; use {list(PROJECTIONS)}.")
        self.methods, self.max_points = list(methods), int(max_points)

    def write(self, result: RunResult) -> None:
        seed = int(result.settings.get("seed", 0))
        colours = result_colours(result)
        index = np.arange(len(result.z))
        if len(index) > self.max_points:  # display only: a fixed-seed sample keeps the plot readable
            index = np.sort(np.random.default_rng(seed).choice(index, self.max_points, replace=False))
        z, clusters = result.z[index], result.cluster_names()[index]
        label_col = result.settings.get("label_col") or None
        truth = label_names(result.manifest[label_col])[index] if label_col else None
        model, clusterer = result.settings.get("model"), result.settings.get("clusterer")
        for method in self.methods:
            points = project_2d(z, method, seed)
            fig = projection_figure(points, clusters, colours, f"{model} + {clusterer}: clusters ({method})",
                                    truth, label_col)
            stem = result.run_dir / PROJECTION_DIR / f"{model}_{clusterer}_{method}"
            save_figure(fig, stem.with_suffix(".png"))
            write_csv(self._points(result, index, points, clusters, colours, label_col),
                      stem.with_name(stem.name + POINTS_SUFFIX))

    @staticmethod
    def _points(result: RunResult, index: np.ndarray, points: np.ndarray, clusters: np.ndarray,
                colours: RunColours, label_col: str | None) -> pd.DataFrame:
        frame = pd.DataFrame({"id": np.asarray(result.ids).astype(str)[index], "x": points[:, 0].round(4),
                              "y": points[:, 1].round(4), "cluster": clusters,
                              "cluster_colour": [colours.of_cluster(c).colour for c in clusters]})
        for column in dict.fromkeys(c for c in [label_col, *result.plot_columns] if c and c in result.manifest):
            frame[column] = label_names(result.manifest[column])[index]
        if label_col:
            frame["label_colour"] = [colours.of_label(v).colour for v in frame[label_col]]
        return frame


class DistributionPlotter(OutputStep):
    """``cluster_distributions/clusters_by_{col}.png``: stacked bars of clusters per value of a column."""

    def __init__(self, columns: Sequence[str] | None = None) -> None:
        self.columns = list(columns) if columns else None

    def write(self, result: RunResult) -> None:
        columns = self.columns or result.plot_columns
        missing = [c for c in columns if c not in result.manifest.columns]
        if missing:
            raise ConfigError(
                f"outputs.distributions.columns: {missing} not in the dataset "
                f"(columns: {list(result.manifest.columns)}). Pick existing columns."
            )
        colours = result_colours(result)
        clusters = result.cluster_names()
        for column in columns:
            fig = distribution_figure(label_names(result.manifest[column]), clusters, colours, column)
            save_figure(fig, result.run_dir / DISTRIBUTION_DIR / f"clusters_by_{column}.png")


class ContingencyPlotter(OutputStep):
    """``cluster_distributions/contingency_{label_col}.png``: songs per cluster × label (runs with a label_col)."""

    def write(self, result: RunResult) -> None:
        label_col = result.settings.get("label_col") or None
        if not label_col or label_col not in result.manifest:
            return
        fig = contingency_figure(result.cluster_names(), label_names(result.manifest[label_col]),
                                 result_colours(result), label_col)
        save_figure(fig, result.run_dir / DISTRIBUTION_DIR / f"contingency_{label_col}.png")


def feature_blocks(feature: str | None, normalization: Any, width: int) -> list[tuple[str, int, int]]:
    """(name, first column, end column) of the named parts of a vector feature: a composite feature's blocks
    (hybrid: audio | lyrics | metadata), MFCC statistics' mean / std / min / max; [] when it has none."""
    if isinstance(normalization, tuple | list) and normalization and hasattr(normalization[0], "width"):
        spans, start = [], 0
        for block in normalization:
            spans.append((str(block.name), start, start + int(block.width)))
            start += int(block.width)
        return spans if start == width else []
    names = VECTOR_BLOCKS.get(str(feature or ""))
    if not names or width % len(names):
        return []
    size = width // len(names)
    return [(name, i * size, (i + 1) * size) for i, name in enumerate(names)]


class ReconstructionPlotter(OutputStep):
    """``reconstructions/recon_examples.png``: originals vs reconstructions, in the normalised space the model
    sees: maps as heatmaps with a shared colour bar per song, vectors as lines with their blocks marked."""

    def __init__(self, n_examples: int = 4) -> None:
        self.n_examples = int(n_examples)

    def write(self, result: RunResult) -> None:
        model = result.model
        if not getattr(model, "reconstructs", False) or result.datamodule is None:
            return
        dm = result.datamodule
        songs = np.linspace(0, dm.n_songs - 1, num=min(self.n_examples, dm.n_songs)).astype(int)
        take = dm.offsets[songs]  # each example song's first window (its only row without windows)
        batch = {"x": torch.from_numpy(dm.features[take]), "cond": torch.from_numpy(dm.conditions[take])}
        batch = {k: v.to(model.device) for k, v in batch.items()}
        model.eval()
        with torch.no_grad():
            recon = model.reconstruct(batch).cpu().numpy()
        original = dm.features[take]
        titles = [str(result.ids[i]) + (" (first window)" if dm.windowed else "") for i in songs]
        feature = result.settings.get("feature")
        if original.ndim == 4:
            fig = map_reconstruction_figure(original, recon, titles, MAP_ROWS.get(str(feature), "feature row"))
        else:
            blocks = feature_blocks(feature, getattr(dm.normalizer, "policy", None), original.shape[1])
            fig = vector_reconstruction_figure(original, recon, titles, blocks)
        save_figure(fig, result.run_dir / RECONSTRUCTION_DIR / "recon_examples.png")


def map_reconstruction_figure(original: np.ndarray, recon: np.ndarray, titles: Sequence[str], rows_are: str
                              ) -> plt.Figure:
    """One row per song: original | reconstruction heatmaps on one colour scale, with its colour bar."""
    fig, axes = plt.subplots(len(titles), 2, figsize=(10.5, 2.6 * len(titles)), squeeze=False, layout="constrained")
    for row, song in enumerate(titles):
        limits = dict(vmin=float(original[row].min()), vmax=float(original[row].max()))
        image = None
        for col, (data, label) in enumerate(((original[row, 0], "original"), (recon[row, 0], "reconstruction"))):
            ax = axes[row, col]
            image = ax.imshow(data, aspect="auto", origin="lower", cmap="magma", **limits)
            ax.set_title(f"{song}: {label}", fontsize=8)
            ax.set_ylabel(rows_are, fontsize=8)
            ax.set_xlabel("frame", fontsize=8)
            ax.tick_params(labelsize=7)
        fig.colorbar(image, ax=axes[row, :].tolist(), label="normalised value", shrink=0.9)
    return fig


def vector_reconstruction_figure(original: np.ndarray, recon: np.ndarray, titles: Sequence[str],
                                 blocks: Sequence[tuple[str, int, int]]) -> plt.Figure:
    """One panel per song: original and reconstruction over the feature's columns, its blocks shaded and named."""
    fig, axes = plt.subplots(len(titles), 1, figsize=(9, 2.5 * len(titles)), squeeze=False, layout="constrained")
    for row, song in enumerate(titles):
        ax = axes[row, 0]
        for i, (name, start, end) in enumerate(blocks):
            if i % 2:
                ax.axvspan(start - 0.5, end - 0.5, color="#EEEEEE", zorder=0)
            ax.text((start + end - 1) / 2, 1.0, name, transform=ax.get_xaxis_transform(), ha="center", va="bottom",
                    fontsize=7, color="#444444")
        ax.plot(original[row], label="original", lw=1, color="#332288")
        ax.plot(recon[row], label="reconstruction", lw=1, alpha=0.85, color="#CC6677")
        ax.set_title(song, fontsize=8, pad=12 if blocks else 4)
        ax.set_xlabel("feature column", fontsize=8)
        ax.set_ylabel("normalised value", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.set_xlim(-0.5, original.shape[1] - 0.5)
        ax.legend(fontsize=7, loc="upper right", frameon=False)
    return fig
