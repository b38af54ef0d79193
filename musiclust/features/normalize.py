"""How a feature's values are normalised before a model sees them: each feature declares its own policy.

Policies (``FeatureSet.normalization``; a run overrides it with ``normalization=<policy>``, default ``auto``):

- ``standard``: zero mean, unit variance — per column for vectors (MFCC statistics), per channel × frequency
  band over songs and time for time-frequency maps (mfcc_frames, logmelspec), so a spectrogram keeps its
  time structure and the relative shape of each band;
- ``center``: zero mean only (per column / per band), the relative scales kept — for learned embeddings whose
  weak dimensions must not be inflated to the weight of the strong ones;
- ``l2``: every row scaled to unit Euclidean norm — the LSA recipe for TF-IDF → SVD (lyrics);
- ``none``: as is (one-hot metadata stays 0/1; composite features that normalised their parts themselves).

Composite features (hybrid, multimodal) declare *blocks*: each block is normalised by its own policy, scaled to
a mean row norm of 1 and multiplied by its weight, so blocks of any width contribute as their weights say
(a one-hot block, whose rows already have norm 1, stays 0/1 at weight 1).

Statistics are accumulated in float64 over chunks of rows and the data is transformed chunk by chunk in
float32, so no full float64 copy of a large feature array is ever made.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from musiclust.errors import ConfigError

POLICIES = ("standard", "center", "l2", "none")
#: the value of the ``normalization`` setting that keeps each feature's own policy
AUTO = "auto"
#: rows per chunk when statistics are accumulated or values transformed
CHUNK_ROWS = 4096
#: a standard deviation below this is treated as a constant column (scaled by 1, not blown up)
MIN_SCALE = 1e-8


@dataclass(frozen=True)
class Block:
    """``width`` consecutive columns of a vector feature, normalised by ``policy`` and weighted by ``weight``."""

    name: str
    width: int
    policy: str
    weight: float = 1.0

    def describe(self) -> str:
        return f"{self.name}:{self.policy}×{self.weight:g}"


#: a policy name, or the blocks of a composite feature
Normalization = str | tuple[Block, ...]


def describe(normalization: Normalization) -> str:
    """One line for tables: ``standard``, or ``audio:center×1 | lyrics:l2×1`` for blocks."""
    if isinstance(normalization, str):
        return normalization
    return " | ".join(block.describe() for block in normalization)


def check_policy(policy: str, key: str = "normalization") -> str:
    if policy not in POLICIES:
        raise ConfigError(f"{key}={policy!r} is not a normalisation policy. Use one of {', '.join(POLICIES)}"
                          + (f", or {AUTO} for the feature's own." if key == "normalization" else "."))
    return policy


def resolve(declared: Normalization, override: str | None) -> Normalization:
    """The policy a run uses: the feature's ``declared`` one, unless ``override`` names another."""
    if override is None or override == AUTO:
        return declared
    return check_policy(str(override))


def _chunks(n_rows: int, size: int = CHUNK_ROWS) -> Iterator[slice]:
    for start in range(0, n_rows, size):
        yield slice(start, min(n_rows, start + size))


def _stat_axes(ndim: int) -> tuple[int, ...]:
    """Axes statistics run over: rows for vectors; rows and time (the last axis) for (N, C, F, T) maps."""
    return (0,) if ndim == 2 else (0, ndim - 1)


class _Moments:
    """Streaming mean and variance over the statistic axes of an array, one float64 chunk at a time
    (chunk moments merged with Chan et al.'s pairwise update, which stays exact for large offsets)."""

    def __init__(self, values: np.ndarray) -> None:
        axes = _stat_axes(values.ndim)
        shape = [1 if a in axes else s for a, s in enumerate(values.shape)]
        mean, squares, count = np.zeros(shape), np.zeros(shape), 0
        for rows in _chunks(len(values)):
            chunk = np.asarray(values[rows], dtype=np.float64)
            n = chunk.size // max(mean.size, 1)
            chunk_mean = chunk.mean(axis=axes, keepdims=True)
            chunk_squares = np.square(chunk - chunk_mean).sum(axis=axes, keepdims=True)
            delta, total = chunk_mean - mean, count + n
            mean = mean + delta * (n / total)
            squares = squares + chunk_squares + np.square(delta) * (count * n / total)
            count = total
        self.mean = mean[0]
        self.variance = squares[0] / max(count, 1)


class Normalizer:
    """Fits a normalisation to a feature array and applies it (scikit-learn's fit/transform contract).

    ``policy`` is a name from :data:`POLICIES` or a tuple of :class:`Block` for composite vector features.
    Fitted state (plain arrays, saved with a run's latents): ``mean_`` and ``scale_`` (shape of one row, or of
    one (C, F, 1) band profile for maps) and, for blocks, ``block_norms_``.
    """

    def __init__(self, policy: Normalization = "standard") -> None:
        self.policy = policy

    # -- fitting -------------------------------------------------------------------------------------------
    def fit(self, values: np.ndarray, y: Any = None) -> Normalizer:
        values = np.asarray(values) if not hasattr(values, "shape") else values
        if isinstance(self.policy, str):
            check_policy(self.policy)
            self.mean_, self.scale_ = self._moments(values, self.policy)
            self.block_norms_ = np.zeros(0)
            return self
        self._check_blocks(values)
        means, scales, norms = [], [], []
        for block, columns in self._block_columns():
            part = values[:, columns]
            mean, scale = self._moments(part, block.policy)
            means.append(mean)
            scales.append(scale)
            norms.append(self._mean_row_norm(part, block.policy, mean, scale))
        self.mean_, self.scale_ = np.concatenate(means), np.concatenate(scales)
        self.block_norms_ = np.asarray(norms, dtype=np.float64)
        return self

    @staticmethod
    def _moments(values: np.ndarray, policy: str) -> tuple[np.ndarray, np.ndarray]:
        """(mean, scale) per column / band; identity (0, 1) for policies that keep the location."""
        shape = [1 if a in _stat_axes(values.ndim) else s for a, s in enumerate(values.shape)][1:]
        if policy not in ("standard", "center"):
            return np.zeros(shape), np.ones(shape)
        moments = _Moments(values)
        if policy == "center":
            return moments.mean, np.ones(shape)
        std = np.sqrt(moments.variance)
        return moments.mean, np.where(std < MIN_SCALE, 1.0, std)

    @staticmethod
    def _apply(chunk: np.ndarray, policy: str, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
        out = (np.asarray(chunk, dtype=np.float64) - mean) / scale
        if policy == "l2":
            norms = np.linalg.norm(out.reshape(len(out), -1), axis=1).reshape((-1,) + (1,) * (out.ndim - 1))
            out = out / np.where(norms > 0, norms, 1.0)
        return out

    def _mean_row_norm(self, part: np.ndarray, policy: str, mean: np.ndarray, scale: np.ndarray) -> float:
        total = 0.0
        for rows in _chunks(len(part)):
            total += float(np.linalg.norm(self._apply(part[rows], policy, mean, scale), axis=1).sum())
        norm = total / max(len(part), 1)
        return norm if norm > 0 else 1.0

    def _block_columns(self) -> Iterator[tuple[Block, slice]]:
        start = 0
        for block in self.policy:
            yield block, slice(start, start + block.width)
            start += block.width

    def _check_blocks(self, values: np.ndarray) -> None:
        for block in self.policy:
            check_policy(block.policy, key=f"block {block.name}")
        width = sum(block.width for block in self.policy)
        if values.ndim != 2 or values.shape[1] != width:
            raise ValueError(f"blocks {describe(self.policy)} cover {width} columns, the values have shape "
                             f"{tuple(values.shape)}")

    # -- transforming ----------------------------------------------------------------------------------------
    def transform(self, values: np.ndarray) -> np.ndarray:
        """The normalised values as a new float32 array, computed chunk by chunk."""
        if not hasattr(self, "mean_"):
            raise RuntimeError("Normalizer.transform before fit")
        out = np.empty(values.shape, dtype=np.float32)
        for rows in _chunks(len(values)):
            out[rows] = self._transform_chunk(values[rows])
        return out

    def _transform_chunk(self, chunk: np.ndarray) -> np.ndarray:
        if isinstance(self.policy, str):
            return self._apply(chunk, self.policy, self.mean_, self.scale_)
        parts = []
        for (block, columns), norm in zip(self._block_columns(), self.block_norms_, strict=True):
            normalised = self._apply(chunk[:, columns], block.policy, self.mean_[columns], self.scale_[columns])
            parts.append(normalised * (block.weight / norm))
        return np.hstack(parts)

    def fit_transform(self, values: np.ndarray, y: Any = None) -> np.ndarray:
        return self.fit(values).transform(values)

    def describe(self) -> str:
        return describe(self.policy)


def blocks(*parts: tuple[str, int, str, float]) -> tuple[Block, ...]:
    """``blocks(("audio", 16, "center", 1.0), ...)`` → a tuple of :class:`Block`."""
    return tuple(Block(name, int(width), policy, float(weight)) for name, width, policy, weight in parts)


def as_normalization(value: Any) -> Normalization:
    """A policy name, or blocks from their JSON form (a list of dicts), as stored with cached features."""
    if isinstance(value, str):
        return value
    if isinstance(value, Sequence):
        return tuple(item if isinstance(item, Block) else Block(**item) for item in value)
    raise ValueError(f"not a normalisation: {value!r}")


def to_json(normalization: Normalization) -> str | list[dict[str, Any]]:
    if isinstance(normalization, str):
        return normalization
    return [{"name": b.name, "width": b.width, "policy": b.policy, "weight": b.weight} for b in normalization]
