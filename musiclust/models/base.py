"""The model contract: every model, baselines included, is a LightningModule with ``embed(batch) -> z``."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch


class EmbeddingModel(pl.LightningModule):
    """Base class. Batches are dicts with ``x`` (inputs) and ``cond`` (one-hot conditions, maybe 0 wide)."""

    #: whether :meth:`reconstruct` returns reconstructions (VAE/AE) or None (baselines)
    reconstructs = False

    def embed(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError

    def reconstruct(self, batch: dict[str, torch.Tensor]) -> torch.Tensor | None:
        return None

    @torch.no_grad()
    def embed_arrays(
        self, features: np.ndarray, conditions: np.ndarray | None = None, batch_size: int = 1024
    ) -> np.ndarray:
        """Embeddings of in-memory (standardised) features, in eval mode; e.g. in the middle of training."""
        was_training = self.training
        self.eval()
        if conditions is None:
            conditions = np.zeros((len(features), 0), dtype=np.float32)
        parts = []
        for start in range(0, len(features), batch_size):
            batch = {
                "x": torch.as_tensor(features[start:start + batch_size], dtype=torch.float32, device=self.device),
                "cond": torch.as_tensor(conditions[start:start + batch_size], dtype=torch.float32,
                                        device=self.device),
            }
            parts.append(self.embed(batch).float().cpu())
        self.train(was_training)
        return torch.cat(parts).numpy()

    def predict_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self.embed(batch).detach()

    def summary_metrics(self) -> dict[str, Any]:
        """Model-specific numbers for ``clustering_metrics.csv`` (e.g. final loss terms)."""
        return {}


class ClosedFormModel(EmbeddingModel):
    """A model fitted in closed form in ``setup('fit')`` that trains for zero steps.

    It goes through the same Trainer, callbacks and outputs as the neural models.
    """

    def setup(self, stage: str) -> None:
        if stage == "fit":
            features = self.trainer.datamodule.features
            self.fit_closed_form(np.asarray(features, dtype=np.float32))

    def fit_closed_form(self, features: np.ndarray) -> None:
        raise NotImplementedError

    def on_train_start(self) -> None:
        # nothing to optimise: stop before the first epoch
        self.trainer.should_stop = True

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        return None

    def configure_optimizers(self) -> None:
        return None
