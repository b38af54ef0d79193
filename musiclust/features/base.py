"""Feature sets, the extractor contract, and where features are kept between runs.

Features whose values for a song depend on that song alone (``scope = "song"``: every audio feature) are kept per
song in the feature store (:mod:`musiclust.features.store`): a run computes only the songs the store lacks, so a
grown collection computes its new songs, and a reordered or relabelled manifest computes nothing. Features computed
from the whole collection at once (``scope = "collection"``: the lyrics TF-IDF vocabulary and SVD; hybrid and
multimodal, whose SVD and audio model see every song) cannot be stored per song: they are kept as one verified
entry per collection (:class:`FeatureCache`, keyed by the ids and song keys in order), and the per-song parts they
are built from (hybrid's audio feature) go through the store, so a changed collection recomputes only the
collection-level step and the new songs' parts.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from musiclust.columns import AUDIO, ID, SKIP_COLUMNS, skip_frame
from musiclust.data.manifest import collection_key, require_columns, song_keys
from musiclust.features.normalize import Normalization, as_normalization, to_json
from musiclust.features.store import SongStore, Stored, checksum, take_rows
from musiclust.instantiate import build
from musiclust.io import make_temp_dir, write_csv, write_json

log = logging.getLogger(__name__)

#: bump when the numbers an extractor produces change, so stale cache entries are not reused
FEATURE_VERSION = 2
#: songs per call of a per-song extractor's ``compute`` when the store computes missing songs (its default
#: :meth:`FeatureExtractor.compute_batches`): what is held in memory and lost by a killed run at most
BATCH_SONGS = 256


@dataclass
class FeatureSet:
    """Feature values aligned with song ids; items that could not be featurised are in ``skipped``.

    One row per song, or — for features that cover a whole track in windows — several rows per song:
    song ``i`` owns rows ``offsets[i]:offsets[i + 1]``. ``normalization`` is how the values are to be
    normalised before a model sees them (the feature's own policy, see :mod:`musiclust.features.normalize`).
    ``values`` is an array in memory or, for features read from the store, a lazily read
    :class:`~musiclust.features.store.StoredRows` (index it with rows, or ``np.asarray`` it for everything).
    """

    values: np.ndarray
    ids: np.ndarray
    skipped: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=SKIP_COLUMNS))
    normalization: Normalization = "standard"
    offsets: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.ids = np.asarray(self.ids).astype(str)
        if self.offsets is None:
            if len(self.values) != len(self.ids):
                raise ValueError(f"{len(self.values)} feature rows but {len(self.ids)} ids")
            return
        self.offsets = np.asarray(self.offsets, dtype=np.int64)
        counts = np.diff(self.offsets)
        if (len(self.offsets) != len(self.ids) + 1 or (len(self.offsets) and self.offsets[0] != 0)
                or self.offsets[-1] != len(self.values) or (counts < 1).any()):
            raise ValueError(f"offsets must run from 0 to {len(self.values)} with at least one row for each of "
                             f"{len(self.ids)} songs")

    @property
    def windowed(self) -> bool:
        """Whether songs own several rows (windows of a whole track)."""
        return self.offsets is not None

    def rows_per_song(self) -> np.ndarray:
        return np.diff(self.offsets) if self.offsets is not None else np.ones(len(self.ids), dtype=np.int64)

    def song_of_row(self) -> np.ndarray:
        """For each row, the position of its song in ``ids``."""
        return np.repeat(np.arange(len(self.ids)), self.rows_per_song())

    def select(self, keep: np.ndarray) -> FeatureSet:
        """The songs where the boolean mask ``keep`` (one entry per song) is true."""
        keep = np.asarray(keep, dtype=bool)
        if self.offsets is None:
            return replace(self, values=take_rows(self.values, keep), ids=self.ids[keep])
        rows = keep[self.song_of_row()]
        offsets = np.concatenate([[0], np.cumsum(self.rows_per_song()[keep])])
        return replace(self, values=take_rows(self.values, rows), ids=self.ids[keep], offsets=offsets)

    def drop_nonfinite(self, stage: str = "features") -> FeatureSet:
        """The songs whose values are all finite; the others move to ``skipped`` with the reason."""
        finite = np.ones(len(self.ids), dtype=bool)
        song = self.song_of_row()
        for start in range(0, len(self.values), 4096):  # chunks: the values may be a memory map
            chunk = np.asarray(self.values[start:start + 4096])
            bad_rows = ~np.isfinite(chunk.reshape(len(chunk), -1)).all(axis=1)
            finite[song[start:start + 4096][bad_rows]] = False
        if finite.all():
            return self
        reasons = skip_frame([(i, "non-finite features: the computed feature holds NaN or inf (an extreme or "
                                  "damaged recording?); check the file") for i in self.ids[~finite]], stage=stage)
        kept = self.select(finite)
        kept.skipped = pd.concat([f for f in (self.skipped, reasons) if not f.empty], ignore_index=True)
        return kept


class FeatureExtractor:
    """Turns a manifest into a :class:`FeatureSet`. Subclasses set ``name`` and implement ``compute``.

    Constructor keyword arguments are the extractor's parameters: they form the store key, except
    those listed in ``runtime_params`` (how the work is done, not what it produces).
    Where the values are kept between runs follows from ``scope`` (see the module docstring); a song's key is a
    hash of what the feature reads of it: its audio file when ``reads_audio``, and the :meth:`key_columns`.
    """

    name = "feature"
    required_columns: tuple[str, ...] = ()
    runtime_params: tuple[str, ...] = ("n_jobs",)
    #: how the values are normalised before a model sees them (musiclust.features.normalize)
    normalization: Normalization = "standard"
    #: "song": a song's values depend on that song alone (stored per song); "collection": on the whole collection
    scope = "collection"
    #: whether songs own several rows (windows of a whole track)
    windowed = False
    #: whether the values depend on the song's audio file (None: whenever the manifest has an audio column)
    reads_audio: bool | None = None

    def __init__(self, **params: Any) -> None:
        self.params = params

    def policy(self, width: int) -> Normalization:
        """The normalisation of values ``width`` columns wide (features whose blocks follow the width override)."""
        return self.normalization

    def cache_config(self) -> dict[str, Any]:
        keep = {k: v for k, v in self.params.items() if k not in self.runtime_params}
        return {"name": self.name, "class": type(self).__qualname__, "version": FEATURE_VERSION, **keep}

    def key_columns(self, manifest: pd.DataFrame) -> list[str]:
        """The manifest columns the values depend on besides the audio file (part of each song's key). By default
        every column but the id: an extractor that does not say what it reads is recomputed when anything changes."""
        return [c for c in manifest.columns if c not in (ID, AUDIO)]

    def song_keys(self, manifest: pd.DataFrame, method: str = "stat") -> np.ndarray:
        """One key per song of ``manifest`` (``method``: how audio files are identified, ``stat`` or ``content``)."""
        audio = AUDIO in manifest.columns if self.reads_audio is None else self.reads_audio
        return song_keys(manifest, audio=audio, columns=self.key_columns(manifest), method=method)

    def check_manifest(self, manifest: pd.DataFrame) -> None:
        """Stop with one message when the manifest lacks a column this feature reads."""
        self.require(manifest, list(self.required_columns))

    def require(self, manifest: pd.DataFrame, columns: list[str]) -> None:
        require_columns(
            manifest, columns, needed_by=f"feature={self.name}",
            fix="Choose a feature that matches your data (e.g. feature=lyrics_tfidf for lyrics-only data) "
            "or map the column with dataset.<col>_col=...",
        )

    def compute(self, manifest: pd.DataFrame) -> FeatureSet:
        raise NotImplementedError

    def compute_batches(self, manifest: pd.DataFrame) -> Iterator[FeatureSet]:
        """The features of ``manifest`` in parts, each covering some of its songs (per-song features: the store
        commits parts as they come, so a killed run keeps what was done). By default ``compute`` on consecutive
        batches of :data:`BATCH_SONGS` songs."""
        for start in range(0, len(manifest), BATCH_SONGS):
            yield self.compute(manifest.iloc[start:start + BATCH_SONGS])

    def compute_from(self, manifest: pd.DataFrame, parts: Callable[[FeatureExtractor, pd.DataFrame], FeatureSet]
                     ) -> FeatureSet:
        """``compute``, with ``parts(extractor, manifest)`` supplying the features this one is built from (from the
        store, when there is one). Composite features (hybrid) override it; the others ignore ``parts``."""
        return self.compute(manifest)


class FeatureCache:
    """Directory of collection-level features keyed by hash(collection fingerprint, feature config).

    Values are stored as ``.npy`` and loaded memory-mapped; every entry is written to a temporary folder and
    renamed into place, so concurrent sweep jobs never read half-written entries, and :meth:`computing` makes
    them compute each entry once. ``meta.json`` records the shape and dtype of the values and the size and
    CRC-32 of each file: an entry that does not match (truncated, overwritten, from an older musiclust) is
    reported, never used, and replaced when the features are recomputed.
    """

    FILES = ("values.npy", "ids.npy", "skipped.csv")

    def __init__(self, root: str | os.PathLike, enabled: bool = True) -> None:
        self.root = Path(root)
        self.enabled = enabled
        self._reported: set[Path] = set()

    @staticmethod
    def key(dataset_fingerprint: str, config: dict[str, Any]) -> str:
        blob = json.dumps({"dataset": dataset_fingerprint, "feature": config}, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:20]

    def path_for(self, name: str, key: str) -> Path:
        return self.root / f"{name}-{key}"

    checksum = staticmethod(checksum)

    @classmethod
    def problem(cls, entry: Path) -> str | None:
        """What is wrong with a stored entry (None when its files match ``meta.json``)."""
        try:
            meta = json.loads((entry / "meta.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            return f"meta.json unreadable ({err})"
        files = meta.get("files")
        if not isinstance(files, dict) or not set(cls.FILES) <= set(files):
            return "no checksums in meta.json (written by an older musiclust)"
        for name in files:
            path, expected = entry / name, files[name]
            if not path.is_file():
                return f"{name} is missing"
            if path.stat().st_size != expected.get("bytes"):
                return f"{name} has {path.stat().st_size} bytes, {expected.get('bytes')} were written"
            if cls.checksum(path) != expected.get("crc32"):
                return f"{name} does not match its checksum"
        return None

    def _report(self, entry: Path, problem: str) -> None:
        if entry not in self._reported:
            self._reported.add(entry)
            log.warning("Feature cache entry %s is not used: %s. The features are recomputed and stored again.",
                        entry, problem)

    def load(self, name: str, key: str) -> FeatureSet | None:
        """The stored features, or None when there are none or the entry is damaged (reported once)."""
        entry = self.path_for(name, key)
        if not self.enabled or not entry.is_dir():
            return None
        if problem := self.problem(entry):
            self._report(entry, problem)
            return None
        meta = json.loads((entry / "meta.json").read_text(encoding="utf-8"))
        try:
            values = np.load(entry / "values.npy", mmap_mode="r")
            ids = np.load(entry / "ids.npy", allow_pickle=False)
            skipped = pd.read_csv(entry / "skipped.csv", dtype=str).fillna("")
        except (OSError, ValueError) as err:
            self._report(entry, f"unreadable: {err}")
            return None
        if list(values.shape) != meta.get("shape") or str(values.dtype) != meta.get("dtype") or len(ids) != len(
                values):
            self._report(entry, f"values are {values.dtype}{list(values.shape)} for {len(ids)} ids, "
                                f"{meta.get('dtype')}{meta.get('shape')} were written")
            return None
        offsets = np.load(entry / "offsets.npy", allow_pickle=False) if "offsets.npy" in meta["files"] else None
        return FeatureSet(values=values, ids=ids, skipped=skipped, offsets=offsets,
                          normalization=as_normalization(meta.get("normalization", "standard")))

    def discard(self, entry: Path) -> None:
        """Move a damaged entry out of the way (renamed first, so no reader sees it half-deleted), then delete it."""
        aside = make_temp_dir(self.root, prefix=f".{entry.name}.damaged.")
        try:
            os.replace(entry, aside / "entry")
        except FileNotFoundError:
            pass
        shutil.rmtree(aside, ignore_errors=True)

    @contextmanager
    def computing(self, name: str, key: str) -> Iterator[None]:
        """Hold an exclusive lock on one entry while it is computed, so that parallel sweep jobs that need
        the same features compute them once (the others wait, then load the entry). POSIX only.
        """
        try:
            import fcntl
        except ImportError:  # Windows: no lock, concurrent jobs may compute the same entry twice
            fcntl = None
        if not self.enabled or fcntl is None:
            yield
            return
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / f".{name}-{key}.lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def store(self, name: str, key: str, features: FeatureSet, config: dict[str, Any]) -> None:
        if not self.enabled:
            return
        self.root.mkdir(parents=True, exist_ok=True)
        final = self.path_for(name, key)
        if final.is_dir() and self.problem(final):  # a damaged entry is replaced (callers hold the lock)
            self.discard(final)
        tmp = make_temp_dir(self.root, prefix=f".{final.name}.")
        try:
            values = np.ascontiguousarray(features.values)
            np.save(tmp / "values.npy", values)
            np.save(tmp / "ids.npy", features.ids.astype(str))
            if features.offsets is not None:
                np.save(tmp / "offsets.npy", features.offsets)
            write_csv(features.skipped, tmp / "skipped.csv")
            stored = [*self.FILES, *(["offsets.npy"] if features.offsets is not None else [])]
            files = {n: {"bytes": (tmp / n).stat().st_size, "crc32": self.checksum(tmp / n)} for n in stored}
            write_json({"config": config, "shape": list(values.shape), "dtype": str(values.dtype), "files": files,
                        "normalization": to_json(features.normalization)}, tmp / "meta.json")
            os.rename(tmp, final)
        except OSError:
            if not (final / "meta.json").exists():
                raise
            # another job stored the same entry first; theirs is identical
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


@dataclass(frozen=True)
class FeatureCounts:
    """How a run got its features: songs ``computed`` and ``loaded`` from the store (for collection-level features,
    the per-song parts they are built from, or all songs when they have none), and whether a collection-level step
    was computed. ``bool(counts)`` is :attr:`from_cache`: nothing was computed."""

    computed: int
    loaded: int
    collection_computed: bool = False

    @property
    def from_cache(self) -> bool:
        return self.computed == 0 and not self.collection_computed

    def __bool__(self) -> bool:
        return self.from_cache

    def __add__(self, other: FeatureCounts) -> FeatureCounts:
        return FeatureCounts(self.computed + other.computed, self.loaded + other.loaded,
                             self.collection_computed or other.collection_computed)

    def metrics(self) -> dict[str, Any]:
        """The columns of ``clustering_metrics.csv``."""
        return {"features_computed": self.computed, "features_loaded": self.loaded,
                "features_from_cache": self.from_cache}


class FeatureStores:
    """Where features are kept: under ``root``, one directory per feature configuration,
    ``<name>-<hash of cache_config()>``, holding its per-song store (``songs/``) and collection entries
    (``collections/``). ``key_method``: how audio files are identified (``stat`` or ``content``, see
    :func:`musiclust.data.manifest.audio_file_key`). ``enabled=False``: compute everything, keep nothing."""

    def __init__(self, root: str | os.PathLike, enabled: bool = True, key_method: str = "stat") -> None:
        self.root, self.enabled, self.key_method = Path(root), bool(enabled), str(key_method)

    def directory(self, extractor: FeatureExtractor) -> Path:
        blob = json.dumps(extractor.cache_config(), sort_keys=True, default=str)
        return self.root / f"{extractor.name}-{hashlib.sha256(blob.encode()).hexdigest()[:16]}"

    def songs(self, extractor: FeatureExtractor) -> SongStore:
        return SongStore(self.directory(extractor))

    def collections(self, extractor: FeatureExtractor) -> FeatureCache:
        return FeatureCache(self.directory(extractor) / "collections")


def load_or_compute(extractor: FeatureExtractor, manifest: pd.DataFrame, stores: FeatureStores
                    ) -> tuple[FeatureSet, FeatureCounts]:
    """The features of ``manifest`` (kept songs in manifest order, the others in ``skipped``) and how many songs
    were computed or loaded. Values that come out NaN/inf move the song to ``skipped``."""
    extractor.check_manifest(manifest)
    if not stores.enabled:
        parts = _Parts(stores)
        features = extractor.compute_from(manifest, parts).drop_nonfinite()
        counts = parts.counts if parts.used else FeatureCounts(len(manifest), 0)
        return features, replace(counts, collection_computed=extractor.scope == "collection")
    if extractor.scope == "song":
        return _song_features(extractor, manifest, stores)
    return _collection_features(extractor, manifest, stores)


class _Parts:
    """What composite features call for the features they are built from: the store's, counted."""

    def __init__(self, stores: FeatureStores) -> None:
        self.stores, self.used, self.counts = stores, False, FeatureCounts(0, 0)

    def __call__(self, extractor: FeatureExtractor, manifest: pd.DataFrame) -> FeatureSet:
        features, counts = load_or_compute(extractor, manifest, self.stores)
        self.used, self.counts = True, self.counts + replace(counts, collection_computed=False)
        return features


def _usable(store: SongStore, shards: dict[str, Any], keys: np.ndarray) -> tuple[dict[str, Stored], dict[str, str]]:
    """Song key → stored entry, for the keys whose shards are intact; and the damaged shards holding any of them."""
    entries = store.entries(shards)
    used = {entries[k].shard for k in set(keys.tolist()) if k in entries}
    damaged = store.damaged(shards[name] for name in sorted(used))
    if damaged:
        entries = {k: e for k, e in entries.items() if e.shard not in damaged}
    return entries, damaged


def _song_features(extractor: FeatureExtractor, manifest: pd.DataFrame, stores: FeatureStores
                   ) -> tuple[FeatureSet, FeatureCounts]:
    store = stores.songs(extractor)
    ids = manifest[ID].astype(str).to_numpy()
    keys = extractor.song_keys(manifest, stores.key_method)
    shards = store.shards()
    entries, _ = _usable(store, shards, keys)
    computed = 0
    if not all(k in entries for k in keys):
        with store.locked():  # another job may be computing the same songs: wait for it, then take what it stored
            store.prepare(extractor.cache_config())
            shards = store.shards()
            entries, damaged = _usable(store, shards, keys)
            for name in damaged:
                store.discard(name)
            missing = np.asarray([k not in entries for k in keys], dtype=bool)
            if missing.any():
                computed = int(missing.sum())
                _compute_songs(extractor, manifest, keys, missing, store)
                shards = store.shards()
                entries, _ = _usable(store, shards, keys)
    stored = [entries[k] for k in keys]
    kept = np.asarray([not s.skipped for s in stored], dtype=bool)
    skipped = pd.DataFrame([(ids[i], stored[i].stage, stored[i].reason) for i in np.flatnonzero(~kept)],
                           columns=SKIP_COLUMNS)
    rows = np.asarray([s.rows for s, k in zip(stored, kept, strict=True) if k], dtype=np.int64)
    if kept.any():
        values = store.rows([s for s, k in zip(stored, kept, strict=True) if k], shards)
    else:
        values = np.zeros((0,), dtype=np.float32)
    offsets = np.concatenate([[0], np.cumsum(rows)]) if extractor.windowed else None
    if computed < len(ids):
        log.info("Features %s: %d songs loaded from %s, %d computed", extractor.name, len(ids) - computed,
                 store.root, computed)
    width = values.shape[1] if values.ndim == 2 else 0
    features = FeatureSet(values, ids[kept], skipped, extractor.policy(width), offsets)
    return features, FeatureCounts(computed, len(ids) - computed)


def _compute_songs(extractor: FeatureExtractor, manifest: pd.DataFrame, keys: np.ndarray, missing: np.ndarray,
                   store: SongStore) -> None:
    """Compute the ``missing`` songs (each distinct key once) and commit them to ``store`` part by part."""
    _, first = np.unique(keys, return_index=True)
    rows = np.sort(first[missing[first]])  # the first song of each missing key, in manifest order
    todo = manifest.iloc[rows]
    key_of = dict(zip(todo[ID].astype(str), keys[rows], strict=True))
    log.info("Features %s: computing %d songs into %s", extractor.name, len(todo), store.root)
    writer = store.writer(extractor.windowed)
    for part in extractor.compute_batches(todo):
        skips = [(key_of[i], stage, reason) for i, stage, reason in part.skipped[SKIP_COLUMNS].itertuples(index=False)
                 if i in key_of]
        writer.add([key_of[i] for i in part.ids], np.asarray(part.values), part.rows_per_song(), skips)
        log.debug("Features %s: %d of %d songs computed", extractor.name, writer.written, len(todo))
    writer.flush()
    if writer.written < len(todo):
        raise RuntimeError(f"feature={extractor.name} returned {writer.written} of the {len(todo)} songs it was "
                           "given, neither values nor a skip reason for the others")


def _collection_features(extractor: FeatureExtractor, manifest: pd.DataFrame, stores: FeatureStores
                         ) -> tuple[FeatureSet, FeatureCounts]:
    cache = stores.collections(extractor)
    config = extractor.cache_config()
    keys = extractor.song_keys(manifest, stores.key_method)
    key = FeatureCache.key(collection_key(manifest[ID].astype(str).tolist(), keys.tolist()), config)
    cached = cache.load(extractor.name, key)
    if cached is None:
        with cache.computing(extractor.name, key):
            cached = cache.load(extractor.name, key)  # another job may have stored it while we waited
            if cached is None:
                parts = _Parts(stores)
                features = extractor.compute_from(manifest, parts).drop_nonfinite()
                cache.store(extractor.name, key, features, config)
                counts = parts.counts if parts.used else FeatureCounts(len(manifest), 0)
                return features, replace(counts, collection_computed=True)
    log.info("Features %s: loaded from cache %s", extractor.name, cache.path_for(extractor.name, key))
    return cached, FeatureCounts(0, len(manifest))


def features_for(node: Any, manifest: pd.DataFrame, cache_dir: str | os.PathLike, use_cache: bool = True,
                 key_method: str = "stat") -> tuple[FeatureSet, FeatureCounts]:
    """The configured feature of every song, computing only what the store under ``cache_dir`` lacks, and how many
    songs were computed or loaded. Songs whose values come out NaN/inf are in ``skipped``: one damaged recording is
    skipped, not fatal."""
    return load_or_compute(build(node), manifest, FeatureStores(cache_dir, enabled=use_cache, key_method=key_method))
