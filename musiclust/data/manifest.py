"""The manifest contract: a DataFrame with ``id`` plus ``audio_path`` and/or ``lyrics`` and label columns."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pandas as pd

from musiclust.errors import DataError

ID, AUDIO, LYRICS = "id", "audio_path", "lyrics"


class Dataset:
    """Base class: subclasses implement :meth:`load` returning a validated manifest."""

    #: label columns the dataset knows about (used for plots and comparisons)
    label_columns: list[str] = []

    def load(self) -> pd.DataFrame:
        raise NotImplementedError

    @property
    def name(self) -> str:
        return type(self).__name__.removesuffix("Dataset").lower()


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


def dataset_fingerprint(frame: pd.DataFrame) -> str:
    """Hash of the manifest content and of each audio file's size and mtime (cheap, no decoding)."""
    digest = hashlib.sha256()
    digest.update(pd.util.hash_pandas_object(frame.astype(str), index=False).values.tobytes())
    digest.update(",".join(map(str, frame.columns)).encode())
    if AUDIO in frame.columns:
        for path in frame[AUDIO].astype(str):
            try:
                stat = os.stat(path)
                digest.update(f"{stat.st_size}:{stat.st_mtime_ns}".encode())
            except OSError:
                digest.update(b"missing")
    return digest.hexdigest()[:16]


class ManifestDataset(Dataset):
    """Any CSV with an id column, audio paths and/or lyrics, and label columns.

    Relative audio paths resolve against the CSV's folder.
    """

    def __init__(
        self,
        path: str,
        id_col: str = ID,
        audio_col: str | None = AUDIO,
        lyrics_col: str | None = LYRICS,
        label_columns: list[str] | None = None,
    ) -> None:
        self.path = Path(path).expanduser()
        self.id_col, self.audio_col, self.lyrics_col = id_col, audio_col, lyrics_col
        self.label_columns = list(label_columns or [])

    def load(self) -> pd.DataFrame:
        if not self.path.is_file():
            raise DataError(f"dataset.path: no such CSV file '{self.path}'. Point dataset.path at your manifest.")
        try:
            frame = pd.read_csv(self.path)
        except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as err:
            raise DataError(f"{self.path}: cannot be read as CSV ({err}). Save it as UTF-8 CSV.") from err
        renames = {self.id_col: ID}
        if self.audio_col and self.audio_col in frame.columns:
            renames[self.audio_col] = AUDIO
        if self.lyrics_col and self.lyrics_col in frame.columns:
            renames[self.lyrics_col] = LYRICS
        if self.id_col not in frame.columns:
            raise DataError(
                f"{self.path}: no id column '{self.id_col}' (columns: {', '.join(frame.columns)}). "
                "Set dataset.id_col=<column>."
            )
        frame = validate_manifest(frame.rename(columns=renames), str(self.path))
        if AUDIO in frame.columns:
            base = self.path.parent
            frame[AUDIO] = [
                str(p) if pd.isna(p) or Path(str(p)).is_absolute() else str((base / str(p)).resolve())
                for p in frame[AUDIO]
            ]
        return frame
