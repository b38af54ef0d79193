"""The clustering of a run: its clusterer and reducer, checked against the songs before any training, adapted to
their number, and applied to the embeddings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from omegaconf import OmegaConf

from musiclust.clustering.base import check_k, fit_predict, requested_clusters
from musiclust.clustering.estimators import bind_model
from musiclust.clustering.large_n import scalable_clusterer
from musiclust.clustering.reducers import NoReducer, reduces
from musiclust.instantiate import build


@dataclass
class ClusteringPlan:
    clusterer: Any
    reducer: Any
    name: str

    @property
    def k(self) -> int | None:
        """The number of clusters asked for (None for density-based clusterers, which find their own)."""
        return requested_clusters(self.clusterer)

    @classmethod
    def from_config(cls, cfg: Any, n_songs: int) -> ClusteringPlan:
        """The configured clusterer and reducer; a k that cannot work for ``n_songs`` fails here, before training."""
        plan = cls(build(cfg.clusterer), build(cfg.reducer) if cfg.get("reducer") else NoReducer(),
                   str(cfg.clusterer.get("name", "?")))
        check_k(plan.k, n_songs, plan.name)
        return plan

    def for_songs(self, n_songs: int, large_n: Any, seed: int) -> ClusteringPlan:
        """The plan for the songs that remain after skipping, with the large-N variant of the clusterer if needed."""
        check_k(self.k, n_songs, self.name)
        limits = OmegaConf.to_container(large_n, resolve=True) if OmegaConf.is_config(large_n) else dict(large_n or {})
        return ClusteringPlan(scalable_clusterer(self.clusterer, n_songs, seed=seed, **limits), self.reducer, self.name)

    def bind(self, model: Any) -> None:
        """Give a model-assignment clusterer (``clusterer=model``) its model; fail before training if it cannot."""
        bind_model(self.clusterer, model, reduced=reduces(self.reducer))

    def used_params(self) -> dict[str, Any]:
        """The values the reducer and clusterer used where the data bounded what was asked (e.g. UMAP's
        ``n_neighbors`` for few songs), for the metrics file: nothing is clamped silently. With k-means, also its
        ``inertia`` (the within-cluster sum of squares it minimised), whose elbow over k helps choose k."""
        inertia = getattr(self.clusterer, "inertia_", None)
        return {**getattr(self.reducer, "used_params_", {}), **getattr(self.clusterer, "used_params_", {}),
                **({"inertia": float(inertia)} if inertia is not None else {})}

    def fit_predict(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Cluster the embeddings (in the reducer's space, if there is one): (clusters, reduced embeddings or None)."""
        z_reduced = self.reducer.fit_transform(z) if reduces(self.reducer) else None
        return fit_predict(self.clusterer, z if z_reduced is None else z_reduced), z_reduced
