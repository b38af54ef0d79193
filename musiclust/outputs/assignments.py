"""``assignments.csv``: which song is in which cluster — the file people open in a spreadsheet.

One row per song, in the run's song order: ``id``, ``cluster`` (an integer, −1 for noise), ``cluster_name``
(``c0``, ``c1``, …, ``noise``), ``distance`` (Euclidean, to the centre of the song's cluster in the space that was
clustered — the reducer's when there is one: k-means' own centres, else the mean of the cluster's songs; empty
for noise), ``probability`` (only for clusterers that have one: the Gaussian mixture's or VaDE's probability of
the song's cluster), then the dataset's label and plot columns. ``musiclust-predict`` writes the same table for
new songs, from the same functions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from musiclust.clustering.assign import cluster_centres, distance_to_centre, membership_probability
from musiclust.columns import ID
from musiclust.io import write_csv
from musiclust.layout import ASSIGNMENTS_FILE
from musiclust.outputs.result import OutputStep, RunResult, cluster_names

#: the first columns of assignments.csv, in order (``probability`` only where the clusterer has one)
COLUMNS = (ID, "cluster", "cluster_name", "distance", "probability")


def label_columns(manifest: pd.DataFrame, label_col: str | None, plot_columns: Sequence[str]) -> list[str]:
    """The label column and the plot columns that the songs' manifest has, each once, in that order."""
    wanted = [c for c in [label_col, *plot_columns] if c]
    return [c for c in dict.fromkeys(wanted) if c in manifest.columns and c not in COLUMNS]


def assignment_table(
    ids: np.ndarray, clusters: np.ndarray, space: np.ndarray, assigner: Any, centres: tuple[np.ndarray, np.ndarray],
    manifest: pd.DataFrame, columns: Sequence[str],
) -> pd.DataFrame:
    """The rows of ``assignments.csv``: songs ``ids`` with their ``clusters``, their distance to the ``centres``
    (cluster ids, centre coordinates) in the clustered ``space``, the ``assigner``'s probability where it has
    one, and the ``columns`` of ``manifest`` (rows aligned with ``ids``)."""
    clusters = np.asarray(clusters, dtype=np.int64)
    table = pd.DataFrame({ID: np.asarray(ids).astype(str), "cluster": clusters, "cluster_name": cluster_names(clusters),
                          "distance": distance_to_centre(space, clusters, *centres)})
    probability = membership_probability(assigner, space, clusters)
    if probability is not None:
        table["probability"] = probability
    for column in columns:
        table[column] = manifest[column].to_numpy()
    return table


def clustered_space(result: RunResult) -> np.ndarray:
    """Where a run's songs were clustered: the reducer's space, or the embeddings themselves."""
    return np.asarray(result.z if result.z_reduced is None else result.z_reduced, dtype=np.float64)


class AssignmentsWriter(OutputStep):
    """``assignments.csv``: one row per song with its cluster, distance, probability and label columns."""

    def write(self, result: RunResult) -> None:
        space = clustered_space(result)
        clusterer = result.clustering.clusterer if result.clustering is not None else None
        columns = label_columns(result.manifest, result.settings.get("label_col"), result.plot_columns)
        table = assignment_table(result.ids, result.clusters, space, clusterer,
                                 cluster_centres(clusterer, space, result.clusters), result.manifest, columns)
        write_csv(table, result.run_dir / ASSIGNMENTS_FILE)
