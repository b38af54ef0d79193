"""In-memory LightningDataModule over a standardised feature array (no per-batch disk I/O)."""

from __future__ import annotations

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset


class _ArrayDataset(Dataset):
    def __init__(self, features: torch.Tensor, conditions: torch.Tensor) -> None:
        self.features, self.conditions = features, conditions

    def __len__(self) -> int:
        return len(self.features)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"x": self.features[index], "cond": self.conditions[index], "index": torch.tensor(index)}


class ArrayDataModule(pl.LightningDataModule):
    """Serves ``features`` (N, ...) and optional one-hot ``conditions`` (N, C) as dict batches.

    ``labels`` (N,), when given, are the ``label_col`` values of the same songs for monitoring callbacks.
    """

    def __init__(
        self, features: np.ndarray, conditions: np.ndarray | None = None, batch_size: int = 64,
        num_workers: int = 0, seed: int = 0, predict_batch_size: int = 1024, labels: np.ndarray | None = None,
    ) -> None:
        super().__init__()
        self.features = np.ascontiguousarray(features, dtype=np.float32)
        if conditions is None:
            conditions = np.zeros((len(self.features), 0), dtype=np.float32)
        self.conditions = np.ascontiguousarray(conditions, dtype=np.float32)
        self.batch_size = max(1, min(int(batch_size), len(self.features)))
        self.num_workers, self.seed, self.predict_batch_size = int(num_workers), int(seed), int(predict_batch_size)
        self.labels = labels  # label_col values, for monitoring callbacks only (never given to the model)
        self.dataset = _ArrayDataset(torch.from_numpy(self.features), torch.from_numpy(self.conditions))

    def train_dataloader(self) -> DataLoader:
        generator = torch.Generator().manual_seed(self.seed)
        return DataLoader(self.dataset, batch_size=self.batch_size, shuffle=True, generator=generator,
                          num_workers=self.num_workers, persistent_workers=self.num_workers > 0)

    def predict_dataloader(self) -> DataLoader:
        return DataLoader(self.dataset, batch_size=self.predict_batch_size, shuffle=False,
                          num_workers=self.num_workers)
