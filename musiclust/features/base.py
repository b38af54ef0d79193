"""Feature sets, the extractor contract and the on-disk feature cache."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from musiclust.columns import SKIP_COLUMNS, skip_frame
from musiclust.data.manifest import dataset_fingerprint, require_columns
from musiclust.features.normalize import Normalization, as_normalization, to_json
from musiclust.instantiate import build
from musiclust.io import make_temp_dir, write_csv, write_json

log = logging.getLogger(__name__)

#: bump when the numbers an extractor produces change, so stale cache entries are not reused
FEATURE_VERSION = 2

@dataclass
class FeatureSet:
    """Feature values aligned with song ids; items that could not be featurised are in ``skipped``.

    One row per song, or — for features that cover a whole track in windows — several rows per song:
    song ``i`` owns rows ``offsets[i]:offsets[i + 1]``. ``normalization`` is how the values are to be
    normalised before a model sees them (the feature's own policy, see :mod:`musiclust.features.normalize`).
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
            return replace(self, values=self.values[keep], ids=self.ids[keep])
        rows = keep[self.song_of_row()]
        offsets = np.concatenate([[0], np.cumsum(self.rows_per_song()[keep])])
        return replace(self, values=self.values[rows], ids=self.ids[keep], offsets=offsets)

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

    Constructor keyword arguments are the extractor's parameters: they form the cache key, except
    those listed in ``runtime_params`` (how the work is done, not what it produces).
    """

    name = "feature"
    required_columns: tuple[str, ...] = ()
    runtime_params: tuple[str, ...] = ("n_jobs",)
    #: how the values are normalised before a model sees them (musiclust.features.normalize)
    normalization: Normalization = "standard"
    #: whether a song's values depend on the other songs (a vocabulary, an SVD or a model fitted to the collection):
    #: then a finished run cannot compute them for new songs, and musiclust-predict refuses the run
    collection_dependent: bool = False

    def __init__(self, **params: Any) -> None:
        self.params = params

    def cache_config(self) -> dict[str, Any]:
        keep = {k: v for k, v in self.params.items() if k not in self.runtime_params}
        return {"name": self.name, "class": type(self).__qualname__, "version": FEATURE_VERSION, **keep}

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


class FeatureCache:
    """Directory of computed features keyed by hash(dataset fingerprint, feature config).

    Values are stored as ``.npy`` and loaded memory-mapped; every entry is written to a temporary folder and
    renamed into place, so concurrent sweep jobs never read half-written entries, and :meth:`computing` makes
    them compute each entry once. ``meta.json`` records the shape and dtype of the values and the size and
    CRC-32 of each file: an entry that does not match (truncated, overwritten, from an older musiclust) is
    reported, never used, and replaced when the features are recomputed.
    """

    FILES = ("values.npy", "ids.npy", "skipped.csv")
    CHUNK = 64 << 20  # bytes per checksum read: bounded memory for entries of any size

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

    @classmethod
    def checksum(cls, path: Path) -> str:
        """CRC-32 of a file's bytes: catches truncation and overwritten data at ~2 GB/s (sha256: ~0.8)."""
        value = 0
        with open(path, "rb") as handle:
            while chunk := handle.read(cls.CHUNK):
                value = zlib.crc32(chunk, value)
        return f"{value:08x}"

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


def load_or_compute(
    extractor: FeatureExtractor, manifest: pd.DataFrame, fingerprint: str, cache: FeatureCache
) -> tuple[FeatureSet, bool]:
    """Return the features for ``manifest`` and whether they came from the cache."""
    extractor.check_manifest(manifest)
    config = extractor.cache_config()
    key = FeatureCache.key(fingerprint, config)
    cached = cache.load(extractor.name, key)
    if cached is None:
        with cache.computing(extractor.name, key):
            cached = cache.load(extractor.name, key)  # another job may have stored it while we waited
            if cached is None:
                features = extractor.compute(manifest)
                cache.store(extractor.name, key, features, config)
                return features, False
    log.info("Features %s: loaded from cache %s", extractor.name, cache.path_for(extractor.name, key))
    return cached, True


def features_for(node: Any, manifest: pd.DataFrame, cache_dir: str | os.PathLike,
                 use_cache: bool = True) -> tuple[FeatureSet, bool]:
    """The configured feature of every song (from the cache when it holds them) and whether it did; songs whose
    values come out NaN/inf move to ``skipped``: one damaged recording is skipped, not fatal."""
    extractor = build(node)
    cache = FeatureCache(cache_dir, enabled=use_cache)
    features, from_cache = load_or_compute(extractor, manifest, dataset_fingerprint(manifest), cache)
    return features.drop_nonfinite(), from_cache
