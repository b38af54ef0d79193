"""The one place for "flatten + standardize" and for one-hot conditioning columns."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass
class Standardizer:
    """Zero-mean, unit-variance scaling. Vectors: per feature. Maps (N, C, F, T): per (channel, frequency)
    row over songs and time, so the time structure of a spectrogram survives.
    """

    mean: np.ndarray | None = None
    std: np.ndarray | None = None

    def fit(self, values: np.ndarray) -> Standardizer:
        values = np.asarray(values, dtype=np.float64)
        axes = (0,) if values.ndim == 2 else (0, values.ndim - 1)
        self.mean = values.mean(axis=axes, keepdims=True)[0]
        std = values.std(axis=axes, keepdims=True)[0]
        self.std = np.where(std < 1e-8, 1.0, std)
        return self

    def transform(self, values: np.ndarray) -> np.ndarray:
        return ((np.asarray(values, dtype=np.float64) - self.mean) / self.std).astype(np.float32)

    def fit_transform(self, values: np.ndarray) -> np.ndarray:
        return self.fit(values).transform(values)


def flatten(values: np.ndarray) -> np.ndarray:
    """(N, ...) → (N, D)."""
    values = np.asarray(values)
    return values.reshape(len(values), -1)


def one_hot(column: pd.Series, missing: str = "unknown") -> tuple[np.ndarray, list[str]]:
    """One-hot encode a metadata column (missing values become their own ``missing`` category)."""
    values = column.astype("string").fillna(missing).str.strip().replace("", missing)
    categories = sorted(values.unique())
    index = {c: i for i, c in enumerate(categories)}
    encoded = np.zeros((len(values), len(categories)), dtype=np.float32)
    encoded[np.arange(len(values)), [index[v] for v in values]] = 1.0
    return encoded, categories
