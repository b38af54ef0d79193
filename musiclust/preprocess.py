"""Flattening maps and one-hot conditioning columns (normalisation: musiclust.features.normalize)."""

from __future__ import annotations

import numpy as np
import pandas as pd


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
