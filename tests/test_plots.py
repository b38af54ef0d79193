"""Plots of one run agree with each other: one colour per cluster in every plot (its matched label's colour when
the run has labels), natural order, noise grey everywhere; reconstructions with labelled axes and colour bars.

The steps are run as a finished run runs them, with ``save_figure`` captured, and the matplotlib artists read
back (colours per legend entry, bar colours, tick labels), not pixels. 2-D embeddings skip the projection.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.colors as mcolors
import numpy as np
import pandas as pd
import pytest
import torch

from musiclust.clustering.metrics import clustering_accuracy
from musiclust.outputs import RunResult, plots
from musiclust.outputs.palette import COLOURS, GREY, natural_sorted, run_colours

GENRES = np.array(["ambient", "classical", "folk", "rock"])


@pytest.fixture
def figures(monkeypatch):
    """Every figure a step saves, by file name, instead of writing it."""
    saved: dict[str, object] = {}

    def capture(figure, path, dpi=110):
        saved[Path(path).name] = figure
        return Path(path)

    monkeypatch.setattr(plots, "save_figure", capture)
    yield saved
    import matplotlib.pyplot as plt

    plt.close("all")


def run_result(tmp_path, clusters, genre, label_col="genre") -> RunResult:
    """A run on 2-D embeddings (so the projection is the embedding itself) with a genre label column."""
    rng = np.random.default_rng(0)
    clusters = np.asarray(clusters)
    z = rng.normal(size=(len(clusters), 2)) + clusters[:, None] * 3.0
    manifest = pd.DataFrame({"id": [f"s{i:03d}" for i in range(len(clusters))], "genre": genre})
    return RunResult(run_dir=Path(tmp_path), settings={"seed": 0, "model": "pca", "clusterer": "kmeans",
                                                       "label_col": label_col},
                     ids=manifest["id"].to_numpy(), z=z, clusters=clusters, manifest=manifest, metrics={},
                     plot_columns=["genre"])


def hex_of(colour) -> str:
    return mcolors.to_hex(colour).upper()


def scatter_colours(ax) -> dict[str, str]:
    """Legend name (without the count) → the colour of its points."""
    return {c.get_label().rsplit(" (", 1)[0]: hex_of(c.get_facecolor()[0]) for c in ax.collections}


def point_colours(ax) -> dict[tuple[float, float], str]:
    return {tuple(np.round(xy, 6)): hex_of(c.get_facecolor()[0]) for c in ax.collections for xy in c.get_offsets()}


def bar_colours(ax) -> dict[str, str]:
    return {bars.get_label(): hex_of(bars.patches[0].get_facecolor()) for bars in ax.containers}


def cluster_of(entry: str) -> str:
    """``c3 ≈ rock`` → ``c3`` (legend entries name the matched label after the cluster)."""
    return entry.split(" ")[0]


def test_a_perfect_clustering_looks_perfect(tmp_path, figures):
    """Clusters that are the genres under other ids: each point has the same colour in both panels."""
    genre = np.repeat(GENRES, 6)
    clusters = np.repeat([2, 0, 3, 1], 6)  # ambient → c2, classical → c0, ...
    plots.ProjectionPlotter(methods=["tsne"]).write(run_result(tmp_path, clusters, genre))
    cluster_panel, truth_panel = figures["pca_kmeans_tsne.png"].axes[:2]
    assert point_colours(cluster_panel) == point_colours(truth_panel)
    legend = [text.get_text() for text in cluster_panel.get_legend().get_texts()]
    assert legend == ["c2 ≈ ambient (6)", "c0 ≈ classical (6)", "c3 ≈ folk (6)", "c1 ≈ rock (6)"]


def test_a_cluster_has_one_colour_in_every_plot_and_noise_is_grey(tmp_path, figures):
    genre = np.array(["rock"] * 8 + ["folk"] * 8 + ["ambient"] * 8)
    clusters = np.array([1] * 7 + [-1] + [0] * 6 + [-1, 2] + [2] * 8)
    result = run_result(tmp_path, clusters, genre)
    plots.ProjectionPlotter(methods=["tsne"]).write(result)
    plots.DistributionPlotter().write(result)
    plots.ContingencyPlotter().write(result)
    scatter = {cluster_of(k): v for k, v in scatter_colours(figures["pca_kmeans_tsne.png"].axes[0]).items()}
    bars = {cluster_of(k): v for k, v in bar_colours(figures["clusters_by_genre.png"].axes[0]).items()}
    heatmap = figures["contingency_genre.png"].axes[0]
    ticks = {cluster_of(t.get_text()): hex_of(t.get_color()) for t in heatmap.get_yticklabels()}
    assert set(scatter) == {"c0", "c1", "c2", "noise"}
    assert scatter == bars == ticks
    assert scatter["noise"] == GREY
    assert GREY not in {v for k, v in scatter.items() if k != "noise"}
    assert len(set(scatter.values())) == 4
    # the truth panel: each genre in the colour of the cluster matched to it
    truth = scatter_colours(figures["pca_kmeans_tsne.png"].axes[1])
    assert truth == {"ambient": scatter["c2"], "folk": scatter["c0"], "rock": scatter["c1"]}


def test_clusters_in_natural_order_with_distinct_styles_beyond_the_palette(tmp_path, figures):
    clusters = np.arange(12).repeat(3)
    result = run_result(tmp_path, clusters, np.repeat("x", 36), label_col=None)
    plots.ProjectionPlotter(methods=["tsne"]).write(result)
    plots.DistributionPlotter().write(result)
    ax = figures["pca_kmeans_tsne.png"].axes[0]
    names = [cluster_of(t.get_text()) for t in ax.get_legend().get_texts()]
    assert names == [f"c{i}" for i in range(12)]  # c2 before c10
    styles = {(hex_of(c.get_facecolor()[0]), tuple(np.round(c.get_paths()[0].vertices[:4].ravel(), 3)))
              for c in ax.collections}
    assert len(styles) == 12  # beyond 9 colours, the marker tells repeats apart
    bars = figures["clusters_by_genre.png"].axes[0].containers
    assert len({(hex_of(b.patches[0].get_facecolor()), b.patches[0].get_hatch()) for b in bars}) == 12
    assert [hex_of(c.get_facecolor()[0]) for c in ax.collections][:9] == list(COLOURS)


def test_contingency_outlines_the_matching_that_acc_scores(tmp_path, figures):
    rng = np.random.default_rng(3)
    genre = rng.choice(GENRES, size=60)
    clusters = np.where(rng.random(60) < 0.7, np.searchsorted(GENRES, genre), rng.integers(0, 5, 60))
    plots.ContingencyPlotter().write(run_result(tmp_path, clusters, genre))
    ax = figures["contingency_genre.png"].axes[0]
    table = ax.images[0].get_array()
    counts = pd.crosstab(clusters, genre).to_numpy()
    assert table.sum() == 60 and sorted(table.ravel().tolist()) == sorted(counts.ravel().tolist())
    outlined = [p for p in ax.patches if not p.get_fill()]
    matched = sum(table[round(p.get_y() + 0.5), round(p.get_x() + 0.5)] for p in outlined)
    assert matched / 60 == pytest.approx(clustering_accuracy(genre, clusters))


def test_colours_depend_only_on_the_partition():
    """Renaming the clusters does not change which songs share a colour, nor the label colours."""
    labels = np.repeat(["a", "b", "c"], 5)
    first = run_colours([f"c{i}" for i in np.repeat([0, 1, 2], 5)], labels)
    second = run_colours([f"c{i}" for i in np.repeat([7, 3, 10], 5)], labels)
    colours = [[run.of_cluster(c).colour for c in run.clusters] for run in (first, second)]
    assert colours[0] == colours[1]
    assert natural_sorted(["c10", "noise", "c2", "c1"]) == ["c1", "c2", "c10", "noise"]


class HalfReconstruction:
    """A model double: reconstructs every input as half of itself."""

    reconstructs = True
    device = torch.device("cpu")

    def eval(self):
        return self

    def reconstruct(self, batch):
        return batch["x"] * 0.5


def reconstruction_result(tmp_path, values, feature, offsets=None) -> RunResult:
    from musiclust.features.base import FeatureSet
    from musiclust.training import MusicDataModule

    n = len(values) if offsets is None else len(offsets) - 1
    ids = [f"s{i}" for i in range(n)]
    datamodule = MusicDataModule(FeatureSet(values.astype(np.float32), ids, offsets=offsets), seed=0)
    return RunResult(run_dir=Path(tmp_path), settings={"feature": feature}, ids=np.array(ids), z=np.zeros((n, 2)),
                     clusters=np.zeros(n, dtype=int), manifest=pd.DataFrame({"id": ids}), metrics={},
                     datamodule=datamodule, model=HalfReconstruction())


def test_map_reconstructions_have_labelled_axes_and_a_colour_bar(tmp_path, figures):
    maps = np.random.default_rng(0).normal(size=(3, 1, 16, 20))
    plots.ReconstructionPlotter(n_examples=2).write(reconstruction_result(tmp_path, maps, "logmelspec"))
    figure = figures["recon_examples.png"]
    images = [ax for ax in figure.axes if ax.images]
    assert len(images) == 4
    assert {ax.get_ylabel() for ax in images} == {"mel band"} and {ax.get_xlabel() for ax in images} == {"frame"}
    bars = [ax for ax in figure.axes if not ax.images]
    assert len(bars) == 2 and {ax.get_ylabel() for ax in bars} == {"normalised value"}


def test_mfcc_reconstructions_mark_the_statistics_blocks(tmp_path, figures):
    vectors = np.random.default_rng(0).normal(size=(5, 4 * 13))
    plots.ReconstructionPlotter(n_examples=2).write(reconstruction_result(tmp_path, vectors, "mfcc"))
    ax = figures["recon_examples.png"].axes[0]
    assert [t.get_text() for t in ax.texts] == ["MFCC mean", "MFCC std", "MFCC min", "MFCC max"]
    assert ax.get_xlabel() == "feature column" and ax.get_ylabel() == "normalised value"
    assert [line.get_label() for line in ax.get_lines()] == ["original", "reconstruction"]
