"""A directory of audio files: optional lyrics sidecars (``song.txt`` next to ``song.mp3``) and labels
from sub-folder names, so a GTZAN-style ``genres/{genre}/*.wav`` tree works as is."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from musiclust.columns import AUDIO, ID, LYRICS
from musiclust.data.lyrics import read_lyrics_file
from musiclust.data.manifest import Dataset
from musiclust.errors import DataError

log = logging.getLogger(__name__)

AUDIO_EXTENSIONS = ("wav", "flac", "ogg", "mp3")


class FolderDataset(Dataset):
    """Every audio file under ``path`` (recursively) is a song; its id is the path without extension.

    ``subfolder_label`` names the column that gets the first sub-folder of each file (``genre`` for
    ``genres/blues/x.wav``); files directly in ``path`` get no label. Null disables labels.
    """

    def __init__(
        self, path: str, extensions: list[str] | tuple[str, ...] = AUDIO_EXTENSIONS,
        subfolder_label: str | None = "genre", lyrics_extension: str = "txt",
        label_columns: list[str] | None = None, **options,
    ) -> None:
        super().__init__(label_columns=list(label_columns or []), **options)
        self.path = Path(path).expanduser()
        self.extensions = tuple(f".{e.lower().lstrip('.')}" for e in extensions)
        self.subfolder_label = subfolder_label or None
        self.lyrics_extension = f".{lyrics_extension.lstrip('.')}"

    def audio_files(self) -> list[Path]:
        """Audio files under ``path`` in a fixed order, skipping hidden files (``.DS_Store``, ``._x.mp3``)."""
        if not self.path.is_dir():
            what = "is a file, not a folder (a CSV? use dataset=manifest)" if self.path.exists() else "does not exist"
            raise DataError(f"dataset.path: '{self.path}' {what}. Point dataset.path at a folder of audio files.")
        files = sorted(
            p for p in self.path.rglob("*")
            if p.suffix.lower() in self.extensions and p.is_file()
            and not any(part.startswith(".") for part in p.relative_to(self.path).parts)
        )
        if not files:
            raise DataError(
                f"dataset.path: no audio files ({', '.join(e.lstrip('.') for e in self.extensions)}) under "
                f"'{self.path}'. Point dataset.path at your music folder or set dataset.extensions=[...]."
            )
        return files

    def read(self) -> pd.DataFrame:
        files = self.audio_files()
        rows = []
        for file in files:
            relative = file.relative_to(self.path)
            song_id = relative.with_suffix("").as_posix()
            row = {ID: song_id, AUDIO: str(file.resolve()), LYRICS: None}
            sidecar = file.with_suffix(self.lyrics_extension)
            if sidecar.is_file():
                text, problem = read_lyrics_file(sidecar)
                if problem:
                    self.skip(song_id, problem)
                    continue
                row[LYRICS] = text
            if self.subfolder_label:
                row[self.subfolder_label] = relative.parts[0] if len(relative.parts) > 1 else None
            rows.append(row)
        label = [self.subfolder_label] if self.subfolder_label else []
        frame = pd.DataFrame(rows, columns=[ID, AUDIO, LYRICS, *label])
        if self.subfolder_label and frame[self.subfolder_label].isna().all():
            frame = frame.drop(columns=self.subfolder_label)  # a flat folder has no labels, not a column of blanks
        if frame[LYRICS].isna().all():
            frame = frame.drop(columns=LYRICS)
        n_lyrics = int(frame[LYRICS].notna().sum()) if LYRICS in frame.columns else 0
        log.info("Folder %s: %d audio files, %d with lyrics sidecars%s", self.path, len(files), n_lyrics,
                 f", labels in column {self.subfolder_label}" if self.subfolder_label in frame.columns else "")
        return frame
