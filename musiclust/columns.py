"""Names every stage shares (manifest columns, skip records), in one leaf module that imports nothing of musiclust."""

from __future__ import annotations

import pandas as pd

#: manifest columns: one row per song
ID, AUDIO, LYRICS = "id", "audio_path", "lyrics"
#: lyrics without section tags, timestamps, URLs and symbols (``clean_lyrics``); features prefer it when present
CLEAN_LYRICS = "lyrics_clean"
#: language of a song's lyrics, where that value came from (manifest, lingua, script, none), how sure a detector was
LANGUAGE, LANGUAGE_SOURCE, LANGUAGE_CONFIDENCE = "language", "language_source", "language_confidence"

#: columns of a run's ``skipped.csv``: the song, the stage that could not use it, why
SKIP_COLUMNS = ["id", "stage", "reason"]


def skip_frame(rows: list[tuple[str, str]], stage: str) -> pd.DataFrame:
    """Skip records ``(id, reason)`` of one stage as a ``skipped.csv``-shaped frame."""
    return pd.DataFrame([(i, stage, r) for i, r in rows], columns=SKIP_COLUMNS)
