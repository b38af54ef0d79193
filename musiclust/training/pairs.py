"""Positive pairs for contrastive models: per song, two of its rows (two different windows of the track).

A :class:`SongPairSampler` runs in the main process (so the pairs depend only on the seed, whatever the number of
loader workers): each epoch it shuffles the songs and, for each, draws two distinct rows among its windows — the
same row twice for a song with one row (vector features, a clip shorter than a window), whose two views then
differ only by the model's augmentations. A batch holds ``batch_size`` songs; the other songs of the batch are
the negatives. :class:`PairDataset` serves such a batch as ``x`` (first views), ``x_pair`` (second views),
``cond``, ``index`` and ``pair_index`` (the rows used).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

Pair = tuple[int, int]


class SongPairSampler(Sampler[list[Pair]]):
    """Batches of (row, row) pairs, two rows of one song per pair, each song once per epoch.

    ``offsets``: song ``i`` owns rows ``offsets[i]:offsets[i + 1]``. Batches are as equal in size as
    ``batch_size`` allows (``numpy.array_split``), so no batch is left with a single song and no negatives.
    """

    def __init__(self, offsets: np.ndarray, batch_size: int, seed: int = 0) -> None:
        self.offsets = np.asarray(offsets, dtype=np.int64)
        self.n_songs = len(self.offsets) - 1
        if self.n_songs < 1:
            raise ValueError("SongPairSampler needs at least one song")
        self.batch_size = max(1, min(int(batch_size), self.n_songs))
        self.rng = np.random.default_rng(int(seed))

    def __len__(self) -> int:
        return math.ceil(self.n_songs / self.batch_size)

    def __iter__(self) -> Iterator[list[Pair]]:
        counts = np.diff(self.offsets)
        order = self.rng.permutation(self.n_songs)
        # two distinct windows per song: the first uniformly, the second uniformly among the others
        first = (self.rng.random(self.n_songs) * counts[order]).astype(np.int64)
        shift = 1 + (self.rng.random(self.n_songs) * np.maximum(counts[order] - 1, 1)).astype(np.int64)
        second = np.where(counts[order] > 1, (first + shift) % counts[order], first)
        starts = self.offsets[order]
        pairs = np.stack([starts + first, starts + second], axis=1)
        for batch in np.array_split(pairs, len(self)):
            yield [(int(a), int(b)) for a, b in batch]


class PairDataset(Dataset):
    """Rows of ``features`` (numpy arrays or memory maps) served as pairs, a whole batch at a time."""

    def __init__(self, features: np.ndarray, conditions: np.ndarray) -> None:
        self.features, self.conditions = features, conditions

    def __len__(self) -> int:
        return len(self.features)

    def __getitems__(self, pairs: Sequence[Pair]) -> dict[str, torch.Tensor]:
        rows = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
        first, second = rows[:, 0], rows[:, 1]
        return {"x": torch.from_numpy(np.ascontiguousarray(self.features[first])),
                "x_pair": torch.from_numpy(np.ascontiguousarray(self.features[second])),
                "cond": torch.from_numpy(np.ascontiguousarray(self.conditions[first])),
                "index": torch.from_numpy(first), "pair_index": torch.from_numpy(second)}

    def __getitem__(self, pair: Pair) -> dict[str, torch.Tensor]:
        batch = self.__getitems__([pair])
        return {key: value[0] for key, value in batch.items()}


def _whole_batch(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return batch


def song_pair_loader(features: np.ndarray, conditions: np.ndarray, offsets: np.ndarray, batch_size: int,
                     seed: int = 0, num_workers: int = 0) -> DataLoader:
    """The training loader of a contrastive model: batches of ``batch_size`` songs, two rows of each."""
    sampler = SongPairSampler(offsets, batch_size, seed=seed)
    return DataLoader(PairDataset(features, conditions), batch_sampler=sampler, collate_fn=_whole_batch,
                      num_workers=num_workers, persistent_workers=num_workers > 0)
