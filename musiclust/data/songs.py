"""The songs of a run: the dataset read and checked against the settings, and the report of songs left out."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from musiclust.columns import ID
from musiclust.config import validate_for_songs
from musiclust.errors import ConfigError, DataError
from musiclust.instantiate import build
from musiclust.io import write_csv
from musiclust.layout import SKIPPED_FILE
from musiclust.preprocess import one_hot

log = logging.getLogger(__name__)


@dataclass
class Songs:
    """One row per usable song (``manifest``), what the dataset already left out (``skipped``), and the
    settings that depend on the data: ``label_col`` and ``k`` (``k=auto`` resolved)."""

    manifest: pd.DataFrame
    skipped: pd.DataFrame
    label_col: str | None
    k: int | None

    @property
    def n_listed(self) -> int:
        """Songs the dataset listed, usable or not: the skip limit counts against all of them."""
        return len(self.manifest) + len(self.skipped)

    def labels(self) -> pd.Series | None:
        """The ``label_col`` value of every song (NaN where a song has none), or None without a label column."""
        return self.manifest[self.label_col] if self.label_col else None

    def label_values(self) -> np.ndarray | None:
        labels = self.labels()
        return None if labels is None else labels.to_numpy()

    def conditions(self, column: str | None) -> np.ndarray | None:
        """The one-hot of ``column`` (a CVAE's ``cond_col``; missing values are a category of their own)."""
        if not column:
            return None
        encoded, categories = one_hot(self.manifest[column])
        log.info("Conditioning on %s (%d values: %s)", column, len(categories), ", ".join(categories))
        return encoded

    def aligned(self, ids: Any) -> Songs:
        """The same songs in the order of ``ids`` (features may have left some out)."""
        manifest = self.manifest.set_index(ID).loc[list(ids)].reset_index()
        return Songs(manifest, self.skipped, self.label_col, self.k)


def check_column(manifest: pd.DataFrame, column: str | None, key: str, fix: str) -> None:
    if column and column not in manifest.columns:
        raise DataError(
            f"{key}={column!r} is not a column of the dataset (columns: {', '.join(manifest.columns)}). "
            f"Set {key}=<one of those> {fix}."
        )


def resolve_k(k: Any, manifest: pd.DataFrame, label_col: str | None) -> int | None:
    """``k=auto`` means the number of distinct values of ``label_col``."""
    if k is None or str(k) != "auto":
        return None if k is None else int(k)
    if not label_col:
        raise ConfigError("k=auto needs a label_col to count classes. Set k=<number> or label_col=<column>.")
    return int(manifest[label_col].nunique())


def load_songs(cfg: Any) -> Songs:
    """Read the configured dataset and check the settings that name its columns, before any work on it."""
    dataset = build(cfg.dataset)
    manifest = dataset.load()
    validate_for_songs(cfg, len(manifest))
    label_col = cfg.get("label_col") or None
    check_column(manifest, label_col, "label_col", "or label_col=null for unsupervised metrics only")
    check_column(manifest, cfg.model.get("cond_col"), "model.cond_col",
                 "(the column whose one-hot conditions the model)")
    return Songs(manifest, dataset.skipped, label_col, resolve_k(cfg.get("k"), manifest, label_col))


def report_skips(skipped: pd.DataFrame, n_listed: int, run_dir: Path, max_skip_fraction: float,
                 k: int | None) -> None:
    """Write ``skipped.csv`` and stop only when too much is missing to trust the results."""
    if skipped.empty:
        return
    write_csv(skipped, run_dir / SKIPPED_FILE)
    reasons = skipped["reason"].str.split(":").str[0].value_counts()
    summary = ", ".join(f"{n}× {r}" for r, n in reasons.items())
    log.warning("Skipped %d of %d songs (%s); see %s", len(skipped), n_listed, summary, run_dir / SKIPPED_FILE)
    fraction = len(skipped) / max(1, n_listed)
    if fraction > max_skip_fraction:
        raise DataError(
            f"{len(skipped)} of {n_listed} songs ({fraction:.0%}) could not be used (first: "
            f"{skipped.iloc[0]['id']}: {skipped.iloc[0]['reason']}); limit is max_skip_fraction="
            f"{max_skip_fraction}. Fix the items listed in {run_dir / SKIPPED_FILE} or raise max_skip_fraction."
        )
    remaining = n_listed - len(skipped)
    if k is not None and remaining < k:
        raise DataError(f"only {remaining} songs remain after skipping, fewer than k={k}. Lower k.")
