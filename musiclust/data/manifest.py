"""The manifest contract: a DataFrame with ``id`` plus ``audio_path`` and/or ``lyrics`` and label columns."""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from musiclust.columns import AUDIO, CLEAN_LYRICS, ID, LYRICS, skip_frame
from musiclust.data.language import DEFAULT_CANDIDATES, LINGUA, NONE, candidate_codes, check_detector, fill_language
from musiclust.data.lyrics import add_clean_lyrics
from musiclust.errors import ConfigError, DataError

log = logging.getLogger(__name__)


class Dataset:
    """Base class: subclasses implement :meth:`read`; :meth:`load` adds the steps every dataset shares.

    Shared options: ``label_columns`` (must exist; used for plots and comparisons), ``clean_lyrics``
    (add ``lyrics_clean``), ``language_detector`` (fill missing ``language`` from the lyrics: ``lingua``, ISO 639-1
    codes among ``language_candidates``; ``script``, the writing system; ``none``), with ``language_threshold`` the
    share the dominant language or script needs (below it: ``mixed``), see :mod:`musiclust.data.language`.
    Per-item problems found while reading (duplicate ids, unreadable lyrics files) are not errors:
    those rows are left out and listed in :attr:`skipped`, which the pipeline adds to ``skipped.csv``.
    """

    #: label columns the dataset knows about (used for plots and comparisons)
    label_columns: list[str] = []
    clean_lyrics: bool = False
    language_detector: str = LINGUA
    language_threshold: float = 0.6

    def __init__(
        self, label_columns: list[str] | None = None, clean_lyrics: bool = False, language_detector: str = LINGUA,
        language_threshold: float = 0.6, language_candidates: str | list[str] | None = None,
    ) -> None:
        if label_columns is not None:
            self.label_columns = list(label_columns)
        if not 0.5 <= float(language_threshold) <= 1.0:
            raise ConfigError(
                f"dataset.language_threshold={language_threshold}: the share the dominant language (or script) "
                "needs, between 0.5 and 1.0."
            )
        self.clean_lyrics, self.language_detector = bool(clean_lyrics), check_detector(str(language_detector))
        self.language_threshold = float(language_threshold)
        self.language_candidates = DEFAULT_CANDIDATES if language_candidates is None else language_candidates
        if self.language_detector == LINGUA:  # a typo in a code answers before any work
            self.language_candidates = candidate_codes(self.language_candidates)
        self._skips: list[tuple[str, str]] = []

    @property
    def name(self) -> str:
        return type(self).__name__.removesuffix("Dataset").lower()

    @property
    def source(self) -> str:
        """Where the data comes from, for messages."""
        return str(getattr(self, "path", getattr(self, "root", self.name)))

    def read(self) -> pd.DataFrame:
        """The raw manifest; call :meth:`skip` for rows that cannot be used."""
        raise NotImplementedError

    def skip(self, song_id: str, reason: str) -> None:
        """Record a per-item problem found while reading (the row must be left out of the manifest)."""
        self._skips.append((str(song_id), reason))

    @property
    def skipped(self) -> pd.DataFrame:
        """Rows left out by the last :meth:`load`, as ``id, stage, reason`` (the skipped.csv columns)."""
        return skip_frame(getattr(self, "_skips", []), stage="dataset")

    def load(self) -> pd.DataFrame:
        """Read, validate, drop duplicate ids, check label columns, clean lyrics, detect languages."""
        self._skips = []
        frame = self.read()
        if not (frame.empty and self._skips):  # an empty read with skips gets the message below
            frame = drop_duplicate_ids(validate_manifest(frame, self.source), self.skip)
        if frame.empty:
            song_id, reason = self._skips[0]
            raise DataError(
                f"{self.source}: none of the {len(self._skips)} items is usable (first: {song_id}: {reason})."
            )
        read_columns = ", ".join(map(str, frame.columns))
        if LYRICS in frame.columns:
            if self.clean_lyrics:
                frame = add_clean_lyrics(frame)
            if self.language_detector != NONE:
                text = CLEAN_LYRICS if CLEAN_LYRICS in frame.columns else LYRICS
                frame = fill_language(frame, text, self.language_threshold, self.language_detector,
                                      self.language_candidates)
        missing = [c for c in self.label_columns if c not in frame.columns]  # `language` may come from the lyrics
        if missing:
            raise DataError(
                f"dataset.label_columns: {missing} not in {self.source} (columns: {read_columns}"
                "). Set dataset.label_columns=[...] to existing columns, or [] (and label_col=null) for none."
            )
        if self._skips:  # the pipeline reports them with the feature skips, in one line
            log.debug("%s: left out %d rows: %s", self.source, len(self._skips), self._skips)
        return frame


def drop_duplicate_ids(frame: pd.DataFrame, skip) -> pd.DataFrame:
    """Keep the first row of each id; report the others (and rows without an id) through ``skip``."""

    def where(row: int) -> str:
        audio = frame.at[row, AUDIO] if AUDIO in frame.columns else None
        return str(audio) if isinstance(audio, str) and audio else f"manifest row {row + 2}"  # +2: header, 1-based

    blank = frame[ID].isna() | frame[ID].astype(str).str.strip().isin(["", "nan", "None"])
    repeated = frame[ID].duplicated(keep="first") & ~blank
    first_row = {song_id: row for row, song_id in reversed(list(enumerate(frame[ID])))}
    for row in frame.index[blank | repeated]:
        if blank[row]:
            skip("", f"missing id: {where(row)} has no id")
        else:
            song_id = frame.at[row, ID]
            skip(song_id, f"duplicate id: {where(row)} has the same id as {where(first_row[song_id])}")
    return frame[~(blank | repeated)].reset_index(drop=True)


def validate_manifest(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    """Check the columns every feature relies on; return a copy with ``id`` as ``str``."""
    if ID not in frame.columns:
        raise DataError(
            f"{source}: no '{ID}' column (columns: {', '.join(map(str, frame.columns))}). "
            f"Add an '{ID}' column or map one with dataset.id_col=<column>."
        )
    if AUDIO not in frame.columns and LYRICS not in frame.columns:
        raise DataError(
            f"{source}: needs an '{AUDIO}' or a '{LYRICS}' column. "
            f"Map yours with dataset.audio_col=<column> / dataset.lyrics_col=<column>."
        )
    frame = frame.copy()
    frame[ID] = frame[ID].astype(str)
    if len(frame) == 0:
        raise DataError(f"{source}: the manifest has no rows.")
    return frame.reset_index(drop=True)


def require_columns(frame: pd.DataFrame, columns: list[str], *, needed_by: str, fix: str) -> None:
    """Raise one clear error if any of ``columns`` is missing from the manifest."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(
            f"{needed_by} needs column(s) {missing}, but the manifest has only "
            f"[{', '.join(map(str, frame.columns))}]. {fix}"
        )


#: how a song's audio file is identified in the feature store (the ``cache_key`` setting)
KEY_METHODS = ("stat", "content")


def audio_file_key(path: object, method: str = "stat") -> str:
    """What identifies one audio file's content, cheaply (``stat``) or robustly (``content``).

    ``stat``: the absolute path, size and modification time (ns): costs one ``stat`` call; a file that is moved,
    copied elsewhere or touched is computed again, and an edit that keeps size and mtime (``touch -d``) goes
    unnoticed. ``content``: the SHA-256 of the file's bytes: survives moves and copies, costs one read of every
    file per run (≈ 1 GB/s). A missing file has a key of its own, so it is computed when it appears.
    """
    if method not in KEY_METHODS:
        raise ConfigError(f"cache_key={method!r}: use one of {', '.join(KEY_METHODS)}.")
    text = "" if path is None or (isinstance(path, float) and path != path) else str(path)
    if not text or text in ("nan", "None"):
        return "no-file"
    if not os.path.isabs(text):  # datasets give absolute paths; others are taken from the working directory
        text = os.path.abspath(text)
    try:
        if method == "content":
            digest = hashlib.sha256()
            with open(text, "rb") as handle:
                while block := handle.read(1 << 20):
                    digest.update(block)
            return "sha256:" + digest.hexdigest()
        stat = os.stat(text)
    except OSError:
        return f"missing:{text}"
    return f"stat:{text}:{stat.st_size}:{stat.st_mtime_ns}"


def song_keys(frame: pd.DataFrame, *, audio: bool, columns: Sequence[str] = (), method: str = "stat") -> np.ndarray:
    """One key per row: a hash of what a feature reads of that song — its audio file (:func:`audio_file_key`) when
    ``audio``, and the values of ``columns`` (e.g. the lyrics). Ids, row order and other columns (labels) are
    not part of it, so renaming, reordering or relabelling songs changes no key.
    """
    parts: list[list[str]] = []
    if audio:
        paths = frame[AUDIO].tolist() if AUDIO in frame.columns else [None] * len(frame)
        if method == "content" and len(paths) > 1:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:  # hashing releases the GIL
                parts.append(list(pool.map(lambda p: audio_file_key(p, method), paths)))
        else:
            parts.append([audio_file_key(p, method) for p in paths])
    for column in columns:
        values = frame[column] if column in frame.columns else pd.Series([None] * len(frame))
        parts.append([f"{column}={'' if pd.isna(v) else v}" for v in values])
    return np.asarray([hashlib.sha256("\x1f".join(row).encode()).hexdigest()[:32] for row in zip(*parts, strict=True)]
                      if parts else ["-"] * len(frame), dtype=str)


def collection_key(ids: Sequence[str], keys: Sequence[str]) -> str:
    """Hash of a whole collection: its ids and song keys, in order (for features computed from all songs at once)."""
    digest = hashlib.sha256()
    for song_id, key in zip(ids, keys, strict=True):
        digest.update(f"{song_id}\x1f{key}\x1e".encode())
    return digest.hexdigest()[:16]


class ManifestDataset(Dataset):
    """Any CSV with an id column, audio paths and/or lyrics, and label columns.

    Column names are mapped with ``id_col``, ``audio_col`` and ``lyrics_col``; relative audio paths
    resolve against the CSV's folder (so a manifest travels with its audio).
    """

    def __init__(
        self, path: str, id_col: str = ID, audio_col: str | None = AUDIO, lyrics_col: str | None = LYRICS,
        label_columns: list[str] | None = None, **options,
    ) -> None:
        super().__init__(label_columns=list(label_columns or []), **options)
        self.path = Path(path).expanduser()
        self.id_col, self.audio_col, self.lyrics_col = id_col, audio_col, lyrics_col

    def read(self) -> pd.DataFrame:
        if not self.path.is_file():
            hint = " (that is a folder: use dataset=folder)" if self.path.is_dir() else ""
            raise DataError(
                f"dataset.path: no such CSV file '{self.path}'{hint}. Point dataset.path at your manifest."
            )
        try:
            frame = pd.read_csv(self.path, dtype={self.id_col: str})
        except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as err:
            message = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise DataError(f"{self.path}: cannot be read as CSV ({message}). Save it as UTF-8 CSV.") from err
        columns = ", ".join(map(str, frame.columns))
        if self.id_col not in frame.columns:
            raise DataError(
                f"{self.path}: no id column '{self.id_col}' (columns: {columns}). Set dataset.id_col=<column>."
            )
        if self.id_col != ID and ID in frame.columns:
            raise DataError(
                f"{self.path}: both '{self.id_col}' (dataset.id_col) and '{ID}' columns exist. "
                f"Rename or drop the '{ID}' column."
            )
        renames = {self.id_col: ID}
        for key, target, default in (("audio_col", AUDIO, AUDIO), ("lyrics_col", LYRICS, LYRICS)):
            source = getattr(self, key)
            if not source:
                continue
            if source not in frame.columns:
                if source != default:  # a mapping the user asked for must exist; the defaults are optional
                    raise DataError(
                        f"dataset.{key}={source!r} is not a column of {self.path} (columns: {columns}). "
                        f"Set dataset.{key}=<column>, or null if there is none."
                    )
                continue
            if source != target and target in frame.columns:
                raise DataError(
                    f"{self.path}: both '{source}' (dataset.{key}) and '{target}' columns exist. "
                    f"Rename or drop the '{target}' column."
                )
            renames[source] = target
        frame = frame.rename(columns=renames)
        if AUDIO in frame.columns:
            base = self.path.parent
            frame[AUDIO] = [
                None if pd.isna(p) or not str(p).strip() else str((base / Path(str(p).strip()).expanduser()).resolve())
                for p in frame[AUDIO]
            ]
        return frame
