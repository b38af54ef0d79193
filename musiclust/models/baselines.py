"""Closed-form baselines: PCA and the raw (standardised, flattened) features."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch

from musiclust.models.base import ClosedFormModel
from musiclust.preprocess import flatten

log = logging.getLogger(__name__)

MAX_PCA_DIMS = 32
#: up to this many bytes of (float32) rows, PCA is fitted exactly on all rows in memory; above, in a streaming pass
PCA_IN_MEMORY_BYTES = 512 << 20
#: bytes of rows per partial fit of the streaming pass
PCA_CHUNK_BYTES = 64 << 20


class PCAModel(ClosedFormModel):
    """PCA to ``latent_dim`` components, bounded by 32, by N − 1 and by the input dimension.

    A ``latent_dim`` above those bounds is lowered with a warning; the number used is ``latent_dims`` in
    :meth:`summary_metrics` (and in the run's ``clustering_metrics.csv``). Rows up to
    :data:`PCA_IN_MEMORY_BYTES` are fitted exactly in memory (scikit-learn's ``PCA``); larger feature sets (100k
    songs' maps) in one streaming pass with ``IncrementalPCA`` over chunks of rows, whose components match the
    exact ones to float tolerance when the leading eigenvalues are separated (tests/test_store.py checks
    explained variance to 1e-4 and |cosine| ≥ 0.9999 per component).
    """

    def __init__(self, input_shape: tuple[int, ...], latent_dim: int = 32, whiten: bool = False, seed: int = 0,
                 **_: object) -> None:
        super().__init__()
        self.save_hyperparameters("input_shape", "latent_dim", "whiten", "seed", logger=False)
        self.latent_dim, self.whiten, self.seed = int(latent_dim), bool(whiten), int(seed)
        self.register_buffer("components", torch.zeros(0))
        self.register_buffer("center", torch.zeros(0))
        self.register_buffer("scale", torch.zeros(0))
        self.explained_variance_ratio = np.zeros(0)

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        # the fitted buffers are empty until the fit: give them the checkpoint's shapes before its state is loaded
        for name in ("components", "center", "scale"):
            setattr(self, name, torch.empty_like(checkpoint["state_dict"][name]))

    def n_components_for(self, n_songs: int, n_dims: int) -> int:
        """``latent_dim`` within what PCA can give for ``n_songs`` rows of ``n_dims`` (a warning when lowered)."""
        # centred data of N songs spans at most N − 1 directions; the N-th component would be noise
        limits = {"musiclust's PCA cap": MAX_PCA_DIMS, f"the {n_songs} songs − 1": n_songs - 1,
                  "the input dimension": n_dims}
        n_components = max(1, min(self.latent_dim, *limits.values()))
        if n_components < self.latent_dim:
            why = ", ".join(f"{name} ({limit})" for name, limit in limits.items() if limit <= n_components)
            log.warning("model.latent_dim=%d is more than PCA can give here: using %d components, bounded by %s "
                        "(latent_dims in clustering_metrics.csv). Set model.latent_dim to at most %d to silence this.",
                        self.latent_dim, n_components, why, n_components)
        return n_components

    def fit_rows(self, rows: Any) -> None:
        n_rows, n_dims = len(rows), int(np.prod(rows.shape[1:]))
        if n_rows * n_dims * 4 <= PCA_IN_MEMORY_BYTES:
            self.fit_closed_form(np.asarray(rows, dtype=np.float32))
            return
        from sklearn.decomposition import IncrementalPCA

        n_components = self.n_components_for(n_rows, n_dims)
        step = max(n_components, PCA_CHUNK_BYTES // (4 * n_dims))
        starts = list(range(0, n_rows, step))
        if len(starts) > 1 and n_rows - starts[-1] < n_components:  # every partial fit needs n_components rows
            starts.pop()
        pca = IncrementalPCA(n_components=n_components, whiten=self.whiten)
        for start, end in zip(starts, [*starts[1:], n_rows], strict=True):
            pca.partial_fit(flatten(rows[start:end]))
        log.info("PCA fitted in a streaming pass over %d rows (%d chunks)", n_rows, len(starts))
        self._keep(pca)

    def fit_closed_form(self, features: np.ndarray) -> None:
        from sklearn.decomposition import PCA

        flat = flatten(features)
        n_components = self.n_components_for(*flat.shape)
        self._keep(PCA(n_components=n_components, whiten=self.whiten, random_state=self.seed).fit(flat))

    def _keep(self, pca: Any) -> None:
        """The fitted components, centre and (whitening) scale as buffers."""
        scale = np.sqrt(pca.explained_variance_) if self.whiten else np.ones(len(pca.components_))
        self.components = torch.as_tensor(pca.components_, dtype=torch.float32, device=self.device)
        self.center = torch.as_tensor(pca.mean_, dtype=torch.float32, device=self.device)
        self.scale = torch.as_tensor(scale, dtype=torch.float32, device=self.device)
        self.explained_variance_ratio = pca.explained_variance_ratio_

    def embed(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        flat = batch["x"].flatten(1)
        return ((flat - self.center) @ self.components.T) / self.scale

    def summary_metrics(self) -> dict[str, object]:
        # the components actually fitted (the buffer survives a checkpoint), which latent_dim may exceed
        return {"explained_variance": float(np.sum(self.explained_variance_ratio)),
                "latent_dims": int(self.components.shape[0])}


class RawModel(ClosedFormModel):
    """Identity: the standardised features themselves are the embedding."""

    def __init__(self, input_shape: tuple[int, ...], **_: object) -> None:
        super().__init__()
        self.save_hyperparameters("input_shape", logger=False)

    def fit_rows(self, rows: Any) -> None:
        pass  # nothing to fit: no need to read the rows

    def fit_closed_form(self, features: np.ndarray) -> None:
        pass

    def embed(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return batch["x"].flatten(1)
