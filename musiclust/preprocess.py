"""Flattening maps and one-hot conditioning columns (normalisation: musiclust.features.normalize)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


def flatten(values: np.ndarray) -> np.ndarray:
    """(N, ...) → (N, D)."""
    values = np.asarray(values)
    return values.reshape(len(values), -1)


def one_hot(column: pd.Series, missing: str = "unknown", categories: Sequence[str] | None = None,
            ) -> tuple[np.ndarray, list[str]]:
    """One-hot encode a metadata column (missing values become their own ``missing`` category).

    ``categories`` (e.g. those a finished run was trained with) fixes the columns; a value not among them gets a
    row of zeros.
    """
    values = column.astype("string").fillna(missing).str.strip().replace("", missing)
    categories = sorted(values.unique()) if categories is None else list(categories)
    index = {c: i for i, c in enumerate(categories)}
    encoded = np.zeros((len(values), len(categories)), dtype=np.float32)
    known = np.array([v in index for v in values], dtype=bool)
    encoded[np.flatnonzero(known), [index[v] for v in values[known]]] = 1.0
    return encoded, categories
