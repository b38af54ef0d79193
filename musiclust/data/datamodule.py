"""In-memory LightningDataModule over a standardised feature array (no per-batch disk I/O)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

Batch = dict[str, torch.Tensor]


class _ArrayDataset(Dataset):
    """Tensors in memory, served a whole batch at a time: ``__getitems__`` slices every tensor once per
    batch instead of building one dict per song and stacking them (PyTorch's default collate)."""

    def __init__(self, features: torch.Tensor, conditions: torch.Tensor) -> None:
        self.features, self.conditions = features, conditions

    def __len__(self) -> int:
        return len(self.features)

    def __getitems__(self, indices: Sequence[int]) -> Batch:
        index = torch.as_tensor(indices, dtype=torch.long)
        if len(index) and int(index[-1]) - int(index[0]) == len(index) - 1 and bool((index.diff() == 1).all()):
            rows = slice(int(index[0]), int(index[-1]) + 1)  # in-order batches (prediction): views, no copy
            return {"x": self.features[rows], "cond": self.conditions[rows], "index": index}
        # index_select: one gather per tensor (advanced indexing may hand small batches to the thread pool)
        return {"x": self.features.index_select(0, index), "cond": self.conditions.index_select(0, index),
                "index": index}

    def __getitem__(self, index: int) -> Batch:
        return {"x": self.features[index], "cond": self.conditions[index], "index": torch.tensor(index)}


def _whole_batch(batch: Batch) -> Batch:
    """``collate_fn`` for :class:`_ArrayDataset`: ``__getitems__`` already returns the batch."""
    return batch


class ArrayDataModule(pl.LightningDataModule):
    """Serves ``features`` (N, ...) and optional one-hot ``conditions`` (N, C) as dict batches.

    Batches hold ``x``, ``cond`` and ``index`` (row numbers). Training batches are shuffled with a
    generator seeded by ``seed``; prediction batches keep the row order.
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
        # torch.from_numpy shares memory with the arrays above: no copy, no disk
        self.labels = labels  # label_col values, for monitoring callbacks only (never given to the model)
        self.dataset = _ArrayDataset(torch.from_numpy(self.features), torch.from_numpy(self.conditions))

    def _loader(self, batch_size: int, shuffle: bool) -> DataLoader:
        generator = torch.Generator().manual_seed(self.seed) if shuffle else None
        return DataLoader(self.dataset, batch_size=batch_size, shuffle=shuffle, generator=generator,
                          collate_fn=_whole_batch, num_workers=self.num_workers,
                          persistent_workers=shuffle and self.num_workers > 0)

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.batch_size, shuffle=True)

    def predict_dataloader(self) -> DataLoader:
        return self._loader(self.predict_batch_size, shuffle=False)
