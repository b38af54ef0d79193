"""Output steps that draw: 2-D projections, cluster distributions per column, reconstructions."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

from musiclust.errors import ConfigError  # noqa: E402
from musiclust.io import save_figure  # noqa: E402
from musiclust.layout import PLOT_DIRS  # noqa: E402
from musiclust.outputs.result import OutputStep, RunResult  # noqa: E402

log = logging.getLogger(__name__)

PROJECTIONS = ("tsne", "umap")
PROJECTION_DIR, DISTRIBUTION_DIR, RECONSTRUCTION_DIR = PLOT_DIRS
#: how songs without a value in a label column (NaN or blank) are shown; metrics count them as n_unlabelled
UNLABELLED = "unlabelled"
#: t-SNE of at most this many points runs on one thread
SINGLE_THREAD_TSNE = 2000


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


def label_names(values: pd.Series) -> np.ndarray:
    """A label column as display strings, missing or blank values shown as "unlabelled"."""
    names = values.astype("string").str.strip()
    return names.mask(names == "").fillna(UNLABELLED).to_numpy(dtype=object)


def _scatter(ax, points: np.ndarray, groups: np.ndarray, title: str) -> None:
    grey = ("noise", UNLABELLED)
    names = sorted(set(groups.tolist()), key=lambda g: (g in grey, g))
    cmap = plt.get_cmap("tab10" if len(names) <= 10 else "tab20")
    for i, name in enumerate(names):
        mask = groups == name
        color = "lightgrey" if name in grey else cmap(i % cmap.N)
        ax.scatter(points[mask, 0], points[mask, 1], s=14, color=color, label=f"{name} ({mask.sum()})", alpha=0.85)
    ax.set_title(title, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(fontsize=7, markerscale=1.2, loc="best", frameon=False)


class ProjectionPlotter(OutputStep):
    """``latent_visualization/{model}_{clusterer}_{method}.png``: clusters (and labels) in 2-D."""

    def __init__(self, methods: Sequence[str] = PROJECTIONS, max_points: int = 5000) -> None:
        unknown = [m for m in methods if m not in PROJECTIONS]
        if unknown:
            raise ConfigError(f"outputs.projections.methods: unknown {unknown}; use {list(PROJECTIONS)}.")
        self.methods, self.max_points = list(methods), int(max_points)

    def write(self, result: RunResult) -> None:
        seed = int(result.settings.get("seed", 0))
        index = np.arange(len(result.z))
        if len(index) > self.max_points:  # display only: a fixed-seed sample keeps the plot readable
            index = np.sort(np.random.default_rng(seed).choice(index, self.max_points, replace=False))
        z, clusters = result.z[index], result.cluster_names()[index]
        label_col = result.settings.get("label_col")
        for method in self.methods:
            points = project_2d(z, method, seed)
            panels = 2 if label_col else 1
            fig, axes = plt.subplots(1, panels, figsize=(6 * panels, 5), squeeze=False)
            model, clusterer = result.settings.get("model"), result.settings.get("clusterer")
            _scatter(axes[0, 0], points, clusters, f"{model} + {clusterer}: clusters ({method})")
            if label_col:
                truth = label_names(result.manifest[label_col])[index]
                _scatter(axes[0, 1], points, truth, f"true {label_col}")
            save_figure(fig, result.run_dir / PROJECTION_DIR / f"{model}_{clusterer}_{method}.png")


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
        clusters = pd.Series(result.cluster_names(), name="cluster")
        for column in columns:
            values = pd.Series(label_names(result.manifest[column]), name=column)
            table = pd.crosstab(values, clusters)
            fig, ax = plt.subplots(figsize=(max(5, 0.6 * len(table) + 3), 4))
            table.plot(kind="bar", stacked=True, ax=ax, colormap="tab20", width=0.8)
            ax.set_ylabel("songs")
            ax.set_title(f"clusters by {column}")
            ax.legend(title="cluster", fontsize=7, bbox_to_anchor=(1.01, 1), loc="upper left")
            save_figure(fig, result.run_dir / DISTRIBUTION_DIR / f"clusters_by_{column}.png")


class ReconstructionPlotter(OutputStep):
    """``reconstructions/recon_examples.png``: originals vs reconstructions (lines or heatmaps)."""

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
        is_map = original.ndim == 4
        fig, axes = plt.subplots(len(take), 2 if is_map else 1, figsize=(10 if is_map else 8, 2.4 * len(take)),
                                 squeeze=False)
        for row, i in enumerate(songs):
            song = str(result.ids[i]) + (" (first window)" if dm.windowed else "")
            if is_map:
                limits = dict(vmin=float(original[row].min()), vmax=float(original[row].max()))
                for col, (data, label) in enumerate(((original[row, 0], "original"), (recon[row, 0], "recon"))):
                    axes[row, col].imshow(data, aspect="auto", origin="lower", cmap="magma", **limits)
                    axes[row, col].set_title(f"{song}: {label}", fontsize=8)
            else:
                axes[row, 0].plot(original[row], label="original", lw=1)
                axes[row, 0].plot(recon[row], label="reconstruction", lw=1, alpha=0.8)
                axes[row, 0].set_title(song, fontsize=8)
                axes[row, 0].legend(fontsize=7)
        fig.tight_layout()  # keeps each title clear of the tick labels of the panel above
        save_figure(fig, result.run_dir / RECONSTRUCTION_DIR / "recon_examples.png")
