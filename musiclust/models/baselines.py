"""Closed-form baselines: PCA and the raw (standardised, flattened) features."""

from __future__ import annotations

import numpy as np
import torch

from musiclust.models.base import ClosedFormModel
from musiclust.preprocess import flatten

MAX_PCA_DIMS = 32


class PCAModel(ClosedFormModel):
    """PCA to ``latent_dim`` components, bounded by 32, by N − 1 and by the input dimension."""

    def __init__(self, input_shape: tuple[int, ...], latent_dim: int = 32, whiten: bool = False, seed: int = 0,
                 **_: object) -> None:
        super().__init__()
        self.save_hyperparameters("latent_dim", "whiten")
        self.latent_dim, self.whiten, self.seed = int(latent_dim), bool(whiten), int(seed)
        self.register_buffer("components", torch.zeros(0))
        self.register_buffer("center", torch.zeros(0))
        self.register_buffer("scale", torch.zeros(0))
        self.explained_variance_ratio = np.zeros(0)

    def fit_closed_form(self, features: np.ndarray) -> None:
        from sklearn.decomposition import PCA

        flat = flatten(features)
        n_components = max(1, min(self.latent_dim, MAX_PCA_DIMS, flat.shape[0] - 1, flat.shape[1]))
        pca = PCA(n_components=n_components, whiten=self.whiten, random_state=self.seed).fit(flat)
        scale = np.sqrt(pca.explained_variance_) if self.whiten else np.ones(n_components)
        self.components = torch.as_tensor(pca.components_, dtype=torch.float32, device=self.device)
        self.center = torch.as_tensor(pca.mean_, dtype=torch.float32, device=self.device)
        self.scale = torch.as_tensor(scale, dtype=torch.float32, device=self.device)
        self.explained_variance_ratio = pca.explained_variance_ratio_

    def embed(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        flat = batch["x"].flatten(1)
        return ((flat - self.center) @ self.components.T) / self.scale

    def summary_metrics(self) -> dict[str, object]:
        return {"explained_variance": float(np.sum(self.explained_variance_ratio))}


class RawModel(ClosedFormModel):
    """Identity: the standardised features themselves are the embedding."""

    def __init__(self, input_shape: tuple[int, ...], **_: object) -> None:
        super().__init__()

    def fit_closed_form(self, features: np.ndarray) -> None:
        pass

    def embed(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return batch["x"].flatten(1)
