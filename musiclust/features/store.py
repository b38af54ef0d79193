"""The per-song feature store: each song's values stored once per feature configuration, read back in batches.

One directory per feature configuration (``<cache_dir>/<feature>-<hash of its config>/``)::

    config.json            the configuration the directory's name is a hash of (for people)
    songs/<shard>.npy      the values of a batch of songs: float32 rows, a song's rows (windows) consecutive
    songs/<shard>.json     the shard's index: song keys, rows per song, skipped songs and why, size and CRC-32
    collections/           entries of features computed from the whole collection (see ``features/base.py``)
    .lock                  held while songs are computed

Songs are keyed by what the feature reads of them (their audio file, by path + size + mtime or by content, see
:func:`musiclust.data.manifest.song_keys`), never by id or position, so a grown, reordered or relabelled
manifest finds its songs again. Shards are append-only and written whole: the values file first, then the index
renamed into place, which commits the shard; readers list only committed indexes, so they never see a
half-written shard, and a run killed mid-extraction leaves every shard it committed usable. Each shard's size and
CRC-32 are checked before its songs are used; a damaged shard is reported by name and its songs are computed
again. Values are read with ``pread`` into fresh buffers (no memory map), so reading 100k songs' maps keeps the
process's memory bounded by the batch, not the collection.
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
import zlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from musiclust.errors import DataError
from musiclust.io import make_shareable, write_json

log = logging.getLogger(__name__)

#: a shard is committed once it holds this many songs ...
SHARD_SONGS = 4096
#: ... or this many bytes of values (what the writer keeps in memory) ...
SHARD_BYTES = 128 << 20
#: ... or when its first song was added this many seconds ago (what a killed run can lose)
SHARD_SECONDS = 60.0
#: bytes per read when a shard's checksum is computed (bounded memory for shards of any size)
CHECKSUM_BLOCK = 64 << 20
#: shard index format (bump when the layout changes: older shards are then not used)
FORMAT = 1
#: most shard files a reader keeps open
MAX_OPEN_FILES = 256


def checksum(path: str | os.PathLike) -> str:
    """CRC-32 of a file's bytes: catches truncation and overwritten data at ~2 GB/s."""
    value = 0
    with open(path, "rb") as handle:
        while block := handle.read(CHECKSUM_BLOCK):
            value = zlib.crc32(block, value)
    return f"{value:08x}"


class Stored(NamedTuple):
    """Where one song key's values are: ``rows`` rows from row ``start`` of ``shard``; 0 rows = skipped, why in
    ``stage``/``reason``. (A tuple: a million of them are built per run.)"""

    shard: str
    start: int = 0
    rows: int = 0
    stage: str = ""
    reason: str = ""

    @property
    def skipped(self) -> bool:
        return self.rows == 0


@dataclass(frozen=True)
class Shard:
    """A committed shard: its index (``meta``) and the file its values are in."""

    name: str
    values_path: Path | None
    meta: dict[str, Any]

    @property
    def header_bytes(self) -> int:
        return int(self.meta["values"]["header_bytes"])

    @property
    def row_shape(self) -> tuple[int, ...]:
        return tuple(self.meta["values"]["shape"][1:])

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self.meta["values"]["dtype"])


#: shards this process has checked: (path, size, mtime_ns, crc32) — each is read for its checksum once per process
_VERIFIED: set[tuple[str, int, int, str]] = set()


class SongStore:
    """The stored songs of one feature configuration (the directory ``root``)."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        self.songs_dir = self.root / "songs"
        self._reported: set[str] = set()

    def prepare(self, config: dict[str, Any]) -> None:
        self.songs_dir.mkdir(parents=True, exist_ok=True)
        if not (self.root / "config.json").exists():
            write_json(config, self.root / "config.json")

    # -- reading the index ----------------------------------------------------------------------------------
    def shards(self) -> dict[str, Shard]:
        """Every committed shard, by name (oldest first). Unreadable or foreign indexes are reported, not used."""
        found: dict[str, Shard] = {}
        if not self.songs_dir.is_dir():
            return found
        for meta_path in sorted(self.songs_dir.glob("[!.]*.json")):
            name = meta_path.stem
            try:
                meta = json.loads(meta_path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as err:
                if isinstance(err, FileNotFoundError):  # discarded by another job since it was listed
                    continue
                self._report(name, f"its index {meta_path.name} is unreadable ({err})")
                continue
            if meta.get("format") != FORMAT:
                self._report(name, f"written in store format {meta.get('format')}, this musiclust reads {FORMAT}")
                continue
            values = meta.get("values")
            found[name] = Shard(name, self.songs_dir / values["file"] if values else None, meta)
        return found

    @staticmethod
    def entries(shards: dict[str, Shard]) -> dict[str, Stored]:
        """Song key → where its values are; a key stored twice (recomputed after damage) takes the newest shard."""
        index: dict[str, Stored] = {}
        for name, shard in shards.items():
            start = 0
            for key, rows in zip(shard.meta["keys"], shard.meta["rows"], strict=True):
                index[key] = Stored(name, start, int(rows))
                start += int(rows)
            for key, (stage, reason) in shard.meta["skipped"].items():
                index[key] = Stored(name, stage=stage, reason=reason)
        return index

    # -- integrity --------------------------------------------------------------------------------------------
    @staticmethod
    def problem(shard: Shard) -> str | None:
        """What is wrong with a shard's values file (None when it matches its index)."""
        if shard.values_path is None:
            return None
        expected = shard.meta["values"]
        try:
            stat = os.stat(shard.values_path)
        except OSError:
            return f"{shard.values_path.name} is missing"
        if stat.st_size != expected["bytes"]:
            return f"{shard.values_path.name} has {stat.st_size} bytes, {expected['bytes']} were written"
        seen = (str(shard.values_path), stat.st_size, stat.st_mtime_ns, expected["crc32"])
        if seen in _VERIFIED:
            return None
        if checksum(shard.values_path) != expected["crc32"]:
            return f"{shard.values_path.name} does not match its checksum"
        _VERIFIED.add(seen)
        return None

    def damaged(self, shards: Iterable[Shard]) -> dict[str, str]:
        """Shard name → problem, for the given shards that do not match their index (each reported once)."""
        problems = {}
        for shard in shards:
            if (problem := self.problem(shard)) is not None:
                problems[shard.name] = problem
                self._report(shard.name, problem)
        return problems

    def _report(self, name: str, problem: str) -> None:
        if name not in self._reported:
            self._reported.add(name)
            log.warning("Feature store shard %s is not used: %s. Its songs are computed again.",
                        self.songs_dir / name, problem)

    def discard(self, name: str) -> None:
        """Remove a damaged shard: its index first (so no reader uses it any more), then its values."""
        for suffix in (".json", ".npy"):
            try:
                (self.songs_dir / f"{name}{suffix}").unlink()
            except FileNotFoundError:
                pass

    # -- writing ---------------------------------------------------------------------------------------------
    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the store's lock while songs are computed: parallel jobs that need the same songs compute them once
        (the others wait, then load them). POSIX only; elsewhere jobs may compute the same songs twice."""
        try:
            import fcntl
        except ImportError:
            fcntl = None
        if fcntl is None:
            yield
            return
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "w") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                log.info("Waiting for another job that computes features in %s", self.root)
                fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                self.remove_leftovers()
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def remove_leftovers(self) -> None:
        """Delete what a killed writer left: temporary files and values files no index refers to (call with the
        lock held: every writer holds it, so none of these is being written)."""
        if not self.songs_dir.is_dir():
            return
        committed = {p.stem for p in self.songs_dir.glob("[!.]*.json")}
        for path in self.songs_dir.iterdir():
            if path.name.startswith(".") or (path.suffix == ".npy" and path.stem not in committed):
                path.unlink(missing_ok=True)

    def writer(self, windowed: bool) -> ShardWriter:
        return ShardWriter(self, windowed)

    # -- reading values ----------------------------------------------------------------------------------------
    def rows(self, songs: Sequence[Stored], shards: dict[str, Shard]) -> StoredRows:
        """The rows of ``songs`` (stored, not skipped), in that order, as one lazily read array."""
        used = sorted({s.shard for s in songs})
        position = {name: i for i, name in enumerate(used)}
        counts = np.asarray([s.rows for s in songs], dtype=np.int64)
        starts = np.asarray([s.start for s in songs], dtype=np.int64)
        first_row = np.repeat(starts - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts)
        row_in_shard = first_row + np.arange(int(counts.sum()), dtype=np.int64)
        shard_of_row = np.repeat(np.asarray([position[s.shard] for s in songs], dtype=np.int32), counts)
        files = [(str(shards[name].values_path), shards[name].header_bytes) for name in used]
        shapes = {shards[name].row_shape for name in used} or {()}
        dtypes = {shards[name].dtype for name in used} or {np.dtype(np.float32)}
        if len(shapes) != 1 or len(dtypes) != 1:
            raise DataError(f"feature store {self.root}: its shards hold rows of different shapes {sorted(shapes)}; "
                            "delete the folder to recompute them.")
        return StoredRows(files, shard_of_row, row_in_shard, shapes.pop(), dtypes.pop())


class ShardWriter:
    """Collects computed songs and commits them as shards of at most :data:`SHARD_SONGS` songs,
    :data:`SHARD_BYTES` bytes or :data:`SHARD_SECONDS` seconds of work. Songs whose values are not all finite
    are stored as skipped (stage ``features``), so they are never used and never computed again."""

    def __init__(self, store: SongStore, windowed: bool) -> None:
        self.store, self.windowed = store, bool(windowed)
        self.written = 0
        self._reset()

    def _reset(self) -> None:
        self._keys: list[str] = []
        self._rows: list[int] = []
        self._values: list[np.ndarray] = []
        self._skipped: dict[str, list[str]] = {}
        self._bytes, self._since = 0, time.monotonic()

    @property
    def _pending(self) -> int:
        return len(self._keys) + len(self._skipped)

    def add(self, keys: Sequence[str], values: np.ndarray, rows: Sequence[int],
            skipped: Iterable[tuple[str, str, str]] = ()) -> None:
        """Songs ``keys`` owning ``rows[i]`` consecutive rows of ``values`` each, and ``(key, stage, reason)`` of
        songs that could not be computed."""
        values = np.asarray(values, dtype=np.float32)
        start = 0
        for key, count in zip(keys, rows, strict=True):
            song = values[start:start + int(count)]
            start += int(count)
            if not np.isfinite(song).all():
                self._add_skip(key, "features", "non-finite features: the computed feature holds NaN or inf (an "
                                                "extreme or damaged recording?); check the file")
                continue
            self._start()
            self._keys.append(key)
            self._rows.append(int(count))
            self._values.append(song)
            self._bytes += song.nbytes
            self._flush_when_full()
        for key, stage, reason in skipped:
            self._add_skip(key, stage, reason)

    def _start(self) -> None:
        if not self._pending:
            self._since = time.monotonic()

    def _add_skip(self, key: str, stage: str, reason: str) -> None:
        self._start()
        self._skipped[key] = [stage, reason]
        self._flush_when_full()

    def _flush_when_full(self) -> None:
        if (self._pending >= SHARD_SONGS or self._bytes >= SHARD_BYTES
                or time.monotonic() - self._since >= SHARD_SECONDS):
            self.flush()

    def flush(self) -> None:
        """Commit what was added since the last commit as one shard."""
        if not self._pending:
            return
        directory = self.store.songs_dir
        directory.mkdir(parents=True, exist_ok=True)
        name = f"{time.time_ns():016x}-{uuid.uuid4().hex[:8]}"
        values_info = None
        if self._values:
            values = np.concatenate(self._values)
            tmp = directory / f".{name}.npy"
            np.save(tmp, values)
            with open(tmp, "rb") as handle:  # where the rows start, after np.save's header
                version = np.lib.format.read_magic(handle)
                read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                               else np.lib.format.read_array_header_2_0)
                read_header(handle)
                header_bytes = handle.tell()
            values_info = {"file": f"{name}.npy", "shape": list(values.shape), "dtype": str(values.dtype),
                           "bytes": tmp.stat().st_size, "crc32": checksum(tmp), "header_bytes": header_bytes}
            make_shareable(tmp)
            os.replace(tmp, directory / f"{name}.npy")
        meta = {"format": FORMAT, "windowed": self.windowed, "values": values_info, "keys": self._keys,
                "rows": self._rows, "skipped": self._skipped}
        write_json(meta, directory / f"{name}.json")  # renamed into place last: this commits the shard
        self.written += self._pending
        log.debug("Feature store %s: committed shard %s (%d songs)", self.store.root, name, self._pending)
        self._reset()


class StoredRows:
    """A read-only ``(rows, ...)`` array whose rows live in store shards, read on demand.

    Indexing with an int, a slice, an index array or a boolean mask returns an ``np.ndarray`` of those rows,
    read with ``pread`` (contiguous rows in one call); :meth:`take` returns another lazy array; ``np.asarray``
    reads everything. Pickles without its open files (DataLoader workers reopen them).
    """

    def __init__(self, files: list[tuple[str, int]], shard_of_row: np.ndarray, row_in_shard: np.ndarray,
                 row_shape: tuple[int, ...], dtype: np.dtype) -> None:
        self.files = files
        self.shard_of_row, self.row_in_shard = shard_of_row, row_in_shard
        self.row_shape, self.dtype = tuple(row_shape), np.dtype(dtype)
        self.row_bytes = int(np.prod(self.row_shape, dtype=np.int64)) * self.dtype.itemsize
        self._fds: dict[int, int] = {}

    # -- array protocol --------------------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.shard_of_row), *self.row_shape)

    @property
    def ndim(self) -> int:
        return 1 + len(self.row_shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def nbytes(self) -> int:
        return len(self) * self.row_bytes

    def __len__(self) -> int:
        return len(self.shard_of_row)

    def __repr__(self) -> str:
        return f"StoredRows(shape={self.shape}, dtype={self.dtype}, shards={len(self.files)})"

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        values = self.read(np.arange(len(self)))
        return values if dtype is None else values.astype(dtype, copy=False)

    def astype(self, dtype: Any) -> np.ndarray:
        return np.asarray(self, dtype=dtype)

    def __getitem__(self, item: Any) -> np.ndarray:
        if isinstance(item, tuple):
            first, rest = item[0], item[1:]
            rows = self[first]
            return rows[rest] if isinstance(first, int | np.integer) else rows[(slice(None), *rest)]
        if isinstance(item, int | np.integer):
            index = int(item) + (len(self) if item < 0 else 0)
            if not 0 <= index < len(self):
                raise IndexError(f"row {item} out of range for {len(self)} rows")
            return self.read(np.asarray([index]))[0]
        return self.read(self._positions(item))

    def _positions(self, item: Any) -> np.ndarray:
        if isinstance(item, slice):
            return np.arange(*item.indices(len(self)), dtype=np.int64)
        index = np.asarray(item)
        if index.dtype == bool:
            if index.shape != (len(self),):
                raise IndexError(f"boolean index of shape {index.shape} for {len(self)} rows")
            return np.flatnonzero(index)
        index = index.astype(np.int64, copy=False)
        if index.size and (index.min() < -len(self) or index.max() >= len(self)):
            raise IndexError(f"row index out of range for {len(self)} rows")
        return np.where(index < 0, index + len(self), index)

    def take(self, rows: Any) -> StoredRows:
        """Another lazy array of the given rows (index array or boolean mask), reading nothing now."""
        positions = self._positions(rows)
        return StoredRows(self.files, self.shard_of_row[positions], self.row_in_shard[positions], self.row_shape,
                          self.dtype)

    # -- reading ------------------------------------------------------------------------------------------------
    def read(self, rows: np.ndarray) -> np.ndarray:
        """The given rows (positions) as a new array, each run of consecutive stored rows read in one call."""
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        out = np.empty((len(rows), *self.row_shape), dtype=self.dtype)
        if not len(rows):
            return out
        shard, position = self.shard_of_row[rows], self.row_in_shard[rows]
        order = np.lexsort((position, shard))
        shard, position = shard[order], position[order]
        breaks = np.flatnonzero((np.diff(shard) != 0) | (np.diff(position) != 1)) + 1
        in_place = np.concatenate([[True], np.diff(order) == 1])  # output positions consecutive as well
        flat = out.reshape(len(rows), -1).view(np.uint8)
        for begin, end in zip(np.concatenate([[0], breaks]), np.concatenate([breaks, [len(rows)]]), strict=True):
            fd, offset = self._open(int(shard[begin]))
            offset += int(position[begin]) * self.row_bytes
            count = int(end - begin)
            if in_place[begin + 1:end].all():  # straight into the output: no intermediate copy
                target = flat[order[begin]:order[begin] + count].reshape(-1)
                got = os.preadv(fd, [target], offset)
            else:
                block = os.pread(fd, count * self.row_bytes, offset)
                got = len(block)
                if got == count * self.row_bytes:
                    flat[order[begin:end]] = np.frombuffer(block, dtype=np.uint8).reshape(count, self.row_bytes)
            if got != count * self.row_bytes:
                raise DataError(f"feature store shard {self.files[int(shard[begin])][0]} is shorter than its index "
                                "says (changed while this run read it?). Run again: damaged shards are recomputed.")
        return out

    def _open(self, shard: int) -> tuple[int, int]:
        path, header = self.files[shard]
        if shard not in self._fds:
            if len(self._fds) >= MAX_OPEN_FILES:
                self.close()
            try:
                self._fds[shard] = os.open(path, os.O_RDONLY)
            except FileNotFoundError as err:
                raise DataError(f"feature store shard {path} was removed while this run read it. Run again: its "
                                "songs are then computed again.") from err
        return self._fds[shard], header

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds = {}

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown: nothing to report to
            pass

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_fds": {}}


def take_rows(values: Any, rows: np.ndarray) -> Any:
    """``values[rows]`` for a boolean mask or index array; lazily for :class:`StoredRows` (nothing read now)."""
    return values.take(rows) if isinstance(values, StoredRows) else values[rows]
