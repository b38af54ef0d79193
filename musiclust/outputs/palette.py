"""One colour per cluster across every plot of a run, matched to the labels so a good clustering looks like one.

- **Palette**: Paul Tol's colour-blind-safe qualitative "muted" scheme (9 colours, :data:`COLOURS`). With more
  groups than colours, the colours repeat and each repeat gets its own marker (scatter plots, :data:`MARKERS`)
  and hatching (bars, :data:`HATCHES`), so group 10 is "rose, squares" where group 1 is "rose, circles".
- **Grey** (:data:`GREY`) is reserved: DBSCAN/HDBSCAN noise and songs without a label, in every plot.
- **Order**: names sort naturally (``c2`` before ``c10``), noise and "unlabelled" last.
- **Matching**: with labels, each cluster is matched one-to-one to a label by the Hungarian algorithm on the
  cluster × label contingency table (the matching that the ``acc`` metric scores). A matched cluster takes its
  label's colour and its label's place in the legend, so for a perfect clustering the cluster panel and the
  truth panel look the same. Clusters left over (more clusters than labels) follow, with colours no label uses.

Every plot of a run (projections, distributions, contingency, the report's cluster sections) takes its colours
from :func:`run_colours`, computed from the run's clusters and ``label_col`` alone, so they all agree.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

#: Paul Tol's "muted" qualitative scheme (colour-blind safe): rose, indigo, sand, green, cyan, wine, teal, olive, purple
COLOURS = ("#CC6677", "#332288", "#DDCC77", "#117733", "#88CCEE", "#882255", "#44AA99", "#999933", "#AA4499")
#: noise (clusterers that leave songs out) and songs without a label: never a group colour
GREY = "#BBBBBB"
#: when colours repeat (more than len(COLOURS) groups), the n-th repeat is told apart by these
MARKERS = ("o", "s", "^", "D", "v", "P")
HATCHES = ("", "///", "...", "xxx", "\\\\\\", "+++")
NOISE = "noise"
UNLABELLED = "unlabelled"
#: names that are not groups of their own and are drawn grey, last
GREY_NAMES = (NOISE, UNLABELLED)


@dataclass(frozen=True)
class Swatch:
    """How one group is drawn: its colour, its scatter marker and its bar hatching."""

    colour: str
    marker: str = "o"
    hatch: str = ""


GREY_SWATCH = Swatch(GREY)


def swatch(index: int) -> Swatch:
    """The ``index``-th group's swatch: colours first, then the same colours with the next marker and hatching."""
    turn = index // len(COLOURS)
    return Swatch(COLOURS[index % len(COLOURS)], MARKERS[turn % len(MARKERS)], HATCHES[turn % len(HATCHES)])


def natural_key(name: object) -> tuple:
    """Sort key: grey names last, then text with its digit runs compared as numbers (``c2`` < ``c10``)."""
    text = str(name)
    parts = tuple((0, int(part), "") if part.isdigit() else (1, 0, part.lower())
                  for part in re.split(r"(\d+)", text) if part)
    return (text in GREY_NAMES, parts)


def natural_sorted(names: Iterable[object]) -> list[str]:
    """Distinct names in natural order, noise / unlabelled last."""
    return sorted({str(n) for n in names}, key=natural_key)


@dataclass
class RunColours:
    """The display order and the swatch of every cluster and label of one run."""

    clusters: list[str]                       # cluster names in display order (noise last)
    labels: list[str]                         # label names in display order (unlabelled last)
    matched: dict[str, str] = field(default_factory=dict)   # cluster → its Hungarian-matched label
    majority: dict[str, str] = field(default_factory=dict)  # cluster → its most frequent label
    cluster_swatches: dict[str, Swatch] = field(default_factory=dict)
    label_swatches: dict[str, Swatch] = field(default_factory=dict)

    def of_cluster(self, name: str) -> Swatch:
        return self.cluster_swatches.get(str(name), GREY_SWATCH)

    def of_label(self, name: str) -> Swatch:
        return self.label_swatches.get(str(name), GREY_SWATCH)

    def cluster_title(self, name: str) -> str:
        """A legend entry: ``c3 ≈ rock`` for a cluster matched to a label, else its name."""
        name = str(name)
        return f"{name} ≈ {self.matched[name]}" if name in self.matched else name


def match_clusters(clusters: Sequence[str], labels: Sequence[str]) -> tuple[dict[str, str], dict[str, str]]:
    """(cluster → Hungarian-matched label, cluster → majority label) over the songs that have a label; noise
    and unlabelled songs take no part. Ties are broken by natural order, so the result is deterministic."""
    from scipy.optimize import linear_sum_assignment

    frame = pd.DataFrame({"cluster": np.asarray(clusters, dtype=object).astype(str),
                          "label": np.asarray(labels, dtype=object).astype(str)})
    frame = frame[~frame["cluster"].isin(GREY_NAMES) & ~frame["label"].isin(GREY_NAMES)]
    if frame.empty:
        return {}, {}
    table = pd.crosstab(frame["cluster"], frame["label"])
    table = table.loc[natural_sorted(table.index), natural_sorted(table.columns)]
    rows, cols = linear_sum_assignment(table.to_numpy(), maximize=True)
    matched = {table.index[r]: table.columns[c] for r, c in zip(rows, cols, strict=True) if table.iat[r, c] > 0}
    majority = {cluster: table.columns[int(np.argmax(table.loc[cluster].to_numpy()))] for cluster in table.index}
    return matched, majority


def run_colours(clusters: Sequence[str], labels: Sequence[str] | None = None) -> RunColours:
    """Order and colours of a run's clusters (display names such as ``c0``, ``noise``) and, when given, of the
    labels of its ``label_col`` (display names, "unlabelled" for songs without one)."""
    cluster_names = natural_sorted(clusters)
    groups = [c for c in cluster_names if c not in GREY_NAMES]
    if labels is None:
        swatches = {name: swatch(i) for i, name in enumerate(groups)}
        return RunColours(clusters=cluster_names, labels=[], cluster_swatches=swatches)
    label_names = natural_sorted(labels)
    label_groups = [label for label in label_names if label not in GREY_NAMES]
    label_swatches = {label: swatch(i) for i, label in enumerate(label_groups)}
    matched, majority = match_clusters(clusters, labels)
    position = {label: i for i, label in enumerate(label_groups)}
    by_label = sorted((c for c in groups if c in matched), key=lambda c: position[matched[c]])
    rest = sorted((c for c in groups if c not in matched),
                  key=lambda c: (position.get(majority.get(c, ""), len(position)), natural_key(c)))
    cluster_swatches = {c: label_swatches[matched[c]] for c in by_label}
    cluster_swatches.update({c: swatch(len(label_groups) + i) for i, c in enumerate(rest)})
    ordered = by_label + rest + [c for c in cluster_names if c in GREY_NAMES]
    return RunColours(clusters=ordered, labels=label_names, matched=matched, majority=majority,
                      cluster_swatches=cluster_swatches, label_swatches=label_swatches)


def label_names(values: pd.Series) -> np.ndarray:
    """A label column as display strings, missing or blank values shown as "unlabelled"."""
    names = pd.Series(values).astype("string").str.strip()
    return names.mask(names == "").fillna(UNLABELLED).to_numpy(dtype=object)
