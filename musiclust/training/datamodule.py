"""The LightningDataModule of a run: one feature set, normalised by its policy, conditioned, served in batches —
and the one way songs are embedded.

Features hold one row per song, or — for time-frequency maps that cover a whole track — several windows per
song (``offsets``: song ``i`` owns rows ``offsets[i]:offsets[i + 1]``). Models train on rows (windows); a song's
embedding is the mean of its windows' embeddings (:meth:`MusicDataModule.embed_songs`), so a 4-minute song is
judged by all of itself, not by 3 seconds of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from musiclust.features.base import FeatureSet
from musiclust.features.normalize import Normalizer, resolve

Batch = dict[str, torch.Tensor]


#: feature arrays up to this many bytes are normalised once and kept in memory (a batch is then a slice); larger
#: ones, e.g. 100k songs' maps read from the feature store, are normalised batch by batch as they are served
NORMALISED_IN_MEMORY_BYTES = 256 << 20


class NormalisedRows:
    """A feature array's rows as a model sees them: read (from memory, or from the feature store on disk) and
    normalised by the fitted :class:`Normalizer`. Up to :data:`NORMALISED_IN_MEMORY_BYTES` the normalised rows are
    computed once and kept; above, each request is read and normalised when it is made, so no normalised copy of a
    large array is ever made. The numbers are the same either way (the normalisation works row by row).
    ``rows[index]`` (an int, a slice, an index array) is a float32 array; ``np.asarray(rows)`` is all of them."""

    def __init__(self, values: Any, normalizer: Normalizer) -> None:
        self.values, self.normalizer = values, normalizer
        n_values = int(np.prod(values.shape, dtype=np.int64))
        self.normalised = normalizer.transform(values) if 4 * n_values <= NORMALISED_IN_MEMORY_BYTES else None

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.values.shape)

    @property
    def ndim(self) -> int:
        return len(self.values.shape)

    dtype = np.dtype(np.float32)

    def __len__(self) -> int:
        return len(self.values)

    def __getitem__(self, index: Any) -> np.ndarray:
        if self.normalised is not None:
            return self.normalised[index]
        if isinstance(index, int | np.integer):
            return self.normalizer.transform(np.asarray(self.values[index])[None])[0]
        return self.normalizer.transform(np.asarray(self.values[index]))

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        values = self[:]
        return values if dtype is None else values.astype(dtype, copy=bool(copy))


class _ArrayDataset(Dataset):
    """Rows served a whole batch at a time: ``__getitems__`` reads and normalises the batch's rows in one go
    instead of building one dict per row and stacking them (PyTorch's default collate)."""

    def __init__(self, features: NormalisedRows, conditions: np.ndarray) -> None:
        self.features, self.conditions = features, conditions

    def __len__(self) -> int:
        return len(self.features)

    def __getitems__(self, indices: Sequence[int]) -> Batch:
        index = np.asarray(indices, dtype=np.int64)
        rows: slice | np.ndarray = index
        if len(index) and int(index[-1]) - int(index[0]) == len(index) - 1 and bool((np.diff(index) == 1).all()):
            rows = slice(int(index[0]), int(index[-1]) + 1)  # in-order batches (prediction): one contiguous read
        return {"x": torch.from_numpy(self.features[rows]), "cond": torch.from_numpy(self.conditions[rows]),
                "index": torch.from_numpy(index)}

    def __getitem__(self, index: int) -> Batch:
        return {"x": torch.from_numpy(self.features[index]), "cond": torch.from_numpy(self.conditions[index]),
                "index": torch.tensor(index)}


def _whole_batch(batch: Batch) -> Batch:
    """``collate_fn`` for :class:`_ArrayDataset`: ``__getitems__`` already returns the batch."""
    return batch


class MusicDataModule(pl.LightningDataModule):
    """Serves a :class:`FeatureSet`'s rows, normalised, with one-hot ``conditions`` (per song, (N, C)) as dict batches.

    ``normalization`` overrides the feature's own policy (None or ``auto``: keep it); the fitted
    :class:`Normalizer` is ``self.normalizer``, its statistics accumulated in one streaming pass over the values.
    ``self.features`` is the :class:`NormalisedRows` view: large feature arrays are read (from the feature store)
    and normalised batch by batch as they are served, so the values may be larger than memory. Batches hold ``x``,
    ``cond`` and ``index`` (row numbers). Training batches are shuffled rows (windows) with a generator seeded by
    ``seed``; prediction batches keep the row order.
    ``labels`` (N,), when given, are the ``label_col`` values of the songs, for monitoring callbacks only (never
    given to the model). ``normalizer``, when given, is an already fitted :class:`Normalizer` (a finished run's,
    for new songs): it is applied as it is, not refitted, and ``normalization`` is then not used.
    """

    def __init__(
        self, features: FeatureSet, normalization: str | None = None, conditions: np.ndarray | None = None,
        labels: np.ndarray | None = None, batch_size: int = 64, num_workers: int = 0, seed: int = 0,
        predict_batch_size: int = 1024, normalizer: Normalizer | None = None,
    ) -> None:
        super().__init__()
        self.ids = features.ids
        self.normalizer = normalizer if normalizer is not None else Normalizer(
            resolve(features.normalization, normalization)).fit(features.values)
        self.features = NormalisedRows(features.values, self.normalizer)
        self.offsets = np.arange(len(self.features) + 1, dtype=np.int64) if features.offsets is None \
            else np.asarray(features.offsets, dtype=np.int64)
        n_songs = len(self.offsets) - 1
        if conditions is None:
            conditions = np.zeros((n_songs, 0), dtype=np.float32)
        if len(conditions) != n_songs:
            raise ValueError(f"{len(conditions)} condition rows for {n_songs} songs")
        self.song_conditions = np.ascontiguousarray(conditions, dtype=np.float32)
        # per row: a window inherits its song's condition
        self.conditions = self.song_conditions[self.song_of_row()] if features.windowed else self.song_conditions
        self.batch_size = max(1, min(int(batch_size), len(self.features)))
        self.num_workers, self.seed, self.predict_batch_size = int(num_workers), int(seed), int(predict_batch_size)
        self.labels = labels
        self.dataset = _ArrayDataset(self.features, self.conditions)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The shape of one row (a vector, or one (C, F, T) window): what a model's input layer takes."""
        return tuple(self.features.shape[1:])

    # -- songs and rows ----------------------------------------------------------------------------------------
    @property
    def n_songs(self) -> int:
        return len(self.offsets) - 1

    @property
    def windowed(self) -> bool:
        return len(self.features) != self.n_songs or not np.array_equal(self.offsets, np.arange(self.n_songs + 1))

    def song_of_row(self) -> np.ndarray:
        return np.repeat(np.arange(self.n_songs), np.diff(self.offsets))

    def rows_of(self, songs: np.ndarray) -> np.ndarray:
        """The rows (windows) of the given songs, in song order."""
        return np.concatenate([np.arange(self.offsets[s], self.offsets[s + 1]) for s in songs]) if len(songs) \
            else np.zeros(0, dtype=np.int64)

    # -- loaders -------------------------------------------------------------------------------------------
    def _loader(self, batch_size: int, shuffle: bool) -> DataLoader:
        generator = torch.Generator().manual_seed(self.seed) if shuffle else None
        return DataLoader(self.dataset, batch_size=batch_size, shuffle=shuffle, generator=generator,
                          collate_fn=_whole_batch, num_workers=self.num_workers,
                          persistent_workers=shuffle and self.num_workers > 0)

    def train_dataloader(self) -> DataLoader:
        if getattr(getattr(self.trainer, "lightning_module", None), "needs_pairs", False):
            from musiclust.training.pairs import song_pair_loader  # contrastive models: two rows of each song

            return song_pair_loader(self.features, self.conditions, self.offsets, self.batch_size, seed=self.seed,
                                    num_workers=self.num_workers)
        return self._loader(self.batch_size, shuffle=True)

    def predict_dataloader(self) -> DataLoader:
        return self._loader(self.predict_batch_size, shuffle=False)

    # -- the one way songs are embedded ------------------------------------------------------------------------
    @torch.no_grad()
    def embed_rows(self, model: Any, rows: np.ndarray | None = None) -> np.ndarray:
        """``model.embed`` of each row (window), in eval mode, in batches on the model's device."""
        rows = np.arange(len(self.features)) if rows is None else np.asarray(rows)
        was_training = model.training
        model.eval()
        parts = []
        try:
            for start in range(0, len(rows), self.predict_batch_size):
                take = rows[start:start + self.predict_batch_size]
                batch = {"x": torch.from_numpy(self.features[take]).to(model.device),
                         "cond": torch.from_numpy(self.conditions[take]).to(model.device)}
                parts.append(model.embed(batch).float().cpu())
        finally:
            model.train(was_training)
        if not parts:
            return np.zeros((0, 0), dtype=np.float32)
        return torch.cat(parts).numpy()

    def embed_songs(self, model: Any, songs: np.ndarray | None = None) -> np.ndarray:
        """One embedding per song: the mean of its windows' embeddings (its row's embedding without windows).

        ``songs`` (positions) embeds only those songs, e.g. a sample for a learning curve.
        """
        songs = np.arange(self.n_songs) if songs is None else np.asarray(songs)
        counts = np.diff(self.offsets)[songs]
        z = self.embed_rows(model, self.rows_of(songs))
        if len(z) == len(songs):
            return z
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        return (np.add.reduceat(z.astype(np.float64), starts, axis=0) / counts[:, None]).astype(np.float32)
